"""Reads of the registered documents."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.crm.persisted.models import PersistedQuery

_table = PersistedQuery.__table__


async def listed(session: AsyncSession) -> Sequence[Row[Any]]:
    query = select(_table).order_by(_table.c.name, _table.c.hash)
    return (await session.execute(query)).all()


async def hashes(session: AsyncSession) -> set[str]:
    return set((await session.execute(select(_table.c.hash))).scalars())


async def by_hash(session: AsyncSession, keys: Collection[str]) -> Sequence[Row[Any]]:
    if not keys:
        return []
    query = select(_table).where(_table.c.hash.in_(list(keys)))
    return (await session.execute(query)).all()
