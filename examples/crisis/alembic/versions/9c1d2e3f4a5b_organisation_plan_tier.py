"""Add plan tier to organisations

Revision ID: 9c1d2e3f4a5b
Revises: 8091a2b3c4d5
Create Date: 2025-06-03 09:27:18.455120

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '9c1d2e3f4a5b'
down_revision = '8091a2b3c4d5'
branch_labels = None
depends_on = None


def upgrade() -> None:
    plan = postgresql.ENUM("free", "team", "enterprise", name="plantier")
    plan.create(op.get_bind())
    op.add_column(
        "organisations",
        sa.Column("plan", postgresql.ENUM(name="plantier", create_type=False), server_default="free", nullable=False),
    )


def downgrade() -> None:
    op.drop_column("organisations", "plan")
    postgresql.ENUM(name="plantier").drop(op.get_bind())
