"""Presence: who views or edits a deal (or the board) now, live, through the public API.

Two users see each other arrive and start editing over WebSocket; an entry announced over HTTP
lives as long as it is repeated; one a subscription holds goes when its socket closes, or
when its client stops answering the protocol's pings; nobody sees presence on a deal they
cannot see, not even its id; a CONFLICT names who is editing the deal.

Queries that select `presence` go straight to the server under test, not through the
differential mirror: presence is the server process's memory, which its twin (another app
in the same process, tests/differential.py) does not share.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.settings import Settings, SettingsError, load_settings
from tests.client import Api, Subscriber
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, create_admin, serve

ENTRY = "user { name } state since sessionId"
SNAPSHOT = (
    f"opportunityId board entries {{ {ENTRY} }} "
    f"opportunities {{ opportunityId entries {{ {ENTRY} }} }}"
)
PRESENCE = f"""
subscription($id: ID, $board: Boolean, $announce: PresenceState, $session: String) {{
  presence(opportunityId: $id, board: $board, announce: $announce, sessionId: $session) {{
    {SNAPSHOT}
  }}
}}"""
ANNOUNCE = f"""
mutation($i: AnnouncePresenceInput!) {{
  announcePresence(input: $i) {{ presence {{ {SNAPSHOT} }} userErrors {{ field code message }} }}
}}"""
CREATE = """mutation($i: CreateOpportunityInput!) { createOpportunity(input: $i) {
  opportunity { id version } userErrors { field code message } } }"""
UPDATE = """mutation($i: UpdateOpportunityInput!) { updateOpportunity(input: $i) {
  opportunity { id version nextStep } userErrors { field code message } } }"""
ON_DEAL = f"query($id: ID!) {{ opportunity(id: $id) {{ name presence {{ {ENTRY} }} }} }}"
MISSING = "T3Bwb3J0dW5pdHk6OTk5OTk5"  # Opportunity:999999

Snapshot = dict[str, Any]


@asynccontextmanager
async def direct(api: Api) -> AsyncIterator[Api]:
    """The same server, without the differential mirror (see the module's docstring)."""
    async with httpx.AsyncClient(base_url=api.base_url, timeout=30) as http:
        yield Api(api.base_url, http)


async def create_deal(api: Api, token: str, name: str, visibility: str = "PUBLIC") -> str:
    values = {"name": name, "expectedValue": {"amount": "1000.00", "currency": "EUR"}}
    payload = await api.mutate(
        "createOpportunity", CREATE, {"i": {**values, "visibility": visibility}}, token
    )
    deal_id: str = payload["opportunity"]["id"]
    return deal_id


async def announce(
    api: Api, token: str, session: str, state: str | None, deal: str | None = None
) -> dict[str, Any]:
    target: dict[str, Any] = {"opportunityId": deal} if deal else {"board": True}
    variables = {"i": {**target, "state": state, "sessionId": session}}
    payload: dict[str, Any] = (await api.ok(ANNOUNCE, variables, token))["announcePresence"]
    return payload


async def subscribe(
    sub: Subscriber,
    deal: str | None = None,
    *,
    board: bool = False,
    announce: str | None = None,
    session: str | None = None,
) -> str:
    variables = {"id": deal, "board": board, "announce": announce, "session": session}
    return await sub.subscribe(PRESENCE, variables)


async def snapshot(sub: Subscriber, timeout: float = 5.0) -> Snapshot:
    found: Snapshot = (await sub.next(timeout))["presence"]
    return found


async def until(
    sub: Subscriber, wanted: Callable[[Snapshot], bool], timeout: float = 5.0
) -> Snapshot:
    """The first snapshot that is `wanted` (earlier ones were steps on the way)."""
    seen: list[Snapshot] = []

    async def look() -> Snapshot:
        while True:
            found = await snapshot(sub, timeout)
            if wanted(found):
                return found
            seen.append(found)

    try:
        return await asyncio.wait_for(look(), timeout)
    except TimeoutError:
        raise AssertionError(f"no such snapshot; seen: {json.dumps(seen, indent=1)}") from None


def who(entries: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {(e["user"]["name"], e["sessionId"], e["state"]) for e in entries}


async def team(api: Api, admin_token: str) -> tuple[str, str]:
    _, mia = await api.create_user(admin_token, "mia@example.com", name="Mia Keller")
    _, leo = await api.create_user(admin_token, "leo@example.com", name="Leo Brandt")
    return mia, leo


async def test_two_users_see_each_other_view_then_edit_live(api: Api, admin_token: str) -> None:
    mia, leo = await team(api, admin_token)
    deal = await create_deal(api, mia, "Wall screens")
    async with api.subscriber(mia) as on_mia, api.subscriber(leo) as on_leo:
        await subscribe(on_mia, deal, announce="VIEWING", session="mia-tab")
        first = await snapshot(on_mia)
        assert (first["opportunityId"], first["board"], first["opportunities"]) == (
            deal,
            False,
            [],
        )
        assert who(first["entries"]) == {("Mia Keller", "mia-tab", "VIEWING")}
        mia_since = first["entries"][0]["since"]

        await subscribe(on_leo, deal, announce="VIEWING", session="leo-tab")
        both = {("Mia Keller", "mia-tab", "VIEWING"), ("Leo Brandt", "leo-tab", "VIEWING")}
        assert who((await snapshot(on_leo))["entries"]) == both
        assert who((await until(on_mia, lambda s: len(s["entries"]) == 2))["entries"]) == both

        # Leo opens the edit form: his session (the one his socket holds) is now EDITING.
        payload = await announce(api, leo, "leo-tab", "EDITING", deal)
        assert payload["userErrors"] == []
        editing = {("Mia Keller", "mia-tab", "VIEWING"), ("Leo Brandt", "leo-tab", "EDITING")}
        assert who(payload["presence"]["entries"]) == editing
        seen = await until(on_mia, lambda s: who(s["entries"]) == editing)
        # Entries come in the order they arrived; Mia's state did not change, nor its since.
        assert [e["sessionId"] for e in seen["entries"]] == ["mia-tab", "leo-tab"]
        assert seen["entries"][0]["since"] == mia_since
        await until(on_leo, lambda s: who(s["entries"]) == editing)

        async with direct(api) as plain:
            shown = (await plain.ok(ON_DEAL, {"id": deal}, mia))["opportunity"]
        assert who(shown["presence"]) == editing

        # Leo leaves (state null), his socket still open: gone at once.
        await announce(api, leo, "leo-tab", None, deal)
        gone = await until(on_mia, lambda s: len(s["entries"]) == 1)
        assert who(gone["entries"]) == {("Mia Keller", "mia-tab", "VIEWING")}


async def test_a_closed_socket_takes_its_presence_with_it(api: Api, admin_token: str) -> None:
    mia, leo = await team(api, admin_token)
    deal = await create_deal(api, mia, "Closing tabs")
    async with api.subscriber(leo) as on_leo:
        await subscribe(on_leo, board=True)
        assert (await snapshot(on_leo))["opportunities"] == []
        async with api.subscriber(mia) as on_mia:
            await subscribe(on_mia, deal, announce="EDITING", session="mia-tab")
            await snapshot(on_mia)
            here = await until(on_leo, lambda s: bool(s["opportunities"]))
            assert here["opportunities"][0]["opportunityId"] == deal
            assert who(here["opportunities"][0]["entries"]) == {
                ("Mia Keller", "mia-tab", "EDITING")
            }
        # The tab closed: well before the 10 s an unrepeated announcement would live.
        await until(on_leo, lambda s: s["opportunities"] == [], timeout=3)
        async with direct(api) as plain:
            assert (await plain.ok(ON_DEAL, {"id": deal}, leo))["opportunity"]["presence"] == []


@asynccontextmanager
async def short_lived(
    settings: Settings, database_url: str, ttl: float = 2.0, **changes: Any
) -> AsyncIterator[tuple[Api, str]]:
    """A server whose presence lives `ttl` seconds unless repeated; with the admin's token."""
    await create_admin(database_url)
    quick = replace(settings, presence_ttl_seconds=ttl, **changes)
    async with serve(quick, database_url) as (api, _):
        yield api, await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)


async def test_an_announcement_over_http_lives_while_repeated(
    settings: Settings, database_url: str
) -> None:
    async with short_lived(settings, database_url) as (api, admin):
        deal = await create_deal(api, admin, "Heartbeats")
        _, mia = await api.create_user(admin, "mia@example.com", name="Mia Keller")
        async with api.subscriber(admin) as watching:
            await subscribe(watching, deal)
            assert (await snapshot(watching))["entries"] == []
            first = await announce(api, mia, "mia-phone", "VIEWING", deal)
            since = first["presence"]["entries"][0]["since"]
            await until(watching, lambda s: len(s["entries"]) == 1)
            # Repeated for three lifetimes: it stays, and its since does not move.
            for _ in range(12):
                await asyncio.sleep(0.5)
                again = await announce(api, mia, "mia-phone", "VIEWING", deal)
                assert [e["since"] for e in again["presence"]["entries"]] == [since]
            # Not repeated: it expires, and the watcher is told.
            await until(watching, lambda s: s["entries"] == [])
            assert (await api.ok(ON_DEAL, {"id": deal}, admin))["opportunity"]["presence"] == []


async def test_a_socket_that_stops_answering_loses_its_presence(
    settings: Settings, database_url: str
) -> None:
    async with short_lived(settings, database_url) as (api, admin):
        deal = await create_deal(api, admin, "Dropped networks")
        _, mia = await api.create_user(admin, "mia@example.com", name="Mia Keller")
        _, leo = await api.create_user(admin, "leo@example.com", name="Leo Brandt")
        async with (
            api.subscriber(admin) as watching,
            api.subscriber(mia) as on_mia,
            api.subscriber(leo) as on_leo,
        ):
            await subscribe(watching, deal)
            await snapshot(watching)
            await subscribe(on_mia, deal, announce="VIEWING", session="mia-tab")
            await subscribe(on_leo, deal, announce="VIEWING", session="leo-tab")
            await snapshot(on_mia)
            await snapshot(on_leo)
            # Leo's client keeps reading (and so answers the server's pings); Mia's goes
            # silent with its socket open, as behind a dropped network.
            reading = asyncio.create_task(drain(on_leo))
            try:
                await until(watching, lambda s: len(s["entries"]) == 2)
                left = await until(watching, lambda s: len(s["entries"]) == 1, timeout=10)
                assert who(left["entries"]) == {("Leo Brandt", "leo-tab", "VIEWING")}
                # Two lifetimes later Leo, who answers, is still there.
                await watching.expect_silence(4.0)
            finally:
                reading.cancel()


async def drain(sub: Subscriber) -> None:
    """Read (and so answer pings) until cancelled."""
    while True:
        try:
            await sub.receive(timeout=60)
        except TimeoutError:
            continue


async def test_private_deals_never_show_in_an_outsiders_presence(
    api: Api, admin_token: str
) -> None:
    _, outsider = await api.create_user(admin_token, "leo@example.com", name="Leo Brandt")
    private = await create_deal(api, admin_token, "Secret merger", "PRIVATE")
    public = await create_deal(api, admin_token, "Open tender")
    for deal in (private, public):
        assert (await announce(api, admin_token, "ada-tab", "EDITING", deal))["userErrors"] == []
    await announce(api, admin_token, "ada-wall", "VIEWING")  # on the board

    async with api.subscriber(outsider) as on_leo, api.subscriber(admin_token) as on_ada:
        await subscribe(on_ada, board=True)
        ada_sees = await snapshot(on_ada)
        assert [o["opportunityId"] for o in ada_sees["opportunities"]] == [private, public]

        await subscribe(on_leo, board=True)
        raw = await on_leo.receive()
        assert private not in json.dumps(raw)  # not even its id
        board = raw["payload"]["data"]["presence"]
        assert (board["board"], board["opportunityId"]) == (True, None)
        assert who(board["entries"]) == {("Ada Admin", "ada-wall", "VIEWING")}
        assert [o["opportunityId"] for o in board["opportunities"]] == [public]

        # Subscribing to the private deal's presence answers as for a missing deal.
        refusals = []
        for deal in (private, MISSING):
            await subscribe(on_leo, deal)
            refusals.append(await error_of(on_leo))
        assert refusals[0] == refusals[1]
        assert refusals[0]["message"] == "opportunity not found"

    # So does announcing on it, and reading it.
    answers = [await announce(api, outsider, "leo-tab", "VIEWING", d) for d in (private, MISSING)]
    assert (
        answers[0]
        == answers[1]
        == {
            "presence": None,
            "userErrors": [
                {
                    "field": ["opportunityId"],
                    "code": "NOT_FOUND",
                    "message": "opportunity not found",
                }
            ],
        }
    )
    async with direct(api) as plain:
        assert (await plain.ok(ON_DEAL, {"id": private}, outsider))["opportunity"] is None
        shown = (await plain.ok(ON_DEAL, {"id": private}, admin_token))["opportunity"]
    assert who(shown["presence"]) == {("Ada Admin", "ada-tab", "EDITING")}


async def error_of(sub: Subscriber) -> dict[str, Any]:
    """The error a subscription ended with (its `error` message, or a `next` with errors)."""
    message = await sub.receive()
    while message["type"] == "complete":  # of the one before
        message = await sub.receive()
    if message["type"] == "error":
        error: dict[str, Any] = message["payload"][0]
    else:
        assert message["type"] == "next", message
        error = message["payload"]["errors"][0]
    return {k: v for k, v in error.items() if k in ("message", "extensions")}


async def test_a_conflict_names_who_is_editing(api: Api, admin_token: str) -> None:
    mia, leo = await team(api, admin_token)
    deal = await create_deal(api, leo, "Fleet renewal")
    payload = await announce(api, mia, "mia-tab", "EDITING", deal)
    since = payload["presence"]["entries"][0]["since"]
    await announce(api, leo, "leo-tab", "EDITING", deal)  # the caller is not named
    first = await api.mutate(
        "updateOpportunity", UPDATE, {"i": {"id": deal, "expectedVersion": 1, "nextStep": "A"}}, mia
    )
    assert first["opportunity"]["version"] == 2
    stale = {"i": {"id": deal, "expectedVersion": 1, "nextStep": "B"}}
    answer = (await api.ok(UPDATE, stale, leo))["updateOpportunity"]
    [error] = answer["userErrors"]
    assert error["code"] == "CONFLICT"
    hhmm = re.search(r"T(\d\d:\d\d)", since)
    assert hhmm is not None
    assert error["message"].endswith(f". Mia Keller is editing this since {hhmm.group(1)} UTC.")
    assert "Leo Brandt" not in error["message"]
    assert answer["opportunity"]["nextStep"] == "A"  # the current state, as before

    # Nobody editing: the CONFLICT says what it always said.
    await announce(api, mia, "mia-tab", "VIEWING", deal)
    answer = (await api.ok(UPDATE, stale, leo))["updateOpportunity"]
    assert "editing" not in answer["userErrors"][0]["message"]


BAD_ANNOUNCEMENTS: list[tuple[dict[str, Any], list[str], str]] = [
    ({"opportunityId": "DEAL", "board": True, "sessionId": "tab"}, ["opportunityId"], "INVALID"),
    ({"sessionId": "tab"}, ["opportunityId"], "INVALID"),
    ({"board": False, "sessionId": "tab"}, ["opportunityId"], "INVALID"),
    ({"opportunityId": "not-an-id", "sessionId": "tab"}, ["opportunityId"], "INVALID_ID"),
    ({"opportunityId": "VXNlcjox", "sessionId": "tab"}, ["opportunityId"], "INVALID_ID"),
    ({"opportunityId": "DEAL", "sessionId": ""}, ["sessionId"], "INVALID"),
    ({"opportunityId": "DEAL", "sessionId": "two words"}, ["sessionId"], "INVALID"),
    ({"opportunityId": "DEAL", "sessionId": "x" * 65}, ["sessionId"], "INVALID"),
    ({"board": True, "sessionId": "tab\n"}, ["sessionId"], "INVALID"),
]


async def test_bad_announcements_are_refused_and_change_nothing(api: Api, admin_token: str) -> None:
    deal = await create_deal(api, admin_token, "Input checks")
    for given, field, code in BAD_ANNOUNCEMENTS:
        if given.get("opportunityId") == "DEAL":
            given = {**given, "opportunityId": deal}
        variables = {"i": {**given, "state": "VIEWING"}}
        answer = (await api.ok(ANNOUNCE, variables, admin_token))["announcePresence"]
        assert answer["presence"] is None
        [error] = answer["userErrors"]
        assert (error["field"], error["code"]) == (field, code), (given, error)
    async with direct(api) as plain:
        shown = (await plain.ok(ON_DEAL, {"id": deal}, admin_token))["opportunity"]
    assert shown["presence"] == []
    async with api.subscriber(admin_token) as sub:
        await subscribe(sub, board=True)
        assert (await snapshot(sub))["entries"] == []


async def test_bad_subscriptions_are_refused(api: Api, admin_token: str) -> None:
    deal = await create_deal(api, admin_token, "Input checks")
    async with api.subscriber(admin_token) as sub:
        cases: list[tuple[dict[str, Any], str]] = [
            ({"id": deal, "board": True}, "INVALID"),
            ({}, "INVALID"),
            ({"id": "not-an-id"}, "INVALID_ID"),
            ({"id": deal, "announce": "VIEWING", "session": "x" * 65}, "INVALID"),
        ]
        for variables, reason in cases:
            await sub.subscribe(PRESENCE, variables)
            error = await error_of(sub)
            assert error["extensions"]["code"] == "BAD_USER_INPUT", error
            assert error["extensions"]["reason"] == reason, error
    # Nothing was announced by the refused ones.
    async with api.subscriber(admin_token) as sub:
        await subscribe(sub, deal)
        assert (await snapshot(sub))["entries"] == []


async def test_one_user_cannot_flood_a_deal_with_sessions(api: Api, admin_token: str) -> None:
    deal = await create_deal(api, admin_token, "Many tabs")
    for number in range(20):
        answer = await announce(api, admin_token, f"tab-{number}", "VIEWING", deal)
        assert answer["userErrors"] == []
    answer = await announce(api, admin_token, "tab-20", "VIEWING", deal)
    [error] = answer["userErrors"]
    assert (error["code"], error["field"]) == ("OUT_OF_RANGE", ["sessionId"])
    assert "at most 20 sessions" in error["message"]
    # A known session may still change its state, and one that leaves makes room.
    assert (await announce(api, admin_token, "tab-3", "EDITING", deal))["userErrors"] == []
    await announce(api, admin_token, "tab-4", None, deal)
    assert (await announce(api, admin_token, "tab-20", "VIEWING", deal))["userErrors"] == []


async def plan_fallbacks(api: Api) -> list[str]:
    """The counts of operations the plan executor handed on (the counters are the process's,
    shared by every server a test run starts)."""
    metrics = (await api.http.get("/metrics")).text
    return [
        line for line in metrics.splitlines() if line.startswith("tandem_plan_fallbacks_total{")
    ]


@pytest.mark.parametrize("executor", ["plan", "standard"])
async def test_opportunity_presence_under_either_executor(
    settings: Settings, database_url: str, executor: str
) -> None:
    async with short_lived(settings, database_url, 60.0, executor=executor) as (api, admin):
        deal = await create_deal(api, admin, "Both ways")
        other = await create_deal(api, admin, "Nobody here")
        await announce(api, admin, "ada-tab", "EDITING", deal)
        page = "{ opportunities(first: 10) { nodes { id presence { user { name } state } } } }"
        fallbacks = await plan_fallbacks(api)
        nodes = (await api.ok(page, token=admin))["opportunities"]["nodes"]
        shown = {n["id"]: n["presence"] for n in nodes}
        assert shown == {
            deal: [{"user": {"name": "Ada Admin"}, "state": "EDITING"}],
            other: [],
        }
        if executor == "plan":  # planned, not handed to graphql-core's executor
            assert await plan_fallbacks(api) == fallbacks
        # A query that does not select it answers as ever.
        plain = await api.ok(
            "query($id: ID!) { opportunity(id: $id) { name } }", {"id": deal}, admin
        )
        assert plain == {"opportunity": {"name": "Both ways"}}
        # The subscription too, and what its socket held goes with it.
        async with api.subscriber(admin) as sub:
            await subscribe(sub, other, announce="VIEWING", session="ada-wall")
            assert who((await snapshot(sub))["entries"]) == {("Ada Admin", "ada-wall", "VIEWING")}
        async with api.subscriber(admin) as sub:
            await subscribe(sub, other)
            assert (await snapshot(sub))["entries"] == []


async def test_presence_over_the_legacy_protocol(api: Api, admin_token: str) -> None:
    deal = await create_deal(api, admin_token, "Old clients")
    async with api.subscriber(admin_token, "graphql-ws") as old, api.subscriber(admin_token) as new:
        await subscribe(old, deal, announce="VIEWING", session="old-tab")
        assert who((await snapshot(old))["entries"]) == {("Ada Admin", "old-tab", "VIEWING")}
        await subscribe(new, deal)
        assert len((await snapshot(new))["entries"]) == 1


NODE_CLIENT = Path(__file__).parent / "js" / "presence_client.mjs"


async def node_says(process: asyncio.subprocess.Process) -> dict[str, Any]:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 20)
    assert line, "the Node client ended early"
    said: dict[str, Any] = json.loads(line)
    assert said["step"] != "failed", said
    return said


async def test_the_npm_graphql_ws_client_keeps_its_presence_and_gets_snapshots(
    settings: Settings, database_url: str
) -> None:
    node = shutil.which("node")
    assert node, "Node.js is needed for the graphql-ws client test"
    async with short_lived(settings, database_url) as (api, admin):
        deal = await create_deal(api, admin, "Node viewers")
        process = await asyncio.create_subprocess_exec(
            node,
            str(NODE_CLIENT),
            api.base_url,
            ADMIN_EMAIL,
            ADMIN_PASSWORD,
            deal,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            cwd=NODE_CLIENT.parent,
        )
        try:

            async def next_snapshot() -> set[tuple[str, str, str]]:
                said = await node_says(process)
                assert said["step"] == "snapshot", said
                return who(said["data"]["presence"]["entries"])

            assert await next_snapshot() == {("Ada Admin", "node-tab", "VIEWING")}
            await announce(api, admin, "ada-tab", "EDITING", deal)
            both = {("Ada Admin", "node-tab", "VIEWING"), ("Ada Admin", "ada-tab", "EDITING")}
            assert await next_snapshot() == both
            # The HTTP announcement, not repeated, expires after its lifetime; the client's
            # own presence stays, for it answers the server's pings.
            assert await next_snapshot() == {("Ada Admin", "node-tab", "VIEWING")}
            await asyncio.sleep(4)
            shown = (await api.ok(ON_DEAL, {"id": deal}, admin))["opportunity"]["presence"]
            assert who(shown) == {("Ada Admin", "node-tab", "VIEWING")}

            assert process.stdin is not None
            process.stdin.write(b"stop\n")
            await process.stdin.drain()
            assert (await node_says(process))["step"] == "stopped"
            assert await asyncio.wait_for(process.wait(), 10) == 0
            async with api.subscriber(admin) as sub:
                await subscribe(sub, deal)
                assert (await snapshot(sub))["entries"] == []
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()


def test_the_lifetime_setting_is_checked(tmp_path: Path) -> None:
    base = {"TANDEM_DATA_DIR": str(tmp_path), "TANDEM_SECRET_KEY": "x" * 32}
    assert load_settings(base).presence_ttl_seconds == 10.0
    assert load_settings({**base, "TANDEM_PRESENCE_TTL_SECONDS": "2.5"}).presence_ttl_seconds == 2.5
    for wrong in ("0", "0.5", "301", "ten", "nan"):
        with pytest.raises(SettingsError, match="TANDEM_PRESENCE_TTL_SECONDS"):
            load_settings({**base, "TANDEM_PRESENCE_TTL_SECONDS": wrong})
