"""Activities: journals, tasks, appointments, documents and e-mails, and the timeline."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from app.graphql.ids import encode_id
from app.graphql.loaders import all_now_or_later, now_or_later
from app.graphql.types.common import Node
from app.graphql.types.parties import Company, Contact
from app.graphql.types.people import User

if TYPE_CHECKING:
    from app.graphql.types.opportunities import OpportunityEvent


@strawberry.enum
class ActivityKind(Enum):
    JOURNAL = "JOURNAL"
    TASK = "TASK"
    APPOINTMENT = "APPOINTMENT"
    DOCUMENT = "DOCUMENT"
    EMAIL = "EMAIL"


@strawberry.enum
class BodyFormat(Enum):
    PLAIN = "PLAIN"
    MARKDOWN = "MARKDOWN"


@strawberry.enum
class TaskPriority(Enum):
    LOW = "LOW"
    NORMAL = "NORMAL"
    HIGH = "HIGH"
    URGENT = "URGENT"


@strawberry.enum
class TaskStatus(Enum):
    OPEN = "OPEN"
    DONE = "DONE"
    CANCELLED = "CANCELLED"


@strawberry.enum
class EmailDirection(Enum):
    INBOUND = "INBOUND"
    OUTBOUND = "OUTBOUND"


@strawberry.interface(description="Something that happened in an opportunity.")
class Activity(Node):
    id: strawberry.ID
    kind: ActivityKind
    occurred_at: datetime = strawberry.field(description="Its place on the timeline.")
    version: int
    created_at: datetime
    updated_at: datetime
    row: strawberry.Private[Any]

    @strawberry.field
    def opportunity_id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Opportunity", self.row.opportunity_id))

    @strawberry.field(graphql_type=User)
    def created_by(self, info: strawberry.Info) -> Any:
        return now_or_later(info.context.loaders.user_by_id.load(self.row.created_by_id), User.of)

    @strawberry.field(graphql_type=list[Company])
    def companies(self, info: strawberry.Info) -> Any:
        loaders = info.context.loaders

        def present(links: list[Any]) -> Any:
            ids = [link.company_id for link in links if link.company_id is not None]
            return all_now_or_later(
                [loaders.company_by_id.load(i) for i in ids],
                lambda rows: [Company.of(r) for r in rows if r is not None],
            )

        return now_or_later(loaders.links_by_activity.load(self.row.id), present)

    @strawberry.field(graphql_type=list[Contact])
    def contacts(self, info: strawberry.Info) -> Any:
        loaders = info.context.loaders

        def present(links: list[Any]) -> Any:
            ids = [link.contact_id for link in links if link.contact_id is not None]
            return all_now_or_later(
                [loaders.contact_by_id.load(i) for i in ids],
                lambda rows: [Contact.of(r) for r in rows if r is not None],
            )

        return now_or_later(loaders.links_by_activity.load(self.row.id), present)


def _common(row: Any) -> dict[str, Any]:
    return {
        "id": strawberry.ID(encode_id("Activity", row.id)),
        "kind": ActivityKind(row.kind),
        "occurred_at": row.occurred_at,
        "version": row.version,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "row": row,
    }


@strawberry.type(description="A note in the opportunity's journal.")
class Journal(Activity):
    title: str = strawberry.field(description="Given, or else the body's first line.")
    body: str
    body_format: BodyFormat


@strawberry.type(description="Something to do, for someone, by some time.")
class Task(Activity):
    title: str
    description: str | None
    due_at: datetime | None
    priority: TaskPriority
    status: TaskStatus
    completed_at: datetime | None

    @strawberry.field(graphql_type=User)
    def assignee(self, info: strawberry.Info) -> Any:
        return now_or_later(info.context.loaders.user_by_id.load(self.row.assignee_id), User.of)

    @strawberry.field(graphql_type=User | None)
    def completed_by(self, info: strawberry.Info) -> Any:
        if self.row.completed_by_id is None:
            return None
        return now_or_later(info.context.loaders.user_by_id.load(self.row.completed_by_id), User.of)

    @strawberry.field(description="Open and past its due time.")
    def is_overdue(self) -> bool:
        due: datetime | None = self.row.due_at
        return self.status is TaskStatus.OPEN and due is not None and due < datetime.now(due.tzinfo)


AttendeeTarget = Annotated[User | Contact, strawberry.union("Attendee")]


@strawberry.type(description="A meeting or call at a set time.")
class Appointment(Activity):
    subject: str
    starts_at: datetime
    ends_at: datetime
    location: str | None
    notes: str | None

    @strawberry.field(graphql_type=list[AttendeeTarget])
    def attendees(self, info: strawberry.Info) -> Any:
        loaders = info.context.loaders

        def present(rows: list[Any]) -> Any:
            loads = [
                loaders.user_by_id.load(r.user_id)
                if r.user_id is not None
                else loaders.contact_by_id.load(r.contact_id)
                for r in rows
            ]
            return all_now_or_later(
                loads,
                lambda found: [
                    User.of(f) if r.user_id is not None else Contact.of(f)
                    for r, f in zip(rows, found, strict=True)
                    if f is not None
                ],
            )

        return now_or_later(loaders.attendees_by_activity.load(self.row.id), present)


@strawberry.type(description="An e-mail logged on the opportunity.")
class Email(Activity):
    direction: EmailDirection
    from_address: str = strawberry.field(name="from")
    to: list[str]
    cc: list[str]
    subject: str = strawberry.field(description='"" when the e-mail has none.')
    body: str | None
    sent_at: datetime
    message_id: str | None


@strawberry.type(description="A file attached to the opportunity.")
class Document(Activity):
    name: str
    content_type: str
    size: int = strawberry.field(description="In bytes.")
    sha256: str
    download_url: str = strawberry.field(
        description="GET it with the same Authorization header as the API."
    )


def activity_of(row: Any) -> Activity:
    common = _common(row)
    kind = row.kind
    if kind == "JOURNAL":
        return Journal(
            **common, title=row.title, body=row.body, body_format=BodyFormat(row.body_format)
        )
    if kind == "TASK":
        return Task(
            **common,
            title=row.title,
            description=row.body,
            due_at=row.due_at,
            priority=TaskPriority(row.priority),
            status=TaskStatus(row.status),
            completed_at=row.completed_at,
        )
    if kind == "APPOINTMENT":
        return Appointment(
            **common,
            subject=row.title,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            location=row.location,
            notes=row.body,
        )
    if kind == "EMAIL":
        return Email(
            **common,
            direction=EmailDirection(row.direction),
            from_address=row.from_address,
            to=list(row.to_addresses or []),
            cc=list(row.cc_addresses or []),
            subject=row.title or "",
            body=row.body,
            sent_at=row.occurred_at,
            message_id=row.message_id,
        )
    return Document(
        **common,
        name=row.title,
        content_type=row.content_type,
        size=row.size_bytes,
        sha256=row.sha256,
        download_url=f"/documents/{row.id}",
    )


ACTIVITY_TYPES = (Journal, Task, Appointment, Email, Document)


@strawberry.enum
class TimelineKind(Enum):
    JOURNAL = "JOURNAL"
    TASK = "TASK"
    APPOINTMENT = "APPOINTMENT"
    DOCUMENT = "DOCUMENT"
    EMAIL = "EMAIL"
    HISTORY = "HISTORY"


@strawberry.type(description="One line of the timeline: an activity or a change of the deal.")
class TimelineEntry:
    kind: TimelineKind
    occurred_at: datetime
    activity: Activity | None
    change: (
        Annotated[OpportunityEvent, strawberry.lazy("app.graphql.types.opportunities")] | None
    ) = strawberry.field(description="For HISTORY: the change, field by field.")

    @strawberry.field(graphql_type=User | None)
    def actor(self, info: strawberry.Info) -> Any:
        if self.activity is not None:
            return now_or_later(
                info.context.loaders.user_by_id.load(self.activity.row.created_by_id), User.of
            )
        assert self.change is not None
        actor_id = self.change.event.actor_id
        if actor_id is None:
            return None
        return now_or_later(info.context.loaders.user_by_id.load(actor_id), User.of)
