"""Reads of opportunities: Core selects into plain rows, visibility applied in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, any_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.crm.actor import Actor, live_and_visible, member_parameters, visible_to_member
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
from app.crm.opportunities.rows import COLUMNS, OpportunityRow
from app.crm.opportunities.sorting import Sort, SortField, effective, order_tag, sort_keys
from app.crm.paging import (
    Page,
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
from app.crm.users.models import User

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
_owner_columns = [_owners.c[name] for name in user_queries.SHOWN_COLUMNS]
_stage_columns = [_stages.c[name] for name in stage_queries.SHOWN_COLUMNS]
_with_owner_and_stage = [*_columns, *_owner_columns, *_stage_columns]
_joined = [_owners.c.id == _table.c.owner_id, _stages.c.id == _table.c.stage_id]
_OWNER_ROW = part_class(user_queries.SHOWN_COLUMNS)
_STAGE_ROW = part_class(stage_queries.SHOWN_COLUMNS)
_OWNER_AT = len(_columns)
_STAGE_AT = _OWNER_AT + len(_owner_columns)
_STAGE_END = _STAGE_AT + len(_stage_columns)


def _owners_and_stages(rows: Sequence[Any]) -> dict[Any, dict[Any, Any]]:
    owners: dict[int, Any] = {}
    stages: dict[int, Any] = {}
    for row in rows:
        owner_id = row[_OWNER_AT]
        if owner_id not in owners:
            owners[owner_id] = _OWNER_ROW(row[_OWNER_AT:_STAGE_AT])
        stage_id = row[_STAGE_AT]
        if stage_id not in stages:
            stages[stage_id] = _STAGE_ROW(row[_STAGE_AT:_STAGE_END])
    return {user_queries.users_by_id: owners, stage_queries.stages_by_id: stages}


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
_PIPELINE_PAGES: dict[tuple[str, bool, bool], Statement] = {}


def _pipeline_page(keys: list[SortKey], tag: str, admin: bool, after: bool) -> Statement:
    """The statement of a page of the whole pipeline (no filter, no search) in one order,
    as an admin or a member, first or later: the page a board or an app opens with, compiled
    once rather than built, keyed and compiled on every request."""
    key = (tag, admin, after)
    found = _PIPELINE_PAGES.get(key)
    if found is None:
        where: list[Any] = [_table.c.deleted_at.is_(None), *_joined]
        if not admin:
            where.append(visible_to_member())
        if len(_PIPELINE_PAGES) >= 256:  # orders are many in theory, a handful in use
            _PIPELINE_PAGES.clear()
        found = Statement(parameter_page_query(_with_owner_and_stage, where, keys, after=after))
        _PIPELINE_PAGES[key] = found
    return found


async def page(
    session: AsyncSession,
    actor: Actor,
    f: OpportunityFilter,
    sorts: Sequence[Sort],
    first: int | None,
    after: str | None,
) -> Page[OpportunityRow]:
    check_filter(f)
    search = ranking_text(f)
    keys = sort_keys(sorts, search)
    tag = order_tag(sorts, search)
    joined = True
    if f == _UNFILTERED and all(key.nulls_first is None for key in keys):
        statement = _pipeline_page(keys, tag, actor.is_admin, after is not None)
        visibility = {} if actor.is_admin else member_parameters(actor)
        rows = await fetch_compiled_page(
            session, statement, keys, first, after, tag=tag, **visibility
        )
    else:
        rows, joined = await _filtered_page(session, actor, f, sorts, keys, tag, first, after)
    return Page(
        [OpportunityRow.from_source(r) for r in rows.items],
        rows.cursors,
        has_next_page=rows.has_next_page,
        has_previous_page=rows.has_previous_page,
        related=_owners_and_stages(rows.items) if joined else {},
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
) -> tuple[Page[Any], bool]:
    """The page, and whether its rows hold their owners and stages (ranked searches,
    built of several statements, read the deals alone)."""
    plan = await _plan(session, actor, f, sorts)
    if plan.ranked:
        rows = await ranking.ranked_page(
            session, _columns, plan.where, keys, first, after, tag=tag, walk=plan.walk
        )
        return rows, False
    rows = await fetch_page(
        session, _with_owner_and_stage, [*plan.where, *_joined], keys, first, after, tag=tag
    )
    return rows, True


async def count(session: AsyncSession, actor: Actor, f: OpportunityFilter) -> int:
    check_filter(f)
    where = _where(actor, f, await _subtrees(session, f))
    query = select(func.count()).select_from(_table).where(*where)
    return int((await session.execute(query)).scalar_one())


_BY_ID = select(*_with_owner_and_stage).where(
    _table.c.id == any_(keys("ids")), _table.c.deleted_at.is_(None), *_joined
)
_VISIBLE_BY_ID = {
    "admin": Statement(_BY_ID),
    "member": Statement(_BY_ID.where(visible_to_member())),
}


class Found(dict[int, OpportunityRow]):
    """{id: row}, and the rows of other tables read with them (as Page.related)."""

    related: dict[Any, dict[Any, Any]]


async def visible_by_id(session: AsyncSession, actor: Actor, ids: Sequence[int]) -> Found:
    if actor.is_admin:
        rows = await _VISIBLE_BY_ID["admin"].rows(session, ids=list(ids))
    else:
        rows = await _VISIBLE_BY_ID["member"].rows(
            session, ids=list(ids), **member_parameters(actor)
        )
    found = Found((r.id, OpportunityRow.from_source(r)) for r in rows)
    found.related = _owners_and_stages(rows)
    return found


_participants = Participant.__table__
_PARTICIPANTS = Statement(
    select(_participants)
    .where(_participants.c.opportunity_id == any_(keys("ids")))
    .order_by(_participants.c.id)
)


async def participants_by_opportunity(
    session: AsyncSession, opportunity_ids: Sequence[int]
) -> dict[int, list[Row[Any]]]:
    rows = await _PARTICIPANTS.rows(session, ids=list(opportunity_ids))
    result: dict[int, list[Any]] = {i: [] for i in opportunity_ids}
    for row in rows:
        result[row.opportunity_id].append(row)
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
