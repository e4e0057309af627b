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

A deal's first page may also be read in the statement that reads the deal (`lateral`): the
deal view asks for both, and one statement instead of two is one round trip less (measured
on a deal with 1,000 activities: 0.14 -> 0.12 ms of PostgreSQL's CPU, 0.29 -> 0.22 ms to
the answer).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Integer,
    Select,
    String,
    any_,
    bindparam,
    cast,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from app.crm.activities.models import KINDS, Activity
from app.crm.errors import DomainError, ErrorCode
from app.crm.paging import (
    Page,
    PartialRows,
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


def _parts(
    activities: bool, history: bool, opportunity: Any
) -> list[tuple[str, Any, Any, list[Any]]]:
    """(source, id column, time column, conditions) of each wanted source, for the
    opportunity `opportunity` names."""
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


# The entry's author, joined to the page.
_actor = User.__table__.alias("actor")
USER_COLUMNS = user_queries.SHOWN_COLUMNS
ACTIVITY_COLUMNS = tuple(c.name for c in _activities.c)
_WHOLE_EVENT = ("audience", "snapshot", "order_snapshot")
"""What only a whole event holds: who may see it, and the deal and order as it left them."""
_EVENT_COLUMNS = tuple(c.name for c in _events.c if c.name not in _WHOLE_EVENT)


@dataclass(frozen=True, slots=True)
class Shown:
    """What a reader of the timeline shows of its entries: the activities' columns it reads
    (their id, kind and author always come), whether it shows the deal or order as an
    event left them (the events' snapshots, the largest thing they hold; without them, the
    events come without their audience too, which only decides who receives a live one),
    and the columns it shows of users (the entries' actors come with those)."""

    activity_columns: tuple[str, ...] = ACTIVITY_COLUMNS
    snapshots: bool = True
    user_columns: tuple[str, ...] = USER_COLUMNS

    @classmethod
    def of(
        cls,
        activity_columns: Collection[str] | None,
        snapshots: bool,
        user_columns: Collection[str] | None = None,
    ) -> Shown:
        """None: every column."""
        key = (activity_columns, snapshots, user_columns)
        hashable = all(c is None or isinstance(c, frozenset) for c in (key[0], key[2]))
        if hashable and (known := _SHOWN.get(key)) is not None:
            return known
        shown = cls(
            _named(ACTIVITY_COLUMNS, activity_columns, ("id", "kind", "created_by_id")),
            snapshots,
            _named(USER_COLUMNS, user_columns, ("id",)),
        )
        if hashable:
            _SHOWN.keep(key, shown)
        return shown

    @property
    def all_columns(self) -> bool:
        return self.activity_columns == ACTIVITY_COLUMNS

    def event_columns(self) -> tuple[str, ...]:
        if self.snapshots:
            return (*_EVENT_COLUMNS, *_WHOLE_EVENT)
        return _EVENT_COLUMNS


def _named(
    columns: tuple[str, ...], wanted: Collection[str] | None, always: tuple[str, ...]
) -> tuple[str, ...]:
    """Those of `columns` that are `wanted` or `always` (all of them for None)."""
    if wanted is None:
        return columns
    names = set(wanted).union(always)
    return tuple(c for c in columns if c in names)


EVERYTHING = Shown()
_SHOWN: Memo[tuple[Any, bool, Any], Shown] = Memo(256)
"""By what a reader asked (a plan asks the same every time)."""


@dataclass(frozen=True, slots=True)
class PageAsk:
    """A page of a timeline as a reader asks for it, checked: which sources, how many
    entries, after which position, showing what. Equal asks read equal pages, so a page
    read along with its deal (`lateral`) is found by the reader that asks for it."""

    activity_kinds: tuple[str, ...]
    history: bool
    size: int
    after: tuple[Any, ...] | None
    tag: str
    shown: Shown

    @classmethod
    def of(
        cls,
        kinds: Sequence[str],
        first: int | None,
        after: str | None,
        shown: Shown = EVERYTHING,
    ) -> PageAsk:
        """Raises DomainError for a page that cannot be read (its size, its cursor)."""
        size = check_page_size(first)
        activity_kinds, history = _sources(kinds)
        tag = "timeline:" + ",".join(sorted(set(kinds)))
        position = None
        if after:
            probe = [SortKey(literal(0), True, parse) for parse in _PARSE]
            position = tuple(decode_cursor(after, probe, tag))
        return cls(tuple(activity_kinds), history, size, position, tag, shown)

    def values(self) -> dict[str, Any]:
        """The values of its statement's parameters, but the opportunity's."""
        values: dict[str, Any] = {
            "kinds": list(self.activity_kinds),
            "history_kinds": list(HISTORY_KINDS),
            "size": self.size + 1,
        }
        for i, value in enumerate(self.after or ()):
            values[f"after{i}"] = value
        return values

    @property
    def form(self) -> tuple[bool, bool, bool, Shown]:
        """What its statement depends on (the rest are parameters)."""
        return (bool(self.activity_kinds), self.history, self.after is not None, self.shown)


def _page_query(form: tuple[bool, bool, bool, Shown], opportunity: Any) -> Select[Any]:
    """The page's query for the opportunity `opportunity` names (a parameter, or the column
    of the deal it is read along with)."""
    activities, history, after, shown = form
    correlated = getattr(opportunity, "table", None)
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
    # Each source brings the columns shown of its rows (NULL for the other's), read from the
    # rows its index scan visits anyway: joining the merged entries back to their tables by
    # id cost PostgreSQL a third of the page (bench/peer.py's timeline: 0.15 -> 0.11 ms).
    activity_shown = [_activities.c[name] for name in shown.activity_columns]
    event_shown = [_events.c[name] for name in shown.event_columns()]
    selects = []
    for source, id_column, at_column, where in _parts(activities, history, opportunity):
        own = [
            SortKey(at_column, True, _PARSE[0]),
            SortKey(literal(source), True, _PARSE[1]),
            SortKey(id_column, True, _PARSE[2]),
        ]
        part = select(
            literal(source).label("source"),
            id_column.label("id"),
            at_column.label("occurred_at"),
            *_shown_of(activity_shown, "a", source == "A"),
            *_shown_of(event_shown, "e", source == "H"),
        ).where(*where)
        if correlated is not None:
            part = part.correlate(correlated)  # the deal's table, from the enclosing read
        if position is not None:
            part = part.where(after_position(own, position))
        # Within one source the constant `source` key orders nothing; the index does the rest.
        selects.append(ordered(part, [own[0], own[2]]).limit(size))
    merged = (union_all(*selects) if len(selects) > 1 else selects[0]).subquery("timeline")
    author = func.coalesce(merged.c.a_created_by_id, merged.c.e_actor_id)
    query = select(
        merged.c.occurred_at.label("k0"),
        merged.c.source.label("k1"),
        merged.c.id.label("k2"),
        *(merged.c["a_" + column.name] for column in activity_shown),
        *(merged.c["e_" + column.name] for column in event_shown),
        *(_actor.c[name] for name in shown.user_columns),
    ).select_from(merged.outerjoin(_actor, _actor.c.id == author))
    order = [
        SortKey(merged.c[name], True, parse)
        for name, parse in zip(("occurred_at", "source", "id"), _PARSE, strict=True)
    ]
    return ordered(query, order).limit(size)


def _shown_of(columns: list[Any], prefix: str, own: bool) -> list[Any]:
    """A source's part of the shown columns: its own, or NULLs of their types."""
    return [
        (column if own else cast(null(), column.type)).label(f"{prefix}_{column.name}")
        for column in columns
    ]


_PAGES: Memo[tuple[bool, bool, bool, Shown], Statement] = Memo(256)
"""By form: documents come and go, and what each shows is compiled again."""


def lateral(ask: PageAsk, opportunity: Any) -> Any:
    """The page as a lateral subquery of a read of deals (`opportunity`: their id column):
    read in the same statement as its deal, its rows follow the deal's columns, ordered by
    `k0`, `k1`, `k2` descending; `page_of` makes the page of them."""
    return _page_query(ask.form, opportunity).lateral("entries")


def page_of(rows: Sequence[Any], start: int, ask: PageAsk) -> Page[Entry]:
    """The page of rows of its query (from `start` of each row on; a row whose entry is
    NULL, as a deal without entries reads, is none)."""
    shown = ask.shown
    size = ask.size
    event_at = start + 3 + len(shown.activity_columns)
    actor_at = event_at + len(shown.event_columns())
    end = actor_at + len(shown.user_columns)
    activity_row, event_row, actor_row = _row_classes(shown)
    entries: list[Entry] = []
    activities: dict[int, Any] = {}
    events: dict[int, ChangeEvent] = {}
    actors: dict[int, Any] = {}
    for row in rows:
        if row[start] is None:
            continue  # a deal's row without entries
        if len(entries) == size:
            entries.append(Entry(row, start, None, None))  # only says there are more
            break
        if row[start + 1] == "A":
            activity = activities[row[start + 2]] = activity_row(row[start + 3 : event_at])
            entries.append(Entry(row, start, activity, None))
        else:
            event = events[row[start + 2]] = from_record(
                event_row(row[event_at:actor_at]), snapshots=shown.snapshots
            )
            entries.append(Entry(row, start, None, event))
        if row[actor_at] is not None:
            actors[row[actor_at]] = actor_row(row[actor_at:end])
    page = as_page(entries, 3, size, ask.tag, has_previous_page=ask.after is not None)
    # Rows with some of their columns, events without their snapshots: not for the readers
    # of whole ones (`rows_by_id`, `events_by_seq`) to find.
    users: Any = user_queries.users_by_id
    if shown.user_columns != USER_COLUMNS:
        users = PartialRows(users, frozenset(shown.user_columns))
    related: dict[Any, dict[Any, Any]] = {users: actors}
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


def _row_classes(shown: Shown) -> tuple[Any, Any, Any]:
    """The classes of its activity, event and actor rows (named tuples of the columns it
    reads)."""
    return (
        part_class(shown.activity_columns),
        part_class(shown.event_columns()),
        part_class(shown.user_columns),
    )


class Entry:
    """A page's entry: where it comes from ('A' or 'H'), its id (an activity's id or an
    event's seq), its time, and the activity row or the event it stands for."""

    __slots__ = ("activity", "event", "id", "k0", "k1", "k2", "occurred_at", "source")

    def __init__(self, row: Any, start: int, activity: Any, event: ChangeEvent | None) -> None:
        self.k0 = self.occurred_at = row[start]
        self.k1 = self.source = row[start + 1]
        self.k2 = self.id = row[start + 2]
        self.activity = activity
        self.event = event


async def timeline_page(session: AsyncSession, opportunity_id: int, ask: PageAsk) -> Page[Entry]:
    """Activities and history entries, newest first. Callers check visibility."""
    form = ask.form
    statement = _PAGES.get(form)
    if statement is None:
        statement = _PAGES.keep(form, Statement(_page_query(form, _OPPORTUNITY)))
    rows = await statement.rows(session, opportunity=opportunity_id, **ask.values())
    return page_of(rows, 0, ask)


_OPPORTUNITY = bindparam("opportunity", type_=BigInteger)
_COUNT = {
    (activities, history): Statement(
        select(
            sum(
                (
                    select(func.count(id_column)).where(*where).scalar_subquery()
                    for _, id_column, _, where in _parts(activities, history, _OPPORTUNITY)
                ),
                start=literal(0),
            )
        )
    )
    for activities, history in ((True, True), (True, False), (False, True))
}


async def timeline_count(session: AsyncSession, opportunity_id: int, ask: PageAsk) -> int:
    """The entries of the whole timeline `ask` pages through (its kinds)."""
    rows = await _COUNT[(bool(ask.activity_kinds), ask.history)].rows(
        session,
        opportunity=opportunity_id,
        kinds=list(ask.activity_kinds),
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
