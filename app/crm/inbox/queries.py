"""Reads of a user's inbox. A notification about a deal the user may no longer see (made
private, deleted, the user off its team) is neither listed nor counted, nor sent live."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.crm.actor import Actor, live_and_visible
from app.crm.inbox.models import Notification, NotificationPreference
from app.crm.inbox.notices import NoticeKind
from app.crm.opportunities.models import Opportunity
from app.crm.paging import Page, SortKey, fetch_page, parse_int

_table = Notification.__table__
COLUMNS = [
    _table.c.id,
    _table.c.user_id,
    _table.c.seq,
    _table.c.kind,
    _table.c.opportunity_id,
    _table.c.activity_id,
    _table.c.actor_id,
    _table.c.detail,
    _table.c.created_at,
    _table.c.read_at,
]
# Newest first: by the event that told of it, then by id within one event.
_KEYS = [SortKey(_table.c.seq, True, parse_int), SortKey(_table.c.id, True, parse_int)]


def shown_to(actor: Actor) -> list[ColumnElement[bool]]:
    """The actor's notifications that they may see now."""
    return [
        Notification.user_id == actor.user_id,
        or_(
            Notification.opportunity_id.is_(None),
            select(literal(1))
            .where(Opportunity.id == Notification.opportunity_id, live_and_visible(actor))
            .exists(),
        ),
    ]


async def page(
    session: AsyncSession, actor: Actor, first: int | None, after: str | None, unread_only: bool
) -> Page[Any]:
    where = shown_to(actor)
    if unread_only:
        where.append(Notification.read_at.is_(None))
    tag = "unread" if unread_only else "all"
    return await fetch_page(session, COLUMNS, where, _KEYS, first, after, tag=tag)


async def count(session: AsyncSession, actor: Actor, unread_only: bool) -> int:
    where = shown_to(actor)
    if unread_only:
        where.append(Notification.read_at.is_(None))
    query = select(func.count()).select_from(_table).where(*where)
    return int((await session.execute(query)).scalar_one())


async def unread_count(session: AsyncSession, actor: Actor) -> int:
    return await count(session, actor, True)


async def by_ids(session: AsyncSession, actor: Actor, ids: Sequence[int]) -> dict[int, Any]:
    """The actor's own notifications among `ids` that they may see now."""
    rows = await session.execute(
        select(*COLUMNS).where(_table.c.id.in_(list(ids)), *shown_to(actor))
    )
    return {row.id: row for row in rows}


async def told_by(session: AsyncSession, actor: Actor, seq: int) -> tuple[str | None, list[Any]]:
    """What the INBOX event `seq` changed in the actor's inbox: ("NEW", the notifications it
    brought) or ("READ", those it marked read), of those the actor may see now; (None, [])
    when it changed nothing of theirs."""
    mine = (
        select(*COLUMNS, (_table.c.seq == seq).label("new"))
        .where(Notification.user_id == actor.user_id)
        .where(or_(_table.c.seq == seq, _table.c.read_seq == seq))
    )
    rows = (await session.execute(mine)).all()
    if not rows:
        return None, []
    kind = "NEW" if any(r.new for r in rows) else "READ"
    shown = await by_ids(session, actor, [r.id for r in rows if r.new == (kind == "NEW")])
    return kind, sorted(shown.values(), key=lambda r: (-r.seq, -r.id))


async def preferences(session: AsyncSession, user_id: int) -> dict[NoticeKind, bool]:
    """Every kind, on unless the user turned it off."""
    rows = await session.execute(
        select(NotificationPreference.kind, NotificationPreference.enabled).where(
            NotificationPreference.user_id == user_id
        )
    )
    chosen = {kind: enabled for kind, enabled in rows}
    return {kind: chosen.get(kind.value, True) for kind in NoticeKind}
