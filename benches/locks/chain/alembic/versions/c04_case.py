"""type change through a domain with a CHECK: integer -> positive_int"""
from alembic import op

revision = 'c04'
down_revision = 'c03'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""ALTER TABLE accounts ALTER COLUMN score TYPE positive_int""")


def downgrade() -> None:
    pass
