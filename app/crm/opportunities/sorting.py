"""Sorting opportunities by any field, several keys, nulls first or last, keyset-stable.

A nullable field sorts NULLS FIRST or LAST as asked (by default as PostgreSQL does: last
ascending, first descending, so a plain index on the column serves it); the keyset condition
(app/crm/paging.py) handles NULL positions explicitly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import case, func, select

from app.crm.activities.models import Activity
from app.crm.companies.models import Company
from app.crm.errors import DomainError, ErrorCode
from app.crm.folders.models import Folder
from app.crm.opportunities.filters import weighted_value
from app.crm.opportunities.models import (
    FORECAST_CATEGORIES,
    STATUSES,
    VISIBILITIES,
    Opportunity,
    Participant,
)
from app.crm.opportunities.textsearch import relevance
from app.crm.paging import (
    SortKey,
    parse_date,
    parse_datetime,
    parse_decimal,
    parse_float,
    parse_int,
    parse_text,
)
from app.crm.stages.models import Stage
from app.crm.users.models import User


class SortField(StrEnum):
    UPDATED_AT = "UPDATED_AT"
    CREATED_AT = "CREATED_AT"
    NAME = "NAME"
    NUMBER = "NUMBER"
    EXPECTED_VALUE = "EXPECTED_VALUE"
    WEIGHTED_VALUE = "WEIGHTED_VALUE"
    PROBABILITY = "PROBABILITY"
    ESTIMATED_CLOSE_DATE = "ESTIMATED_CLOSE_DATE"
    ACTUAL_CLOSE_DATE = "ACTUAL_CLOSE_DATE"
    STATUS = "STATUS"
    STAGE = "STAGE"
    OWNER = "OWNER"
    FOLDER = "FOLDER"
    COMPANY = "COMPANY"
    FORECAST_CATEGORY = "FORECAST_CATEGORY"
    LEAD_SOURCE = "LEAD_SOURCE"
    VISIBILITY = "VISIBILITY"
    LAST_ACTIVITY_AT = "LAST_ACTIVITY_AT"
    RELEVANCE = "RELEVANCE"  # how well a deal matches the filter's search


@dataclass(frozen=True, slots=True)
class Sort:
    field: SortField
    descending: bool
    # None: PostgreSQL's default, nulls last ascending and first descending.
    nulls_first: bool | None = None


DEFAULT_SORT = (Sort(SortField.UPDATED_AT, True),)


def _last_activity() -> Any:
    return (
        select(func.max(Activity.occurred_at))
        .where(
            Activity.opportunity_id == Opportunity.id,
            Activity.deleted_at.is_(None),
            Activity.occurred_at <= func.now(),
        )
        .scalar_subquery()
    )


def _first_company() -> Any:
    return (
        select(func.min(func.lower(Company.name)))
        .join(Participant, Participant.company_id == Company.id)
        .where(Participant.opportunity_id == Opportunity.id)
        .scalar_subquery()
    )


def _declared(column: Any, values: Sequence[str]) -> Callable[[], Any]:
    """`column` by the position of its value in `values` (models.py), as groups and boards
    order them: alphabetically LOST would come before OPEN and WON."""
    positions = {value: position for position, value in enumerate(values)}
    return lambda: case(positions, value=column, else_=len(values))


# field -> (expression, cursor parser, whether it may be NULL)
_FIELDS: dict[SortField, tuple[Callable[[], Any], Callable[[Any], Any], bool]] = {
    SortField.UPDATED_AT: (lambda: Opportunity.updated_at, parse_datetime, False),
    SortField.CREATED_AT: (lambda: Opportunity.created_at, parse_datetime, False),
    SortField.NAME: (lambda: func.lower(Opportunity.name), parse_text, False),
    SortField.NUMBER: (lambda: Opportunity.number, parse_text, False),
    SortField.EXPECTED_VALUE: (lambda: Opportunity.amount, parse_decimal, False),
    SortField.WEIGHTED_VALUE: (weighted_value, parse_decimal, False),
    SortField.PROBABILITY: (lambda: Opportunity.probability, parse_int, False),
    SortField.ESTIMATED_CLOSE_DATE: (
        lambda: Opportunity.estimated_close_date,
        parse_date,
        True,
    ),
    SortField.ACTUAL_CLOSE_DATE: (lambda: Opportunity.actual_close_date, parse_date, True),
    SortField.STATUS: (_declared(Opportunity.status, STATUSES), parse_int, False),
    SortField.STAGE: (
        lambda: select(Stage.position).where(Stage.id == Opportunity.stage_id).scalar_subquery(),
        parse_int,
        False,
    ),
    SortField.OWNER: (
        lambda: (
            select(func.lower(User.name)).where(User.id == Opportunity.owner_id).scalar_subquery()
        ),
        parse_text,
        False,
    ),
    SortField.FOLDER: (
        lambda: (
            select(func.lower(Folder.name))
            .where(Folder.id == Opportunity.folder_id)
            .scalar_subquery()
        ),
        parse_text,
        True,
    ),
    SortField.COMPANY: (_first_company, parse_text, True),
    SortField.FORECAST_CATEGORY: (
        _declared(Opportunity.forecast_category, FORECAST_CATEGORIES),
        parse_int,
        False,
    ),
    SortField.LEAD_SOURCE: (lambda: func.lower(Opportunity.lead_source), parse_text, True),
    SortField.VISIBILITY: (_declared(Opportunity.visibility, VISIBILITIES), parse_int, False),
    SortField.LAST_ACTIVITY_AT: (_last_activity, parse_datetime, True),
}


def effective(sorts: Sequence[Sort], search: str | None) -> tuple[Sort, ...]:
    """What a list is sorted by: as asked, else by relevance when searching, else newest."""
    if sorts:
        return tuple(sorts)
    return (Sort(SortField.RELEVANCE, True),) if search else DEFAULT_SORT


def sort_keys(sorts: Sequence[Sort], search: str | None = None) -> list[SortKey]:
    """The keyset keys for `sorts` (each field once), the id last so the order is total."""
    chosen = effective(sorts, search)
    if len({s.field for s in chosen}) != len(chosen):
        raise DomainError(ErrorCode.INVALID, "each field may appear once in orderBy", ["orderBy"])
    keys: list[SortKey] = []
    for sort in chosen:
        if sort.field is SortField.RELEVANCE:
            if not search:
                raise DomainError(
                    ErrorCode.INVALID, "RELEVANCE sorts a search: give filter.search", ["orderBy"]
                )
            keys.append(SortKey(relevance(search), sort.descending, parse_float))
            continue
        build, parse, nullable = _FIELDS[sort.field]
        nulls_first = None
        if nullable:
            # PostgreSQL's own default, so a plain index on the column serves the order.
            nulls_first = sort.descending if sort.nulls_first is None else sort.nulls_first
        keys.append(SortKey(build(), sort.descending, parse, nulls_first))
    keys.append(SortKey(Opportunity.id, keys[-1].descending, parse_int))
    return keys


def order_tag(sorts: Sequence[Sort], search: str | None = None) -> str:
    """What a cursor records of the order it was made for (a ranking, of its search too)."""
    chosen = effective(sorts, search)
    tag = ",".join(
        f"{s.field.value} {'DESC' if s.descending else 'ASC'}"
        + ("" if s.nulls_first is None else (" NULLS FIRST" if s.nulls_first else " NULLS LAST"))
        for s in chosen
    )
    if search and any(s.field is SortField.RELEVANCE for s in chosen):
        tag += " for " + hashlib.sha256(search.encode()).hexdigest()[:12]
    return tag
