from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, any_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.crm.companies.models import Company
from app.crm.paging import Page, SortKey, fetch_page, parse_int, parse_text
from app.crm.search import contains_pattern
from app.crm.statements import Statement, by_key, keys

_table = Company.__table__
_KEYS = [
    SortKey(func.lower(_table.c.name), False, parse_text),
    SortKey(_table.c.id, False, parse_int),
]


def _where(search: str | None) -> list[Any]:
    if not search:
        return []
    return [_table.c.name.ilike(contains_pattern(search, ["search"]))]


async def page(
    session: AsyncSession, search: str | None, first: int | None, after: str | None
) -> Page[Row[Any]]:
    return await fetch_page(session, [_table], _where(search), _KEYS, first, after, tag="companies")


async def count(session: AsyncSession, search: str | None) -> int:
    query = select(func.count()).select_from(_table).where(*_where(search))
    return int((await session.execute(query)).scalar_one())


_BY_ID = Statement(select(_table).where(_table.c.id == any_(keys("ids"))))


async def by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, Any]:
    return by_key(await _BY_ID.rows(session, ids=list(ids)))
