"""ADD COLUMN NOT NULL DEFAULT 'free' (constant default)"""
from alembic import op

revision = 'c07'
down_revision = 'c06'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""ALTER TABLE accounts ADD COLUMN plan text NOT NULL DEFAULT 'free'""")


def downgrade() -> None:
    pass
