"""The opportunity filter as GraphQL input: fields, ranges, and AND / OR / NOT groups."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import strawberry

from app.crm.opportunities.filters import (
    AmountRange,
    DateRange,
    IntRange,
    OpportunityFilter,
    Period,
    TimeRange,
)
from app.graphql.ids import decode_id, encode_id
from app.graphql.types.common import ForecastCategory, OpportunityStatus, Visibility

RelativePeriod = strawberry.enum(
    Period,
    name="RelativePeriod",
    description="A period around today (UTC); OVERDUE is any day before today.",
)


@strawberry.input(description="Inclusive bounds; give either or both.")
class AmountRangeInput:
    min: Decimal | None = None
    max: Decimal | None = None
    currency: str | None = strawberry.field(
        default=None, description="Only amounts in this currency (amounts in others differ)."
    )

    def to_domain(self) -> AmountRange:
        return AmountRange(self.min, self.max, self.currency)


@strawberry.input(description="Inclusive bounds; give either or both.")
class IntRangeInput:
    min: int | None = None
    max: int | None = None

    def to_domain(self) -> IntRange:
        return IntRange(self.min, self.max)


@strawberry.input(description="Inclusive days, a relative period, or both (both must hold).")
class DateRangeInput:
    from_: date | None = strawberry.field(default=None, name="from")
    to: date | None = None
    period: RelativePeriod | None = None  # type: ignore[valid-type]
    is_set: bool | None = strawberry.field(
        default=None, description="true: has a date; false: has none."
    )

    def to_domain(self) -> DateRange:
        return DateRange(self.from_, self.to, _period(self.period), self.is_set)


@strawberry.input(description="Inclusive times (with an offset), a relative period, or both.")
class DateTimeRangeInput:
    from_: datetime | None = strawberry.field(default=None, name="from")
    to: datetime | None = None
    period: RelativePeriod | None = None  # type: ignore[valid-type]

    def to_domain(self) -> TimeRange:
        return TimeRange(self.from_, self.to, _period(self.period))


def _period(value: Any) -> Period | None:
    return Period(value.value if hasattr(value, "value") else value) if value else None


def _ids(values: list[strawberry.ID] | None, node_type: str, field: str) -> tuple[int, ...]:
    return tuple(decode_id(v, node_type, field) for v in values or [])


@strawberry.input(
    description="Conditions that must all hold; `and`, `or` and `not` group other filters. "
    "A list means any of its values."
)
class OpportunityFilterInput:
    and_: list[OpportunityFilterInput] | None = strawberry.field(default=None, name="and")
    or_: list[OpportunityFilterInput] | None = strawberry.field(default=None, name="or")
    not_: OpportunityFilterInput | None = strawberry.field(default=None, name="not")
    status: list[OpportunityStatus] | None = None
    stage_ids: list[strawberry.ID] | None = None
    folder_id: strawberry.ID | None = None
    include_subfolders: bool = False
    unfiled: bool = strawberry.field(
        default=False, description="Only opportunities in no folder (ignored with folderId)."
    )
    owner_ids: list[strawberry.ID] | None = None
    mine: bool = strawberry.field(default=False, description="Owned by you (whoever asks).")
    team_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Linked to one of these teams, or owned by a member."
    )
    company_ids: list[strawberry.ID] | None = None
    contact_ids: list[strawberry.ID] | None = None
    value: AmountRangeInput | None = strawberry.field(
        default=None, description="The expected value."
    )
    weighted_value: AmountRangeInput | None = None
    probability: IntRangeInput | None = None
    estimated_close_date: DateRangeInput | None = None
    actual_close_date: DateRangeInput | None = None
    forecast_category: list[ForecastCategory] | None = None
    lead_source: list[str] | None = strawberry.field(
        default=None, description="Any of these, ignoring case."
    )
    lost_reason_ids: list[strawberry.ID] | None = None
    awarded_company_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Lost to one of these competitors."
    )
    visibility: Visibility | None = None
    created_at: DateTimeRangeInput | None = None
    updated_at: DateTimeRangeInput | None = None
    has_open_tasks: bool | None = None
    last_activity_before: datetime | None = strawberry.field(
        default=None, description="Nothing has happened since (no activity at all counts)."
    )
    search: str | None = strawberry.field(
        default=None, description="Part of the name or number, case-insensitive."
    )

    def to_domain(self) -> OpportunityFilter:
        return OpportunityFilter(
            all_of=tuple(f.to_domain() for f in self.and_ or []),
            any_of=tuple(f.to_domain() for f in self.or_ or []),
            none_of=self.not_.to_domain() if self.not_ is not None else None,
            statuses=tuple(s.value for s in self.status or []),
            stage_ids=_ids(self.stage_ids, "Stage", "stageIds"),
            folder_id=decode_id(self.folder_id, "Folder", "folderId") if self.folder_id else None,
            include_subfolders=self.include_subfolders,
            unfiled=self.unfiled,
            owner_ids=_ids(self.owner_ids, "User", "ownerIds"),
            mine=self.mine,
            team_ids=_ids(self.team_ids, "Team", "teamIds"),
            company_ids=_ids(self.company_ids, "Company", "companyIds"),
            contact_ids=_ids(self.contact_ids, "Contact", "contactIds"),
            value=self.value.to_domain() if self.value else None,
            weighted_value=self.weighted_value.to_domain() if self.weighted_value else None,
            probability=self.probability.to_domain() if self.probability else None,
            estimated_close_date=(
                self.estimated_close_date.to_domain() if self.estimated_close_date else None
            ),
            actual_close_date=(
                self.actual_close_date.to_domain() if self.actual_close_date else None
            ),
            forecast_categories=tuple(c.value for c in self.forecast_category or []),
            lead_sources=tuple(self.lead_source or []),
            lost_reason_ids=_ids(self.lost_reason_ids, "LostReason", "lostReasonIds"),
            awarded_company_ids=_ids(self.awarded_company_ids, "Company", "awardedCompanyIds"),
            visibility=self.visibility.value if self.visibility else None,
            created_at=self.created_at.to_domain() if self.created_at else None,
            updated_at=self.updated_at.to_domain() if self.updated_at else None,
            has_open_tasks=self.has_open_tasks,
            last_activity_before=self.last_activity_before,
            search=self.search,
        )


# --- the stored filter shown back in the input's shape --------------------------------------

# Domain field -> (API field, node type of its IDs or None).
_API_FIELDS: dict[str, tuple[str, str | None]] = {
    "statuses": ("status", None),
    "stage_ids": ("stageIds", "Stage"),
    "folder_id": ("folderId", "Folder"),
    "include_subfolders": ("includeSubfolders", None),
    "unfiled": ("unfiled", None),
    "owner_ids": ("ownerIds", "User"),
    "mine": ("mine", None),
    "team_ids": ("teamIds", "Team"),
    "company_ids": ("companyIds", "Company"),
    "contact_ids": ("contactIds", "Contact"),
    "forecast_categories": ("forecastCategory", None),
    "lead_sources": ("leadSource", None),
    "lost_reason_ids": ("lostReasonIds", "LostReason"),
    "awarded_company_ids": ("awardedCompanyIds", "Company"),
    "visibility": ("visibility", None),
    "has_open_tasks": ("hasOpenTasks", None),
    "last_activity_before": ("lastActivityBefore", None),
    "search": ("search", None),
}
_RANGE_FIELDS = {
    "value": "value",
    "weighted_value": "weightedValue",
    "probability": "probability",
    "estimated_close_date": "estimatedCloseDate",
    "actual_close_date": "actualCloseDate",
    "created_at": "createdAt",
    "updated_at": "updatedAt",
}
_RANGE_PARTS = {
    "low": "min",
    "high": "max",
    "start": "from",
    "end": "to",
    "period": "period",
    "is_set": "isSet",
    "currency": "currency",
}


def filter_to_api(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored filter (filter_to_json) as an `OpportunityFilterInput` value: what a client
    can show, edit and send back."""
    out: dict[str, Any] = {}
    for name, value in stored.items():
        if name == "all_of":
            out["and"] = [filter_to_api(child) for child in value]
        elif name == "any_of":
            out["or"] = [filter_to_api(child) for child in value]
        elif name == "none_of":
            out["not"] = filter_to_api(value)
        elif name in _RANGE_FIELDS:
            out[_RANGE_FIELDS[name]] = {_RANGE_PARTS[k]: v for k, v in value.items()}
        else:
            api_field, node_type = _API_FIELDS[name]
            if node_type is None:
                out[api_field] = value
            elif isinstance(value, list):
                out[api_field] = [encode_id(node_type, v) for v in value]
            else:
                out[api_field] = encode_id(node_type, value)
    return out
