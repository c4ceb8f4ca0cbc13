"""Add missing status column to feature_flags table

Revision ID: a0a2f1ab72ce
Revises: c3d4e5f6a7b8
Create Date: 2025-10-07 08:19:26.651042

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = 'a0a2f1ab72ce'
down_revision = 'c3d4e5f6a7b8'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # production_schema_repair.py added this column by hand on production first.
    op.add_column(
        "feature_flags",
        sa.Column("status", sa.String(20), server_default="active", nullable=False),
    )


def downgrade() -> None:
    op.drop_column("feature_flags", "status")
