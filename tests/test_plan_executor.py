"""The plan executor seen from outside: live events built once per group of subscribers,
results that depend on the viewer kept apart, and what /metrics says about plans."""

from __future__ import annotations

import re
from typing import Any

from tests.client import Api, metric, until_subscribed

CREATE = """
mutation($input: CreateOpportunityInput!) {
  createOpportunity(input: $input) { opportunity { id version } userErrors { field message } }
}
"""
UPDATE = """
mutation($input: UpdateOpportunityInput!) {
  updateOpportunity(input: $input) { opportunity { id version } userErrors { field message } }
}
"""
CREATE_FOLDER = """
mutation($name: String!) {
  createFolder(input: {name: $name}) { folder { id } userErrors { code } }
}
"""
NAMES = """
subscription($id: ID) {
  opportunityEvents(opportunityId: $id) { cursor opportunity { name owner { name } } }
}
"""
VERSIONS = """
subscription($id: ID) {
  opportunityEvents(opportunityId: $id) { cursor version opportunity { stage { name } } }
}
"""
FOLDER_COUNTS = """
subscription {
  opportunityEvents { opportunity { name folder { opportunityCount } } }
}
"""


async def create(api: Api, token: str, name: str, **fields: Any) -> dict[str, Any]:
    variables = {
        "input": {"name": name, "expectedValue": {"amount": "100", "currency": "EUR"}, **fields}
    }
    payload = await api.mutate("createOpportunity", CREATE, variables, token)
    opportunity: dict[str, Any] = payload["opportunity"]
    return opportunity


async def rename(api: Api, token: str, opportunity: dict[str, Any], name: str) -> None:
    await api.mutate(
        "updateOpportunity",
        UPDATE,
        {
            "input": {
                "id": opportunity["id"],
                "expectedVersion": opportunity["version"],
                "name": name,
            }
        },
        token,
    )


async def test_one_event_is_built_once_per_selection_whatever_the_subscriber_count(
    api: Api, admin_token: str
) -> None:
    _, member = await api.create_user(admin_token, "mia@example.com")
    deal = await create(api, admin_token, "Shared", visibility="PUBLIC")
    variables = {"id": deal["id"]}
    async with (
        api.subscriber(admin_token) as first,
        api.subscriber(member) as second,
        api.subscriber(admin_token) as third,
        api.subscriber(member) as other,
    ):
        for subscriber in (first, second, third):
            await subscriber.subscribe(NAMES, variables)
        await other.subscribe(VERSIONS, variables)
        await until_subscribed(api, 4)
        built = await metric(api, "tandem_event_results_built_total")

        await rename(api, admin_token, deal, "Shared and renamed")

        received = [await s.next() for s in (first, second, third)]
        assert received[0] == received[1] == received[2]
        assert received[0]["opportunityEvents"]["opportunity"] == {
            "name": "Shared and renamed",
            "owner": {"name": "Ada Admin"},
        }
        versions = (await other.next())["opportunityEvents"]
        assert versions["version"] == 2 and versions["opportunity"]["stage"]["name"]
        # Two selections (the same variables): two results for four subscribers.
        assert await metric(api, "tandem_event_results_built_total") == built + 2


async def test_an_event_field_that_depends_on_the_viewer_is_built_for_each_kind_of_viewer(
    api: Api, admin_token: str
) -> None:
    _, member = await api.create_user(admin_token, "mia@example.com")
    folder = (await api.mutate("createFolder", CREATE_FOLDER, {"name": "Board"}, admin_token))[
        "folder"
    ]["id"]
    public = await create(api, admin_token, "Open deal", folderId=folder, visibility="PUBLIC")
    await create(api, admin_token, "Secret deal", folderId=folder, visibility="PRIVATE")
    async with api.subscribed(FOLDER_COUNTS, admin_token, member, admin_token) as (
        admin,
        mia,
        admin_again,
    ):
        for round_, name in enumerate(("First change", "Second change")):
            built = await metric(api, "tandem_event_results_built_total")
            await rename(api, admin_token, {**public, "version": 1 + round_}, name)
            seen = {
                "admin": (await admin.next())["opportunityEvents"]["opportunity"],
                "mia": (await mia.next())["opportunityEvents"]["opportunity"],
                "admin again": (await admin_again.next())["opportunityEvents"]["opportunity"],
            }
            assert seen == {
                "admin": {"name": name, "folder": {"opportunityCount": 2}},
                "mia": {"name": name, "folder": {"opportunityCount": 1}},
                "admin again": {"name": name, "folder": {"opportunityCount": 2}},
            }
            if round_ == 1:
                # Known to depend on the viewer: one result per kind of viewer, the two
                # admins sharing theirs.
                assert await metric(api, "tandem_event_results_built_total") == built + 2


async def test_metrics_count_what_the_standard_executor_serves_by_reason(
    api: Api, admin_token: str
) -> None:
    planned = await metric(api, "tandem_planned_operations_total")
    await api.ok("{ me { name } }", token=admin_token)
    assert await metric(api, "tandem_planned_operations_total") == planned + 1

    await api.ok("{ __schema { queryType { name } } }", token=admin_token)
    text = (await api.http.get("/metrics")).text
    assert re.search(r'^tandem_plan_fallbacks_total\{reason="introspection"\} [1-9]', text, re.M)


async def test_owners_read_with_the_deals_serve_exactly_what_each_field_shows(
    api: Api, admin_token: str
) -> None:
    """A page reads its deals' owners in the same statement, with only the columns the
    query shows of them (here the name). The same users shown elsewhere in the operation with
    more of their columns (the creator's e-mail and role, `me`) come whole all the same."""
    await create(api, admin_token, "Shown twice")
    query = """{
      me { id email role }
      opportunities(first: 5) { nodes {
        owner { id name }
        createdBy { id name email role isActive }
        stage { name }
      } }
    }"""
    data = await api.ok(query, token=admin_token)
    me = data["me"]
    nodes = data["opportunities"]["nodes"]
    assert nodes
    for node in nodes:
        assert node["owner"]["name"] and node["stage"]["name"]
        creator = node["createdBy"]
        assert creator["email"] and creator["role"] in ("ADMIN", "MEMBER")
        assert creator["isActive"] is True
        if creator["id"] == me["id"]:
            assert (creator["email"], creator["role"]) == (me["email"], me["role"])
            if node["owner"]["id"] == me["id"]:
                assert node["owner"]["name"] == creator["name"]
