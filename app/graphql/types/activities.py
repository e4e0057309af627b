"""Activities: journals, tasks, appointments, documents and e-mails, and the timeline."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from app.crm.activities import queries as activities
from app.crm.companies import queries as companies
from app.crm.contacts import queries as contacts
from app.crm.users import queries as users
from app.graphql.batch import batched, reader, related, related_lists
from app.graphql.ids import encode_id
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

    @batched()
    async def created_by(parents: list[Activity], info: strawberry.Info) -> list[User]:
        return await _users(info, [a.row.created_by_id for a in parents])

    @batched()
    async def companies(parents: list[Activity], info: strawberry.Info) -> list[list[Company]]:
        links = await reader(info).fetch(activities.links_by_activity, [a.row.id for a in parents])
        ids = [[k.company_id for k in links[a.row.id] if k.company_id is not None] for a in parents]
        return await related_lists(info, companies.by_id, ids, Company.of)

    @batched()
    async def contacts(parents: list[Activity], info: strawberry.Info) -> list[list[Contact]]:
        links = await reader(info).fetch(activities.links_by_activity, [a.row.id for a in parents])
        ids = [[k.contact_id for k in links[a.row.id] if k.contact_id is not None] for a in parents]
        return await related_lists(info, contacts.by_id, ids, Contact.of)


async def _users(info: strawberry.Info, ids: list[int | None]) -> list[Any]:
    """The users of `ids` (None where an id is None): for fields typed User or User | None."""
    found: list[Any] = await related(info, users.users_by_id, ids, User.of)
    return found


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

    @batched()
    async def assignee(parents: list[Task], info: strawberry.Info) -> list[User]:
        return await _users(info, [t.row.assignee_id for t in parents])

    @batched()
    async def completed_by(parents: list[Task], info: strawberry.Info) -> list[User | None]:
        return await _users(info, [t.row.completed_by_id for t in parents])

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

    @batched(graphql_type=list[AttendeeTarget])
    async def attendees(
        parents: list[Appointment], info: strawberry.Info
    ) -> list[list[User | Contact]]:
        known = reader(info)
        rows = await known.fetch(activities.attendees_by_activity, [a.row.id for a in parents])
        every = [r for a in parents for r in rows[a.row.id]]
        found_users = await known.fetch(
            users.users_by_id, [r.user_id for r in every if r.user_id is not None]
        )
        found_contacts = await known.fetch(
            contacts.by_id, [r.contact_id for r in every if r.contact_id is not None]
        )

        def attendee(row: Any) -> User | Contact | None:
            if row.user_id is not None:
                user = found_users[row.user_id]
                return User.of(user) if user is not None else None
            contact = found_contacts[row.contact_id]
            return Contact.of(contact) if contact is not None else None

        return [
            [found for r in rows[a.row.id] if (found := attendee(r)) is not None] for a in parents
        ]


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

    @batched()
    async def actor(parents: list[TimelineEntry], info: strawberry.Info) -> list[User | None]:
        return await _users(info, [_actor_id(e) for e in parents])


def _actor_id(entry: TimelineEntry) -> int | None:
    if entry.activity is not None:
        created_by: int = entry.activity.row.created_by_id
        return created_by
    return entry.change.event.actor_id if entry.change is not None else None
