"""Participants through the GraphQL API: companies, contacts, users and teams linked to an
opportunity, each in a role (issue 2 point 7, the linking part).

Covers the roles allowed per kind, duplicate links, the single primary contact, unlinking, the
opportunity's `participants`, `companies`, `contacts` and `primaryContact` fields and the
`ParticipantTarget` union.
"""

from __future__ import annotations

import base64
from typing import Any

from tests.client import Api

CREATE_OPPORTUNITY = """mutation($i: CreateOpportunityInput!) { createOpportunity(input: $i) {
  opportunity { id version } userErrors { code message } } }"""
CREATE_COMPANY = """mutation($i: CreateCompanyInput!) { createCompany(input: $i) {
  company { id } userErrors { code message } } }"""
CREATE_CONTACT = """mutation($i: CreateContactInput!) { createContact(input: $i) {
  contact { id } userErrors { code message } } }"""
CREATE_TEAM = """mutation($i: CreateTeamInput!) { createTeam(input: $i) {
  team { id } userErrors { code message } } }"""

PARTICIPANT = """id kind role isPrimary
  target {
    __typename
    ... on Company { id name }
    ... on Contact { id fullName }
    ... on User { id email }
    ... on Team { id name }
  }"""
LINK = f"""mutation($i: LinkParticipantInput!) {{ linkParticipant(input: $i) {{
  participant {{ {PARTICIPANT} }}
  opportunity {{ id version }}
  userErrors {{ field code message }} }} }}"""
UNLINK = """mutation($i: UnlinkParticipantInput!) { unlinkParticipant(input: $i) {
  opportunity { id version } userErrors { field code message } } }"""
LINKS = f"""query($id: ID!, $kind: ParticipantKind) {{ opportunity(id: $id) {{
  version
  participants(kind: $kind) {{ {PARTICIPANT} }}
  companies {{ id name }}
  contacts {{ id fullName }}
  primaryContact {{ id fullName }}
}} }}"""
NODE = f"query($id: ID!) {{ node(id: $id) {{ ... on Participant {{ {PARTICIPANT} }} }} }}"

ROLES = {
    "CONTACT": [
        "DECISION_MAKER",
        "ECONOMIC_BUYER",
        "INFLUENCER",
        "TECHNICAL_EVALUATOR",
        "CHAMPION",
        "OTHER",
    ],
    "COMPANY": ["CUSTOMER", "PARTNER", "RESELLER", "COMPETITOR", "OTHER"],
    "USER": ["SALES_REP", "PRESALES", "MANAGER", "SUPPORT", "OTHER"],
    "TEAM": ["SALES_REP", "PRESALES", "MANAGER", "SUPPORT", "OTHER"],
}


def global_id(type_name: str, pk: int) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


async def opportunity(api: Api, token: str, name: str = "Deal") -> str:
    payload = await api.mutate(
        "createOpportunity",
        CREATE_OPPORTUNITY,
        {"i": {"name": name, "expectedValue": {"amount": "100.00", "currency": "EUR"}}},
        token,
    )
    opportunity_id: str = payload["opportunity"]["id"]
    return opportunity_id


async def company(api: Api, token: str, name: str) -> str:
    payload = await api.mutate("createCompany", CREATE_COMPANY, {"i": {"name": name}}, token)
    company_id: str = payload["company"]["id"]
    return company_id


async def contact(api: Api, token: str, first: str, last: str) -> str:
    payload = await api.mutate(
        "createContact", CREATE_CONTACT, {"i": {"firstName": first, "lastName": last}}, token
    )
    contact_id: str = payload["contact"]["id"]
    return contact_id


async def team(api: Api, token: str, name: str) -> str:
    payload = await api.mutate("createTeam", CREATE_TEAM, {"i": {"name": name}}, token)
    team_id: str = payload["team"]["id"]
    return team_id


async def link(
    api: Api, token: str, opportunity_id: str, target: str, role: str, **extra: Any
) -> dict[str, Any]:
    """The linkParticipant payload, userErrors and all."""
    values = {"opportunityId": opportunity_id, "participantId": target, "role": role, **extra}
    payload: dict[str, Any] = (await api.ok(LINK, {"i": values}, token))["linkParticipant"]
    return payload


async def linked(
    api: Api, token: str, opportunity_id: str, target: str, role: str, **extra: Any
) -> dict[str, Any]:
    """The new participant, failing the test on any userError."""
    payload = await link(api, token, opportunity_id, target, role, **extra)
    assert payload["userErrors"] == [], payload
    participant: dict[str, Any] = payload["participant"]
    return participant


async def links(
    api: Api, token: str, opportunity_id: str, kind: str | None = None
) -> dict[str, Any]:
    found: dict[str, Any] = (await api.ok(LINKS, {"id": opportunity_id, "kind": kind}, token))[
        "opportunity"
    ]
    return found


async def unlink(api: Api, token: str, participant_id: str, **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = (await api.ok(UNLINK, {"i": {"id": participant_id, **extra}}, token))[
        "unlinkParticipant"
    ]
    return payload


def refused(payload: dict[str, Any], code: str, field: list[str] | None = None) -> None:
    errors = payload["userErrors"]
    assert [e["code"] for e in errors] == [code], errors
    if field is not None:
        assert errors[0]["field"] == field, errors
    assert payload.get("participant") is None, payload


async def test_link_one_of_each_kind_and_resolve_its_target(api: Api, admin_token: str) -> None:
    user_id, _ = await api.create_user(admin_token, "sam@example.com")
    deal = await opportunity(api, admin_token)
    acme = await company(api, admin_token, "Acme")
    cleo = await contact(api, admin_token, "Cleo", "Buyer")
    sales = await team(api, admin_token, "Sales")

    made = [
        await linked(api, admin_token, deal, acme, "CUSTOMER"),
        await linked(api, admin_token, deal, cleo, "DECISION_MAKER"),
        await linked(api, admin_token, deal, user_id, "SALES_REP"),
        await linked(api, admin_token, deal, sales, "PRESALES"),
    ]

    participants = (await links(api, admin_token, deal))["participants"]
    assert participants == made
    assert [(p["kind"], p["role"], p["isPrimary"]) for p in participants] == [
        ("COMPANY", "CUSTOMER", False),
        ("CONTACT", "DECISION_MAKER", False),
        ("USER", "SALES_REP", False),
        ("TEAM", "PRESALES", False),
    ]
    assert [p["target"] for p in participants] == [
        {"__typename": "Company", "id": acme, "name": "Acme"},
        {"__typename": "Contact", "id": cleo, "fullName": "Cleo Buyer"},
        {"__typename": "User", "id": user_id, "email": "sam@example.com"},
        {"__typename": "Team", "id": sales, "name": "Sales"},
    ]


async def test_every_role_of_a_kind_can_be_linked(api: Api, admin_token: str) -> None:
    user_id, _ = await api.create_user(admin_token, "rita@example.com")
    deal = await opportunity(api, admin_token)
    targets = {
        "COMPANY": await company(api, admin_token, "Roles Inc"),
        "CONTACT": await contact(api, admin_token, "Ron", "Roles"),
        "USER": user_id,
        "TEAM": await team(api, admin_token, "Roles team"),
    }

    for kind, roles in ROLES.items():
        for role in roles:
            await linked(api, admin_token, deal, targets[kind], role)

    participants = (await links(api, admin_token, deal))["participants"]
    assert sorted((p["kind"], p["role"]) for p in participants) == sorted(
        (kind, role) for kind, roles in ROLES.items() for role in roles
    )


async def test_a_role_of_another_kind_is_invalid(api: Api, admin_token: str) -> None:
    user_id, _ = await api.create_user(admin_token, "vic@example.com")
    deal = await opportunity(api, admin_token)
    cases = [
        (await contact(api, admin_token, "Con", "Tact"), "CUSTOMER"),
        (await contact(api, admin_token, "Con", "Two"), "SALES_REP"),
        (await company(api, admin_token, "Co"), "CHAMPION"),
        (await company(api, admin_token, "Co two"), "MANAGER"),
        (user_id, "DECISION_MAKER"),
        (user_id, "COMPETITOR"),
        (await team(api, admin_token, "Tea"), "ECONOMIC_BUYER"),
    ]

    for target, role in cases:
        refused(await link(api, admin_token, deal, target, role), "INVALID", ["role"])

    assert (await links(api, admin_token, deal))["participants"] == []


async def test_linking_the_same_target_in_the_same_role_twice_is_a_duplicate(
    api: Api, admin_token: str
) -> None:
    deal = await opportunity(api, admin_token)
    acme = await company(api, admin_token, "Acme")
    first = await linked(api, admin_token, deal, acme, "CUSTOMER")

    refused(await link(api, admin_token, deal, acme, "CUSTOMER"), "DUPLICATE")
    # Another role for the same company is a second link, but the company is listed once.
    second = await linked(api, admin_token, deal, acme, "PARTNER")

    found = await links(api, admin_token, deal)
    assert [p["id"] for p in found["participants"]] == [first["id"], second["id"]]
    assert found["companies"] == [{"id": acme, "name": "Acme"}]


async def test_the_same_target_can_be_linked_to_two_opportunities(
    api: Api, admin_token: str
) -> None:
    one = await opportunity(api, admin_token, "One")
    two = await opportunity(api, admin_token, "Two")
    cleo = await contact(api, admin_token, "Cleo", "Both")

    await linked(api, admin_token, one, cleo, "CHAMPION")
    await linked(api, admin_token, two, cleo, "CHAMPION")

    for deal in (one, two):
        assert (await links(api, admin_token, deal))["contacts"] == [
            {"id": cleo, "fullName": "Cleo Both"}
        ]


async def test_a_new_primary_contact_replaces_the_old_one(api: Api, admin_token: str) -> None:
    deal = await opportunity(api, admin_token)
    ann = await contact(api, admin_token, "Ann", "First")
    bob = await contact(api, admin_token, "Bob", "Second")
    old = await linked(api, admin_token, deal, ann, "DECISION_MAKER", isPrimary=True)
    assert old["isPrimary"] is True
    assert (await links(api, admin_token, deal))["primaryContact"] == {
        "id": ann,
        "fullName": "Ann First",
    }

    new = await linked(api, admin_token, deal, bob, "CHAMPION", isPrimary=True)

    found = await links(api, admin_token, deal)
    assert found["primaryContact"] == {"id": bob, "fullName": "Bob Second"}
    assert [(p["id"], p["isPrimary"]) for p in found["participants"]] == [
        (old["id"], False),
        (new["id"], True),
    ]
    assert [p["isPrimary"] for p in found["participants"]].count(True) == 1
    assert found["contacts"] == [
        {"id": ann, "fullName": "Ann First"},
        {"id": bob, "fullName": "Bob Second"},
    ]


async def test_only_a_contact_can_be_primary(api: Api, admin_token: str) -> None:
    user_id, _ = await api.create_user(admin_token, "pat@example.com")
    deal = await opportunity(api, admin_token)
    cases = [
        (await company(api, admin_token, "Primary Co"), "CUSTOMER"),
        (user_id, "SALES_REP"),
        (await team(api, admin_token, "Primary team"), "MANAGER"),
    ]

    for target, role in cases:
        payload = await link(api, admin_token, deal, target, role, isPrimary=True)
        refused(payload, "INVALID", ["isPrimary"])

    found = await links(api, admin_token, deal)
    assert found["participants"] == [] and found["primaryContact"] is None


async def test_participants_can_be_filtered_by_kind(api: Api, admin_token: str) -> None:
    user_id, _ = await api.create_user(admin_token, "kim@example.com")
    deal = await opportunity(api, admin_token)
    await linked(api, admin_token, deal, await company(api, admin_token, "Kind Co"), "PARTNER")
    cleo = await linked(
        api, admin_token, deal, await contact(api, admin_token, "Cleo", "Kind"), "INFLUENCER"
    )
    await linked(api, admin_token, deal, user_id, "SUPPORT")

    contacts = (await links(api, admin_token, deal, "CONTACT"))["participants"]
    teams = (await links(api, admin_token, deal, "TEAM"))["participants"]
    users = (await links(api, admin_token, deal, "USER"))["participants"]

    assert contacts == [cleo]
    assert teams == []
    assert [p["target"]["id"] for p in users] == [user_id]


async def test_unlink_removes_only_that_participant(api: Api, admin_token: str) -> None:
    deal = await opportunity(api, admin_token)
    cleo = await contact(api, admin_token, "Cleo", "Gone")
    primary = await linked(api, admin_token, deal, cleo, "CHAMPION", isPrimary=True)
    kept = await linked(api, admin_token, deal, await company(api, admin_token, "Kept"), "OTHER")
    before = (await links(api, admin_token, deal))["version"]

    payload = await unlink(api, admin_token, primary["id"])

    assert payload["userErrors"] == []
    assert payload["opportunity"]["version"] > before
    found = await links(api, admin_token, deal)
    assert found["participants"] == [kept]
    assert found["contacts"] == [] and found["primaryContact"] is None
    assert (await api.ok(NODE, {"id": primary["id"]}, admin_token))["node"] is None
    # Unlinking again finds nothing to unlink.
    again = await unlink(api, admin_token, primary["id"])
    assert [e["code"] for e in again["userErrors"]] == ["NOT_FOUND"]


async def test_a_participant_is_a_node(api: Api, admin_token: str) -> None:
    deal = await opportunity(api, admin_token)
    participant = await linked(
        api, admin_token, deal, await contact(api, admin_token, "Nod", "E"), "OTHER"
    )

    found = (await api.ok(NODE, {"id": participant["id"]}, admin_token))["node"]

    assert found == participant


async def test_linking_and_unlinking_bump_the_version_and_check_it(
    api: Api, admin_token: str
) -> None:
    deal = await opportunity(api, admin_token)
    acme = await company(api, admin_token, "Versioned")
    version = (await links(api, admin_token, deal))["version"]

    stale = await link(api, admin_token, deal, acme, "CUSTOMER", expectedVersion=version - 1)
    refused(stale, "CONFLICT", ["expectedVersion"])
    assert stale["opportunity"] == {"id": deal, "version": version}

    payload = await link(api, admin_token, deal, acme, "CUSTOMER", expectedVersion=version)
    assert payload["userErrors"] == []
    assert payload["opportunity"] == {"id": deal, "version": version + 1}

    stale_unlink = await unlink(api, admin_token, payload["participant"]["id"], expectedVersion=1)
    assert [e["code"] for e in stale_unlink["userErrors"]] == ["CONFLICT"]
    assert len((await links(api, admin_token, deal))["participants"]) == 1


async def test_bad_ids_when_linking_are_user_errors(api: Api, admin_token: str) -> None:
    deal = await opportunity(api, admin_token)
    acme = await company(api, admin_token, "Acme")
    stage = (await api.ok("{ stages { id } }", token=admin_token))["stages"][0]["id"]
    cases = [
        (deal, global_id("Contact", 999_999), "CHAMPION", "NOT_FOUND", ["participantId"]),
        (deal, global_id("Team", 999_999), "SUPPORT", "NOT_FOUND", ["participantId"]),
        (deal, stage, "OTHER", "INVALID_ID", ["participantId"]),
        (deal, deal, "OTHER", "INVALID_ID", ["participantId"]),
        (deal, "garbage", "OTHER", "INVALID_ID", ["participantId"]),
        (acme, acme, "CUSTOMER", "INVALID_ID", ["opportunityId"]),
        ("garbage", acme, "CUSTOMER", "INVALID_ID", ["opportunityId"]),
        (global_id("Opportunity", 999_999), acme, "CUSTOMER", "NOT_FOUND", None),
    ]

    for opportunity_id, target, role, code, field in cases:
        payload = await link(api, admin_token, opportunity_id, target, role)
        refused(payload, code, field)

    assert (await links(api, admin_token, deal))["participants"] == []


async def test_bad_ids_when_unlinking_are_user_errors(api: Api, admin_token: str) -> None:
    deal = await opportunity(api, admin_token)
    participant = await linked(
        api, admin_token, deal, await company(api, admin_token, "Stay"), "CUSTOMER"
    )

    for bad_id, code in [
        (global_id("Participant", 999_999), "NOT_FOUND"),
        (deal, "INVALID_ID"),
        ("garbage", "INVALID_ID"),
    ]:
        payload = await unlink(api, admin_token, bad_id)
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [(code, ["id"])], bad_id

    assert (await links(api, admin_token, deal))["participants"] == [participant]


async def test_a_deactivated_user_cannot_be_linked(api: Api, admin_token: str) -> None:
    user_id, _ = await api.create_user(admin_token, "gone@example.com")
    await api.mutate(
        "updateUser",
        """mutation($i: UpdateUserInput!) { updateUser(input: $i) {
             user { id } userErrors { code message } } }""",
        {"i": {"id": user_id, "isActive": False}},
        admin_token,
    )
    deal = await opportunity(api, admin_token)

    refused(await link(api, admin_token, deal, user_id, "SALES_REP"), "NOT_FOUND")
