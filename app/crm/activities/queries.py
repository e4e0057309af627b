"""Reads of activities and the opportunity timeline, visibility applied in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.crm.activities.models import Activity, ActivityLink, AppointmentAttendee
from app.crm.actor import Actor, live_and_visible
from app.crm.errors import DomainError, ErrorCode
from app.crm.opportunities.models import Opportunity
from app.crm.paging import (
    Page,
    SortKey,
    fetch_page,
    parse_datetime,
    parse_int,
)

_activities = Activity.__table__

MAX_RANGE_DAYS = 370


def _require_offset(field: str, value: datetime) -> None:
    # A naive time is ambiguous, and mixing it with an aware one cannot even be compared.
    if value.tzinfo is None:
        raise DomainError(ErrorCode.INVALID, f"{field} must carry a time zone offset", [field])


def _visible_join(actor: Actor) -> Any:
    return (
        select(_activities)
        .join(Opportunity, Opportunity.id == _activities.c.opportunity_id)
        .where(_activities.c.deleted_at.is_(None), live_and_visible(actor))
    )


async def visible_by_id(
    session: AsyncSession, actor: Actor, ids: Sequence[int]
) -> dict[int, Row[Any]]:
    rows = (await session.execute(_visible_join(actor).where(_activities.c.id.in_(ids)))).all()
    return {r.id: r for r in rows}


async def links_by_activity(session: AsyncSession, ids: Sequence[int]) -> dict[int, list[Row[Any]]]:
    table = ActivityLink.__table__
    rows = (await session.execute(select(table).where(table.c.activity_id.in_(ids)))).all()
    result: dict[int, list[Row[Any]]] = {i: [] for i in ids}
    for row in rows:
        result[row.activity_id].append(row)
    return result


async def attendees_by_activity(
    session: AsyncSession, ids: Sequence[int]
) -> dict[int, list[Row[Any]]]:
    table = AppointmentAttendee.__table__
    rows = (
        await session.execute(
            select(table).where(table.c.activity_id.in_(ids)).order_by(table.c.id)
        )
    ).all()
    result: dict[int, list[Row[Any]]] = {i: [] for i in ids}
    for row in rows:
        result[row.activity_id].append(row)
    return result


def _my_tasks_where(
    actor: Actor, statuses: Sequence[str], overdue_only: bool, due_before: datetime | None
) -> list[Any]:
    where: list[Any] = [
        _activities.c.kind == "TASK",
        _activities.c.assignee_id == actor.user_id,
        _activities.c.deleted_at.is_(None),
        Opportunity.id == _activities.c.opportunity_id,
        live_and_visible(actor),
    ]
    if statuses:
        where.append(_activities.c.status.in_(statuses))
    if overdue_only:
        where += [_activities.c.status == "OPEN", _activities.c.due_at < func.now()]
    if due_before is not None:
        _require_offset("dueBefore", due_before)
        where.append(_activities.c.due_at < due_before)
    return where


async def my_tasks(
    session: AsyncSession,
    actor: Actor,
    *,
    statuses: Sequence[str],
    overdue_only: bool,
    due_before: datetime | None,
    first: int | None,
    after: str | None,
) -> Page[Row[Any]]:
    """The actor's tasks across the opportunities they may see, soonest due first."""
    far = datetime(9999, 12, 31, tzinfo=UTC)
    due = func.coalesce(_activities.c.due_at, literal(far))
    where = _my_tasks_where(actor, statuses, overdue_only, due_before)
    keys = [SortKey(due, False, parse_datetime), SortKey(_activities.c.id, False, parse_int)]
    return await fetch_page(session, [_activities], where, keys, first, after, tag="myTasks")


async def my_tasks_count(
    session: AsyncSession,
    actor: Actor,
    *,
    statuses: Sequence[str],
    overdue_only: bool,
    due_before: datetime | None,
) -> int:
    where = _my_tasks_where(actor, statuses, overdue_only, due_before)
    return await _count(session, where)


async def _count(session: AsyncSession, where: Sequence[Any]) -> int:
    query = select(func.count()).select_from(_activities).where(*where)
    return int((await session.execute(query)).scalar_one())


async def appointments_between(
    session: AsyncSession, actor: Actor, start: datetime, end: datetime
) -> Sequence[Row[Any]]:
    """Appointments overlapping [start, end) on opportunities the actor may see."""
    _require_offset("from", start)
    _require_offset("to", end)
    if end <= start:
        raise DomainError(ErrorCode.INVALID, "to must be after from", ["to"])
    if (end - start).days > MAX_RANGE_DAYS:
        raise DomainError(
            ErrorCode.OUT_OF_RANGE, f"a range spans at most {MAX_RANGE_DAYS} days", ["to"]
        )
    query = (
        _visible_join(actor)
        .where(
            _activities.c.kind == "APPOINTMENT",
            _activities.c.starts_at < end,
            _activities.c.ends_at > start,
        )
        .order_by(_activities.c.starts_at, _activities.c.id)
        .limit(1000)
    )
    return (await session.execute(query)).all()


async def summaries(session: AsyncSession, opportunity_ids: Sequence[int]) -> dict[int, Row[Any]]:
    """Per opportunity: last activity time, open task count, next appointment id."""
    live = _activities.c.deleted_at.is_(None)
    # What has happened: a future appointment or a post-dated note is not activity yet.
    last = (
        select(func.max(_activities.c.occurred_at))
        .where(
            _activities.c.opportunity_id == Opportunity.id,
            live,
            _activities.c.occurred_at <= func.now(),
        )
        .scalar_subquery()
    )
    open_tasks = (
        select(func.count())
        .where(
            _activities.c.opportunity_id == Opportunity.id,
            live,
            _activities.c.kind == "TASK",
            _activities.c.status == "OPEN",
        )
        .scalar_subquery()
    )
    next_appointment = (
        select(_activities.c.id)
        .where(
            _activities.c.opportunity_id == Opportunity.id,
            live,
            _activities.c.kind == "APPOINTMENT",
            _activities.c.starts_at >= func.now(),
        )
        .order_by(_activities.c.starts_at, _activities.c.id)
        .limit(1)
        .scalar_subquery()
    )
    rows = (
        await session.execute(
            select(
                Opportunity.id,
                last.label("last_activity_at"),
                open_tasks.label("open_task_count"),
                next_appointment.label("next_appointment_id"),
            ).where(Opportunity.id.in_(opportunity_ids))
        )
    ).all()
    return {r.id: r for r in rows}


def _party_where(actor: Actor, company_id: int | None, contact_id: int | None) -> list[Any]:
    links = ActivityLink.__table__
    column = links.c.company_id if company_id is not None else links.c.contact_id
    target = company_id if company_id is not None else contact_id
    return [
        _activities.c.deleted_at.is_(None),
        Opportunity.id == _activities.c.opportunity_id,
        live_and_visible(actor),
        _activities.c.id.in_(select(links.c.activity_id).where(column == target)),
    ]


async def for_party(
    session: AsyncSession,
    actor: Actor,
    *,
    company_id: int | None,
    contact_id: int | None,
    first: int | None,
    after: str | None,
) -> Page[Row[Any]]:
    """Activities filed under a company or contact, newest first, as the actor may see them."""
    keys = [
        SortKey(_activities.c.occurred_at, True, parse_datetime),
        SortKey(_activities.c.id, True, parse_int),
    ]
    where = _party_where(actor, company_id, contact_id)
    return await fetch_page(session, [_activities], where, keys, first, after, tag="party")


async def for_party_count(
    session: AsyncSession, actor: Actor, *, company_id: int | None, contact_id: int | None
) -> int:
    return await _count(session, _party_where(actor, company_id, contact_id))
