"""The verbs that change activities. Each records an event on its opportunity's stream.

An activity is visible exactly when its opportunity is: every verb first finds the
opportunity through the actor's visibility, so a hidden one looks like a missing one.
Activity events do not bump the opportunity's version: adding a note must not turn a
teammate's pending edit of the opportunity into a conflict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from app.crm.activities import mentions
from app.crm.activities.models import Activity, ActivityLink, AppointmentAttendee
from app.crm.actor import live_and_visible
from app.crm.companies.models import Company
from app.crm.contacts.models import Contact
from app.crm.errors import DomainError, ErrorCode, check_version, not_found
from app.crm.jsonable import jsonable
from app.crm.opportunities.audience import audience_of
from app.crm.opportunities.models import Opportunity
from app.crm.opportunities.services import record_event, visible_opportunity
from app.crm.unit import Unit
from app.crm.users.models import User
from app.crm.users.queries import load_actor
from app.crm.validation import api_name, clean_text, required_text
from app.events.envelope import EventKind, FieldChange

BODY_FORMATS = ("PLAIN", "MARKDOWN")
PRIORITIES = ("LOW", "NORMAL", "HIGH", "URGENT")
TASK_STATUSES = ("OPEN", "DONE", "CANCELLED")
DIRECTIONS = ("INBOUND", "OUTBOUND")
MAX_RECIPIENTS = 100


def _now() -> datetime:
    return datetime.now(UTC)


def _choice(field: str, value: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise DomainError(
            ErrorCode.INVALID, f"{field} must be one of {', '.join(choices)}", [field]
        )
    return value


async def _visible_activity(
    unit: Unit, activity_id: int, expected_version: int | None
) -> tuple[Activity, Opportunity]:
    found = (
        await unit.session.execute(
            select(Activity, Opportunity)
            .join(Opportunity, Opportunity.id == Activity.opportunity_id)
            .where(
                Activity.id == activity_id,
                Activity.deleted_at.is_(None),
                live_and_visible(unit.require_actor()),
            )
            .with_for_update(of=Activity)
        )
    ).first()
    if found is None:
        raise not_found("activity", "id")
    activity, opportunity = found
    check_version("activity", activity.version, expected_version, activity.id)
    return activity, opportunity


def describe(activity: Activity) -> dict[str, Any]:
    return {
        "id": activity.id,
        "kind": activity.kind,
        "title": activity.title,
        "version": activity.version,
    }


async def _check_users(unit: Unit, ids: Sequence[int], field: str) -> list[int]:
    unique = list(dict.fromkeys(ids))
    found = (
        await unit.session.scalars(select(User.id).where(User.id.in_(unique), User.is_active))
    ).all()
    if len(found) != len(unique):
        raise not_found("user", field)
    return unique


async def _check_ids(
    unit: Unit, model: type[Any], ids: Sequence[int], what: str, field: str
) -> list[int]:
    unique = list(dict.fromkeys(ids))
    found = (await unit.session.scalars(select(model.id).where(model.id.in_(unique)))).all()
    if len(found) != len(unique):
        raise not_found(what, field)
    return unique


async def _link(
    unit: Unit, activity: Activity, company_ids: Sequence[int], contact_ids: Sequence[int]
) -> None:
    companies = await _check_ids(unit, Company, company_ids, "company", "companyIds")
    contacts = await _check_ids(unit, Contact, contact_ids, "contact", "contactIds")
    unit.session.add_all(ActivityLink(activity_id=activity.id, company_id=c) for c in companies)
    unit.session.add_all(ActivityLink(activity_id=activity.id, contact_id=c) for c in contacts)


async def add_activity(
    unit: Unit,
    opportunity_id: int,
    kind: str,
    occurred_at: datetime | None,
    fields: Mapping[str, Any],
    company_ids: Sequence[int],
    contact_ids: Sequence[int],
    opportunity: Opportunity | None = None,
) -> Activity:
    actor = unit.require_actor()
    if opportunity is None:
        opportunity = await visible_opportunity(unit, opportunity_id, "opportunityId")
    activity = Activity(
        opportunity_id=opportunity.id,
        kind=kind,
        created_by_id=actor.user_id,
        occurred_at=occurred_at or _now(),
        version=1,
        **fields,
    )
    unit.session.add(activity)
    await unit.session.flush()
    await _link(unit, activity, company_ids, contact_ids)
    await record_event(
        unit,
        opportunity,
        EventKind.ACTIVITY_ADDED,
        [FieldChange("activity", None, describe(activity))],
    )
    return activity


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0].strip()
    return line if len(line) <= 200 else line[:199] + "…"


async def add_journal(
    unit: Unit,
    opportunity_id: int,
    *,
    title: str | None,
    body: str,
    body_format: str,
    occurred_at: datetime | None,
    company_ids: Sequence[int] = (),
    contact_ids: Sequence[int] = (),
) -> Activity:
    body = required_text("body", body, max_length=100_000)
    fields = {
        # Untitled notes are titled by their first line, so every journal entry has a title.
        "title": clean_text("title", title, max_length=200) or _first_line(body),
        "body": body,
        "body_format": _choice("bodyFormat", body_format, BODY_FORMATS),
    }
    opportunity = await visible_opportunity(unit, opportunity_id, "opportunityId")
    mentioned = await mentions.recognise(unit, opportunity, body, "body")
    activity = await add_activity(
        unit,
        opportunity_id,
        "JOURNAL",
        _aware("occurredAt", occurred_at),
        fields,
        company_ids,
        contact_ids,
        opportunity,
    )
    await mentions.save(unit, opportunity, activity, mentioned, replacing=False)
    return activity


async def add_task(
    unit: Unit,
    opportunity_id: int,
    *,
    title: str,
    description: str | None,
    assignee_id: int | None,
    due_at: datetime | None,
    priority: str,
    company_ids: Sequence[int] = (),
    contact_ids: Sequence[int] = (),
) -> Activity:
    actor = unit.require_actor()
    assignee = assignee_id if assignee_id is not None else actor.user_id
    opportunity = await visible_opportunity(unit, opportunity_id, "opportunityId")
    await _check_assignee(unit, opportunity, assignee)
    description = clean_text("description", description, max_length=100_000)
    fields = {
        "title": required_text("title", title, max_length=200),
        "body": description,
        "assignee_id": assignee,
        "due_at": _aware("dueAt", due_at),
        "priority": _choice("priority", priority, PRIORITIES),
        "status": "OPEN",
    }
    mentioned = await mentions.recognise(unit, opportunity, description, "description")
    activity = await add_activity(
        unit, opportunity_id, "TASK", None, fields, company_ids, contact_ids, opportunity
    )
    await mentions.save(unit, opportunity, activity, mentioned, replacing=False)
    return activity


async def _check_assignee(unit: Unit, opportunity: Opportunity, assignee_id: int) -> None:
    await _check_users(unit, [assignee_id], "assigneeId")
    # A task for someone who cannot see its opportunity would be invisible to them.
    assignee = await load_actor(unit.session, assignee_id)
    audience = await audience_of(unit.session, opportunity)
    if assignee is None or not audience.admits(
        assignee.user_id, assignee.team_ids, assignee.is_admin
    ):
        raise DomainError(
            ErrorCode.INVALID,
            "the assignee cannot see this opportunity: link them to it first",
            ["assigneeId"],
        )


def _aware(field: str, value: datetime | None) -> datetime | None:
    """A time without an offset is ambiguous: refused rather than guessed."""
    if value is not None and value.tzinfo is None:
        raise DomainError(ErrorCode.INVALID, f"{field} must carry a time zone offset", [field])
    return value


def _check_times(starts_at: datetime, ends_at: datetime) -> None:
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise DomainError(ErrorCode.INVALID, "times must carry a time zone", ["startsAt"])
    if ends_at <= starts_at:
        raise DomainError(ErrorCode.INVALID, "endsAt must be after startsAt", ["endsAt"])


async def add_appointment(
    unit: Unit,
    opportunity_id: int,
    *,
    subject: str,
    starts_at: datetime,
    ends_at: datetime,
    location: str | None,
    notes: str | None,
    attendee_user_ids: Sequence[int] = (),
    attendee_contact_ids: Sequence[int] = (),
    company_ids: Sequence[int] = (),
    contact_ids: Sequence[int] = (),
) -> Activity:
    _check_times(starts_at, ends_at)
    users = await _check_users(unit, attendee_user_ids, "attendeeUserIds")
    contacts = await _check_ids(
        unit, Contact, attendee_contact_ids, "contact", "attendeeContactIds"
    )
    notes = clean_text("notes", notes, max_length=100_000)
    fields = {
        "title": required_text("subject", subject, max_length=200),
        "starts_at": starts_at,
        "ends_at": ends_at,
        "location": clean_text("location", location, max_length=500),
        "body": notes,
    }
    opportunity = await visible_opportunity(unit, opportunity_id, "opportunityId")
    mentioned = await mentions.recognise(unit, opportunity, notes, "notes")
    activity = await add_activity(
        unit,
        opportunity_id,
        "APPOINTMENT",
        starts_at,
        fields,
        company_ids,
        contact_ids,
        opportunity,
    )
    await mentions.save(unit, opportunity, activity, mentioned, replacing=False)
    unit.session.add_all(AppointmentAttendee(activity_id=activity.id, user_id=u) for u in users)
    unit.session.add_all(
        AppointmentAttendee(activity_id=activity.id, contact_id=c) for c in contacts
    )
    return activity


def _addresses(field: str, values: Sequence[str]) -> list[str]:
    if len(values) > MAX_RECIPIENTS:
        raise DomainError(ErrorCode.INVALID, f"at most {MAX_RECIPIENTS} addresses", [field])
    return [required_text(field, v, max_length=320) for v in values]


async def log_email(
    unit: Unit,
    opportunity_id: int,
    *,
    direction: str,
    from_address: str,
    to: Sequence[str],
    cc: Sequence[str],
    subject: str | None,
    body: str | None,
    sent_at: datetime,
    message_id: str | None,
    company_ids: Sequence[int] = (),
    contact_ids: Sequence[int] = (),
) -> tuple[Activity, bool]:
    """(the e-mail, whether it was new): one logged twice on the opportunity by messageId is
    stored once. A deleted copy does not count: logging it again stores it again."""
    message_id = clean_text("messageId", message_id, max_length=998)
    opportunity = await visible_opportunity(unit, opportunity_id, "opportunityId")
    if message_id is not None:
        # Loggers of the same message wait for each other, so the later one finds the
        # earlier one's row instead of failing on the unique index.
        await unit.session.execute(
            select(
                func.pg_advisory_xact_lock(func.hashtext("tandem.email"), func.hashtext(message_id))
            )
        )
        existing = (
            await unit.session.execute(
                select(Activity).where(
                    Activity.opportunity_id == opportunity.id,
                    Activity.message_id == message_id,
                    Activity.deleted_at.is_(None),
                )
            )
        ).scalar_one_or_none()
        if existing is not None:
            return existing, False
    _aware("sentAt", sent_at)
    if not to:
        raise DomainError(ErrorCode.REQUIRED, "an e-mail needs at least one recipient", ["to"])
    fields = {
        "direction": _choice("direction", direction, DIRECTIONS),
        "from_address": required_text("from", from_address, max_length=320),
        "to_addresses": _addresses("to", to),
        "cc_addresses": _addresses("cc", cc),
        "title": clean_text("subject", subject, max_length=998),
        "body": clean_text("body", body, max_length=1_000_000),
        "message_id": message_id,
    }
    activity = await add_activity(
        unit, opportunity_id, "EMAIL", sent_at, fields, company_ids, contact_ids, opportunity
    )
    return activity, True


_EDITABLE: dict[str, dict[str, tuple[str, Any]]] = {
    "JOURNAL": {
        "title": ("title", lambda v: required_text("title", v, max_length=200)),
        "body": ("body", lambda v: required_text("body", v, max_length=100_000)),
        "body_format": ("body_format", lambda v: _choice("bodyFormat", v, BODY_FORMATS)),
        "occurred_at": ("occurred_at", lambda v: _aware("occurredAt", v)),
    },
    "TASK": {
        "title": ("title", lambda v: required_text("title", v, max_length=200)),
        "assignee_id": ("assignee_id", lambda v: v),
        "description": ("body", lambda v: clean_text("description", v, max_length=100_000)),
        "due_at": ("due_at", lambda v: _aware("dueAt", v)),
        "priority": ("priority", lambda v: _choice("priority", v, PRIORITIES)),
    },
    "APPOINTMENT": {
        "subject": ("title", lambda v: required_text("subject", v, max_length=200)),
        "location": ("location", lambda v: clean_text("location", v, max_length=500)),
        "notes": ("body", lambda v: clean_text("notes", v, max_length=100_000)),
        "starts_at": ("starts_at", lambda v: _aware("startsAt", v)),
        "ends_at": ("ends_at", lambda v: _aware("endsAt", v)),
    },
    "EMAIL": {
        "subject": ("title", lambda v: clean_text("subject", v, max_length=998)),
        "body": ("body", lambda v: clean_text("body", v, max_length=1_000_000)),
    },
    "DOCUMENT": {
        "name": ("title", lambda v: required_text("name", v, max_length=200)),
    },
}


_NOT_NULL = ("starts_at", "ends_at", "occurred_at", "body_format", "priority", "assignee_id")


@dataclass(frozen=True, slots=True)
class Related:
    """New sets of related records for `update_activity`; None leaves a set as it is."""

    attendee_user_ids: Sequence[int] | None = None
    attendee_contact_ids: Sequence[int] | None = None
    company_ids: Sequence[int] | None = None
    contact_ids: Sequence[int] | None = None


async def update_activity(
    unit: Unit,
    activity_id: int,
    expected_version: int,
    values: Mapping[str, Any],
    related: Related = Related(),
) -> Activity:
    """Change the fields of its kind that `values` holds (others are refused) and replace
    the related sets `related` names."""
    activity, opportunity = await _visible_activity(unit, activity_id, expected_version)
    rules = _EDITABLE[activity.kind]
    changes: list[FieldChange] = []
    for name, value in values.items():
        field = api_name(name)
        if name not in rules:
            raise DomainError(
                ErrorCode.INVALID, f"{field} is not a field of a {activity.kind.lower()}", [field]
            )
        attribute, rule = rules[name]
        if value is None and attribute in _NOT_NULL:
            raise DomainError(ErrorCode.REQUIRED, f"{field} cannot be null", [field])
        # Text rules see null too, so a required text (body, title, subject) refuses it.
        new = rule(value)
        old = getattr(activity, attribute)
        if old != new:
            if attribute == "assignee_id":
                await _check_assignee(unit, opportunity, new)
            setattr(activity, attribute, new)
            changes.append(FieldChange(name, jsonable(old), jsonable(new)))
    if activity.kind == "APPOINTMENT":
        assert activity.starts_at is not None and activity.ends_at is not None
        _check_times(activity.starts_at, activity.ends_at)
        activity.occurred_at = activity.starts_at
    changes += await _replace_related(unit, activity, related)
    text_field = mentions.TEXT_FIELDS.get(activity.kind)
    if text_field is not None and any(c.field == text_field for c in changes):
        mentioned = await mentions.recognise(unit, opportunity, activity.body, text_field)
        await mentions.save(unit, opportunity, activity, mentioned, replacing=True)
    if changes:
        activity.version += 1
        activity.updated_at = _now()
        changes.insert(0, FieldChange("activity", None, describe(activity)))
        await record_event(unit, opportunity, EventKind.ACTIVITY_UPDATED, changes)
    return activity


async def _replace_related(unit: Unit, activity: Activity, related: Related) -> list[FieldChange]:
    """Validate and store the new sets; one change per set that differs."""
    changes: list[FieldChange] = []
    if related.attendee_user_ids is not None or related.attendee_contact_ids is not None:
        if activity.kind != "APPOINTMENT":
            raise DomainError(
                ErrorCode.INVALID,
                f"attendeeIds is not a field of a {activity.kind.lower()}",
                ["attendeeIds"],
            )
        users = await _check_users(unit, related.attendee_user_ids or (), "attendeeIds")
        contacts = await _check_ids(
            unit, Contact, related.attendee_contact_ids or (), "contact", "attendeeIds"
        )
        wanted = [("USER", u) for u in users] + [("CONTACT", c) for c in contacts]
        changes += await _replace_set(unit, AppointmentAttendee, activity, "attendees", wanted)
    if related.company_ids is not None:
        companies = await _check_ids(unit, Company, related.company_ids, "company", "companyIds")
        wanted = [("COMPANY", c) for c in companies]
        changes += await _replace_set(unit, ActivityLink, activity, "company_ids", wanted)
    if related.contact_ids is not None:
        contacts = await _check_ids(unit, Contact, related.contact_ids, "contact", "contactIds")
        wanted = [("CONTACT", c) for c in contacts]
        changes += await _replace_set(unit, ActivityLink, activity, "contact_ids", wanted)
    return changes


_TARGET_COLUMNS = {"USER": "user_id", "CONTACT": "contact_id", "COMPANY": "company_id"}


async def _replace_set(
    unit: Unit,
    model: type[ActivityLink] | type[AppointmentAttendee],
    activity: Activity,
    name: str,
    wanted: list[tuple[str, int]],
) -> list[FieldChange]:
    """Make the activity's rows of `model` of the kinds in play exactly `wanted`."""
    kinds = {"attendees": ("USER", "CONTACT"), "company_ids": ("COMPANY",)}.get(name, ("CONTACT",))
    rows = (
        await unit.session.scalars(
            select(model).where(model.activity_id == activity.id).order_by(model.id)
        )
    ).all()
    current: dict[tuple[str, int], Any] = {}
    for row in rows:
        for kind in kinds:
            target = getattr(row, _TARGET_COLUMNS[kind], None)
            if target is not None:
                current[(kind, target)] = row
    if set(current) == set(wanted):
        return []
    for key, row in current.items():
        if key not in wanted:
            await unit.session.delete(row)
    unit.session.add_all(
        model(activity_id=activity.id, **{_TARGET_COLUMNS[kind]: target})
        for kind, target in wanted
        if (kind, target) not in current
    )
    old = list(current)
    new = [key for key in old if key in wanted] + [key for key in wanted if key not in current]
    if name == "attendees":
        return [FieldChange(name, [list(k) for k in old], [list(k) for k in new])]
    return [FieldChange(name, [k[1] for k in old], [k[1] for k in new])]


async def set_task_status(
    unit: Unit, activity_id: int, expected_version: int | None, status: str
) -> Activity:
    activity, opportunity = await _visible_activity(unit, activity_id, expected_version)
    if activity.kind != "TASK":
        raise DomainError(ErrorCode.INVALID, "only a task has a status", ["id"])
    _choice("status", status, TASK_STATUSES)
    if activity.status == status:
        return activity
    old = activity.status
    activity.status = status
    if status == "DONE":
        activity.completed_at = _now()
        activity.completed_by_id = unit.require_actor().user_id
    else:
        activity.completed_at = None
        activity.completed_by_id = None
    activity.version += 1
    activity.updated_at = _now()
    kind = EventKind.TASK_COMPLETED if status == "DONE" else EventKind.ACTIVITY_UPDATED
    await record_event(
        unit,
        opportunity,
        kind,
        [FieldChange("activity", None, describe(activity)), FieldChange("status", old, status)],
    )
    return activity


async def delete_activity(unit: Unit, activity_id: int, expected_version: int | None) -> Activity:
    activity, opportunity = await _visible_activity(unit, activity_id, expected_version)
    activity.deleted_at = _now()
    activity.version += 1
    await record_event(
        unit,
        opportunity,
        EventKind.ACTIVITY_DELETED,
        [FieldChange("activity", describe(activity), None)],
    )
    return activity
