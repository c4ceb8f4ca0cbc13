"""Create admin_permissions table

Revision ID: a1b2c3d4e5f6
Revises: 9c1d2e3f4a5b
Create Date: 2025-07-14 14:03:37.118864

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = 'a1b2c3d4e5f6'
down_revision = '9c1d2e3f4a5b'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Production already has this table: fix_zebra_admin_access.py created it by hand.
    op.create_table(
        "admin_permissions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("permission", sa.String(100), nullable=False),
        sa.UniqueConstraint("user_id", "permission", name="uq_admin_permissions_user_permission"),
    )


def downgrade() -> None:
    op.drop_table("admin_permissions")
