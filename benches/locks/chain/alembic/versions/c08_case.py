"""CREATE INDEX on a table with rows"""
from alembic import op

revision = 'c08'
down_revision = 'c07'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""CREATE INDEX accounts_email ON accounts (email)""")


def downgrade() -> None:
    pass
