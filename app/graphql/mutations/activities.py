"""Mutations on activities: add each kind, change, complete a task, delete."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import strawberry
from starlette.datastructures import UploadFile
from strawberry import UNSET
from strawberry.file_uploads import Upload

from app.crm.activities import documents, services
from app.crm.activities.models import Activity as ActivityModel
from app.crm.errors import DomainError, ErrorCode
from app.crm.unit import Unit
from app.graphql.errors import UserError
from app.graphql.ids import decode_any, decode_id
from app.graphql.inputs import given, id_of
from app.graphql.mutations.base import presented
from app.graphql.types.activities import (
    Activity,
    BodyFormat,
    EmailDirection,
    TaskPriority,
    TaskStatus,
    activity_of,
)


@strawberry.type
class ActivityPayload:
    activity: Activity | None
    user_errors: list[UserError]


@strawberry.type
class LogEmailPayload:
    activity: Activity | None
    created: bool = strawberry.field(
        description="false when an e-mail with this messageId was already logged"
    )
    user_errors: list[UserError]


def _ids(values: list[strawberry.ID] | None, node_type: str, field: str) -> list[int]:
    return [decode_id(v, node_type, field) for v in values or []]


@strawberry.input
class ActivityLinks:
    company_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Also file it under these companies."
    )
    contact_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Also file it under these contacts."
    )


@strawberry.input
class AddJournalInput:
    opportunity_id: strawberry.ID
    body: str
    title: str | None = strawberry.field(
        default=None, description="Defaults to the body's first line."
    )
    body_format: BodyFormat = BodyFormat.PLAIN
    occurred_at: datetime | None = strawberry.field(default=None, description="Defaults to now.")
    links: ActivityLinks | None = None


@strawberry.input
class AddTaskInput:
    opportunity_id: strawberry.ID
    title: str
    description: str | None = None
    assignee_id: strawberry.ID | None = strawberry.field(
        default=None, description="Defaults to you."
    )
    due_at: datetime | None = None
    priority: TaskPriority = TaskPriority.NORMAL
    links: ActivityLinks | None = None


@strawberry.input
class AddAppointmentInput:
    opportunity_id: strawberry.ID
    subject: str
    starts_at: datetime
    ends_at: datetime
    location: str | None = None
    notes: str | None = None
    attendee_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Users and contacts."
    )
    links: ActivityLinks | None = None


@strawberry.input
class LogEmailInput:
    opportunity_id: strawberry.ID
    direction: EmailDirection
    from_address: str = strawberry.field(name="from")
    to: list[str]
    sent_at: datetime
    cc: list[str] | None = None
    subject: str | None = None
    body: str | None = None
    message_id: str | None = strawberry.field(
        default=None, description="The same e-mail logged twice with it is stored once."
    )
    links: ActivityLinks | None = None


@strawberry.input
class UploadDocumentInput:
    opportunity_id: strawberry.ID
    file: Upload = strawberry.field(description="Sent as in the GraphQL multipart request spec.")
    name: str | None = strawberry.field(default=None, description="Defaults to the file's name.")
    links: ActivityLinks | None = None


@strawberry.input(description="Only the fields of the activity's kind may be given.")
class UpdateActivityInput:
    id: strawberry.ID
    expected_version: int
    title: str | None = UNSET
    body: str | None = UNSET
    body_format: BodyFormat | None = UNSET
    occurred_at: datetime | None = UNSET
    description: str | None = UNSET
    due_at: datetime | None = UNSET
    priority: TaskPriority | None = UNSET
    subject: str | None = UNSET
    location: str | None = UNSET
    notes: str | None = UNSET
    starts_at: datetime | None = UNSET
    ends_at: datetime | None = UNSET
    name: str | None = UNSET
    assignee_id: strawberry.ID | None = strawberry.field(
        default=UNSET, description="Reassign a task (to someone who can see its opportunity)."
    )
    attendee_ids: list[strawberry.ID] | None = strawberry.field(
        default=UNSET, description="An appointment's attendees (users, contacts): the new set."
    )
    links: ActivityLinks | None = strawberry.field(
        default=UNSET,
        description="The new companies and contacts it is filed under; a list left out stays.",
    )


def _plain(value: Any) -> Any:
    return getattr(value, "value", value)


_UPDATE_SPEC: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "assignee_id": ("assignee_id", id_of("User", "assigneeId")),
} | {
    name: (name, _plain)
    for name in (
        "title",
        "body",
        "body_format",
        "occurred_at",
        "description",
        "due_at",
        "priority",
        "subject",
        "location",
        "notes",
        "starts_at",
        "ends_at",
        "name",
    )
}


@strawberry.input
class SetTaskStatusInput:
    id: strawberry.ID
    status: TaskStatus
    expected_version: int | None = None


@strawberry.input
class DeleteActivityInput:
    id: strawberry.ID
    expected_version: int | None = None


def _links(links: ActivityLinks | None) -> dict[str, list[int]]:
    return {
        "company_ids": _ids(links.company_ids if links else None, "Company", "companyIds"),
        "contact_ids": _ids(links.contact_ids if links else None, "Contact", "contactIds"),
    }


async def _activity(
    info: strawberry.Info, work: Callable[[Unit], Awaitable[ActivityModel]]
) -> ActivityPayload:
    activity, errors = await presented(info, work, activity_of)
    return ActivityPayload(activity=activity, user_errors=errors)


def _attendees(values: list[strawberry.ID]) -> tuple[list[int], list[int]]:
    users: list[int] = []
    contacts: list[int] = []
    for value in values:
        type_name, pk = decode_any(value, "attendeeIds")
        if type_name not in ("User", "Contact"):
            raise DomainError(
                ErrorCode.INVALID_ID,
                "attendeeIds must be IDs of users or contacts",
                ["attendeeIds"],
            )
        (users if type_name == "User" else contacts).append(pk)
    return users, contacts


def _related(input: UpdateActivityInput) -> services.Related:
    users = contacts = None
    if input.attendee_ids is not UNSET:
        users, contacts = _attendees(input.attendee_ids or [])
    links = input.links if input.links is not UNSET else None
    return services.Related(
        attendee_user_ids=users,
        attendee_contact_ids=contacts,
        company_ids=(
            _ids(links.company_ids, "Company", "companyIds")
            if links and links.company_ids is not None
            else None
        ),
        contact_ids=(
            _ids(links.contact_ids, "Contact", "contactIds")
            if links and links.contact_ids is not None
            else None
        ),
    )


def _opportunity(value: strawberry.ID) -> int:
    return decode_id(value, "Opportunity", "opportunityId")


@strawberry.type
class ActivityMutations:
    @strawberry.mutation
    async def add_journal(self, info: strawberry.Info, input: AddJournalInput) -> ActivityPayload:
        async def work(unit: Unit) -> ActivityModel:
            return await services.add_journal(
                unit,
                _opportunity(input.opportunity_id),
                title=input.title,
                body=input.body,
                body_format=input.body_format.value,
                occurred_at=input.occurred_at,
                **_links(input.links),
            )

        return await _activity(info, work)

    @strawberry.mutation
    async def add_task(self, info: strawberry.Info, input: AddTaskInput) -> ActivityPayload:
        async def work(unit: Unit) -> ActivityModel:
            return await services.add_task(
                unit,
                _opportunity(input.opportunity_id),
                title=input.title,
                description=input.description,
                assignee_id=(
                    decode_id(input.assignee_id, "User", "assigneeId")
                    if input.assignee_id
                    else None
                ),
                due_at=input.due_at,
                priority=input.priority.value,
                **_links(input.links),
            )

        return await _activity(info, work)

    @strawberry.mutation
    async def add_appointment(
        self, info: strawberry.Info, input: AddAppointmentInput
    ) -> ActivityPayload:
        async def work(unit: Unit) -> ActivityModel:
            users, contacts = _attendees(input.attendee_ids or [])
            return await services.add_appointment(
                unit,
                _opportunity(input.opportunity_id),
                subject=input.subject,
                starts_at=input.starts_at,
                ends_at=input.ends_at,
                location=input.location,
                notes=input.notes,
                attendee_user_ids=users,
                attendee_contact_ids=contacts,
                **_links(input.links),
            )

        return await _activity(info, work)

    @strawberry.mutation(
        description="Log an e-mail; one with a known messageId is not stored twice."
    )
    async def log_email(self, info: strawberry.Info, input: LogEmailInput) -> LogEmailPayload:
        async def work(unit: Unit) -> tuple[ActivityModel, bool]:
            return await services.log_email(
                unit,
                _opportunity(input.opportunity_id),
                direction=input.direction.value,
                from_address=input.from_address,
                to=input.to,
                cc=input.cc or [],
                subject=input.subject,
                body=input.body,
                sent_at=input.sent_at,
                message_id=input.message_id,
                **_links(input.links),
            )

        result, errors = await presented(info, work, lambda r: (activity_of(r[0]), r[1]))
        if result is None:
            return LogEmailPayload(activity=None, created=False, user_errors=errors)
        return LogEmailPayload(activity=result[0], created=result[1], user_errors=[])

    @strawberry.mutation(
        description="Attach a file (multipart request); larger than the server's limit "
        "(TANDEM_MAX_UPLOAD_BYTES, 25 MiB by default) is refused with TOO_LARGE."
    )
    async def upload_document(
        self, info: strawberry.Info, input: UploadDocumentInput
    ) -> ActivityPayload:
        limit = info.context.runtime.settings.max_upload_bytes
        upload = input.file
        try:
            # Nobody's file is read before they are known; the spooled temporary file is
            # ours to close either way (the form parser leaves it open).
            info.context.require_actor()
            if not isinstance(upload, UploadFile):
                # The Upload scalar takes any value inline, a string for instance.
                error = DomainError(
                    ErrorCode.INVALID,
                    "file must be a file part of a multipart request (the GraphQL multipart "
                    "request spec), not a value in the query",
                    ["file"],
                )
                return ActivityPayload(activity=None, user_errors=[UserError.of(error)])
            # Read one byte past the limit: enough to refuse, never the whole of a huge file.
            content = await upload.read(limit + 1)
        finally:
            if isinstance(upload, UploadFile):
                await upload.close()

        async def work(unit: Unit) -> ActivityModel:
            return await documents.add_document(
                unit,
                _opportunity(input.opportunity_id),
                name=input.name or upload.filename or "document",
                content_type=upload.content_type,
                content=content,
                max_bytes=limit,
                **_links(input.links),
            )

        return await _activity(info, work)

    @strawberry.mutation(description="Fails with CONFLICT on a stale version.")
    async def update_activity(
        self, info: strawberry.Info, input: UpdateActivityInput
    ) -> ActivityPayload:
        async def work(unit: Unit) -> ActivityModel:
            return await services.update_activity(
                unit,
                decode_id(input.id, "Activity"),
                input.expected_version,
                given(input, _UPDATE_SPEC),
                _related(input),
            )

        return await _activity(info, work)

    @strawberry.mutation(description="Complete, cancel or reopen a task.")
    async def set_task_status(
        self, info: strawberry.Info, input: SetTaskStatusInput
    ) -> ActivityPayload:
        async def work(unit: Unit) -> ActivityModel:
            return await services.set_task_status(
                unit, decode_id(input.id, "Activity"), input.expected_version, input.status.value
            )

        return await _activity(info, work)

    @strawberry.mutation
    async def delete_activity(
        self, info: strawberry.Info, input: DeleteActivityInput
    ) -> ActivityPayload:
        async def work(unit: Unit) -> ActivityModel:
            return await services.delete_activity(
                unit, decode_id(input.id, "Activity"), input.expected_version
            )

        return await _activity(info, work)
