"""ADD CHECK without NOT VALID"""
from alembic import op

revision = 'c12'
down_revision = 'c11'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""ALTER TABLE accounts ADD CONSTRAINT accounts_n_pos CHECK (n > 0)""")


def downgrade() -> None:
    pass
