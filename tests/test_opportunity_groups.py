"""`opportunityGroups`: counts and per-currency totals, as the asker may see them (issue 5)."""

from __future__ import annotations

from typing import Any

from tests.client import Api

CREATE = """mutation($i: CreateOpportunityInput!) { createOpportunity(input: $i) {
  opportunity { id } userErrors { code message } } }"""
GROUPS = """query($by: OpportunityGroupBy!, $filter: OpportunityFilterInput) {
  opportunityGroups(groupBy: $by, filter: $filter) {
    key count stage { id name } owner { id }
    totals { currency count value { amount currency } weightedValue { amount } }
  } }"""


async def create(api: Api, token: str, amount: str, currency: str = "EUR", **fields: Any) -> str:
    values = {"name": "Deal", "expectedValue": {"amount": amount, "currency": currency}, **fields}
    opportunity_id: str = (await api.mutate("createOpportunity", CREATE, {"i": values}, token))[
        "opportunity"
    ]["id"]
    return opportunity_id


async def groups(api: Api, token: str, by: str, **variables: Any) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = (await api.ok(GROUPS, {"by": by, **variables}, token))[
        "opportunityGroups"
    ]
    return result


async def test_stage_groups_list_every_stage_with_totals_per_currency(
    api: Api, admin_token: str
) -> None:
    stages = (await api.ok("{ stages { id } }", token=admin_token))["stages"]
    await create(api, admin_token, "100.00", probability=10)
    await create(api, admin_token, "50.50", probability=50)
    await create(api, admin_token, "7.00", "USD", probability=100)
    got = await groups(api, admin_token, "STAGE")
    assert [g["key"] for g in got] == [s["id"] for s in stages]
    first, *rest = got
    assert first["stage"]["id"] == stages[0]["id"] and first["count"] == 3
    assert first["totals"] == [
        {
            "currency": "EUR",
            "count": 2,
            "value": {"amount": "150.50", "currency": "EUR"},
            "weightedValue": {"amount": "35.25"},
        },
        {
            "currency": "USD",
            "count": 1,
            "value": {"amount": "7.00", "currency": "USD"},
            "weightedValue": {"amount": "7.00"},
        },
    ]
    assert all(g["count"] == 0 and g["totals"] == [] for g in rest)


async def test_an_outsider_counts_and_totals_leave_out_private_deals(
    api: Api, admin_token: str
) -> None:
    _, owner = await api.create_user(admin_token, "owner@example.com")
    _, outsider = await api.create_user(admin_token, "outsider@example.com")
    await create(api, owner, "100.00", visibility="PRIVATE")
    await create(api, owner, "1.00")
    mine = await groups(api, owner, "STATUS")
    theirs = await groups(api, outsider, "STATUS")
    assert [(g["key"], g["count"]) for g in mine] == [("OPEN", 2)]
    assert [(g["key"], g["count"]) for g in theirs] == [("OPEN", 1)]
    assert theirs[0]["totals"][0]["value"]["amount"] == "1.00"


async def test_an_inverted_range_is_a_bad_input(api: Api, admin_token: str) -> None:
    body = await api.gql(
        GROUPS, {"by": "OWNER", "filter": {"probability": {"min": 50, "max": 10}}}, admin_token
    )
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
