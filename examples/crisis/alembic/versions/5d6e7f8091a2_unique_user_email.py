"""Unique index on users.email

Revision ID: 5d6e7f8091a2
Revises: 4c5d6e7f8091
Create Date: 2025-04-01 08:05:59.210455

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '5d6e7f8091a2'
down_revision = '4c5d6e7f8091'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_users_email", "users", ["email"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_users_email", table_name="users")
