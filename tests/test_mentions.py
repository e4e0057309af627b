"""@mentions (issue 15 point 3) through the GraphQL API.

Handles (`User.handle`, `Team.handle`: made from the e-mail or the team's name, changed by
admins); `@handle` in a journal's body, a task's description and an appointment's notes,
stored as links and read back as `mentions` and `bodySpans`; a mention of someone who cannot
see the deal refused with MENTION_NOT_ALLOWED, nothing saved and nobody told; the MENTIONED
notifications a mention gives, once per person; hostile texts refused with a clear error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.client import Api

WHO = "user { id handle } team { id handle }"
TEXTS = f"""
fragment T on Activity {{
  id kind
  ... on Journal {{ body mentions {{ handle {WHO} }} bodySpans {{ text {WHO} }} }}
  ... on Task {{ description mentions {{ handle {WHO} }} bodySpans {{ text {WHO} }} }}
  ... on Appointment {{ notes mentions {{ handle {WHO} }} bodySpans {{ text {WHO} }} }}
}}
"""


def activity_mutation(name: str) -> str:
    input_type = name[0].upper() + name[1:] + "Input"
    return (
        TEXTS
        + f"""mutation($i: {input_type}!) {{ {name}(input: $i) {{
      activity {{ ...T }} userErrors {{ field code message }} }} }}"""
    )


ADD_JOURNAL = activity_mutation("addJournal")
ADD_TASK = activity_mutation("addTask")
ADD_APPOINTMENT = activity_mutation("addAppointment")
UPDATE_ACTIVITY = activity_mutation("updateActivity")
NODE = TEXTS + "query($id: ID!) { node(id: $id) { ...T } }"
TIMELINE = (
    TEXTS
    + """query($id: ID!) { opportunity(id: $id) {
  timeline(first: 50) { totalCount edges { node { activity { ...T } } } } } }"""
)
CREATE_OPPORTUNITY = """mutation($i: CreateOpportunityInput!) { createOpportunity(input: $i) {
  opportunity { id } userErrors { code message } } }"""
LINK = """mutation($i: LinkParticipantInput!) { linkParticipant(input: $i) {
  participant { id } userErrors { field code message } } }"""
CREATE_USER = """mutation($i: CreateUserInput!) { createUser(input: $i) {
  user { id handle } userErrors { field code message } } }"""
UPDATE_USER = """mutation($i: UpdateUserInput!) { updateUser(input: $i) {
  user { id name handle } userErrors { field code message } } }"""
CREATE_TEAM = """mutation($i: CreateTeamInput!) { createTeam(input: $i) {
  team { id name handle } userErrors { field code message } } }"""
RENAME_TEAM = """mutation($i: RenameTeamInput!) { renameTeam(input: $i) {
  team { id name handle } userErrors { field code message } } }"""
ADD_MEMBER = """mutation($team: ID!, $user: ID!) {
  addTeamMember(input: {teamId: $team, userId: $user}) { team { id } userErrors { code } } }"""
HANDLES = "{ me { handle } users { id email handle } teams { id name handle } }"
NOTIFICATIONS = """{ unreadNotificationCount notifications(first: 50) {
  totalCount edges { node { kind summary opportunity { id } activity { id } } } } }"""

PASSWORD = "correct horse battery"


@dataclass
class Person:
    id: str
    token: str
    handle: str


@dataclass
class World:
    api: Api
    admin: str
    ola: Person
    """Writes the notes; owns the private deal."""
    mia: Person
    """Ola's teammate, linked to the deal."""
    jo: Person
    """An outsider: cannot see the private deal."""
    kim: Person
    deal: str


async def person(api: Api, admin: str, email: str, name: str) -> Person:
    user_id, token = await api.create_user(admin, email, name=name)
    handle = next(
        u["handle"] for u in (await api.ok(HANDLES, token=admin))["users"] if u["id"] == user_id
    )
    return Person(user_id, token, handle)


async def opportunity(api: Api, token: str, **fields: Any) -> str:
    values = {
        "name": "Atlas renewal",
        "expectedValue": {"amount": "1000.00", "currency": "EUR"},
        **fields,
    }
    payload = await api.mutate("createOpportunity", CREATE_OPPORTUNITY, {"i": values}, token)
    deal: str = payload["opportunity"]["id"]
    return deal


async def link(api: Api, token: str, deal: str, target: str) -> None:
    values = {"opportunityId": deal, "participantId": target, "role": "SALES_REP"}
    await api.mutate("linkParticipant", LINK, {"i": values}, token)


@pytest.fixture
async def world(api: Api, admin_token: str) -> World:
    ola = await person(api, admin_token, "ola@example.com", "Ola Berg")
    mia = await person(api, admin_token, "mia.keller@example.com", "Mia Keller")
    jo = await person(api, admin_token, "jo@example.com", "Jo Outsider")
    kim = await person(api, admin_token, "kim@example.com", "Kim Lee")
    deal = await opportunity(api, ola.token, visibility="PRIVATE")
    await link(api, ola.token, deal, mia.id)
    return World(api, admin_token, ola, mia, jo, kim, deal)


async def run(api: Api, mutation: str, document: str, token: str, **values: Any) -> dict[str, Any]:
    """The payload of `mutation`, userErrors and all."""
    payload: dict[str, Any] = (await api.ok(document, {"i": values}, token))[mutation]
    return payload


async def write(w: World, body: str, token: str | None = None) -> dict[str, Any]:
    payload = await run(
        w.api, "addJournal", ADD_JOURNAL, token or w.ola.token, opportunityId=w.deal, body=body
    )
    assert payload["userErrors"] == [], payload
    activity: dict[str, Any] = payload["activity"]
    return activity


def user(p: Person) -> dict[str, Any]:
    return {"id": p.id, "handle": p.handle}


def spans(activity: dict[str, Any]) -> list[tuple[str, str | None, str | None]]:
    """(text, user ID, team ID) of each span."""
    return [
        (s["text"], s["user"] and s["user"]["id"], s["team"] and s["team"]["id"])
        for s in activity["bodySpans"]
    ]


async def notifications(api: Api, token: str) -> list[dict[str, Any]]:
    found = await api.ok(NOTIFICATIONS, token=token)
    nodes = [e["node"] for e in found["notifications"]["edges"]]
    assert found["notifications"]["totalCount"] == len(nodes)
    assert found["unreadNotificationCount"] == len(nodes)
    return nodes


async def mentioned(api: Api, token: str) -> list[dict[str, Any]]:
    return [n for n in await notifications(api, token) if n["kind"] == "MENTIONED"]


async def timeline(w: World, token: str) -> dict[str, Any]:
    found: dict[str, Any] = (await w.api.ok(TIMELINE, {"id": w.deal}, token))["opportunity"][
        "timeline"
    ]
    return found


# Handles.


async def test_handles_are_made_from_the_email_and_the_team_name(
    api: Api, admin_token: str
) -> None:
    mia = await person(api, admin_token, "Mia.Keller+crm@example.com", "Mia Keller")
    other = await person(api, admin_token, "mia.keller@other.example", "Mia K")
    odd = await person(api, admin_token, "--@example.com", "Nobody")
    assert (mia.handle, other.handle, odd.handle) == ("mia.keller", "mia.keller2", "user")
    me = (await api.ok(HANDLES, token=mia.token))["me"]
    assert me == {"handle": "mia.keller"}
    made = await run(api, "createTeam", CREATE_TEAM, admin_token, name="Sales Ëast (DACH)")
    assert made["team"]["handle"] == "sales-east-dach"
    # Users and teams share one namespace.
    same = await run(api, "createTeam", CREATE_TEAM, admin_token, name="Mia Keller")
    assert same["team"]["handle"] == "mia-keller"
    clash = await run(api, "createTeam", CREATE_TEAM, admin_token, name="mia.keller")
    assert clash["team"]["handle"] == "mia.keller3"


async def test_admins_change_handles_and_renaming_keeps_them(api: Api, admin_token: str) -> None:
    mia = await person(api, admin_token, "mia@example.com", "Mia")
    team = (await run(api, "createTeam", CREATE_TEAM, admin_token, name="Sales"))["team"]

    changed = await run(api, "updateUser", UPDATE_USER, admin_token, id=mia.id, handle="@Mia.K")
    assert changed == {
        "user": {"id": mia.id, "name": "Mia", "handle": "mia.k"},
        "userErrors": [],
    }
    renamed = await run(api, "renameTeam", RENAME_TEAM, admin_token, id=team["id"], name="Sales EU")
    assert renamed["team"] == {"id": team["id"], "name": "Sales EU", "handle": "sales"}
    rehandled = await run(
        api, "renameTeam", RENAME_TEAM, admin_token, id=team["id"], handle="sales-eu"
    )
    assert rehandled["team"] == {"id": team["id"], "name": "Sales EU", "handle": "sales-eu"}

    refusals = {
        "sales-eu": ("DUPLICATE", "@sales-eu is taken"),
        "admin": ("DUPLICATE", "@admin is taken"),
        "mia k": ("INVALID", None),
        "-mia": ("INVALID", None),
        "mïa": ("INVALID", None),
        "": ("REQUIRED", "handle must not be empty"),
        "m" * 41: ("TOO_LONG", "handle is longer than 40 characters"),
        "m" * 10_000: ("TOO_LONG", "handle is longer than 40 characters"),
    }
    for handle, (code, message) in refusals.items():
        refused = await run(api, "updateUser", UPDATE_USER, admin_token, id=mia.id, handle=handle)
        assert refused["user"] is None
        [error] = refused["userErrors"]
        assert (error["field"], error["code"]) == (["handle"], code), (handle, error)
        if message:
            assert error["message"] == message
    taken = await run(api, "renameTeam", RENAME_TEAM, admin_token, id=team["id"], handle="mia.k")
    assert taken["userErrors"] == [
        {"field": ["handle"], "code": "DUPLICATE", "message": "@mia.k is taken"}
    ]
    # Members may not change handles, their own neither.
    member = await run(api, "updateUser", UPDATE_USER, mia.token, id=mia.id, handle="queen")
    assert [e["code"] for e in member["userErrors"]] == ["FORBIDDEN"]
    users = (await api.ok(HANDLES, token=mia.token))["users"]
    assert {u["handle"] for u in users} == {"admin", "mia.k"}


# Journals.


async def test_a_mention_of_a_teammate_is_stored_spanned_and_notified(world: World) -> None:
    w = world
    body = "Hi @Mia.Keller, mail a@b.com or @nobody (cc @mia.keller). Thanks!"
    written = await write(w, body)
    expected_spans = [
        ("Hi ", None, None),
        ("@Mia.Keller", w.mia.id, None),
        (", mail a@b.com or @nobody (cc ", None, None),
        ("@mia.keller", w.mia.id, None),
        ("). Thanks!", None, None),
    ]
    assert spans(written) == expected_spans
    assert "".join(s[0] for s in expected_spans) == body
    assert written["mentions"] == [{"handle": "mia.keller", "user": user(w.mia), "team": None}]
    # Read back: by id, and on the timeline (the mentions of a page read at once).
    for token in (w.ola.token, w.mia.token):
        again = (await w.api.ok(NODE, {"id": written["id"]}, token))["node"]
        assert again == written
        entries = [e["node"]["activity"] for e in (await timeline(w, token))["edges"]]
        assert [a for a in entries if a is not None] == [written]

    [notice] = await mentioned(w.api, w.mia.token)
    assert notice["activity"] == {"id": written["id"]}
    assert notice["opportunity"] == {"id": w.deal}
    assert "Ola Berg mentioned you" in notice["summary"]
    assert "@Mia.Keller" in notice["summary"]
    # The writer is not told of their own note; nobody else is told anything.
    assert await mentioned(w.api, w.ola.token) == []
    assert await notifications(w.api, w.jo.token) == []


async def test_what_is_not_a_mention_stays_plain_text(world: World) -> None:
    w = world
    await w.api.mutate(
        "updateUser", UPDATE_USER, {"i": {"id": w.kim.id, "isActive": False}}, w.admin
    )
    texts = [
        "write to mia.keller@example.com",
        "see https://example.com/@mia.keller",
        "x@mia.keller and mia@mia.keller",
        "@mia.keller@example.com",
        "@mia.kellerx and @mia_keller",
        "@nobody-here",
        "@kim is away",  # deactivated: plain, not refused
        "@" + "m" * 5000,
        "@müller",
        "@ alone",
    ]
    for body in texts:
        written = await write(w, body)
        assert spans(written) == [(body, None, None)], body
        assert written["mentions"] == []
    assert await mentioned(w.api, w.mia.token) == []


async def test_punctuation_after_a_handle_is_not_part_of_it(world: World) -> None:
    w = world
    written = await write(w, "@mia.keller... @MIA.KELLER- @mia.keller_?")
    assert spans(written) == [
        ("@mia.keller", w.mia.id, None),
        ("... ", None, None),
        ("@MIA.KELLER", w.mia.id, None),
        ("- ", None, None),
        ("@mia.keller", w.mia.id, None),
        ("_?", None, None),
    ]


async def test_a_mention_of_an_outsider_is_refused_and_leaks_nothing(world: World) -> None:
    w = world
    before = await timeline(w, w.ola.token)
    payload = await run(
        w.api,
        "addJournal",
        ADD_JOURNAL,
        w.ola.token,
        opportunityId=w.deal,
        body="@mia.keller and @jo: the price is 40k",
    )
    assert payload == {
        "activity": None,
        "userErrors": [
            {
                "field": ["body"],
                "code": "MENTION_NOT_ALLOWED",
                "message": "@jo cannot see this opportunity: link them to it first, or remove "
                "the mention",
            }
        ],
    }
    assert await timeline(w, w.ola.token) == before
    assert await notifications(w.api, w.jo.token) == []
    # Not Mia either: nothing was saved, so nothing was said.
    assert await mentioned(w.api, w.mia.token) == []
    # Several at once are named together.
    payload = await run(
        w.api,
        "addJournal",
        ADD_JOURNAL,
        w.ola.token,
        opportunityId=w.deal,
        body="@kim, @jo",
    )
    assert payload["userErrors"][0]["message"].startswith(
        "@kim and @jo cannot see this opportunity"
    )
    # Once linked, Jo may be mentioned.
    await link(w.api, w.ola.token, w.deal, w.jo.id)
    written = await write(w, "@jo: the price is 40k")
    assert written["mentions"] == [{"handle": "jo", "user": user(w.jo), "team": None}]
    assert len(await mentioned(w.api, w.jo.token)) == 1


async def test_on_a_public_deal_anyone_may_be_mentioned_and_admins_everywhere(
    world: World,
) -> None:
    w = world
    admin_handle = "admin"
    written = await write(w, f"@{admin_handle} please approve")
    assert [m["user"]["handle"] for m in written["mentions"]] == [admin_handle]
    public = await opportunity(w.api, w.ola.token, visibility="PUBLIC")
    payload = await run(
        w.api, "addJournal", ADD_JOURNAL, w.ola.token, opportunityId=public, body="@jo see this"
    )
    assert payload["userErrors"] == []
    assert [m["user"]["id"] for m in payload["activity"]["mentions"]] == [w.jo.id]


async def test_a_team_mention_needs_every_member_to_see_the_deal(world: World) -> None:
    w = world
    team = (await run(w.api, "createTeam", CREATE_TEAM, w.admin, name="Sales East"))["team"]
    for member in (w.mia, w.kim):
        await w.api.mutate(
            "addTeamMember", ADD_MEMBER, {"team": team["id"], "user": member.id}, w.admin
        )

    refused = await run(
        w.api,
        "addJournal",
        ADD_JOURNAL,
        w.ola.token,
        opportunityId=w.deal,
        body="@sales-east heads up",
    )
    assert refused["activity"] is None
    assert refused["userErrors"] == [
        {
            "field": ["body"],
            "code": "MENTION_NOT_ALLOWED",
            "message": "not everyone in @sales-east can see this opportunity: link them to it "
            "first, or remove the mention",
        }
    ]
    assert await notifications(w.api, w.kim.token) == []

    await link(w.api, w.ola.token, w.deal, team["id"])
    written = await write(w, "@Sales-East heads up, @mia.keller too")
    team_ref = {"id": team["id"], "handle": "sales-east"}
    assert written["mentions"] == [
        {"handle": "sales-east", "user": None, "team": team_ref},
        {"handle": "mia.keller", "user": user(w.mia), "team": None},
    ]
    assert spans(written) == [
        ("@Sales-East", None, team["id"]),
        (" heads up, ", None, None),
        ("@mia.keller", w.mia.id, None),
        (" too", None, None),
    ]
    # Each member is told once, though Mia is mentioned twice over.
    assert len(await mentioned(w.api, w.mia.token)) == 1
    assert len(await mentioned(w.api, w.kim.token)) == 1
    assert await mentioned(w.api, w.ola.token) == []


async def test_an_edit_replaces_the_mentions_and_tells_only_the_newly_mentioned(
    world: World,
) -> None:
    w = world
    await link(w.api, w.ola.token, w.deal, w.kim.id)
    written = await write(w, "@mia.keller see this")
    assert len(await mentioned(w.api, w.mia.token)) == 1

    async def edit(version: int, body: str) -> dict[str, Any]:
        payload = await run(
            w.api,
            "updateActivity",
            UPDATE_ACTIVITY,
            w.ola.token,
            id=written["id"],
            expectedVersion=version,
            body=body,
        )
        assert payload["userErrors"] == [], payload
        activity: dict[str, Any] = payload["activity"]
        return activity

    edited = await edit(1, "Fixed a typo. @mia.keller see this")
    assert spans(edited) == [
        ("Fixed a typo. ", None, None),
        ("@mia.keller", w.mia.id, None),
        (" see this", None, None),
    ]
    assert len(await mentioned(w.api, w.mia.token)) == 1

    edited = await edit(2, "@kim and @mia.keller see this")
    assert [m["user"]["id"] for m in edited["mentions"]] == [w.kim.id, w.mia.id]
    assert len(await mentioned(w.api, w.mia.token)) == 1
    assert len(await mentioned(w.api, w.kim.token)) == 1

    edited = await edit(3, "nobody now")
    assert edited["mentions"] == []
    assert spans(edited) == [("nobody now", None, None)]

    # A refused edit changes nothing.
    refused = await run(
        w.api,
        "updateActivity",
        UPDATE_ACTIVITY,
        w.ola.token,
        id=written["id"],
        expectedVersion=4,
        body="@jo look",
    )
    assert [e["code"] for e in refused["userErrors"]] == ["MENTION_NOT_ALLOWED"]
    again = (await w.api.ok(NODE, {"id": written["id"]}, w.ola.token))["node"]
    assert again == edited
    # Mentioning Mia again, after a version without her, tells her again.
    await edit(4, "@mia.keller back to you")
    assert len(await mentioned(w.api, w.mia.token)) == 2
    assert await notifications(w.api, w.jo.token) == []


# Tasks and appointments.


async def test_task_descriptions_and_appointment_notes_carry_mentions(world: World) -> None:
    w = world
    added = await run(
        w.api,
        "addTask",
        ADD_TASK,
        w.ola.token,
        opportunityId=w.deal,
        title="Call @mia.keller",  # titles carry no mentions
        description="with @mia.keller.",
    )
    assert added["userErrors"] == []
    task = added["activity"]
    assert spans(task) == [
        ("with ", None, None),
        ("@mia.keller", w.mia.id, None),
        (".", None, None),
    ]
    assert task["mentions"] == [{"handle": "mia.keller", "user": user(w.mia), "team": None}]

    refused = await run(
        w.api,
        "updateActivity",
        UPDATE_ACTIVITY,
        w.ola.token,
        id=task["id"],
        expectedVersion=1,
        description="@jo too",
    )
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [
        (["description"], "MENTION_NOT_ALLOWED")
    ]
    cleared = await run(
        w.api,
        "updateActivity",
        UPDATE_ACTIVITY,
        w.ola.token,
        id=task["id"],
        expectedVersion=1,
        description=None,
    )
    assert cleared["activity"]["bodySpans"] == []
    assert cleared["activity"]["mentions"] == []

    appointment = {
        "opportunityId": w.deal,
        "subject": "Demo",
        "startsAt": "2031-03-10T09:00:00+00:00",
        "endsAt": "2031-03-10T10:00:00+00:00",
    }
    refused = await run(
        w.api, "addAppointment", ADD_APPOINTMENT, w.ola.token, **appointment, notes="@jo drives"
    )
    assert refused["activity"] is None
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [
        (["notes"], "MENTION_NOT_ALLOWED")
    ]
    added = await run(
        w.api,
        "addAppointment",
        ADD_APPOINTMENT,
        w.ola.token,
        **appointment,
        notes="@mia.keller drives",
    )
    meeting = added["activity"]
    assert spans(meeting) == [("@mia.keller", w.mia.id, None), (" drives", None, None)]
    assert len(await mentioned(w.api, w.mia.token)) == 2
    assert await notifications(w.api, w.jo.token) == []


# Hostile input.


async def test_hostile_texts_get_a_clear_error(world: World, api: Api) -> None:
    w = world
    before = await timeline(w, w.ola.token)

    async def refused(body: str) -> dict[str, Any]:
        payload = await run(
            api, "addJournal", ADD_JOURNAL, w.ola.token, opportunityId=w.deal, body=body
        )
        assert payload["activity"] is None
        [error] = payload["userErrors"]
        assert error["field"] == ["body"]
        found: dict[str, Any] = error
        return found

    error = await refused("@mia.keller " * 1000)
    assert error == {
        "field": ["body"],
        "code": "INVALID",
        "message": "body holds 1000 mentions; at most 200 fit in one text",
    }
    error = await refused(" ".join(f"@someone{i}" for i in range(1001)))
    assert error["code"] == "INVALID"
    assert error["message"] == "body holds 1001 different @names; at most 1000 are looked up"
    # Distinct people: at most 50. (On a public deal, so all may be mentioned.)
    public = await opportunity(api, w.ola.token, visibility="PUBLIC")
    handles = []
    for i in range(51):
        payload = await api.mutate(
            "createUser",
            CREATE_USER,
            {"i": {"email": f"crowd{i}@example.com", "name": f"Crowd {i}", "password": PASSWORD}},
            w.admin,
        )
        handles.append(payload["user"]["handle"])
    crowd = " ".join(f"@{h}" for h in handles)
    payload = await run(
        api, "addJournal", ADD_JOURNAL, w.ola.token, opportunityId=public, body=crowd
    )
    assert payload["userErrors"] == [
        {
            "field": ["body"],
            "code": "INVALID",
            "message": "body mentions 51 users and teams; at most 50 may be mentioned in one text",
        }
    ]
    fifty = " ".join(f"@{h}" for h in handles[:50])
    payload = await run(
        api, "addJournal", ADD_JOURNAL, w.ola.token, opportunityId=public, body=fifty
    )
    assert len(payload["activity"]["mentions"]) == 50
    # A text too long is refused as before, mentions or not.
    error = await refused("@mia.keller " + "x" * 100_000)
    assert error["code"] == "TOO_LONG"
    assert await timeline(w, w.ola.token) == before
    assert await mentioned(api, w.mia.token) == []


# Autocompletion.

MENTIONABLE = """query($id: ID!, $search: String, $first: Int) { opportunity(id: $id) {
  owner { handle }
  participants { target { ... on User { handle } ... on Team { handle } } }
  mentionable(search: $search, first: $first) { handle user { id } team { id } } } }"""


async def test_mentionable_lists_who_may_be_mentioned(world: World) -> None:
    w = world
    desk = (await run(w.api, "createTeam", CREATE_TEAM, w.admin, name="Deal Desk"))["team"]
    east = (await run(w.api, "createTeam", CREATE_TEAM, w.admin, name="Sales East"))["team"]
    await w.api.mutate("addTeamMember", ADD_MEMBER, {"team": desk["id"], "user": w.mia.id}, w.admin)
    for member in (w.mia, w.kim):
        await w.api.mutate(
            "addTeamMember", ADD_MEMBER, {"team": east["id"], "user": member.id}, w.admin
        )

    async def handles(deal: str, search: str | None = None, first: int = 10) -> list[str]:
        variables = {"id": deal, "search": search, "first": first}
        found = (await w.api.ok(MENTIONABLE, variables, w.ola.token))["opportunity"]
        return [m["handle"] for m in found["mentionable"]]

    opportunity_read = (await w.api.ok(MENTIONABLE, {"id": w.deal}, w.ola.token))["opportunity"]
    assert opportunity_read["owner"] == {"handle": "ola"}
    assert opportunity_read["participants"] == [{"target": {"handle": "mia.keller"}}]
    # Jo and Kim cannot see the private deal, nor can all of Sales East.
    assert await handles(w.deal) == ["admin", "mia.keller", "ola", "deal-desk"]
    assert await handles(w.deal, first=2) == ["admin", "mia.keller"]
    assert await handles(w.deal, "@MI") == ["mia.keller"]
    assert await handles(w.deal, "kel") == ["mia.keller"]  # a word of the name
    assert await handles(w.deal, "berg") == ["ola"]
    assert await handles(w.deal, "desk") == ["deal-desk"]
    assert await handles(w.deal, "jo") == []
    assert await handles(w.deal, "%") == []
    public = await opportunity(w.api, w.ola.token, visibility="PUBLIC")
    assert await handles(public) == [
        "admin",
        "jo",
        "kim",
        "mia.keller",
        "ola",
        "deal-desk",
        "sales-east",
    ]
    for first in (0, 51):
        body = await w.api.gql(MENTIONABLE, {"id": w.deal, "first": first}, w.ola.token)
        [error] = body["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert error["message"] == "first must be between 1 and 50"
    # Outsiders get the deal as missing, and so nothing of who is on it.
    hidden = await w.api.ok(MENTIONABLE, {"id": w.deal}, w.jo.token)
    assert hidden == {"opportunity": None}
