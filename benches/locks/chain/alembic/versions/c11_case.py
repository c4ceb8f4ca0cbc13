"""ADD FOREIGN KEY without NOT VALID"""
from alembic import op

revision = 'c11'
down_revision = 'c10'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""ALTER TABLE accounts ADD CONSTRAINT accounts_org_fk FOREIGN KEY (org) REFERENCES orgs (id)""")


def downgrade() -> None:
    pass
