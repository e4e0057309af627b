"""Sorting `opportunities`: every OpportunitySortField, several keys, nulls first or last, and
keyset pagination through ties that neither skips nor repeats a deal."""

from __future__ import annotations

from typing import Any

from tests.client import Api, GraphQLFailure
from tests.views_client import LIST, UPDATE_STAGE, Crm, order


async def both_ways(crm: Crm, field: str) -> tuple[list[str], list[str]]:
    """Names sorted by `field` ascending and descending, each checked against a walk of
    single-deal pages (the cursor must resume exactly where the big page went on)."""
    up = await crm.names(order_by=[order(field, "ASC")])
    down = await crm.names(order_by=[order(field, "DESC")])
    assert await crm.walk(1, [order(field, "ASC")]) == up, field
    assert await crm.walk(1, [order(field, "DESC")]) == down, field
    return up, down


# --- each field -----------------------------------------------------------------------------


async def test_updated_at_and_created_at(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    a = await crm.deal("a")
    await crm.deal("b")
    await crm.deal("c")
    await crm.update(a, nextStep="Touched last")

    assert await both_ways(crm, "UPDATED_AT") == (["b", "c", "a"], ["a", "c", "b"])
    assert await both_ways(crm, "CREATED_AT") == (["a", "b", "c"], ["c", "b", "a"])


async def test_name_ignores_case_and_number_follows_creation(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    for name in ["charlie", "Alpha", "bravo", "Delta"]:
        await crm.deal(name)

    up, down = await both_ways(crm, "NAME")
    assert up == ["Alpha", "bravo", "charlie", "Delta"]
    assert down == ["Delta", "charlie", "bravo", "Alpha"]
    up, down = await both_ways(crm, "NUMBER")
    assert up == ["charlie", "Alpha", "bravo", "Delta"]
    assert down == ["Delta", "bravo", "Alpha", "charlie"]


async def test_expected_value_weighted_value_and_probability(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    for name, amount, probability in [
        ("1000 at 10", "1000.00", 10),  # weighted 100
        ("500 at 50", "500.00", 50),  # 250
        ("300 at 90", "300.00", 90),  # 270
        ("2000 at 1", "2000.00", 1),  # 20
        ("900.50 at 20", "900.50", 20),  # 180.10
    ]:
        await crm.deal(name, amount, probability=probability)

    up, down = await both_ways(crm, "EXPECTED_VALUE")
    assert up == ["300 at 90", "500 at 50", "900.50 at 20", "1000 at 10", "2000 at 1"]
    assert down == up[::-1]
    up, down = await both_ways(crm, "WEIGHTED_VALUE")
    assert up == ["2000 at 1", "1000 at 10", "900.50 at 20", "500 at 50", "300 at 90"]
    assert down == up[::-1]
    up, down = await both_ways(crm, "PROBABILITY")
    assert up == ["2000 at 1", "1000 at 10", "900.50 at 20", "500 at 50", "300 at 90"]
    assert down == up[::-1]


async def test_close_dates_put_missing_ones_last_ascending_first_descending(
    api: Api, admin_token: str
) -> None:
    crm = Crm(api, admin_token)
    await crm.deal("later", estimatedCloseDate="2031-01-01")
    await crm.deal("undated")
    await crm.deal("sooner", estimatedCloseDate="2030-01-01")
    await crm.won(await crm.deal("won late"), actualCloseDate="2026-03-01")
    await crm.lost(await crm.deal("lost early"), actualCloseDate="2025-03-01")

    up, down = await both_ways(crm, "ESTIMATED_CLOSE_DATE")
    assert up[:2] == ["sooner", "later"] and set(up[2:]) == {"undated", "won late", "lost early"}
    assert set(down[:3]) == {"undated", "won late", "lost early"}
    assert down[3:] == ["later", "sooner"]
    up, down = await both_ways(crm, "ACTUAL_CLOSE_DATE")
    assert up[:2] == ["lost early", "won late"] and set(up[2:]) == {"later", "undated", "sooner"}
    assert set(down[:3]) == {"later", "undated", "sooner"}
    assert down[3:] == ["won late", "lost early"]


async def test_status_keeps_each_status_together(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    await crm.deal("open 1")
    await crm.won(await crm.deal("won 1"))
    await crm.lost(await crm.deal("lost 1"))
    await crm.deal("open 2")
    await crm.won(await crm.deal("won 2"))

    up, down = await both_ways(crm, "STATUS")
    statuses = [name.split()[0] for name in up]
    blocks = [s for i, s in enumerate(statuses) if i == 0 or statuses[i - 1] != s]
    # Each status in one run, in the pipeline's order (the alphabet's would be lost first).
    assert blocks == ["open", "won", "lost"], up
    down_statuses = [name.split()[0] for name in down]
    assert [s for i, s in enumerate(down_statuses) if i == 0 or down_statuses[i - 1] != s] == (
        blocks[::-1]
    )


async def test_stage_follows_the_pipeline_position_not_the_stage_id(
    api: Api, admin_token: str
) -> None:
    crm = Crm(api, admin_token)
    stages = await crm.stages()
    for name in ["Negotiation", "Prospecting", "Proposal", "Qualification"]:
        await crm.deal(name, stageId=stages[name])
    await crm.won(await crm.deal("Closed Won"))

    up, down = await both_ways(crm, "STAGE")
    assert up == ["Prospecting", "Qualification", "Proposal", "Negotiation", "Closed Won"]
    assert down == up[::-1]

    # Moving Negotiation to the front of the pipeline moves its deals to the front.
    moved = {"id": stages["Negotiation"], "position": 0}
    await api.mutate("updateStage", UPDATE_STAGE, {"i": moved}, admin_token)
    up, _ = await both_ways(crm, "STAGE")
    assert up == ["Negotiation", "Prospecting", "Qualification", "Proposal", "Closed Won"]


async def test_owner_sorts_by_the_owners_name(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    # Created so that neither the IDs nor the e-mails are in name order.
    for email, name in [
        ("a@example.com", "Zed"),
        ("z@example.com", "Amy"),
        ("m@example.com", "Bob"),
    ]:
        _, token = await api.create_user(admin_token, email, name=name)
        await crm.deal(f"{name}'s", token=token)
    await crm.deal("Ada's")  # the admin is Ada Admin

    up, down = await both_ways(crm, "OWNER")
    assert up == ["Ada's", "Amy's", "Bob's", "Zed's"]
    assert down == up[::-1]


async def test_folder_sorts_by_folder_name_with_unfiled_as_missing(
    api: Api, admin_token: str
) -> None:
    crm = Crm(api, admin_token)
    for name in ["Zulu", "Alpha", "Mike"]:
        await crm.deal(f"in {name}", folderId=await crm.folder(name))
    await crm.deal("unfiled")

    up, down = await both_ways(crm, "FOLDER")
    assert up == ["in Alpha", "in Mike", "in Zulu", "unfiled"]
    assert down == ["unfiled", "in Zulu", "in Mike", "in Alpha"]


async def test_company_sorts_by_the_first_linked_company_alphabetically(
    api: Api, admin_token: str
) -> None:
    crm = Crm(api, admin_token)
    zulu, alpha, mike, bravo = [await crm.company(n) for n in ["Zulu", "Alpha", "Mike", "Bravo"]]
    alpha_and_zulu = await crm.deal("Alpha and Zulu")
    await crm.link(alpha_and_zulu, zulu, "CUSTOMER")
    await crm.link(alpha_and_zulu, alpha, "PARTNER")
    await crm.link(await crm.deal("Mike"), mike, "CUSTOMER")
    await crm.link(await crm.deal("Bravo"), bravo, "COMPETITOR")
    await crm.deal("no company")

    up, down = await both_ways(crm, "COMPANY")
    assert up == ["Alpha and Zulu", "Bravo", "Mike", "no company"]
    assert down == ["no company", "Mike", "Bravo", "Alpha and Zulu"]


async def test_lead_source_with_missing_ones_last(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    await crm.deal("web", leadSource="Web")
    await crm.deal("ads", leadSource="Ads")
    await crm.deal("none")
    await crm.deal("referral", leadSource="Referral")

    up, down = await both_ways(crm, "LEAD_SOURCE")
    assert up == ["ads", "referral", "web", "none"]
    assert down == up[::-1]


async def test_forecast_category_and_visibility(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    await crm.deal("commit", forecastCategory="COMMIT")
    await crm.deal("omitted", forecastCategory="OMITTED", visibility="PRIVATE")
    await crm.deal("pipeline", forecastCategory="PIPELINE")
    await crm.deal("best case", forecastCategory="BEST_CASE")
    await crm.deal("commit 2", forecastCategory="COMMIT")

    up, down = await both_ways(crm, "FORECAST_CATEGORY")
    # In the forecast's order: PIPELINE first (by name it would come last).
    assert up[:2] == ["pipeline", "best case"] and set(up[2:4]) == {"commit", "commit 2"}
    assert up[4] == "omitted"
    assert down[0] == "omitted" and set(down[1:3]) == {"commit", "commit 2"}
    assert down[3:] == ["best case", "pipeline"]
    up, down = await both_ways(crm, "VISIBILITY")
    # PUBLIC, then PRIVATE (by name it would come first); the reverse descending.
    assert up[-1] == "omitted" and down[0] == "omitted"


async def test_last_activity_at_is_the_latest_activity(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    busy = await crm.deal("busy")
    await crm.journal(busy, "2024-01-01T00:00:00Z")
    await crm.journal(busy, "2025-06-01T00:00:00Z")
    await crm.journal(await crm.deal("mid"), "2025-01-01T00:00:00Z")
    await crm.deal("quiet")
    await crm.journal(await crm.deal("old"), "2023-01-01T00:00:00Z")

    up, down = await both_ways(crm, "LAST_ACTIVITY_AT")
    assert up == ["old", "mid", "busy", "quiet"]
    assert down == ["quiet", "busy", "mid", "old"]


# --- several keys and nulls -----------------------------------------------------------------


async def test_several_keys_apply_in_order(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    for name, probability, close in [
        ("e", 90, None),
        ("c", 90, "2030-01-01"),
        ("b", 90, "2030-01-01"),
        ("a", 50, "2029-01-01"),
        ("d", 50, None),
    ]:
        await crm.deal(name, probability=probability, estimatedCloseDate=close)
    keys = [
        order("PROBABILITY", "DESC"),
        order("ESTIMATED_CLOSE_DATE", "ASC", "FIRST"),
        order("NAME", "ASC"),
    ]

    assert await crm.names(order_by=keys) == ["e", "b", "c", "d", "a"]
    assert await crm.walk(1, keys) == ["e", "b", "c", "d", "a"]
    keys = [order("ESTIMATED_CLOSE_DATE", "DESC", "LAST"), order("NAME", "DESC")]
    assert await crm.walk(2, keys) == ["c", "b", "a", "e", "d"]


NULLABLE = ["ESTIMATED_CLOSE_DATE", "ACTUAL_CLOSE_DATE", "FOLDER", "COMPANY", "LEAD_SOURCE"]


async def test_nulls_first_and_last_on_every_nullable_field(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    for name, close, folder, company, source, when, closed in [
        ("low", "2030-01-01", "Alpha", "Alpha Co", "Ads", "2024-01-01T00:00:00Z", "2025-01-01"),
        ("high", "2031-01-01", "Zulu", "Zulu Co", "Web", "2025-01-01T00:00:00Z", "2025-06-01"),
    ]:
        deal = await crm.deal(
            name, estimatedCloseDate=close, leadSource=source, folderId=await crm.folder(folder)
        )
        await crm.link(deal, await crm.company(company), "CUSTOMER")
        await crm.journal(deal, when)
        await crm.won(deal, actualCloseDate=closed)
    await crm.deal("none 1")
    await crm.deal("none 2")

    wrong: list[Any] = []
    for field in [*NULLABLE, "LAST_ACTIVITY_AT"]:
        for direction, nulls in [
            ("ASC", None),
            ("DESC", None),
            ("ASC", "FIRST"),
            ("ASC", "LAST"),
            ("DESC", "FIRST"),
            ("DESC", "LAST"),
        ]:
            keys = [order(field, direction, nulls)]
            try:
                got = await crm.names(order_by=keys)
                walked = await crm.walk(1, keys)
            except GraphQLFailure as failure:
                wrong.append((field, direction, nulls, str(failure).split(chr(10))[2]))
                continue
            first = nulls == "FIRST" or (nulls is None and direction == "DESC")
            values = ["low", "high"] if direction == "ASC" else ["high", "low"]
            ends = (got[:2], got[2:]) if first else (got[2:], got[:2])
            if sorted(ends[0]) != ["none 1", "none 2"] or ends[1] != values or walked != got:
                wrong.append((field, direction, nulls, got, walked))
    assert not wrong, "\n".join(map(str, wrong))


# --- pagination -----------------------------------------------------------------------------


async def test_paging_through_ties_returns_every_deal_once_in_order(
    api: Api, admin_token: str
) -> None:
    crm = Crm(api, admin_token)
    closes = [None, "2030-01-01", None, "2030-02-01", "2030-01-01", None, "2030-02-01"]
    for index, close in enumerate(closes):
        await crm.deal(f"deal {index}", probability=50, estimatedCloseDate=close)
    every = {f"deal {i}" for i in range(7)}
    orders: list[list[dict[str, Any]]] = [
        [order("PROBABILITY", "ASC"), order("ESTIMATED_CLOSE_DATE", "DESC")],
        [order("PROBABILITY", "DESC"), order("ESTIMATED_CLOSE_DATE", "ASC", "FIRST")],
        [order("ESTIMATED_CLOSE_DATE", "ASC")],
        [order("ESTIMATED_CLOSE_DATE", "DESC", "LAST")],
        [order("COMPANY", "ASC"), order("PROBABILITY", "ASC")],
        [order("OWNER", "DESC")],
        [order("STATUS", "ASC"), order("LAST_ACTIVITY_AT", "DESC")],
        [order("LEAD_SOURCE", "ASC", "FIRST"), order("WEIGHTED_VALUE", "DESC")],
    ]
    wrong: list[Any] = []
    for keys in orders:
        try:
            whole = await crm.names(order_by=keys)
            walks = [await crm.walk(size, keys) for size in (1, 2, 3)]
        except GraphQLFailure as failure:
            wrong.append((keys, str(failure).split(chr(10))[2]))
            continue
        if set(whole) != every or len(whole) != 7 or any(w != whole for w in walks):
            wrong.append((keys, whole, walks))
    assert not wrong, "\n".join(map(str, wrong))
    dated = await crm.names(order_by=orders[0])
    assert set(dated[:3]) == {"deal 0", "deal 2", "deal 5"}  # missing first when descending
    assert set(dated[3:5]) == {"deal 3", "deal 6"} and set(dated[5:]) == {"deal 1", "deal 4"}


async def test_a_cursor_from_another_order_is_refused(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    for name in ["One", "Two", "Three"]:
        await crm.deal(name, estimatedCloseDate="2030-01-01")
    cases: list[tuple[list[dict[str, Any]] | None, list[dict[str, Any]] | None]] = [
        ([order("NAME", "ASC")], [order("NAME", "DESC")]),
        ([order("NAME", "ASC")], [order("EXPECTED_VALUE", "ASC")]),
        ([order("NAME", "ASC")], None),
        (None, [order("NAME", "ASC")]),
        ([order("PROBABILITY")], [order("PROBABILITY"), order("NAME")]),
        ([order("PROBABILITY"), order("NAME")], [order("NAME"), order("PROBABILITY")]),
        ([order("ESTIMATED_CLOSE_DATE")], [order("ESTIMATED_CLOSE_DATE", nulls="FIRST")]),
        ([order("ESTIMATED_CLOSE_DATE", "DESC")], [order("ACTUAL_CLOSE_DATE", "DESC")]),
    ]
    for taken_with, used_with in cases:
        page = await crm.listing(first=1, orderBy=taken_with)
        cursor = page["pageInfo"]["endCursor"]
        assert page["pageInfo"]["hasNextPage"] is True
        await crm.refused(LIST, {"first": 1, "after": cursor, "orderBy": used_with})


async def test_the_same_field_twice_is_refused(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    await crm.deal("Only")
    for keys in [
        [order("NAME", "ASC"), order("NAME", "DESC")],
        [order("PROBABILITY"), order("NAME"), order("PROBABILITY")],
        [order("FOLDER", nulls="FIRST"), order("FOLDER", nulls="LAST")],
    ]:
        await crm.refused(LIST, {"orderBy": keys})
