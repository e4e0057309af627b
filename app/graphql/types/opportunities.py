"""Opportunities, their participants, and their change events (history and live)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from app.crm.activities import queries as activities
from app.crm.activities import timeline
from app.crm.companies import queries as companies
from app.crm.contacts import queries as contacts
from app.crm.folders import queries as folders
from app.crm.following import queries as follows
from app.crm.opportunities import queries as opportunities
from app.crm.opportunities.models import TARGET_COLUMNS
from app.crm.opportunities.rows import OpportunityRow
from app.crm.orders import queries as orders
from app.crm.orders.rows import OrderRow
from app.crm.stages import queries as stages
from app.crm.users import queries as users
from app.crm.validation import api_name
from app.events.envelope import INTERNAL_KINDS, ChangeEvent, EventKind, FieldChange
from app.graphql.batch import (
    Fetch,
    Related,
    batched,
    reader,
    related,
    related_lists,
)
from app.graphql.ids import encode_id
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
from app.graphql.types.presence import PresenceEntry, entries_on
from app.graphql.types.rows import (
    Column,
    Computed,
    Embedded,
    EnumColumn,
    RowBacked,
    check_row_fields,
    columns,
    node_id,
)

if TYPE_CHECKING:
    from app.graphql.types.activities import (
        Activity,
        Appointment,
        Mention,
        TimelineEntry,
        TimelineKind,
    )
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


@strawberry.type(description="A company, contact, user or team linked to an opportunity.")
class Participant(Node, RowBacked):
    id: strawberry.ID
    kind: ParticipantKind
    role: ParticipantRole
    is_primary: bool
    created_at: datetime
    row: strawberry.Private[Any]

    @batched(graphql_type=ParticipantTarget)
    async def target(
        parents: list[Participant], info: strawberry.Info
    ) -> list[Company | Contact | User | Team | None]:
        targets: list[Company | Contact | User | Team | None] = [None] * len(parents)
        by_kind: dict[str, list[int]] = {}
        for i, parent in enumerate(parents):
            by_kind.setdefault(parent.row.kind, []).append(i)
        for kind, column, fetch, present in _TARGETS:
            chosen = by_kind.get(kind)
            if chosen:
                keys = [getattr(parents[i].row, column) for i in chosen]
                found = await related(info, fetch, keys, present)
                for i, target in zip(chosen, found, strict=True):
                    targets[i] = target
        return targets


Participant.ROW_FIELDS = {
    "id": node_id("Participant"),
    "kind": EnumColumn("kind", ParticipantKind),
    "role": EnumColumn("role", ParticipantRole),
    **columns("is_primary", "created_at"),
}
Participant.ROW_USES = {"target": ("kind", *TARGET_COLUMNS.values())}
check_row_fields(Participant)

_TARGETS: tuple[tuple[str, str, Fetch, Callable[[Any], Any]], ...] = (
    ("COMPANY", TARGET_COLUMNS["COMPANY"], companies.by_id, Company.of),
    ("CONTACT", TARGET_COLUMNS["CONTACT"], contacts.by_id, Contact.of),
    ("USER", TARGET_COLUMNS["USER"], users.users_by_id, User.of),
    ("TEAM", TARGET_COLUMNS["TEAM"], users.teams_by_id, Team.of),
)


# A deal's references to other rows (its batched resolvers and the compiled tier follow them).
_STAGE = Related("stage_id", stages.stages_by_id, Stage.of)
_FOLDER = Related("folder_id", folders.folders_by_id, Folder.of)
_OWNER = Related("owner_id", users.users_by_id, User.of)
_CREATED_BY = Related("created_by_id", users.users_by_id, User.of)
_AWARDED_TO = Related("awarded_company_id", companies.by_id, Company.of)


@strawberry.type(description="A potential sale.")
class Opportunity(Node, RowBacked):
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

    # Related objects: one call for all the opportunities of a level (app/graphql/batch.py).

    @batched()
    async def stage(parents: list[Opportunity], info: strawberry.Info) -> list[Stage]:
        return await _STAGE.of(info, parents)

    @batched()
    async def folder(parents: list[Opportunity], info: strawberry.Info) -> list[Folder | None]:
        return await _FOLDER.of(info, parents)

    @batched()
    async def owner(parents: list[Opportunity], info: strawberry.Info) -> list[User]:
        return await _OWNER.of(info, parents)

    @batched()
    async def created_by(parents: list[Opportunity], info: strawberry.Info) -> list[User]:
        return await _CREATED_BY.of(info, parents)

    @batched(description="When lost: the company that won the business.")
    async def awarded_to(parents: list[Opportunity], info: strawberry.Info) -> list[Company | None]:
        return await _AWARDED_TO.of(info, parents)

    @batched()
    async def lost_reasons(
        parents: list[Opportunity], info: strawberry.Info
    ) -> list[list[LostReason]]:
        ids = await reader(info).fetch(
            opportunities.lost_reason_ids_by_opportunity, [o.row.id for o in parents], []
        )
        return await related_lists(
            info, opportunities.lost_reasons_by_id, [ids[o.row.id] for o in parents], LostReason.of
        )

    @batched()
    async def participants(
        parents: list[Opportunity], info: strawberry.Info, kind: ParticipantKind | None = None
    ) -> list[list[Participant]]:
        rows = await _participant_rows(info, parents)
        return [
            [Participant.of(r) for r in rows if kind is None or r.kind == kind.value]
            for rows in rows
        ]

    @batched(description="The linked companies (each once, whatever its roles).")
    async def companies(parents: list[Opportunity], info: strawberry.Info) -> list[list[Company]]:
        ids = _linked(await _participant_rows(info, parents), "COMPANY")
        return await related_lists(info, companies.by_id, ids, Company.of)

    @batched(description="The linked contacts (each once, whatever their roles).")
    async def contacts(parents: list[Opportunity], info: strawberry.Info) -> list[list[Contact]]:
        ids = _linked(await _participant_rows(info, parents), "CONTACT")
        return await related_lists(info, contacts.by_id, ids, Contact.of)

    @batched()
    async def primary_contact(
        parents: list[Opportunity], info: strawberry.Info
    ) -> list[Contact | None]:
        ids = [
            next((r.contact_id for r in rows if r.is_primary), None)
            for rows in await _participant_rows(info, parents)
        ]
        return await related(info, contacts.by_id, ids, Contact.of)

    @batched()
    async def last_activity_at(
        parents: list[Opportunity], info: strawberry.Info
    ) -> list[datetime | None]:
        return [s.last_activity_at if s else None for s in await _summaries(info, parents)]

    @batched()
    async def open_task_count(parents: list[Opportunity], info: strawberry.Info) -> list[int]:
        return [s.open_task_count if s else 0 for s in await _summaries(info, parents)]

    @batched(
        graphql_type=Annotated["Appointment", strawberry.lazy("app.graphql.types.activities")]
        | None,
        description="The first appointment that has not started yet.",
    )
    async def next_appointment(
        parents: list[Opportunity], info: strawberry.Info
    ) -> list[Activity | None]:
        from app.graphql.types.activities import activity_of

        ids = [s.next_appointment_id if s else None for s in await _summaries(info, parents)]
        return await related(info, timeline.rows_by_id, ids, activity_of)

    @batched(
        description="Whether you follow it: its owner and linked users do unless they chose "
        "not to (unfollowOpportunity); anyone who may see it can (followOpportunity)."
    )
    async def following(parents: list[Opportunity], info: strawberry.Info) -> list[bool]:
        found = await reader(info).visible(follows.following_of, [o.row.id for o in parents])
        return [bool(found[o.row.id]) for o in parents]

    @strawberry.field(description="Who views or edits it now (the presence subscription).")
    def presence(self, info: strawberry.Info) -> list[PresenceEntry]:
        return entries_on(info, self.row.id)

    @strawberry.field(description="Activities and changes merged, newest first.")
    async def timeline(
        self,
        info: strawberry.Info,
        first: int | None = 20,
        after: str | None = None,
        kinds: list[Annotated[TimelineKind, strawberry.lazy("app.graphql.types.activities")]]
        | None = None,
    ) -> Connection[Annotated[TimelineEntry, strawberry.lazy("app.graphql.types.activities")]]:
        from app.graphql.queries.connections import timeline_connection

        return await timeline_connection(info, self.row.id, kinds, first, after)

    @batched(description="Orders made from this opportunity, oldest first.")
    async def orders(
        parents: list[Opportunity], info: strawberry.Info
    ) -> list[list[Annotated[Order, strawberry.lazy("app.graphql.types.orders")]]]:
        from app.graphql.types.orders import Order

        found = await reader(info).fetch(orders.by_opportunity, [o.row.id for o in parents], [])
        return [[Order.of(r) for r in found[o.row.id]] for o in parents]

    @strawberry.field(description="Every change, field by field, newest first.")
    async def history(
        self, info: strawberry.Info, first: int | None = 20, after: str | None = None
    ) -> Connection[OpportunityEvent]:
        from app.graphql.queries.connections import history_connection

        return await history_connection(info, self.row.id, first, after)

    @strawberry.field(
        description="Who may be @mentioned in this deal's activities (for autocompletion): "
        "active users and teams who can all see it, whose handle or a word of whose name "
        "starts with `search`; users first, each by handle."
    )
    async def mentionable(
        self, info: strawberry.Info, search: str | None = None, first: int = 10
    ) -> list[Annotated[Mention, strawberry.lazy("app.graphql.types.activities")]]:
        from app.graphql.types.activities import mentionable_on

        return await mentionable_on(info, self.row.id, search, first)


async def _participant_rows(info: strawberry.Info, parents: list[Opportunity]) -> list[list[Any]]:
    ids = [o.row.id for o in parents]
    found = await reader(info).fetch(opportunities.participants_by_opportunity, ids, [])
    return [found[i] for i in ids]


def _linked(rows_per_opportunity: list[list[Any]], kind: str) -> list[list[int]]:
    """The distinct companies or contacts linked to each opportunity, whatever their roles."""
    column = TARGET_COLUMNS[kind]
    return [
        list(dict.fromkeys(getattr(r, column) for r in rows if r.kind == kind))
        for rows in rows_per_opportunity
    ]


async def _summaries(info: strawberry.Info, parents: list[Opportunity]) -> list[Any]:
    ids = [o.row.id for o in parents]
    found = await reader(info).fetch(activities.summaries, ids)
    return [found[i] for i in ids]


# The kinds clients see: not the internal ones (INBOX, which only notificationEvents reads).
_PublicKind = Enum(  # type: ignore[misc]
    "OpportunityEventKind",
    [(k.name, k.value) for k in EventKind if k not in INTERNAL_KINDS],
    type=str,
)
OpportunityEventKind = strawberry.enum(_PublicKind, name="OpportunityEventKind")
PUBLIC_KIND = {k: OpportunityEventKind[k.name] for k in EventKind if k not in INTERNAL_KINDS}
"""An event's kind as the API names it."""


def event_kind(public: Any) -> EventKind:
    """The event kind an OpportunityEventKind names."""
    return EventKind(public.value)


_CURRENCY = Column("currency")

Opportunity.ROW_FIELDS = {
    "id": node_id("Opportunity"),
    "status": EnumColumn("status", OpportunityStatus),
    "expected_value": Embedded(Money, {"amount": Column("amount"), "currency": _CURRENCY}),
    "weighted_value": Embedded(
        Money,
        {
            "amount": Column("weighted_amount", ("amount", "probability", "currency")),
            "currency": _CURRENCY,
        },
    ),
    "forecast_category": EnumColumn("forecast_category", ForecastCategory),
    "visibility": EnumColumn("visibility", Visibility),
    "actual_value": Embedded(
        Money,
        {"amount": Column("actual_amount"), "currency": _CURRENCY},
        when=Computed(lambda r: r.actual_amount is not None, "actual_amount"),
    ),
    "is_deleted": Computed(lambda r: r.deleted_at is not None, "deleted_at"),
    **columns(
        "number",
        "name",
        "description",
        "probability",
        "estimated_close_date",
        "next_step",
        "lead_source",
        "actual_close_date",
        "lost_note",
        "version",
        "created_at",
        "updated_at",
    ),
}
_BY_ID_ONLY = ("id",)
Opportunity.ROW_USES = {
    "stage": ("stage_id", opportunities.STAGE),
    "owner": ("owner_id", opportunities.OWNER),
    "folder": ("folder_id",),
    "created_by": ("created_by_id",),
    "awarded_to": ("awarded_company_id",),
    **dict.fromkeys(
        (
            "lost_reasons",
            "participants",
            "companies",
            "contacts",
            "primary_contact",
            "last_activity_at",
            "open_task_count",
            "next_appointment",
            "timeline",
            "presence",
            "following",
            "orders",
            "history",
            "mentionable",
        ),
        _BY_ID_ONLY,
    ),
}
Opportunity.RELATED = {
    "stage": _STAGE,
    "folder": _FOLDER,
    "owner": _OWNER,
    "created_by": _CREATED_BY,
    "awarded_to": _AWARDED_TO,
}
check_row_fields(Opportunity)


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
    kind: OpportunityEventKind  # type: ignore[valid-type]
    opportunity_id: strawberry.ID
    version: int
    changes: list[FieldChangeType]
    occurred_at: datetime
    view_change: ViewChange | None = strawberry.field(
        description="For a subscription to a view or filter: whether this change brought the "
        "opportunity into it, took it out, or kept it in."
    )
    event: strawberry.Private[ChangeEvent]

    @classmethod
    def of(cls, event: ChangeEvent, view_change: ViewChange | None = None) -> OpportunityEvent:
        # Only events on an opportunity's stream get here (an order's without one do not).
        assert event.opportunity_id is not None
        return cls(
            cursor=str(event.seq),
            kind=PUBLIC_KIND[event.kind],
            opportunity_id=strawberry.ID(encode_id("Opportunity", event.opportunity_id)),
            version=event.version,
            changes=_changes(event),
            occurred_at=event.occurred_at,
            view_change=view_change,
            event=event,
        )

    @strawberry.field(
        description="The order an ORDER_* event is about (as the change left it), else null."
    )
    def order(self) -> Annotated[Order, strawberry.lazy("app.graphql.types.orders")] | None:
        from app.graphql.types.orders import Order as OrderType

        if self.event.order_snapshot is None:
            return None
        return OrderType.of(OrderRow.from_json(self.event.order_snapshot))

    @strawberry.field(description="The opportunity as this change left it.")
    def opportunity(self) -> Opportunity:
        return Opportunity.of(OpportunityRow.from_json(self.event.snapshot))

    @batched()
    async def actor(parents: list[OpportunityEvent], info: strawberry.Info) -> list[User | None]:
        return await related(info, users.users_by_id, [e.event.actor_id for e in parents], User.of)
