from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, any_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.crm.paging import Page, SortKey, fetch_page, parse_int, parse_text
from app.crm.products.models import Product
from app.crm.search import contains_pattern
from app.crm.statements import Statement, by_key, keys

_table = Product.__table__
_KEYS = [
    SortKey(func.lower(_table.c.name), False, parse_text),
    SortKey(_table.c.id, False, parse_int),
]


def _where(search: str | None, active: bool | None) -> list[Any]:
    where: list[Any] = []
    if search:
        pattern = contains_pattern(search, ["search"])
        where.append(or_(_table.c.name.ilike(pattern), _table.c.sku.ilike(pattern)))
    if active is not None:
        where.append(_table.c.is_active.is_(active))
    return where


async def page(
    session: AsyncSession,
    search: str | None,
    active: bool | None,
    first: int | None,
    after: str | None,
) -> Page[Row[Any]]:
    where = _where(search, active)
    return await fetch_page(session, [_table], where, _KEYS, first, after, tag="products")


async def count(session: AsyncSession, search: str | None, active: bool | None) -> int:
    query = select(func.count()).select_from(_table).where(*_where(search, active))
    return int((await session.execute(query)).scalar_one())


_BY_ID = Statement(select(_table).where(_table.c.id == any_(keys("ids"))))


async def by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, Any]:
    return by_key(await _BY_ID.rows(session, ids=list(ids)))
