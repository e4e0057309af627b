"""Companies and contacts (issue 2 points 7 and 10): CRUD, search, pagination, bad input.

An omitted field on update leaves a value alone and an explicit null clears it; a company or
contact that opportunities (or contacts) still point at cannot be deleted.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from tests.client import Api

COMPANY_FIELDS = "id name website industry phone email city country notes"
CREATE_COMPANY = f"""
mutation($input: CreateCompanyInput!) {{
  createCompany(input: $input) {{
    company {{ {COMPANY_FIELDS} }} userErrors {{ field code message }}
  }}
}}
"""
UPDATE_COMPANY = f"""
mutation($input: UpdateCompanyInput!) {{
  updateCompany(input: $input) {{
    company {{ {COMPANY_FIELDS} }} userErrors {{ field code message }}
  }}
}}
"""
DELETE_COMPANY = """
mutation($id: ID!) {
  deleteCompany(input: {id: $id}) { deletedId userErrors { field code message } }
}
"""
COMPANIES = """
query($search: String, $first: Int, $after: String) {
  companies(search: $search, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage hasPreviousPage endCursor } nodes { name }
  }
}
"""
CONTACT_FIELDS = "id firstName lastName fullName email phone jobTitle notes company { name }"
CREATE_CONTACT = f"""
mutation($input: CreateContactInput!) {{
  createContact(input: $input) {{
    contact {{ {CONTACT_FIELDS} }} userErrors {{ field code message }}
  }}
}}
"""
UPDATE_CONTACT = f"""
mutation($input: UpdateContactInput!) {{
  updateContact(input: $input) {{
    contact {{ {CONTACT_FIELDS} }} userErrors {{ field code message }}
  }}
}}
"""
DELETE_CONTACT = """
mutation($id: ID!) {
  deleteContact(input: {id: $id}) { deletedId userErrors { field code message } }
}
"""
CONTACTS = """
query($search: String, $companyId: ID, $first: Int, $after: String) {
  contacts(search: $search, companyId: $companyId, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } nodes { fullName company { name } }
  }
}
"""
NODE = "query($id: ID!) { node(id: $id) { id } }"
CREATE_OPPORTUNITY = """
mutation($input: CreateOpportunityInput!) {
  createOpportunity(input: $input) { opportunity { id version } userErrors { code message } }
}
"""
LINK = """
mutation($input: LinkParticipantInput!) {
  linkParticipant(input: $input) { participant { id } userErrors { field code message } }
}
"""
UNLINK = """
mutation($id: ID!) { unlinkParticipant(input: {id: $id}) { userErrors { code message } } }
"""
MARK_LOST = """
mutation($id: ID!, $v: Int!, $winner: ID) {
  markOpportunityLost(input: {id: $id, expectedVersion: $v, awardedToId: $winner}) {
    userErrors { code message }
  }
}
"""
UNKNOWN_COMPANY = "Q29tcGFueTo5OTk5OTk="  # Company:999999


def codes(payload: dict[str, Any]) -> list[str]:
    return [error["code"] for error in payload["userErrors"]]


async def call(api: Api, name: str, query: str, variables: dict[str, Any], token: str) -> Any:
    """The mutation's payload, user errors and all."""
    return (await api.ok(query, variables, token))[name]


async def create_company(api: Api, token: str, name: str, **fields: Any) -> dict[str, Any]:
    payload = await api.mutate(
        "createCompany", CREATE_COMPANY, {"input": {"name": name, **fields}}, token
    )
    company: dict[str, Any] = payload["company"]
    return company


async def create_contact(
    api: Api, token: str, first: str, last: str, **fields: Any
) -> dict[str, Any]:
    payload = await api.mutate(
        "createContact",
        CREATE_CONTACT,
        {"input": {"firstName": first, "lastName": last, **fields}},
        token,
    )
    contact: dict[str, Any] = payload["contact"]
    return contact


async def create_opportunity(api: Api, token: str) -> dict[str, Any]:
    variables = {"input": {"name": "Deal", "expectedValue": {"amount": "10", "currency": "EUR"}}}
    opportunity: dict[str, Any] = (
        await api.mutate("createOpportunity", CREATE_OPPORTUNITY, variables, token)
    )["opportunity"]
    return opportunity


async def link(api: Api, token: str, opportunity_id: str, target: str, role: str) -> str:
    variables = {"input": {"opportunityId": opportunity_id, "participantId": target, "role": role}}
    payload = await api.mutate("linkParticipant", LINK, variables, token)
    participant_id: str = payload["participant"]["id"]
    return participant_id


async def company_names(api: Api, token: str, **variables: Any) -> list[str]:
    data = await api.ok(COMPANIES, variables, token)
    return [n["name"] for n in data["companies"]["nodes"]]


# --- companies -------------------------------------------------------------------------------


async def test_company_is_created_with_all_fields(api: Api, admin_token: str) -> None:
    company = await create_company(
        api,
        admin_token,
        "  Acme GmbH  ",
        website="https://acme.example",
        industry="Machinery",
        phone="+49 30 1234",
        email="info@acme.example",
        city="Berlin",
        country="de",
        notes="Met at the fair.",
    )
    assert company == {
        "id": company["id"],
        "name": "Acme GmbH",
        "website": "https://acme.example",
        "industry": "Machinery",
        "phone": "+49 30 1234",
        "email": "info@acme.example",
        "city": "Berlin",
        "country": "DE",
        "notes": "Met at the fair.",
    }
    assert (await api.ok(NODE, {"id": company["id"]}, admin_token))["node"] == {"id": company["id"]}


async def test_update_changes_only_the_fields_sent(api: Api, admin_token: str) -> None:
    company = await create_company(api, admin_token, "Acme", city="Berlin", phone="123")
    payload = await api.mutate(
        "updateCompany",
        UPDATE_COMPANY,
        {"input": {"id": company["id"], "city": "Hamburg"}},
        admin_token,
    )
    assert payload["company"] == {**company, "city": "Hamburg"}


async def test_explicit_null_clears_optional_company_fields(api: Api, admin_token: str) -> None:
    company = await create_company(
        api, admin_token, "Acme", website="https://acme.example", country="FR", notes="n"
    )
    payload = await api.mutate(
        "updateCompany",
        UPDATE_COMPANY,
        {"input": {"id": company["id"], "website": None, "country": None, "notes": None}},
        admin_token,
    )
    cleared = payload["company"]
    assert (cleared["website"], cleared["country"], cleared["notes"]) == (None, None, None)
    assert cleared["name"] == "Acme"


async def test_company_name_cannot_be_cleared_or_blank(api: Api, admin_token: str) -> None:
    company = await create_company(api, admin_token, "Acme")
    for name in (None, "   "):
        payload = await call(
            api,
            "updateCompany",
            UPDATE_COMPANY,
            {"input": {"id": company["id"], "name": name}},
            admin_token,
        )
        assert codes(payload) == ["REQUIRED"], (name, payload)
    blank = await call(api, "createCompany", CREATE_COMPANY, {"input": {"name": ""}}, admin_token)
    assert codes(blank) == ["REQUIRED"]
    assert await company_names(api, admin_token) == ["Acme"]


async def test_country_must_be_a_two_letter_code(api: Api, admin_token: str) -> None:
    company = await create_company(api, admin_token, "Acme", country="DE")
    for country in ("D", "D1", "12", "ÄÖ", "DEU"):
        payload = await call(
            api,
            "updateCompany",
            UPDATE_COMPANY,
            {"input": {"id": company["id"], "country": country}},
            admin_token,
        )
        assert payload["userErrors"], (country, payload)
        assert payload["userErrors"][0]["field"] == ["country"], (country, payload)
        assert codes(payload)[0] in ("INVALID", "TOO_LONG"), (country, payload)
    data = await api.ok(
        "query($id: ID!) { node(id: $id) { ... on Company { country } } }",
        {"id": company["id"]},
        admin_token,
    )
    assert data["node"]["country"] == "DE"


async def test_oversized_strings_are_too_long_and_nothing_is_saved(
    api: Api, admin_token: str
) -> None:
    for field, size in (("name", 201), ("city", 101), ("notes", 10_001), ("website", 501)):
        values = {"name": "Acme", field: "x" * size}
        payload = await call(api, "createCompany", CREATE_COMPANY, {"input": values}, admin_token)
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
            ("TOO_LONG", [field])
        ], (field, payload)
    assert await company_names(api, admin_token) == []


async def test_longest_allowed_strings_are_accepted(api: Api, admin_token: str) -> None:
    company = await create_company(api, admin_token, "n" * 200, city="c" * 100, notes="x" * 10_000)
    assert len(company["name"]) == 200 and len(company["notes"]) == 10_000


async def test_updating_an_unknown_or_wrongly_typed_id_changes_nothing(
    api: Api, admin_token: str
) -> None:
    contact = await create_contact(api, admin_token, "Ann", "Lee")
    missing = await call(
        api,
        "updateCompany",
        UPDATE_COMPANY,
        {"input": {"id": UNKNOWN_COMPANY, "name": "X"}},
        admin_token,
    )
    wrong_type = await call(
        api,
        "updateCompany",
        UPDATE_COMPANY,
        {"input": {"id": contact["id"], "name": "X"}},
        admin_token,
    )
    garbage = await call(
        api, "updateCompany", UPDATE_COMPANY, {"input": {"id": "!!", "name": "X"}}, admin_token
    )
    assert codes(missing) == ["NOT_FOUND"]
    assert codes(wrong_type) == ["INVALID_ID"]
    assert codes(garbage) == ["INVALID_ID"]


async def test_company_search_is_case_insensitive_and_treats_wildcards_literally(
    api: Api, admin_token: str
) -> None:
    for name in ("Acme GmbH", "ACME Inc", "Globex", "100% Natural", "Under_score"):
        await create_company(api, admin_token, name)
    assert sorted(await company_names(api, admin_token, search="acme")) == ["ACME Inc", "Acme GmbH"]
    assert await company_names(api, admin_token, search="%") == ["100% Natural"]
    assert await company_names(api, admin_token, search="_") == ["Under_score"]
    data = await api.ok(COMPANIES, {"search": "acme"}, admin_token)
    assert data["companies"]["totalCount"] == 2


async def test_company_pages_follow_cursors_with_a_stable_total(api: Api, admin_token: str) -> None:
    names = ["Alpha", "bravo", "Charlie", "delta", "Echo"]
    for name in reversed(names):
        await create_company(api, admin_token, name)
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        data = (await api.ok(COMPANIES, {"first": 2, "after": after}, admin_token))["companies"]
        assert data["totalCount"] == 5
        assert data["pageInfo"]["hasPreviousPage"] is (after is not None)
        seen += [n["name"] for n in data["nodes"]]
        pages += 1
        if not data["pageInfo"]["hasNextPage"]:
            break
        after = data["pageInfo"]["endCursor"]
    assert pages == 3
    assert seen == names  # by name, case-insensitively, each exactly once


async def test_invalid_cursor_and_page_size_are_bad_user_input(api: Api, admin_token: str) -> None:
    for variables in ({"after": "not-a-cursor"}, {"first": 101}, {"first": -1}):
        body = await api.gql(COMPANIES, variables, admin_token)
        assert body["data"] is None, (variables, body)
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", (variables, body)


async def test_bad_search_text_is_bad_user_input(api: Api, admin_token: str) -> None:
    await create_company(api, admin_token, "Acme")
    for query, search in (
        (COMPANIES, "Ac\x00me"),
        (COMPANIES, "x" * 201),
        (CONTACTS, "Ann\x00"),
        (CONTACTS, "x" * 201),
    ):
        body = await api.gql(query, {"search": search}, admin_token)
        assert body["data"] is None, body
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body


async def test_forged_cursors_are_bad_user_input_not_internal_errors(
    api: Api, admin_token: str
) -> None:
    def cursor(values: list[Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")

    await create_company(api, admin_token, "Acme")
    for query, values in (
        (COMPANIES, [1, 2]),  # a number where the name goes
        (COMPANIES, ["acme", "1"]),  # a string where the id goes
        (COMPANIES, [None, None]),
        (COMPANIES, [{"a": 1}, 1]),
        (COMPANIES, ["a\x00", 1]),
        (CONTACTS, [1, 2, 3]),
        (CONTACTS, ["lee", "ann", "x"]),
    ):
        body = await api.gql(query, {"after": cursor(values)}, admin_token)
        assert body["data"] is None, (values, body)
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", (values, body)


async def test_company_can_be_deleted_when_unused(api: Api, admin_token: str) -> None:
    company = await create_company(api, admin_token, "Acme")
    payload = await api.mutate("deleteCompany", DELETE_COMPANY, {"id": company["id"]}, admin_token)
    assert payload["deletedId"] == company["id"]
    assert (await api.ok(NODE, {"id": company["id"]}, admin_token))["node"] is None


async def test_company_with_contacts_cannot_be_deleted(api: Api, admin_token: str) -> None:
    company = await create_company(api, admin_token, "Acme")
    await create_contact(api, admin_token, "Ann", "Lee", companyId=company["id"])
    payload = await call(api, "deleteCompany", DELETE_COMPANY, {"id": company["id"]}, admin_token)
    assert codes(payload) == ["IN_USE"] and payload["deletedId"] is None
    assert await company_names(api, admin_token) == ["Acme"]


async def test_company_linked_to_an_opportunity_cannot_be_deleted_until_unlinked(
    api: Api, admin_token: str
) -> None:
    company = await create_company(api, admin_token, "Acme")
    opportunity = await create_opportunity(api, admin_token)
    participant = await link(api, admin_token, opportunity["id"], company["id"], "CUSTOMER")

    payload = await call(api, "deleteCompany", DELETE_COMPANY, {"id": company["id"]}, admin_token)
    assert codes(payload) == ["IN_USE"]

    await api.mutate("unlinkParticipant", UNLINK, {"id": participant}, admin_token)
    payload = await call(api, "deleteCompany", DELETE_COMPANY, {"id": company["id"]}, admin_token)
    assert payload["userErrors"] == []


async def test_company_that_won_a_lost_opportunity_cannot_be_deleted(
    api: Api, admin_token: str
) -> None:
    rival = await create_company(api, admin_token, "Rival")
    opportunity = await create_opportunity(api, admin_token)
    await api.mutate(
        "markOpportunityLost",
        MARK_LOST,
        {"id": opportunity["id"], "v": opportunity["version"], "winner": rival["id"]},
        admin_token,
    )
    payload = await call(api, "deleteCompany", DELETE_COMPANY, {"id": rival["id"]}, admin_token)
    assert codes(payload) == ["IN_USE"]


# --- contacts --------------------------------------------------------------------------------


async def test_contact_is_created_with_its_company(api: Api, admin_token: str) -> None:
    company = await create_company(api, admin_token, "Acme")
    contact = await create_contact(
        api,
        admin_token,
        "Ann",
        "Lee",
        email="ann@acme.example",
        phone="555",
        jobTitle="CTO",
        notes="Prefers e-mail.",
        companyId=company["id"],
    )
    assert contact == {
        "id": contact["id"],
        "firstName": "Ann",
        "lastName": "Lee",
        "fullName": "Ann Lee",
        "email": "ann@acme.example",
        "phone": "555",
        "jobTitle": "CTO",
        "notes": "Prefers e-mail.",
        "company": {"name": "Acme"},
    }


async def test_contact_with_an_unknown_company_is_not_found(api: Api, admin_token: str) -> None:
    payload = await call(
        api,
        "createContact",
        CREATE_CONTACT,
        {"input": {"firstName": "Ann", "lastName": "Lee", "companyId": UNKNOWN_COMPANY}},
        admin_token,
    )
    assert codes(payload) == ["NOT_FOUND"]
    assert (await api.ok(CONTACTS, {}, admin_token))["contacts"]["totalCount"] == 0


async def test_contact_can_move_company_and_explicit_null_clears_it(
    api: Api, admin_token: str
) -> None:
    acme = await create_company(api, admin_token, "Acme")
    globex = await create_company(api, admin_token, "Globex")
    contact = await create_contact(
        api, admin_token, "Ann", "Lee", companyId=acme["id"], jobTitle="CTO"
    )
    moved = await api.mutate(
        "updateContact",
        UPDATE_CONTACT,
        {"input": {"id": contact["id"], "companyId": globex["id"]}},
        admin_token,
    )
    assert moved["contact"]["company"] == {"name": "Globex"}
    cleared = await api.mutate(
        "updateContact",
        UPDATE_CONTACT,
        {"input": {"id": contact["id"], "companyId": None, "jobTitle": None}},
        admin_token,
    )
    assert cleared["contact"]["company"] is None
    assert cleared["contact"]["jobTitle"] is None
    assert cleared["contact"]["fullName"] == "Ann Lee"


async def test_contact_names_cannot_be_cleared(api: Api, admin_token: str) -> None:
    contact = await create_contact(api, admin_token, "Ann", "Lee")
    for field in ("firstName", "lastName"):
        payload = await call(
            api,
            "updateContact",
            UPDATE_CONTACT,
            {"input": {"id": contact["id"], field: None}},
            admin_token,
        )
        assert codes(payload) == ["REQUIRED"], (field, payload)


async def test_oversized_contact_name_is_too_long(api: Api, admin_token: str) -> None:
    payload = await call(
        api,
        "createContact",
        CREATE_CONTACT,
        {"input": {"firstName": "A" * 101, "lastName": "Lee"}},
        admin_token,
    )
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("TOO_LONG", ["firstName"])]


async def test_contacts_search_by_name_or_email_and_filter_by_company(
    api: Api, admin_token: str
) -> None:
    acme = await create_company(api, admin_token, "Acme")
    await create_contact(api, admin_token, "Ann", "Lee", companyId=acme["id"])
    await create_contact(api, admin_token, "Bob", "Annan")
    await create_contact(
        api, admin_token, "Cy", "Young", email="cy@acme.example", companyId=acme["id"]
    )

    async def names(**variables: Any) -> list[str]:
        data = (await api.ok(CONTACTS, variables, admin_token))["contacts"]
        assert data["totalCount"] == len(data["nodes"])
        return [n["fullName"] for n in data["nodes"]]

    assert await names(search="ann") == ["Bob Annan", "Ann Lee"]  # by last name
    assert await names(search="ACME.example") == ["Cy Young"]
    assert await names(companyId=acme["id"]) == ["Ann Lee", "Cy Young"]
    assert await names(companyId=acme["id"], search="ann") == ["Ann Lee"]


async def test_contact_pages_follow_cursors(api: Api, admin_token: str) -> None:
    for last in ("Adams", "Baker", "Clark"):
        await create_contact(api, admin_token, "Pat", last)
    first = (await api.ok(CONTACTS, {"first": 2}, admin_token))["contacts"]
    assert [n["fullName"] for n in first["nodes"]] == ["Pat Adams", "Pat Baker"]
    assert first["pageInfo"]["hasNextPage"] is True and first["totalCount"] == 3
    second = (
        await api.ok(CONTACTS, {"first": 2, "after": first["pageInfo"]["endCursor"]}, admin_token)
    )["contacts"]
    assert [n["fullName"] for n in second["nodes"]] == ["Pat Clark"]
    assert second["pageInfo"]["hasNextPage"] is False


async def test_contact_can_be_deleted_when_unlinked(api: Api, admin_token: str) -> None:
    contact = await create_contact(api, admin_token, "Ann", "Lee")
    payload = await api.mutate("deleteContact", DELETE_CONTACT, {"id": contact["id"]}, admin_token)
    assert payload["deletedId"] == contact["id"]
    assert (await api.ok(CONTACTS, {}, admin_token))["contacts"]["totalCount"] == 0


async def test_contact_linked_to_an_opportunity_cannot_be_deleted(
    api: Api, admin_token: str
) -> None:
    contact = await create_contact(api, admin_token, "Ann", "Lee")
    opportunity = await create_opportunity(api, admin_token)
    await link(api, admin_token, opportunity["id"], contact["id"], "CHAMPION")
    payload = await call(api, "deleteContact", DELETE_CONTACT, {"id": contact["id"]}, admin_token)
    assert codes(payload) == ["IN_USE"] and payload["deletedId"] is None
    assert (await api.ok(CONTACTS, {}, admin_token))["contacts"]["totalCount"] == 1


async def test_members_may_manage_companies_and_contacts(api: Api, admin_token: str) -> None:
    _, member = await api.create_user(admin_token, "mia@example.com")
    company = await create_company(api, member, "Acme")
    contact = await create_contact(api, member, "Ann", "Lee", companyId=company["id"])
    await api.mutate("deleteContact", DELETE_CONTACT, {"id": contact["id"]}, member)
    await api.mutate("deleteCompany", DELETE_COMPANY, {"id": company["id"]}, member)
    assert await company_names(api, admin_token) == []
