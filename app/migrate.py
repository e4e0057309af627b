"""Apply Alembic migrations from code (serve, `tandem migrate`, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

import app


def migrations_dir() -> Path:
    # A source checkout keeps migrations/ beside app/; an image copies it to the working dir.
    beside = Path(app.__file__).resolve().parent.parent / "migrations"
    return beside if beside.is_dir() else Path.cwd() / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str) -> None:
    """Blocking: run it in a worker thread from async code (env.py starts its own loop)."""
    command.upgrade(alembic_config(database_url), "head")
