"""Reads of opportunities: Core selects into plain rows, visibility applied in SQL."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, Select, any_, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.crm.activities import timeline as activity_timeline
from app.crm.activities.timeline import PageAsk
from app.crm.actor import Actor, live_and_visible, reach, reach_conditions, reach_parameters
from app.crm.companies import queries as company_queries
from app.crm.companies.models import Company
from app.crm.contacts import queries as contact_queries
from app.crm.contacts.models import Contact
from app.crm.folders import queries as folder_queries
from app.crm.opportunities import ranking, textsearch
from app.crm.opportunities.filters import (
    OpportunityFilter,
    check_filter,
    compile_filter,
    ranking_text,
    subtree_folders,
)
from app.crm.opportunities.models import (
    LostReason,
    Opportunity,
    OpportunityLostReason,
    Participant,
)
from app.crm.opportunities.rows import COLUMNS, OpportunityRow, partial_row
from app.crm.opportunities.sorting import Sort, SortField, effective, order_tag, sort_keys
from app.crm.paging import (
    Page,
    PartialRows,
    SortKey,
    check_page_size,
    fetch_compiled_page,
    fetch_page,
    page_query,
    parameter_page_query,
)
from app.crm.stages import queries as stage_queries
from app.crm.stages.models import Stage
from app.crm.statements import Statement, keys, part_class
from app.crm.users import queries as user_queries
from app.crm.users.models import Team, User
from app.memo import Memo

_table = Opportunity.__table__
_columns = [_table.c[name] for name in COLUMNS]

# A deal's owner and stage, read in the same statement as the deal: nearly every list of
# deals shows both, and a join costs PostgreSQL less than two more statements, and the
# server two round trips. They come back under the functions that would otherwise read them
# by key (Page.related), so a Reader finds them read. Both references are NOT NULL foreign
# keys: the inner join drops no deal. Aliased, so that a sort or filter's own subquery on
# users or stages (by the stage's position, the owner's name) stays correlated to the deal.
_owners = User.__table__.alias("owner")
_stages = Stage.__table__.alias("stage")
OWNER = "owner"
STAGE = "stage"
"""Names a reader may give with the columns it wants: the deals' owners, their stages; and,
qualified (`owner.name`), the columns it shows of them (else all they show anywhere)."""
_JOINS = (
    (OWNER, _owners, user_queries.SHOWN_COLUMNS, user_queries.users_by_id),
    (STAGE, _stages, stage_queries.SHOWN_COLUMNS, stage_queries.stages_by_id),
)


@dataclass(frozen=True, slots=True)
class Shape:
    """What a read of deals selects: their columns, all or those a reader names (a page of
    a board shows a dozen of twenty-five: the others cost decoding on every row, here and
    in PostgreSQL), and the columns of their owners and stages that come along, joined
    (none: no join)."""

    columns: tuple[str, ...]
    owner: tuple[str, ...]
    stage: tuple[str, ...]

    @classmethod
    def of(cls, wanted: Collection[str] | None) -> Shape:
        """The shape of a read of `wanted` (column names, OWNER, STAGE, their columns);
        None: everything."""
        if wanted is None:
            return FULL
        if isinstance(wanted, frozenset) and (known := _SHAPES.get(wanted)) is not None:
            return known
        names = set(wanted) | {"id"}
        if names & {"amount", "actual_amount"}:
            names.add("currency")  # amounts are shown in their currency's minor unit
        joined = [
            _joined_columns(names, name, shown) if name in names else ()
            for name, _, shown, _ in _JOINS
        ]
        shape = cls(tuple(c for c in COLUMNS if c in names), *joined)
        if isinstance(wanted, frozenset):
            _SHAPES.keep(wanted, shape)
        return shape

    @property
    def full(self) -> bool:
        return self.columns == COLUMNS

    def _joins(self) -> list[tuple[Any, tuple[str, ...], tuple[str, ...], Any]]:
        return [
            (table, columns, shown, fetch)
            for (_, table, shown, fetch), columns in zip(
                _JOINS, (self.owner, self.stage), strict=True
            )
            if columns
        ]

    def selected(self) -> list[Any]:
        own = [_table.c[name] for name in self.columns]
        return [*own, *(t.c[n] for t, columns, _, _ in self._joins() for n in columns)]

    def joined(self) -> list[Any]:
        return [
            *([_owners.c.id == _table.c.owner_id] if self.owner else ()),
            *([_stages.c.id == _table.c.stage_id] if self.stage else ()),
        ]

    def rows(self, records: Sequence[Any]) -> list[Any]:
        if self.full:
            return [OpportunityRow.from_source(r) for r in records]
        make = partial_row(self.columns)
        end = len(self.columns)
        return [make(r[:end]) for r in records]

    def related(self, records: Sequence[Any]) -> dict[Any, dict[Any, Any]]:
        """The owners and stages that came along, under the functions that read them by
        key (Page.related; with some of their columns, as such), so a Reader finds them
        read."""
        related: dict[Any, dict[Any, Any]] = {}
        at = len(self.columns)
        for _, columns, shown, fetch in self._joins():
            end = at + len(columns)
            key = fetch if columns == shown else PartialRows(fetch, frozenset(columns))
            related[key] = _parts(records, at, end, part_class(columns))
            at = end
        return related


_SHAPES: Memo[frozenset[str], Shape] = Memo(256)
"""Shapes by what was asked (a plan asks the same every time)."""


def _joined_columns(names: set[str], name: str, shown: tuple[str, ...]) -> tuple[str, ...]:
    """The columns of a joined table that `names` asks for (qualified by `name`): all it
    shows when none is named, when all are (`owner.*`), or when one is not among them."""
    prefix = name + "."
    asked = {n[len(prefix) :] for n in names if n.startswith(prefix)}
    if not asked or "*" in asked or not asked <= set(shown):
        return shown
    return tuple(c for c in shown if c in asked or c == "id")


def _parts(records: Sequence[Any], start: int, end: int, row: Any) -> dict[Any, Any]:
    found: dict[Any, Any] = {}
    for record in records:
        key = record[start]
        if key not in found:
            found[key] = row(record[start:end])
    return found


FULL = Shape(COLUMNS, user_queries.SHOWN_COLUMNS, stage_queries.SHOWN_COLUMNS)
"""Every column, with the owners and stages: what a read that names nothing gets."""


async def _subtrees(session: AsyncSession, f: OpportunityFilter) -> dict[int, list[int]] | None:
    folders = subtree_folders(f)
    return await folder_queries.subtrees(session, folders) if folders else None


def _where(
    actor: Actor,
    f: OpportunityFilter,
    subtrees: dict[int, list[int]] | None,
    matches: textsearch.Matches | None = None,
) -> list[Any]:
    condition = compile_filter(f, actor.user_id, matches=matches, subtrees=subtrees)
    return [live_and_visible(actor), condition]


@dataclass(frozen=True, slots=True)
class _Plan:
    """How a page is read: its conditions, and for a search ranked by relevance, whether
    and how its ranked list may walk (ranking.py). Decided before the page is read: never
    which rows, nor their order."""

    where: list[Any]
    ranked: bool
    walk: ranking.Walk | None = None
    matches: textsearch.Matches | None = None


async def _plan(
    session: AsyncSession, actor: Actor, f: OpportunityFilter, sorts: Sequence[Sort]
) -> _Plan:
    search = ranking_text(f)
    subtrees = await _subtrees(session, f)
    if search is None:
        return _Plan(_where(actor, f, subtrees), ranked=False)
    ranked = effective(sorts, search)[0].field is SortField.RELEVANCE
    matches = await textsearch.find_matches(session, search, collect=ranked)
    where = _where(actor, f, subtrees, matches)
    walk = None
    if ranked and ranking.worth_walking(matches):
        walk = ranking.Walk(matches, _where(actor, f, subtrees, matches.walking()))
    return _Plan(where, ranked, walk, matches)


async def page_statements(
    session: AsyncSession,
    actor: Actor,
    f: OpportunityFilter,
    sorts: Sequence[Sort],
    first: int | None = None,
) -> tuple[list[Any], str]:
    """The statements of a first page (a search's probe, then the page), for EXPLAIN
    (bench/views.py), and how the search's matches are read."""
    check_filter(f)
    search = ranking_text(f)
    keys = sort_keys(sorts, search)
    size = check_page_size(first)
    plan = await _plan(session, actor, f, sorts)
    if search is None or plan.matches is None:
        return [page_query(_columns, plan.where, keys, size, None, tag="")], ""
    # The probe, which reads the matches too when it finds the search rare (ranked lists).
    found = textsearch.find_statement(search) if plan.ranked else textsearch.probe_statement(search)
    how = "broad"
    if not plan.matches.broad:
        how = "rare" if plan.matches.ids is None else f"rare, {plan.matches.count} matches"
    if plan.ranked:
        page = ranking.first_ranked_statement(_columns, plan.where, keys, size, plan.walk)
        how += ", walked" if plan.walk is not None else ""
    else:
        page = page_query(_columns, plan.where, keys, size, None, tag="")
    return [found, page], how


_UNFILTERED = OpportunityFilter()
_PIPELINE_PAGES: Memo[tuple[str, tuple[bool, bool], bool, Shape], Statement] = Memo(256)


def _pipeline_page(
    keys: list[SortKey], tag: str, reached: tuple[bool, bool], after: bool, shape: Shape
) -> Statement:
    """The statement of a page of the whole pipeline (no filter, no search) in one order,
    for one reach (app/crm/actor.py), first or later, of one shape: the page a board or an
    app opens with, compiled once rather than built, keyed and compiled on every request."""
    key = (tag, reached, after, shape)
    found = _PIPELINE_PAGES.get(key)
    if found is None:
        where: list[Any] = [_table.c.deleted_at.is_(None), *shape.joined()]
        where.extend(reach_conditions(*reached))
        # Orders and shapes are many in theory, few in use.
        found = _PIPELINE_PAGES.keep(
            key, Statement(parameter_page_query(shape.selected(), where, keys, after=after))
        )
    return found


async def page(
    session: AsyncSession,
    actor: Actor,
    f: OpportunityFilter,
    sorts: Sequence[Sort],
    first: int | None,
    after: str | None,
    *,
    columns: Collection[str] | None = None,
) -> Page[Any]:
    """A page of deals; `columns`: what the caller reads of them (Shape.of), else all, as
    OpportunityRows."""
    check_filter(f)
    search = ranking_text(f)
    keys = sort_keys(sorts, search)
    tag = order_tag(sorts, search)
    shape = Shape.of(columns)
    if f == _UNFILTERED and all(key.nulls_first is None for key in keys):
        statement = _pipeline_page(keys, tag, reach(actor), after is not None, shape)
        rows = await fetch_compiled_page(
            session, statement, keys, first, after, tag=tag, **reach_parameters(actor)
        )
    else:
        rows, shape = await _filtered_page(session, actor, f, sorts, keys, tag, first, after, shape)
    return Page(
        shape.rows(rows.items),
        rows.cursors,
        has_next_page=rows.has_next_page,
        has_previous_page=rows.has_previous_page,
        related=shape.related(rows.items),
    )


async def _filtered_page(
    session: AsyncSession,
    actor: Actor,
    f: OpportunityFilter,
    sorts: Sequence[Sort],
    keys: list[SortKey],
    tag: str,
    first: int | None,
    after: str | None,
    shape: Shape,
) -> tuple[Page[Any], Shape]:
    """The page, and the shape of its rows (ranked searches, built of several statements,
    read the deals alone)."""
    plan = await _plan(session, actor, f, sorts)
    if plan.ranked:
        alone = Shape(shape.columns, owner=(), stage=())
        rows = await ranking.ranked_page(
            session, alone.selected(), plan.where, keys, first, after, tag=tag, walk=plan.walk
        )
        return rows, alone
    rows = await fetch_page(
        session, shape.selected(), [*plan.where, *shape.joined()], keys, first, after, tag=tag
    )
    return rows, shape


async def count(session: AsyncSession, actor: Actor, f: OpportunityFilter) -> int:
    check_filter(f)
    where = _where(actor, f, await _subtrees(session, f))
    query = select(func.count()).select_from(_table).where(*where)
    return int((await session.execute(query)).scalar_one())


_VISIBLE_BY_ID: Memo[tuple[tuple[bool, bool], Shape, Any], Statement] = Memo(256)


class Found(dict[int, Any]):
    """{id: row}, and the rows of other tables read with them (as Page.related)."""

    related: dict[Any, dict[Any, Any]]


async def visible_by_id(
    session: AsyncSession,
    actor: Actor,
    ids: Sequence[int],
    *,
    columns: Collection[str] | None = None,
    timeline: PageAsk | None = None,
) -> Found:
    """The live deals of `ids` the actor may see; `columns` as for page(). With `timeline`,
    the page it asks for of each deal's timeline is read in the same statement, and comes
    back in `related` under TIMELINE_PAGES, by (deal id, ask)."""
    shape = Shape.of(columns)
    form = timeline.form if timeline is not None else None
    reached = reach(actor)
    statement = _VISIBLE_BY_ID.get((reached, shape, form))
    if statement is None:
        query = select(*shape.selected()).where(
            _table.c.id == any_(keys("ids")),
            _table.c.deleted_at.is_(None),
            *shape.joined(),
            *reach_conditions(*reached),
        )
        if timeline is not None:
            entries = activity_timeline.lateral(timeline, _table.c.id)
            query = (
                query.add_columns(*entries.c)
                .select_from(_table.outerjoin(entries, true()))
                .order_by(_table.c.id, *(entries.c[k].desc() for k in ("k0", "k1", "k2")))
            )
        statement = _VISIBLE_BY_ID.keep((reached, shape, form), Statement(query))
    values = reach_parameters(actor)
    if timeline is not None:
        values.update(timeline.values())
    rows = await statement.rows(session, ids=list(ids), **values)
    if timeline is None:
        found = Found(zip((r[0] for r in rows), shape.rows(rows), strict=True))
        found.related = shape.related(rows)
        return found
    # A deal's rows, one per entry of its page, one after the other: its columns once.
    by_deal: dict[int, list[Any]] = {}
    for row in rows:
        by_deal.setdefault(row[0], []).append(row)
    firsts = [deal_rows[0] for deal_rows in by_deal.values()]
    found = Found(zip(by_deal, shape.rows(firsts), strict=True))
    found.related = shape.related(firsts)
    start = len(shape.selected())
    found.related[TIMELINE_PAGES] = {
        (pk, timeline): activity_timeline.page_of(deal_rows, start, timeline)
        for pk, deal_rows in by_deal.items()
    }
    return found


TIMELINE_PAGES = "timeline pages"
"""Where visible_by_id puts the timeline pages it read along with their deals (Found.related
and so a Reader's memo): {(deal id, PageAsk): Page}."""


_participants = Participant.__table__
# Each participant comes with the row it links (a company, a contact, a user or a team),
# joined: whoever shows participants shows their targets nearly always, and the deals'
# companies and contacts are among them (bench/peer.py's page with participants: four
# statements fewer).
_TARGETS: tuple[tuple[Any, Any, tuple[str, ...] | None, Any], ...] = (
    (_participants.c.company_id, Company.__table__, None, company_queries.by_id),
    (_participants.c.contact_id, Contact.__table__, None, contact_queries.by_id),
    (_participants.c.user_id, User.__table__, user_queries.SHOWN_COLUMNS, user_queries.users_by_id),
    (_participants.c.team_id, Team.__table__, None, user_queries.teams_by_id),
)
"""(the participant's column, the table it refers to, the columns read of it (None: all, as
the function reading its rows by key does), that function)"""
_TARGET_COLUMNS = [
    [table.c[name] for name in (shown or table.c.keys())] for _, table, shown, _ in _TARGETS
]


def _participants_query() -> Select[Any]:
    joined: Any = _participants
    for link, table, _, _ in _TARGETS:
        joined = joined.outerjoin(table, table.c.id == link)
    targets = (
        column.label(f"t{index}_{column.name}")
        for index, columns in enumerate(_TARGET_COLUMNS)
        for column in columns
    )
    return (
        select(*_participants.c, *targets)
        .select_from(joined)
        .where(_participants.c.opportunity_id == any_(keys("ids")))
        .order_by(_participants.c.id)
    )


_PARTICIPANTS = Statement(_participants_query())
_PARTICIPANT_ROW = part_class(tuple(_participants.c.keys()))
_TARGET_ROWS = [part_class(tuple(column.name for column in columns)) for columns in _TARGET_COLUMNS]


class Participants(dict[int, list[Any]]):
    """{opportunity id: its participants}, and the rows they link (as Page.related)."""

    related: dict[Any, dict[Any, Any]]


async def participants_by_opportunity(
    session: AsyncSession, opportunity_ids: Sequence[int]
) -> Participants:
    records = await _PARTICIPANTS.rows(session, ids=list(opportunity_ids))
    result = Participants({i: [] for i in opportunity_ids})
    end = len(_participants.c)
    for record in records:
        result[record.opportunity_id].append(_PARTICIPANT_ROW(record[:end]))
    result.related = {}
    at = end
    for (_, _, _, fetch), columns, row in zip(_TARGETS, _TARGET_COLUMNS, _TARGET_ROWS, strict=True):
        stop = at + len(columns)
        result.related[fetch] = {
            record[at]: row(record[at:stop]) for record in records if record[at] is not None
        }
        at = stop
    return result


async def participant_opportunity(session: AsyncSession, participant_id: int) -> int | None:
    return await session.scalar(
        select(Participant.opportunity_id).where(Participant.id == participant_id)
    )


async def lost_reason_ids_by_opportunity(
    session: AsyncSession, opportunity_ids: Sequence[int]
) -> dict[int, list[int]]:
    rows = (
        await session.execute(
            select(OpportunityLostReason.opportunity_id, OpportunityLostReason.lost_reason_id)
            .where(OpportunityLostReason.opportunity_id.in_(opportunity_ids))
            .order_by(OpportunityLostReason.lost_reason_id)
        )
    ).all()
    result: dict[int, list[int]] = {i: [] for i in opportunity_ids}
    for opportunity_id, reason_id in rows:
        result[opportunity_id].append(reason_id)
    return result


async def list_lost_reasons(session: AsyncSession, *, include_inactive: bool) -> Sequence[Row[Any]]:
    table = LostReason.__table__
    query = select(table).order_by(table.c.name)
    if not include_inactive:
        query = query.where(table.c.is_active)
    return (await session.execute(query)).all()


async def lost_reasons_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, Row[Any]]:
    table = LostReason.__table__
    rows = (await session.execute(select(table).where(table.c.id.in_(ids)))).all()
    return {r.id: r for r in rows}
