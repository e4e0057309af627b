"""The opportunity timeline (issue 3 point 7) through the GraphQL API.

`opportunity.timeline(first, after, kinds)` merges the opportunity's activities with its own
history (created, stage changes, won, lost, reopened, participants linked), newest first by
occurredAt, each entry with its actor; it pages by cursor and filters by kind. The events that
activities themselves emit (ACTIVITY_ADDED, ...) are not history: the activity is already on
the timeline as itself. A private opportunity's timeline is unreachable for an outsider.
"""

from __future__ import annotations

from typing import Any

from tests.client import Api

CREATE = """mutation($i: CreateOpportunityInput!) { createOpportunity(input: $i) {
  opportunity { id version } userErrors { code message } } }"""
UPDATE = """mutation($i: UpdateOpportunityInput!) { updateOpportunity(input: $i) {
  opportunity { id version } userErrors { code message } } }"""
MARK_WON = """mutation($i: MarkOpportunityWonInput!) { markOpportunityWon(input: $i) {
  opportunity { id version } userErrors { code message } } }"""
MARK_LOST = """mutation($i: MarkOpportunityLostInput!) { markOpportunityLost(input: $i) {
  opportunity { id version } userErrors { code message } } }"""
REOPEN = """mutation($i: ReopenOpportunityInput!) { reopenOpportunity(input: $i) {
  opportunity { id version } userErrors { code message } } }"""
LINK = """mutation($i: LinkParticipantInput!) { linkParticipant(input: $i) {
  opportunity { id version } userErrors { code message } } }"""
ADD_JOURNAL = """mutation($i: AddJournalInput!) { addJournal(input: $i) {
  activity { id occurredAt } userErrors { code message } } }"""
ADD_TASK = """mutation($i: AddTaskInput!) { addTask(input: $i) {
  activity { id version occurredAt } userErrors { code message } } }"""
UPDATE_ACTIVITY = """mutation($i: UpdateActivityInput!) { updateActivity(input: $i) {
  activity { id } userErrors { code message } } }"""
SET_TASK_STATUS = """mutation($i: SetTaskStatusInput!) { setTaskStatus(input: $i) {
  activity { id } userErrors { code message } } }"""
DELETE_ACTIVITY = """mutation($i: DeleteActivityInput!) { deleteActivity(input: $i) {
  activity { id } userErrors { code message } } }"""
STAGES = "{ stages { id kind } }"
TIMELINE = """query($id: ID!, $first: Int, $after: String, $kinds: [TimelineKind!]) {
  opportunity(id: $id) {
    timeline(first: $first, after: $after, kinds: $kinds) {
      pageInfo { hasNextPage endCursor }
      totalCount
      edges { cursor node {
        kind occurredAt
        actor { id }
        activity { id kind createdBy { id } }
        change { cursor kind actor { id } changes { field old new } }
      } }
    }
  } }"""


async def mutate(api: Api, operation: str, document: str, token: str, **values: Any) -> Any:
    return await api.mutate(operation, document, {"i": values}, token)


async def create(api: Api, token: str, **fields: Any) -> dict[str, Any]:
    values = {"name": "Deal", "expectedValue": {"amount": "500.00", "currency": "EUR"}, **fields}
    opportunity: dict[str, Any] = (await mutate(api, "createOpportunity", CREATE, token, **values))[
        "opportunity"
    ]
    return opportunity


async def journal(api: Api, token: str, opportunity_id: str, **fields: Any) -> dict[str, Any]:
    values = {"opportunityId": opportunity_id, "body": "Note", **fields}
    activity: dict[str, Any] = (await mutate(api, "addJournal", ADD_JOURNAL, token, **values))[
        "activity"
    ]
    return activity


async def task(api: Api, token: str, opportunity_id: str) -> dict[str, Any]:
    values = {"opportunityId": opportunity_id, "title": "Follow up"}
    activity: dict[str, Any] = (await mutate(api, "addTask", ADD_TASK, token, **values))["activity"]
    return activity


async def timeline(
    api: Api,
    token: str,
    opportunity_id: str,
    first: int = 100,
    after: str | None = None,
    kinds: list[str] | None = None,
) -> dict[str, Any]:
    variables = {"id": opportunity_id, "first": first, "after": after, "kinds": kinds}
    connection: dict[str, Any] = (await api.ok(TIMELINE, variables, token))["opportunity"][
        "timeline"
    ]
    return connection


async def entries(api: Api, token: str, opportunity_id: str, **args: Any) -> list[dict[str, Any]]:
    return [e["node"] for e in (await timeline(api, token, opportunity_id, **args))["edges"]]


def label(entry: dict[str, Any]) -> str:
    """TASK, JOURNAL, ... for an activity; HISTORY:<event kind> for a change."""
    if entry["kind"] == "HISTORY":
        return f"HISTORY:{entry['change']['kind']}"
    assert entry["activity"]["kind"] == entry["kind"], entry
    return str(entry["kind"])


def identity(entry: dict[str, Any]) -> str:
    if entry["activity"] is not None:
        return f"A:{entry['activity']['id']}"
    return f"H:{entry['change']['cursor']}"


async def second_open_stage(api: Api, token: str) -> str:
    stages = (await api.ok(STAGES, token=token))["stages"]
    stage_id: str = [s["id"] for s in stages if s["kind"] == "OPEN"][1]
    return stage_id


async def test_activities_and_history_merge_newest_first(api: Api, admin_token: str) -> None:
    opportunity = await create(api, admin_token)
    opportunity_id = opportunity["id"]
    await journal(api, admin_token, opportunity_id)
    moved = await mutate(
        api, "updateOpportunity", UPDATE, admin_token,
        id=opportunity_id, expectedVersion=1, stageId=await second_open_stage(api, admin_token),
    )  # fmt: skip
    await task(api, admin_token, opportunity_id)
    await mutate(
        api, "markOpportunityWon", MARK_WON, admin_token,
        id=opportunity_id, expectedVersion=moved["opportunity"]["version"],
    )  # fmt: skip
    got = await entries(api, admin_token, opportunity_id)
    assert [label(e) for e in got] == [
        "HISTORY:WON",
        "TASK",
        "HISTORY:STAGE_CHANGED",
        "JOURNAL",
        "HISTORY:CREATED",
    ]
    times = [e["occurredAt"] for e in got]
    assert times == sorted(times, reverse=True)


async def test_an_activity_is_placed_by_its_occurred_at(api: Api, admin_token: str) -> None:
    opportunity_id = (await create(api, admin_token))["id"]
    old = await journal(api, admin_token, opportunity_id, occurredAt="2001-01-01T00:00:00+00:00")
    future = await journal(api, admin_token, opportunity_id, occurredAt="2099-01-01T00:00:00+00:00")
    got = await entries(api, admin_token, opportunity_id)
    assert [identity(e) for e in got] == [
        "A:" + future["id"],
        identity(got[1]),
        "A:" + old["id"],
    ]
    assert label(got[1]) == "HISTORY:CREATED"


async def test_each_entry_names_its_actor(api: Api, admin_token: str) -> None:
    alice_id, alice = await api.create_user(admin_token, "alice@example.com")
    bob_id, bob = await api.create_user(admin_token, "bob@example.com")
    opportunity_id = (await create(api, alice))["id"]
    await journal(api, bob, opportunity_id)
    note, created = await entries(api, alice, opportunity_id)
    assert note["actor"]["id"] == note["activity"]["createdBy"]["id"] == bob_id
    assert created["actor"]["id"] == created["change"]["actor"]["id"] == alice_id


async def test_lost_reopened_and_participant_linked_are_history(api: Api, admin_token: str) -> None:
    opportunity_id = (await create(api, admin_token))["id"]
    bob_id, _ = await api.create_user(admin_token, "bob@example.com")
    linked = await mutate(
        api, "linkParticipant", LINK, admin_token,
        opportunityId=opportunity_id, participantId=bob_id, role="PRESALES",
    )  # fmt: skip
    lost = await mutate(
        api, "markOpportunityLost", MARK_LOST, admin_token,
        id=opportunity_id, expectedVersion=linked["opportunity"]["version"],
    )  # fmt: skip
    await mutate(
        api, "reopenOpportunity", REOPEN, admin_token,
        id=opportunity_id, expectedVersion=lost["opportunity"]["version"],
    )  # fmt: skip
    got = await entries(api, admin_token, opportunity_id)
    assert [label(e) for e in got] == [
        "HISTORY:REOPENED",
        "HISTORY:LOST",
        "HISTORY:PARTICIPANT_LINKED",
        "HISTORY:CREATED",
    ]


async def test_kinds_filter_keeps_only_those_kinds(api: Api, admin_token: str) -> None:
    opportunity_id = (await create(api, admin_token))["id"]
    await journal(api, admin_token, opportunity_id)
    todo = await task(api, admin_token, opportunity_id)
    await journal(api, admin_token, opportunity_id)
    got = await entries(api, admin_token, opportunity_id, kinds=["TASK", "HISTORY"])
    assert [label(e) for e in got] == ["TASK", "HISTORY:CREATED"]
    assert got[0]["activity"]["id"] == todo["id"]
    journals = await entries(api, admin_token, opportunity_id, kinds=["JOURNAL"])
    assert [label(e) for e in journals] == ["JOURNAL", "JOURNAL"]
    counts = {
        None: 4,
        ("TASK", "HISTORY"): 2,
        ("JOURNAL",): 2,
        ("HISTORY",): 1,
        ("EMAIL",): 0,
    }
    for kinds, expected in counts.items():
        page = await timeline(
            api, admin_token, opportunity_id, first=1, kinds=list(kinds) if kinds else None
        )
        assert page["totalCount"] == expected, kinds


async def test_activity_events_are_not_history_entries(api: Api, admin_token: str) -> None:
    opportunity_id = (await create(api, admin_token))["id"]
    todo = await task(api, admin_token, opportunity_id)
    await mutate(
        api, "updateActivity", UPDATE_ACTIVITY, admin_token,
        id=todo["id"], expectedVersion=todo["version"], title="Follow up soon",
    )  # fmt: skip
    await mutate(api, "setTaskStatus", SET_TASK_STATUS, admin_token, id=todo["id"], status="DONE")
    note = await journal(api, admin_token, opportunity_id)
    await mutate(api, "deleteActivity", DELETE_ACTIVITY, admin_token, id=note["id"])
    got = await entries(api, admin_token, opportunity_id)
    assert [label(e) for e in got] == ["TASK", "HISTORY:CREATED"]
    history = await entries(api, admin_token, opportunity_id, kinds=["HISTORY"])
    assert [label(e) for e in history] == ["HISTORY:CREATED"]


async def test_pages_cover_the_whole_timeline_without_gaps_or_repeats(
    api: Api, admin_token: str
) -> None:
    opportunity_id = (await create(api, admin_token))["id"]
    for i in range(4):
        await journal(api, admin_token, opportunity_id, occurredAt=f"2030-01-0{i + 1}T00:00:00Z")
    for _ in range(3):  # equal times: ties must still page deterministically
        await journal(api, admin_token, opportunity_id, occurredAt="2030-02-01T00:00:00Z")
        await task(api, admin_token, opportunity_id)
    whole = [identity(e) for e in await entries(api, admin_token, opportunity_id)]
    assert len(whole) == 11
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = await timeline(api, admin_token, opportunity_id, first=3, after=after)
        pages += 1
        seen += [identity(e["node"]) for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        assert pages < 10, "paging does not end"
    assert seen == whole
    assert pages == 4


async def test_a_cursor_from_another_kinds_filter_is_refused(api: Api, admin_token: str) -> None:
    opportunity_id = (await create(api, admin_token))["id"]
    for _ in range(3):
        await journal(api, admin_token, opportunity_id)
    page = await timeline(api, admin_token, opportunity_id, first=1, kinds=["JOURNAL"])
    cursor = page["pageInfo"]["endCursor"]
    variables = {"id": opportunity_id, "first": 1, "after": cursor, "kinds": ["TASK"]}
    body = await api.gql(TIMELINE, variables, admin_token)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
    same = await timeline(
        api, admin_token, opportunity_id, first=5, after=cursor, kinds=["JOURNAL"]
    )
    assert len(same["edges"]) == 2


async def test_a_garbage_cursor_or_page_size_is_a_bad_input(api: Api, admin_token: str) -> None:
    opportunity_id = (await create(api, admin_token))["id"]
    for variables in (
        {"id": opportunity_id, "after": "garbage"},
        {"id": opportunity_id, "first": 101},
        {"id": opportunity_id, "first": -1},
    ):
        body = await api.gql(TIMELINE, variables, admin_token)
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body


async def test_an_outsider_cannot_read_a_private_timeline(api: Api, admin_token: str) -> None:
    _, owner = await api.create_user(admin_token, "owner@example.com")
    _, outsider = await api.create_user(admin_token, "outsider@example.com")
    opportunity_id = (await create(api, owner, visibility="PRIVATE"))["id"]
    await journal(api, owner, opportunity_id)
    assert len(await entries(api, owner, opportunity_id)) == 2
    data = await api.ok(TIMELINE, {"id": opportunity_id}, outsider)
    assert data["opportunity"] is None


async def test_an_entry_shows_whatever_is_asked_of_it(api: Api, admin_token: str) -> None:
    """However little or much a query asks of the entries (one field; every field of each
    kind of activity; the deal as a change left it, beside another query that does not ask
    for it), each answer is whole and right."""
    opportunity_id = (await create(api, admin_token, name="Before"))["id"]
    await journal(api, admin_token, opportunity_id, title="Call", body="Talked")
    await mutate(
        api, "updateOpportunity", UPDATE, admin_token,
        id=opportunity_id, expectedVersion=1, name="After",
    )  # fmt: skip
    await task(api, admin_token, opportunity_id)
    little = """query($id: ID!) { opportunity(id: $id) { timeline { nodes { kind } } } }"""
    much = """query($id: ID!) { opportunity(id: $id) { timeline { nodes {
        kind actor { name }
        activity {
          __typename id kind occurredAt createdBy { id }
          ... on Journal { title body }
          ... on Task { title status priority dueAt assignee { id } }
        }
        change { kind version opportunity { name version } changes { field old new } }
    } } } }"""
    shown = (await api.ok(little, {"id": opportunity_id}, admin_token))["opportunity"]
    assert [n["kind"] for n in shown["timeline"]["nodes"]] == [
        "TASK",
        "HISTORY",
        "JOURNAL",
        "HISTORY",
    ]
    nodes = (await api.ok(much, {"id": opportunity_id}, admin_token))["opportunity"]["timeline"][
        "nodes"
    ]
    task_entry, renamed, journal_entry, created = nodes
    assert task_entry["activity"]["__typename"] == "Task"
    assert task_entry["activity"]["title"] == "Follow up"
    assert task_entry["activity"]["status"] == "OPEN"
    assert journal_entry["activity"]["title"] == "Call"
    assert journal_entry["activity"]["body"] == "Talked"
    assert journal_entry["activity"]["createdBy"]["id"] == task_entry["activity"]["createdBy"]["id"]
    assert journal_entry["actor"]["name"]
    # Each change shows the deal as it left it, not as it is now.
    assert renamed["change"]["opportunity"] == {"name": "After", "version": 2}
    assert created["change"]["opportunity"] == {"name": "Before", "version": 1}
    assert {"field": "name", "old": "Before", "new": "After"} in renamed["change"]["changes"]
    # The query that did not ask for the deal before the one that does, and again after it.
    again = (await api.ok(little, {"id": opportunity_id}, admin_token))["opportunity"]
    assert len(again["timeline"]["nodes"]) == 4


async def test_a_deal_read_with_its_timeline_pages_as_the_timeline_alone(
    api: Api, admin_token: str
) -> None:
    """`opportunity(id) { timeline }` reads the deal and its page together; whatever the
    page asked (size, cursor, kinds, two timelines at once, a bad cursor), the answer is the
    one `node(id)` gives, which reads them one after the other; a member sees the timelines of
    the deals it may see and nothing of the others."""
    _, owner = await api.create_user(admin_token, "owner@example.com")
    _, outsider = await api.create_user(admin_token, "outsider@example.com")
    private_id = (await create(api, owner, visibility="PRIVATE", name="Hidden"))["id"]
    opportunity_id = (await create(api, owner, name="Open"))["id"]
    for title in ("One", "Two", "Three"):
        await journal(api, owner, opportunity_id, title=title)
    await task(api, owner, opportunity_id)
    await mutate(
        api, "updateOpportunity", UPDATE, owner,
        id=opportunity_id, expectedVersion=1, name="Renamed",
    )  # fmt: skip
    selection = """name timeline(first: $first, after: $after, kinds: $kinds) {
        pageInfo { hasNextPage hasPreviousPage endCursor } totalCount
        edges { cursor node { kind occurredAt actor { id }
          activity { id kind ... on Journal { title } }
          change { kind changes { field old new } } } } }"""
    head = "query($id: ID!, $first: Int, $after: String, $kinds: [TimelineKind!])"
    together = f"{head} {{ opportunity(id: $id) {{ {selection} }} }}"
    apart = f"{head} {{ node(id: $id) {{ ... on Opportunity {{ {selection} }} }} }}"
    first_page = await timeline(api, owner, opportunity_id, first=2)
    cursor = first_page["pageInfo"]["endCursor"]
    asks: list[dict[str, Any]] = [
        {},
        {"first": 2},
        {"first": 2, "after": cursor},
        {"first": 0},
        {"kinds": ["JOURNAL"], "first": 2},
        {"kinds": ["HISTORY"]},
        {"kinds": ["TASK", "HISTORY"], "first": 1},
    ]
    for token in (owner, admin_token):
        for ask in asks:
            variables = {"id": opportunity_id, **ask}
            read_together = (await api.ok(together, variables, token))["opportunity"]
            read_apart = (await api.ok(apart, variables, token))["node"]
            assert read_together == read_apart, ask
            assert read_together["name"] == "Renamed"
    whole = (await api.ok(together, {"id": opportunity_id}, owner))["opportunity"]["timeline"]
    assert [e["node"]["kind"] for e in whole["edges"]] == [
        "HISTORY", "TASK", "JOURNAL", "JOURNAL", "JOURNAL", "HISTORY",
    ]  # fmt: skip
    assert len(first_page["edges"]) == 2 and first_page["pageInfo"]["hasNextPage"]

    # Two timelines of one deal: each its own page.
    both = """query($id: ID!) { opportunity(id: $id) {
        journals: timeline(kinds: [JOURNAL]) { nodes { kind } }
        latest: timeline(first: 1) { nodes { kind } } } }"""
    data = (await api.ok(both, {"id": opportunity_id}, owner))["opportunity"]
    assert [n["kind"] for n in data["journals"]["nodes"]] == ["JOURNAL"] * 3
    assert [n["kind"] for n in data["latest"]["nodes"]] == ["HISTORY"]

    # A cursor the timeline refuses: its error, located (a timeline is never null, so the
    # deal is), as when it is read alone.
    body = await api.gql(together, {"id": opportunity_id, "after": "garbage"}, owner)
    assert body["data"] == {"opportunity": None}
    assert body["errors"][0]["path"] == ["opportunity", "timeline"]
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"

    # Visibility: the owner reads its private deal's timeline, an outsider gets nothing.
    mine = (await api.ok(together, {"id": private_id}, owner))["opportunity"]
    assert mine["name"] == "Hidden" and mine["timeline"]["totalCount"] == 1
    assert (await api.ok(together, {"id": private_id}, outsider))["opportunity"] is None
    public = (await api.ok(together, {"id": opportunity_id}, outsider))["opportunity"]
    assert public["timeline"] == whole


async def test_actors_read_with_a_page_serve_only_what_it_shows(api: Api, admin_token: str) -> None:
    """A timeline page reads its entries' actors with only the columns the query shows of
    users under it (here the name); the same user shown elsewhere in the operation with more
    of its columns (the deal's creator, `me`) still comes whole."""
    opportunity_id = (await create(api, admin_token, name="Actors"))["id"]
    await journal(api, admin_token, opportunity_id, title="Call")
    query = """query($id: ID!) {
      me { id email role }
      opportunity(id: $id) {
        createdBy { id email role isActive }
        timeline { nodes { actor { id name } } }
      }
    }"""
    data = await api.ok(query, {"id": opportunity_id}, admin_token)
    me = data["me"]
    creator = data["opportunity"]["createdBy"]
    assert creator == {"id": me["id"], "email": me["email"], "role": me["role"], "isActive": True}
    actors = [node["actor"] for node in data["opportunity"]["timeline"]["nodes"]]
    assert len(actors) == 2 and all(a["id"] == me["id"] and a["name"] for a in actors)
