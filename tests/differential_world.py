"""A small sales team built through the public API, the same way on every server it is built
on, for the differential tests (tests/test_differential.py).

Every record is made by the same requests in the same order, so two fresh databases seeded
with `seed` hold the same IDs, numbers and versions (only timestamps differ). Fixed dates keep
what depends on "now" (overdue tasks, the next appointment) the same from run to run.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphql import GraphQLSchema, build_schema

from tests.client import Api

ROOT = Path(__file__).resolve().parent.parent
SCHEMA: GraphQLSchema = build_schema((ROOT / "schema" / "schema.graphql").read_text())
PASSWORD = "correct horse battery"
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-password-1"

PAST = "2020-01-15T09:00:00Z"
FUTURE = "2031-03-10T14:00:00Z"
FUTURE_END = "2031-03-10T15:30:00Z"
LATER = "2032-05-01T08:00:00+02:00"
LATER_END = "2032-05-01T09:00:00+02:00"


def missing_id(type_name: str) -> str:
    """A well-formed ID of a row that does not exist."""
    return base64.b64encode(f"{type_name}:987654".encode()).decode()


@dataclass
class Person:
    email: str
    password: str
    user_id: str
    token: str


@dataclass
class World:
    """What `seed` made: people by role, IDs by name, and every ID by its type."""

    people: dict[str, Person] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    by_type: dict[str, list[str]] = field(default_factory=dict)

    def token(self, role: str) -> str | None:
        person = self.people.get(role)
        return person.token if person else None


def input_type(mutation: str) -> str:
    mutation_type = SCHEMA.mutation_type
    assert mutation_type is not None
    return str(mutation_type.fields[mutation].args["input"].type)


async def change(
    api: Api, token: str, mutation: str, values: dict[str, Any], select: str
) -> dict[str, Any]:
    """Run `mutation(input: values)`, failing on any user error; its payload."""
    document = (
        f"mutation($i: {input_type(mutation)}) {{ {mutation}(input: $i) "
        f"{{ {select} userErrors {{ field code message }} }} }}"
    )
    return await api.mutate(mutation, document, {"i": values}, token)


async def version(api: Api, token: str, opportunity_id: str) -> int:
    data = await api.ok(
        "query($id: ID!) { opportunity(id: $id) { version } }", {"id": opportunity_id}, token
    )
    found: int = data["opportunity"]["version"]
    return found


async def upload(api: Api, token: str, opportunity_id: str) -> str:
    """A document on the opportunity (a multipart request)."""
    operations = {
        "query": "mutation($i: UploadDocumentInput!) { uploadDocument(input: $i) "
        "{ activity { id } userErrors { code message } } }",
        "variables": {"i": {"opportunityId": opportunity_id, "file": None}},
    }
    response = await api.http.post(
        "/graphql",
        headers={"Authorization": f"Bearer {token}"},
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.i.file"]})},
        files={"0": ("offer.pdf", b"%PDF-1.4 an offer\n", "application/pdf")},
    )
    assert response.status_code == 200, response.text
    payload = response.json()["data"]["uploadDocument"]
    assert payload["userErrors"] == [], payload
    document_id: str = payload["activity"]["id"]
    return document_id


async def seed(api: Api) -> World:
    """Users admin, member (Mia), colleague (Carl), outsider (Otto) and an inactive one;
    teams, folders, a new stage, companies, contacts, products; public and private deals
    with participants, won, lost and deleted ones; journals, tasks, appointments, an e-mail
    and a document; orders with lines; private, team and shared views."""
    world = World()
    ids = world.ids
    admin = await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    me = await api.ok("{ me { id } }", token=admin)
    world.people["admin"] = Person(ADMIN_EMAIL, ADMIN_PASSWORD, me["me"]["id"], admin)
    for role, email, name in (
        ("member", "mia@example.com", "Mia Member"),
        ("colleague", "carl@example.com", "Carl Colleague"),
        ("outsider", "otto@example.com", "Otto Outsider"),
        ("inactive", "ivy@example.com", "Ivy Inactive"),
    ):
        user_id, token = await api.create_user(admin, email, name=name)
        world.people[role] = Person(email, PASSWORD, user_id, token)
    people = world.people
    await change(
        api,
        admin,
        "updateUser",
        {"id": people["inactive"].user_id, "isActive": False},
        "user { id }",
    )
    member, colleague = people["member"], people["colleague"]

    async def team(name: str, *members: Person) -> str:
        team_id: str = (await change(api, admin, "createTeam", {"name": name}, "team { id }"))[
            "team"
        ]["id"]
        for person in members:
            values = {"teamId": team_id, "userId": person.user_id}
            await change(api, admin, "addTeamMember", values, "team { id }")
        return team_id

    ids["red"] = await team("Red", member, colleague)
    ids["blue"] = await team("Blue", colleague)

    async def folder(name: str, parent: str | None = None) -> str:
        values = {"name": name, "parentId": ids[parent] if parent else None}
        folder_id: str = (await change(api, admin, "createFolder", values, "folder { id }"))[
            "folder"
        ]["id"]
        return folder_id

    ids["emea"] = await folder("EMEA")
    ids["dach"] = await folder("DACH", "emea")
    ids["berlin"] = await folder("Berlin", "dach")
    ids["americas"] = await folder("Americas")

    stages = (await api.ok("{ stages { id name kind } }", token=admin))["stages"]
    open_stages = [s["id"] for s in stages if s["kind"] == "OPEN"]
    ids["first_stage"], ids["second_stage"] = open_stages[0], open_stages[1]
    stage = await change(
        api,
        admin,
        "createStage",
        {"name": "Legal review", "defaultProbability": 70, "position": 3},
        "stage { id }",
    )
    ids["legal_stage"] = stage["stage"]["id"]
    reasons = (await api.ok("{ lostReasons { id } }", token=admin))["lostReasons"]
    ids["reason_a"], ids["reason_b"] = reasons[0]["id"], reasons[1]["id"]

    async def company(name: str, **fields: Any) -> str:
        found = await change(
            api, admin, "createCompany", {"name": name, **fields}, "company { id }"
        )
        company_id: str = found["company"]["id"]
        return company_id

    ids["acme"] = await company(
        "Acme Robotics", website="https://acme.test", city="Berlin", country="DE"
    )
    ids["globex"] = await company("Globex", industry="Energy")
    ids["initech"] = await company("Initech")

    async def contact(first: str, last: str, company_key: str | None, **fields: Any) -> str:
        values = {"firstName": first, "lastName": last, **fields}
        if company_key:
            values["companyId"] = ids[company_key]
        found = await change(api, admin, "createContact", values, "contact { id }")
        contact_id: str = found["contact"]["id"]
        return contact_id

    ids["ann"] = await contact("Ann", "Acme", "acme", email="ann@acme.test", jobTitle="CTO")
    ids["bob"] = await contact("Bob", "Globex", "globex")
    ids["cid"] = await contact("Cid", "Nobody", None, phone="+49 30 1234")

    async def product(sku: str, name: str, price: str, **fields: Any) -> str:
        values = {
            "sku": sku,
            "name": name,
            "unitPrice": {"amount": price, "currency": "EUR"},
            "defaultTaxRate": "19",
            **fields,
        }
        found = await change(api, admin, "createProduct", values, "product { id }")
        product_id: str = found["product"]["id"]
        return product_id

    ids["widget"] = await product("W-1", "Widget", "120.00")
    ids["gadget"] = await product("G-2", "Gadget", "9.99", description="Small")
    ids["retired"] = await product("R-3", "Retired thing", "1.00", isActive=False)

    async def deal(
        key: str,
        name: str,
        token: str,
        amount: str = "1000.00",
        currency: str = "EUR",
        **fields: Any,
    ) -> str:
        values = {"name": name, "expectedValue": {"amount": amount, "currency": currency}}
        found = await change(
            api, token, "createOpportunity", {**values, **fields}, "opportunity { id }"
        )
        deal_id: str = found["opportunity"]["id"]
        ids[key] = deal_id
        return deal_id

    async def link(deal_key: str, target_key: str, role: str, **fields: Any) -> None:
        values = {
            "opportunityId": ids[deal_key],
            "participantId": ids.get(target_key) or people[target_key].user_id,
            "role": role,
            **fields,
        }
        await change(api, admin, "linkParticipant", values, "participant { id }")

    await deal(
        "rollout",
        "Acme rollout",
        admin,
        "120000.00",
        folderId=ids["dach"],
        estimatedCloseDate="2027-03-31",
        leadSource="Web",
        nextStep="Call Ann",
        description="Robots for every plant",
    )
    await link("rollout", "acme", "CUSTOMER")
    await link("rollout", "ann", "DECISION_MAKER", isPrimary=True)
    await link("rollout", "bob", "INFLUENCER")
    await link("rollout", "red", "SALES_REP")
    await link("rollout", "colleague", "PRESALES")
    await deal(
        "pilot",
        "Globex pilot",
        admin,
        "25000.00",
        visibility="PRIVATE",
        folderId=ids["emea"],
        stageId=ids["second_stage"],
    )
    await link("pilot", "globex", "CUSTOMER")
    await link("pilot", "member", "SALES_REP")
    await deal(
        "secret",
        "Red secret",
        colleague.token,
        "7000.00",
        visibility="PRIVATE",
        folderId=ids["berlin"],
    )
    await link("secret", "red", "SALES_REP")
    await link("secret", "acme", "PARTNER")
    await deal("hidden", "Carl's own", colleague.token, "3000.00", visibility="PRIVATE")
    await link("hidden", "bob", "CHAMPION")
    await deal(
        "mias",
        "Mia's deal",
        member.token,
        "50000.00",
        "USD",
        folderId=ids["americas"],
        estimatedCloseDate="2026-11-30",
    )
    await link("mias", "cid", "ECONOMIC_BUYER")
    await deal("won", "Initech upgrade", admin, "9000.00", folderId=ids["dach"])
    await link("won", "initech", "CUSTOMER")
    await deal(
        "lost",
        "Globex tender",
        member.token,
        "18000.00",
        folderId=ids["emea"],
        leadSource="Referral",
    )
    await link("lost", "globex", "CUSTOMER")
    await deal("deleted", "Gone deal", admin, "1.00")
    await deal(
        "yen", "Tokyo office", admin, "3000000", "JPY", probability=35, forecastCategory="BEST_CASE"
    )

    async def update(key: str, token: str, **fields: Any) -> None:
        values = {"id": ids[key], "expectedVersion": await version(api, token, ids[key]), **fields}
        await change(api, token, "updateOpportunity", values, "opportunity { id }")

    await update("rollout", admin, stageId=ids["second_stage"], nextStep="Send the offer")
    await update("rollout", admin, probability=60, forecastCategory="COMMIT")
    await update("mias", member.token, stageId=ids["legal_stage"])
    await update("secret", colleague.token, name="Red secret (phase 2)")
    await change(
        api,
        admin,
        "markOpportunityWon",
        {
            "id": ids["won"],
            "expectedVersion": await version(api, admin, ids["won"]),
            "actualCloseDate": "2026-02-01",
        },
        "opportunity { id }",
    )
    await change(
        api,
        admin,
        "markOpportunityLost",
        {
            "id": ids["lost"],
            "expectedVersion": await version(api, admin, ids["lost"]),
            "lostReasonIds": [ids["reason_a"], ids["reason_b"]],
            "awardedToId": ids["initech"],
            "note": "Price",
            "actualCloseDate": "2026-01-20",
        },
        "opportunity { id }",
    )
    await change(
        api,
        admin,
        "deleteOpportunity",
        {"id": ids["deleted"], "expectedVersion": await version(api, admin, ids["deleted"])},
        "opportunity { id }",
    )

    async def activity(mutation: str, token: str, key: str | None, **values: Any) -> str:
        found = await change(api, token, mutation, values, "activity { id }")
        activity_id: str = found["activity"]["id"]
        if key:
            ids[key] = activity_id
        return activity_id

    links = {"companyIds": [ids["acme"]], "contactIds": [ids["ann"]]}
    await activity(
        "addJournal",
        admin,
        "journal",
        opportunityId=ids["rollout"],
        body="# Kick-off\nAnn wants a pilot first",
        bodyFormat="MARKDOWN",
        occurredAt=PAST,
        links=links,
    )
    await activity(
        "addTask",
        admin,
        "overdue_task",
        opportunityId=ids["rollout"],
        title="Send the pricing",
        assigneeId=member.user_id,
        dueAt=PAST,
        priority="URGENT",
        links={"companyIds": [ids["acme"]]},
    )
    done = await activity(
        "addTask",
        admin,
        "done_task",
        opportunityId=ids["rollout"],
        title="Book the demo room",
        dueAt=FUTURE,
    )
    await change(api, admin, "setTaskStatus", {"id": done, "status": "DONE"}, "activity { id }")
    await activity(
        "addAppointment",
        admin,
        "appointment",
        opportunityId=ids["rollout"],
        subject="On-site demo",
        startsAt=FUTURE,
        endsAt=FUTURE_END,
        location="Berlin plant",
        attendeeIds=[member.user_id, ids["ann"]],
        links=links,
    )
    await activity(
        "logEmail",
        admin,
        "email",
        opportunityId=ids["rollout"],
        direction="INBOUND",
        **{"from": "ann@acme.test"},
        to=["admin@example.com"],
        cc=["bob@globex.test"],
        subject="Re: pricing",
        body="Looks good",
        sentAt=PAST,
        messageId="<m1@acme.test>",
        links={"contactIds": [ids["ann"]]},
    )
    ids["document"] = await upload(api, admin, ids["rollout"])
    await activity(
        "addJournal",
        admin,
        None,
        opportunityId=ids["pilot"],
        body="Private note",
        links={"companyIds": [ids["globex"]]},
    )
    await activity(
        "addTask",
        admin,
        "pilot_task",
        opportunityId=ids["pilot"],
        title="Pilot contract",
        assigneeId=member.user_id,
        dueAt=LATER,
    )
    await activity(
        "addAppointment",
        colleague.token,
        None,
        opportunityId=ids["secret"],
        subject="Red sync",
        startsAt=LATER,
        endsAt=LATER_END,
        attendeeIds=[colleague.user_id],
        links={"companyIds": [ids["acme"]]},
    )
    await activity(
        "addTask",
        colleague.token,
        None,
        opportunityId=ids["hidden"],
        title="Carl's task",
        dueAt=PAST,
        links={"contactIds": [ids["bob"]]},
    )
    await activity(
        "addTask",
        member.token,
        "mias_task",
        opportunityId=ids["mias"],
        title="Chase the buyer",
        priority="LOW",
    )

    order_select = "order { id version lines { id } }"
    found = await change(
        api, admin, "createOrderFromOpportunity", {"opportunityId": ids["rollout"]}, order_select
    )
    ids["rollout_order"] = found["order"]["id"]
    for line in (
        {"productId": ids["widget"], "quantity": "3"},
        {
            "description": "Installation",
            "unitPrice": "450.00",
            "taxRate": "19",
            "discount": {"kind": "AMOUNT", "value": "50.00"},
        },
    ):
        added = await change(
            api, admin, "addOrderLine", {"orderId": ids["rollout_order"], **line}, "line { id }"
        )
        ids.setdefault("line", added["line"]["id"])
    await change(
        api,
        admin,
        "setOrderStatus",
        {"id": ids["rollout_order"], "status": "CONFIRMED"},
        "order { id }",
    )
    found = await change(
        api,
        admin,
        "createOrder",
        {
            "currency": "EUR",
            "companyId": ids["globex"],
            "contactId": ids["bob"],
            "orderDate": "2026-03-01",
            "notes": "Framework",
            "discount": {"kind": "PERCENT", "value": "5", "reason": "Loyal"},
            "lines": [
                {"productId": ids["gadget"], "quantity": "10"},
                {"description": "Support", "unitPrice": "99.5", "taxRate": "7"},
            ],
        },
        order_select,
    )
    ids["globex_order"] = found["order"]["id"]
    found = await change(
        api,
        admin,
        "createOrder",
        {"opportunityId": ids["pilot"], "lines": [{"productId": ids["widget"]}]},
        order_select,
    )
    ids["pilot_order"] = found["order"]["id"]

    view_select = "view { id }"
    found = await change(
        api,
        member.token,
        "createView",
        {
            "name": "My open",
            "filter": {"status": ["OPEN"], "mine": True},
            "sort": [{"field": "NAME", "direction": "ASC"}],
            "columns": ["name", "stage"],
        },
        view_select,
    )
    ids["private_view"] = found["view"]["id"]
    found = await change(
        api,
        member.token,
        "createView",
        {
            "name": "Red board",
            "kind": "BOARD",
            "groupBy": "STAGE",
            "visibility": "TEAM",
            "teamId": ids["red"],
            "filter": {"teamIds": [ids["red"]]},
        },
        view_select,
    )
    ids["team_view"] = found["view"]["id"]
    found = await change(
        api,
        admin,
        "createView",
        {
            "name": "EMEA pipeline",
            "visibility": "EVERYONE",
            "filter": {
                "folderId": ids["emea"],
                "includeSubfolders": True,
                "or": [{"value": {"min": "5000", "currency": "EUR"}}, {"hasOpenTasks": True}],
            },
            "sort": [{"field": "EXPECTED_VALUE", "direction": "DESC", "nulls": "LAST"}],
            "groupBy": "OWNER",
        },
        view_select,
    )
    ids["shared_view"] = found["view"]["id"]

    world.by_type = await ids_by_type(api, admin)
    world.by_type.setdefault("Opportunity", []).append(ids["deleted"])
    return world


ALL_IDS = """{
  users(includeInactive: true) { id }
  teams { id }
  folders { id }
  stages { id }
  lostReasons(includeInactive: true) { id }
  companies(first: 100) { nodes { id } }
  contacts(first: 100) { nodes { id } }
  products(first: 100) { nodes { id } }
  views { id }
  orders(first: 100) { nodes { id lines { id } } }
  opportunities(first: 100) {
    nodes { id participants { id } timeline(first: 100) { nodes { activity { id } } } }
  }
}"""


async def ids_by_type(api: Api, token: str) -> dict[str, list[str]]:
    """Every ID the admin can see, by the type it names."""
    data = await api.ok(ALL_IDS, token=token)
    found: dict[str, list[str]] = {}

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                if key == "id" and isinstance(inner, str):
                    type_name = base64.b64decode(inner).decode().partition(":")[0]
                    if inner not in found.setdefault(type_name, []):
                        found[type_name].append(inner)
                else:
                    walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    walk(data)
    return found
