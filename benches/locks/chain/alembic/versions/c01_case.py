"""type change int -> bigint"""
from alembic import op

revision = 'c01'
down_revision = 'c00'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""ALTER TABLE accounts ALTER COLUMN n TYPE bigint""")


def downgrade() -> None:
    pass
