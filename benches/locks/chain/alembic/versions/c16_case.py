"""ADD CHECK ... NOT VALID"""
from alembic import op

revision = 'c16'
down_revision = 'c15'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""ALTER TABLE accounts ADD CONSTRAINT accounts_org_pos CHECK (org > 0) NOT VALID""")


def downgrade() -> None:
    pass
