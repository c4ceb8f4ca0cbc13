"""CREATE INDEX on an empty table"""
from alembic import op

revision = 'c09'
down_revision = 'c08'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""CREATE INDEX audit_note ON audit (note)""")


def downgrade() -> None:
    pass
