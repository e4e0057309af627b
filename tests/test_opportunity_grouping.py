"""`opportunityGroups`: every OpportunityGroupBy, its keys and key objects, counts and
per-currency totals worked out by hand, filters applied to groups, and what an outsider sees."""

from __future__ import annotations

from typing import Any

from tests.client import Api
from tests.views_client import UPDATE_STAGE, Crm, totals

KEY_OBJECTS = ("stage", "owner", "team", "folder", "company")
DELETE = """mutation($i: DeleteOpportunityInput!) { deleteOpportunity(input: $i) {
  opportunity { id } userErrors { code message } } }"""


def by_key(groups: list[dict[str, Any]]) -> dict[str | None, tuple[int, list[dict[str, Any]]]]:
    """{key: (count, totals sorted by currency)}, checking each key appears once."""
    keys = [g["key"] for g in groups]
    assert len(keys) == len(set(keys)), keys
    return {
        g["key"]: (g["count"], sorted(g["totals"], key=lambda t: t["currency"])) for g in groups
    }


def only_key_object(groups: list[dict[str, Any]], name: str | None) -> None:
    """Each group's `name` object is its key's record (null for the none group); the other
    key objects are null."""
    for group in groups:
        for other in KEY_OBJECTS:
            if other == name and group["key"] is not None:
                assert group[other] is not None and group[other]["id"] == group["key"], group
            else:
                assert group[other] is None, (other, group)


def counted(groups: list[dict[str, Any]]) -> None:
    """Each group's count is the sum of its per-currency counts."""
    for group in groups:
        assert group["count"] == sum(t["count"] for t in group["totals"]), group


async def test_stage_groups_list_every_stage_in_pipeline_order(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    stages = await crm.stages()
    await crm.deal("early", "100.00", stageId=stages["Prospecting"])  # 10 %
    await crm.deal("late", "200.00", stageId=stages["Negotiation"])  # 80 %
    await crm.deal("late usd", "50.00", "USD", stageId=stages["Negotiation"])
    await crm.won(await crm.deal("won", "300.00"))
    # The pipeline order is the stages' positions, not their IDs.
    moved = {"id": stages["Negotiation"], "position": 0}
    await api.mutate("updateStage", UPDATE_STAGE, {"i": moved}, admin_token)
    order = await crm.stage_ids_in_order()
    assert order[0] == stages["Negotiation"]

    groups = await crm.groups("STAGE")

    assert [g["key"] for g in groups] == order
    only_key_object(groups, "stage")
    counted(groups)
    found = by_key(groups)
    assert found[stages["Prospecting"]] == (1, totals(("EUR", 1, "100.00", "10.00")))
    assert found[stages["Negotiation"]] == (
        2,
        totals(("EUR", 1, "200.00", "160.00"), ("USD", 1, "50.00", "40.00")),
    )
    assert found[stages["Closed Won"]] == (1, totals(("EUR", 1, "300.00", "300.00")))
    empty = set(order) - {stages["Prospecting"], stages["Negotiation"], stages["Closed Won"]}
    assert all(found[key] == (0, []) for key in empty)

    # A filter applies to the groups, and every stage is still listed.
    filtered = await crm.groups("STAGE", {"status": ["OPEN"], "value": {"currency": "EUR"}})
    assert [g["key"] for g in filtered] == order
    assert {g["key"]: g["count"] for g in filtered if g["count"]} == {
        stages["Prospecting"]: 1,
        stages["Negotiation"]: 1,
    }


async def test_status_groups_come_open_won_lost_and_only_when_not_empty(
    api: Api, admin_token: str
) -> None:
    crm = Crm(api, admin_token)
    await crm.lost(await crm.deal("lost", "40.00", probability=40))
    await crm.won(await crm.deal("won", "30.00"))
    await crm.deal("open", "20.00", probability=50)
    await crm.deal("open 2", "2.00", probability=50)

    groups = await crm.groups("STATUS")

    assert [g["key"] for g in groups] == ["OPEN", "WON", "LOST"]
    only_key_object(groups, None)
    counted(groups)
    assert by_key(groups) == {
        "OPEN": (2, totals(("EUR", 2, "22.00", "11.00"))),
        "WON": (1, totals(("EUR", 1, "30.00", "30.00"))),
        "LOST": (1, totals(("EUR", 1, "40.00", "0.00"))),
    }
    assert [g["key"] for g in await crm.groups("STATUS", {"status": ["LOST", "OPEN"]})] == [
        "OPEN",
        "LOST",
    ]
    assert await crm.groups("STATUS", {"search": "nothing like this"}) == []


async def test_owner_groups(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    amy_id, amy = await api.create_user(admin_token, "amy@example.com", name="Amy")
    bob_id, bob = await api.create_user(admin_token, "bob@example.com", name="Bob")
    await crm.deal("amy 1", "100.00", token=amy, probability=10)
    await crm.deal("amy 2", "150.00", token=amy, probability=20)
    await crm.deal("bob", "7.00", "USD", token=bob, probability=100)

    groups = await crm.groups("OWNER")

    only_key_object(groups, "owner")
    counted(groups)
    assert {g["key"]: g["owner"]["name"] for g in groups} == {amy_id: "Amy", bob_id: "Bob"}
    assert by_key(groups) == {
        amy_id: (2, totals(("EUR", 2, "250.00", "40.00"))),
        bob_id: (1, totals(("USD", 1, "7.00", "7.00"))),
    }
    filtered = await crm.groups("OWNER", {"value": {"min": "120"}})
    assert by_key(filtered) == {amy_id: (1, totals(("EUR", 1, "150.00", "30.00")))}


async def test_team_groups_count_a_deal_in_each_of_its_teams(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    sales_rep_id, sales_rep = await api.create_user(admin_token, "rep@example.com")
    presales_id, presales_user = await api.create_user(admin_token, "pre@example.com")
    both_id, both = await api.create_user(admin_token, "both@example.com")
    sales = await crm.team("Sales", sales_rep_id, both_id)
    presales = await crm.team("Presales", presales_id, both_id)
    # Owned by a Sales member and linked to Presales: in both teams.
    await crm.link(
        await crm.deal("d1", "100.00", token=sales_rep, probability=50), presales, "OTHER"
    )
    # Linked to Sales twice, in two roles: once in Sales.
    d2 = await crm.deal("d2", "200.00", probability=50)
    await crm.link(d2, sales, "SALES_REP")
    await crm.link(d2, sales, "MANAGER")
    await crm.deal("d3", "300.00", probability=50)  # in no team
    # Owned by a Sales member and linked to Sales too: once in Sales.
    await crm.link(await crm.deal("d4", "400.00", token=sales_rep, probability=50), sales, "OTHER")
    await crm.deal("d5", "500.00", token=both, probability=50)  # its owner is in both teams
    await crm.deal("d6", "600.00", token=presales_user, probability=50)

    groups = await crm.groups("TEAM")

    only_key_object(groups, "team")
    counted(groups)
    assert {g["key"]: g["team"] and g["team"]["name"] for g in groups} == {
        sales: "Sales",
        presales: "Presales",
        None: None,
    }
    assert by_key(groups) == {
        sales: (4, totals(("EUR", 4, "1200.00", "600.00"))),  # d1 d2 d4 d5
        presales: (3, totals(("EUR", 3, "1200.00", "600.00"))),  # d1 d5 d6
        None: (1, totals(("EUR", 1, "300.00", "150.00"))),  # d3
    }
    filtered = await crm.groups("TEAM", {"value": {"max": "250"}})
    assert {g["key"]: g["count"] for g in filtered} == {sales: 2, presales: 1}


async def test_folder_groups_put_unfiled_deals_last_under_a_null_key(
    api: Api, admin_token: str
) -> None:
    crm = Crm(api, admin_token)
    zulu = await crm.folder("Zulu")
    alpha = await crm.folder("Alpha")
    child = await crm.folder("Alpha child", alpha)
    await crm.deal("unfiled", "1.00")
    await crm.deal("in zulu", "10.00", folderId=zulu, probability=10)
    await crm.deal("in alpha", "20.00", folderId=alpha, probability=10)
    await crm.deal("in child", "30.00", folderId=child, probability=10)

    groups = await crm.groups("FOLDER")

    assert groups[-1]["key"] is None
    only_key_object(groups, "folder")
    counted(groups)
    assert by_key(groups) == {
        zulu: (1, totals(("EUR", 1, "10.00", "1.00"))),
        alpha: (1, totals(("EUR", 1, "20.00", "2.00"))),
        child: (1, totals(("EUR", 1, "30.00", "3.00"))),
        None: (1, totals(("EUR", 1, "1.00", "0.10"))),
    }
    assert {g["key"]: g["folder"] and g["folder"]["name"] for g in groups} == {
        zulu: "Zulu",
        alpha: "Alpha",
        child: "Alpha child",
        None: None,
    }
    filtered = await crm.groups("FOLDER", {"folderId": alpha, "includeSubfolders": True})
    assert {g["key"]: g["count"] for g in filtered} == {alpha: 1, child: 1}


async def test_company_groups_count_a_deal_once_per_linked_company(
    api: Api, admin_token: str
) -> None:
    crm = Crm(api, admin_token)
    acme = await crm.company("Acme")
    globex = await crm.company("Globex")
    cleo = await crm.contact("Cleo", "Buyer")
    both = await crm.deal("both", "100.00", probability=50)
    await crm.link(both, acme, "CUSTOMER")
    await crm.link(both, globex, "PARTNER")
    twice = await crm.deal("acme twice", "200.00", probability=50)
    await crm.link(twice, acme, "CUSTOMER")
    await crm.link(twice, acme, "RESELLER")
    await crm.link(await crm.deal("contact only", "300.00", probability=50), cleo, "CHAMPION")

    groups = await crm.groups("COMPANY")

    only_key_object(groups, "company")
    counted(groups)
    assert {g["key"]: g["company"] and g["company"]["name"] for g in groups} == {
        acme: "Acme",
        globex: "Globex",
        None: None,
    }
    assert by_key(groups) == {
        acme: (2, totals(("EUR", 2, "300.00", "150.00"))),
        globex: (1, totals(("EUR", 1, "100.00", "50.00"))),
        None: (1, totals(("EUR", 1, "300.00", "150.00"))),
    }


async def test_forecast_category_and_lead_source_groups(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    await crm.deal("a", "10.00", forecastCategory="COMMIT", leadSource="Web", probability=10)
    await crm.deal("b", "20.00", forecastCategory="COMMIT", leadSource="Referral", probability=10)
    await crm.deal("c", "30.00", forecastCategory="BEST_CASE", leadSource="Web", probability=10)
    await crm.deal("d", "40.00", "GBP", forecastCategory="PIPELINE", probability=10)

    forecast = await crm.groups("FORECAST_CATEGORY")
    only_key_object(forecast, None)
    counted(forecast)
    assert by_key(forecast) == {
        "COMMIT": (2, totals(("EUR", 2, "30.00", "3.00"))),
        "BEST_CASE": (1, totals(("EUR", 1, "30.00", "3.00"))),
        "PIPELINE": (1, totals(("GBP", 1, "40.00", "4.00"))),
    }
    sources = await crm.groups("LEAD_SOURCE")
    only_key_object(sources, None)
    assert by_key(sources) == {
        "Web": (2, totals(("EUR", 2, "40.00", "4.00"))),
        "Referral": (1, totals(("EUR", 1, "20.00", "2.00"))),
        None: (1, totals(("GBP", 1, "40.00", "4.00"))),
    }
    filtered = await crm.groups("LEAD_SOURCE", {"forecastCategory": ["COMMIT"]})
    assert {g["key"]: g["count"] for g in filtered} == {"Web": 1, "Referral": 1}


async def test_close_month_and_quarter_use_the_actual_date_when_set(
    api: Api, admin_token: str
) -> None:
    crm = Crm(api, admin_token)
    await crm.deal("nov 15", "10.00", estimatedCloseDate="2026-11-15", probability=10)
    await crm.deal("nov 30", "20.00", estimatedCloseDate="2026-11-30", probability=10)
    await crm.deal("dec 1", "40.00", estimatedCloseDate="2026-12-01", probability=10)
    won = await crm.deal("won", "30.00", estimatedCloseDate="2026-11-20")
    await crm.won(won, actualCloseDate="2025-02-10")
    await crm.lost(await crm.deal("lost", "5.00"), actualCloseDate="2025-12-31")
    await crm.deal("undated", "1.00", probability=10)

    months = await crm.groups("CLOSE_MONTH")
    only_key_object(months, None)
    counted(months)
    assert by_key(months) == {
        "2026-11": (2, totals(("EUR", 2, "30.00", "3.00"))),
        "2026-12": (1, totals(("EUR", 1, "40.00", "4.00"))),
        "2025-02": (1, totals(("EUR", 1, "30.00", "30.00"))),
        "2025-12": (1, totals(("EUR", 1, "5.00", "0.00"))),
        None: (1, totals(("EUR", 1, "1.00", "0.10"))),
    }
    quarters = await crm.groups("CLOSE_QUARTER")
    assert by_key(quarters) == {
        "2026-Q4": (3, totals(("EUR", 3, "70.00", "7.00"))),
        "2025-Q1": (1, totals(("EUR", 1, "30.00", "30.00"))),
        "2025-Q4": (1, totals(("EUR", 1, "5.00", "0.00"))),
        None: (1, totals(("EUR", 1, "1.00", "0.10"))),
    }
    filtered = await crm.groups("CLOSE_QUARTER", {"status": ["OPEN"]})
    assert {g["key"]: g["count"] for g in filtered} == {"2026-Q4": 3, None: 1}


async def test_totals_per_currency_are_rounded_once_half_even(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    for amount, currency, probability in [
        # EUR: 0.005 x 3 + 25 = 25.015 -> 25.02 (rounding each deal first would give 25.00)
        ("0.01", "EUR", 50),
        ("0.01", "EUR", 50),
        ("0.01", "EUR", 50),
        ("100.00", "EUR", 25),
        # USD: 0.025 + 3.3 = 3.325 -> 3.32 (half even, not half up)
        ("0.05", "USD", 50),
        ("10.00", "USD", 33),
        # JPY, no minor unit: 150.15 + 350.35 = 500.50 -> 500
        ("1001", "JPY", 15),
        ("1001", "JPY", 35),
        # KWD, three decimals: 3.34125 -> 3.341
        ("10.125", "KWD", 33),
    ]:
        await crm.deal(f"{amount} {currency}", amount, currency, probability=probability)
    gone = await crm.deal("deleted", "999.00", "EUR", probability=50)
    await api.mutate(
        "deleteOpportunity",
        DELETE,
        {"i": {"id": gone, "expectedVersion": await crm.version(gone)}},
        admin_token,
    )

    groups = await crm.groups("STATUS")

    assert by_key(groups) == {
        "OPEN": (
            9,
            totals(
                ("EUR", 4, "100.03", "25.02"),
                ("JPY", 2, "2002", "500"),
                ("KWD", 1, "10.125", "3.341"),
                ("USD", 2, "10.05", "3.32"),
            ),
        )
    }


async def test_an_outsiders_groups_leave_out_private_deals(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    owner_id, owner = await api.create_user(admin_token, "owner@example.com")
    _, outsider = await api.create_user(admin_token, "outsider@example.com")
    insider_id, insider = await api.create_user(admin_token, "insider@example.com")
    team = await crm.team("Team")
    acme = await crm.company("Acme")
    secret = await crm.deal(
        "secret", "1000.00", token=owner, visibility="PRIVATE", probability=50, leadSource="Web"
    )
    public = await crm.deal("public", "10.00", token=owner, probability=50, leadSource="Web")
    for deal in (secret, public):
        await crm.link(deal, acme, "CUSTOMER")
        await crm.link(deal, team, "SUPPORT")
    await crm.link(secret, insider_id, "SALES_REP")
    outsiders = (1, totals(("EUR", 1, "10.00", "5.00")))
    insiders = (2, totals(("EUR", 2, "1010.00", "505.00")))
    sneaky: list[tuple[dict[str, Any] | None, bool]] = [
        # (filter, whether the outsider's public deal matches it)
        (None, True),
        ({"or": [{"companyIds": [acme]}, {"visibility": "PRIVATE"}]}, True),
        ({"not": {"visibility": "PUBLIC"}, "or": [{"status": ["OPEN"]}]}, False),
        ({"or": [{"ownerIds": [owner_id]}, {"not": {"search": "public"}}]}, True),
        ({"not": {"search": "public"}}, False),
    ]

    for by, key in [
        ("STATUS", "OPEN"),
        ("OWNER", owner_id),
        ("COMPANY", acme),
        ("TEAM", team),
        ("LEAD_SOURCE", "Web"),
    ]:
        for filter, public_matches in sneaky:
            theirs = by_key(await crm.groups(by, filter, token=outsider))
            assert theirs == ({key: outsiders} if public_matches else {}), (by, filter, theirs)
        assert by_key(await crm.groups(by, token=insider)) == {key: insiders}, by
        assert by_key(await crm.groups(by, token=owner)) == {key: insiders}, by
    stage_groups = await crm.groups("STAGE", token=outsider)
    assert sum(g["count"] for g in stage_groups) == 1
    assert [g["totals"] for g in stage_groups if g["count"]] == [outsiders[1]]
