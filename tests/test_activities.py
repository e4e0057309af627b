"""Activities on an opportunity (issue 3 points 1-3, 5, 6 and 8) through the GraphQL API.

Journals, tasks, appointments and e-mails: adding each with every field and with the
defaults, the validation errors (after which nothing was stored and no event was written),
e-mail de-duplication by messageId, updates with optimistic versions, task status changes,
deletion, `myTasks`, `appointments(from, to)`, the opportunity's summaries, and visibility:
an activity on a PRIVATE opportunity is as hidden from an outsider as a missing one.
Events are read back by subscribing with `since` = the `eventCursor` read before the action,
so "exactly these events" needs no sleeping.
"""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.client import Api

MISSING_ACTIVITY = base64.b64encode(b"Activity:999999").decode()
MISSING_OPPORTUNITY = base64.b64encode(b"Opportunity:999999").decode()

# Kinds name some fields alike with different nullability (Journal.title: String,
# Task.title: String!), so each kind's fields are aliased.
ACTIVITY = """
fragment A on Activity {
  id kind occurredAt version createdAt updatedAt opportunityId
  createdBy { id } companies { id } contacts { id }
  ... on Journal { journalTitle: title journalBody: body bodyFormat }
  ... on Task {
    taskTitle: title description dueAt priority status completedAt isOverdue
    assignee { id } completedBy { id }
  }
  ... on Appointment {
    subject startsAt endsAt location notes
    attendees { __typename ... on User { id } ... on Contact { id } }
  }
  ... on Email { direction from to cc emailSubject: subject emailBody: body sentAt messageId }
}
"""


def activity_mutation(name: str, extra: str = "") -> str:
    input_type = name[0].upper() + name[1:] + "Input"
    return (
        ACTIVITY
        + f"""mutation($i: {input_type}!) {{ {name}(input: $i) {{
      activity {{ ...A }} {extra} userErrors {{ field code message }} }} }}"""
    )


ADD_JOURNAL = activity_mutation("addJournal")
ADD_TASK = activity_mutation("addTask")
ADD_APPOINTMENT = activity_mutation("addAppointment")
LOG_EMAIL = activity_mutation("logEmail", "created")
UPDATE_ACTIVITY = activity_mutation("updateActivity")
SET_TASK_STATUS = activity_mutation("setTaskStatus")
DELETE_ACTIVITY = activity_mutation("deleteActivity")

CREATE_OPPORTUNITY = """mutation($i: CreateOpportunityInput!) { createOpportunity(input: $i) {
  opportunity { id version } userErrors { code message } } }"""
CREATE_COMPANY = """mutation($i: CreateCompanyInput!) { createCompany(input: $i) {
  company { id } userErrors { code message } } }"""
CREATE_CONTACT = """mutation($i: CreateContactInput!) { createContact(input: $i) {
  contact { id } userErrors { code message } } }"""
NODE = ACTIVITY + "query($id: ID!) { node(id: $id) { ...A } }"
EVENT_CURSOR = "{ eventCursor }"
SUMMARY = """query($id: ID!) { opportunity(id: $id) {
  version lastActivityAt openTaskCount nextAppointment { id subject startsAt } } }"""
MY_TASKS = (
    ACTIVITY
    + """query($status: [TaskStatus!], $overdue: Boolean! = false, $dueBefore: DateTime,
         $first: Int, $after: String) {
  myTasks(status: $status, overdue: $overdue, dueBefore: $dueBefore, first: $first,
          after: $after) {
    pageInfo { hasNextPage endCursor }
    totalCount
    edges { cursor node { ...A } }
  } }"""
)
APPOINTMENTS = (
    ACTIVITY + "query($from: DateTime!, $to: DateTime!) { appointments(from: $from, to: $to) "
    "{ ...A } }"
)
EVENTS = """subscription($opportunityId: ID, $since: String) {
  opportunityEvents(opportunityId: $opportunityId, since: $since) {
    kind opportunityId version actor { id } changes { field old new } } }"""

T0 = datetime(2031, 3, 10, 9, 0, tzinfo=UTC)  # a fixed future point for calendars


def iso(moment: datetime) -> str:
    return moment.isoformat()


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def create_opportunity(api: Api, token: str, **fields: Any) -> str:
    values = {"name": "Deal", "expectedValue": {"amount": "1000.00", "currency": "EUR"}, **fields}
    payload = await api.mutate("createOpportunity", CREATE_OPPORTUNITY, {"i": values}, token)
    opportunity_id: str = payload["opportunity"]["id"]
    return opportunity_id


async def add(api: Api, name: str, document: str, token: str, **fields: Any) -> dict[str, Any]:
    """The activity that mutation `name` added, failing on userErrors."""
    payload = await api.mutate(name, document, {"i": fields}, token)
    activity: dict[str, Any] = payload["activity"]
    return activity


async def journal(api: Api, token: str, opportunity_id: str, **fields: Any) -> dict[str, Any]:
    values = {"body": "Note", **fields}
    return await add(api, "addJournal", ADD_JOURNAL, token, opportunityId=opportunity_id, **values)


async def task(api: Api, token: str, opportunity_id: str, **fields: Any) -> dict[str, Any]:
    values = {"title": "Call back", **fields}
    return await add(api, "addTask", ADD_TASK, token, opportunityId=opportunity_id, **values)


async def appointment(
    api: Api, token: str, opportunity_id: str, starts: datetime, hours: float = 1, **fields: Any
) -> dict[str, Any]:
    values = {
        "subject": "Meeting",
        "startsAt": iso(starts),
        "endsAt": iso(starts + timedelta(hours=hours)),
        **fields,
    }
    return await add(
        api, "addAppointment", ADD_APPOINTMENT, token, opportunityId=opportunity_id, **values
    )


def email_input(opportunity_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "opportunityId": opportunity_id,
        "direction": "INBOUND",
        "from": "buyer@customer.test",
        "to": ["me@tandem.test"],
        "sentAt": iso(T0),
        **fields,
    }


async def errors_of(api: Api, name: str, document: str, token: str, **fields: Any) -> list[Any]:
    """The userErrors of a mutation expected to fail; it must return no activity."""
    payload = (await api.ok(document, {"i": fields}, token))[name]
    assert payload["userErrors"], payload
    assert payload["activity"] is None, payload
    errors: list[Any] = payload["userErrors"]
    return errors


async def event_cursor(api: Api, token: str) -> str:
    cursor: str = (await api.ok(EVENT_CURSOR, token=token))["eventCursor"]
    return cursor


async def events_since(
    api: Api, token: str, since: str, opportunity_id: str, count: int
) -> list[dict[str, Any]]:
    """Exactly `count` events of the opportunity after `since` (then silence)."""
    async with api.subscriber(token) as sub:
        await sub.subscribe(EVENTS, {"opportunityId": opportunity_id, "since": since})
        events = [(await sub.next())["opportunityEvents"] for _ in range(count)]
        await sub.expect_silence(0.3)
    return events


async def timeline_ids(api: Api, token: str, opportunity_id: str) -> list[str]:
    data = await api.ok(
        """query($id: ID!) { opportunity(id: $id) { timeline(first: 100) {
          nodes { activity { id } } } } }""",
        {"id": opportunity_id},
        token,
    )
    return [n["activity"]["id"] for n in data["opportunity"]["timeline"]["nodes"] if n["activity"]]


async def my_task_ids(api: Api, token: str, **args: Any) -> list[str]:
    data = await api.ok(MY_TASKS, args, token)
    return [e["node"]["id"] for e in data["myTasks"]["edges"]]


async def me(api: Api, token: str) -> str:
    user_id: str = (await api.ok("{ me { id } }", token=token))["me"]["id"]
    return user_id


# --- adding -------------------------------------------------------------------------------


async def test_journal_with_every_field_is_stored_and_readable_by_id(
    api: Api, admin_token: str
) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    company = await api.mutate(
        "createCompany", CREATE_COMPANY, {"i": {"name": "Acme"}}, admin_token
    )
    contact = await api.mutate(
        "createContact", CREATE_CONTACT, {"i": {"firstName": "Ann", "lastName": "Lee"}}, admin_token
    )
    added = await journal(
        api,
        admin_token,
        opportunity_id,
        title="  Kick-off  ",
        body="# Agenda\n- price",
        bodyFormat="MARKDOWN",
        occurredAt="2030-05-01T08:30:00+02:00",
        links={"companyIds": [company["company"]["id"]], "contactIds": [contact["contact"]["id"]]},
    )
    assert added["kind"] == "JOURNAL"
    assert added["journalTitle"] == "Kick-off"
    assert added["journalBody"] == "# Agenda\n- price"
    assert added["bodyFormat"] == "MARKDOWN"
    assert parse(added["occurredAt"]) == datetime(2030, 5, 1, 6, 30, tzinfo=UTC)
    assert added["version"] == 1
    assert added["opportunityId"] == opportunity_id
    assert added["createdBy"]["id"] == await me(api, admin_token)
    assert added["companies"] == [company["company"]]
    assert added["contacts"] == [contact["contact"]]
    node = (await api.ok(NODE, {"id": added["id"]}, admin_token))["node"]
    assert parse(node.pop("occurredAt")) == parse(added.pop("occurredAt"))
    assert node == added


async def test_journal_defaults_to_plain_text_occurring_now(api: Api, admin_token: str) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    before = datetime.now(UTC) - timedelta(seconds=5)
    added = await journal(api, admin_token, opportunity_id, body="  Called Ann\nShe is keen  ")
    after = datetime.now(UTC) + timedelta(seconds=5)
    assert added["bodyFormat"] == "PLAIN"
    assert added["journalTitle"] == "Called Ann", "an untitled note is titled by its first line"
    assert before <= parse(added["occurredAt"]) <= after
    assert added["companies"] == [] and added["contacts"] == []


async def test_task_with_every_field(api: Api, admin_token: str) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    bob_id, _ = await api.create_user(admin_token, "bob@example.com")
    added = await task(
        api,
        admin_token,
        opportunity_id,
        title="Send quote",
        description="With the 10% discount",
        assigneeId=bob_id,
        dueAt=iso(T0),
        priority="URGENT",
    )
    assert added["kind"] == "TASK"
    assert added["taskTitle"] == "Send quote"
    assert added["description"] == "With the 10% discount"
    assert added["assignee"]["id"] == bob_id
    assert parse(added["dueAt"]) == T0
    assert added["priority"] == "URGENT"
    assert added["status"] == "OPEN"
    assert added["completedAt"] is None and added["completedBy"] is None
    assert added["isOverdue"] is False


async def test_task_defaults_to_the_caller_normal_priority_and_open(
    api: Api, admin_token: str
) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    added = await task(api, admin_token, opportunity_id)
    assert added["assignee"]["id"] == await me(api, admin_token)
    assert added["priority"] == "NORMAL"
    assert added["status"] == "OPEN"
    assert added["dueAt"] is None and added["description"] is None


async def test_appointment_with_every_field_and_attendees(api: Api, admin_token: str) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    bob_id, _ = await api.create_user(admin_token, "bob@example.com")
    contact = await api.mutate(
        "createContact", CREATE_CONTACT, {"i": {"firstName": "Ann", "lastName": "Lee"}}, admin_token
    )
    contact_id = contact["contact"]["id"]
    added = await appointment(
        api,
        admin_token,
        opportunity_id,
        T0,
        hours=1.5,
        subject="Demo",
        location="Room 4",
        notes="Bring the laptop",
        attendeeIds=[bob_id, contact_id],
    )
    assert added["kind"] == "APPOINTMENT"
    assert (added["subject"], added["location"], added["notes"]) == (
        "Demo",
        "Room 4",
        "Bring the laptop",
    )
    assert parse(added["startsAt"]) == T0
    assert parse(added["endsAt"]) == T0 + timedelta(hours=1.5)
    assert parse(added["occurredAt"]) == T0
    assert added["attendees"] == [
        {"__typename": "User", "id": bob_id},
        {"__typename": "Contact", "id": contact_id},
    ]


async def test_email_with_every_field(api: Api, admin_token: str) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    fields = email_input(
        opportunity_id,
        direction="OUTBOUND",
        to=["a@customer.test", "b@customer.test"],
        cc=["boss@tandem.test"],
        subject="Offer",
        body="Please find attached",
        messageId="<offer-1@tandem.test>",
    )
    payload = await api.mutate("logEmail", LOG_EMAIL, {"i": fields}, admin_token)
    assert payload["created"] is True
    added = payload["activity"]
    assert added["kind"] == "EMAIL"
    assert added["direction"] == "OUTBOUND"
    assert added["from"] == "buyer@customer.test"
    assert added["to"] == ["a@customer.test", "b@customer.test"]
    assert added["cc"] == ["boss@tandem.test"]
    assert (added["emailSubject"], added["emailBody"]) == ("Offer", "Please find attached")
    assert parse(added["sentAt"]) == T0 == parse(added["occurredAt"])
    assert added["messageId"] == "<offer-1@tandem.test>"


async def test_adding_an_activity_emits_activity_added_without_bumping_the_version(
    api: Api, admin_token: str
) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    since = await event_cursor(api, admin_token)
    added = await journal(api, admin_token, opportunity_id, title="Call")
    (event,) = await events_since(api, admin_token, since, opportunity_id, 1)
    assert event["kind"] == "ACTIVITY_ADDED"
    assert event["version"] == 1
    assert event["actor"]["id"] == await me(api, admin_token)
    (change,) = event["changes"]
    assert change["field"] == "activity" and change["old"] is None
    assert change["new"]["kind"] == "JOURNAL" and change["new"]["title"] == "Call"
    assert (await api.ok(SUMMARY, {"id": opportunity_id}, admin_token))["opportunity"][
        "version"
    ] == 1, "activity events must not bump the opportunity's version"
    assert added["id"] in await timeline_ids(api, admin_token, opportunity_id)


# --- validation: nothing stored, no event -------------------------------------------------


async def assert_refused(
    api: Api,
    token: str,
    opportunity_id: str,
    name: str,
    document: str,
    code: str,
    field: list[str] | None,
    **fields: Any,
) -> None:
    """The mutation fails with `code` on `field`, and stores nothing and emits no event."""
    since = await event_cursor(api, token)
    errors = await errors_of(api, name, document, token, **fields)
    assert [(e["code"], e["field"]) for e in errors] == [(code, field)], errors
    assert await event_cursor(api, token) == since, "a refused mutation wrote an event"
    assert await timeline_ids(api, token, opportunity_id) == []


async def test_blank_journal_body_is_required(api: Api, admin_token: str) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    await assert_refused(
        api, admin_token, opportunity_id, "addJournal", ADD_JOURNAL, "REQUIRED", ["body"],
        opportunityId=opportunity_id, body="   ",
    )  # fmt: skip


async def test_blank_task_title_is_required(api: Api, admin_token: str) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    await assert_refused(
        api, admin_token, opportunity_id, "addTask", ADD_TASK, "REQUIRED", ["title"],
        opportunityId=opportunity_id, title="",
    )  # fmt: skip


async def test_oversized_strings_are_too_long(api: Api, admin_token: str) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    await assert_refused(
        api, admin_token, opportunity_id, "addJournal", ADD_JOURNAL, "TOO_LONG", ["title"],
        opportunityId=opportunity_id, body="ok", title="x" * 201,
    )  # fmt: skip
    await assert_refused(
        api, admin_token, opportunity_id, "addJournal", ADD_JOURNAL, "TOO_LONG", ["body"],
        opportunityId=opportunity_id, body="x" * 100_001,
    )  # fmt: skip
    await assert_refused(
        api, admin_token, opportunity_id, "addAppointment", ADD_APPOINTMENT, "TOO_LONG",
        ["location"], opportunityId=opportunity_id, subject="Demo", startsAt=iso(T0),
        endsAt=iso(T0 + timedelta(hours=1)), location="x" * 501,
    )  # fmt: skip


async def test_unknown_garbage_and_wrong_type_opportunity_ids(api: Api, admin_token: str) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    company = await api.mutate(
        "createCompany", CREATE_COMPANY, {"i": {"name": "Acme"}}, admin_token
    )
    cases = [
        (MISSING_OPPORTUNITY, "NOT_FOUND"),
        ("not-an-id!", "INVALID_ID"),
        (company["company"]["id"], "INVALID_ID"),
    ]
    for bad_id, code in cases:
        await assert_refused(
            api, admin_token, opportunity_id, "addJournal", ADD_JOURNAL, code, ["opportunityId"],
            opportunityId=bad_id, body="x",
        )  # fmt: skip


async def test_unknown_assignee_attendee_and_link_ids_are_refused(
    api: Api, admin_token: str
) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    missing_user = base64.b64encode(b"User:999999").decode()
    missing_company = base64.b64encode(b"Company:999999").decode()
    await assert_refused(
        api, admin_token, opportunity_id, "addTask", ADD_TASK, "NOT_FOUND", ["assigneeId"],
        opportunityId=opportunity_id, title="t", assigneeId=missing_user,
    )  # fmt: skip
    await assert_refused(
        api, admin_token, opportunity_id, "addTask", ADD_TASK, "INVALID_ID", ["assigneeId"],
        opportunityId=opportunity_id, title="t", assigneeId=opportunity_id,
    )  # fmt: skip
    await assert_refused(
        api, admin_token, opportunity_id, "addJournal", ADD_JOURNAL, "NOT_FOUND", ["companyIds"],
        opportunityId=opportunity_id, body="x", links={"companyIds": [missing_company]},
    )  # fmt: skip
    await assert_refused(
        api, admin_token, opportunity_id, "addAppointment", ADD_APPOINTMENT, "INVALID_ID",
        ["attendeeIds"], opportunityId=opportunity_id, subject="s", startsAt=iso(T0),
        endsAt=iso(T0 + timedelta(hours=1)), attendeeIds=[opportunity_id],
    )  # fmt: skip


async def test_appointment_must_end_after_it_starts(api: Api, admin_token: str) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    for ends in (T0, T0 - timedelta(minutes=1)):
        await assert_refused(
            api, admin_token, opportunity_id, "addAppointment", ADD_APPOINTMENT, "INVALID",
            ["endsAt"], opportunityId=opportunity_id, subject="s", startsAt=iso(T0),
            endsAt=iso(ends),
        )  # fmt: skip


async def test_times_without_a_time_zone_are_refused(api: Api, admin_token: str) -> None:
    """A naive time is ambiguous; it must be refused, not silently read as UTC or local."""
    opportunity_id = await create_opportunity(api, admin_token)
    attempts = [
        (ADD_APPOINTMENT, "addAppointment", {"subject": "s", "startsAt": "2031-01-01T10:00:00",
                                             "endsAt": "2031-01-01T11:00:00"}),
        (ADD_JOURNAL, "addJournal", {"body": "b", "occurredAt": "2031-01-01T10:00:00"}),
        (ADD_TASK, "addTask", {"title": "t", "dueAt": "2031-01-01T10:00:00"}),
        (LOG_EMAIL, "logEmail", {**email_input(opportunity_id), "sentAt": "2031-01-01T10:00:00"}),
    ]  # fmt: skip
    for document, name, fields in attempts:
        body = await api.gql(
            document, {"i": {"opportunityId": opportunity_id, **fields}}, admin_token
        )
        refused = bool(body.get("errors")) or bool(body["data"][name]["userErrors"])
        assert refused, f"{name} accepted a time without an offset: {body}"
    assert await timeline_ids(api, admin_token, opportunity_id) == []


async def test_email_needs_a_recipient_and_at_most_100(api: Api, admin_token: str) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    await assert_refused(
        api, admin_token, opportunity_id, "logEmail", LOG_EMAIL, "REQUIRED", ["to"],
        **email_input(opportunity_id, to=[]),
    )  # fmt: skip
    many = [f"r{i}@customer.test" for i in range(101)]
    await assert_refused(
        api, admin_token, opportunity_id, "logEmail", LOG_EMAIL, "INVALID", ["to"],
        **email_input(opportunity_id, to=many),
    )  # fmt: skip
    await assert_refused(
        api, admin_token, opportunity_id, "logEmail", LOG_EMAIL, "INVALID", ["cc"],
        **email_input(opportunity_id, cc=many),
    )  # fmt: skip
    exactly_100 = email_input(opportunity_id, to=many[:100])
    payload = await api.mutate("logEmail", LOG_EMAIL, {"i": exactly_100}, admin_token)
    assert len(payload["activity"]["to"]) == 100


async def test_oversized_or_blank_addresses_are_refused(api: Api, admin_token: str) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    await assert_refused(
        api, admin_token, opportunity_id, "logEmail", LOG_EMAIL, "TOO_LONG", ["to"],
        **email_input(opportunity_id, to=["x" * 321]),
    )  # fmt: skip
    await assert_refused(
        api, admin_token, opportunity_id, "logEmail", LOG_EMAIL, "REQUIRED", ["from"],
        **email_input(opportunity_id, **{"from": "  "}),
    )  # fmt: skip


# --- e-mail de-duplication ----------------------------------------------------------------


async def test_the_same_message_id_is_stored_once(api: Api, admin_token: str) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    fields = email_input(opportunity_id, messageId="<m-1@customer.test>", subject="Hi")
    first = await api.mutate("logEmail", LOG_EMAIL, {"i": fields}, admin_token)
    since = await event_cursor(api, admin_token)
    second = await api.mutate("logEmail", LOG_EMAIL, {"i": fields}, admin_token)
    assert (first["created"], second["created"]) == (True, False)
    assert second["activity"]["id"] == first["activity"]["id"]
    assert await timeline_ids(api, admin_token, opportunity_id) == [first["activity"]["id"]]
    assert await event_cursor(api, admin_token) == since, "a duplicate e-mail wrote an event"


async def test_without_message_id_the_same_email_is_stored_twice(
    api: Api, admin_token: str
) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    fields = email_input(opportunity_id)
    first = await api.mutate("logEmail", LOG_EMAIL, {"i": fields}, admin_token)
    second = await api.mutate("logEmail", LOG_EMAIL, {"i": fields}, admin_token)
    assert first["created"] and second["created"]
    assert first["activity"]["id"] != second["activity"]["id"]
    assert len(await timeline_ids(api, admin_token, opportunity_id)) == 2


async def test_a_deleted_email_can_be_logged_again(api: Api, admin_token: str) -> None:
    """Re-logging must never answer with the deleted e-mail, which nobody can read."""
    opportunity_id = await create_opportunity(api, admin_token)
    fields = email_input(opportunity_id, messageId="<gone@customer.test>")
    first = await api.mutate("logEmail", LOG_EMAIL, {"i": fields}, admin_token)
    await api.mutate(
        "deleteActivity", DELETE_ACTIVITY, {"i": {"id": first["activity"]["id"]}}, admin_token
    )
    again = await api.mutate("logEmail", LOG_EMAIL, {"i": fields}, admin_token)
    assert again["created"] is True
    assert again["activity"]["id"] != first["activity"]["id"]
    assert await timeline_ids(api, admin_token, opportunity_id) == [again["activity"]["id"]]


async def test_one_message_on_two_opportunities_is_stored_on_each(
    api: Api, admin_token: str
) -> None:
    """One e-mail may concern two deals; dedupe is per opportunity, and an outsider's copy
    on a private deal neither blocks nor reveals anything."""
    _, owner = await api.create_user(admin_token, "owner@example.com")
    _, other = await api.create_user(admin_token, "other@example.com")
    private_id = await create_opportunity(api, owner, visibility="PRIVATE")
    public_id = await create_opportunity(api, other)
    message = "<shared@customer.test>"
    hidden = await api.mutate(
        "logEmail", LOG_EMAIL, {"i": email_input(private_id, messageId=message)}, owner
    )
    first = await api.mutate(
        "logEmail", LOG_EMAIL, {"i": email_input(public_id, messageId=message)}, other
    )
    again = await api.mutate(
        "logEmail", LOG_EMAIL, {"i": email_input(public_id, messageId=message)}, other
    )
    assert (hidden["created"], first["created"], again["created"]) == (True, True, False)
    assert first["activity"]["id"] != hidden["activity"]["id"]
    assert again["activity"]["id"] == first["activity"]["id"]
    assert first["activity"]["opportunityId"] == public_id
    assert await timeline_ids(api, other, public_id) == [first["activity"]["id"]]
    assert await timeline_ids(api, owner, private_id) == [hidden["activity"]["id"]]


async def test_the_same_message_id_logged_concurrently_is_stored_once(
    api: Api, admin_token: str
) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    fields = email_input(opportunity_id, messageId="<race@customer.test>")
    bodies = await asyncio.gather(
        *(api.gql(LOG_EMAIL, {"i": fields}, admin_token) for _ in range(6))
    )
    for body in bodies:
        assert not body.get("errors"), body
    payloads = [b["data"]["logEmail"] for b in bodies]
    ids = {p["activity"]["id"] for p in payloads}
    assert len(ids) == 1, payloads
    assert sorted(p["created"] for p in payloads) == [False] * 5 + [True]


# --- updating -----------------------------------------------------------------------------


async def update(api: Api, token: str, activity: dict[str, Any], **fields: Any) -> dict[str, Any]:
    values = {"id": activity["id"], "expectedVersion": activity["version"], **fields}
    payload = (await api.ok(UPDATE_ACTIVITY, {"i": values}, token))["updateActivity"]
    result: dict[str, Any] = payload
    return result


async def test_updating_fields_of_the_kind_bumps_the_version_and_emits_an_event(
    api: Api, admin_token: str
) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    added = await task(api, admin_token, opportunity_id, title="Call")
    since = await event_cursor(api, admin_token)
    payload = await update(
        api, admin_token, added, title="Call Ann", priority="HIGH", dueAt=iso(T0)
    )
    assert payload["userErrors"] == []
    changed = payload["activity"]
    assert (changed["taskTitle"], changed["priority"], parse(changed["dueAt"])) == (
        "Call Ann",
        "HIGH",
        T0,
    )
    assert changed["version"] == 2
    assert (await api.ok(NODE, {"id": added["id"]}, admin_token))["node"] == changed
    (event,) = await events_since(api, admin_token, since, opportunity_id, 1)
    assert event["kind"] == "ACTIVITY_UPDATED"
    fields = {c["field"]: (c["old"], c["new"]) for c in event["changes"]}
    assert fields["title"] == ("Call", "Call Ann")
    assert fields["priority"] == ("NORMAL", "HIGH")
    assert parse(fields["dueAt"][1] if "dueAt" in fields else fields["due_at"][1]) == T0


async def test_updating_an_appointment_keeps_end_after_start(api: Api, admin_token: str) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    added = await appointment(api, admin_token, opportunity_id, T0)
    payload = await update(api, admin_token, added, startsAt=iso(T0 + timedelta(hours=2)))
    assert [e["code"] for e in payload["userErrors"]] == ["INVALID"]
    moved = await update(
        api,
        admin_token,
        added,
        startsAt=iso(T0 + timedelta(days=1)),
        endsAt=iso(T0 + timedelta(days=1, hours=1)),
    )
    assert moved["userErrors"] == []
    assert parse(moved["activity"]["occurredAt"]) == T0 + timedelta(days=1)


async def test_a_field_of_another_kind_is_invalid(api: Api, admin_token: str) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    added = await journal(api, admin_token, opportunity_id)
    since = await event_cursor(api, admin_token)
    payload = await update(api, admin_token, added, body="changed", dueAt=iso(T0))
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("INVALID", ["dueAt"])]
    assert payload["activity"] is None
    node = (await api.ok(NODE, {"id": added["id"]}, admin_token))["node"]
    assert (node["journalBody"], node["version"]) == ("Note", 1)
    assert await event_cursor(api, admin_token) == since


async def test_a_stale_version_is_a_conflict_and_changes_nothing(
    api: Api, admin_token: str
) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    added = await journal(api, admin_token, opportunity_id)
    assert (await update(api, admin_token, added, body="first"))["userErrors"] == []
    since = await event_cursor(api, admin_token)
    payload = await update(api, admin_token, added, body="second")  # still at version 1
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("CONFLICT", ["expectedVersion"])
    ]
    node = (await api.ok(NODE, {"id": added["id"]}, admin_token))["node"]
    assert (node["journalBody"], node["version"]) == ("first", 2)
    assert await event_cursor(api, admin_token) == since


async def test_null_for_a_required_field_is_required(api: Api, admin_token: str) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    note = await journal(api, admin_token, opportunity_id)
    todo = await task(api, admin_token, opportunity_id)
    meeting = await appointment(api, admin_token, opportunity_id, T0)
    cases = [
        (note, "body", "body"),
        (note, "bodyFormat", "bodyFormat"),
        (note, "occurredAt", "occurredAt"),
        (todo, "title", "title"),
        (todo, "priority", "priority"),
        (meeting, "subject", "subject"),
        (meeting, "startsAt", "startsAt"),
    ]
    for activity, name, field in cases:
        payload = await update(api, admin_token, activity, **{name: None})
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
            ("REQUIRED", [field])
        ], f"{activity['kind']}.{name}: null -> {payload}"
    for activity in (note, todo, meeting):
        node = (await api.ok(NODE, {"id": activity["id"]}, admin_token))["node"]
        assert node == activity


async def test_clearing_an_optional_field_with_null(api: Api, admin_token: str) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    added = await task(api, admin_token, opportunity_id, description="d", dueAt=iso(T0))
    payload = await update(api, admin_token, added, description=None, dueAt=None)
    assert payload["userErrors"] == []
    assert payload["activity"]["description"] is None and payload["activity"]["dueAt"] is None
    assert payload["activity"]["version"] == 2


# --- task status ----------------------------------------------------------------------------


async def set_status(
    api: Api, token: str, activity_id: str, status: str, version: int | None = None
) -> dict[str, Any]:
    values: dict[str, Any] = {"id": activity_id, "status": status}
    if version is not None:
        values["expectedVersion"] = version
    result: dict[str, Any] = (await api.ok(SET_TASK_STATUS, {"i": values}, token))["setTaskStatus"]
    return result


async def test_completing_a_task_records_who_and_when_and_emits_task_completed(
    api: Api, admin_token: str
) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    bob_id, bob = await api.create_user(admin_token, "bob@example.com")
    added = await task(api, admin_token, opportunity_id, assigneeId=bob_id)
    since = await event_cursor(api, admin_token)
    before = datetime.now(UTC) - timedelta(seconds=5)
    payload = await set_status(api, bob, added["id"], "DONE", version=1)
    assert payload["userErrors"] == []
    done = payload["activity"]
    assert done["status"] == "DONE"
    assert done["completedBy"]["id"] == bob_id
    assert before <= parse(done["completedAt"]) <= datetime.now(UTC) + timedelta(seconds=5)
    assert done["version"] == 2
    (event,) = await events_since(api, admin_token, since, opportunity_id, 1)
    assert event["kind"] == "TASK_COMPLETED"
    assert event["actor"]["id"] == bob_id
    assert {"field": "status", "old": "OPEN", "new": "DONE"} in event["changes"]


async def test_reopening_a_task_clears_its_completion(api: Api, admin_token: str) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    added = await task(api, admin_token, opportunity_id)
    await set_status(api, admin_token, added["id"], "DONE")
    since = await event_cursor(api, admin_token)
    payload = await set_status(api, admin_token, added["id"], "OPEN")
    reopened = payload["activity"]
    assert (reopened["status"], reopened["completedAt"], reopened["completedBy"]) == (
        "OPEN",
        None,
        None,
    )
    assert reopened["version"] == 3
    (event,) = await events_since(api, admin_token, since, opportunity_id, 1)
    assert event["kind"] == "ACTIVITY_UPDATED"


async def test_status_of_a_non_task_is_invalid(api: Api, admin_token: str) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    note = await journal(api, admin_token, opportunity_id)
    payload = await set_status(api, admin_token, note["id"], "DONE")
    assert [e["code"] for e in payload["userErrors"]] == ["INVALID"]
    stale = await task(api, admin_token, opportunity_id)
    payload = await set_status(api, admin_token, stale["id"], "DONE", version=7)
    assert [e["code"] for e in payload["userErrors"]] == ["CONFLICT"]


# --- deleting -----------------------------------------------------------------------------


async def test_deleting_removes_it_everywhere_and_emits_activity_deleted(
    api: Api, admin_token: str
) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    added = await task(api, admin_token, opportunity_id)
    since = await event_cursor(api, admin_token)
    payload = (await api.ok(DELETE_ACTIVITY, {"i": {"id": added["id"]}}, admin_token))[
        "deleteActivity"
    ]
    assert payload["userErrors"] == []
    assert (await api.ok(NODE, {"id": added["id"]}, admin_token))["node"] is None
    assert await timeline_ids(api, admin_token, opportunity_id) == []
    assert await my_task_ids(api, admin_token) == []
    (event,) = await events_since(api, admin_token, since, opportunity_id, 1)
    assert event["kind"] == "ACTIVITY_DELETED"
    (change,) = event["changes"]
    assert change["field"] == "activity" and change["new"] is None
    again = (await api.ok(DELETE_ACTIVITY, {"i": {"id": added["id"]}}, admin_token))[
        "deleteActivity"
    ]
    assert [e["code"] for e in again["userErrors"]] == ["NOT_FOUND"]


# --- visibility ---------------------------------------------------------------------------


async def private_setup(api: Api, admin_token: str) -> tuple[str, str, str, str, str]:
    """(owner token, outsider ID, outsider token, private opportunity, a journal on it)."""
    _, owner = await api.create_user(admin_token, "owner@example.com")
    outsider_id, outsider = await api.create_user(admin_token, "outsider@example.com")
    opportunity_id = await create_opportunity(api, owner, visibility="PRIVATE")
    note = await journal(api, owner, opportunity_id)
    return owner, outsider_id, outsider, opportunity_id, note["id"]


async def test_an_activity_on_a_private_opportunity_is_null_to_an_outsider(
    api: Api, admin_token: str
) -> None:
    owner, _, outsider, _, note_id = await private_setup(api, admin_token)
    assert (await api.ok(NODE, {"id": note_id}, owner))["node"]["id"] == note_id
    assert (await api.ok(NODE, {"id": note_id}, outsider))["node"] is None
    assert (await api.ok(NODE, {"id": note_id}, admin_token))["node"]["id"] == note_id


async def test_outsider_mutations_fail_exactly_like_missing_ids(api: Api, admin_token: str) -> None:
    owner, _, outsider, opportunity_id, note_id = await private_setup(api, admin_token)
    since = await event_cursor(api, owner)

    async def errors(document: str, name: str, values: dict[str, Any]) -> Any:
        return (await api.ok(document, {"i": values}, outsider))[name]["userErrors"]

    hidden = await errors(ADD_JOURNAL, "addJournal", {"opportunityId": opportunity_id, "body": "x"})
    missing = await errors(
        ADD_JOURNAL, "addJournal", {"opportunityId": MISSING_OPPORTUNITY, "body": "x"}
    )
    assert hidden == missing and hidden[0]["code"] == "NOT_FOUND"
    for document, name, extra in (
        (UPDATE_ACTIVITY, "updateActivity", {"expectedVersion": 1, "body": "x"}),
        (DELETE_ACTIVITY, "deleteActivity", {}),
    ):
        hidden = await errors(document, name, {"id": note_id, **extra})
        missing = await errors(document, name, {"id": MISSING_ACTIVITY, **extra})
        assert hidden == missing and hidden[0]["code"] == "NOT_FOUND", (name, hidden, missing)
    assert (await api.ok(NODE, {"id": note_id}, owner))["node"]["journalBody"] == "Note"
    assert await event_cursor(api, owner) == since


async def test_a_task_cannot_be_assigned_to_someone_who_cannot_see_the_opportunity(
    api: Api, admin_token: str
) -> None:
    owner, outsider_id, outsider, opportunity_id, _ = await private_setup(api, admin_token)
    since = await event_cursor(api, owner)
    body = await api.ok(
        ADD_TASK,
        {"i": {"opportunityId": opportunity_id, "title": "T", "assigneeId": outsider_id}},
        owner,
    )
    assert [(e["code"], e["field"]) for e in body["addTask"]["userErrors"]] == [
        ("INVALID", ["assigneeId"])
    ]
    assert await event_cursor(api, owner) == since
    public_id = await create_opportunity(api, owner)
    visible = await task(api, owner, public_id, assigneeId=outsider_id)
    assert await my_task_ids(api, outsider) == [visible["id"]]


async def test_outsider_attendee_does_not_see_the_appointment(api: Api, admin_token: str) -> None:
    owner, outsider_id, outsider, opportunity_id, _ = await private_setup(api, admin_token)
    await appointment(api, owner, opportunity_id, T0, attendeeIds=[outsider_id])
    window = {"from": iso(T0 - timedelta(days=1)), "to": iso(T0 + timedelta(days=1))}
    assert len((await api.ok(APPOINTMENTS, window, owner))["appointments"]) == 1
    assert (await api.ok(APPOINTMENTS, window, outsider))["appointments"] == []


async def test_outsider_subscription_receives_no_activity_events(
    api: Api, admin_token: str
) -> None:
    owner, _, outsider, opportunity_id, _ = await private_setup(api, admin_token)
    async with api.subscriber(outsider) as watcher, api.subscriber(owner) as insider:
        await watcher.subscribe(EVENTS, {})
        await insider.subscribe(EVENTS, {})
        await asyncio.sleep(0.2)  # let both subscriptions start before the change
        await journal(api, owner, opportunity_id)
        assert (await insider.next())["opportunityEvents"]["kind"] == "ACTIVITY_ADDED"
        await watcher.expect_silence(0.5)


# --- myTasks ------------------------------------------------------------------------------


async def test_my_tasks_lists_only_the_callers_open_tasks_soonest_due_first(
    api: Api, admin_token: str
) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    bob_id, bob = await api.create_user(admin_token, "bob@example.com")
    no_due = await task(api, admin_token, opportunity_id, title="whenever")
    later = await task(api, admin_token, opportunity_id, dueAt=iso(T0 + timedelta(days=2)))
    soon = await task(api, admin_token, opportunity_id, dueAt=iso(T0))
    done = await task(api, admin_token, opportunity_id, dueAt=iso(T0))
    await set_status(api, admin_token, done["id"], "DONE")
    cancelled = await task(api, admin_token, opportunity_id)
    await set_status(api, admin_token, cancelled["id"], "CANCELLED")
    bobs = await task(api, admin_token, opportunity_id, assigneeId=bob_id)
    assert await my_task_ids(api, admin_token) == [soon["id"], later["id"], no_due["id"]]
    assert await my_task_ids(api, bob) == [bobs["id"]]
    assert await my_task_ids(api, admin_token, status=["DONE"]) == [done["id"]]
    assert set(await my_task_ids(api, admin_token, status=["DONE", "CANCELLED"])) == {
        done["id"],
        cancelled["id"],
    }


async def test_my_tasks_overdue_and_due_before(api: Api, admin_token: str) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    now = datetime.now(UTC)
    overdue = await task(api, admin_token, opportunity_id, dueAt=iso(now - timedelta(days=1)))
    upcoming = await task(api, admin_token, opportunity_id, dueAt=iso(now + timedelta(days=3)))
    await task(api, admin_token, opportunity_id)  # no due date: never overdue
    past_done = await task(api, admin_token, opportunity_id, dueAt=iso(now - timedelta(days=2)))
    await set_status(api, admin_token, past_done["id"], "DONE")
    assert await my_task_ids(api, admin_token, overdue=True) == [overdue["id"]]
    as_filter = await api.ok(
        "query($f: TaskFilter) { myTasks(filter: $f) { nodes { id } } }",
        {"f": {"overdue": True}},
        admin_token,
    )
    assert [n["id"] for n in as_filter["myTasks"]["nodes"]] == [overdue["id"]]
    counted = await api.ok(MY_TASKS, {"overdue": True}, admin_token)
    assert counted["myTasks"]["totalCount"] == 1
    node = (await api.ok(NODE, {"id": overdue["id"]}, admin_token))["node"]
    assert node["isOverdue"] is True
    before = iso(now + timedelta(days=4))
    assert await my_task_ids(api, admin_token, dueBefore=before) == [overdue["id"], upcoming["id"]]
    body = await api.gql(MY_TASKS, {"dueBefore": "2031-01-01T00:00:00"}, admin_token)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body


async def test_my_tasks_pages_without_gaps_or_repeats(api: Api, admin_token: str) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    expected = []
    for day in range(5):
        added = await task(api, admin_token, opportunity_id, dueAt=iso(T0 + timedelta(days=day)))
        expected.append(added["id"])
    for _ in range(2):  # ties on "no due date" are broken by ID
        expected.append((await task(api, admin_token, opportunity_id))["id"])
    seen: list[str] = []
    after = None
    for _ in range(10):
        data = (await api.ok(MY_TASKS, {"first": 2, "after": after}, admin_token))["myTasks"]
        seen += [e["node"]["id"] for e in data["edges"]]
        if not data["pageInfo"]["hasNextPage"]:
            break
        assert data["totalCount"] == len(expected)
        after = data["pageInfo"]["endCursor"]
    assert seen == expected


# --- appointments(from, to) ---------------------------------------------------------------


async def test_appointments_in_a_range_overlap_half_open(api: Api, admin_token: str) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    hour = timedelta(hours=1)
    inside = await appointment(api, admin_token, opportunity_id, T0 + hour)
    spanning = await appointment(api, admin_token, opportunity_id, T0 - hour, hours=4)
    await appointment(api, admin_token, opportunity_id, T0 - hour)  # ends exactly at `from`
    await appointment(api, admin_token, opportunity_id, T0 + 2 * hour)  # starts exactly at `to`
    window = {"from": iso(T0), "to": iso(T0 + 2 * hour)}
    found = (await api.ok(APPOINTMENTS, window, admin_token))["appointments"]
    assert [a["id"] for a in found] == [spanning["id"], inside["id"]]


async def test_appointments_refuse_inverted_and_huge_ranges(api: Api, admin_token: str) -> None:
    for window in (
        {"from": iso(T0), "to": iso(T0 - timedelta(hours=1))},
        {"from": iso(T0), "to": iso(T0)},
        {"from": iso(T0), "to": iso(T0 + timedelta(days=371))},
    ):
        body = await api.gql(APPOINTMENTS, window, admin_token)
        assert body.get("data") is None, body
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
    naive = {"from": "2031-03-10T09:00:00", "to": iso(T0 + timedelta(days=1))}
    body = await api.gql(APPOINTMENTS, naive, admin_token)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
    ok = {"from": iso(T0), "to": iso(T0 + timedelta(days=370))}
    assert (await api.ok(APPOINTMENTS, ok, admin_token))["appointments"] == []


# --- summaries ----------------------------------------------------------------------------


async def summary(api: Api, token: str, opportunity_id: str) -> dict[str, Any]:
    result: dict[str, Any] = (await api.ok(SUMMARY, {"id": opportunity_id}, token))["opportunity"]
    return result


async def test_summaries_of_an_opportunity_without_activities(api: Api, admin_token: str) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    got = await summary(api, admin_token, opportunity_id)
    assert (got["lastActivityAt"], got["openTaskCount"], got["nextAppointment"]) == (None, 0, None)


async def test_last_activity_at_follows_the_newest_activity(api: Api, admin_token: str) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    await journal(api, admin_token, opportunity_id, occurredAt="2020-01-01T00:00:00+00:00")
    newest = await journal(api, admin_token, opportunity_id, occurredAt="2020-02-01T00:00:00+00:00")
    await journal(api, admin_token, opportunity_id, occurredAt="2019-01-01T00:00:00+00:00")
    # What has not happened yet does not count.
    await appointment(api, admin_token, opportunity_id, datetime(2040, 1, 1, tzinfo=UTC))
    got = await summary(api, admin_token, opportunity_id)
    assert parse(got["lastActivityAt"]) == parse(newest["occurredAt"])
    await api.ok(DELETE_ACTIVITY, {"i": {"id": newest["id"]}}, admin_token)
    got = await summary(api, admin_token, opportunity_id)
    assert parse(got["lastActivityAt"]) == datetime(2020, 1, 1, tzinfo=UTC)


async def test_open_task_count_drops_on_completion(api: Api, admin_token: str) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    first = await task(api, admin_token, opportunity_id)
    await task(api, admin_token, opportunity_id)
    assert (await summary(api, admin_token, opportunity_id))["openTaskCount"] == 2
    await set_status(api, admin_token, first["id"], "DONE")
    assert (await summary(api, admin_token, opportunity_id))["openTaskCount"] == 1


async def test_next_appointment_is_the_first_not_yet_started(api: Api, admin_token: str) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    now = datetime.now(UTC)
    await appointment(api, admin_token, opportunity_id, now - timedelta(minutes=30))  # running
    await appointment(api, admin_token, opportunity_id, now + timedelta(days=3))
    soonest = await appointment(api, admin_token, opportunity_id, now + timedelta(days=1))
    got = await summary(api, admin_token, opportunity_id)
    assert got["nextAppointment"]["id"] == soonest["id"]


# --- live -------------------------------------------------------------------------------------


async def test_a_teammate_sees_activity_added_and_task_completed_live(
    api: Api, admin_token: str
) -> None:
    _, alice = await api.create_user(admin_token, "alice@example.com")
    bob_id, bob = await api.create_user(admin_token, "bob@example.com")
    opportunity_id = await create_opportunity(api, alice)
    async with api.subscriber(alice) as sub:
        await sub.subscribe(EVENTS, {"opportunityId": opportunity_id})
        await asyncio.sleep(0.2)  # let the subscription start before the change
        note = await journal(api, bob, opportunity_id, title="Met Ann")
        event = (await sub.next())["opportunityEvents"]
        assert (event["kind"], event["opportunityId"], event["actor"]["id"]) == (
            "ACTIVITY_ADDED",
            opportunity_id,
            bob_id,
        )
        (change,) = event["changes"]
        assert change["field"] == "activity" and change["old"] is None
        assert change["new"]["kind"] == "JOURNAL" and change["new"]["title"] == "Met Ann"
        assert change["new"]["id"] == note["id"], "the event names the activity by its global ID"
        todo = await task(api, bob, opportunity_id)
        assert (await sub.next())["opportunityEvents"]["kind"] == "ACTIVITY_ADDED"
        await set_status(api, bob, todo["id"], "DONE")
        assert (await sub.next())["opportunityEvents"]["kind"] == "TASK_COMPLETED"
