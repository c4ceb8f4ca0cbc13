"""SET NOT NULL without a validated CHECK"""
from alembic import op

revision = 'c13'
down_revision = 'c12'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""ALTER TABLE accounts ALTER COLUMN email SET NOT NULL""")


def downgrade() -> None:
    pass
