"""Opportunities, their participants, and their change events (history and live)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from app.crm.opportunities.models import TARGET_COLUMNS
from app.crm.opportunities.rows import OpportunityRow
from app.crm.orders.rows import OrderRow
from app.crm.validation import api_name
from app.events.envelope import ChangeEvent, EventKind, FieldChange
from app.graphql.ids import encode_id
from app.graphql.loaders import Loaders, all_now_or_later, now_or_later
from app.graphql.scalars import JSON
from app.graphql.types.common import (
    Connection,
    ForecastCategory,
    Money,
    Node,
    OpportunityStatus,
    Visibility,
)
from app.graphql.types.parties import Company, Contact
from app.graphql.types.people import Team, User
from app.graphql.types.pipeline import Folder, LostReason, Stage

if TYPE_CHECKING:
    from app.graphql.types.activities import Appointment, TimelineEntry, TimelineKind
    from app.graphql.types.orders import Order


@strawberry.enum
class ParticipantKind(Enum):
    COMPANY = "COMPANY"
    CONTACT = "CONTACT"
    USER = "USER"
    TEAM = "TEAM"


@strawberry.enum(
    description="Contacts: DECISION_MAKER … CHAMPION; companies: CUSTOMER … "
    "COMPETITOR; users and teams: SALES_REP … SUPPORT; OTHER for any."
)
class ParticipantRole(Enum):
    DECISION_MAKER = "DECISION_MAKER"
    ECONOMIC_BUYER = "ECONOMIC_BUYER"
    INFLUENCER = "INFLUENCER"
    TECHNICAL_EVALUATOR = "TECHNICAL_EVALUATOR"
    CHAMPION = "CHAMPION"
    CUSTOMER = "CUSTOMER"
    PARTNER = "PARTNER"
    RESELLER = "RESELLER"
    COMPETITOR = "COMPETITOR"
    SALES_REP = "SALES_REP"
    PRESALES = "PRESALES"
    MANAGER = "MANAGER"
    SUPPORT = "SUPPORT"
    OTHER = "OTHER"


ParticipantTarget = Annotated[
    Company | Contact | User | Team, strawberry.union("ParticipantTarget")
]


def _maybe(present: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda row: present(row) if row is not None else None


def loaders_for(own: Loaders | None, info: strawberry.Info) -> Loaders:
    # Event payloads carry loaders shared by every subscriber of that event (one query per
    # event per process); everything else uses the request's own.
    return own if own is not None else info.context.loaders


@strawberry.type(description="A company, contact, user or team linked to an opportunity.")
class Participant(Node):
    id: strawberry.ID
    kind: ParticipantKind
    role: ParticipantRole
    is_primary: bool
    created_at: datetime
    target_pk: strawberry.Private[int]
    loaders: strawberry.Private[Loaders | None]

    @classmethod
    def of(cls, row: Any, loaders: Loaders | None = None) -> Participant:
        kind = ParticipantKind(row.kind)
        target = {"COMPANY": row.company_id, "CONTACT": row.contact_id, "USER": row.user_id}
        return cls(
            id=strawberry.ID(encode_id("Participant", row.id)),
            kind=kind,
            role=ParticipantRole(row.role),
            is_primary=row.is_primary,
            created_at=row.created_at,
            target_pk=target.get(row.kind, row.team_id),
            loaders=loaders,
        )

    @strawberry.field(graphql_type=ParticipantTarget)
    def target(self, info: strawberry.Info) -> Any:
        loaders = loaders_for(self.loaders, info)
        if self.kind is ParticipantKind.COMPANY:
            return now_or_later(loaders.company_by_id.load(self.target_pk), Company.of)
        if self.kind is ParticipantKind.CONTACT:
            return now_or_later(loaders.contact_by_id.load(self.target_pk), Contact.of)
        if self.kind is ParticipantKind.USER:
            return now_or_later(loaders.user_by_id.load(self.target_pk), User.of)
        return now_or_later(loaders.team_by_id.load(self.target_pk), Team.of)


@strawberry.type(description="A potential sale.")
class Opportunity(Node):
    id: strawberry.ID
    number: str
    name: str
    description: str | None
    status: OpportunityStatus
    expected_value: Money
    probability: int
    weighted_value: Money = strawberry.field(
        description="expectedValue * probability / 100, rounded half-even to the minor unit."
    )
    forecast_category: ForecastCategory
    estimated_close_date: date | None
    next_step: str | None
    lead_source: str | None
    visibility: Visibility
    actual_value: Money | None
    actual_close_date: date | None
    lost_note: str | None
    version: int = strawberry.field(
        description="Increases with every change; send it back as expectedVersion."
    )
    created_at: datetime
    updated_at: datetime
    is_deleted: bool
    row: strawberry.Private[OpportunityRow]
    loaders: strawberry.Private[Loaders | None]

    @classmethod
    def of(cls, row: OpportunityRow, loaders: Loaders | None = None) -> Opportunity:
        currency = row.currency
        return cls(
            id=strawberry.ID(encode_id("Opportunity", row.id)),
            number=row.number,
            name=row.name,
            description=row.description,
            status=OpportunityStatus(row.status),
            expected_value=Money(amount=row.amount, currency=currency),
            probability=row.probability,
            weighted_value=Money(amount=row.weighted_amount, currency=currency),
            forecast_category=ForecastCategory(row.forecast_category),
            estimated_close_date=row.estimated_close_date,
            next_step=row.next_step,
            lead_source=row.lead_source,
            visibility=Visibility(row.visibility),
            actual_value=(
                Money(amount=row.actual_amount, currency=currency)
                if row.actual_amount is not None
                else None
            ),
            actual_close_date=row.actual_close_date,
            lost_note=row.lost_note,
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
            is_deleted=row.deleted_at is not None,
            row=row,
            loaders=loaders,
        )

    # Related objects come through the loaders, resolved synchronously when a page has
    # prefetched them (see now_or_later), so a page of 50 does not cost 50 awaits a field.

    @strawberry.field(graphql_type=Stage)
    def stage(self, info: strawberry.Info) -> Any:
        return now_or_later(
            loaders_for(self.loaders, info).stage_by_id.load(self.row.stage_id), Stage.of
        )

    @strawberry.field(graphql_type=Folder | None)
    def folder(self, info: strawberry.Info) -> Any:
        if self.row.folder_id is None:
            return None
        return now_or_later(
            loaders_for(self.loaders, info).folder_by_id.load(self.row.folder_id), _maybe(Folder.of)
        )

    @strawberry.field(graphql_type=User)
    def owner(self, info: strawberry.Info) -> Any:
        return now_or_later(
            loaders_for(self.loaders, info).user_by_id.load(self.row.owner_id), User.of
        )

    @strawberry.field(graphql_type=User)
    def created_by(self, info: strawberry.Info) -> Any:
        return now_or_later(
            loaders_for(self.loaders, info).user_by_id.load(self.row.created_by_id), User.of
        )

    @strawberry.field(
        graphql_type=Company | None, description="When lost: the company that won the business."
    )
    def awarded_to(self, info: strawberry.Info) -> Any:
        if self.row.awarded_company_id is None:
            return None
        return now_or_later(
            loaders_for(self.loaders, info).company_by_id.load(self.row.awarded_company_id),
            _maybe(Company.of),
        )

    @strawberry.field
    async def lost_reasons(self, info: strawberry.Info) -> list[LostReason]:
        loaders = loaders_for(self.loaders, info)
        ids = await loaders.lost_reason_ids_by_opportunity.load(self.row.id)
        return [LostReason.of(r) for r in await loaders.lost_reason_by_id.load_many(ids) if r]

    def _participant_rows(self, info: strawberry.Info, present: Callable[[list[Any]], Any]) -> Any:
        loaders = loaders_for(self.loaders, info)
        return now_or_later(loaders.participants_by_opportunity.load(self.row.id), present)

    @strawberry.field(graphql_type=list[Participant])
    def participants(self, info: strawberry.Info, kind: ParticipantKind | None = None) -> Any:
        return self._participant_rows(
            info,
            lambda rows: [
                Participant.of(r, self.loaders)
                for r in rows
                if kind is None or r.kind == kind.value
            ],
        )

    def _linked(
        self, info: strawberry.Info, kind: str, loader: Any, present: Callable[[Any], Any]
    ) -> Any:
        """The distinct companies or contacts linked to this opportunity, whatever their roles."""
        column = TARGET_COLUMNS[kind]

        def linked(rows: list[Any]) -> Any:
            ids = dict.fromkeys(getattr(r, column) for r in rows if r.kind == kind)
            return all_now_or_later(
                [loader.load(i) for i in ids],
                lambda found: [present(row) for row in found if row is not None],
            )

        return self._participant_rows(info, linked)

    @strawberry.field(
        graphql_type=list[Company],
        description="The linked companies (each once, whatever its roles).",
    )
    def companies(self, info: strawberry.Info) -> Any:
        loader = loaders_for(self.loaders, info).company_by_id
        return self._linked(info, "COMPANY", loader, Company.of)

    @strawberry.field(
        graphql_type=list[Contact],
        description="The linked contacts (each once, whatever their roles).",
    )
    def contacts(self, info: strawberry.Info) -> Any:
        loader = loaders_for(self.loaders, info).contact_by_id
        return self._linked(info, "CONTACT", loader, Contact.of)

    @strawberry.field(graphql_type=Contact | None)
    def primary_contact(self, info: strawberry.Info) -> Any:
        loaders = loaders_for(self.loaders, info)

        def present(rows: list[Any]) -> Any:
            primary = next((r for r in rows if r.is_primary), None)
            if primary is None:
                return None
            return now_or_later(loaders.contact_by_id.load(primary.contact_id), _maybe(Contact.of))

        return self._participant_rows(info, present)

    def _summary(self, info: strawberry.Info, present: Callable[[Any], Any]) -> Any:
        loader = loaders_for(self.loaders, info).activity_summary_by_opportunity
        return now_or_later(loader.load(self.row.id), present)

    @strawberry.field(graphql_type=datetime | None)
    def last_activity_at(self, info: strawberry.Info) -> Any:
        return self._summary(info, lambda s: s.last_activity_at if s else None)

    @strawberry.field(graphql_type=int)
    def open_task_count(self, info: strawberry.Info) -> Any:
        return self._summary(info, lambda s: s.open_task_count if s else 0)

    @strawberry.field(
        graphql_type=Annotated["Appointment", strawberry.lazy("app.graphql.types.activities")]
        | None,
        description="The first appointment that has not started yet.",
    )
    def next_appointment(self, info: strawberry.Info) -> Any:
        from app.graphql.types.activities import activity_of

        loaders = loaders_for(self.loaders, info)

        def present(summary: Any) -> Any:
            if summary is None or summary.next_appointment_id is None:
                return None
            return now_or_later(
                loaders.activity_row_by_id.load(summary.next_appointment_id), activity_of
            )

        return self._summary(info, present)

    @strawberry.field(description="Activities and changes merged, newest first.")
    async def timeline(
        self,
        info: strawberry.Info,
        first: int | None = 20,
        after: str | None = None,
        kinds: list[Annotated[TimelineKind, strawberry.lazy("app.graphql.types.activities")]]
        | None = None,
    ) -> Connection[Annotated[TimelineEntry, strawberry.lazy("app.graphql.types.activities")]]:
        from app.graphql.reads import timeline_connection

        return await timeline_connection(
            info, self.row.id, [k.value for k in kinds or []], first, after
        )

    @strawberry.field(description="Orders made from this opportunity, oldest first.")
    async def orders(
        self, info: strawberry.Info
    ) -> list[Annotated[Order, strawberry.lazy("app.graphql.types.orders")]]:
        from app.graphql.types.orders import Order

        rows = await loaders_for(self.loaders, info).orders_by_opportunity.load(self.row.id)
        return [Order.of(r) for r in rows]

    @strawberry.field(description="Every change, field by field, newest first.")
    async def history(
        self, info: strawberry.Info, first: int | None = 20, after: str | None = None
    ) -> Connection[OpportunityEvent]:
        from app.graphql.reads import history_connection

        return await history_connection(info, self.row.id, first, after)


OpportunityEventKind = strawberry.enum(EventKind, name="OpportunityEventKind")


@strawberry.enum
class ViewChange(Enum):
    ENTERED = "ENTERED"
    LEFT = "LEFT"
    STAYED = "STAYED"


@strawberry.type(
    name="FieldChange", description="One changed field, with its values before and after."
)
class FieldChangeType:
    field: str
    old: JSON | None
    new: JSON | None


# Domain attribute -> (API field, node type of the referenced ID or None).
_FIELD_NAMES: dict[str, tuple[str, str | None]] = {
    "folder_id": ("folder", "Folder"),
    "stage_id": ("stage", "Stage"),
    "owner_id": ("owner", "User"),
    "awarded_company_id": ("awardedTo", "Company"),
    "lost_reason_ids": ("lostReasons", "LostReason"),
    "assignee_id": ("assignee", "User"),
    "company_ids": ("companies", "Company"),
    "contact_ids": ("contacts", "Contact"),
}
_TARGET_TYPES = {"COMPANY": "Company", "CONTACT": "Contact", "USER": "User", "TEAM": "Team"}


def _api_value(node_type: str | None, value: Any) -> Any:
    if value is None or node_type is None:
        return value
    if isinstance(value, list):
        return [encode_id(node_type, v) for v in value]
    return encode_id(node_type, value)


def _participant_value(value: Any) -> Any:
    if value is None:
        return None
    return {
        "id": encode_id("Participant", value["id"]),
        "kind": value["kind"],
        "targetId": encode_id(_TARGET_TYPES[value["kind"]], value["target_id"]),
        "role": value["role"],
        "isPrimary": value["is_primary"],
    }


def _attendee_ids(value: Any) -> Any:
    if value is None:
        return None
    return [encode_id(_TARGET_TYPES[kind], pk) for kind, pk in value]


def _activity_value(value: Any) -> Any:
    if value is None:
        return None
    return {**value, "id": encode_id("Activity", value["id"])}


def _changes(event: ChangeEvent) -> list[FieldChangeType]:
    if event.order_id is not None:
        from app.graphql.types.orders import order_change

        return [order_change(c) for c in event.changes]
    return [api_change(c) for c in event.changes]


def api_change(change: FieldChange) -> FieldChangeType:
    if change.field == "activity":
        return FieldChangeType(
            field="activity", old=_activity_value(change.old), new=_activity_value(change.new)
        )
    if change.field == "attendees":
        return FieldChangeType(
            field="attendees", old=_attendee_ids(change.old), new=_attendee_ids(change.new)
        )
    if change.field == "participants":
        return FieldChangeType(
            field="participants",
            old=_participant_value(change.old),
            new=_participant_value(change.new),
        )
    name, node_type = _FIELD_NAMES.get(change.field, (api_name(change.field), None))
    return FieldChangeType(
        field=name, old=_api_value(node_type, change.old), new=_api_value(node_type, change.new)
    )


@strawberry.type(description="A committed change to an opportunity: history entry and live event.")
class OpportunityEvent:
    cursor: str = strawberry.field(
        description="Opaque; pass the last one you received as `since` to resume."
    )
    kind: EventKind
    opportunity_id: strawberry.ID
    version: int
    changes: list[FieldChangeType]
    occurred_at: datetime
    view_change: ViewChange | None = strawberry.field(
        description="For a subscription to a view or filter: whether this change brought the "
        "opportunity into it, took it out, or kept it in."
    )
    event: strawberry.Private[ChangeEvent]
    loaders: strawberry.Private[Loaders | None]
    # A live event is one object shared by all its subscribers in the process; it keeps their
    # GraphQL results by query (app/graphql/execution.py).
    results: strawberry.Private[dict[tuple[int, str], tuple[object, Any]]] = dataclasses.field(
        default_factory=dict
    )

    @classmethod
    def of(
        cls,
        event: ChangeEvent,
        loaders: Loaders | None = None,
        view_change: ViewChange | None = None,
    ) -> OpportunityEvent:
        # Only events on an opportunity's stream get here (an order's without one do not).
        assert event.opportunity_id is not None
        return cls(
            cursor=str(event.seq),
            kind=event.kind,
            opportunity_id=strawberry.ID(encode_id("Opportunity", event.opportunity_id)),
            version=event.version,
            changes=_changes(event),
            occurred_at=event.occurred_at,
            view_change=view_change,
            event=event,
            loaders=loaders,
        )

    @strawberry.field(
        description="The order an ORDER_* event is about (as the change left it), else null."
    )
    def order(self) -> Annotated[Order, strawberry.lazy("app.graphql.types.orders")] | None:
        from app.graphql.types.orders import Order as OrderType

        if self.event.order_snapshot is None:
            return None
        return OrderType.of(OrderRow.from_json(self.event.order_snapshot), self.loaders)

    @strawberry.field(description="The opportunity as this change left it.")
    def opportunity(self) -> Opportunity:
        return Opportunity.of(OpportunityRow.from_json(self.event.snapshot), self.loaders)

    @strawberry.field
    async def actor(self, info: strawberry.Info) -> User | None:
        if self.event.actor_id is None:
            return None
        row = await loaders_for(self.loaders, info).user_by_id.load(self.event.actor_id)
        return User.of(row) if row is not None else None
