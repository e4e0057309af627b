"""Grouping the pipeline: counts and value totals per stage, owner, month ... as a board needs.

Totals are per currency (amounts in different currencies never add up), over exactly the
opportunities the asker may see. An opportunity linked to two teams or two companies counts
in each of their groups; one with none falls in the group whose key is None.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, func, select, union, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from app.crm.actor import Actor, sees_private, visible_to
from app.crm.companies.models import Company
from app.crm.folders.models import Folder
from app.crm.money import quantum
from app.crm.opportunities import totals
from app.crm.opportunities.filters import OpportunityFilter, check_filter, compile_filter
from app.crm.opportunities.models import (
    FORECAST_CATEGORIES,
    STATUSES,
    Opportunity,
    Participant,
)
from app.crm.stages.models import Stage
from app.crm.users.models import Team, TeamMember, User


class GroupBy(StrEnum):
    STAGE = "STAGE"
    STATUS = "STATUS"
    OWNER = "OWNER"
    TEAM = "TEAM"
    FOLDER = "FOLDER"
    COMPANY = "COMPANY"
    FORECAST_CATEGORY = "FORECAST_CATEGORY"
    LEAD_SOURCE = "LEAD_SOURCE"
    CLOSE_MONTH = "CLOSE_MONTH"
    CLOSE_QUARTER = "CLOSE_QUARTER"


@dataclass(frozen=True, slots=True)
class CurrencyTotal:
    currency: str
    count: int
    value: Decimal
    weighted_value: Decimal


@dataclass(slots=True)
class Group:
    key: int | str | None  # an id (stage, owner, team, folder, company) or a value
    count: int = 0
    totals: list[CurrencyTotal] = field(default_factory=list)


def _close_date() -> Any:
    # A closed deal closed on its actual date; an open one is expected on its estimate.
    return func.coalesce(Opportunity.actual_close_date, Opportunity.estimated_close_date)


def _membership(group_by: GroupBy) -> Any | None:
    """(opportunity_id, key) pairs for groupings where one deal may be in several groups."""
    if group_by is GroupBy.COMPANY:
        # distinct: a company linked in two roles is still one company of the deal.
        return (
            select(
                Participant.opportunity_id.label("opportunity_id"),
                Participant.company_id.label("key"),
            )
            .where(Participant.company_id.is_not(None))
            .distinct()
        )
    if group_by is GroupBy.TEAM:
        linked = select(
            Participant.opportunity_id.label("opportunity_id"), Participant.team_id.label("key")
        ).where(Participant.team_id.is_not(None))
        owned = select(
            Opportunity.id.label("opportunity_id"), TeamMember.team_id.label("key")
        ).join(TeamMember, TeamMember.user_id == Opportunity.owner_id)
        return union(linked, owned)
    return None


def _key(group_by: GroupBy) -> Any:
    if group_by is GroupBy.CLOSE_MONTH:
        return func.to_char(_close_date(), "YYYY-MM")
    if group_by is GroupBy.CLOSE_QUARTER:
        return func.to_char(_close_date(), 'YYYY-"Q"Q')
    columns: dict[GroupBy, Any] = {
        GroupBy.STAGE: Opportunity.stage_id,
        GroupBy.STATUS: Opportunity.status,
        GroupBy.OWNER: Opportunity.owner_id,
        GroupBy.FOLDER: Opportunity.folder_id,
        GroupBy.FORECAST_CATEGORY: Opportunity.forecast_category,
        GroupBy.LEAD_SOURCE: Opportunity.lead_source,
    }
    return columns[group_by]


# Groupings the running totals can answer, by the column of their key.
_TOTALS_KEY = {GroupBy.STAGE: "stage_id", GroupBy.STATUS: "status", GroupBy.OWNER: "owner_id"}


def groups_statement(actor: Actor, f: OpportunityFilter, group_by: GroupBy) -> Any:
    """The aggregate query behind groups() (and bench/views.py's EXPLAIN): rows of (key,
    currency, count, value, weighted value), one statement, so one consistent snapshot.

    The deals are summed in disjoint parts: public ones (from the running totals when they
    can answer, else from the table, where PostgreSQL may scan in parallel) and the private
    ones the asker sees (from their own index). An admin sees every deal: one part.
    """
    check_filter(f)
    me = actor.user_id
    live, selected = Opportunity.deleted_at.is_(None), compile_filter(f, me)
    if actor.folder_ids is not None:
        # A token limited to folders (an integration's): one part, the deals it reaches.
        return _grouped(_summed(group_by, live, visible_to(actor), selected).subquery("parts"))
    # An admin's one part is every deal; a member's first part the public ones.
    public = [] if actor.is_admin else [Opportunity.visibility == "PUBLIC"]
    if group_by in _TOTALS_KEY and totals.answers(f):
        parts = [totals.running(f, me, _TOTALS_KEY[group_by], public_only=bool(public))]
    else:
        parts = [_summed(group_by, live, *public, selected)]
    if public:
        parts.append(_summed(group_by, live, sees_private(actor), selected))
    rows = union_all(*parts).subquery("parts") if len(parts) > 1 else parts[0].subquery("parts")
    return _grouped(rows)


def _grouped(rows: Any) -> Any:
    return (
        select(
            rows.c.key,
            rows.c.currency,
            func.sum(rows.c.count).label("count"),
            func.sum(rows.c.value).label("value"),
            # Amount times percent, summed exactly; divided by 100 in groups(), where no
            # scale is lost (PostgreSQL keeps 4 places of a quotient beyond 10^12).
            func.sum(rows.c.weighted).label("weighted"),
        )
        .group_by(rows.c.key, rows.c.currency)
        .having(func.sum(rows.c.count) > 0)
    )


def _summed(group_by: GroupBy, *where: ColumnElement[bool]) -> Any:
    """Count and sums per (key, currency) of the deals meeting `where`."""
    membership = _membership(group_by)
    if membership is not None:
        pairs = membership.subquery("membership")
        key = pairs.c.key
        query = select(key.label("key"), Opportunity.currency).select_from(
            Opportunity.__table__.outerjoin(pairs, pairs.c.opportunity_id == Opportunity.id)
        )
    else:
        key = _key(group_by)
        query = select(key.label("key"), Opportunity.currency)
    return (
        query.add_columns(
            func.count().label("count"),
            func.sum(Opportunity.amount).label("value"),
            func.sum(Opportunity.amount * Opportunity.probability).label("weighted"),
        )
        .where(*where)
        .group_by(key, Opportunity.currency)
    )


async def groups(
    session: AsyncSession, actor: Actor, f: OpportunityFilter, group_by: GroupBy
) -> list[Group]:
    rows = (await session.execute(groups_statement(actor, f, group_by))).all()
    by_key: dict[Any, Group] = {}
    for row in rows:
        group = by_key.setdefault(row.key, Group(row.key))
        unit = quantum(row.currency)
        group.totals.append(
            CurrencyTotal(
                currency=row.currency,
                count=int(row._mapping["count"]),  # a sum of counts: numeric
                value=_rounded(Decimal(row.value), unit),
                weighted_value=_rounded(Decimal(row.weighted), unit, percent=True),
            )
        )
    for group in by_key.values():
        group.totals.sort(key=lambda t: t.currency)
        group.count = sum(t.count for t in group.totals)
    return await _ordered(session, group_by, by_key)


def _rounded(exact: Decimal, unit: Decimal, *, percent: bool = False) -> Decimal:
    """`exact` (a percentage of it) in the currency's minor unit, rounded once, half to even.
    With room for any sum: the default context's 28 digits would round a large one first."""
    with localcontext(prec=80):
        return (exact.scaleb(-2) if percent else exact).quantize(unit, rounding=ROUND_HALF_EVEN)


async def _ordered(
    session: AsyncSession, group_by: GroupBy, by_key: dict[Any, Group]
) -> list[Group]:
    """Groups in the order a board shows them; every stage appears, empty or not."""
    if group_by is GroupBy.STAGE:
        stage_ids = (await session.scalars(select(Stage.id).order_by(Stage.position))).all()
        return [by_key.get(i) or Group(i) for i in stage_ids]
    if group_by is GroupBy.STATUS:
        return [by_key[s] for s in STATUSES if s in by_key]
    if group_by is GroupBy.FORECAST_CATEGORY:
        order = {c: i for i, c in enumerate(FORECAST_CATEGORIES)}
        return sorted(by_key.values(), key=lambda g: order.get(str(g.key), len(order)))
    named: Any = {
        GroupBy.OWNER: User,
        GroupBy.TEAM: Team,
        GroupBy.FOLDER: Folder,
        GroupBy.COMPANY: Company,
    }.get(group_by)
    if named is not None:
        ids = [k for k in by_key if k is not None]
        query = select(named.id, func.lower(named.name)).where(named.id.in_(ids))
        names = {i: n for i, n in (await session.execute(query)).all()}
        # By name, the "none" group (no folder, no company ...) last.
        return sorted(
            by_key.values(), key=lambda g: (g.key is None, names.get(g.key, ""), g.key or 0)
        )
    # Everything else by its key, the "none" group last.
    return sorted(by_key.values(), key=lambda g: (g.key is None, str(g.key)))
