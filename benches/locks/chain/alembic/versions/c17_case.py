"""VALIDATE CONSTRAINT"""
from alembic import op

revision = 'c17'
down_revision = 'c16'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""ALTER TABLE accounts VALIDATE CONSTRAINT accounts_org_pos""")


def downgrade() -> None:
    pass
