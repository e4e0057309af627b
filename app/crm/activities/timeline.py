"""An opportunity's timeline: its activities and its own history, newest first, in one read.

Each page is one statement, compiled once per shape (which sources, first page or later):
each source is cut to the page on its own index (keyset and limit) before the two are
merged, so a page costs the same with ten activities or ten thousand; the merged entries
come back with the activity or event they stand for and the user who acted, so whoever shows
the page reads nothing more (`Page.related`, under the functions that read those by key).

A reader that knows what it shows names it (`Shown`): the activities' columns it reads, and
whether it shows the state an event left behind (its snapshot). Rows of all fifty columns
and events with their snapshots cost half a page's reading, in PostgreSQL and here, for a
timeline that shows a title and a time.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Integer,
    String,
    and_,
    any_,
    bindparam,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from app.crm.activities.models import KINDS, Activity
from app.crm.errors import DomainError, ErrorCode
from app.crm.paging import (
    Page,
    SortKey,
    after_position,
    as_page,
    check_page_size,
    decode_cursor,
    ordered,
    parse_datetime,
    parse_int,
    parse_text,
)
from app.crm.statements import Statement, keys, part_class
from app.crm.users import queries as user_queries
from app.crm.users.models import User
from app.events.envelope import ORDER_KINDS, ChangeEvent, EventKind
from app.events.models import EventRecord
from app.events.outbox import from_record
from app.memo import Memo

_activities = Activity.__table__
_events = EventRecord.__table__

# The opportunity's own history on the timeline: what changed it, not what its activities did
# (those are on the timeline as the activities themselves).
HISTORY_KINDS = tuple(
    k.value
    for k in EventKind
    if k
    not in (
        EventKind.ACTIVITY_ADDED,
        EventKind.ACTIVITY_UPDATED,
        EventKind.ACTIVITY_DELETED,
        EventKind.TASK_COMPLETED,
    )
    # An order's making and its status changes belong on the deal's timeline; its line edits
    # are the order's business.
    and (k not in ORDER_KINDS or k in (EventKind.ORDER_CREATED, EventKind.ORDER_STATUS_CHANGED))
)

_TEXTS = postgresql.ARRAY(String)
_PARSE = [parse_datetime, parse_text, parse_int]
"""A cursor's values: the time, the source ('A' activity, 'H' history), the id or seq."""


def _sources(kinds: Sequence[str]) -> tuple[list[str], bool]:
    """The activity kinds and whether history is wanted (all when `kinds` is empty)."""
    wanted = set(kinds)
    activity_kinds = [k for k in KINDS if not wanted or k in wanted]
    history = not wanted or "HISTORY" in wanted
    if not activity_kinds and not history:
        raise DomainError(ErrorCode.INVALID, "kinds selects nothing", ["kinds"])
    return activity_kinds, history


def _parts(activities: bool, history: bool) -> list[tuple[str, Any, Any, list[Any]]]:
    """(source, id column, time column, conditions) of each wanted source."""
    opportunity = bindparam("opportunity", type_=BigInteger)
    parts: list[tuple[str, Any, Any, list[Any]]] = []
    if activities:
        where = [
            _activities.c.opportunity_id == opportunity,
            _activities.c.deleted_at.is_(None),
            _activities.c.kind == any_(bindparam("kinds", type_=_TEXTS)),
        ]
        parts.append(("A", _activities.c.id, _activities.c.occurred_at, where))
    if history:
        where = [
            _events.c.opportunity_id == opportunity,
            _events.c.kind == any_(bindparam("history_kinds", type_=_TEXTS)),
        ]
        parts.append(("H", _events.c.seq, _events.c.occurred_at, where))
    return parts


# The entry's activity, event and actor, joined to the page: aliased, as the sources read the
# same tables.
_activity = _activities.alias("activity")
_event = _events.alias("event")
_actor = User.__table__.alias("actor")
_actor_columns = [_actor.c[name] for name in user_queries.SHOWN_COLUMNS]
_ACTOR_ROW = part_class(user_queries.SHOWN_COLUMNS)
ACTIVITY_COLUMNS = tuple(c.name for c in _activity.c)
_SNAPSHOTS = ("snapshot", "order_snapshot")
_EVENT_COLUMNS = tuple(c.name for c in _event.c if c.name not in _SNAPSHOTS)


@dataclass(frozen=True, slots=True)
class Shown:
    """What a reader of the timeline shows of its entries: the activities' columns it reads
    (their id, kind and author always come), and whether it shows the deal or order as an
    event left them (the events' snapshots, the largest thing they hold)."""

    activity_columns: tuple[str, ...] = ACTIVITY_COLUMNS
    snapshots: bool = True

    @classmethod
    def of(cls, activity_columns: Collection[str] | None, snapshots: bool) -> Shown:
        """None: every column."""
        if activity_columns is None:
            return cls(ACTIVITY_COLUMNS, snapshots)
        key = (activity_columns, snapshots) if isinstance(activity_columns, frozenset) else None
        if key is not None and (known := _SHOWN.get(key)) is not None:
            return known
        wanted = set(activity_columns) | {"id", "kind", "created_by_id"}
        shown = cls(tuple(c for c in ACTIVITY_COLUMNS if c in wanted), snapshots)
        if key is not None:
            _SHOWN.keep(key, shown)
        return shown

    @property
    def all_columns(self) -> bool:
        return self.activity_columns == ACTIVITY_COLUMNS

    def event_columns(self) -> tuple[str, ...]:
        return (*_EVENT_COLUMNS, *(_SNAPSHOTS if self.snapshots else ()))


EVERYTHING = Shown()
_SHOWN: Memo[tuple[frozenset[str], bool], Shown] = Memo(256)
"""By what a reader asked (a plan asks the same every time)."""
_PAGES: Memo[tuple[bool, bool, bool, Shown], tuple[Statement, Any, Any]] = Memo(256)
"""By shape: documents come and go, and what each shows is compiled again."""


def _page_statement(
    activities: bool, history: bool, after: bool, shown: Shown
) -> tuple[Statement, Any, Any]:
    """The page's statement, and the classes of its activity and event rows."""
    key = (activities, history, after, shown)
    found = _PAGES.get(key)
    if found is not None:
        return found
    size = bindparam("size", type_=Integer)
    position = (
        [
            bindparam("after0", type_=DateTime(timezone=True)),
            bindparam("after1", type_=String),
            bindparam("after2", type_=BigInteger),
        ]
        if after
        else None
    )
    selects = []
    for source, id_column, at_column, where in _parts(activities, history):
        own = [
            SortKey(at_column, True, _PARSE[0]),
            SortKey(literal(source), True, _PARSE[1]),
            SortKey(id_column, True, _PARSE[2]),
        ]
        part = select(
            literal(source).label("source"), id_column.label("id"), at_column.label("occurred_at")
        ).where(*where)
        if position is not None:
            part = part.where(after_position(own, position))
        # Within one source the constant `source` key orders nothing; the index does the rest.
        selects.append(ordered(part, [own[0], own[2]]).limit(size))
    merged = (union_all(*selects) if len(selects) > 1 else selects[0]).subquery("timeline")
    joined = (
        merged.outerjoin(_activity, and_(merged.c.source == "A", _activity.c.id == merged.c.id))
        .outerjoin(_event, and_(merged.c.source == "H", _event.c.seq == merged.c.id))
        .outerjoin(
            _actor, _actor.c.id == func.coalesce(_activity.c.created_by_id, _event.c.actor_id)
        )
    )
    order = [
        SortKey(merged.c[name], True, parse)
        for name, parse in zip(("occurred_at", "source", "id"), _PARSE, strict=True)
    ]
    query = select(
        merged.c.occurred_at.label("k0"),
        merged.c.source.label("k1"),
        merged.c.id.label("k2"),
        *(_activity.c[name] for name in shown.activity_columns),
        *(_event.c[name] for name in shown.event_columns()),
        *_actor_columns,
    ).select_from(joined)
    return _PAGES.keep(
        key,
        (
            Statement(ordered(query, order).limit(size)),
            part_class(shown.activity_columns),
            part_class(shown.event_columns()),
        ),
    )


class Entry:
    """A page's entry: where it comes from ('A' or 'H'), its id (an activity's id or an
    event's seq), its time, and the activity row or the event it stands for."""

    __slots__ = ("activity", "event", "id", "k0", "k1", "k2", "occurred_at", "source")

    def __init__(self, row: Any, activity: Any, event: ChangeEvent | None) -> None:
        self.k0 = self.occurred_at = row[0]
        self.k1 = self.source = row[1]
        self.k2 = self.id = row[2]
        self.activity = activity
        self.event = event


async def timeline_page(
    session: AsyncSession,
    opportunity_id: int,
    kinds: Sequence[str],
    first: int | None,
    after: str | None,
    shown: Shown = EVERYTHING,
) -> Page[Entry]:
    """Activities and history entries, newest first. Callers check visibility."""
    size = check_page_size(first)
    activity_kinds, history = _sources(kinds)
    tag = "timeline:" + ",".join(sorted(set(kinds)))
    values: dict[str, Any] = {
        "opportunity": opportunity_id,
        "kinds": activity_kinds,
        "history_kinds": list(HISTORY_KINDS),
        "size": size + 1,
    }
    if after:
        probe = [SortKey(literal(0), True, parse) for parse in _PARSE]
        for i, value in enumerate(decode_cursor(after, probe, tag)):
            values[f"after{i}"] = value
    statement, activity_row, event_row = _page_statement(
        bool(activity_kinds), history, after is not None, shown
    )
    rows = await statement.rows(session, **values)
    event_at = 3 + len(shown.activity_columns)
    actor_at = event_at + len(shown.event_columns())
    end = actor_at + len(_actor_columns)
    entries: list[Entry] = []
    activities: dict[int, Any] = {}
    events: dict[int, ChangeEvent] = {}
    actors: dict[int, Any] = {}
    for row in rows[:size]:
        if row[1] == "A":
            activity = activities[row[2]] = activity_row(row[3:event_at])
            entries.append(Entry(row, activity, None))
        else:
            event = events[row[2]] = from_record(
                event_row(row[event_at:actor_at]), snapshots=shown.snapshots
            )
            entries.append(Entry(row, None, event))
        if row[actor_at] is not None:
            actors[row[actor_at]] = _ACTOR_ROW(row[actor_at:end])
    entries += [Entry(row, None, None) for row in rows[size:]]  # only says there are more
    page = as_page(entries, 3, size, tag, has_previous_page=after is not None)
    # Rows with some of their columns, events without their snapshots: not for the readers
    # of whole ones (`rows_by_id`, `events_by_seq`) to find.
    related: dict[Any, dict[Any, Any]] = {user_queries.users_by_id: actors}
    if shown.all_columns:
        related[rows_by_id] = activities
    if shown.snapshots:
        related[events_by_seq] = events
    return Page(
        page.items,
        page.cursors,
        has_next_page=page.has_next_page,
        has_previous_page=page.has_previous_page,
        related=related,
    )


_COUNT = {
    (activities, history): Statement(
        select(
            sum(
                (
                    select(func.count(id_column)).where(*where).scalar_subquery()
                    for _, id_column, _, where in _parts(activities, history)
                ),
                start=literal(0),
            )
        )
    )
    for activities, history in ((True, True), (True, False), (False, True))
}


async def timeline_count(session: AsyncSession, opportunity_id: int, kinds: Sequence[str]) -> int:
    activity_kinds, history = _sources(kinds)
    rows = await _COUNT[(bool(activity_kinds), history)].rows(
        session,
        opportunity=opportunity_id,
        kinds=activity_kinds,
        history_kinds=list(HISTORY_KINDS),
    )
    return int(rows[0][0])


_EVENTS_BY_SEQ = Statement(select(_events).where(_events.c.seq == any_(keys("seqs"))))
_ACTIVITIES_BY_ID = Statement(select(_activities).where(_activities.c.id == any_(keys("ids"))))


async def events_by_seq(session: AsyncSession, seqs: Sequence[int]) -> dict[int, ChangeEvent]:
    rows = await _EVENTS_BY_SEQ.rows(session, seqs=list(seqs))
    return {r.seq: from_record(r) for r in rows}


async def rows_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, Any]:
    """Activities by id, deleted ones too (callers check)."""
    return {r.id: r for r in await _ACTIVITIES_BY_ID.rows(session, ids=list(ids))}
