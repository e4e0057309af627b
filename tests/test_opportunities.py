"""Opportunities through the GraphQL API: create, update, close, reopen, delete, move, list.

Covers issue 2 points 5 and 10 for opportunities: every field and its defaults, the stage and
probability rules, `expectedVersion` conflicts (including two concurrent editors), the
outcome mutations, soft deletion, bad input that must change nothing, and the
`opportunities` connection (pagination, ordering, filters).
"""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime
from typing import Any

from tests.client import Api

OPPORTUNITY = """
  id number name description status version isDeleted
  expectedValue { amount currency } probability weightedValue { amount currency }
  forecastCategory estimatedCloseDate nextStep leadSource visibility
  actualValue { amount currency } actualCloseDate lostNote
  stage { id name kind } folder { id name } owner { id email } createdBy { id email }
  awardedTo { id name } lostReasons { id name }
"""
PAYLOAD = f"opportunity {{ {OPPORTUNITY} }} userErrors {{ field code message }}"

MUTATIONS = {
    # Each takes `input: <Name>Input!` and answers an OpportunityPayload.
    name: f"mutation($i: {name[0].upper()}{name[1:]}Input!) {{ {name}(input: $i) {{ {PAYLOAD} }} }}"
    for name in [
        "createOpportunity",
        "updateOpportunity",
        "markOpportunityWon",
        "markOpportunityLost",
        "reopenOpportunity",
        "deleteOpportunity",
        "moveOpportunity",
    ]
}
CREATE = MUTATIONS["createOpportunity"]

READ = f"query($id: ID!) {{ opportunity(id: $id) {{ {OPPORTUNITY} }} }}"
NODE = "query($id: ID!) { node(id: $id) { id ... on Opportunity { name } } }"
HISTORY = """query($id: ID!) { opportunity(id: $id) { history(first: 100) {
  totalCount nodes { kind version changes { field old new } } } } }"""
LIST = """query($filter: OpportunityFilterInput, $orderBy: [OpportunityOrder!], $first: Int,
               $after: String) {
  opportunities(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id name number } }
  }
}"""
STAGES = "{ stages { id name kind defaultProbability forecastCategory } }"
LOST_REASONS = "{ lostReasons { id name } }"
CREATE_FOLDER = """mutation($i: CreateFolderInput!) { createFolder(input: $i) {
  folder { id name } userErrors { code message } } }"""
CREATE_COMPANY = """mutation($i: CreateCompanyInput!) { createCompany(input: $i) {
  company { id name } userErrors { code message } } }"""
CREATE_CONTACT = """mutation($i: CreateContactInput!) { createContact(input: $i) {
  contact { id } userErrors { code message } } }"""
LINK = """mutation($i: LinkParticipantInput!) { linkParticipant(input: $i) {
  participant { id } userErrors { field code message } } }"""


def global_id(type_name: str, pk: int | str) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


def eur(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "EUR"}


async def create(api: Api, token: str, **fields: Any) -> dict[str, Any]:
    """A new opportunity, failing the test on any userError."""
    values = {"name": "Deal", "expectedValue": eur("1000.00"), **fields}
    payload = await api.mutate("createOpportunity", CREATE, {"i": values}, token)
    opportunity: dict[str, Any] = payload["opportunity"]
    return opportunity


async def call(api: Api, mutation: str, token: str, **values: Any) -> dict[str, Any]:
    """The payload of `mutation` (named in MUTATIONS) for input `values`, userErrors and all."""
    payload: dict[str, Any] = (await api.ok(MUTATIONS[mutation], {"i": values}, token))[mutation]
    return payload


async def update(
    api: Api, token: str, opportunity: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    return await call(
        api,
        "updateOpportunity",
        token,
        id=opportunity["id"],
        expectedVersion=opportunity["version"],
        **fields,
    )


async def read(api: Api, token: str, opportunity_id: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = (await api.ok(READ, {"id": opportunity_id}, token))[
        "opportunity"
    ]
    return found


async def history_count(api: Api, token: str, opportunity_id: str) -> int:
    data = await api.ok(HISTORY, {"id": opportunity_id}, token)
    count: int = data["opportunity"]["history"]["totalCount"]
    return count


async def stages(api: Api, token: str) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in (await api.ok(STAGES, token=token))["stages"]}


async def folder(api: Api, token: str, name: str) -> str:
    payload = await api.mutate("createFolder", CREATE_FOLDER, {"i": {"name": name}}, token)
    folder_id: str = payload["folder"]["id"]
    return folder_id


async def company(api: Api, token: str, name: str) -> str:
    payload = await api.mutate("createCompany", CREATE_COMPANY, {"i": {"name": name}}, token)
    company_id: str = payload["company"]["id"]
    return company_id


async def listing(api: Api, token: str, **variables: Any) -> dict[str, Any]:
    connection: dict[str, Any] = (await api.ok(LIST, variables, token))["opportunities"]
    return connection


async def names(api: Api, token: str, **variables: Any) -> list[str]:
    return [e["node"]["name"] for e in (await listing(api, token, **variables))["edges"]]


async def walk(api: Api, token: str, page_size: int, **variables: Any) -> list[str]:
    """Names of every opportunity, page by page, checking each page's pageInfo."""
    seen: list[str] = []
    after = None
    while True:
        page = await listing(api, token, first=page_size, after=after, **variables)
        info = page["pageInfo"]
        assert info["hasPreviousPage"] is (after is not None)
        assert len(page["edges"]) <= page_size
        seen += [e["node"]["name"] for e in page["edges"]]
        if page["edges"]:
            assert info["startCursor"] == page["edges"][0]["cursor"]
            assert info["endCursor"] == page["edges"][-1]["cursor"]
        if not info["hasNextPage"]:
            return seen
        after = info["endCursor"]


def refused(payload: dict[str, Any], code: str, field: list[str] | None = None) -> None:
    """The mutation was refused with exactly one userError of `code` (and `field`)."""
    errors = payload["userErrors"]
    assert len(errors) == 1, errors
    assert errors[0]["code"] == code, errors
    if field is not None:
        assert errors[0]["field"] == field, errors
    assert errors[0]["message"], errors


def top_level_error(body: dict[str, Any]) -> dict[str, Any]:
    """The single GraphQL error of a refused request, which must not be an internal one."""
    errors = body.get("errors")
    assert errors, body
    for error in errors:
        assert "Internal error" not in error["message"], body
        assert error.get("extensions", {}).get("code") != "INTERNAL_SERVER_ERROR", body
    first: dict[str, Any] = errors[0]
    return first


def today() -> str:
    return datetime.now(UTC).date().isoformat()


# --- create ---------------------------------------------------------------------------------


async def test_create_sets_every_field(api: Api, admin_token: str) -> None:
    owner_id, _ = await api.create_user(admin_token, "olga@example.com")
    folder_id = await folder(api, admin_token, "EMEA")
    proposal = (await stages(api, admin_token))["Proposal"]

    created = await create(
        api,
        admin_token,
        name="  Acme rollout  ",
        description="Phase one of the rollout",
        expectedValue={"amount": "12500.50", "currency": "usd"},
        folderId=folder_id,
        stageId=proposal["id"],
        probability=55,
        forecastCategory="COMMIT",
        estimatedCloseDate="2031-03-31",
        nextStep="Send the contract",
        leadSource="Trade fair",
        ownerId=owner_id,
        visibility="PRIVATE",
    )

    assert created["name"] == "Acme rollout"
    assert created["description"] == "Phase one of the rollout"
    assert created["expectedValue"] == {"amount": "12500.50", "currency": "USD"}
    assert created["probability"] == 55
    assert created["weightedValue"] == {"amount": "6875.28", "currency": "USD"}
    assert created["forecastCategory"] == "COMMIT"
    assert created["estimatedCloseDate"] == "2031-03-31"
    assert created["nextStep"] == "Send the contract"
    assert created["leadSource"] == "Trade fair"
    assert created["visibility"] == "PRIVATE"
    assert created["status"] == "OPEN"
    assert created["stage"]["id"] == proposal["id"]
    assert created["folder"] == {"id": folder_id, "name": "EMEA"}
    assert created["owner"] == {"id": owner_id, "email": "olga@example.com"}
    assert created["createdBy"]["email"] == "admin@example.com"
    assert created["actualValue"] is None
    assert created["lostReasons"] == []
    assert created["isDeleted"] is False
    # What the mutation answered is what a later read sees.
    assert await read(api, admin_token, created["id"]) == created


async def test_create_defaults_to_first_open_stage_caller_and_public(
    api: Api, admin_token: str
) -> None:
    member_id, member = await api.create_user(admin_token, "max@example.com")
    first_open = next(
        s for s in (await api.ok(STAGES, token=admin_token))["stages"] if s["kind"] == "OPEN"
    )

    created = await create(api, member, name="Defaults", expectedValue=eur("200.00"))

    assert created["stage"]["id"] == first_open["id"]
    assert created["probability"] == first_open["defaultProbability"]
    assert created["forecastCategory"] == first_open["forecastCategory"]
    assert created["owner"]["id"] == member_id
    assert created["createdBy"]["id"] == member_id
    assert created["visibility"] == "PUBLIC"
    assert created["status"] == "OPEN"
    for empty in ("description", "folder", "estimatedCloseDate", "nextStep", "leadSource"):
        assert created[empty] is None, empty


async def test_create_with_a_stage_takes_that_stages_defaults(api: Api, admin_token: str) -> None:
    negotiation = (await stages(api, admin_token))["Negotiation"]

    created = await create(api, admin_token, stageId=negotiation["id"])

    assert created["probability"] == negotiation["defaultProbability"]
    assert created["forecastCategory"] == negotiation["forecastCategory"]


async def test_numbers_are_formatted_and_increase(api: Api, admin_token: str) -> None:
    numbers = [(await create(api, admin_token, name=f"Deal {i}"))["number"] for i in range(3)]

    assert numbers == ["OPP-000001", "OPP-000002", "OPP-000003"]


async def test_weighted_value_is_rounded_half_even_to_the_currencys_minor_unit(
    api: Api, admin_token: str
) -> None:
    cases = [
        # amount, currency, probability, weighted
        ("1001", "JPY", 15, "150"),  # 150.15 -> no minor unit
        ("10.125", "KWD", 33, "3.341"),  # 3.34125 -> three decimals
        ("1.50", "EUR", 1, "0.02"),  # 0.015: a half cent, rounded to even
        ("0.50", "EUR", 1, "0.00"),  # 0.005: a half cent, rounded to even
        ("99.99", "EUR", 100, "99.99"),
        ("99.99", "EUR", 0, "0.00"),
    ]
    for amount, currency, probability, expected in cases:
        created = await create(
            api,
            admin_token,
            expectedValue={"amount": amount, "currency": currency},
            probability=probability,
        )
        assert created["expectedValue"] == {"amount": amount, "currency": currency}
        assert created["weightedValue"] == {"amount": expected, "currency": currency}, (
            amount,
            currency,
            probability,
        )


async def test_amounts_are_normalised_to_the_currencys_minor_unit(
    api: Api, admin_token: str
) -> None:
    cases = [
        ({"amount": "10", "currency": "EUR"}, {"amount": "10.00", "currency": "EUR"}),
        ({"amount": "1E+3", "currency": "EUR"}, {"amount": "1000.00", "currency": "EUR"}),
        ({"amount": "7.500", "currency": "EUR"}, {"amount": "7.50", "currency": "EUR"}),
        ({"amount": " 5 ", "currency": " jpy "}, {"amount": "5", "currency": "JPY"}),
        ({"amount": "-0", "currency": "EUR"}, {"amount": "0.00", "currency": "EUR"}),
    ]
    for given, shown in cases:
        created = await create(api, admin_token, expectedValue=given)
        assert created["expectedValue"] == shown, given
        assert await read(api, admin_token, created["id"]) == created, given


async def test_weighted_value_follows_an_updated_probability(api: Api, admin_token: str) -> None:
    created = await create(api, admin_token, expectedValue=eur("333.33"), probability=10)

    payload = await update(api, admin_token, created, probability=33)

    assert payload["userErrors"] == []
    assert payload["opportunity"]["weightedValue"] == eur("110.00")


# --- update ---------------------------------------------------------------------------------


async def test_update_changes_each_field(api: Api, admin_token: str) -> None:
    owner_id, _ = await api.create_user(admin_token, "uma@example.com")
    folder_id = await folder(api, admin_token, "Renewals")
    qualification = (await stages(api, admin_token))["Qualification"]
    created = await create(api, admin_token)

    payload = await update(
        api,
        admin_token,
        created,
        name="Renamed",
        description="Now with details",
        stageId=qualification["id"],
        expectedValue={"amount": "5000", "currency": "GBP"},
        probability=35,
        forecastCategory="BEST_CASE",
        estimatedCloseDate="2030-01-15",
        nextStep="Call back",
        leadSource="Referral",
        ownerId=owner_id,
        visibility="PRIVATE",
        folderId=folder_id,
    )

    assert payload["userErrors"] == []
    updated = payload["opportunity"]
    assert updated["version"] > created["version"]
    assert updated["name"] == "Renamed"
    assert updated["description"] == "Now with details"
    assert updated["stage"]["id"] == qualification["id"]
    assert updated["expectedValue"] == {"amount": "5000.00", "currency": "GBP"}
    assert updated["probability"] == 35
    assert updated["weightedValue"] == {"amount": "1750.00", "currency": "GBP"}
    assert updated["forecastCategory"] == "BEST_CASE"
    assert updated["estimatedCloseDate"] == "2030-01-15"
    assert updated["nextStep"] == "Call back"
    assert updated["leadSource"] == "Referral"
    assert updated["owner"]["id"] == owner_id
    assert updated["visibility"] == "PRIVATE"
    assert updated["folder"]["id"] == folder_id
    assert await read(api, admin_token, created["id"]) == updated


async def test_update_leaves_omitted_fields_untouched(api: Api, admin_token: str) -> None:
    created = await create(
        api,
        admin_token,
        description="Keep me",
        nextStep="Keep me too",
        leadSource="Web",
        estimatedCloseDate="2030-06-30",
        probability=42,
        folderId=await folder(api, admin_token, "Kept"),
    )

    payload = await update(api, admin_token, created, name="Only the name")

    assert payload["userErrors"] == []
    expected = {**created, "name": "Only the name", "version": payload["opportunity"]["version"]}
    assert payload["opportunity"] == expected


async def test_explicit_null_clears_nullable_fields(api: Api, admin_token: str) -> None:
    created = await create(
        api,
        admin_token,
        description="Old",
        nextStep="Old step",
        leadSource="Old source",
        estimatedCloseDate="2030-06-30",
        folderId=await folder(api, admin_token, "Old folder"),
    )

    payload = await update(
        api,
        admin_token,
        created,
        description=None,
        nextStep=None,
        leadSource=None,
        estimatedCloseDate=None,
        folderId=None,
    )

    assert payload["userErrors"] == []
    after = await read(api, admin_token, created["id"])
    assert after is not None
    for cleared in ("description", "nextStep", "leadSource", "estimatedCloseDate", "folder"):
        assert after[cleared] is None, cleared
    assert after["name"] == "Deal"


async def test_explicit_null_for_a_required_field_is_refused(api: Api, admin_token: str) -> None:
    created = await create(api, admin_token)
    required = [
        "name",
        "expectedValue",
        "stageId",
        "probability",
        "forecastCategory",
        "ownerId",
        "visibility",
    ]

    for field in required:
        payload = await update(api, admin_token, created, nextStep="Valid", **{field: None})
        refused(payload, "REQUIRED", [field])

    assert await read(api, admin_token, created["id"]) == created


async def test_stage_change_resets_probability_and_forecast_category(
    api: Api, admin_token: str
) -> None:
    pipeline = await stages(api, admin_token)
    created = await create(api, admin_token, probability=33, forecastCategory="OMITTED")

    payload = await update(api, admin_token, created, stageId=pipeline["Negotiation"]["id"])

    assert payload["userErrors"] == []
    moved = payload["opportunity"]
    assert moved["stage"]["name"] == "Negotiation"
    assert moved["probability"] == pipeline["Negotiation"]["defaultProbability"]
    assert moved["forecastCategory"] == pipeline["Negotiation"]["forecastCategory"]


async def test_stage_change_keeps_probability_set_in_the_same_input(
    api: Api, admin_token: str
) -> None:
    pipeline = await stages(api, admin_token)
    created = await create(api, admin_token)

    payload = await update(
        api,
        admin_token,
        created,
        stageId=pipeline["Proposal"]["id"],
        probability=67,
        forecastCategory="COMMIT",
    )

    assert payload["userErrors"] == []
    assert payload["opportunity"]["probability"] == 67
    assert payload["opportunity"]["forecastCategory"] == "COMMIT"
    assert payload["opportunity"]["stage"]["name"] == "Proposal"


async def test_closing_stages_are_refused_outside_won_and_lost(api: Api, admin_token: str) -> None:
    pipeline = await stages(api, admin_token)
    created = await create(api, admin_token)

    for stage in ["Closed Won", "Closed Lost"]:
        payload = await update(api, admin_token, created, stageId=pipeline[stage]["id"])
        refused(payload, "INVALID_STATE", ["stageId"])
        values = {"name": "Born closed", "expectedValue": eur("1.00")}
        payload = await call(
            api, "createOpportunity", admin_token, **values, stageId=pipeline[stage]["id"]
        )
        refused(payload, "INVALID_STATE", ["stageId"])

    assert await read(api, admin_token, created["id"]) == created
    assert (await listing(api, admin_token))["totalCount"] == 1


async def test_update_with_unchanged_values_keeps_the_version(api: Api, admin_token: str) -> None:
    created = await create(api, admin_token, name="Same", description="Same text", probability=20)
    events = await history_count(api, admin_token, created["id"])

    payload = await update(
        api,
        admin_token,
        created,
        name="Same",
        description="Same text",
        probability=20,
        expectedValue=eur("1000"),
        stageId=created["stage"]["id"],
    )

    assert payload["userErrors"] == []
    assert payload["opportunity"]["version"] == created["version"]
    assert await read(api, admin_token, created["id"]) == created
    assert await history_count(api, admin_token, created["id"]) == events


# --- expectedVersion ------------------------------------------------------------------------


async def test_stale_version_is_a_conflict_that_returns_the_current_state(
    api: Api, admin_token: str
) -> None:
    created = await create(api, admin_token)
    current = (await update(api, admin_token, created, name="First edit"))["opportunity"]
    events = await history_count(api, admin_token, created["id"])

    # A second editor still holds the version from before the first edit.
    payload = await update(api, admin_token, created, name="Second edit", probability=90)

    refused(payload, "CONFLICT", ["expectedVersion"])
    assert payload["opportunity"] == current
    assert await read(api, admin_token, created["id"]) == current
    assert await history_count(api, admin_token, created["id"]) == events


async def test_every_closing_mutation_checks_the_version(api: Api, admin_token: str) -> None:
    created = await create(api, admin_token)
    current = (await update(api, admin_token, created, name="Edited"))["opportunity"]
    stale = {"id": created["id"], "expectedVersion": created["version"]}

    for mutation in [
        "markOpportunityWon",
        "markOpportunityLost",
        "deleteOpportunity",
        "moveOpportunity",
        "reopenOpportunity",
    ]:
        extra = {"folderId": None} if mutation == "moveOpportunity" else {}
        payload = await call(api, mutation, admin_token, **stale, **extra)
        refused(payload, "CONFLICT")
        assert payload["opportunity"] == current, mutation

    assert await read(api, admin_token, created["id"]) == current


async def test_two_concurrent_editors_one_wins_the_other_conflicts(
    api: Api, admin_token: str
) -> None:
    _, alice = await api.create_user(admin_token, "alice@example.com")
    _, bob = await api.create_user(admin_token, "bob@example.com")
    created = await create(api, alice)
    events = await history_count(api, alice, created["id"])

    results = await asyncio.gather(
        update(api, alice, created, name="Alice's name", probability=11),
        update(api, bob, created, name="Bob's name", probability=22),
    )

    winners = [r for r in results if not r["userErrors"]]
    losers = [r for r in results if r["userErrors"]]
    assert len(winners) == 1 and len(losers) == 1, results
    refused(losers[0], "CONFLICT")
    # The loser sees the winner's state, and that is what was stored.
    assert losers[0]["opportunity"] == winners[0]["opportunity"]
    stored = await read(api, admin_token, created["id"])
    assert stored == winners[0]["opportunity"]
    assert stored is not None and stored["version"] == created["version"] + 1
    assert await history_count(api, alice, created["id"]) == events + 1


# --- won, lost, reopen ----------------------------------------------------------------------


async def test_mark_won_defaults_to_expected_value_and_today(api: Api, admin_token: str) -> None:
    created = await create(api, admin_token, expectedValue=eur("750.25"))

    payload = await call(
        api,
        "markOpportunityWon",
        admin_token,
        id=created["id"],
        expectedVersion=created["version"],
    )

    assert payload["userErrors"] == []
    won = payload["opportunity"]
    assert won["status"] == "WON"
    assert won["stage"]["kind"] == "WON"
    assert won["probability"] == 100
    assert won["forecastCategory"] == "CLOSED"
    assert won["actualValue"] == eur("750.25")
    assert won["actualCloseDate"] == today()
    assert won["weightedValue"] == eur("750.25")
    assert won["version"] > created["version"]
    assert await read(api, admin_token, created["id"]) == won


async def test_mark_won_records_the_given_actual_value_and_date(api: Api, admin_token: str) -> None:
    created = await create(api, admin_token, expectedValue=eur("1000.00"))

    payload = await call(
        api,
        "markOpportunityWon",
        admin_token,
        id=created["id"],
        expectedVersion=created["version"],
        actualValue=eur("930.10"),
        actualCloseDate="2030-02-01",
    )

    assert payload["userErrors"] == []
    assert payload["opportunity"]["actualValue"] == eur("930.10")
    assert payload["opportunity"]["actualCloseDate"] == "2030-02-01"
    assert payload["opportunity"]["expectedValue"] == eur("1000.00")


async def test_mark_won_in_another_currency_is_refused(api: Api, admin_token: str) -> None:
    created = await create(api, admin_token, expectedValue=eur("1000.00"))

    payload = await call(
        api,
        "markOpportunityWon",
        admin_token,
        id=created["id"],
        expectedVersion=created["version"],
        actualValue={"amount": "1000.00", "currency": "USD"},
    )

    assert payload["userErrors"] and payload["opportunity"] is None
    assert payload["userErrors"][0]["field"] == ["actualValue", "currency"]
    assert await read(api, admin_token, created["id"]) == created


async def test_mark_lost_records_reasons_competitor_and_note(api: Api, admin_token: str) -> None:
    reasons = {r["name"]: r for r in (await api.ok(LOST_REASONS, token=admin_token))["lostReasons"]}
    rival = await company(api, admin_token, "Rival Corp")
    created = await create(api, admin_token, probability=70)

    payload = await call(
        api,
        "markOpportunityLost",
        admin_token,
        id=created["id"],
        expectedVersion=created["version"],
        lostReasonIds=[reasons["Price"]["id"], reasons["Timing"]["id"]],
        awardedToId=rival,
        note="They undercut us by 20%",
        actualCloseDate="2030-03-03",
    )

    assert payload["userErrors"] == []
    lost = payload["opportunity"]
    assert lost["status"] == "LOST"
    assert lost["stage"]["kind"] == "LOST"
    assert lost["probability"] == 0
    assert lost["weightedValue"] == eur("0.00")
    assert lost["awardedTo"] == {"id": rival, "name": "Rival Corp"}
    assert sorted(r["name"] for r in lost["lostReasons"]) == ["Price", "Timing"]
    assert lost["lostNote"] == "They undercut us by 20%"
    assert lost["actualCloseDate"] == "2030-03-03"
    assert await read(api, admin_token, created["id"]) == lost


async def test_mark_lost_with_an_unknown_reason_is_not_found(api: Api, admin_token: str) -> None:
    created = await create(api, admin_token)

    payload = await call(
        api,
        "markOpportunityLost",
        admin_token,
        id=created["id"],
        expectedVersion=created["version"],
        lostReasonIds=[global_id("LostReason", 999_999)],
    )

    refused(payload, "NOT_FOUND", ["lostReasonIds"])
    assert await read(api, admin_token, created["id"]) == created


async def test_mark_lost_with_bad_details_changes_nothing(api: Api, admin_token: str) -> None:
    created = await create(api, admin_token)
    a_company = await company(api, admin_token, "A company")
    cases: list[tuple[dict[str, Any], str, list[str]]] = [
        ({"lostReasonIds": [a_company]}, "INVALID_ID", ["lostReasonIds"]),
        ({"lostReasonIds": ["garbage"]}, "INVALID_ID", ["lostReasonIds"]),
        ({"awardedToId": global_id("Company", 999_999)}, "NOT_FOUND", ["awardedToId"]),
        ({"awardedToId": created["id"]}, "INVALID_ID", ["awardedToId"]),
        ({"note": "n" * 10_001}, "TOO_LONG", ["note"]),
    ]

    for values, code, field in cases:
        payload = await call(
            api,
            "markOpportunityLost",
            admin_token,
            id=created["id"],
            expectedVersion=created["version"],
            **values,
        )
        refused(payload, code, field)

    assert await read(api, admin_token, created["id"]) == created


async def test_mark_won_with_a_bad_actual_value_changes_nothing(api: Api, admin_token: str) -> None:
    created = await create(api, admin_token)

    for value, code in [
        (eur("-1.00"), "OUT_OF_RANGE"),
        (eur("1.001"), "INVALID"),
        ({"amount": "1", "currency": "XYZ"}, "UNKNOWN_CURRENCY"),
    ]:
        payload = await call(
            api,
            "markOpportunityWon",
            admin_token,
            id=created["id"],
            expectedVersion=created["version"],
            actualValue=value,
        )
        refused(payload, code)
        assert payload["userErrors"][0]["field"][0] == "actualValue"

    assert await read(api, admin_token, created["id"]) == created


async def test_reopen_after_lost_returns_to_the_stage_and_clears_the_outcome(
    api: Api, admin_token: str
) -> None:
    pipeline = await stages(api, admin_token)
    reason = (await api.ok(LOST_REASONS, token=admin_token))["lostReasons"][0]
    created = await create(api, admin_token, stageId=pipeline["Proposal"]["id"])
    lost = await call(
        api,
        "markOpportunityLost",
        admin_token,
        id=created["id"],
        expectedVersion=created["version"],
        lostReasonIds=[reason["id"]],
        awardedToId=await company(api, admin_token, "Winner Inc"),
        note="Lost it",
    )

    payload = await call(
        api,
        "reopenOpportunity",
        admin_token,
        id=created["id"],
        expectedVersion=lost["opportunity"]["version"],
    )

    assert payload["userErrors"] == []
    reopened = payload["opportunity"]
    assert reopened["status"] == "OPEN"
    assert reopened["stage"]["id"] == pipeline["Proposal"]["id"]
    assert reopened["probability"] == pipeline["Proposal"]["defaultProbability"]
    assert reopened["forecastCategory"] == pipeline["Proposal"]["forecastCategory"]
    for cleared in ("awardedTo", "lostNote", "actualCloseDate", "actualValue"):
        assert reopened[cleared] is None, cleared
    assert reopened["lostReasons"] == []
    assert await read(api, admin_token, created["id"]) == reopened


async def test_reopen_after_won_clears_the_actual_value(api: Api, admin_token: str) -> None:
    pipeline = await stages(api, admin_token)
    created = await create(api, admin_token, stageId=pipeline["Negotiation"]["id"])
    won = await call(
        api,
        "markOpportunityWon",
        admin_token,
        id=created["id"],
        expectedVersion=created["version"],
    )

    payload = await call(
        api,
        "reopenOpportunity",
        admin_token,
        id=created["id"],
        expectedVersion=won["opportunity"]["version"],
    )

    assert payload["userErrors"] == []
    assert payload["opportunity"]["status"] == "OPEN"
    assert payload["opportunity"]["stage"]["name"] == "Negotiation"
    assert payload["opportunity"]["actualValue"] is None
    assert payload["opportunity"]["actualCloseDate"] is None


async def test_reopen_an_open_opportunity_is_an_invalid_state(api: Api, admin_token: str) -> None:
    created = await create(api, admin_token)

    payload = await call(
        api,
        "reopenOpportunity",
        admin_token,
        id=created["id"],
        expectedVersion=created["version"],
    )

    refused(payload, "INVALID_STATE")
    assert await read(api, admin_token, created["id"]) == created


async def test_a_closed_opportunity_cannot_be_closed_again(api: Api, admin_token: str) -> None:
    created = await create(api, admin_token)
    won = (
        await call(
            api,
            "markOpportunityWon",
            admin_token,
            id=created["id"],
            expectedVersion=created["version"],
        )
    )["opportunity"]

    again = {"id": won["id"], "expectedVersion": won["version"]}
    refused(await call(api, "markOpportunityLost", admin_token, **again), "INVALID_STATE")
    refused(await call(api, "markOpportunityWon", admin_token, **again), "INVALID_STATE")
    assert await read(api, admin_token, created["id"]) == won


# --- delete and move ------------------------------------------------------------------------


async def test_deleted_opportunity_disappears_from_every_read(api: Api, admin_token: str) -> None:
    kept = await create(api, admin_token, name="Kept")
    doomed = await create(api, admin_token, name="Doomed")

    payload = await call(
        api,
        "deleteOpportunity",
        admin_token,
        id=doomed["id"],
        expectedVersion=doomed["version"],
    )

    assert payload["userErrors"] == []
    assert payload["opportunity"]["isDeleted"] is True
    assert await read(api, admin_token, doomed["id"]) is None
    assert (await api.ok(NODE, {"id": doomed["id"]}, admin_token))["node"] is None
    page = await listing(api, admin_token)
    assert [e["node"]["id"] for e in page["edges"]] == [kept["id"]]
    assert page["totalCount"] == 1
    # A deleted opportunity cannot be changed any more: it looks missing.
    refused(await update(api, admin_token, payload["opportunity"], name="Zombie"), "NOT_FOUND")


async def test_only_the_owner_or_an_admin_may_delete(api: Api, admin_token: str) -> None:
    _, owner = await api.create_user(admin_token, "owner@example.com")
    _, other = await api.create_user(admin_token, "other@example.com")
    mine = await create(api, owner, name="Mine")
    also_mine = await create(api, owner, name="Also mine")

    denied = await call(
        api, "deleteOpportunity", other, id=mine["id"], expectedVersion=mine["version"]
    )
    refused(denied, "FORBIDDEN")
    assert await read(api, other, mine["id"]) == mine

    by_owner = await call(
        api, "deleteOpportunity", owner, id=mine["id"], expectedVersion=mine["version"]
    )
    by_admin = await call(
        api,
        "deleteOpportunity",
        admin_token,
        id=also_mine["id"],
        expectedVersion=also_mine["version"],
    )
    assert by_owner["userErrors"] == [] and by_admin["userErrors"] == []
    assert (await listing(api, owner))["totalCount"] == 0


async def test_move_files_the_opportunity_and_records_a_moved_event(
    api: Api, admin_token: str
) -> None:
    target = await folder(api, admin_token, "Target")
    created = await create(api, admin_token)

    moved = await call(
        api,
        "moveOpportunity",
        admin_token,
        id=created["id"],
        expectedVersion=created["version"],
        folderId=target,
    )
    assert moved["userErrors"] == []
    assert moved["opportunity"]["folder"] == {"id": target, "name": "Target"}
    unfiled = await call(
        api,
        "moveOpportunity",
        admin_token,
        id=created["id"],
        expectedVersion=moved["opportunity"]["version"],
        folderId=None,
    )
    assert unfiled["opportunity"]["folder"] is None

    history = (await api.ok(HISTORY, {"id": created["id"]}, admin_token))["opportunity"]["history"]
    newest, previous = history["nodes"][:2]
    assert newest["kind"] == previous["kind"] == "MOVED"
    assert newest["changes"] == [{"field": "folder", "old": target, "new": None}]
    assert previous["changes"] == [{"field": "folder", "old": None, "new": target}]
    in_folder = await listing(api, admin_token, filter={"folderId": target})
    assert in_folder["totalCount"] == 0


async def test_move_into_an_unknown_folder_is_not_found(api: Api, admin_token: str) -> None:
    created = await create(api, admin_token)

    payload = await call(
        api,
        "moveOpportunity",
        admin_token,
        id=created["id"],
        expectedVersion=created["version"],
        folderId=global_id("Folder", 424242),
    )

    refused(payload, "NOT_FOUND", ["folderId"])
    assert await read(api, admin_token, created["id"]) == created


# --- bad input ------------------------------------------------------------------------------


async def test_unknown_wrong_type_and_garbage_ids_are_user_errors(
    api: Api, admin_token: str
) -> None:
    created = await create(api, admin_token)
    a_company = await company(api, admin_token, "Some company")

    for bad_id, code in [
        (global_id("Opportunity", 987_654), "NOT_FOUND"),
        (a_company, "INVALID_ID"),
        ("not-an-id", "INVALID_ID"),
        ("", "INVALID_ID"),
        (global_id("Opportunity", "abc"), "INVALID_ID"),
        (global_id("Opportunity", -1), "INVALID_ID"),
        ("x" * 5000, "INVALID_ID"),
    ]:
        for mutation in MUTATIONS.keys() - {"createOpportunity"}:
            extra = {"folderId": None} if mutation == "moveOpportunity" else {}
            payload = await call(api, mutation, admin_token, id=bad_id, expectedVersion=1, **extra)
            assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [(code, ["id"])], (
                mutation,
                bad_id,
                payload,
            )
            assert payload["opportunity"] is None

    assert await read(api, admin_token, created["id"]) == created


async def test_create_with_a_bad_reference_changes_nothing(api: Api, admin_token: str) -> None:
    cases = [
        ("stageId", global_id("Stage", 999), "NOT_FOUND"),
        ("stageId", global_id("Folder", 1), "INVALID_ID"),
        ("folderId", global_id("Folder", 999), "NOT_FOUND"),
        ("folderId", "garbage", "INVALID_ID"),
        ("ownerId", global_id("User", 999), "NOT_FOUND"),
        ("ownerId", global_id("Team", 1), "INVALID_ID"),
    ]
    for field, value, code in cases:
        values = {"name": "Deal", "expectedValue": eur("10.00"), field: value}
        payload = await call(api, "createOpportunity", admin_token, **values)
        refused(payload, code, [field])
        assert payload["opportunity"] is None

    assert (await listing(api, admin_token))["totalCount"] == 0


BAD_VALUES: list[tuple[dict[str, Any], str]] = [
    ({"expectedValue": eur("-0.01")}, "OUT_OF_RANGE"),
    ({"expectedValue": eur("10.005")}, "INVALID"),
    ({"expectedValue": {"amount": "10.5", "currency": "JPY"}}, "INVALID"),
    ({"expectedValue": {"amount": "1.0005", "currency": "KWD"}}, "INVALID"),
    ({"expectedValue": {"amount": "10", "currency": "XYZ"}}, "UNKNOWN_CURRENCY"),
    ({"expectedValue": {"amount": "10", "currency": ""}}, "UNKNOWN_CURRENCY"),
    ({"expectedValue": eur("1e20")}, "OUT_OF_RANGE"),
    ({"probability": -1}, "OUT_OF_RANGE"),
    ({"probability": 101}, "OUT_OF_RANGE"),
    ({"name": ""}, "REQUIRED"),
    ({"name": "   "}, "REQUIRED"),
    ({"name": "n" * 201}, "TOO_LONG"),
    ({"description": "d" * 10_001}, "TOO_LONG"),
    ({"name": "bad\x00name"}, "INVALID"),
]


def refused_for(payload: dict[str, Any], values: dict[str, Any], code: str) -> None:
    """Refused with `code`, blaming the (first) input field in `values`."""
    errors = payload["userErrors"]
    assert [e["code"] for e in errors] == [code], (values, errors)
    assert errors[0]["field"][0] == next(iter(values)), (values, errors)
    assert payload["opportunity"] is None, values


async def test_create_with_a_bad_value_changes_nothing(api: Api, admin_token: str) -> None:
    for values, code in BAD_VALUES:
        payload = await call(
            api,
            "createOpportunity",
            admin_token,
            **{"name": "Deal", "expectedValue": eur("10.00"), **values},
        )
        refused_for(payload, values, code)

    assert (await listing(api, admin_token))["totalCount"] == 0
    # Nothing was used up either: the next opportunity gets the first number.
    assert (await create(api, admin_token))["number"] == "OPP-000001"


async def test_update_with_a_bad_value_changes_nothing(api: Api, admin_token: str) -> None:
    created = await create(api, admin_token)
    events = await history_count(api, admin_token, created["id"])

    for values, code in BAD_VALUES:
        # Mixed with a valid change, which must not be applied either.
        payload = await update(api, admin_token, created, nextStep="Valid change", **values)
        refused_for(payload, values, code)

    assert await read(api, admin_token, created["id"]) == created
    assert await history_count(api, admin_token, created["id"]) == events


async def test_name_of_200_characters_is_accepted(api: Api, admin_token: str) -> None:
    created = await create(api, admin_token, name="n" * 200, description="d" * 10_000)

    assert created["name"] == "n" * 200
    assert created["description"] == "d" * 10_000


async def test_money_amount_must_be_a_decimal_string(api: Api, admin_token: str) -> None:
    for amount in [10, 10.5, None, "ten", "NaN", "Infinity", "", "1" * 41]:
        body = await api.gql(
            CREATE,
            {"i": {"name": "Deal", "expectedValue": {"amount": amount, "currency": "EUR"}}},
            admin_token,
        )
        top_level_error(body)
        assert body.get("data") is None, (amount, body)

    assert (await listing(api, admin_token))["totalCount"] == 0


async def test_queries_with_a_wrong_or_garbage_id_are_bad_user_input(
    api: Api, admin_token: str
) -> None:
    a_company = await company(api, admin_token, "A company")

    for bad_id in [a_company, "garbage", global_id("Nope", 1), "x" * 5000]:
        body = await api.gql(READ, {"id": bad_id}, admin_token)
        assert top_level_error(body)["extensions"]["code"] == "BAD_USER_INPUT", body
    body = await api.gql(NODE, {"id": "garbage"}, admin_token)
    assert top_level_error(body)["extensions"]["code"] == "BAD_USER_INPUT", body
    unknown = await api.ok(READ, {"id": global_id("Opportunity", 123_456)}, admin_token)
    assert unknown["opportunity"] is None


# --- the opportunities connection -----------------------------------------------------------


async def test_pagination_visits_every_opportunity_once(api: Api, admin_token: str) -> None:
    for i in range(7):
        await create(api, admin_token, name=f"Deal {i}")

    seen = await walk(api, admin_token, 3, orderBy=[{"field": "NUMBER", "direction": "ASC"}])

    assert seen == [f"Deal {i}" for i in range(7)]
    page = await listing(api, admin_token, first=3)
    assert page["totalCount"] == 7
    assert page["pageInfo"]["hasNextPage"] is True
    last = await listing(api, admin_token, first=3, after=page["pageInfo"]["endCursor"])
    assert last["totalCount"] == 7


async def test_order_by_name_ascending_ignores_case(api: Api, admin_token: str) -> None:
    for name in ["charlie", "Alpha", "bravo", "Delta"]:
        await create(api, admin_token, name=name)

    ordered = await names(api, admin_token, orderBy=[{"field": "NAME", "direction": "ASC"}])

    assert ordered == ["Alpha", "bravo", "charlie", "Delta"]


async def test_order_by_expected_value_descending_breaks_ties_stably(
    api: Api, admin_token: str
) -> None:
    for name, amount in [("a", "50"), ("b", "900"), ("c", "50"), ("d", "50"), ("e", "1000")]:
        await create(api, admin_token, name=name, expectedValue=eur(amount))
    order = [{"field": "EXPECTED_VALUE", "direction": "DESC"}]

    whole = await names(api, admin_token, orderBy=order)
    one_by_one = await walk(api, admin_token, 1, orderBy=order)

    assert whole[:2] == ["e", "b"]
    assert sorted(whole[2:]) == ["a", "c", "d"]
    assert one_by_one == whole
    assert await names(api, admin_token, orderBy=order) == whole


async def test_order_by_close_date_puts_missing_dates_last_ascending(
    api: Api, admin_token: str
) -> None:
    for name, close in [
        ("later", "2031-01-01"),
        ("none-1", None),
        ("sooner", "2030-01-01"),
        ("none-2", None),
    ]:
        await create(api, admin_token, name=name, estimatedCloseDate=close)

    ascending = [{"field": "ESTIMATED_CLOSE_DATE", "direction": "ASC"}]
    descending = [{"field": "ESTIMATED_CLOSE_DATE", "direction": "DESC"}]
    up = await walk(api, admin_token, 1, orderBy=ascending)
    down = await walk(api, admin_token, 1, orderBy=descending)

    assert up[:2] == ["sooner", "later"] and sorted(up[2:]) == ["none-1", "none-2"]
    assert sorted(down[:2]) == ["none-1", "none-2"] and down[2:] == ["later", "sooner"]
    assert up == await names(api, admin_token, orderBy=ascending)


async def test_several_sort_keys_apply_in_order(api: Api, admin_token: str) -> None:
    for name, probability in [("b", 50), ("a", 50), ("c", 90)]:
        await create(api, admin_token, name=name, probability=probability)
    order = [{"field": "PROBABILITY", "direction": "DESC"}, {"field": "NAME", "direction": "ASC"}]

    assert await walk(api, admin_token, 1, orderBy=order) == ["c", "a", "b"]


async def test_bad_list_arguments_are_refused(api: Api, admin_token: str) -> None:
    cases: list[dict[str, Any]] = [
        {"first": 101},
        {"first": 1000},
        {"first": -1},
        {"orderBy": [{"field": "NAME"}, {"field": "NAME", "direction": "ASC"}]},
        {"filter": {"search": "s" * 201}},
        {"filter": {"folderId": "garbage"}},
    ]
    for variables in cases:
        body = await api.gql(LIST, variables, admin_token)
        assert top_level_error(body)["extensions"]["code"] == "BAD_USER_INPUT", variables

    assert (await listing(api, admin_token, first=100))["edges"] == []


async def test_garbage_cursor_is_refused(api: Api, admin_token: str) -> None:
    await create(api, admin_token)

    for cursor in ["garbage", "!!!", base64.urlsafe_b64encode(b'{"a": 1}').decode(), "W10"]:
        body = await api.gql(LIST, {"first": 1, "after": cursor}, admin_token)
        assert top_level_error(body)["extensions"]["code"] == "BAD_USER_INPUT", (cursor, body)


async def test_cursor_from_another_order_is_refused(api: Api, admin_token: str) -> None:
    # A client that changes the sort but keeps its cursor must get a clear error, not a crash.
    for name in ["One", "Two"]:
        await create(api, admin_token, name=name, estimatedCloseDate="2030-01-01")
    cases = [
        ("NAME", "EXPECTED_VALUE"),
        ("NAME", "PROBABILITY"),
        ("EXPECTED_VALUE", "NAME"),
        ("NAME", "ESTIMATED_CLOSE_DATE"),
        ("PROBABILITY", "CREATED_AT"),
    ]
    for taken_with, used_with in cases:
        page = await listing(api, admin_token, first=1, orderBy=[{"field": taken_with}])
        body = await api.gql(
            LIST,
            {"first": 1, "after": page["pageInfo"]["endCursor"], "orderBy": [{"field": used_with}]},
            admin_token,
        )
        error = top_level_error(body)
        assert error["extensions"]["code"] == "BAD_USER_INPUT", (taken_with, used_with, body)


async def test_filter_by_status(api: Api, admin_token: str) -> None:
    open_one = await create(api, admin_token, name="Open")
    won = await create(api, admin_token, name="Won")
    await call(
        api,
        "markOpportunityWon",
        admin_token,
        id=won["id"],
        expectedVersion=won["version"],
    )

    assert await names(api, admin_token, filter={"status": ["WON"]}) == ["Won"]
    assert await names(api, admin_token, filter={"status": ["OPEN"]}) == [open_one["name"]]
    both = await listing(api, admin_token, filter={"status": ["OPEN", "WON"]})
    assert both["totalCount"] == 2
    assert (await listing(api, admin_token, filter={"status": ["LOST"]}))["totalCount"] == 0


async def test_filter_by_stage_ids(api: Api, admin_token: str) -> None:
    pipeline = await stages(api, admin_token)
    await create(api, admin_token, name="Early", stageId=pipeline["Prospecting"]["id"])
    await create(api, admin_token, name="Late", stageId=pipeline["Negotiation"]["id"])
    await create(api, admin_token, name="Middle", stageId=pipeline["Proposal"]["id"])

    found = await listing(
        api,
        admin_token,
        filter={"stageIds": [pipeline["Negotiation"]["id"], pipeline["Proposal"]["id"]]},
        orderBy=[{"field": "NAME", "direction": "ASC"}],
    )

    assert [e["node"]["name"] for e in found["edges"]] == ["Late", "Middle"]
    assert found["totalCount"] == 2


async def test_filter_by_owner_ids(api: Api, admin_token: str) -> None:
    owner_id, owner = await api.create_user(admin_token, "own@example.com")
    await create(api, owner, name="Owned")
    await create(api, admin_token, name="Admin's")

    found = await listing(api, admin_token, filter={"ownerIds": [owner_id]})

    assert [e["node"]["name"] for e in found["edges"]] == ["Owned"]
    assert found["totalCount"] == 1


async def test_filter_by_search_matches_name_or_number_case_insensitively(
    api: Api, admin_token: str
) -> None:
    await create(api, admin_token, name="Big Widget order")
    await create(api, admin_token, name="Gadgets")
    await create(api, admin_token, name="100% Widgets")

    assert sorted(await names(api, admin_token, filter={"search": "widget"})) == [
        "100% Widgets",
        "Big Widget order",
    ]
    assert await names(api, admin_token, filter={"search": "opp-000002"}) == ["Gadgets"]
    # Wildcards in the search text are taken literally.
    assert await names(api, admin_token, filter={"search": "0%"}) == ["100% Widgets"]
    assert await names(api, admin_token, filter={"search": "_"}) == []


async def test_filter_by_linked_company_and_contact(api: Api, admin_token: str) -> None:
    acme = await company(api, admin_token, "Acme")
    contact = (
        await api.mutate(
            "createContact",
            CREATE_CONTACT,
            {"i": {"firstName": "Cleo", "lastName": "Buyer", "companyId": acme}},
            admin_token,
        )
    )["contact"]["id"]
    with_company = await create(api, admin_token, name="With company")
    with_contact = await create(api, admin_token, name="With contact")
    await create(api, admin_token, name="Unlinked")
    for opportunity, target, role in [
        (with_company, acme, "CUSTOMER"),
        (with_contact, contact, "CHAMPION"),
    ]:
        await api.mutate(
            "linkParticipant",
            LINK,
            {"i": {"opportunityId": opportunity["id"], "participantId": target, "role": role}},
            admin_token,
        )

    by_company = await listing(api, admin_token, filter={"companyIds": [acme]})
    by_contact = await listing(api, admin_token, filter={"contactIds": [contact]})

    assert [e["node"]["name"] for e in by_company["edges"]] == ["With company"]
    assert by_company["totalCount"] == 1
    assert [e["node"]["name"] for e in by_contact["edges"]] == ["With contact"]
    assert by_contact["totalCount"] == 1


async def test_filter_with_a_wrong_type_id_is_bad_user_input(api: Api, admin_token: str) -> None:
    stage = next(iter((await stages(api, admin_token)).values()))

    body = await api.gql(LIST, {"filter": {"companyIds": [stage["id"]]}}, admin_token)

    error = top_level_error(body)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert json.dumps(error["extensions"]).count("companyIds") == 1
