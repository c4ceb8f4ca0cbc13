"""ADD COLUMN NOT NULL DEFAULT md5(random()::text) (volatile default)"""
from alembic import op

revision = 'c06'
down_revision = 'c05'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""ALTER TABLE accounts ADD COLUMN token text NOT NULL DEFAULT md5(random()::text)""")


def downgrade() -> None:
    pass
