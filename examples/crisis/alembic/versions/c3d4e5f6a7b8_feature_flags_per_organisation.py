"""Feature flags per organisation

Revision ID: c3d4e5f6a7b8
Revises: b2c3d4e5f6a7
Create Date: 2025-09-02 16:44:51.902361

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = 'c3d4e5f6a7b8'
down_revision = 'b2c3d4e5f6a7'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("feature_flags", sa.Column("organisation_id", sa.Integer(), nullable=True))
    op.create_foreign_key(
        "fk_feature_flags_organisation_id", "feature_flags", "organisations", ["organisation_id"], ["id"]
    )


def downgrade() -> None:
    op.drop_constraint("fk_feature_flags_organisation_id", "feature_flags", type_="foreignkey")
    op.drop_column("feature_flags", "organisation_id")
