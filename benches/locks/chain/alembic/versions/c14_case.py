"""ADD COLUMN, then a backfill in the same transaction"""
from alembic import op

revision = 'c14'
down_revision = 'c13'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""ALTER TABLE accounts ADD COLUMN region text""")
    op.execute("""UPDATE accounts SET region = 'eu'""")


def downgrade() -> None:
    pass
