"""From a unit's events and notices to the notifications it writes, as it commits.

Called by `unit_of_work` (app/crm/unit.py) after the unit's last change and before its events
are numbered. The candidates come from the events (a followed deal won, lost, moved stage,
reassigned or commented on; a task given to someone) and from the notices services added (a
mention). Then the inbox's rules, the same for every candidate: never the one who acted,
never an inactive user, never someone the deal's audience does not admit now (the event's
audience, checked with each recipient's teams and role), never a kind the user turned off,
and one notification per user and activity (a mention wins over the comment it is in). A
handful of statements per transaction, however many recipients.

What is written is told live by one INBOX event naming its recipients; each row keeps that
event's sequence number, which is how notificationEvents resumes (app/graphql/inbox.py). The
rows are inserted once the outbox has numbered the events, so a unit that notifies holds the
sequence's lock for one more statement (app/events/outbox.py); a unit that does not, for none.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.crm.activities.models import Activity
from app.crm.following import queries as following
from app.crm.inbox import deliveries
from app.crm.inbox.models import Notification, NotificationPreference
from app.crm.inbox.notices import NoticeKind
from app.crm.opportunities.audience import audiences_by_id
from app.crm.stages.models import Stage
from app.crm.users.models import TeamMember, User
from app.events.envelope import Audience, EventKind, FieldChange, PendingEvent

if TYPE_CHECKING:
    from app.crm.unit import Unit

INBOX_AUDIENCE = "INBOX"
"""The visibility of an INBOX event's audience: only the users it names (`user_ids`)."""

_PRECEDENCE = {NoticeKind.MENTIONED: 0, NoticeKind.TASK_ASSIGNED: 1, NoticeKind.COMMENTED: 2}
"""Of several notifications about one activity for one user, the first of these wins."""

_DERIVED_FROM = frozenset(
    {
        EventKind.WON,
        EventKind.LOST,
        EventKind.STAGE_CHANGED,
        EventKind.UPDATED,
        EventKind.ACTIVITY_ADDED,
        EventKind.ACTIVITY_UPDATED,
    }
)


@dataclass(slots=True)
class Candidate:
    user_id: int
    kind: NoticeKind
    opportunity_id: int | None
    activity_id: int | None
    audience: Audience | None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class _Found:
    """What the unit's events say, before anyone is looked up."""

    for_followers: list[tuple[PendingEvent, NoticeKind, dict[str, Any], int | None]] = field(
        default_factory=list
    )
    for_users: list[Candidate] = field(default_factory=list)
    new_tasks: list[tuple[PendingEvent, int, Any]] = field(default_factory=list)
    stage_ids: set[int] = field(default_factory=set)
    user_ids: set[int] = field(default_factory=set)
    """Users whose names the notifications show (a deal's new owner)."""


def _change(event: PendingEvent, name: str) -> FieldChange | None:
    return next((c for c in event.changes if c.field == name), None)


def _read(events: Iterable[PendingEvent]) -> _Found:
    found = _Found()
    for event in events:
        if event.kind not in _DERIVED_FROM or event.opportunity_id is None:
            continue
        deal = {"opportunity": event.snapshot.get("name")}
        if event.kind is EventKind.WON:
            found.for_followers.append((event, NoticeKind.DEAL_WON, deal, None))
        elif event.kind is EventKind.LOST:
            found.for_followers.append((event, NoticeKind.DEAL_LOST, deal, None))
        if event.kind is EventKind.STAGE_CHANGED and (stage := _change(event, "stage_id")):
            found.stage_ids.add(stage.new)
            detail = {**deal, "stage_id": stage.new}
            found.for_followers.append((event, NoticeKind.STAGE_CHANGED, detail, None))
        if (owner := _change(event, "owner_id")) is not None:
            found.user_ids.add(owner.new)
            detail = {**deal, "owner_id": owner.new, "previous_owner_id": owner.old}
            found.for_followers.append((event, NoticeKind.REASSIGNED, detail, None))
            # The new owner follows by default; the one it was taken from is told too.
            for user_id in (owner.new, owner.old):
                found.for_users.append(
                    Candidate(
                        user_id,
                        NoticeKind.REASSIGNED,
                        event.opportunity_id,
                        None,
                        event.audience,
                        detail,
                    )
                )
        activity = _change(event, "activity")
        if activity is None or not isinstance(activity.new, dict):
            continue
        activity_id: int = activity.new["id"]
        title = activity.new.get("title")
        if event.kind is EventKind.ACTIVITY_ADDED and activity.new.get("kind") == "JOURNAL":
            detail = {**deal, "title": title}
            found.for_followers.append((event, NoticeKind.COMMENTED, detail, activity_id))
        elif event.kind is EventKind.ACTIVITY_ADDED and activity.new.get("kind") == "TASK":
            found.new_tasks.append((event, activity_id, title))
        elif (
            event.kind is EventKind.ACTIVITY_UPDATED
            and (assignee := _change(event, "assignee_id"))
            and assignee.new is not None
        ):
            found.for_users.append(
                Candidate(
                    assignee.new,
                    NoticeKind.TASK_ASSIGNED,
                    event.opportunity_id,
                    activity_id,
                    event.audience,
                    {**deal, "title": title},
                )
            )
    return found


async def candidates(unit: Unit) -> list[Candidate]:
    """Everyone the unit's events and notices concern, before the inbox's rules."""
    session = unit.session
    found = _read(unit.pending)
    chosen = list(found.for_users)
    if found.new_tasks:
        ids = [activity_id for _, activity_id, _ in found.new_tasks]
        rows = await session.execute(
            select(Activity.id, Activity.assignee_id).where(Activity.id.in_(ids))
        )
        assignees = {activity_id: assignee for activity_id, assignee in rows}
        for event, activity_id, title in found.new_tasks:
            if (assignee := assignees.get(activity_id)) is not None:
                chosen.append(
                    Candidate(
                        assignee,
                        NoticeKind.TASK_ASSIGNED,
                        event.opportunity_id,
                        activity_id,
                        event.audience,
                        {"opportunity": event.snapshot.get("name"), "title": title},
                    )
                )
    if found.for_followers:
        followers = await following.followers(
            session, {e.opportunity_id for e, *_ in found.for_followers if e.opportunity_id}
        )
        for event, kind, detail, about in found.for_followers:
            assert event.opportunity_id is not None
            for user_id in followers.get(event.opportunity_id, ()):
                chosen.append(
                    Candidate(user_id, kind, event.opportunity_id, about, event.audience, detail)
                )
    # What services said beyond the events (mentions), with the audience of the deal as the
    # unit leaves it: its last event's, else read.
    audiences = {e.opportunity_id: e.audience for e in unit.pending if e.opportunity_id}
    unknown = {
        n.opportunity_id
        for n in unit.notices
        if n.opportunity_id is not None and n.opportunity_id not in audiences
    }
    if unknown:
        audiences.update(await audiences_by_id(session, sorted(unknown)))
    for notice in unit.notices:
        chosen.append(
            Candidate(
                notice.user_id,
                notice.kind,
                notice.opportunity_id,
                notice.activity_id,
                audiences.get(notice.opportunity_id) if notice.opportunity_id else None,
                dict(notice.detail),
            )
        )
    if found.stage_ids:
        stages = await session.execute(
            select(Stage.id, Stage.name).where(Stage.id.in_(found.stage_ids))
        )
        names = {stage_id: name for stage_id, name in stages}
        for candidate in chosen:
            if (stage_id := candidate.detail.get("stage_id")) is not None:
                candidate.detail = {**candidate.detail, "stage": names.get(stage_id)}
    return chosen


@dataclass(frozen=True, slots=True)
class _Rights:
    is_active: bool
    is_admin: bool
    team_ids: frozenset[int]
    name: str


async def _rights(session: AsyncSession, user_ids: Iterable[int]) -> dict[int, _Rights]:
    teams = (
        select(func.array_agg(TeamMember.team_id))
        .where(TeamMember.user_id == User.id)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(User.id, User.is_active, User.role, User.name, teams).where(
            User.id.in_(sorted(set(user_ids)))
        )
    )
    return {
        row[0]: _Rights(row[1], row[2] == "ADMIN", frozenset(row[4] or ()), row[3]) for row in rows
    }


async def _turned_off(session: AsyncSession, user_ids: Iterable[int]) -> set[tuple[int, str]]:
    rows = await session.execute(
        select(NotificationPreference.user_id, NotificationPreference.kind).where(
            NotificationPreference.user_id.in_(sorted(set(user_ids))),
            NotificationPreference.enabled.is_(False),
        )
    )
    return {(row[0], row[1]) for row in rows}


async def chosen(
    session: AsyncSession, actor_id: int | None, found: Sequence[Candidate]
) -> list[Candidate]:
    """The candidates the inbox's rules let through, one per user and subject."""
    found = [c for c in found if c.user_id != actor_id]
    if not found:
        return []
    named = {c.detail["owner_id"] for c in found if "owner_id" in c.detail}
    rights = await _rights(session, {c.user_id for c in found} | named)
    off = await _turned_off(session, (c.user_id for c in found))
    kept: dict[tuple[Any, ...], Candidate] = {}
    for candidate in found:
        user = rights.get(candidate.user_id)
        if user is None or not user.is_active or (candidate.user_id, candidate.kind) in off:
            continue
        audience = candidate.audience
        if candidate.opportunity_id is not None and (
            audience is None or not audience.admits(candidate.user_id, user.team_ids, user.is_admin)
        ):
            continue
        if "owner_id" in candidate.detail:
            owner = rights.get(candidate.detail["owner_id"])
            candidate.detail = {**candidate.detail, "owner": owner.name if owner else None}
        # One per user and activity (the strongest kind); else one per user, deal and kind.
        key: tuple[Any, ...] = (
            (candidate.user_id, "activity", candidate.activity_id)
            if candidate.activity_id is not None
            else (candidate.user_id, candidate.kind, candidate.opportunity_id)
        )
        before = kept.get(key)
        if before is None or _PRECEDENCE.get(candidate.kind, 9) < _PRECEDENCE.get(before.kind, 9):
            kept[key] = candidate
    return list(kept.values())


async def settle(unit: Unit) -> None:
    """Write the notifications the unit's changes call for, told by one INBOX event."""
    if not unit.notices and not any(e.kind in _DERIVED_FROM for e in unit.pending):
        return
    actor = unit.actor
    actor_id = actor.user_id if actor is not None else None
    notifications = await chosen(unit.session, actor_id, await candidates(unit))
    if not notifications:
        return
    actor_name = actor.name if actor is not None else None
    rows = [
        {
            "user_id": c.user_id,
            "kind": c.kind.value,
            "opportunity_id": c.opportunity_id,
            "activity_id": c.activity_id,
            "actor_id": actor_id,
            "detail": {**c.detail, "actor": actor_name},
        }
        for c in notifications
    ]
    written: list[dict[str, Any]] = []

    async def write(session: AsyncSession, seq: int) -> None:
        for row in rows:
            row["seq"] = seq
        ids = (
            await session.scalars(
                insert(Notification).returning(Notification.id, sort_by_parameter_order=True), rows
            )
        ).all()
        written.extend({**row, "id": id_} for row, id_ in zip(rows, ids, strict=True))

    unit.record_sequenced(inbox_event({c.user_id for c in notifications}), write)

    async def deliver() -> None:
        await deliveries.deliver(written)

    unit.after_commit.append(deliver)


def inbox_event(user_ids: Iterable[int]) -> PendingEvent:
    """The event that tells these users' subscriptions that their inboxes changed."""
    return PendingEvent(
        kind=EventKind.INBOX,
        opportunity_id=None,
        version=0,
        changes=(),
        audience=Audience(INBOX_AUDIENCE, 0, user_ids=frozenset(user_ids)),
        snapshot={},
    )
