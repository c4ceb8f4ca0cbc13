"""ADD COLUMN NOT NULL DEFAULT now() (stable default)"""
from alembic import op

revision = 'c05'
down_revision = 'c04'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""ALTER TABLE accounts ADD COLUMN created_at timestamptz NOT NULL DEFAULT now()""")


def downgrade() -> None:
    pass
