"""An opportunity's history through the GraphQL API (issue 2 point 8).

`opportunity.history` lists every change field by field, newest first, each entry with its
kind, actor, time, resulting version and the old and new value of every changed field;
references (stage, folder, owner, ...) appear as global IDs; the list pages with first/after.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from tests.client import Api

OPPORTUNITY = "id version stage { id } owner { id }"
CREATE = f"""mutation($i: CreateOpportunityInput!) {{ createOpportunity(input: $i) {{
  opportunity {{ {OPPORTUNITY} }} userErrors {{ field code message }} }} }}"""
UPDATE = f"""mutation($i: UpdateOpportunityInput!) {{ updateOpportunity(input: $i) {{
  opportunity {{ {OPPORTUNITY} }} userErrors {{ field code message }} }} }}"""
MARK_WON = f"""mutation($i: MarkOpportunityWonInput!) {{ markOpportunityWon(input: $i) {{
  opportunity {{ {OPPORTUNITY} }} userErrors {{ field code message }} }} }}"""
REOPEN = f"""mutation($i: ReopenOpportunityInput!) {{ reopenOpportunity(input: $i) {{
  opportunity {{ {OPPORTUNITY} }} userErrors {{ field code message }} }} }}"""
LINK = f"""mutation($i: LinkParticipantInput!) {{ linkParticipant(input: $i) {{
  participant {{ id }} opportunity {{ {OPPORTUNITY} }} userErrors {{ field code message }} }} }}"""
CREATE_COMPANY = """mutation($i: CreateCompanyInput!) { createCompany(input: $i) {
  company { id } userErrors { code message } } }"""
HISTORY = """query($id: ID!, $first: Int, $after: String) { opportunity(id: $id) {
  version
  history(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node {
      kind version occurredAt opportunityId
      actor { id email }
      changes { field old new }
      opportunity { version name }
    } }
  }
} }"""
STAGES = "{ stages { id name defaultProbability forecastCategory } }"


async def create(api: Api, token: str, **fields: Any) -> dict[str, Any]:
    values = {"name": "Deal", "expectedValue": {"amount": "1000.00", "currency": "EUR"}, **fields}
    payload = await api.mutate("createOpportunity", CREATE, {"i": values}, token)
    opportunity: dict[str, Any] = payload["opportunity"]
    return opportunity


async def update(
    api: Api, token: str, opportunity: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    values = {"id": opportunity["id"], "expectedVersion": opportunity["version"], **fields}
    payload = await api.mutate("updateOpportunity", UPDATE, {"i": values}, token)
    updated: dict[str, Any] = payload["opportunity"]
    return updated


async def history(
    api: Api, token: str, opportunity_id: str, first: int | None = 100, after: str | None = None
) -> dict[str, Any]:
    data = await api.ok(HISTORY, {"id": opportunity_id, "first": first, "after": after}, token)
    connection: dict[str, Any] = data["opportunity"]["history"]
    return connection


async def entries(api: Api, token: str, opportunity_id: str) -> list[dict[str, Any]]:
    return [e["node"] for e in (await history(api, token, opportunity_id))["edges"]]


def changes(entry: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """{field: (old, new)} of one history entry; each field appears once."""
    fields = [c["field"] for c in entry["changes"]]
    assert len(fields) == len(set(fields)), entry
    return {c["field"]: (c["old"], c["new"]) for c in entry["changes"]}


async def test_creation_is_recorded_with_every_value_set(api: Api, admin_token: str) -> None:
    created = await create(api, admin_token, description="First cut", probability=25)

    (entry,) = await entries(api, admin_token, created["id"])

    assert entry["kind"] == "CREATED"
    assert entry["version"] == created["version"]
    assert entry["opportunityId"] == created["id"]
    assert entry["actor"]["email"] == "admin@example.com"
    recorded = changes(entry)
    assert recorded["name"] == (None, "Deal")
    assert recorded["description"] == (None, "First cut")
    assert recorded["probability"] == (None, 25)
    assert recorded["expectedValue"] == (None, {"amount": "1000.00", "currency": "EUR"})
    assert recorded["stage"] == (None, created["stage"]["id"])
    assert recorded["owner"] == (None, created["owner"]["id"])
    assert recorded["status"] == (None, "OPEN")


async def test_every_change_is_listed_field_by_field_newest_first(
    api: Api, admin_token: str
) -> None:
    created = await create(api, admin_token, nextStep="Call")
    second = await update(api, admin_token, created, name="Bigger deal", probability=30)
    third = await update(
        api,
        admin_token,
        second,
        nextStep=None,
        expectedValue={"amount": "2500", "currency": "EUR"},
        estimatedCloseDate="2030-05-01",
    )

    newest, middle, oldest = await entries(api, admin_token, created["id"])

    assert [newest["kind"], middle["kind"], oldest["kind"]] == ["UPDATED", "UPDATED", "CREATED"]
    assert [newest["version"], middle["version"], oldest["version"]] == [
        third["version"],
        second["version"],
        created["version"],
    ]
    assert changes(middle) == {"name": ("Deal", "Bigger deal"), "probability": (10, 30)}
    assert changes(newest) == {
        "nextStep": ("Call", None),
        "expectedValue": (
            {"amount": "1000.00", "currency": "EUR"},
            {"amount": "2500.00", "currency": "EUR"},
        ),
        "estimatedCloseDate": (None, "2030-05-01"),
    }
    # Each entry carries the opportunity as that change left it.
    assert newest["opportunity"] == {"version": third["version"], "name": "Bigger deal"}
    assert middle["opportunity"] == {"version": second["version"], "name": "Bigger deal"}
    assert oldest["opportunity"] == {"version": created["version"], "name": "Deal"}


async def test_stage_change_shows_old_and_new_stage_as_global_ids(
    api: Api, admin_token: str
) -> None:
    pipeline = {s["name"]: s for s in (await api.ok(STAGES, token=admin_token))["stages"]}
    created = await create(api, admin_token, stageId=pipeline["Qualification"]["id"])

    await update(api, admin_token, created, stageId=pipeline["Negotiation"]["id"])

    entry = (await entries(api, admin_token, created["id"]))[0]
    assert entry["kind"] == "STAGE_CHANGED"
    assert changes(entry) == {
        "stage": (pipeline["Qualification"]["id"], pipeline["Negotiation"]["id"]),
        "probability": (20, 80),
        "forecastCategory": ("PIPELINE", "COMMIT"),
    }
    # The IDs in the history are the ones the API resolves.
    node = await api.ok(
        "query($id: ID!) { node(id: $id) { ... on Stage { name } } }",
        {"id": changes(entry)["stage"][1]},
        admin_token,
    )
    assert node["node"] == {"name": "Negotiation"}


async def test_each_entry_names_its_actor_and_time(api: Api, admin_token: str) -> None:
    alice_id, alice = await api.create_user(admin_token, "alice@example.com")
    bob_id, bob = await api.create_user(admin_token, "bob@example.com")
    start = datetime.now(UTC)
    created = await create(api, alice)
    await update(api, bob, created, leadSource="Bob's lead")

    bobs, alices = await entries(api, admin_token, created["id"])

    assert alices["actor"] == {"id": alice_id, "email": "alice@example.com"}
    assert bobs["actor"] == {"id": bob_id, "email": "bob@example.com"}
    times = [datetime.fromisoformat(e["occurredAt"]) for e in (alices, bobs)]
    assert all(t.tzinfo is not None for t in times)
    assert start <= times[0] <= times[1] <= datetime.now(UTC)


async def test_won_and_reopened_are_recorded_with_their_outcome_fields(
    api: Api, admin_token: str
) -> None:
    pipeline = {s["name"]: s for s in (await api.ok(STAGES, token=admin_token))["stages"]}
    created = await create(api, admin_token, stageId=pipeline["Proposal"]["id"])
    won = (
        await api.mutate(
            "markOpportunityWon",
            MARK_WON,
            {
                "i": {
                    "id": created["id"],
                    "expectedVersion": created["version"],
                    "actualCloseDate": "2030-07-07",
                }
            },
            admin_token,
        )
    )["opportunity"]
    await api.mutate(
        "reopenOpportunity",
        REOPEN,
        {"i": {"id": created["id"], "expectedVersion": won["version"]}},
        admin_token,
    )

    reopened, closed = (await entries(api, admin_token, created["id"]))[:2]

    money = {"amount": "1000.00", "currency": "EUR"}
    assert closed["kind"] == "WON"
    assert changes(closed) == {
        "status": ("OPEN", "WON"),
        "stage": (pipeline["Proposal"]["id"], pipeline["Closed Won"]["id"]),
        "probability": (60, 100),
        "forecastCategory": ("BEST_CASE", "CLOSED"),
        "actualValue": (None, money),
        "actualCloseDate": (None, "2030-07-07"),
    }
    assert reopened["kind"] == "REOPENED"
    assert changes(reopened) == {
        "status": ("WON", "OPEN"),
        "stage": (pipeline["Closed Won"]["id"], pipeline["Proposal"]["id"]),
        "probability": (100, 60),
        "forecastCategory": ("CLOSED", "BEST_CASE"),
        "actualValue": (money, None),
        "actualCloseDate": ("2030-07-07", None),
    }


async def test_linking_a_participant_is_recorded(api: Api, admin_token: str) -> None:
    created = await create(api, admin_token)
    company = (
        await api.mutate("createCompany", CREATE_COMPANY, {"i": {"name": "Acme"}}, admin_token)
    )["company"]["id"]
    payload = await api.mutate(
        "linkParticipant",
        LINK,
        {"i": {"opportunityId": created["id"], "participantId": company, "role": "CUSTOMER"}},
        admin_token,
    )

    entry = (await entries(api, admin_token, created["id"]))[0]

    assert entry["kind"] == "PARTICIPANT_LINKED"
    assert entry["version"] == payload["opportunity"]["version"]
    assert changes(entry) == {
        "participants": (
            None,
            {
                "id": payload["participant"]["id"],
                "kind": "COMPANY",
                "targetId": company,
                "role": "CUSTOMER",
                "isPrimary": False,
            },
        )
    }


async def test_history_pages_with_first_and_after(api: Api, admin_token: str) -> None:
    opportunity = await create(api, admin_token)
    for i in range(6):
        opportunity = await update(api, admin_token, opportunity, name=f"Name {i}")
    everything = await entries(api, admin_token, opportunity["id"])
    assert len(everything) == 7

    pages = []
    after = None
    while True:
        page = await history(api, admin_token, opportunity["id"], first=3, after=after)
        assert page["totalCount"] == 7
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        pages.append([e["node"] for e in page["edges"]])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]

    assert [len(p) for p in pages] == [3, 3, 1]
    assert [e for p in pages for e in p] == everything
    assert [e["version"] for e in everything] == sorted(
        (e["version"] for e in everything), reverse=True
    )


async def test_history_page_arguments_are_checked(api: Api, admin_token: str) -> None:
    created = await create(api, admin_token)
    bad_cursors = ["garbage", base64.urlsafe_b64encode(b'["x"]').decode(), "W251bGxd"]

    cases: list[dict[str, Any]] = [{"first": 101}, {"first": -1}]
    cases += [{"after": cursor} for cursor in bad_cursors]

    for variables in cases:
        body = await api.gql(HISTORY, {"id": created["id"], **variables}, admin_token)
        errors = body.get("errors")
        assert errors, (variables, body)
        assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT", (variables, body)


async def test_a_refused_change_leaves_no_trace(api: Api, admin_token: str) -> None:
    created = await create(api, admin_token)
    before = await entries(api, admin_token, created["id"])

    body = await api.ok(
        UPDATE,
        {"i": {"id": created["id"], "expectedVersion": created["version"], "probability": 101}},
        admin_token,
    )

    assert body["updateOpportunity"]["userErrors"]
    assert await entries(api, admin_token, created["id"]) == before
