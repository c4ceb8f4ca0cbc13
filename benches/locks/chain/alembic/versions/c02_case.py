"""type change varchar(50) -> text (binary coercible)"""
from alembic import op

revision = 'c02'
down_revision = 'c01'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""ALTER TABLE accounts ALTER COLUMN email TYPE text""")


def downgrade() -> None:
    pass
