"""The verbs on one's own inbox: reading notifications, choosing the kinds one gets.

Marking read is told live like a new notification: one INBOX event naming the user, whose
sequence number the rows it read keep (`read_seq`), so the user's other devices update their
count and list (app/graphql/inbox.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.crm.errors import DomainError, ErrorCode, not_found
from app.crm.inbox.derive import inbox_event
from app.crm.inbox.models import Notification, NotificationPreference
from app.crm.inbox.notices import NoticeKind
from app.crm.inbox.queries import shown_to
from app.crm.unit import Unit


def _told(unit: Unit, user_id: int, ids: list[int]) -> None:
    async def number(session: AsyncSession, seq: int) -> None:
        await session.execute(
            update(Notification).where(Notification.id.in_(ids)).values(read_seq=seq)
        )

    unit.record_sequenced(inbox_event({user_id}), number)


async def mark_read(unit: Unit, notification_id: int) -> int:
    """Mark one of the actor's notifications read (once: again is no change). Someone else's,
    or one about a deal the actor may no longer see, is NOT_FOUND, as a missing one."""
    actor = unit.require_actor()
    mine = [Notification.id == notification_id, *shown_to(actor)]
    read = (
        await unit.session.scalars(
            update(Notification)
            .where(*mine, Notification.read_at.is_(None))
            .values(read_at=datetime.now(UTC))
            .returning(Notification.id)
        )
    ).all()
    if read:
        _told(unit, actor.user_id, list(read))
    elif await unit.session.scalar(select(Notification.id).where(*mine)) is None:
        raise not_found("notification", "id")
    return notification_id


async def mark_all_read(unit: Unit) -> int:
    """Mark every unread notification of the actor read; how many were."""
    actor = unit.require_actor()
    read = (
        await unit.session.scalars(
            update(Notification)
            .where(Notification.user_id == actor.user_id, Notification.read_at.is_(None))
            .values(read_at=datetime.now(UTC))
            .returning(Notification.id)
        )
    ).all()
    if read:
        _told(unit, actor.user_id, list(read))
    return len(read)


async def set_preference(unit: Unit, kind: str, enabled: bool) -> None:
    """Turn a kind of notification on or off for the actor, from their next notification."""
    actor = unit.require_actor()
    if kind not in NoticeKind.__members__:
        raise DomainError(ErrorCode.INVALID, "not a kind of notification", ["kind"])
    statement = insert(NotificationPreference).values(
        user_id=actor.user_id, kind=kind, enabled=enabled
    )
    await unit.session.execute(
        statement.on_conflict_do_update(
            index_elements=["user_id", "kind"], set_={"enabled": enabled}
        )
    )
