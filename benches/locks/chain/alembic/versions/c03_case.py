"""type change through a domain: numeric(10,2) -> domain over numeric(12,2)"""
from alembic import op

revision = 'c03'
down_revision = 'c02'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""ALTER TABLE accounts ALTER COLUMN amount TYPE amount_d""")


def downgrade() -> None:
    pass
