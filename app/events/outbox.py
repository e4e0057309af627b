"""Writing events in the change's own transaction, and reading them back in order.

Sequence numbers come from a single counter row. Incrementing it takes that row's lock, which
is held until the transaction ends, so the next writer gets its number only after this one has
committed or rolled back: numbers are handed out in commit order with no gaps. That is what
lets a subscriber resume from "the last seq I saw" with nothing missed and nothing twice. The
lock is taken as the last statement before COMMIT, so writers serialise only for the commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.events.envelope import (
    UNREAD,
    Audience,
    ChangeEvent,
    EventKind,
    PendingEvent,
    changes_from_json,
    changes_to_json,
)
from app.events.models import EventRecord

_ALLOCATE = text(
    "UPDATE event_counter SET last_seq = last_seq + :n WHERE id = 1 RETURNING last_seq"
)


async def append(
    session: AsyncSession, pending: Sequence[PendingEvent], actor_id: int | None
) -> list[ChangeEvent]:
    if not pending:
        return []
    last = (await session.execute(_ALLOCATE, {"n": len(pending)})).scalar_one()
    first = last - len(pending) + 1
    now = datetime.now(UTC)
    events = [
        ChangeEvent(
            seq=first + i,
            kind=p.kind,
            opportunity_id=p.opportunity_id,
            version=p.version,
            actor_id=actor_id,
            occurred_at=now,
            changes=p.changes,
            audience=p.audience,
            snapshot=p.snapshot,
            order_id=p.order_id,
            order_snapshot=p.order_snapshot,
        )
        for i, p in enumerate(pending)
    ]
    await session.execute(
        insert(EventRecord),
        [
            {
                "seq": e.seq,
                "kind": e.kind.value,
                "opportunity_id": e.opportunity_id,
                "version": e.version,
                "actor_id": e.actor_id,
                "occurred_at": e.occurred_at,
                "changes": changes_to_json(e.changes),
                "audience": e.audience.to_json(),
                "snapshot": e.snapshot,
                "order_id": e.order_id,
                "order_snapshot": e.order_snapshot,
            }
            for e in events
        ],
    )
    return events


def from_record(row: Any, *, snapshots: bool = True) -> ChangeEvent:
    """From an EventRecord, or any row of the outbox table's columns by name; without
    `snapshots`, from a row without them nor the audience, for a reader that shows only what
    changed (the event's snapshots are then empty, its audience UNREAD)."""
    return ChangeEvent(
        seq=row.seq,
        kind=EventKind(row.kind),
        opportunity_id=row.opportunity_id,
        version=row.version,
        actor_id=row.actor_id,
        occurred_at=row.occurred_at,
        changes=changes_from_json(row.changes),
        audience=Audience.from_json(row.audience) if snapshots else UNREAD,
        snapshot=row.snapshot if snapshots else {},
        order_id=row.order_id,
        order_snapshot=row.order_snapshot if snapshots else None,
    )


async def read_after(
    session: AsyncSession,
    after_seq: int,
    *,
    up_to: int | None = None,
    opportunity_id: int | None = None,
    limit: int = 500,
) -> list[ChangeEvent]:
    """Committed events with seq > after_seq (and <= up_to), oldest first."""
    query = select(EventRecord).where(EventRecord.seq > after_seq).order_by(EventRecord.seq)
    if up_to is not None:
        query = query.where(EventRecord.seq <= up_to)
    if opportunity_id is not None:
        query = query.where(EventRecord.opportunity_id == opportunity_id)
    query = query.limit(limit)
    rows = (await session.execute(query)).scalars().all()
    return [from_record(r) for r in rows]


async def last_seq(session: AsyncSession) -> int:
    """The newest committed sequence number (the counter row is read without its lock)."""
    value = (
        await session.execute(text("SELECT last_seq FROM event_counter WHERE id = 1"))
    ).scalar()
    return int(value or 0)


_CLUSTER_IDENTITY = text("SELECT system_identifier FROM pg_control_system()")


async def database_identity(session: AsyncSession) -> str:
    """The same for every process using this database, different for any other database.

    Processes share events through a broker whose channels may be heard by other deployments
    (Redis pub/sub ignores the database index); their sequence numbers overlap with ours, so
    the channel is named after the database: its cluster's system identifier and its name.
    """
    cluster = None
    try:
        async with session.begin_nested():
            cluster = await session.scalar(_CLUSTER_IDENTITY)
    except DBAPIError:
        pass  # a role that may not read it: the database's name must do
    name = await session.scalar(text("SELECT current_database()"))
    return f"{cluster}/{name}"
