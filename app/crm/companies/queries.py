from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.crm.companies.models import Company
from app.crm.errors import DomainError, ErrorCode
from app.crm.paging import (
    Page,
    SortKey,
    after_position,
    check_page_size,
    decode_cursor,
    encode_cursor,
    ordered,
    parse_int,
    parse_text,
)

_table = Company.__table__
_KEYS = [
    SortKey(func.lower(_table.c.name), False, parse_text),
    SortKey(_table.c.id, False, parse_int),
]
MAX_SEARCH_LENGTH = 200


def _escape(text: str) -> str:
    # Search text is client input: PostgreSQL refuses NUL characters (a driver error, i.e. an
    # internal error) and no name is longer than this.
    if len(text) > MAX_SEARCH_LENGTH:
        raise DomainError(
            ErrorCode.TOO_LONG, f"search is longer than {MAX_SEARCH_LENGTH} characters", ["search"]
        )
    if "\x00" in text:
        raise DomainError(ErrorCode.INVALID, "search contains a NUL character", ["search"])
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def page(
    session: AsyncSession, search: str | None, first: int | None, after: str | None
) -> Page[Row[Any]]:
    size = check_page_size(first)
    query = select(_table, *(k.expression.label(f"k{i}") for i, k in enumerate(_KEYS)))
    if search:
        query = query.where(_table.c.name.ilike(f"%{_escape(search)}%"))
    if after:
        query = query.where(after_position(_KEYS, decode_cursor(after, _KEYS)))
    rows = (await session.execute(ordered(query, _KEYS).limit(size + 1))).all()
    return Page(
        list(rows[:size]),
        [encode_cursor([r.k0, r.k1]) for r in rows[:size]],
        has_next_page=len(rows) > size,
        has_previous_page=after is not None,
    )


async def count(session: AsyncSession, search: str | None) -> int:
    query = select(func.count()).select_from(_table)
    if search:
        query = query.where(_table.c.name.ilike(f"%{_escape(search)}%"))
    return int((await session.execute(query)).scalar_one())


async def by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, Row[Any]]:
    rows = (await session.execute(select(_table).where(_table.c.id.in_(ids)))).all()
    return {r.id: r for r in rows}
