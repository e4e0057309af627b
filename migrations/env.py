"""Alembic environment: async engine, URL from the caller or TANDEM_DATABASE_URL."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from app.db import Base
from app.settings import to_asyncpg_url


def import_models() -> None:
    """Import every model module so that Base.metadata knows all tables (Alembic needs them all)."""
    from app.crm.activities import models as _activities  # noqa: F401
    from app.crm.audit import models as _audit  # noqa: F401
    from app.crm.auth import models as _auth  # noqa: F401
    from app.crm.companies import models as _companies  # noqa: F401
    from app.crm.contacts import models as _contacts  # noqa: F401
    from app.crm.folders import models as _folders  # noqa: F401
    from app.crm.following import models as _following  # noqa: F401
    from app.crm.inbox import models as _inbox  # noqa: F401
    from app.crm.opportunities import models as _opportunities  # noqa: F401
    from app.crm.opportunities import totals as _totals  # noqa: F401
    from app.crm.orders import models as _orders  # noqa: F401
    from app.crm.persisted import models as _persisted  # noqa: F401
    from app.crm.products import models as _products  # noqa: F401
    from app.crm.stages import models as _stages  # noqa: F401
    from app.crm.users import models as _users  # noqa: F401
    from app.crm.views import models as _views  # noqa: F401
    from app.events import models as _events  # noqa: F401


import_models()
target_metadata = Base.metadata


def _url() -> str:
    url = context.config.attributes.get("database_url") or os.environ.get("TANDEM_DATABASE_URL")
    if not url:
        raise RuntimeError("set TANDEM_DATABASE_URL (or use `tandem migrate`)")
    return to_asyncpg_url(url)


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_async_engine(_url())
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    else:
        asyncio.run(_run_async())


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
