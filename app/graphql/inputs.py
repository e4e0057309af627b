"""Input objects. An omitted field leaves a value alone; an explicit null clears it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Any

import strawberry
from strawberry import UNSET

from app.crm.errors import DomainError, ErrorCode
from app.crm.opportunities.sorting import Sort, SortField
from app.crm.validation import api_name
from app.graphql.ids import decode_id
from app.graphql.types.common import (
    ForecastCategory,
    Role,
    SortDirection,
    StageKind,
    Visibility,
)
from app.graphql.types.opportunities import ParticipantRole

OpportunitySortField = strawberry.enum(
    SortField,
    name="OpportunitySortField",
    description=(
        "STAGE sorts by the pipeline's position; STATUS, FORECAST_CATEGORY and VISIBILITY in "
        "the order their enums declare (OPEN, WON, LOST), as groups list them; names ignore "
        "case; RELEVANCE sorts a search."
    ),
)


@strawberry.input
class MoneyInput:
    amount: Decimal
    currency: str = strawberry.field(description="ISO 4217 code, e.g. EUR.")


@strawberry.enum
class NullsOrder(Enum):
    FIRST = "FIRST"
    LAST = "LAST"


@strawberry.input
class OpportunityOrder:
    field: SortField
    direction: SortDirection = SortDirection.DESC
    nulls: NullsOrder | None = strawberry.field(
        default=None,
        description="Where missing values go; default: last ascending, first descending.",
    )

    def to_domain(self) -> Sort:
        return Sort(
            self.field,
            self.direction is SortDirection.DESC,
            None if self.nulls is None else self.nulls is NullsOrder.FIRST,
        )


def _identity(value: Any) -> Any:
    return value


def _enum_value(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def given(source: object, spec: dict[str, tuple[str, Callable[[Any], Any]]]) -> dict[str, Any]:
    """{domain key: converted value} for each input field the client actually sent."""
    values: dict[str, Any] = {}
    for attribute, (key, convert) in spec.items():
        value = getattr(source, attribute)
        if value is not UNSET:
            values[key] = None if value is None else convert(value)
    return values


def id_of(node_type: str, field: str) -> Callable[[Any], int]:
    return lambda value: decode_id(value, node_type, field)


def required(values: dict[str, Any], *keys: str) -> dict[str, Any]:
    """An explicit null for a field that cannot be empty is an error, not a clear."""
    for key in keys:
        if key in values and values[key] is None:
            field = api_name(key)
            raise DomainError(ErrorCode.REQUIRED, f"{field} cannot be null", [field])
    return values


# --- opportunities -------------------------------------------------------------------------


@strawberry.input
class CreateOpportunityInput:
    name: str
    expected_value: MoneyInput
    description: str | None = None
    folder_id: strawberry.ID | None = None
    stage_id: strawberry.ID | None = strawberry.field(
        default=None, description="Defaults to the first open stage."
    )
    probability: int | None = strawberry.field(
        default=None, description="Defaults to the stage's default probability."
    )
    forecast_category: ForecastCategory | None = None
    estimated_close_date: date | None = None
    next_step: str | None = None
    lead_source: str | None = None
    owner_id: strawberry.ID | None = strawberry.field(default=None, description="Defaults to you.")
    visibility: Visibility = Visibility.PUBLIC

    def to_domain(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "amount": self.expected_value.amount,
            "currency": self.expected_value.currency,
            "description": self.description,
            "folder_id": decode_id(self.folder_id, "Folder", "folderId")
            if self.folder_id
            else None,
            "stage_id": decode_id(self.stage_id, "Stage", "stageId") if self.stage_id else None,
            "probability": self.probability,
            "forecast_category": _enum_value(self.forecast_category),
            "estimated_close_date": self.estimated_close_date,
            "next_step": self.next_step,
            "lead_source": self.lead_source,
            "owner_id": decode_id(self.owner_id, "User", "ownerId") if self.owner_id else None,
            "visibility": self.visibility.value,
        }


@strawberry.input
class UpdateOpportunityInput:
    id: strawberry.ID
    expected_version: int
    name: str | None = UNSET
    description: str | None = UNSET
    stage_id: strawberry.ID | None = strawberry.field(
        default=UNSET,
        description="Moving stage resets probability and forecast category to the stage's "
        "defaults unless this input sets them too.",
    )
    expected_value: MoneyInput | None = UNSET
    probability: int | None = UNSET
    forecast_category: ForecastCategory | None = UNSET
    estimated_close_date: date | None = UNSET
    next_step: str | None = UNSET
    lead_source: str | None = UNSET
    owner_id: strawberry.ID | None = UNSET
    visibility: Visibility | None = UNSET
    folder_id: strawberry.ID | None = UNSET

    def to_domain(self) -> dict[str, Any]:
        values = given(
            self,
            {
                "name": ("name", _identity),
                "description": ("description", _identity),
                "stage_id": ("stage_id", id_of("Stage", "stageId")),
                "probability": ("probability", _identity),
                "forecast_category": ("forecast_category", _enum_value),
                "estimated_close_date": ("estimated_close_date", _identity),
                "next_step": ("next_step", _identity),
                "lead_source": ("lead_source", _identity),
                "owner_id": ("owner_id", id_of("User", "ownerId")),
                "visibility": ("visibility", _enum_value),
                "folder_id": ("folder_id", id_of("Folder", "folderId")),
            },
        )
        required(
            values, "name", "stage_id", "probability", "forecast_category", "owner_id", "visibility"
        )
        if self.expected_value is None:
            raise DomainError(ErrorCode.REQUIRED, "expectedValue cannot be null", ["expectedValue"])
        if self.expected_value is not UNSET:
            values["amount"] = self.expected_value.amount
            values["currency"] = self.expected_value.currency
        return values


@strawberry.input
class MarkOpportunityWonInput:
    id: strawberry.ID
    expected_version: int
    actual_value: MoneyInput | None = strawberry.field(
        default=None, description="Defaults to the expected value."
    )
    actual_close_date: date | None = strawberry.field(
        default=None, description="Defaults to today."
    )


@strawberry.input
class MarkOpportunityLostInput:
    id: strawberry.ID
    expected_version: int
    lost_reason_ids: list[strawberry.ID] = strawberry.field(default_factory=list)
    awarded_to_id: strawberry.ID | None = strawberry.field(
        default=None, description="The company (competitor) that won the business."
    )
    note: str | None = None
    actual_close_date: date | None = strawberry.field(
        default=None, description="Defaults to today."
    )


@strawberry.input
class ReopenOpportunityInput:
    id: strawberry.ID
    expected_version: int
    stage_id: strawberry.ID | None = strawberry.field(
        default=None, description="Defaults to the stage it was in when it was closed."
    )


@strawberry.input
class DeleteOpportunityInput:
    id: strawberry.ID
    expected_version: int


@strawberry.input
class MoveOpportunityInput:
    id: strawberry.ID
    expected_version: int
    folder_id: strawberry.ID | None = strawberry.field(description="null files it in no folder.")


@strawberry.input
class LinkParticipantInput:
    opportunity_id: strawberry.ID
    participant_id: strawberry.ID = strawberry.field(
        description="The ID of a Company, Contact, User or Team."
    )
    role: ParticipantRole
    is_primary: bool = strawberry.field(
        default=False, description="Contacts only; replaces the current primary contact."
    )
    expected_version: int | None = None


@strawberry.input
class UnlinkParticipantInput:
    id: strawberry.ID = strawberry.field(description="The Participant's ID.")
    expected_version: int | None = None


# --- folders and stages --------------------------------------------------------------------


@strawberry.input
class CreateFolderInput:
    name: str
    parent_id: strawberry.ID | None = None


@strawberry.input
class RenameFolderInput:
    id: strawberry.ID
    name: str


@strawberry.input
class MoveFolderInput:
    id: strawberry.ID
    parent_id: strawberry.ID | None = strawberry.field(description="null makes it a root folder.")


@strawberry.input
class DeleteFolderInput:
    id: strawberry.ID


@strawberry.input
class CreateStageInput:
    name: str
    kind: StageKind = StageKind.OPEN
    default_probability: int | None = None
    forecast_category: ForecastCategory | None = None
    position: int | None = strawberry.field(default=None, description="Defaults to the end.")


@strawberry.input
class UpdateStageInput:
    id: strawberry.ID
    name: str | None = None
    default_probability: int | None = None
    forecast_category: ForecastCategory | None = None
    position: int | None = None


@strawberry.input
class DeleteStageInput:
    id: strawberry.ID


# --- companies and contacts ----------------------------------------------------------------

COMPANY_SPEC: dict[str, tuple[str, Callable[[Any], Any]]] = {
    name: (name, _identity)
    for name in ("name", "website", "industry", "phone", "email", "city", "country", "notes")
}


@strawberry.input
class CreateCompanyInput:
    name: str
    website: str | None = UNSET
    industry: str | None = UNSET
    phone: str | None = UNSET
    email: str | None = UNSET
    city: str | None = UNSET
    country: str | None = strawberry.field(default=UNSET, description="ISO 3166 alpha-2 code.")
    notes: str | None = UNSET


@strawberry.input
class UpdateCompanyInput:
    id: strawberry.ID
    name: str | None = UNSET
    website: str | None = UNSET
    industry: str | None = UNSET
    phone: str | None = UNSET
    email: str | None = UNSET
    city: str | None = UNSET
    country: str | None = UNSET
    notes: str | None = UNSET


CONTACT_SPEC: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "first_name": ("first_name", _identity),
    "last_name": ("last_name", _identity),
    "email": ("email", _identity),
    "phone": ("phone", _identity),
    "job_title": ("job_title", _identity),
    "notes": ("notes", _identity),
    "company_id": ("company_id", id_of("Company", "companyId")),
}


@strawberry.input
class CreateContactInput:
    first_name: str
    last_name: str
    email: str | None = UNSET
    phone: str | None = UNSET
    job_title: str | None = UNSET
    company_id: strawberry.ID | None = UNSET
    notes: str | None = UNSET


@strawberry.input
class UpdateContactInput:
    id: strawberry.ID
    first_name: str | None = UNSET
    last_name: str | None = UNSET
    email: str | None = UNSET
    phone: str | None = UNSET
    job_title: str | None = UNSET
    company_id: strawberry.ID | None = UNSET
    notes: str | None = UNSET


@strawberry.input
class DeleteInput:
    id: strawberry.ID


# --- users and teams -----------------------------------------------------------------------


@strawberry.input
class LoginInput:
    email: str
    password: str


@strawberry.input
class ChangePasswordInput:
    current_password: str
    new_password: str


@strawberry.input
class CreateUserInput:
    email: str
    name: str
    password: str
    role: Role = Role.MEMBER
    must_change_password: bool = strawberry.field(
        default=False,
        description="A one-time password: until the user changes it (changePassword), only "
        "`me` and `changePassword` run for them.",
    )


@strawberry.input
class UpdateUserInput:
    id: strawberry.ID
    name: str | None = None
    role: Role | None = None
    is_active: bool | None = None
    handle: str | None = strawberry.field(
        default=None,
        description="How the user is mentioned (`@handle`); unique among users and teams.",
    )


@strawberry.input
class CreateTeamInput:
    name: str


@strawberry.input
class RenameTeamInput:
    id: strawberry.ID
    name: str | None = None
    handle: str | None = strawberry.field(
        default=None,
        description="How the team is mentioned (`@handle`); renaming the team keeps it.",
    )


@strawberry.input
class TeamMemberInput:
    team_id: strawberry.ID
    user_id: strawberry.ID
