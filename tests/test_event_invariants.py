"""The live-update invariants (docs/architecture.md) that go beyond one action's events.

- Invariant 3: a private opportunity's events reach its owner, the users and team members
  linked to it, and admins, never anybody else, live or replayed; rights are re-read while
  a subscription lives (linking, team membership, deactivation), and a socket opened before
  a deactivation cannot start a new subscription.
- Invariant 2: resuming with `since` gives every later event exactly once in commit order,
  also with concurrent writers on two server processes sharing one database and broker.
- Invariant 5: a subscriber that stops reading neither delays the others nor loses events.

"Nothing else arrived" is checked without sleeping: after the changes under test, a public
sentinel change is made, and it must be the very next event (events come in commit order).
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.settings import Settings, to_libpq_url
from tests.client import Api, Subscriber, metric, until_subscribed
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, RunningServer, create_admin, serve

EVENTS = """
subscription Events($opportunityId: ID, $since: String) {
  opportunityEvents(opportunityId: $opportunityId, since: $since) {
    cursor kind opportunityId version
    changes { field old new }
    opportunity { name visibility }
  }
}
"""


def mutation(name: str, payload: str = "opportunity { id version }") -> str:
    """`name(input: $i)` returning `payload` and the userErrors."""
    input_type = name[0].upper() + name[1:] + "Input"
    return f"""mutation($i: {input_type}!) {{ {name}(input: $i) {{
      {payload} userErrors {{ field code message }} }} }}"""


CREATE = mutation("createOpportunity")
UPDATE = mutation("updateOpportunity")
LINK = mutation("linkParticipant", "participant { id }")
UNLINK = mutation("unlinkParticipant")
CREATE_TEAM = mutation("createTeam", "team { id }")
CREATE_CONTACT = mutation("createContact", "contact { id }")
ADD_MEMBER = """mutation($i: TeamMemberInput!) { addTeamMember(input: $i) {
  team { id } userErrors { code message } } }"""
REMOVE_MEMBER = """mutation($i: TeamMemberInput!) { removeTeamMember(input: $i) {
  team { id } userErrors { code message } } }"""
UPDATE_USER = mutation("updateUser", "user { id isActive }")
HISTORY = """query($id: ID!) { opportunity(id: $id) {
  history(first: 100) { totalCount nodes { cursor kind opportunityId version } } } }"""


async def next_event(sub: Subscriber, wait: float = 10) -> dict[str, Any]:
    event: dict[str, Any] = (await sub.next(wait))["opportunityEvents"]
    return event


async def collect(sub: Subscriber, count: int) -> list[dict[str, Any]]:
    return [await next_event(sub) for _ in range(count)]


def names(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["kind"], e["opportunity"]["name"]) for e in events]


def cursors(events: list[dict[str, Any]]) -> list[int]:
    return [int(e["cursor"]) for e in events]


async def create(api: Api, token: str, name: str, **values: Any) -> dict[str, Any]:
    values = {"name": name, "expectedValue": {"amount": "100.00", "currency": "EUR"}, **values}
    payload = await api.mutate("createOpportunity", CREATE, {"i": values}, token)
    opportunity: dict[str, Any] = payload["opportunity"]
    return opportunity


async def update(api: Api, token: str, opportunity: dict[str, Any], **values: Any) -> None:
    """Update and advance `opportunity`'s version in place."""
    variables = {
        "i": {"id": opportunity["id"], "expectedVersion": opportunity["version"], **values}
    }
    payload = await api.mutate("updateOpportunity", UPDATE, variables, token)
    opportunity["version"] = payload["opportunity"]["version"]


async def link(api: Api, token: str, opportunity: dict[str, Any], target_id: str) -> str:
    variables = {
        "i": {"opportunityId": opportunity["id"], "participantId": target_id, "role": "OTHER"}
    }
    payload = await api.mutate("linkParticipant", LINK, variables, token)
    opportunity["version"] += 1
    return str(payload["participant"]["id"])


async def subscription_errors(sub: Subscriber, variables: dict[str, Any]) -> list[dict[str, Any]]:
    """Subscribe and expect the server to refuse: the errors, after which it completes."""
    op_id = await sub.subscribe(EVENTS, variables)
    message = await sub.receive(timeout=10)
    assert message["id"] == op_id and message["type"] == "next", message
    assert message["payload"]["data"] is None, message
    errors: list[dict[str, Any]] = message["payload"]["errors"]
    assert (await sub.receive(timeout=10)) == {"id": op_id, "type": "complete"}
    return errors


@pytest.fixture
async def people(api: Api, admin_token: str) -> dict[str, tuple[str, str]]:
    """name -> (user ID, token): bob owns private deals, lea gets linked, oscar stays out."""
    found = {}
    for name in ("bob", "lea", "oscar"):
        found[name] = await api.create_user(admin_token, f"{name}@example.com")
    return found


# --- invariant 3: visibility -------------------------------------------------------------


async def test_private_events_reach_owner_and_admin_but_never_an_outsider(
    api: Api, admin_token: str, people: dict[str, tuple[str, str]]
) -> None:
    bob, oscar = people["bob"][1], people["oscar"][1]
    async with api.subscribed(EVENTS, bob, admin_token, oscar) as (owner, admin, outsider):
        secret = await create(api, bob, "Secret", visibility="PRIVATE")
        await update(api, bob, secret, name="Secret renamed")
        await create(api, bob, "Public sentinel")

        assert names(await collect(outsider, 1)) == [("CREATED", "Public sentinel")]
        expected = [
            ("CREATED", "Secret"),
            ("UPDATED", "Secret renamed"),
            ("CREATED", "Public sentinel"),
        ]
        assert names(await collect(owner, 3)) == expected
        assert names(await collect(admin, 3)) == expected


async def test_an_opportunity_made_private_stops_reaching_an_outsider(
    api: Api, people: dict[str, tuple[str, str]]
) -> None:
    bob, oscar = people["bob"][1], people["oscar"][1]
    deal = await create(api, bob, "Open deal")
    async with api.subscriber(oscar) as outsider:
        await outsider.subscribe(EVENTS, {"opportunityId": deal["id"]})
        await until_subscribed(api, 1)

        await update(api, bob, deal, nextStep="Seen by all")
        await update(api, bob, deal, visibility="PRIVATE")
        await update(api, bob, deal, nextStep="Hidden")
        await update(api, bob, deal, visibility="PUBLIC", name="Open again")

        received = await collect(outsider, 2)

    assert [(e["kind"], e["version"]) for e in received] == [("UPDATED", 2), ("UPDATED", 5)]
    assert received[1]["opportunity"] == {"name": "Open again", "visibility": "PUBLIC"}


async def test_a_user_linked_later_receives_from_the_link_on(
    api: Api, people: dict[str, tuple[str, str]]
) -> None:
    (lea_id, lea), bob = people["lea"], people["bob"][1]
    async with api.subscriber(lea) as sub:
        await sub.subscribe(EVENTS)
        await until_subscribed(api, 1)

        secret = await create(api, bob, "Secret", visibility="PRIVATE")
        await update(api, bob, secret, nextStep="Before Lea")
        await link(api, bob, secret, lea_id)
        await update(api, bob, secret, nextStep="With Lea")

        received = await collect(sub, 2)

    assert [(e["kind"], e["version"]) for e in received] == [
        ("PARTICIPANT_LINKED", 3),
        ("UPDATED", 4),
    ]
    assert received[0]["changes"][0]["new"]["targetId"] == lea_id


async def test_an_unlinked_user_stops_receiving(
    api: Api, people: dict[str, tuple[str, str]]
) -> None:
    (lea_id, lea), bob = people["lea"], people["bob"][1]
    secret = await create(api, bob, "Secret", visibility="PRIVATE")
    participant = await link(api, bob, secret, lea_id)
    async with api.subscriber(lea) as sub:
        await sub.subscribe(EVENTS)
        await until_subscribed(api, 1)

        await update(api, bob, secret, nextStep="Lea sees this")
        # Received before she is unlinked: an event is judged against who may see its deal
        # when it is delivered, so one still on its way when she is unlinked is not hers.
        received = await collect(sub, 1)
        variables = {"i": {"id": participant, "expectedVersion": secret["version"]}}
        await api.mutate("unlinkParticipant", UNLINK, variables, bob)
        secret["version"] += 1
        await update(api, bob, secret, nextStep="Lea must not see this")
        await create(api, bob, "Public sentinel")

        received += await collect(sub, 1)

    assert names(received) == [("UPDATED", "Secret"), ("CREATED", "Public sentinel")]


async def test_team_members_receive_while_in_the_linked_team(
    server: RunningServer, api: Api, admin_token: str, people: dict[str, tuple[str, str]]
) -> None:
    (lea_id, lea), bob = people["lea"], people["bob"][1]
    team = await api.mutate("createTeam", CREATE_TEAM, {"i": {"name": "Deal desk"}}, admin_token)
    team_id = team["team"]["id"]
    membership = {"i": {"teamId": team_id, "userId": lea_id}}
    await api.mutate("addTeamMember", ADD_MEMBER, membership, admin_token)
    secret = await create(api, bob, "Secret", visibility="PRIVATE")
    await link(api, bob, secret, team_id)
    async with api.subscriber(lea) as sub:
        await sub.subscribe(EVENTS)
        await until_subscribed(api, 1)

        await update(api, bob, secret, nextStep="For the team")
        assert names(await collect(sub, 1)) == [("UPDATED", "Secret")]

        await api.mutate("removeTeamMember", REMOVE_MEMBER, membership, admin_token)
        # The directory re-reads subscribers' teams every few seconds; do it now.
        await server.runtime.directory.refresh()
        await update(api, bob, secret, nextStep="Not for Lea any more")
        await create(api, bob, "Public sentinel")

        assert names(await collect(sub, 1)) == [("CREATED", "Public sentinel")]


async def test_a_user_deactivated_while_subscribed_stops_receiving(
    server: RunningServer, api: Api, admin_token: str, people: dict[str, tuple[str, str]]
) -> None:
    (lea_id, lea), bob = people["lea"], people["bob"][1]
    deal = await create(api, bob, "Public deal")
    async with api.subscriber(lea) as deactivated, api.subscriber(admin_token) as admin:
        await deactivated.subscribe(EVENTS)
        await admin.subscribe(EVENTS)
        await until_subscribed(api, 2)
        await update(api, bob, deal, nextStep="Before")
        assert names(await collect(deactivated, 1)) == [("UPDATED", "Public deal")]
        assert names(await collect(admin, 1)) == [("UPDATED", "Public deal")]

        variables = {"i": {"id": lea_id, "isActive": False}}
        await api.mutate("updateUser", UPDATE_USER, variables, admin_token)
        await server.runtime.directory.refresh()
        await update(api, bob, deal, nextStep="After")
        assert names(await collect(admin, 1)) == [("UPDATED", "Public deal")]

        # The admin's copy of the same dispatch has arrived; Lea's would have by now. Lea's
        # socket is not left open and silent: it was closed as forbidden, with no event.
        with pytest.raises(ConnectionClosed) as closed:
            await deactivated.receive(timeout=1.0)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_a_connection_opened_while_rights_are_being_reread_stays_open(
    server: RunningServer, api: Api, admin_token: str, people: dict[str, tuple[str, str]]
) -> None:
    """The directory re-reads every subscriber's rights now and then; connections that open
    while it reads (their users not among those it reads, or read after it) are not taken for
    revoked: each stays open and gets its events."""
    directory = server.runtime.directory
    deal = await create(api, people["bob"][1], "Public deal")
    rereading = True

    async def reread() -> None:
        while rereading:
            await directory.refresh()
            await asyncio.sleep(0)

    async with api.subscriber(admin_token) as first:
        await first.subscribe(EVENTS)  # someone for the directory to read
        await until_subscribed(api, 1)
        task = asyncio.create_task(reread())
        try:
            async with (
                api.subscriber(people["bob"][1]) as bob,
                api.subscriber(people["lea"][1]) as lea,
                api.subscriber(people["oscar"][1]) as oscar,
                api.subscriber(admin_token) as admin,
            ):
                for sub in (bob, lea, oscar, admin):
                    await sub.subscribe(EVENTS)
                await until_subscribed(api, 5)
                await asyncio.sleep(0.3)  # many re-reads, each a chance to end a connection
                await update(api, people["bob"][1], deal, nextStep="Still here")
                for sub in (bob, lea, oscar, admin, first):
                    assert names(await collect(sub, 1)) == [("UPDATED", "Public deal")]
        finally:
            rereading = False
            await task


async def test_since_replay_never_replays_private_events_to_an_outsider(
    api: Api, admin_token: str, people: dict[str, tuple[str, str]]
) -> None:
    bob, oscar = people["bob"][1], people["oscar"][1]
    secret = await create(api, bob, "Secret", visibility="PRIVATE")
    await update(api, bob, secret, nextStep="Hidden")
    await create(api, bob, "Public")
    async with api.subscriber(oscar) as outsider, api.subscriber(bob) as owner:
        await outsider.subscribe(EVENTS, {"since": "0"})
        await owner.subscribe(EVENTS, {"since": "0"})
        await until_subscribed(api, 2)
        await update(api, bob, secret, nextStep="Still hidden")
        await create(api, bob, "Public sentinel")

        seen_by_outsider = await collect(outsider, 2)
        seen_by_owner = await collect(owner, 5)

    assert names(seen_by_outsider) == [("CREATED", "Public"), ("CREATED", "Public sentinel")]
    assert cursors(seen_by_owner) == [1, 2, 3, 4, 5]


async def test_a_replayed_public_event_does_not_reveal_what_became_private(
    api: Api, people: dict[str, tuple[str, str]]
) -> None:
    bob, oscar = people["bob"][1], people["oscar"][1]
    deal = await create(api, bob, "Harmless name")
    await update(api, bob, deal, visibility="PRIVATE")
    await update(api, bob, deal, name="Secret merger", nextStep="Sign with Globex")
    contact = await api.mutate(
        "createContact", CREATE_CONTACT, {"i": {"firstName": "Gina", "lastName": "Globex"}}, bob
    )
    await link(api, bob, deal, contact["contact"]["id"])
    await create(api, bob, "Public sentinel")
    query = """subscription { opportunityEvents(since: "0") { cursor opportunity {
      name history { nodes { changes { field new } } }
      participants { target { ... on Contact { fullName } } } } } }"""
    async with api.subscriber(oscar) as outsider:
        await outsider.subscribe(query)
        replayed = [(await outsider.next(10))["opportunityEvents"]]
        await outsider.expect_silence()

    # The deal was public when it was created, but it is private now, and what an event's
    # `opportunity` resolves (history, participants) is the present: the outsider gets none
    # of its events, only the sentinel's.
    assert [e["opportunity"]["name"] for e in replayed] == ["Public sentinel"]
    leaked = json.dumps(replayed)
    assert "Globex" not in leaked and "Secret merger" not in leaked, leaked


async def test_subscribing_to_a_private_opportunity_as_an_outsider_is_refused(
    api: Api, people: dict[str, tuple[str, str]]
) -> None:
    bob, oscar = people["bob"][1], people["oscar"][1]
    secret = await create(api, bob, "Secret", visibility="PRIVATE")
    async with api.subscriber(oscar) as outsider:
        errors = await subscription_errors(outsider, {"opportunityId": secret["id"]})
    assert errors[0]["extensions"]["reason"] == "NOT_FOUND"


# --- invariant 2: resuming from a cursor ----------------------------------------------------


async def test_since_replays_later_events_first_then_continues_live(
    api: Api, admin_token: str
) -> None:
    deal = await create(api, admin_token, "Deal")
    async with api.subscriber(admin_token) as watcher:
        await watcher.subscribe(EVENTS)
        await until_subscribed(api, 1)
        for step in ("one", "two", "three"):
            await update(api, admin_token, deal, nextStep=step)
        first, *_ = await collect(watcher, 3)

    async with api.subscriber(admin_token) as resumed:
        await resumed.subscribe(EVENTS, {"since": first["cursor"]})
        replayed = await collect(resumed, 2)
        await update(api, admin_token, deal, nextStep="four")
        live = await collect(resumed, 1)

    assert [e["changes"][0]["new"] for e in replayed + live] == ["two", "three", "four"]
    assert cursors(replayed + live) == [int(first["cursor"]) + n for n in (1, 2, 3)]


async def test_since_with_an_opportunity_id_replays_only_that_opportunity(
    api: Api, admin_token: str
) -> None:
    watched = await create(api, admin_token, "Watched")
    other = await create(api, admin_token, "Other")
    for n in range(3):
        await update(api, admin_token, other, nextStep=f"other {n}")
        await update(api, admin_token, watched, nextStep=f"watched {n}")
    async with api.subscriber(admin_token) as sub:
        await sub.subscribe(EVENTS, {"since": "0", "opportunityId": watched["id"]})
        replayed = await collect(sub, 4)
        await update(api, admin_token, other, nextStep="live other")
        await update(api, admin_token, watched, nextStep="live watched")
        live = await collect(sub, 1)

    assert [e["version"] for e in replayed + live] == [1, 2, 3, 4, 5]
    assert {e["opportunityId"] for e in replayed + live} == {watched["id"]}
    assert live[0]["changes"][0]["new"] == "live watched"


async def test_since_the_latest_cursor_replays_nothing(api: Api, admin_token: str) -> None:
    deal = await create(api, admin_token, "Deal")
    await update(api, admin_token, deal, nextStep="latest")
    async with api.subscriber(admin_token) as sub:
        await sub.subscribe(EVENTS, {"since": "2"})
        await update(api, admin_token, deal, nextStep="new")
        (event,) = await collect(sub, 1)
    assert (event["cursor"], event["changes"][0]["new"]) == ("3", "new")


@pytest.mark.parametrize("since", ["abc", "-1", "1.5", "", " 1", "0x1", "9" * 40], ids=repr)
async def test_a_malformed_since_is_an_error(api: Api, admin_token: str, since: str) -> None:
    async with api.subscriber(admin_token) as sub:
        errors = await subscription_errors(sub, {"since": since})
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert errors[0]["extensions"]["field"] == ["since"]


async def test_a_since_from_the_future_is_an_error(api: Api, admin_token: str) -> None:
    await create(api, admin_token, "Deal")
    async with api.subscriber(admin_token) as sub:
        errors = await subscription_errors(sub, {"since": "2"})
        await sub.subscribe(EVENTS, {"since": "1"})  # the latest one is fine
        await create(api, admin_token, "Next")
        (event,) = await collect(sub, 1)
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert errors[0]["message"] == "since is from the future"
    assert event["cursor"] == "2"


WRITERS = 4
UPDATES_PER_WRITER = 25
DEALS = 4


async def write_concurrently(
    apis: list[Api], token: str, deals: list[dict[str, Any]], writer: int
) -> int:
    """UPDATES_PER_WRITER updates, alternating servers and deals; CONFLICTs are retried."""
    conflicts = 0
    for n in range(UPDATES_PER_WRITER):
        api, deal = apis[n % 2], deals[(writer + n) % DEALS]
        while True:
            variables = {
                "i": {
                    "id": deal["id"],
                    "expectedVersion": deal["version"],
                    "nextStep": f"writer {writer} step {n}",
                }
            }
            payload = (await api.ok(UPDATE, variables, token))["updateOpportunity"]
            deal["version"] = max(deal["version"], payload["opportunity"]["version"])
            if not payload["userErrors"]:
                break
            assert [e["code"] for e in payload["userErrors"]] == ["CONFLICT"], payload
            conflicts += 1
    return conflicts


async def test_resuming_on_another_server_misses_nothing_with_concurrent_writers(
    settings: Settings, database_url: str
) -> None:
    # Both "processes" share the test database and broadcast through its LISTEN/NOTIFY, so
    # no other test run can publish into this test's channel.
    shared = replace(settings, broadcast_url=to_libpq_url(database_url))
    await create_admin(database_url)
    async with serve(shared, database_url) as (a, _), serve(shared, database_url) as (b, _):
        token = await a.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        deals = [await create(a, token, f"Deal {n}") for n in range(DEALS)]
        total = DEALS + WRITERS * UPDATES_PER_WRITER

        async with b.subscriber(token) as steady:
            await steady.subscribe(EVENTS, {"since": "0"})
            async with a.subscriber(token) as first:
                await first.subscribe(EVENTS, {"since": "0"})
                writers = [
                    asyncio.create_task(write_concurrently([a, b], token, deals, n))
                    for n in range(WRITERS)
                ]
                # The first subscriber leaves midway, while the writers are busy...
                before = await collect(first, 30)
            async with b.subscriber(token) as resumed:
                # ...and resumes on the other server from the last cursor it received.
                await resumed.subscribe(EVENTS, {"since": before[-1]["cursor"]})
                after = await collect(resumed, total - len(before))
                conflicts = sum(await asyncio.gather(*writers))
                await resumed.expect_silence(0.3)
            # A subscriber on server B all along sees server A's commits in order too.
            steady_events = await collect(steady, total)

        history = []
        for deal in deals:
            nodes = (await b.ok(HISTORY, {"id": deal["id"]}, token))["opportunity"]["history"]
            history.extend(nodes["nodes"])

    committed = sorted(history, key=lambda e: int(e["cursor"]))
    assert cursors(committed) == list(range(1, total + 1)), "the outbox has no gaps"
    received = before + after
    assert cursors(received) == list(range(1, total + 1)), (
        f"gaps or repeats across the reconnect ({conflicts} conflicts were retried)"
    )
    key = ("cursor", "kind", "opportunityId", "version")
    assert [{k: e[k] for k in key} for e in received] == [{k: e[k] for k in key} for e in committed]
    assert cursors(steady_events) == list(range(1, total + 1))


async def test_a_user_deactivated_on_an_open_connection_cannot_subscribe_again(
    api: Api, admin_token: str, people: dict[str, tuple[str, str]]
) -> None:
    (lea_id, lea), bob = people["lea"], people["bob"][1]
    await create(api, bob, "Public deal")
    async with api.subscriber(lea) as connection:
        variables = {"i": {"id": lea_id, "isActive": False}}
        await api.mutate("updateUser", UPDATE_USER, variables, admin_token)
        # The socket was authenticated before the deactivation; a new subscription on it
        # must use the user's rights as they are now: no replay, no live events. This server
        # made the change, so it has closed the socket already (another server would answer
        # the subscription UNAUTHENTICATED until its next refresh closes it).
        with pytest.raises(ConnectionClosed) as closed:
            await subscription_errors(connection, {"since": "0"})
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


# --- invariant 5: a slow subscriber ---------------------------------------------------------

DESCRIPTION = "x" * 10_000
# About 300 KB per event: a subscriber that stops reading fills the socket buffers quickly.
BULKY_EVENTS = (
    "subscription { opportunityEvents { cursor "
    + " ".join(f"a{n}: opportunity {{ description }}" for n in range(29))
    + " } }"
)


@asynccontextmanager
async def stalled_subscriber(api: Api, token: str, query: str) -> AsyncIterator[ClientConnection]:
    """A subscription whose client reads nothing until told to: tiny receive buffers."""
    host, port = api.base_url.removeprefix("http://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    async with connect(
        api.ws_url,
        sock=sock,
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        max_queue=1,
        max_size=None,
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "slow", "type": "subscribe", "payload": {"query": query}}))
        yield ws


async def read_cursors(ws: ClientConnection, count: int) -> list[int]:
    found: list[int] = []
    while len(found) < count:
        message = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if message["type"] == "ping":
            await ws.send(json.dumps({"type": "pong"}))
            continue
        assert message["type"] == "next" and not message["payload"].get("errors"), message
        event = message["payload"]["data"]["opportunityEvents"]
        assert event["a0"]["description"] == DESCRIPTION
        found.append(int(event["cursor"]))
    return found


async def test_a_stalled_subscriber_delays_nobody_and_later_gets_every_event_once(
    server: RunningServer, api: Api, admin_token: str
) -> None:
    server.runtime.hub._max_queue = 20  # overflow after a few events, not a thousand
    deals = [await create(api, admin_token, f"Deal {n}", description=DESCRIPTION) for n in range(4)]
    overflows_before = await metric(api, "tandem_subscriber_overflows_total")
    async with (
        stalled_subscriber(api, admin_token, BULKY_EVENTS) as stalled,
        api.subscriber(admin_token) as normal,
    ):
        await normal.subscribe(EVENTS)
        await until_subscribed(api, 2)
        received: list[dict[str, Any]] = []

        async def read_normal() -> None:
            while True:
                received.append(await next_event(normal, wait=60))

        reader = asyncio.create_task(read_normal())
        produced = 0
        extra_rounds = 5
        for round_ in range(150):
            await asyncio.gather(
                *(update(api, admin_token, d, nextStep=f"round {round_}") for d in deals)
            )
            produced += len(deals)
            if await metric(api, "tandem_subscriber_overflows_total") > overflows_before:
                extra_rounds -= 1
                if extra_rounds == 0:
                    break
        # The normal subscriber gets everything while the stalled one has read nothing yet.
        for _ in range(3000):
            if len(received) >= produced or reader.done():
                break
            await asyncio.sleep(0.01)
        reader.cancel()
        assert len(received) == produced, f"{len(received)} of {produced} events arrived"
        assert await metric(api, "tandem_subscriber_overflows_total") > overflows_before

        # Now the stalled one reads: every event exactly once, in order (from the outbox).
        stalled_cursors = await read_cursors(stalled, produced)

    expected = list(range(5, 5 + produced))
    assert cursors(received) == expected
    assert stalled_cursors == expected


async def test_event_cursor_then_subscribe_since_misses_nothing(api: Api, admin_token: str) -> None:
    deal = await create(api, admin_token, "Deal")
    cursor = (await api.ok("{ eventCursor }", token=admin_token))["eventCursor"]
    # A change between reading the cursor and subscribing is not lost.
    await update(api, admin_token, deal, nextStep="between")
    async with api.subscriber(admin_token) as watcher:
        await watcher.subscribe(EVENTS, {"since": cursor})
        first = (await watcher.next())["opportunityEvents"]
    assert int(first["cursor"]) == int(cursor) + 1
    assert first["kind"] == "UPDATED"


async def test_events_written_at_once_reach_each_subscriber_once_in_order(
    api: Api, admin_token: str, people: dict[str, tuple[str, str]]
) -> None:
    """A subscriber whose task waits gets each event it takes written to its socket in the
    hub's turn (counted in /metrics), and nothing else changes: every event once, in commit
    order, two operations on one socket each their own, none after the client stops one, and
    an outsider nothing of a private deal."""
    bob, oscar = people["bob"][1], people["oscar"][1]
    written_before = await metric(api, "tandem_event_deliveries_written_at_once_total")
    async with api.subscribed(EVENTS, admin_token, bob, oscar) as (admin, owner, outsider):
        stopped = await admin.subscribe(EVENTS)  # a second operation on the same socket
        await until_subscribed(api, 4)
        secret = await create(api, bob, "Secret", visibility="PRIVATE")
        for step in range(5):
            await update(api, bob, secret, nextStep=f"step {step}")
        public = await create(api, bob, "Public")

        def by_operation(messages: list[dict[str, Any]]) -> dict[str, list[int]]:
            found: dict[str, list[int]] = {}
            for message in messages:
                assert message["type"] == "next", message
                event = message["payload"]["data"]["opportunityEvents"]
                found.setdefault(message["id"], []).append(int(event["cursor"]))
            return found

        admin_messages = [await admin.receive() for _ in range(14)]
        seen = by_operation(admin_messages)
        first = seen[stopped][0]
        expected = list(range(first, first + 7))
        assert list(seen.values()) == [expected, expected]
        assert await collect_cursors(owner, 7) == expected
        assert [int(e["cursor"]) for e in await collect(outsider, 1)] == [expected[-1]]
        written = await metric(api, "tandem_event_deliveries_written_at_once_total")
        # 7 events to each of the three subscriptions that may see them, 1 to the outsider.
        assert written - written_before == 7 * 3 + 1

        # The client stops one operation: the other goes on, the stopped one hears nothing.
        await admin.send({"id": stopped, "type": "complete"})
        await until_subscribed(api, 3)
        await update(api, bob, public, nextStep="after the stop")
        message = await admin.receive()
        assert message["id"] != stopped and message["type"] == "next", message
        assert int(message["payload"]["data"]["opportunityEvents"]["cursor"]) == expected[-1] + 1
        await admin.expect_silence(0.3)
        assert [int(e["cursor"]) for e in await collect(outsider, 1)] == [expected[-1] + 1]


async def collect_cursors(sub: Subscriber, count: int) -> list[int]:
    return cursors(await collect(sub, count))


async def test_frames_written_at_once_of_every_length_reach_a_standard_client(
    api: Api, admin_token: str
) -> None:
    """An event written straight to the socket is a text frame a standard client reads,
    whatever its length: under 126 bytes, under 64 KiB and beyond (RFC 6455's three length
    forms), each whole and in order."""
    small = "subscription { opportunityEvents { cursor } }"
    medium = "subscription { opportunityEvents { cursor kind opportunity { name description } } }"
    large = (
        "subscription { opportunityEvents { cursor "
        + " ".join(f"a{n}: opportunity {{ description }}" for n in range(8))
        + " } }"
    )
    deal = await create(api, admin_token, "Frames", description="d" * 1_000)
    async with (
        api.subscriber(admin_token) as small_sub,
        api.subscriber(admin_token) as medium_sub,
        api.subscriber(admin_token) as large_sub,
    ):
        await small_sub.subscribe(small)
        await medium_sub.subscribe(medium)
        await large_sub.subscribe(large)
        await until_subscribed(api, 3)
        written_before = await metric(api, "tandem_event_deliveries_written_at_once_total")
        descriptions = ["e" * 1_000, "f" * 9_000, "g" * 2_000]
        for text in descriptions:
            await update(api, admin_token, deal, description=text)

        received = [
            [await sub.ws.recv() for _ in descriptions]
            for sub in (small_sub, medium_sub, large_sub)
        ]
        written = await metric(api, "tandem_event_deliveries_written_at_once_total")

    assert all(isinstance(f, str) for frames in received for f in frames)  # text frames
    small_frames, medium_frames, large_frames = (
        [f for f in frames if isinstance(f, str)] for frames in received
    )
    assert all(len(f.encode()) < 126 for f in small_frames)
    assert all(126 <= len(f.encode()) < 1 << 16 for f in medium_frames)
    assert len(large_frames[1].encode()) >= 1 << 16
    small_cursors = [
        json.loads(f)["payload"]["data"]["opportunityEvents"]["cursor"] for f in small_frames
    ]
    assert [int(c) for c in small_cursors] == list(
        range(int(small_cursors[0]), int(small_cursors[0]) + 3)
    )
    for frames in (medium_frames, large_frames):
        events = [json.loads(f)["payload"]["data"]["opportunityEvents"] for f in frames]
        assert [e["cursor"] for e in events] == small_cursors
    medium_events = [json.loads(f)["payload"]["data"]["opportunityEvents"] for f in medium_frames]
    assert [e["opportunity"]["description"] for e in medium_events] == descriptions
    large_events = [json.loads(f)["payload"]["data"]["opportunityEvents"] for f in large_frames]
    assert [e["a7"]["description"] for e in large_events] == descriptions
    assert written - written_before == 3 * len(descriptions)
