"""An opportunity's field-by-field history: its outbox events, newest first."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.crm.paging import (
    Page,
    SortKey,
    check_page_size,
    decode_cursor,
    encode_cursor,
    parse_int,
)
from app.events.envelope import ChangeEvent
from app.events.models import EventRecord
from app.events.outbox import from_record

_KEYS = [SortKey(EventRecord.seq, True, parse_int)]


async def history_page(
    session: AsyncSession, opportunity_id: int, first: int | None, after: str | None
) -> Page[ChangeEvent]:
    """Callers check visibility of the opportunity first."""
    size = check_page_size(first)
    query = select(EventRecord).where(EventRecord.opportunity_id == opportunity_id)
    if after:
        (seq,) = decode_cursor(after, _KEYS, "history")
        query = query.where(EventRecord.seq < seq)
    records = (await session.scalars(query.order_by(EventRecord.seq.desc()).limit(size + 1))).all()
    events = [from_record(r) for r in records[:size]]
    return Page(
        events,
        [encode_cursor("history", [e.seq]) for e in events],
        has_next_page=len(records) > size,
        has_previous_page=after is not None,
    )


async def history_count(session: AsyncSession, opportunity_id: int) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(EventRecord)
            .where(EventRecord.opportunity_id == opportunity_id)
        )
        or 0
    )
