"""Changing who and what an activity involves, through `updateActivity`.

An appointment's attendees, a task's assignee and the companies and contacts an activity is
filed under are replaced as a whole set under `expectedVersion`: the new set is stored, the
version goes up, and the ACTIVITY_UPDATED event says what the set was and what it is now.
A bad ID or a set on the wrong kind changes nothing and writes no event.
"""

from __future__ import annotations

from typing import Any

from tests.client import Api
from tests.test_activities import (
    CREATE_COMPANY,
    CREATE_CONTACT,
    NODE,
    T0,
    appointment,
    create_opportunity,
    event_cursor,
    events_since,
    journal,
    my_task_ids,
    task,
    update,
)

MISSING_USER = "VXNlcjo5OTk5OTk="  # User:999999
PARTY_ACTIVITIES = """query($id: ID!) { node(id: $id) {
  ... on Company { activities { totalCount nodes { id } } }
  ... on Contact { activities { totalCount nodes { id } } } } }"""


async def company(api: Api, token: str, name: str) -> str:
    payload = await api.mutate("createCompany", CREATE_COMPANY, {"i": {"name": name}}, token)
    company_id: str = payload["company"]["id"]
    return company_id


async def contact(api: Api, token: str, last_name: str) -> str:
    values = {"firstName": "Ann", "lastName": last_name}
    payload = await api.mutate("createContact", CREATE_CONTACT, {"i": values}, token)
    contact_id: str = payload["contact"]["id"]
    return contact_id


def attendee_ids(activity: dict[str, Any]) -> list[str]:
    return [a["id"] for a in activity["attendees"]]


def changes_of(event: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {c["field"]: (c["old"], c["new"]) for c in event["changes"]}


async def test_replacing_attendees_stores_the_new_set_and_reports_both(
    api: Api, admin_token: str
) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    alice_id, _ = await api.create_user(admin_token, "alice@example.com")
    bob_id, _ = await api.create_user(admin_token, "bob@example.com")
    ann = await contact(api, admin_token, "Lee")
    meeting = await appointment(api, admin_token, opportunity_id, T0, attendeeIds=[alice_id, ann])
    assert set(attendee_ids(meeting)) == {alice_id, ann}
    since = await event_cursor(api, admin_token)
    payload = await update(api, admin_token, meeting, attendeeIds=[ann, bob_id])
    assert payload["userErrors"] == []
    changed = payload["activity"]
    assert set(attendee_ids(changed)) == {ann, bob_id}
    assert changed["version"] == meeting["version"] + 1
    assert (await api.ok(NODE, {"id": meeting["id"]}, admin_token))["node"] == changed
    (event,) = await events_since(api, admin_token, since, opportunity_id, 1)
    assert event["kind"] == "ACTIVITY_UPDATED"
    old, new = changes_of(event)["attendees"]
    assert set(old) == {alice_id, ann}
    assert set(new) == {ann, bob_id}


async def test_the_same_attendees_again_change_nothing(api: Api, admin_token: str) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    alice_id, _ = await api.create_user(admin_token, "alice@example.com")
    meeting = await appointment(api, admin_token, opportunity_id, T0, attendeeIds=[alice_id])
    since = await event_cursor(api, admin_token)
    payload = await update(api, admin_token, meeting, attendeeIds=[alice_id, alice_id])
    assert payload["userErrors"] == []
    assert payload["activity"]["version"] == meeting["version"]
    assert await event_cursor(api, admin_token) == since


async def test_an_empty_list_removes_every_attendee(api: Api, admin_token: str) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    alice_id, _ = await api.create_user(admin_token, "alice@example.com")
    meeting = await appointment(api, admin_token, opportunity_id, T0, attendeeIds=[alice_id])
    payload = await update(api, admin_token, meeting, attendeeIds=[])
    assert payload["userErrors"] == []
    assert payload["activity"]["attendees"] == []


async def test_a_bad_attendee_or_attendees_on_a_journal_change_nothing(
    api: Api, admin_token: str
) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    alice_id, _ = await api.create_user(admin_token, "alice@example.com")
    meeting = await appointment(api, admin_token, opportunity_id, T0, attendeeIds=[alice_id])
    note = await journal(api, admin_token, opportunity_id)
    since = await event_cursor(api, admin_token)
    missing = await update(api, admin_token, meeting, attendeeIds=[MISSING_USER], subject="New")
    assert [(e["code"], e["field"]) for e in missing["userErrors"]] == [
        ("NOT_FOUND", ["attendeeIds"])
    ]
    wrong_type = await update(api, admin_token, meeting, attendeeIds=[opportunity_id])
    assert [e["code"] for e in wrong_type["userErrors"]] == ["INVALID_ID"]
    on_journal = await update(api, admin_token, note, attendeeIds=[alice_id])
    assert [(e["code"], e["field"]) for e in on_journal["userErrors"]] == [
        ("INVALID", ["attendeeIds"])
    ]
    assert (await api.ok(NODE, {"id": meeting["id"]}, admin_token))["node"] == meeting
    assert (await api.ok(NODE, {"id": note["id"]}, admin_token))["node"] == note
    assert await event_cursor(api, admin_token) == since


async def test_reassigning_a_task_moves_it_between_task_lists(api: Api, admin_token: str) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    bob_id, bob = await api.create_user(admin_token, "bob@example.com")
    todo = await task(api, admin_token, opportunity_id)
    since = await event_cursor(api, admin_token)
    payload = await update(api, admin_token, todo, assigneeId=bob_id)
    assert payload["userErrors"] == []
    assert payload["activity"]["assignee"]["id"] == bob_id
    assert await my_task_ids(api, bob) == [todo["id"]]
    assert await my_task_ids(api, admin_token) == []
    (event,) = await events_since(api, admin_token, since, opportunity_id, 1)
    old, new = changes_of(event)["assignee"]
    assert new == bob_id and old != bob_id


async def test_a_task_cannot_be_reassigned_to_an_outsider_or_to_nobody(
    api: Api, admin_token: str
) -> None:
    _, owner = await api.create_user(admin_token, "owner@example.com")
    outsider_id, _ = await api.create_user(admin_token, "outsider@example.com")
    opportunity_id = await create_opportunity(api, owner, visibility="PRIVATE")
    todo = await task(api, owner, opportunity_id)
    since = await event_cursor(api, admin_token)
    hidden = await update(api, owner, todo, assigneeId=outsider_id)
    assert [(e["code"], e["field"]) for e in hidden["userErrors"]] == [("INVALID", ["assigneeId"])]
    nobody = await update(api, owner, todo, assigneeId=None)
    assert [(e["code"], e["field"]) for e in nobody["userErrors"]] == [("REQUIRED", ["assigneeId"])]
    missing = await update(api, owner, todo, assigneeId=MISSING_USER)
    assert [(e["code"], e["field"]) for e in missing["userErrors"]] == [
        ("NOT_FOUND", ["assigneeId"])
    ]
    assert (await api.ok(NODE, {"id": todo["id"]}, owner))["node"] == todo
    assert await event_cursor(api, admin_token) == since


async def test_assignee_is_not_a_field_of_a_journal(api: Api, admin_token: str) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    bob_id, _ = await api.create_user(admin_token, "bob@example.com")
    note = await journal(api, admin_token, opportunity_id)
    payload = await update(api, admin_token, note, assigneeId=bob_id)
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("INVALID", ["assigneeId"])]


async def test_refiling_an_activity_under_other_companies_and_contacts(
    api: Api, admin_token: str
) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    acme, globex = (
        await company(api, admin_token, "Acme"),
        await company(api, admin_token, "Globex"),
    )
    ann = await contact(api, admin_token, "Lee")
    note = await journal(
        api, admin_token, opportunity_id, links={"companyIds": [acme], "contactIds": [ann]}
    )
    since = await event_cursor(api, admin_token)
    # Only the companies are named: the contacts stay as they are.
    payload = await update(api, admin_token, note, links={"companyIds": [globex]})
    assert payload["userErrors"] == []
    changed = payload["activity"]
    assert [c["id"] for c in changed["companies"]] == [globex]
    assert [c["id"] for c in changed["contacts"]] == [ann]
    listed = {
        party: (await api.ok(PARTY_ACTIVITIES, {"id": party}, admin_token))["node"]["activities"]
        for party in (acme, globex, ann)
    }
    assert listed[acme] == {"totalCount": 0, "nodes": []}
    assert listed[globex] == {"totalCount": 1, "nodes": [{"id": note["id"]}]}
    assert listed[ann] == {"totalCount": 1, "nodes": [{"id": note["id"]}]}
    (event,) = await events_since(api, admin_token, since, opportunity_id, 1)
    assert changes_of(event)["companies"] == ([acme], [globex])
    assert "contacts" not in changes_of(event)


async def test_refiling_under_an_unknown_company_changes_nothing(
    api: Api, admin_token: str
) -> None:
    opportunity_id = await create_opportunity(api, admin_token)
    acme = await company(api, admin_token, "Acme")
    note = await journal(api, admin_token, opportunity_id, links={"companyIds": [acme]})
    since = await event_cursor(api, admin_token)
    payload = await update(
        api, admin_token, note, body="changed", links={"companyIds": ["Q29tcGFueTo5OTk5OTk="]}
    )
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("NOT_FOUND", ["companyIds"])
    ]
    assert (await api.ok(NODE, {"id": note["id"]}, admin_token))["node"] == note
    assert await event_cursor(api, admin_token) == since
