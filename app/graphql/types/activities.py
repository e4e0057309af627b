"""Activities: journals, tasks, appointments, documents and e-mails, and the timeline."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import strawberry

from app.crm.activities import mentions as mention_links
from app.crm.activities import queries as activities
from app.crm.companies import queries as companies
from app.crm.contacts import queries as contacts
from app.crm.errors import DomainError
from app.crm.opportunities.audience import audiences_by_id
from app.crm.users import queries as users
from app.graphql.batch import Related, batched, reader, related_lists
from app.graphql.errors import bad_input
from app.graphql.ids import encode_id
from app.graphql.types.common import Node
from app.graphql.types.parties import Company, Contact
from app.graphql.types.people import Team, User
from app.graphql.types.rows import (
    Column,
    Computed,
    EnumColumn,
    RowBacked,
    check_row_fields,
    columns,
    node_id,
)

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
        return await _CREATED_BY.of(info, parents)

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


@strawberry.type(description="A user or team that an activity's text mentions (`@handle`).")
class Mention:
    user: User | None = strawberry.field(description="The user mentioned, or null for a team.")
    team: Team | None = strawberry.field(description="The team mentioned, or null for a user.")
    handle: str = strawberry.field(
        description="As written in the text, lowercase, without the @ (a later change of the "
        "user's or team's handle leaves it as it was written)."
    )


@strawberry.type(
    description="A piece of an activity's text: plain (no user, no team), or a mention, "
    "whose text is the `@handle` as written. The pieces, in order, make the whole text."
)
class TextSpan:
    text: str
    user: User | None
    team: Team | None


async def _spans(parents: list[Any], info: strawberry.Info) -> list[list[TextSpan]]:
    """Each activity's text cut into spans: its mentions read for all of them at once, and
    the users and teams they name."""
    known = reader(info)
    ids = [a.row.id for a in parents]
    links = await known.fetch(mention_links.mentions_by_activity, ids, [])
    pieces = [mention_links.spans(a.row.body, links[a.row.id]) for a in parents]
    every = [p for spans in pieces for p in spans]
    user_of = known.objects(
        await known.fetch(users.users_by_id, [p.user_id for p in every if p.user_id is not None]),
        User.of,
    )
    team_of = known.objects(
        await known.fetch(users.teams_by_id, [p.team_id for p in every if p.team_id is not None]),
        Team.of,
    )
    return [
        [
            TextSpan(
                text=p.text,
                user=user_of(p.user_id) if p.user_id is not None else None,
                team=team_of(p.team_id) if p.team_id is not None else None,
            )
            for p in spans
        ]
        for spans in pieces
    ]


async def _body_spans(parents: list[Any], info: strawberry.Info) -> list[list[TextSpan]]:
    return await _spans(parents, info)


async def _mentions(parents: list[Any], info: strawberry.Info) -> list[list[Mention]]:
    made: list[list[Mention]] = []
    for spans in await _spans(parents, info):
        found: dict[tuple[Any, Any], Mention] = {}
        for span in spans:
            if span.user is None and span.team is None:
                continue
            key = (span.user and span.user.row.id, span.team and span.team.row.id)
            found.setdefault(
                key, Mention(user=span.user, team=span.team, handle=span.text[1:].lower())
            )
        made.append(list(found.values()))
    return made


async def mentionable_on(
    info: strawberry.Info, opportunity_id: int, search: str | None, first: int
) -> list[Mention]:
    """Opportunity.mentionable: who may be mentioned on the deal, for autocompletion."""
    try:
        async with info.context.read() as session:
            audience = (await audiences_by_id(session, [opportunity_id]))[opportunity_id]
            targets = await mention_links.mentionable(session, audience, search, first)
    except DomainError as error:
        raise bad_input(error) from None
    known = reader(info)
    user_of = known.objects(
        await known.fetch(users.users_by_id, [t.user_id for t in targets if t.user_id]),
        User.of,
    )
    team_of = known.objects(
        await known.fetch(users.teams_by_id, [t.team_id for t in targets if t.team_id]),
        Team.of,
    )
    return [
        Mention(
            user=user_of(t.user_id) if t.user_id is not None else None,
            team=team_of(t.team_id) if t.team_id is not None else None,
            handle=t.handle,
        )
        for t in targets
    ]


_MENTIONS_DESCRIPTION = (
    "The users and teams its {text} mentions, each once, in the order they first appear."
)
_SPANS_DESCRIPTION = (
    "Its {text} cut into plain text and mentions, in order (empty when it has none): "
    "render these to show mentions as links."
)


def _mention_fields(text: str) -> tuple[Any, Any]:
    return (
        batched(description=_MENTIONS_DESCRIPTION.format(text=text))(_mentions),
        batched(description=_SPANS_DESCRIPTION.format(text=text))(_body_spans),
    )


# Activities' references to users (their batched resolvers and the compiled tier follow them).
_CREATED_BY = Related("created_by_id", users.users_by_id, User.of)
_ASSIGNEE = Related("assignee_id", users.users_by_id, User.of)
_COMPLETED_BY = Related("completed_by_id", users.users_by_id, User.of)


_COMMON: dict[str, Callable[[Any], Any]] = {
    "id": node_id("Activity"),
    "kind": EnumColumn("kind", ActivityKind),
    **columns("occurred_at", "version", "created_at", "updated_at"),
}
_COMMON_USES: dict[str, tuple[str, ...]] = {
    "opportunity_id": ("opportunity_id",),
    "created_by": ("created_by_id",),
    "companies": ("id",),
    "contacts": ("id",),
}


@strawberry.type(description="A note in the opportunity's journal.")
class Journal(Activity, RowBacked):
    title: str = strawberry.field(description="Given, or else the body's first line.")
    body: str
    body_format: BodyFormat
    mentions, body_spans = _mention_fields("body")


@strawberry.type(description="Something to do, for someone, by some time.")
class Task(Activity, RowBacked):
    title: str
    description: str | None
    due_at: datetime | None
    priority: TaskPriority
    status: TaskStatus
    completed_at: datetime | None
    mentions, body_spans = _mention_fields("description")

    @batched()
    async def assignee(parents: list[Task], info: strawberry.Info) -> list[User]:
        return await _ASSIGNEE.of(info, parents)

    @batched()
    async def completed_by(parents: list[Task], info: strawberry.Info) -> list[User | None]:
        return await _COMPLETED_BY.of(info, parents)

    @strawberry.field(description="Open and past its due time.")
    def is_overdue(self) -> bool:
        due: datetime | None = self.row.due_at
        return self.status is TaskStatus.OPEN and due is not None and due < datetime.now(due.tzinfo)


AttendeeTarget = Annotated[User | Contact, strawberry.union("Attendee")]


@strawberry.type(description="A meeting or call at a set time.")
class Appointment(Activity, RowBacked):
    subject: str
    starts_at: datetime
    ends_at: datetime
    location: str | None
    notes: str | None
    mentions, body_spans = _mention_fields("notes")

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
class Email(Activity, RowBacked):
    direction: EmailDirection
    from_address: str = strawberry.field(name="from")
    to: list[str]
    cc: list[str]
    subject: str = strawberry.field(description='"" when the e-mail has none.')
    body: str | None
    sent_at: datetime
    message_id: str | None


@strawberry.type(description="A file attached to the opportunity.")
class Document(Activity, RowBacked):
    name: str
    content_type: str
    size: int = strawberry.field(description="In bytes.")
    sha256: str
    download_url: str = strawberry.field(
        description="GET it with the same Authorization header as the API."
    )


Journal.ROW_FIELDS = {
    **_COMMON,
    "title": Column("title"),
    "body": Column("body"),
    "body_format": EnumColumn("body_format", BodyFormat),
}
_MENTION_USES = {"mentions": ("id", "body"), "body_spans": ("id", "body")}
Journal.ROW_USES = {**_COMMON_USES, **_MENTION_USES}
Task.ROW_FIELDS = {
    **_COMMON,
    "title": Column("title"),
    "description": Column("body"),
    "due_at": Column("due_at"),
    "priority": EnumColumn("priority", TaskPriority),
    "status": EnumColumn("status", TaskStatus),
    "completed_at": Column("completed_at"),
}
Task.ROW_USES = {
    **_COMMON_USES,
    "assignee": ("assignee_id",),
    "completed_by": ("completed_by_id",),
    "is_overdue": ("status", "due_at"),
    **_MENTION_USES,
}
Appointment.ROW_FIELDS = {
    **_COMMON,
    "subject": Column("title"),
    "starts_at": Column("starts_at"),
    "ends_at": Column("ends_at"),
    "location": Column("location"),
    "notes": Column("body"),
}
Appointment.ROW_USES = {**_COMMON_USES, "attendees": ("id",), **_MENTION_USES}
Email.ROW_FIELDS = {
    **_COMMON,
    "direction": EnumColumn("direction", EmailDirection),
    "from_address": Column("from_address"),
    "to": Computed(lambda r: list(r.to_addresses or []), "to_addresses"),
    "cc": Computed(lambda r: list(r.cc_addresses or []), "cc_addresses"),
    "subject": Computed(lambda r: r.title or "", "title"),
    "body": Column("body"),
    "sent_at": Column("occurred_at"),
    "message_id": Column("message_id"),
}
Email.ROW_USES = _COMMON_USES
Document.ROW_FIELDS = {
    **_COMMON,
    "name": Column("title"),
    "content_type": Column("content_type"),
    "size": Column("size_bytes"),
    "sha256": Column("sha256"),
    "download_url": Computed(lambda r: f"/documents/{r.id}", "id"),
}
Document.ROW_USES = _COMMON_USES
_BY_KIND: dict[str, type[Activity]] = {
    "JOURNAL": Journal,
    "TASK": Task,
    "APPOINTMENT": Appointment,
    "EMAIL": Email,
    "DOCUMENT": Document,
}
Journal.RELATED = Appointment.RELATED = Email.RELATED = Document.RELATED = {
    "created_by": _CREATED_BY
}
Task.RELATED = {"created_by": _CREATED_BY, "assignee": _ASSIGNEE, "completed_by": _COMPLETED_BY}
for _kind in _BY_KIND.values():
    check_row_fields(_kind)


def activity_of(row: Any) -> Activity:
    """The activity of its kind's type: its row, each field made from it when read."""
    made: Activity = _BY_KIND[row.kind].of(row)  # type: ignore[attr-defined]
    return made


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
    RELATED: ClassVar[Mapping[str, Related]]

    @batched()
    async def actor(parents: list[TimelineEntry], info: strawberry.Info) -> list[User | None]:
        return await _ACTOR.of(info, parents)


def _actor_id(entry: TimelineEntry) -> int | None:
    if entry.activity is not None:
        created_by: int = entry.activity.row.created_by_id
        return created_by
    return entry.change.event.actor_id if entry.change is not None else None


_ACTOR = Related(_actor_id, users.users_by_id, User.of)
TimelineEntry.RELATED = {"actor": _ACTOR}
