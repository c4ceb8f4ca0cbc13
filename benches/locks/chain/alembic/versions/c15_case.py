"""CREATE INDEX CONCURRENTLY in autocommit_block()"""
from alembic import op

revision = 'c15'
down_revision = 'c14'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute("""CREATE INDEX CONCURRENTLY accounts_n ON accounts (n)""")


def downgrade() -> None:
    pass
