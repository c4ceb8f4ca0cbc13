"""Add super_admin to userrole

Revision ID: 7f8091a2b3c4
Revises: 6e7f8091a2b3
Create Date: 2025-05-06 10:31:02.918337

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '7f8091a2b3c4'
down_revision = '6e7f8091a2b3'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Production already got this value by hand (emergency_enum_fix.py), so on production this
    # migration fails with "enum label already exists" unless the fix is consolidated.
    op.execute("ALTER TYPE userrole ADD VALUE 'super_admin'")


def downgrade() -> None:
    # PostgreSQL cannot drop an enum value: rebuild the type without it.
    op.execute("UPDATE users SET role = 'admin' WHERE role = 'super_admin'")
    op.execute("ALTER TYPE userrole RENAME TO userrole_old")
    op.execute("CREATE TYPE userrole AS ENUM ('user', 'admin')")
    op.execute("ALTER TABLE users ALTER COLUMN role TYPE userrole USING role::text::userrole")
    op.execute("DROP TYPE userrole_old")
