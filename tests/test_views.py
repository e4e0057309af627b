"""Saved and built-in views (issue 5 point 4) through the GraphQL API."""

from __future__ import annotations

from typing import Any

from tests.client import Api
from tests.orders_client import team_with

CREATE = """mutation($i: CreateOpportunityInput!) { createOpportunity(input: $i) {
  opportunity { id } userErrors { code message } } }"""
VIEW_FIELDS = """id name kind visibility isBuiltIn filter groupBy columns version
  sort { field direction nullsFirst } owner { id } team { id }"""
VIEWS = f"{{ views {{ {VIEW_FIELDS} }} }}"
CREATE_VIEW = f"""mutation($i: CreateViewInput!) {{ createView(input: $i) {{
  view {{ {VIEW_FIELDS} }} userErrors {{ field code message }} }} }}"""
UPDATE_VIEW = f"""mutation($i: UpdateViewInput!) {{ updateView(input: $i) {{
  view {{ {VIEW_FIELDS} }} userErrors {{ field code message }} }} }}"""
DELETE_VIEW = """mutation($i: DeleteViewInput!) { deleteView(input: $i) {
  deletedId userErrors { field code message } } }"""
PAGE = """query($view: ID, $filter: OpportunityFilterInput) {
  opportunities(viewId: $view, filter: $filter) { totalCount nodes { id name } } }"""
GROUPS = """query($view: ID, $by: OpportunityGroupBy) {
  opportunityGroups(viewId: $view, groupBy: $by) { key count } }"""


async def create(api: Api, token: str, name: str, **fields: Any) -> str:
    values = {"name": name, "expectedValue": {"amount": "10.00", "currency": "EUR"}, **fields}
    opportunity_id: str = (await api.mutate("createOpportunity", CREATE, {"i": values}, token))[
        "opportunity"
    ]["id"]
    return opportunity_id


async def view(api: Api, token: str, **fields: Any) -> dict[str, Any]:
    created: dict[str, Any] = (
        await api.mutate("createView", CREATE_VIEW, {"i": {"name": "Mine", **fields}}, token)
    )["view"]
    return created


async def names(api: Api, token: str, **variables: Any) -> list[str]:
    data = (await api.ok(PAGE, variables, token))["opportunities"]
    assert data["totalCount"] == len(data["nodes"])
    return sorted(n["name"] for n in data["nodes"])


async def test_built_in_views_need_no_set_up(api: Api, admin_token: str) -> None:
    views = (await api.ok(VIEWS, token=admin_token))["views"]
    assert [(v["name"], v["isBuiltIn"], v["owner"]) for v in views] == [
        ("All open", True, None),
        ("My open", True, None),
        ("Closing this month", True, None),
        ("Won this quarter", True, None),
        ("Lost this quarter", True, None),
    ]


async def test_my_open_shows_each_user_their_own(api: Api, admin_token: str) -> None:
    _, alice = await api.create_user(admin_token, "alice@example.com")
    _, bob = await api.create_user(admin_token, "bob@example.com")
    await create(api, alice, "Alice's")
    await create(api, bob, "Bob's")
    my_open = next(
        v["id"] for v in (await api.ok(VIEWS, token=alice))["views"] if v["name"] == "My open"
    )
    assert await names(api, alice, view=my_open) == ["Alice's"]
    assert await names(api, bob, view=my_open) == ["Bob's"]


async def test_a_view_applies_its_filter_and_a_filter_narrows_it(
    api: Api, admin_token: str
) -> None:
    await create(api, admin_token, "Small", probability=10)
    await create(api, admin_token, "Likely", probability=80)
    await create(api, admin_token, "Sure", probability=95)
    saved = await view(api, admin_token, filter={"probability": {"min": 50}})
    assert saved["filter"] == {"probability": {"min": 50}}
    assert await names(api, admin_token, view=saved["id"]) == ["Likely", "Sure"]
    narrowed = {"probability": {"max": 90}}
    assert await names(api, admin_token, view=saved["id"], filter=narrowed) == ["Likely"]
    # The stored filter, sent back as a filter, selects the same deals.
    assert await names(api, admin_token, filter=saved["filter"]) == ["Likely", "Sure"]


async def test_a_private_view_is_nobody_elses(api: Api, admin_token: str) -> None:
    _, alice = await api.create_user(admin_token, "alice@example.com")
    _, bob = await api.create_user(admin_token, "bob@example.com")
    saved = await view(api, alice)
    assert saved["id"] not in [v["id"] for v in (await api.ok(VIEWS, token=bob))["views"]]
    body = await api.gql(PAGE, {"view": saved["id"]}, bob)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
    payload = (
        await api.ok(
            UPDATE_VIEW, {"i": {"id": saved["id"], "expectedVersion": 1, "name": "x"}}, bob
        )
    )["updateView"]
    assert [e["code"] for e in payload["userErrors"]] == ["NOT_FOUND"]


async def test_a_team_view_is_its_members(api: Api, admin_token: str) -> None:
    alice_id, alice = await api.create_user(admin_token, "alice@example.com")
    bob_id, bob = await api.create_user(admin_token, "bob@example.com")
    _, carol = await api.create_user(admin_token, "carol@example.com")
    team = await team_with(api, admin_token, alice_id)
    await api.mutate(
        "addTeamMember",
        """mutation($team: ID!, $user: ID!) { addTeamMember(input: {teamId: $team, userId: $user})
           { team { id } userErrors { code } } }""",
        {"team": team, "user": bob_id},
        admin_token,
    )
    shared = await view(api, alice, visibility="TEAM", teamId=team)
    assert shared["team"]["id"] == team
    assert shared["id"] in [v["id"] for v in (await api.ok(VIEWS, token=bob))["views"]]
    assert shared["id"] not in [v["id"] for v in (await api.ok(VIEWS, token=carol))["views"]]
    # Only its owner (or an admin) changes it.
    payload = (
        await api.ok(
            UPDATE_VIEW, {"i": {"id": shared["id"], "expectedVersion": 1, "name": "x"}}, bob
        )
    )["updateView"]
    assert [e["code"] for e in payload["userErrors"]] == ["FORBIDDEN"]
    outsider = (
        await api.ok(CREATE_VIEW, {"i": {"name": "x", "visibility": "TEAM", "teamId": team}}, carol)
    )["createView"]
    assert [e["code"] for e in outsider["userErrors"]] == ["FORBIDDEN"]


async def test_updates_take_the_version_and_built_ins_do_not_change(
    api: Api, admin_token: str
) -> None:
    saved = await view(api, admin_token)
    changed = (
        await api.ok(
            UPDATE_VIEW,
            {
                "i": {
                    "id": saved["id"],
                    "expectedVersion": 1,
                    "groupBy": "STAGE",
                    "kind": "BOARD",
                    "sort": [{"field": "PROBABILITY", "direction": "ASC", "nulls": "FIRST"}],
                }
            },
            admin_token,
        )
    )["updateView"]
    assert changed["userErrors"] == []
    assert (changed["view"]["version"], changed["view"]["kind"]) == (2, "BOARD")
    assert changed["view"]["sort"] == [
        {"field": "PROBABILITY", "direction": "ASC", "nullsFirst": True}
    ]
    stale = (
        await api.ok(
            UPDATE_VIEW, {"i": {"id": saved["id"], "expectedVersion": 1, "name": "x"}}, admin_token
        )
    )["updateView"]
    assert [e["code"] for e in stale["userErrors"]] == ["CONFLICT"]
    built_in = (await api.ok(VIEWS, token=admin_token))["views"][0]
    refused = (
        await api.ok(
            UPDATE_VIEW,
            {"i": {"id": built_in["id"], "expectedVersion": 1, "name": "x"}},
            admin_token,
        )
    )["updateView"]
    assert [e["code"] for e in refused["userErrors"]] == ["NOT_EDITABLE"]
    groups = (await api.ok(GROUPS, {"view": saved["id"]}, admin_token))["opportunityGroups"]
    stages = (await api.ok("{ stages { id } }", token=admin_token))["stages"]
    assert [g["key"] for g in groups] == [s["id"] for s in stages]


async def test_bad_views_are_refused(api: Api, admin_token: str) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"kind": "BOARD"}, "REQUIRED"),
        ({"columns": ["name", "nonsense"]}, "INVALID"),
        ({"visibility": "TEAM"}, "REQUIRED"),
        ({"filter": {"value": {"min": "10", "max": "1"}}}, "INVALID"),
        ({"name": "  "}, "REQUIRED"),
    ]
    for fields, code in cases:
        payload = (await api.ok(CREATE_VIEW, {"i": {"name": "v", **fields}}, admin_token))[
            "createView"
        ]
        assert [e["code"] for e in payload["userErrors"]] == [code], (fields, payload)
    assert len((await api.ok(VIEWS, token=admin_token))["views"]) == 5


async def test_deleting_a_view(api: Api, admin_token: str) -> None:
    saved = await view(api, admin_token)
    payload = (await api.ok(DELETE_VIEW, {"i": {"id": saved["id"]}}, admin_token))["deleteView"]
    assert payload == {"deletedId": saved["id"], "userErrors": []}
    assert len((await api.ok(VIEWS, token=admin_token))["views"]) == 5


LIVE = """subscription($view: ID, $filter: OpportunityEventFilter, $since: String) {
  opportunityEvents(viewId: $view, filter: $filter, since: $since) {
    kind viewChange opportunity { name probability } } }"""
UPDATE = """mutation($i: UpdateOpportunityInput!) { updateOpportunity(input: $i) {
  opportunity { id version } userErrors { code message } } }"""


async def update(api: Api, token: str, opportunity_id: str, version: int, **fields: Any) -> int:
    payload = await api.mutate(
        "updateOpportunity",
        UPDATE,
        {"i": {"id": opportunity_id, "expectedVersion": version, **fields}},
        token,
    )
    new_version: int = payload["opportunity"]["version"]
    return new_version


async def live_changes(
    api: Api, token: str, since: str, count: int, **variables: Any
) -> list[tuple[str, str | None, str]]:
    """The next `count` events after `since` as (kind, viewChange, name), then silence."""
    async with api.subscriber(token) as sub:
        await sub.subscribe(LIVE, {"since": since, **variables})
        got = [(await sub.next())["opportunityEvents"] for _ in range(count)]
        await sub.expect_silence(0.3)
    return [(e["kind"], e["viewChange"], e["opportunity"]["name"]) for e in got]


async def test_a_live_view_says_when_a_deal_enters_and_leaves_it(
    api: Api, admin_token: str
) -> None:
    saved = await view(api, admin_token, filter={"probability": {"min": 50}})
    since = (await api.ok("{ eventCursor }", token=admin_token))["eventCursor"]
    deal = await create(api, admin_token, "Deal", probability=10)  # outside: nothing
    version = await update(api, admin_token, deal, 1, probability=60)  # enters
    version = await update(api, admin_token, deal, version, name="Deal!")  # stays
    version = await update(api, admin_token, deal, version, probability=20)  # leaves
    await update(api, admin_token, deal, version, nextStep="call")  # outside: nothing
    await create(api, admin_token, "Born inside", probability=90)  # enters
    expected = [
        ("UPDATED", "ENTERED", "Deal"),
        ("UPDATED", "STAYED", "Deal!"),
        ("UPDATED", "LEFT", "Deal!"),
        ("CREATED", "ENTERED", "Born inside"),
    ]
    assert await live_changes(api, admin_token, since, 4, view=saved["id"]) == expected
    # The same through a filter instead of a saved view.
    by_filter = {"probability": {"min": 50}}
    assert await live_changes(api, admin_token, since, 4, filter=by_filter) == expected


async def test_a_live_view_never_shows_an_outsider_a_private_deal(
    api: Api, admin_token: str
) -> None:
    _, owner = await api.create_user(admin_token, "owner@example.com")
    _, outsider = await api.create_user(admin_token, "outsider@example.com")
    all_open = (await api.ok(VIEWS, token=outsider))["views"][0]["id"]
    since = (await api.ok("{ eventCursor }", token=outsider))["eventCursor"]
    await create(api, owner, "Secret", visibility="PRIVATE")
    await create(api, owner, "Open book")
    got = await live_changes(api, outsider, since, 1, view=all_open)
    assert got == [("CREATED", "ENTERED", "Open book")]


LINKED = """mutation($i: LinkParticipantInput!) { linkParticipant(input: $i) {
  participant { id } userErrors { code message } } }"""
UNLINK = """mutation($i: UnlinkParticipantInput!) { unlinkParticipant(input: $i) {
  opportunity { id } userErrors { code message } } }"""
CREATE_COMPANY = """mutation($name: String!) { createCompany(input: {name: $name}) {
  company { id } userErrors { code } } }"""


async def company(api: Api, token: str, name: str) -> str:
    payload = await api.mutate("createCompany", CREATE_COMPANY, {"name": name}, token)
    company_id: str = payload["company"]["id"]
    return company_id


async def link(api: Api, token: str, deal: str, target: str) -> str:
    values = {"opportunityId": deal, "participantId": target, "role": "CUSTOMER"}
    payload = await api.mutate("linkParticipant", LINKED, {"i": values}, token)
    participant_id: str = payload["participant"]["id"]
    return participant_id


async def test_a_live_view_of_links_says_when_a_link_brings_a_deal_in_or_takes_it_out(
    api: Api, admin_token: str
) -> None:
    acme = await company(api, admin_token, "Acme Tools")
    globex = await company(api, admin_token, "Globex")
    since = (await api.ok("{ eventCursor }", token=admin_token))["eventCursor"]
    deal = await create(api, admin_token, "Deal")  # linked to nothing: outside
    first = await link(api, admin_token, deal, acme)  # enters
    version = await update(api, admin_token, deal, 2, name="Deal!")  # stays
    await api.mutate("unlinkParticipant", UNLINK, {"i": {"id": first}}, admin_token)  # leaves
    await update(api, admin_token, deal, version + 1, nextStep="call")  # outside: nothing
    await link(api, admin_token, deal, acme)  # enters again
    await link(api, admin_token, deal, globex)  # stays
    expected = [
        ("PARTICIPANT_LINKED", "ENTERED", "Deal"),
        ("UPDATED", "STAYED", "Deal!"),
        ("PARTICIPANT_UNLINKED", "LEFT", "Deal!"),
        ("PARTICIPANT_LINKED", "ENTERED", "Deal!"),
        ("PARTICIPANT_LINKED", "STAYED", "Deal!"),
    ]
    # Replayed from `since`, every event is judged after all of them happened: each with
    # the deal's links as they were at its own moment.
    for by_links in ({"companyIds": [acme]}, {"search": "acme"}):
        assert await live_changes(api, admin_token, since, 5, filter=by_links) == expected


SEARCH = """query($search: String!) {
  opportunities(filter: {search: $search}) { totalCount nodes { name } } }"""


async def test_search_finds_words_parts_and_company_names_best_first(
    api: Api, admin_token: str
) -> None:
    await create(api, admin_token, "Robot arms for Globex", description="Welding cell upgrade")
    await create(api, admin_token, "Forklift fleet")
    linked = await create(api, admin_token, "Warehouse shelving")
    await link(api, admin_token, linked, await company(api, admin_token, "Robotics Unlimited"))

    async def found(text: str) -> list[str]:
        data = (await api.ok(SEARCH, {"search": text}, admin_token))["opportunities"]
        assert data["totalCount"] == len(data["nodes"])
        return [n["name"] for n in data["nodes"]]

    # A word prefix in the name ranks above a match in a company's name.
    assert await found("robot") == ["Robot arms for Globex", "Warehouse shelving"]
    assert await found("weld") == ["Robot arms for Globex"]  # a word of the description
    assert await found("klift") == ["Forklift fleet"]  # any part of the name
    assert await found("nothing like it") == []


DELETE_TEAM = """mutation($id: ID!) { deleteTeam(input: {id: $id}) {
  deletedId userErrors { field code message } } }"""


async def test_deleting_a_team_makes_its_shared_views_private_to_their_owners(
    api: Api, admin_token: str
) -> None:
    carol_id, carol = await api.create_user(admin_token, "carol@example.com")
    dave_id, dave = await api.create_user(admin_token, "dave@example.com")
    team = await team_with(api, admin_token, carol_id)
    await api.mutate(
        "addTeamMember",
        """mutation($t: ID!, $u: ID!) { addTeamMember(input: {teamId: $t, userId: $u}) {
          team { id } userErrors { code } } }""",
        {"t": team, "u": dave_id},
        admin_token,
    )
    shared = await view(api, carol, name="Team board", visibility="TEAM", teamId=team)
    assert shared["name"] in {v["name"] for v in (await api.ok(VIEWS, token=dave))["views"]}

    deleted = (await api.ok(DELETE_TEAM, {"id": team}, admin_token))["deleteTeam"]
    assert deleted == {"deletedId": team, "userErrors": []}

    mine = {v["id"]: v for v in (await api.ok(VIEWS, token=carol))["views"]}
    kept = mine[shared["id"]]
    assert (kept["visibility"], kept["team"], kept["owner"]) == ("PRIVATE", None, {"id": carol_id})
    assert kept["version"] == shared["version"] + 1
    assert shared["id"] not in {v["id"] for v in (await api.ok(VIEWS, token=dave))["views"]}
    # Still usable by its owner.
    assert (await api.ok(PAGE, {"view": shared["id"]}, carol))["opportunities"]["totalCount"] == 0


async def test_a_team_that_cannot_be_deleted_keeps_its_shared_views(
    api: Api, admin_token: str
) -> None:
    carol_id, carol = await api.create_user(admin_token, "carol@example.com")
    team = await team_with(api, admin_token, carol_id)
    shared = await view(api, carol, name="Team board", visibility="TEAM", teamId=team)
    deal = await create(api, carol, "Linked to the team")
    values = {"opportunityId": deal, "participantId": team, "role": "SALES_REP"}
    await api.mutate("linkParticipant", LINKED, {"i": values}, carol)

    refused = (await api.ok(DELETE_TEAM, {"id": team}, admin_token))["deleteTeam"]
    assert [e["code"] for e in refused["userErrors"]] == ["IN_USE"]
    # Refused in the same transaction: the view was not made private on the way.
    kept = {v["id"]: v for v in (await api.ok(VIEWS, token=carol))["views"]}[shared["id"]]
    assert (kept["visibility"], kept["team"], kept["version"]) == (
        "TEAM",
        {"id": team},
        shared["version"],
    )
