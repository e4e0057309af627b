from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, any_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.crm.contacts.models import Contact
from app.crm.paging import Page, SortKey, fetch_page, parse_int, parse_text
from app.crm.search import contains_pattern
from app.crm.statements import Statement, by_key, keys

_table = Contact.__table__
_KEYS = [
    SortKey(func.lower(_table.c.last_name), False, parse_text),
    SortKey(func.lower(_table.c.first_name), False, parse_text),
    SortKey(_table.c.id, False, parse_int),
]


def _where(search: str | None, company_id: int | None) -> list[Any]:
    clauses: list[Any] = []
    if search:
        pattern = contains_pattern(search, ["search"])
        clauses.append(
            or_(
                _table.c.first_name.ilike(pattern),
                _table.c.last_name.ilike(pattern),
                _table.c.email.ilike(pattern),
            )
        )
    if company_id is not None:
        clauses.append(_table.c.company_id == company_id)
    return clauses


async def page(
    session: AsyncSession,
    search: str | None,
    company_id: int | None,
    first: int | None,
    after: str | None,
) -> Page[Row[Any]]:
    where = _where(search, company_id)
    return await fetch_page(session, [_table], where, _KEYS, first, after, tag="contacts")


async def count(session: AsyncSession, search: str | None, company_id: int | None) -> int:
    query = select(func.count()).select_from(_table).where(*_where(search, company_id))
    return int((await session.execute(query)).scalar_one())


_BY_ID = Statement(select(_table).where(_table.c.id == any_(keys("ids"))))


async def by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, Any]:
    return by_key(await _BY_ID.rows(session, ids=list(ids)))
