"""The opportunity filter language: a tree of conditions compiled to one WHERE clause.

A filter node holds any number of field conditions (all must hold) and optional groups:
`all_of` (AND), `any_of` (OR) and `none_of` (NOT). Every list condition means "one of these";
every range is inclusive at both ends and refused when inverted. Relative periods are
computed in UTC on the day the query runs, so a saved view "closing this month" moves with
the calendar.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    exists,
    false,
    func,
    not_,
    or_,
    select,
    true,
)

from app.crm.activities.models import Activity
from app.crm.errors import DomainError, ErrorCode
from app.crm.folders.models import Folder
from app.crm.jsonable import jsonable
from app.crm.opportunities.models import (
    STATUSES,
    Opportunity,
    OpportunityLostReason,
    Participant,
)
from app.crm.opportunities.textsearch import Matches, search_condition
from app.crm.users.models import TeamMember
from app.crm.validation import api_name

MAX_DEPTH = 6
MAX_IDS = 500


class Period(StrEnum):
    TODAY = "TODAY"
    THIS_WEEK = "THIS_WEEK"
    LAST_WEEK = "LAST_WEEK"
    NEXT_WEEK = "NEXT_WEEK"
    THIS_MONTH = "THIS_MONTH"
    LAST_MONTH = "LAST_MONTH"
    NEXT_MONTH = "NEXT_MONTH"
    THIS_QUARTER = "THIS_QUARTER"
    LAST_QUARTER = "LAST_QUARTER"
    NEXT_QUARTER = "NEXT_QUARTER"
    THIS_YEAR = "THIS_YEAR"
    LAST_YEAR = "LAST_YEAR"
    NEXT_YEAR = "NEXT_YEAR"
    LAST_30_DAYS = "LAST_30_DAYS"
    NEXT_30_DAYS = "NEXT_30_DAYS"
    OVERDUE = "OVERDUE"  # before today


@dataclass(frozen=True, slots=True)
class DateRange:
    start: date | None = None
    end: date | None = None
    period: Period | None = None
    is_set: bool | None = None  # True: has a date; False: has none


@dataclass(frozen=True, slots=True)
class TimeRange:
    start: datetime | None = None
    end: datetime | None = None
    period: Period | None = None


@dataclass(frozen=True, slots=True)
class AmountRange:
    low: Decimal | None = None
    high: Decimal | None = None
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class IntRange:
    low: int | None = None
    high: int | None = None


@dataclass(frozen=True, slots=True)
class OpportunityFilter:
    all_of: tuple[OpportunityFilter, ...] = ()
    any_of: tuple[OpportunityFilter, ...] = ()
    none_of: OpportunityFilter | None = None
    statuses: tuple[str, ...] = ()
    stage_ids: tuple[int, ...] = ()
    folder_id: int | None = None
    include_subfolders: bool = False
    unfiled: bool = False
    owner_ids: tuple[int, ...] = ()
    # Owned by whoever asks: what makes a shared "My open" view show each user their own.
    mine: bool = False
    team_ids: tuple[int, ...] = ()
    company_ids: tuple[int, ...] = ()
    contact_ids: tuple[int, ...] = ()
    value: AmountRange | None = None
    weighted_value: AmountRange | None = None
    probability: IntRange | None = None
    estimated_close_date: DateRange | None = None
    actual_close_date: DateRange | None = None
    forecast_categories: tuple[str, ...] = ()
    lead_sources: tuple[str, ...] = ()
    lost_reason_ids: tuple[int, ...] = ()
    awarded_company_ids: tuple[int, ...] = ()
    visibility: str | None = None
    created_at: TimeRange | None = None
    updated_at: TimeRange | None = None
    has_open_tasks: bool | None = None
    last_activity_before: datetime | None = None
    search: str | None = None

    def nested(self) -> tuple[OpportunityFilter, ...]:
        """The filters grouped in this one (AND, OR, NOT), one level down."""
        return (*self.all_of, *self.any_of, *([self.none_of] if self.none_of else []))


def period_bounds(period: Period, today: date) -> tuple[date | None, date | None]:
    """The first and last day of `period` around `today` (None: unbounded)."""
    if period is Period.TODAY:
        return today, today
    if period is Period.OVERDUE:
        return None, today - timedelta(days=1)
    if period is Period.LAST_30_DAYS:
        return today - timedelta(days=30), today
    if period is Period.NEXT_30_DAYS:
        return today, today + timedelta(days=30)
    if period in (Period.THIS_WEEK, Period.LAST_WEEK, Period.NEXT_WEEK):
        monday = today - timedelta(days=today.weekday())
        shift = {Period.THIS_WEEK: 0, Period.LAST_WEEK: -7, Period.NEXT_WEEK: 7}[period]
        start = monday + timedelta(days=shift)
        return start, start + timedelta(days=6)
    if period in (Period.THIS_MONTH, Period.LAST_MONTH, Period.NEXT_MONTH):
        shift = {Period.THIS_MONTH: 0, Period.LAST_MONTH: -1, Period.NEXT_MONTH: 1}[period]
        return _month(today.year, today.month + shift)
    if period in (Period.THIS_QUARTER, Period.LAST_QUARTER, Period.NEXT_QUARTER):
        shift = {Period.THIS_QUARTER: 0, Period.LAST_QUARTER: -3, Period.NEXT_QUARTER: 3}[period]
        first_month = (today.month - 1) // 3 * 3 + 1 + shift
        start, _ = _month(today.year, first_month)
        _, end = _month(today.year, first_month + 2)
        return start, end
    shift = {Period.THIS_YEAR: 0, Period.LAST_YEAR: -1, Period.NEXT_YEAR: 1}[period]
    return date(today.year + shift, 1, 1), date(today.year + shift, 12, 31)


def _month(year: int, month: int) -> tuple[date, date]:
    year += (month - 1) // 12
    month = (month - 1) % 12 + 1
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


# --- checks ---------------------------------------------------------------------------------


def _inverted(field: list[str]) -> DomainError:
    named = [*field[:-1], api_name(field[-1])]
    return DomainError(ErrorCode.INVALID, f"{named[-1]}: the end is before the start", named)


def check_time_range(span: TimeRange, field: list[str]) -> None:
    """Refuse a time without an offset, then an inverted range (a time without an offset
    cannot be compared with one that has it). `field` ends with the range's domain name."""
    for moment in (span.start, span.end):
        if moment is not None and moment.tzinfo is None:
            raise DomainError(
                ErrorCode.INVALID,
                "times must carry a time zone offset",
                [*field[:-1], api_name(field[-1])],
            )
    if span.start is not None and span.end is not None and span.end < span.start:
        raise _inverted(field)


def check_filter(f: OpportunityFilter, path: list[str] | None = None, depth: int = 0) -> None:
    """Refuse what no database could answer sensibly: inverted ranges, unknown values."""
    where = path or ["filter"]
    if depth > MAX_DEPTH:
        raise DomainError(
            ErrorCode.OUT_OF_RANGE, f"filters nest at most {MAX_DEPTH} levels deep", where
        )
    for status in f.statuses:
        if status not in STATUSES:
            raise DomainError(ErrorCode.INVALID, f"unknown status {status}", [*where, "status"])
    for spec in fields(f):
        value = getattr(f, spec.name)
        if isinstance(value, tuple) and len(value) > MAX_IDS:
            raise DomainError(
                ErrorCode.OUT_OF_RANGE, f"at most {MAX_IDS} values per condition", [*where]
            )
    spans: list[tuple[str, Any, Any]] = [
        (name, span.low, span.high)
        for name in ("value", "weighted_value", "probability")
        if (span := getattr(f, name)) is not None
    ]
    for name, low, high in spans:
        if low is not None and high is not None and high < low:
            raise _inverted([*where, name])
    for name in ("estimated_close_date", "actual_close_date", "created_at", "updated_at"):
        span = getattr(f, name)
        if isinstance(span, TimeRange):
            check_time_range(span, [*where, name])
        elif span is not None and None not in (span.start, span.end) and span.end < span.start:
            raise _inverted([*where, name])
    if f.last_activity_before is not None and f.last_activity_before.tzinfo is None:
        raise DomainError(
            ErrorCode.INVALID,
            "times must carry a time zone offset",
            [*where, "lastActivityBefore"],
        )
    for index, child in enumerate(f.all_of):
        check_filter(child, [*where, "and", str(index)], depth + 1)
    for index, child in enumerate(f.any_of):
        check_filter(child, [*where, "or", str(index)], depth + 1)
    if f.none_of is not None:
        check_filter(f.none_of, [*where, "not"], depth + 1)


# --- SQL ------------------------------------------------------------------------------------


def weighted_value() -> Any:
    return Opportunity.amount * Opportunity.probability / 100


def _participant_in(column: Any, ids: tuple[int, ...]) -> ColumnElement[bool]:
    return exists(
        select(Participant.id).where(Participant.opportunity_id == Opportunity.id, column.in_(ids))
    )


def _dates(column: Any, span: DateRange, today: date) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if span.is_set is not None:
        clauses.append(column.is_not(None) if span.is_set else column.is_(None))
    bounds: list[tuple[date | None, date | None]] = [(span.start, span.end)]
    if span.period is not None:
        bounds.append(period_bounds(span.period, today))
    for start, end in bounds:
        if start is not None:
            clauses.append(column >= start)
        if end is not None:
            clauses.append(column <= end)
    return clauses


def time_clauses(column: Any, span: TimeRange, today: date) -> list[ColumnElement[bool]]:
    """`column` (a timestamp) within `span`, its relative period taken around `today`."""
    clauses: list[ColumnElement[bool]] = []
    if span.start is not None:
        clauses.append(column >= span.start)
    if span.end is not None:
        clauses.append(column <= span.end)
    if span.period is not None:
        start, end = period_bounds(span.period, today)
        if start is not None:
            clauses.append(column >= datetime.combine(start, datetime.min.time(), UTC))
        if end is not None:
            clauses.append(
                column < datetime.combine(end + timedelta(days=1), datetime.min.time(), UTC)
            )
    return clauses


def _amounts(expression: Any, span: AmountRange) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if span.currency is not None:
        clauses.append(Opportunity.currency == span.currency.upper())
    if span.low is not None:
        clauses.append(expression >= span.low)
    if span.high is not None:
        clauses.append(expression <= span.high)
    return clauses


def ranking_text(f: OpportunityFilter) -> str | None:
    """The search every selected deal matches (its own, or one a view's AND carries), which
    ranks them; None when there is none."""
    if f.search:
        return f.search
    return next((t for child in f.all_of if (t := ranking_text(child))), None)


# Beyond this a subtree stays a subquery: each listed folder is a bound parameter.
MAX_LISTED_FOLDERS = 1000


def subtree_folders(f: OpportunityFilter) -> set[int]:
    """The folders whose subtrees `f` asks for, at any depth."""
    found = {f.folder_id} if f.folder_id is not None and f.include_subfolders else set()
    for child in f.nested():
        found |= subtree_folders(child)
    return found


def compile_filter(
    f: OpportunityFilter,
    me: int,
    today: date | None = None,
    *,
    matches: Matches | None = None,
    subtrees: Mapping[int, Sequence[int]] | None = None,
) -> ColumnElement[bool]:
    """`f` as a condition over `opportunities` for user `me` (visibility is the caller's to
    add). `matches`: how the list finds its search's matches (textsearch.find_matches).
    `subtrees`: the folder ids of subtrees already read (folders.queries.subtrees), else a
    subquery finds them."""
    day = today or datetime.now(UTC).date()
    clauses: list[ColumnElement[bool]] = []
    if f.mine:
        clauses.append(Opportunity.owner_id == me)
    if f.statuses:
        clauses.append(Opportunity.status.in_(f.statuses))
    if f.stage_ids:
        clauses.append(Opportunity.stage_id.in_(f.stage_ids))
    if f.folder_id is not None:
        listed = subtrees.get(f.folder_id) if subtrees is not None else None
        if f.include_subfolders and listed is not None and len(listed) <= MAX_LISTED_FOLDERS:
            # Listed, the folders give the planner a row estimate from the column's
            # statistics; behind a subquery it must guess, and at 10,000 deals it guessed
            # one folder and sorted a third of all deals (6.5 ms) instead of walking an index.
            clauses.append(Opportunity.folder_id.in_(listed))
        elif f.include_subfolders:
            top = select(Folder.path).where(Folder.id == f.folder_id).scalar_subquery()
            clauses.append(
                Opportunity.folder_id.in_(select(Folder.id).where(Folder.path.startswith(top)))
            )
        else:
            clauses.append(Opportunity.folder_id == f.folder_id)
    elif f.unfiled:
        clauses.append(Opportunity.folder_id.is_(None))
    if f.owner_ids:
        clauses.append(Opportunity.owner_id.in_(f.owner_ids))
    if f.team_ids:
        # A team's deals: those it is linked to, and those its members own.
        members = select(TeamMember.user_id).where(TeamMember.team_id.in_(f.team_ids))
        clauses.append(
            or_(
                Opportunity.owner_id.in_(members),
                _participant_in(Participant.team_id, f.team_ids),
            )
        )
    if f.company_ids:
        clauses.append(_participant_in(Participant.company_id, f.company_ids))
    if f.contact_ids:
        clauses.append(_participant_in(Participant.contact_id, f.contact_ids))
    if f.value is not None:
        clauses += _amounts(Opportunity.amount, f.value)
    if f.weighted_value is not None:
        clauses += _amounts(weighted_value(), f.weighted_value)
    if f.probability is not None:
        if f.probability.low is not None:
            clauses.append(Opportunity.probability >= f.probability.low)
        if f.probability.high is not None:
            clauses.append(Opportunity.probability <= f.probability.high)
    if f.estimated_close_date is not None:
        clauses += _dates(Opportunity.estimated_close_date, f.estimated_close_date, day)
    if f.actual_close_date is not None:
        clauses += _dates(Opportunity.actual_close_date, f.actual_close_date, day)
    if f.forecast_categories:
        clauses.append(Opportunity.forecast_category.in_(f.forecast_categories))
    if f.lead_sources:
        clauses.append(func.lower(Opportunity.lead_source).in_([s.lower() for s in f.lead_sources]))
    if f.lost_reason_ids:
        clauses.append(
            exists(
                select(OpportunityLostReason.opportunity_id).where(
                    OpportunityLostReason.opportunity_id == Opportunity.id,
                    OpportunityLostReason.lost_reason_id.in_(f.lost_reason_ids),
                )
            )
        )
    if f.awarded_company_ids:
        clauses.append(Opportunity.awarded_company_id.in_(f.awarded_company_ids))
    if f.visibility is not None:
        clauses.append(Opportunity.visibility == f.visibility)
    if f.created_at is not None:
        clauses += time_clauses(Opportunity.created_at, f.created_at, day)
    if f.updated_at is not None:
        clauses += time_clauses(Opportunity.updated_at, f.updated_at, day)
    if f.has_open_tasks is not None:
        open_task = exists(
            select(Activity.id).where(
                Activity.opportunity_id == Opportunity.id,
                Activity.kind == "TASK",
                Activity.status == "OPEN",
                Activity.deleted_at.is_(None),
            )
        )
        clauses.append(open_task if f.has_open_tasks else not_(open_task))
    if f.last_activity_before is not None:
        # Nothing has happened since then (a deal with no activity at all qualifies too).
        clauses.append(
            not_(
                exists(
                    select(Activity.id).where(
                        Activity.opportunity_id == Opportunity.id,
                        Activity.deleted_at.is_(None),
                        Activity.occurred_at >= f.last_activity_before,
                        Activity.occurred_at <= func.now(),
                    )
                )
            )
        )
    if f.search:
        clauses.append(
            search_condition(f.search) if matches is None else matches.condition(f.search)
        )

    def nested(child: OpportunityFilter) -> ColumnElement[bool]:
        return compile_filter(child, me, day, matches=matches, subtrees=subtrees)

    clauses += [nested(child) for child in f.all_of]
    if f.any_of:
        clauses.append(or_(*(nested(child) for child in f.any_of)))
    if f.none_of is not None:
        # NOT of an unknown (a comparison with a NULL column) is unknown, which would drop
        # the deals that lack the value; they are exactly the ones "not" should keep.
        excluded = nested(f.none_of)
        clauses.append(not_(func.coalesce(excluded, false())))
    if not clauses:
        return true()
    return and_(*clauses) if len(clauses) > 1 else clauses[0]


# --- stored form (saved views) --------------------------------------------------------------

_RANGES: dict[str, type] = {
    "value": AmountRange,
    "weighted_value": AmountRange,
    "probability": IntRange,
    "estimated_close_date": DateRange,
    "actual_close_date": DateRange,
    "created_at": TimeRange,
    "updated_at": TimeRange,
}


def filter_to_json(f: OpportunityFilter) -> dict[str, Any]:
    """Only what is set, as plain JSON."""
    out: dict[str, Any] = {}
    for spec in fields(f):
        value = getattr(f, spec.name)
        if value in ((), None, False):
            continue
        if spec.name in ("all_of", "any_of"):
            out[spec.name] = [filter_to_json(child) for child in value]
        elif spec.name == "none_of":
            out[spec.name] = filter_to_json(value)
        elif spec.name in _RANGES:
            out[spec.name] = {
                part.name: jsonable(getattr(value, part.name))
                for part in fields(value)
                if getattr(value, part.name) is not None
            }
        elif isinstance(value, tuple):
            out[spec.name] = list(value)
        else:
            out[spec.name] = jsonable(value)
    return out


def filter_from_json(data: dict[str, Any]) -> OpportunityFilter:
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name in ("all_of", "any_of"):
            values[name] = tuple(filter_from_json(child) for child in value)
        elif name == "none_of":
            values[name] = filter_from_json(value)
        elif name in _RANGES:
            values[name] = _range_from_json(_RANGES[name], value)
        elif name == "last_activity_before":
            values[name] = datetime.fromisoformat(value)
        elif isinstance(value, list):
            values[name] = tuple(value)
        else:
            values[name] = value
    return OpportunityFilter(**values)


def _range_from_json(kind: type, data: dict[str, Any]) -> Any:
    parsed: dict[str, Any] = {}
    for name, value in data.items():
        if name == "period":
            parsed[name] = Period(value)
        elif kind is AmountRange and name in ("low", "high"):
            parsed[name] = Decimal(value)
        elif kind is DateRange and name in ("start", "end"):
            parsed[name] = date.fromisoformat(value)
        elif kind is TimeRange and name in ("start", "end"):
            parsed[name] = datetime.fromisoformat(value)
        else:
            parsed[name] = value
    return kind(**parsed)
