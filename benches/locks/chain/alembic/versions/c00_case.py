"""seed: accounts (1000 rows), orgs (10), audit (empty), a domain"""
from alembic import op

revision = 'c00'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""CREATE DOMAIN amount_d AS numeric(12,2)""")
    op.execute("""CREATE DOMAIN positive_int AS integer CHECK (VALUE > 0)""")
    op.execute("""CREATE TABLE orgs (id integer PRIMARY KEY)""")
    op.execute("""CREATE TABLE accounts (id serial PRIMARY KEY, email varchar(50), n integer, org integer, amount numeric(10,2), score integer)""")
    op.execute("""CREATE TABLE audit (id integer, note text)""")
    op.execute("""INSERT INTO orgs SELECT g FROM generate_series(1, 10) g""")
    op.execute("""INSERT INTO accounts (email, n, org, amount, score) SELECT 'u' || g, g, 1 + g % 10, g, g FROM generate_series(1, 1000) g""")


def downgrade() -> None:
    pass
