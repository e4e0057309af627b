"""Filtering `opportunities` (and `opportunityGroups`): every field of OpportunityFilterInput,
the and / or / not groups, relative periods, bad input, and what an outsider may see."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from tests.client import Api
from tests.views_client import CALENDAR_PERIODS, GROUPS, LIST, Crm, expected_bounds, today

CREATED = "query($id: ID!) { opportunity(id: $id) { createdAt updatedAt } }"


# --- one field at a time --------------------------------------------------------------------


async def test_status_and_stage_ids(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    stages = await crm.stages()
    await crm.deal("prospect", stageId=stages["Prospecting"])
    await crm.deal("proposal", stageId=stages["Proposal"])
    await crm.won(await crm.deal("won"))
    await crm.lost(await crm.deal("lost"))

    assert await crm.matching({"status": ["WON", "LOST"]}) == {"won", "lost"}
    assert await crm.matching({"status": ["OPEN"]}) == {"prospect", "proposal"}
    assert await crm.matching({"stageIds": [stages["Proposal"]]}) == {"proposal"}
    both = {"stageIds": [stages["Proposal"], stages["Closed Won"]]}
    assert await crm.matching(both) == {"proposal", "won"}
    assert await crm.matching({"stageIds": [stages["Negotiation"]]}) == set()


async def test_folder_with_and_without_subfolders_and_unfiled(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    emea = await crm.folder("EMEA")
    germany = await crm.folder("Germany", emea)
    berlin = await crm.folder("Berlin", germany)
    americas = await crm.folder("Americas")
    for name, folder_id in [
        ("in emea", emea),
        ("in germany", germany),
        ("in berlin", berlin),
        ("in americas", americas),
        ("unfiled", None),
    ]:
        await crm.deal(name, folderId=folder_id)

    assert await crm.matching({"folderId": emea}) == {"in emea"}
    assert await crm.matching({"folderId": emea, "includeSubfolders": True}) == {
        "in emea",
        "in germany",
        "in berlin",
    }
    assert await crm.matching({"folderId": germany, "includeSubfolders": True}) == {
        "in germany",
        "in berlin",
    }
    assert await crm.matching({"folderId": berlin, "includeSubfolders": True}) == {"in berlin"}
    assert await crm.matching({"unfiled": True}) == {"unfiled"}
    # unfiled is ignored when a folder is given.
    assert await crm.matching({"folderId": americas, "unfiled": True}) == {"in americas"}


async def test_owner_ids(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    olga_id, olga = await api.create_user(admin_token, "olga@example.com")
    pete_id, pete = await api.create_user(admin_token, "pete@example.com")
    await crm.deal("olga's", token=olga)
    await crm.deal("pete's", token=pete)
    await crm.deal("admin's")

    assert await crm.matching({"ownerIds": [olga_id]}) == {"olga's"}
    assert await crm.matching({"ownerIds": [olga_id, pete_id]}) == {"olga's", "pete's"}


async def test_team_ids_match_linked_teams_and_deals_owned_by_members(
    api: Api, admin_token: str
) -> None:
    crm = Crm(api, admin_token)
    member_id, member = await api.create_user(admin_token, "member@example.com")
    other_id, other = await api.create_user(admin_token, "other@example.com")
    sales = await crm.team("Sales", member_id)
    presales = await crm.team("Presales", other_id)
    await crm.deal("owned by member", token=member)
    await crm.link(await crm.deal("linked to sales"), sales, "SALES_REP")
    await crm.deal("admin's own")
    await crm.link(await crm.deal("other's, linked to presales", token=other), presales, "PRESALES")

    assert await crm.matching({"teamIds": [sales]}) == {"owned by member", "linked to sales"}
    assert await crm.matching({"teamIds": [sales, presales]}) == {
        "owned by member",
        "linked to sales",
        "other's, linked to presales",
    }


async def test_company_and_contact_ids_mean_linked_participants(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    acme = await crm.company("Acme")
    globex = await crm.company("Globex")
    cleo = await crm.contact("Cleo", "Buyer")
    dan = await crm.contact("Dan", "Other")
    await crm.link(await crm.deal("acme customer"), acme, "CUSTOMER")
    await crm.link(await crm.deal("acme competitor"), acme, "COMPETITOR")
    await crm.link(await crm.deal("globex"), globex, "PARTNER")
    await crm.link(await crm.deal("cleo"), cleo, "CHAMPION")
    await crm.link(await crm.deal("dan"), dan, "INFLUENCER")
    await crm.deal("nobody")

    assert await crm.matching({"companyIds": [acme]}) == {"acme customer", "acme competitor"}
    assert await crm.matching({"companyIds": [acme, globex]}) == {
        "acme customer",
        "acme competitor",
        "globex",
    }
    assert await crm.matching({"contactIds": [cleo]}) == {"cleo"}
    assert await crm.matching({"contactIds": [cleo, dan]}) == {"cleo", "dan"}


async def test_value_range_is_inclusive_and_can_name_a_currency(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    for name, amount, currency in [
        ("eur 100", "100.00", "EUR"),
        ("eur 200", "200.00", "EUR"),
        ("eur 300", "300.00", "EUR"),
        ("usd 200", "200.00", "USD"),
    ]:
        await crm.deal(name, amount, currency)

    assert await crm.matching({"value": {"min": "200", "max": "300"}}) == {
        "eur 200",
        "eur 300",
        "usd 200",
    }
    assert await crm.matching({"value": {"min": "200", "max": "300", "currency": "EUR"}}) == {
        "eur 200",
        "eur 300",
    }
    assert await crm.matching({"value": {"max": "100.00"}}) == {"eur 100"}
    assert await crm.matching({"value": {"min": "300.01"}}) == set()
    assert await crm.matching({"value": {"currency": "USD"}}) == {"usd 200"}


async def test_weighted_value_is_value_times_probability(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    await crm.deal("1000 at 10", "1000.00", probability=10)  # 100
    await crm.deal("200 at 50", "200.00", probability=50)  # 100
    await crm.deal("300 at 20", "300.00", probability=20)  # 60
    await crm.deal("1000 at 11", "1000.00", probability=11)  # 110
    await crm.deal("usd 1000 at 10", "1000.00", "USD", probability=10)  # 100 USD

    assert await crm.matching({"weightedValue": {"min": "100", "max": "100"}}) == {
        "1000 at 10",
        "200 at 50",
        "usd 1000 at 10",
    }
    assert await crm.matching({"weightedValue": {"min": "100", "currency": "EUR"}}) == {
        "1000 at 10",
        "200 at 50",
        "1000 at 11",
    }
    assert await crm.matching({"weightedValue": {"max": "99.99"}}) == {"300 at 20"}
    # Filtering on the expected value instead gives another answer.
    assert await crm.matching({"value": {"max": "300"}}) == {"200 at 50", "300 at 20"}


async def test_probability_range(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    for probability in (10, 50, 90):
        await crm.deal(f"p{probability}", probability=probability)

    assert await crm.matching({"probability": {"min": 50}}) == {"p50", "p90"}
    assert await crm.matching({"probability": {"max": 50}}) == {"p10", "p50"}
    assert await crm.matching({"probability": {"min": 50, "max": 50}}) == {"p50"}
    assert await crm.matching({"probability": {"min": 11, "max": 49}}) == set()


async def test_estimated_close_date_range_and_is_set(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    for close in ["2030-01-01", "2030-01-31", "2030-02-01", "2029-12-31"]:
        await crm.deal(close, estimatedCloseDate=close)
    await crm.deal("undated")

    january = {"from": "2030-01-01", "to": "2030-01-31"}
    assert await crm.matching({"estimatedCloseDate": january}) == {"2030-01-01", "2030-01-31"}
    assert await crm.matching({"estimatedCloseDate": {"from": "2030-01-31"}}) == {
        "2030-01-31",
        "2030-02-01",
    }
    assert await crm.matching({"estimatedCloseDate": {"to": "2029-12-31"}}) == {"2029-12-31"}
    assert await crm.matching({"estimatedCloseDate": {"isSet": False}}) == {"undated"}
    assert len(await crm.matching({"estimatedCloseDate": {"isSet": True}})) == 4
    assert await crm.matching({"estimatedCloseDate": {"isSet": False, "from": "2000-01-01"}}) == (
        set()
    )


async def test_actual_close_date_range_and_is_set(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    await crm.won(await crm.deal("won in january"), actualCloseDate="2026-01-10")
    await crm.lost(await crm.deal("lost in february"), actualCloseDate="2026-02-10")
    await crm.deal("open", estimatedCloseDate="2026-01-15")

    january = {"from": "2026-01-01", "to": "2026-01-31"}
    assert await crm.matching({"actualCloseDate": january}) == {"won in january"}
    assert await crm.matching({"actualCloseDate": {"to": "2026-02-10"}}) == {
        "won in january",
        "lost in february",
    }
    assert await crm.matching({"actualCloseDate": {"isSet": True}}) == {
        "won in january",
        "lost in february",
    }
    assert await crm.matching({"actualCloseDate": {"isSet": False}}) == {"open"}


async def test_forecast_category_lead_source_and_visibility(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    await crm.deal("commit", forecastCategory="COMMIT", leadSource="Web")
    await crm.deal("best case", forecastCategory="BEST_CASE", leadSource="WEB")
    await crm.deal("pipeline", forecastCategory="PIPELINE", leadSource="Referral")
    await crm.deal("private", forecastCategory="PIPELINE", visibility="PRIVATE")

    assert await crm.matching({"forecastCategory": ["COMMIT", "BEST_CASE"]}) == {
        "commit",
        "best case",
    }
    assert await crm.matching({"forecastCategory": ["OMITTED"]}) == set()
    assert await crm.matching({"leadSource": ["web"]}) == {"commit", "best case"}
    assert await crm.matching({"leadSource": ["rEfErRaL", "Trade fair"]}) == {"pipeline"}
    assert await crm.matching({"visibility": "PRIVATE"}) == {"private"}
    assert await crm.matching({"visibility": "PUBLIC"}) == {"commit", "best case", "pipeline"}


async def test_lost_reasons_and_awarded_companies(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    reasons = await crm.lost_reasons()
    rival = await crm.company("Rival")
    other = await crm.company("Other rival")
    await crm.lost(await crm.deal("price"), lostReasonIds=[reasons["Price"]], awardedToId=rival)
    await crm.lost(
        await crm.deal("timing"),
        lostReasonIds=[reasons["Timing"], reasons["No budget"]],
        awardedToId=other,
    )
    await crm.lost(await crm.deal("no reason"))
    await crm.deal("open")

    assert await crm.matching({"lostReasonIds": [reasons["Price"]]}) == {"price"}
    assert await crm.matching({"lostReasonIds": [reasons["No budget"], reasons["Price"]]}) == {
        "price",
        "timing",
    }
    assert await crm.matching({"lostReasonIds": [reasons["Went silent"]]}) == set()
    assert await crm.matching({"awardedCompanyIds": [rival]}) == {"price"}
    assert await crm.matching({"awardedCompanyIds": [rival, other]}) == {"price", "timing"}


async def test_created_and_updated_at_are_inclusive_times_in_any_offset(
    api: Api, admin_token: str
) -> None:
    crm = Crm(api, admin_token)
    first = await crm.deal("first")
    second = await crm.deal("second")
    await crm.update(first, nextStep="Touched")
    times = {
        name: (await api.ok(CREATED, {"id": deal}, admin_token))["opportunity"]
        for name, deal in [("first", first), ("second", second)]
    }
    first_created = times["first"]["createdAt"]
    second_created = times["second"]["createdAt"]
    touched = times["first"]["updatedAt"]
    assert first_created < second_created < touched

    assert await crm.matching({"createdAt": {"to": first_created}}) == {"first"}
    assert await crm.matching({"createdAt": {"from": second_created}}) == {"second"}
    assert await crm.matching({"createdAt": {"from": first_created, "to": second_created}}) == {
        "first",
        "second",
    }
    # The same instant written with another offset.
    shifted = datetime.fromisoformat(second_created).astimezone(
        datetime.fromisoformat("2000-01-01T00:00:00+05:30").tzinfo
    )
    assert await crm.matching({"createdAt": {"from": shifted.isoformat()}}) == {"second"}
    assert await crm.matching({"updatedAt": {"from": touched}}) == {"first"}
    assert await crm.matching({"updatedAt": {"to": times["second"]["updatedAt"]}}) == {"second"}


async def test_created_at_relative_periods(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    await crm.deal("new")

    for period in ["TODAY", "THIS_WEEK", "THIS_MONTH", "THIS_QUARTER", "THIS_YEAR"]:
        assert await crm.matching({"createdAt": {"period": period}}) == {"new"}, period
        assert await crm.matching({"updatedAt": {"period": period}}) == {"new"}, period
    for period in ["OVERDUE", "LAST_WEEK", "NEXT_WEEK", "LAST_YEAR", "NEXT_MONTH"]:
        assert await crm.matching({"createdAt": {"period": period}}) == set(), period


async def test_has_open_tasks(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    await crm.task(await crm.deal("open task"))
    await crm.task(await crm.deal("done task"), "DONE")
    await crm.task(await crm.deal("cancelled task"), "CANCELLED")
    mixed = await crm.deal("done and open")
    await crm.task(mixed, "DONE")
    await crm.task(mixed)
    await crm.journal(await crm.deal("journal only"))
    await crm.deal("nothing")

    assert await crm.matching({"hasOpenTasks": True}) == {"open task", "done and open"}
    assert await crm.matching({"hasOpenTasks": False}) == {
        "done task",
        "cancelled task",
        "journal only",
        "nothing",
    }


async def test_last_activity_before(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    await crm.journal(await crm.deal("old"), "2020-06-01T00:00:00+00:00")
    old_and_new = await crm.deal("old and recent")
    await crm.journal(old_and_new, "2020-06-01T00:00:00+00:00")
    await crm.journal(old_and_new)
    await crm.journal(await crm.deal("exactly then"), "2021-01-01T00:00:00+00:00")
    await crm.journal(await crm.deal("only in the future"), "2099-01-01T00:00:00+00:00")
    await crm.task(await crm.deal("task today"))
    await crm.deal("no activity")

    expected = {"old", "only in the future", "no activity"}
    assert await crm.matching({"lastActivityBefore": "2021-01-01T00:00:00+00:00"}) == expected
    # The same instant in another offset.
    assert await crm.matching({"lastActivityBefore": "2021-01-01T01:00:00+01:00"}) == expected
    assert await crm.matching({"lastActivityBefore": "2019-01-01T00:00:00Z"}) == {
        "only in the future",
        "no activity",
    }


async def test_search_matches_part_of_name_or_number(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    await crm.deal("Big Widget order")  # OPP-000001
    await crm.deal("Gadgets")  # OPP-000002
    await crm.deal("widgetry")  # OPP-000003

    assert await crm.matching({"search": "WIDGET"}) == {"Big Widget order", "widgetry"}
    assert await crm.matching({"search": "opp-000002"}) == {"Gadgets"}
    assert await crm.matching({"search": "000003"}) == {"widgetry"}
    assert await crm.matching({"search": "sprocket"}) == set()


# --- and / or / not -------------------------------------------------------------------------


async def test_and_or_not_and_nesting(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    await crm.deal("a", "100.00", probability=10, leadSource="Web")
    await crm.deal("b", "500.00", probability=50, leadSource="Web")
    await crm.deal("c", "500.00", "USD", probability=90, leadSource="Referral")
    await crm.deal("d", "900.00", probability=90, leadSource="Fair")
    web = {"leadSource": ["web"]}
    usd = {"value": {"currency": "USD"}}
    cases: list[tuple[dict[str, Any], set[str]]] = [
        ({**web, "probability": {"min": 50}}, {"b"}),
        ({"and": [web, {"probability": {"min": 50}}]}, {"b"}),
        ({"and": [web, {"leadSource": ["fair"]}]}, set()),
        ({"or": [{"leadSource": ["referral"]}, {"value": {"min": "900"}}]}, {"c", "d"}),
        ({"or": [web]}, {"a", "b"}),
        ({"not": web}, {"c", "d"}),
        ({"not": {"not": web}}, {"a", "b"}),
        ({"status": ["OPEN"], "not": {"probability": {"max": 50}}}, {"c", "d"}),
        ({"probability": {"min": 50}, "or": [web, {"leadSource": ["referral"]}]}, {"b", "c"}),
        (
            {"or": [{"and": [web, {"not": {"probability": {"max": 10}}}]}, usd]},
            {"b", "c"},
        ),
        ({"not": {"or": [web, usd]}}, {"d"}),
        ({"not": {"and": [web, {"probability": {"max": 10}}]}}, {"b", "c", "d"}),
        (
            {"and": [{"or": [web, usd]}, {"or": [{"probability": {"min": 90}}, {"search": "a"}]}]},
            {"a", "c"},
        ),
    ]
    wrong = []
    for filter, expected in cases:
        got = await crm.matching(filter)
        if got != expected:
            wrong.append((filter, sorted(expected), sorted(got)))
    assert not wrong, "\n".join(map(str, wrong))


async def test_not_matches_deals_where_the_negated_field_is_empty(
    api: Api, admin_token: str
) -> None:
    """`not: X` is every deal X does not match, including those that have no value at all
    for X's field (no folder, no lead source, no close date, no competitor): SQL's NULL
    must not leak into the answer."""
    crm = Crm(api, admin_token)
    folder = await crm.folder("Renewals")
    rival = await crm.company("Rival")
    this_month = today().replace(day=1).isoformat()
    await crm.deal("filled", folderId=folder, leadSource="Web", estimatedCloseDate=this_month)
    await crm.lost(await crm.deal("lost to rival"), awardedToId=rival)
    await crm.deal("empty")
    cases: list[tuple[dict[str, Any], set[str]]] = [
        ({"not": {"folderId": folder}}, {"lost to rival", "empty"}),
        ({"not": {"folderId": folder, "includeSubfolders": True}}, {"lost to rival", "empty"}),
        ({"not": {"leadSource": ["web"]}}, {"lost to rival", "empty"}),
        (
            {"not": {"estimatedCloseDate": {"period": "THIS_MONTH"}}},
            {"lost to rival", "empty"},
        ),
        ({"not": {"estimatedCloseDate": {"from": "2000-01-01"}}}, {"lost to rival", "empty"}),
        ({"not": {"awardedCompanyIds": [rival]}}, {"filled", "empty"}),
        ({"not": {"actualCloseDate": {"to": "2100-01-01"}}}, {"filled", "empty"}),
    ]
    wrong = []
    for filter, expected in cases:
        got = await crm.matching(filter)
        if got != expected:
            wrong.append((filter, sorted(expected), sorted(got)))
    assert not wrong, "\n".join(map(str, wrong))


# --- relative periods -----------------------------------------------------------------------


async def test_estimated_close_date_calendar_periods(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    day = today()
    dates: set[date] = {day}
    for period in CALENDAR_PERIODS:
        start, end = expected_bounds(period, day)
        dates |= {end, end + timedelta(days=1)}
        if start is not None:
            dates |= {start, start - timedelta(days=1)}
    for close in sorted(dates):
        await crm.deal(close.isoformat(), estimatedCloseDate=close.isoformat())
    await crm.deal("undated")

    wrong = []
    for period in CALENDAR_PERIODS:
        start, end = expected_bounds(period, day)
        expected = {d.isoformat() for d in dates if (start is None or start <= d) and d <= end}
        got = await crm.matching({"estimatedCloseDate": {"period": period}})
        if got != expected:
            wrong.append((period, sorted(expected - got), sorted(got - expected)))
    assert wrong == [], "(period, missing, extra)"


async def test_thirty_day_windows(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    day = today()
    for offset in (-31, -29, -1, 1, 29, 31):
        await crm.deal(
            f"{offset:+d}", estimatedCloseDate=(day + timedelta(days=offset)).isoformat()
        )

    last = await crm.matching({"estimatedCloseDate": {"period": "LAST_30_DAYS"}})
    assert last == {"-29", "-1"}
    upcoming = await crm.matching({"estimatedCloseDate": {"period": "NEXT_30_DAYS"}})
    assert upcoming == {"+1", "+29"}


async def test_actual_close_date_periods_and_a_period_with_a_range(
    api: Api, admin_token: str
) -> None:
    crm = Crm(api, admin_token)
    day = today()
    await crm.won(await crm.deal("closed today"), actualCloseDate=day.isoformat())
    yesterday = (day - timedelta(days=1)).isoformat()
    await crm.lost(await crm.deal("closed yesterday"), actualCloseDate=yesterday)
    await crm.won(await crm.deal("closed last year"), actualCloseDate=f"{day.year - 1}-06-15")
    await crm.deal("open", estimatedCloseDate=yesterday)

    assert await crm.matching({"actualCloseDate": {"period": "TODAY"}}) == {"closed today"}
    assert await crm.matching({"actualCloseDate": {"period": "OVERDUE"}}) == {
        "closed yesterday",
        "closed last year",
    }
    assert await crm.matching({"actualCloseDate": {"period": "LAST_YEAR"}}) == {"closed last year"}
    # A period and a range together: both must hold.
    both = {"period": "OVERDUE", "from": yesterday}
    assert await crm.matching({"actualCloseDate": both}) == {"closed yesterday"}
    assert await crm.matching({"estimatedCloseDate": {"period": "OVERDUE"}}) == {"open"}


# --- bad input ------------------------------------------------------------------------------


async def test_bad_filters_are_refused_by_both_queries(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    company = await crm.company("Acme")
    contact = await crm.contact("Cleo", "Buyer")
    team = await crm.team("Sales")
    stage = (await crm.stages())["Proposal"]
    await crm.deal("exists", folderId=await crm.folder("F"))
    naive = "2030-01-01T00:00:00"
    cases: list[dict[str, Any]] = [
        {"value": {"min": "10", "max": "5"}},
        {"weightedValue": {"min": "10.01", "max": "10"}},
        {"probability": {"min": 60, "max": 40}},
        {"estimatedCloseDate": {"from": "2030-02-01", "to": "2030-01-31"}},
        {"actualCloseDate": {"from": "2030-02-01", "to": "2030-01-31"}},
        {"createdAt": {"from": "2030-01-02T00:00:00Z", "to": "2030-01-01T00:00:00Z"}},
        {"updatedAt": {"from": "2030-01-01T01:00:00+00:00", "to": "2030-01-01T01:00:00+02:00"}},
        {"createdAt": {"from": naive}},
        {"updatedAt": {"to": naive}},
        {"lastActivityBefore": naive},
        {"or": [{"status": ["OPEN"]}, {"probability": {"min": 60, "max": 40}}]},
        {"not": {"value": {"min": "2", "max": "1"}}},
        {"and": [{"or": [{"createdAt": {"to": naive}}]}]},
        {"stageIds": [company]},
        {"folderId": stage},
        {"ownerIds": [team]},
        {"teamIds": [company]},
        {"companyIds": [contact]},
        {"contactIds": [company]},
        {"lostReasonIds": [stage]},
        {"awardedCompanyIds": [contact]},
        {"companyIds": ["garbage"]},
        {"not": {"ownerIds": [company]}},
        {"or": [{"contactIds": [team]}]},
    ]
    for filter in cases:
        await crm.refused(LIST, {"filter": filter})
        await crm.refused(GROUPS, {"by": "STATUS", "filter": filter})


# --- what an outsider may see ---------------------------------------------------------------


async def test_an_outsider_never_sees_private_deals_whatever_the_filter(
    api: Api, admin_token: str
) -> None:
    crm = Crm(api, admin_token)
    owner_id, owner = await api.create_user(admin_token, "owner@example.com")
    _, outsider = await api.create_user(admin_token, "outsider@example.com")
    insider_id, insider = await api.create_user(admin_token, "insider@example.com")
    teammate_id, teammate = await api.create_user(admin_token, "teammate@example.com")
    team = await crm.team("Deal desk", teammate_id)
    acme = await crm.company("Acme")
    other = await crm.company("Other")
    secret = await crm.deal("secret", "1000.00", token=owner, visibility="PRIVATE", leadSource="W")
    await crm.deal("public", "1.00", token=owner, leadSource="W")
    await crm.link(secret, acme, "CUSTOMER")
    await crm.link(secret, insider_id, "SALES_REP")
    await crm.link(secret, team, "PRESALES")

    filters: list[dict[str, Any]] = [
        {"or": [{"companyIds": [acme]}, {"search": "public"}]},
        {"or": [{"companyIds": [acme]}, {"visibility": "PRIVATE"}, {"search": "pub"}]},
        {"not": {"companyIds": [other]}},
        {"not": {"visibility": "PUBLIC"}, "or": [{"search": "pub"}, {"status": ["OPEN"]}]},
        {"or": [{"ownerIds": [owner_id]}, {"teamIds": [team]}]},
        {"not": {"not": {"leadSource": ["w"]}}},
        {"or": [{"not": {"search": "public"}}, {"search": "public"}]},
    ]
    for filter in filters:
        seen = await crm.matching(filter, token=outsider)
        assert seen <= {"public"}, (filter, seen)
        groups = await crm.groups("STATUS", filter, token=outsider)
        assert sum(g["count"] for g in groups) == len(seen), (filter, groups)
        amounts = [t["value"]["amount"] for g in groups for t in g["totals"]]
        assert amounts in ([], ["1.00"]), (filter, groups)
        # Those who may see the deal find it with the same filter.
        for token in (owner, insider, teammate, admin_token):
            assert "secret" in await crm.matching(filter, token=token), (filter, token)
    assert await crm.matching({"companyIds": [acme]}, token=outsider) == set()
    assert await crm.matching({"visibility": "PRIVATE"}, token=outsider) == set()
    assert await crm.matching({"teamIds": [team]}, token=outsider) == set()
