"""The unit of work: one transaction, its events, and their publication after commit.

Every state change runs inside `unit_of_work(...)`. Services record events on the unit; the
events are written to the outbox in the same transaction and handed to the sink only once the
transaction has committed (docs/architecture.md, live-update invariant 1). A DomainError rolls
everything back. Before the events are numbered, the inbox turns them (and the unit's notices)
into notifications, written in the same transaction (app/crm/inbox/derive.py).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.crm.actor import Actor
from app.crm.inbox import derive as inbox
from app.crm.inbox.notices import Notice
from app.crm.users import recent
from app.events import outbox
from app.events.envelope import ChangeEvent, PendingEvent

log = logging.getLogger(__name__)

Sequenced = Callable[[AsyncSession, int], Awaitable[None]]


class EventSink(Protocol):
    async def committed(self, events: Sequence[ChangeEvent]) -> None: ...


class NoSink:
    """For the CLI and seeding: events still land in the outbox; servers pick them up there."""

    async def committed(self, events: Sequence[ChangeEvent]) -> None:
        return None


@dataclass
class Unit:
    session: AsyncSession
    actor: Actor | None
    pending: list[PendingEvent] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    """Who should hear of this change beyond what its events say (app/crm/inbox/notices.py)."""
    rights_changed: bool = False
    """Set by services that change who may do or see what (roles, teams, passwords): once
    committed, authentication forgets what it remembered (app/crm/users/recent.py)."""

    sequenced: list[tuple[PendingEvent, Sequenced]] = field(default_factory=list)
    """Writes that need an event's sequence number (an inbox row names the event that told
    of it): run in the transaction once the outbox has numbered the events."""
    after_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    """Run once the transaction has committed (the inbox's e-mail seam); a failure is logged."""

    def record(self, event: PendingEvent) -> None:
        self.pending.append(event)

    def record_sequenced(self, event: PendingEvent, then: Sequenced) -> None:
        """Record `event`, and run `then(session, its seq)` before the commit."""
        self.record(event)
        self.sequenced.append((event, then))

    def notify(self, notice: Notice) -> None:
        self.notices.append(notice)

    def require_actor(self) -> Actor:
        assert self.actor is not None, "this service needs an acting user"
        return self.actor


@asynccontextmanager
async def unit_of_work(
    sessions: async_sessionmaker[AsyncSession], actor: Actor | None, sink: EventSink
) -> AsyncIterator[Unit]:
    async with sessions() as session:
        unit = Unit(session, actor)
        try:
            yield unit
            await session.flush()
            await inbox.settle(unit)
            events = await outbox.append(session, unit.pending, actor.user_id if actor else None)
            for event, then in unit.sequenced:
                await then(session, events[_position(unit.pending, event)].seq)
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
    if unit.rights_changed:
        recent.rights_changed()
    if events:
        try:
            await sink.committed(events)
        except Exception:
            # The change is committed and in the outbox; subscribers catch up from there.
            log.exception("publishing %d committed events failed", len(events))
    for hook in unit.after_commit:
        try:
            await hook()
        except Exception:
            log.exception("a hook after commit failed")


def _position(pending: list[PendingEvent], event: PendingEvent) -> int:
    return next(i for i, p in enumerate(pending) if p is event)
