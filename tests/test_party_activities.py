"""`company.activities` and `contact.activities`: what was filed under them, as you may see it."""

from __future__ import annotations

from tests.client import Api

CREATE = """
mutation($i: CreateOpportunityInput!) {
  createOpportunity(input: $i) { opportunity { id } userErrors { code } }
}"""
COMPANY = """
mutation { createCompany(input: {name: "Globex"}) { company { id } userErrors { code } } }"""
CONTACT = """
mutation($c: ID!) {
  createContact(input: {firstName: "Gina", lastName: "Globex", companyId: $c}) {
    contact { id } userErrors { code }
  }
}"""
JOURNAL = """
mutation($i: AddJournalInput!) {
  addJournal(input: $i) { activity { id } userErrors { field code message } }
}"""
ACTIVITIES = """
query($company: ID!, $contact: ID!) {
  company: node(id: $company) {
    ... on Company { activities { totalCount nodes { id kind } } }
  }
  contact: node(id: $contact) {
    ... on Contact { activities { totalCount nodes { id kind } } }
  }
}"""


async def _setup(api: Api, token: str, visibility: str) -> tuple[str, str, str]:
    deal = await api.mutate(
        "createOpportunity",
        CREATE,
        {
            "i": {
                "name": "Deal",
                "visibility": visibility,
                "expectedValue": {"amount": "1.00", "currency": "EUR"},
            }
        },
        token,
    )
    company = (await api.mutate("createCompany", COMPANY, {}, token))["company"]["id"]
    contact = (await api.mutate("createContact", CONTACT, {"c": company}, token))["contact"]["id"]
    journal = await api.mutate(
        "addJournal",
        JOURNAL,
        {
            "i": {
                "opportunityId": deal["opportunity"]["id"],
                "body": "Met Gina",
                "links": {"companyIds": [company], "contactIds": [contact]},
            }
        },
        token,
    )
    return company, contact, journal["activity"]["id"]


async def test_an_activity_is_listed_under_its_company_and_contact(
    api: Api, admin_token: str
) -> None:
    company, contact, journal = await _setup(api, admin_token, "PUBLIC")
    data = await api.ok(ACTIVITIES, {"company": company, "contact": contact}, admin_token)
    assert data["company"]["activities"]["nodes"] == [{"id": journal, "kind": "JOURNAL"}]
    assert data["contact"]["activities"]["nodes"] == [{"id": journal, "kind": "JOURNAL"}]
    assert data["company"]["activities"]["totalCount"] == 1
    assert data["contact"]["activities"]["totalCount"] == 1


async def test_activities_of_a_private_opportunity_stay_hidden_there_too(
    api: Api, admin_token: str
) -> None:
    _, owner = await api.create_user(admin_token, "owner@example.com")
    _, outsider = await api.create_user(admin_token, "outsider@example.com")
    company, contact, journal = await _setup(api, owner, "PRIVATE")
    seen = await api.ok(ACTIVITIES, {"company": company, "contact": contact}, owner)
    assert [n["id"] for n in seen["company"]["activities"]["nodes"]] == [journal]
    hidden = await api.ok(ACTIVITIES, {"company": company, "contact": contact}, outsider)
    assert hidden["company"]["activities"] == {"totalCount": 0, "nodes": []}
    assert hidden["contact"]["activities"] == {"totalCount": 0, "nodes": []}


async def test_linking_an_unknown_company_changes_nothing(api: Api, admin_token: str) -> None:
    deal = await api.mutate(
        "createOpportunity",
        CREATE,
        {"i": {"name": "Deal", "expectedValue": {"amount": "1.00", "currency": "EUR"}}},
        admin_token,
    )
    body = await api.ok(
        JOURNAL,
        {
            "i": {
                "opportunityId": deal["opportunity"]["id"],
                "body": "x",
                "links": {"companyIds": ["Q29tcGFueTo5OTk5OQ=="]},
            }
        },
        admin_token,
    )
    assert [e["code"] for e in body["addJournal"]["userErrors"]] == ["NOT_FOUND"]
