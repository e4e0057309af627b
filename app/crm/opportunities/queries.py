"""Reads of opportunities: Core selects into plain rows, visibility applied in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.crm.actor import Actor, live_and_visible
from app.crm.errors import DomainError, ErrorCode
from app.crm.folders.models import Folder
from app.crm.opportunities.models import (
    LostReason,
    Opportunity,
    OpportunityLostReason,
    Participant,
)
from app.crm.opportunities.rows import COLUMNS, OpportunityRow
from app.crm.paging import (
    Page,
    SortKey,
    fetch_page,
    parse_date,
    parse_datetime,
    parse_decimal,
    parse_int,
    parse_text,
    sort_keys,
)
from app.crm.search import contains_pattern

_table = Opportunity.__table__
_columns = [_table.c[name] for name in COLUMNS]
STATUSES = ("OPEN", "WON", "LOST")


class SortField(StrEnum):
    UPDATED_AT = "UPDATED_AT"
    CREATED_AT = "CREATED_AT"
    NAME = "NAME"
    NUMBER = "NUMBER"
    EXPECTED_VALUE = "EXPECTED_VALUE"
    PROBABILITY = "PROBABILITY"
    ESTIMATED_CLOSE_DATE = "ESTIMATED_CLOSE_DATE"


# Far-future sentinel so that a missing close date sorts last ascending, first descending,
# and the key stays NOT NULL for keyset comparisons.
_NO_DATE = date(9999, 12, 31)

_SORT_EXPRESSIONS = {
    SortField.UPDATED_AT: (Opportunity.updated_at, parse_datetime),
    SortField.CREATED_AT: (Opportunity.created_at, parse_datetime),
    SortField.NAME: (func.lower(Opportunity.name), parse_text),
    SortField.NUMBER: (Opportunity.number, parse_text),
    SortField.EXPECTED_VALUE: (Opportunity.amount, parse_decimal),
    SortField.PROBABILITY: (Opportunity.probability, parse_int),
    SortField.ESTIMATED_CLOSE_DATE: (
        func.coalesce(Opportunity.estimated_close_date, literal(_NO_DATE)),
        parse_date,
    ),
}


@dataclass(frozen=True, slots=True)
class Sort:
    field: SortField
    descending: bool


DEFAULT_SORT = (Sort(SortField.UPDATED_AT, True),)


@dataclass(frozen=True, slots=True)
class OpportunityFilter:
    folder_id: int | None = None
    include_subfolders: bool = False
    unfiled: bool = False
    statuses: Sequence[str] = ()
    stage_ids: Sequence[int] = ()
    owner_ids: Sequence[int] = ()
    company_ids: Sequence[int] = ()
    contact_ids: Sequence[int] = ()
    visibility: str | None = None
    search: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _sort_keys(sorts: Sequence[Sort]) -> list[SortKey]:
    pairs = [(s.field, s.descending) for s in sorts or DEFAULT_SORT]
    return sort_keys(pairs, _SORT_EXPRESSIONS, Opportunity.id)


def _where(actor: Actor, f: OpportunityFilter) -> list[Any]:
    clauses: list[Any] = [live_and_visible(actor)]
    if f.folder_id is not None:
        if f.include_subfolders:
            top = select(Folder.path).where(Folder.id == f.folder_id).scalar_subquery()
            clauses.append(
                Opportunity.folder_id.in_(select(Folder.id).where(Folder.path.startswith(top)))
            )
        else:
            clauses.append(Opportunity.folder_id == f.folder_id)
    elif f.unfiled:
        clauses.append(Opportunity.folder_id.is_(None))
    if f.statuses:
        clauses.append(Opportunity.status.in_(f.statuses))
    if f.stage_ids:
        clauses.append(Opportunity.stage_id.in_(f.stage_ids))
    if f.owner_ids:
        clauses.append(Opportunity.owner_id.in_(f.owner_ids))
    if f.visibility:
        clauses.append(Opportunity.visibility == f.visibility)
    for ids, column in (
        (f.company_ids, Participant.company_id),
        (f.contact_ids, Participant.contact_id),
    ):
        if ids:
            clauses.append(
                Opportunity.id.in_(select(Participant.opportunity_id).where(column.in_(ids)))
            )
    if f.search:
        pattern = contains_pattern(f.search, ["filter", "search"])
        clauses.append(Opportunity.name.ilike(pattern) | Opportunity.number.ilike(pattern))
    return clauses


def check_filter(f: OpportunityFilter) -> None:
    for status in f.statuses:
        if status not in STATUSES:
            raise DomainError(ErrorCode.INVALID, f"unknown status {status}", ["filter", "status"])


def _order_tag(sorts: Sequence[Sort]) -> str:
    return ",".join(
        f"{s.field.value} {'DESC' if s.descending else 'ASC'}" for s in sorts or DEFAULT_SORT
    )


async def page(
    session: AsyncSession,
    actor: Actor,
    f: OpportunityFilter,
    sorts: Sequence[Sort],
    first: int | None,
    after: str | None,
) -> Page[OpportunityRow]:
    check_filter(f)
    keys = _sort_keys(sorts)
    rows = await fetch_page(
        session, _columns, _where(actor, f), keys, first, after, tag=_order_tag(sorts)
    )
    return Page(
        [OpportunityRow.from_source(r) for r in rows.items],
        rows.cursors,
        has_next_page=rows.has_next_page,
        has_previous_page=rows.has_previous_page,
    )


async def count(session: AsyncSession, actor: Actor, f: OpportunityFilter) -> int:
    check_filter(f)
    query = select(func.count()).select_from(_table).where(*_where(actor, f))
    return int((await session.execute(query)).scalar_one())


async def visible_by_id(
    session: AsyncSession, actor: Actor, ids: Sequence[int]
) -> dict[int, OpportunityRow]:
    rows = (
        await session.execute(
            select(*_columns).where(_table.c.id.in_(ids), live_and_visible(actor))
        )
    ).all()
    return {r.id: OpportunityRow.from_source(r) for r in rows}


async def participants_by_opportunity(
    session: AsyncSession, opportunity_ids: Sequence[int]
) -> dict[int, list[Row[Any]]]:
    table = Participant.__table__
    rows = (
        await session.execute(
            select(table).where(table.c.opportunity_id.in_(opportunity_ids)).order_by(table.c.id)
        )
    ).all()
    result: dict[int, list[Row[Any]]] = {i: [] for i in opportunity_ids}
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
