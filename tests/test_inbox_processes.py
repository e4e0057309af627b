"""The inbox's live stream across server processes, through the Redis broker: what Bob does on
process A reaches Mia's `notificationEvents` on process B once each, in cursor order; resumed
on B from her last cursor she gets exactly what happened meanwhile; marking all read on A is a
READ event on B; and a private deal of Bob's never produces anything for her.

Each server is a real `tandem serve` (tests/processes.py) on the test's database, with a
private redis-server (tests/test_broker.py's), never the shared one. Their output goes to
files under the test's temporary directory, named in a failure's message.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.settings import Settings
from tests.client import Subscriber, until_subscribed
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, create_admin
from tests.inbox_client import EVENTS, JOURNAL, MARK_ALL_READ, Team, make_team
from tests.processes import free_port, tandem_env, tandem_server
from tests.test_broker import RedisServer

UNREAD = "{ unreadNotificationCount }"


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    server = RedisServer(free_port())
    server.start()
    try:
        yield server
    finally:
        server.kill()


async def next_event(socket: Subscriber, logs: str) -> dict[str, Any]:
    """The next notificationEvents event, waiting up to 10 s."""
    message = await socket.next(timeout=10)
    assert "notificationEvents" in message, (message, logs)
    event: dict[str, Any] = message["notificationEvents"]
    return event


def summaries(events: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    return [(e["kind"], [n["summary"] for n in e["notifications"]]) for e in events]


def cursors(events: list[dict[str, Any]]) -> list[int]:
    return [int(e["cursor"]) for e in events]


async def inbox_ids(team: Team, token: str) -> list[str]:
    """The IDs of the user's notifications, oldest first."""
    found = await team.inbox(token, first=100)
    assert not found["pageInfo"]["hasNextPage"]
    return [n["id"] for n in reversed(found["nodes"])]


async def test_notification_events_cross_processes_once_in_order_and_resume(
    settings: Settings, database_url: str, redis: RedisServer, tmp_path: Path
) -> None:
    await create_admin(database_url)
    env = tandem_env(settings, database_url, TANDEM_BROADCAST_URL=redis.url)
    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    logs = f"server logs: {log_a}, {log_b}"
    async with tandem_server(env, output=log_a) as a, tandem_server(env, output=log_b) as b:
        admin = await a.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        team = await make_team(a, admin)  # every change below is made on A
        handle = (await b.ok("{ me { handle } }", token=team.mia))["me"]["handle"]
        deal = await team.create(team.mia, name="Mia's rollout")  # hers: she follows it
        secret = await team.create(team.bob, name="Bob's secret", visibility="PRIVATE")

        # Live on B. The refused mention and Bob's secret deal come before the last of
        # Bob's changes on Mia's deal: that one arriving next shows they produced nothing.
        async with b.subscriber(team.mia) as socket:
            await socket.subscribe(EVENTS)
            await until_subscribed(b, 1)
            await team.move(team.bob, deal, "Qualification")
            await team.journal(team.bob, deal, "Demo booked\nThursday.")
            refused = await a.ok(
                JOURNAL, {"i": {"opportunityId": secret["id"], "body": f"Ask @{handle}"}}, team.bob
            )
            assert refused["addJournal"]["activity"] is None
            assert [e["code"] for e in refused["addJournal"]["userErrors"]] == [
                "MENTION_NOT_ALLOWED"
            ]
            await team.move(team.bob, secret, "Qualification")
            await team.journal(team.bob, secret, "Internal pricing")
            await team.journal(team.bob, deal, f"Thanks @{handle} for the intro")
            live = [await next_event(socket, logs) for _ in range(3)]
            await socket.expect_silence(1.0)  # no copy of any, from either process
        assert summaries(live) == [
            ("NEW", ["Bob Stone moved Mia's rollout to Qualification"]),
            ("NEW", ["Bob Stone commented on Mia's rollout: Demo booked"]),
            ("NEW", [f"Bob Stone mentioned you on Mia's rollout: Thanks @{handle} for the intro"]),
        ]
        assert [e["unreadCount"] for e in live] == [1, 2, 3]
        assert cursors(live) == sorted(set(cursors(live)))
        seen = [n["id"] for e in live for n in e["notifications"]]
        assert seen == await inbox_ids(team, team.mia)

        # Disconnected: two changes for Mia on A, and one on the secret deal.
        await team.move(team.bob, deal, "Proposal")
        await team.win(team.bob, secret)
        await team.task(team.bob, deal, "Send the contract", assignee=team.mia_id)

        # Resumed on B from her last cursor: those two, then one made while connected.
        async with b.subscriber(team.mia) as socket:
            await socket.subscribe(EVENTS, {"since": live[-1]["cursor"]})
            missed = [await next_event(socket, logs) for _ in range(2)]
            await team.journal(team.bob, deal, "Contract sent")
            marker = await next_event(socket, logs)
            await socket.expect_silence(1.0)
            unread = (await b.ok(UNREAD, token=team.mia))["unreadNotificationCount"]
            assert (marker["unreadCount"], unread) == (6, 6)

            # Marked all read on A: one READ event on B, with the six and a count of zero.
            payload = await a.mutate("markAllNotificationsRead", MARK_ALL_READ, {}, team.mia)
            assert (payload["markedCount"], payload["unreadCount"]) == (6, 0)
            read = await next_event(socket, logs)
            await socket.expect_silence(1.0)
        assert [e["unreadCount"] for e in missed] == [5, 5]  # the count when sent
        assert summaries([*missed, marker]) == [
            ("NEW", ["Bob Stone moved Mia's rollout to Proposal"]),
            ("NEW", ["Bob Stone assigned you “Send the contract” on Mia's rollout"]),
            ("NEW", ["Bob Stone commented on Mia's rollout: Contract sent"]),
        ]
        everything = [*live, *missed, marker]
        assert cursors(everything) == sorted(set(cursors(everything)))
        seen = [n["id"] for e in everything for n in e["notifications"]]
        assert seen == await inbox_ids(team, team.mia)
        assert (read["kind"], read["unreadCount"]) == ("READ", 0)
        assert sorted(n["id"] for n in read["notifications"]) == sorted(seen)
        assert all(n["read"] for n in read["notifications"])
        assert int(read["cursor"]) > int(marker["cursor"])
        assert (await b.ok(UNREAD, token=team.mia))["unreadNotificationCount"] == 0
        # Nothing of the secret deal is in her inbox either.
        assert all(n["opportunity"]["name"] == "Mia's rollout" for n in read["notifications"])
