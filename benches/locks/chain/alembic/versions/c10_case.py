"""type change on an empty table"""
from alembic import op

revision = 'c10'
down_revision = 'c09'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""ALTER TABLE audit ALTER COLUMN id TYPE bigint""")


def downgrade() -> None:
    pass
