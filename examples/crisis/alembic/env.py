"""Alembic environment of the crisis example: the target database is $DATABASE_URL."""
import importlib.util
import os
import sys
from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)

target_metadata = None
# The application's models (app/models.py), so `alembic check` (gate-replay's R008) compares
# them with the chain. Copies of this env.py for chains without the application (tests,
# benchmarks) have no `app` package and compare nothing.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
if importlib.util.find_spec("app") is not None:
    from app.models import Base

    target_metadata = Base.metadata


def database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("DATABASE_URL is not set: export it to the database to migrate")
    # Taken as given, as real projects do: gate-replay hands a URL SQLAlchemy accepts.
    return url


def run_migrations_offline() -> None:
    context.configure(url=database_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
