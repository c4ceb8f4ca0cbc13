"""Create feature_flags table

Revision ID: 4c5d6e7f8091
Revises: 3b4c5d6e7f80
Create Date: 2025-03-20 15:22:31.772014

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '4c5d6e7f8091'
down_revision = '3b4c5d6e7f80'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feature_flags",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(100), nullable=False, unique=True),
        sa.Column("enabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("description", sa.Text()),
    )


def downgrade() -> None:
    op.drop_table("feature_flags")
