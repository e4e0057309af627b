"""The inbox (issue 15 point 4): notifications made by the public mutations, for the people
they concern and only for them; preferences; reading; and notificationEvents, exactly once and
resumable like opportunityEvents."""

from __future__ import annotations

import asyncio
import base64
from contextlib import aclosing
from typing import Any

from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport

from tests.client import Api, Subscriber, until_subscribed
from tests.inbox_client import (
    EVENTS,
    MARK_ALL_READ,
    MARK_READ,
    PREFERENCES,
    SET_PREFERENCE,
    UPDATE_ACTIVITY,
    Team,
    make_team,
)

OPPORTUNITY_EVENTS = """
subscription($kinds: [OpportunityEventKind!]) {
  opportunityEvents(filter: {kinds: $kinds}) { cursor kind }
}"""
ENUM = '{ __type(name: "OpportunityEventKind") { enumValues { name } } }'


async def inbox_of(team: Team, token: str) -> list[tuple[str, str]]:
    """(kind, summary) of each notification, newest first."""
    return [(n["kind"], n["summary"]) for n in (await team.inbox(token))["nodes"]]


async def test_each_kind_reaches_the_followers_and_never_the_actor(
    api: Api, admin_token: str
) -> None:
    team = await make_team(api, admin_token)
    deal = await team.create(name="ACME rollout")
    await team.follow(team.mia, deal)

    await team.move(team.bob, deal, "Qualification")
    await team.journal(team.bob, deal, "Call went well\nThey want a demo.")
    assert await inbox_of(team, team.mia) == [
        ("COMMENTED", "Bob Stone commented on ACME rollout: Call went well"),
        ("STAGE_CHANGED", "Bob Stone moved ACME rollout to Qualification"),
    ]
    assert await inbox_of(team, team.bob) == []  # the actor hears nothing of his own doing

    # Mia acts: now the owner hears of it.
    await team.move(team.mia, deal, "Proposal")
    assert await inbox_of(team, team.bob) == [
        ("STAGE_CHANGED", "Mia Keller moved ACME rollout to Proposal")
    ]

    # A task for Bob is one notification (TASK_ASSIGNED), not a comment too; one Bob gives
    # himself is none; reassigned to Carl, Carl hears of it.
    task = await team.task(team.mia, deal, "Send the proposal", assignee=team.bob_id)
    await team.task(team.bob, deal, "Note to self")
    kinds = await inbox_of(team, team.bob)
    assert kinds[0] == (
        "TASK_ASSIGNED",
        "Mia Keller assigned you “Send the proposal” on ACME rollout",
    )
    assert len(kinds) == 2
    update = {"id": task["id"], "expectedVersion": task["version"], "assigneeId": team.carl_id}
    await api.mutate("updateActivity", UPDATE_ACTIVITY, {"i": update}, team.bob)
    assert await inbox_of(team, team.carl) == [
        ("TASK_ASSIGNED", "Bob Stone assigned you “Send the proposal” on ACME rollout")
    ]
    carl_inbox = await team.inbox(team.carl)
    assert carl_inbox["nodes"][0]["activity"] == {"id": task["id"], "title": "Send the proposal"}
    assert carl_inbox["nodes"][0]["opportunity"] == {"id": deal["id"], "name": "ACME rollout"}
    assert carl_inbox["nodes"][0]["actor"] == {"name": "Bob Stone"}

    # Reassigned by Mia: the new owner and the one it was taken from are told; Mia is not.
    await team.update(team.mia, deal, ownerId=team.carl_id)
    assert (await inbox_of(team, team.carl))[0] == (
        "REASSIGNED",
        "Mia Keller gave ACME rollout to you",
    )
    assert (await inbox_of(team, team.bob))[0] == (
        "REASSIGNED",
        "Mia Keller gave ACME rollout to Carl Diaz",
    )
    assert [k for k, _ in await inbox_of(team, team.mia)] == ["COMMENTED", "STAGE_CHANGED"]

    await team.win(team.carl, deal)
    assert (await inbox_of(team, team.mia))[0] == ("DEAL_WON", "Carl Diaz marked ACME rollout won")
    # Bob no longer owns it, and did not choose to follow it: he is not told.
    assert (await inbox_of(team, team.bob))[0][0] == "REASSIGNED"
    lost = await team.create(name="Globex pilot")
    await team.follow(team.mia, lost)
    await team.lose(team.bob, lost)
    assert (await inbox_of(team, team.mia))[0] == (
        "DEAL_LOST",
        "Bob Stone marked Globex pilot lost",
    )
    assert (await team.inbox(team.mia))["unread"] == 4


async def test_a_mention_in_a_comment_is_one_notification_and_mentioned_wins(
    api: Api, admin_token: str
) -> None:
    team = await make_team(api, admin_token)
    deal = await team.create(name="ACME rollout")
    await team.follow(team.mia, deal)
    await team.follow(team.carl, deal)
    note = await team.journal(team.bob, deal, "Thanks @mia for the intro")
    (mia,) = (await team.inbox(team.mia))["nodes"]
    assert mia["kind"] == "MENTIONED" and mia["activity"]["id"] == note
    assert mia["summary"].startswith("Bob Stone mentioned you on ACME rollout: ")
    assert "@mia" in mia["summary"]
    assert await inbox_of(team, team.carl) == [
        ("COMMENTED", "Bob Stone commented on ACME rollout: Thanks @mia for the intro")
    ]
    # Mentioning oneself tells nobody.
    await team.journal(team.bob, deal, "Note to @bob")
    assert await inbox_of(team, team.bob) == []


async def test_a_private_deal_never_reaches_an_outsiders_inbox(api: Api, admin_token: str) -> None:
    team = await make_team(api, admin_token)
    secret = await team.create(name="Secret", visibility="PRIVATE")
    # Zoe cannot be given a task on it, nor follow it; its changes never reach her.
    await team.move(team.bob, secret, "Qualification")
    await team.win(team.bob, secret)
    assert (await team.inbox(team.zoe))["totalCount"] == 0

    # A deal she followed while public, then made private: what she had disappears from her
    # list and count, and what happens next never reaches her.
    deal = await team.create(name="Open deal")
    await team.follow(team.zoe, deal)
    await team.move(team.bob, deal, "Qualification")
    inbox = await team.inbox(team.zoe)
    assert (inbox["totalCount"], inbox["unread"]) == (1, 1)
    await team.update(team.bob, deal, visibility="PRIVATE")
    await team.move(team.bob, deal, "Proposal")
    inbox = await team.inbox(team.zoe)
    assert (inbox["totalCount"], inbox["unread"], inbox["nodes"]) == (0, 0, [])
    unread = await team.inbox(team.zoe, unreadOnly=True)
    assert unread["totalCount"] == 0


async def test_a_kind_turned_off_is_not_sent(api: Api, admin_token: str) -> None:
    team = await make_team(api, admin_token)
    preferences = (await api.ok(PREFERENCES, token=team.mia))["notificationPreferences"]
    assert {p["kind"] for p in preferences if p["enabled"]} == {
        "MENTIONED",
        "TASK_ASSIGNED",
        "DEAL_WON",
        "DEAL_LOST",
        "STAGE_CHANGED",
        "REASSIGNED",
        "COMMENTED",
    }
    payload = await api.mutate(
        "setNotificationPreference",
        SET_PREFERENCE,
        {"kind": "STAGE_CHANGED", "enabled": False},
        team.mia,
    )
    assert payload["preference"] == {"kind": "STAGE_CHANGED", "enabled": False}
    deal = await team.create()
    await team.follow(team.mia, deal)
    await team.move(team.bob, deal, "Qualification")
    await team.journal(team.bob, deal, "Still on")
    assert [k for k, _ in await inbox_of(team, team.mia)] == ["COMMENTED"]
    preferences = (await api.ok(PREFERENCES, token=team.mia))["notificationPreferences"]
    assert [p["kind"] for p in preferences if not p["enabled"]] == ["STAGE_CHANGED"]

    bad = await api.gql(SET_PREFERENCE, {"kind": "NOPE", "enabled": False}, team.mia)
    assert bad["errors"] and bad.get("data") is None


async def test_an_inactive_user_is_never_notified(api: Api, admin_token: str) -> None:
    team = await make_team(api, admin_token)
    deal = await team.create()
    await team.follow(team.carl, deal)
    set_active = """
    mutation($id: ID!, $active: Boolean!) {
      updateUser(input: {id: $id, isActive: $active}) { userErrors { code } }
    }"""
    await api.mutate("updateUser", set_active, {"id": team.carl_id, "active": False}, admin_token)
    await team.move(team.bob, deal, "Qualification")
    await api.mutate("updateUser", set_active, {"id": team.carl_id, "active": True}, admin_token)
    carl = await api.login("carl@example.com", "correct horse battery")
    await team.move(team.bob, deal, "Proposal")
    assert await inbox_of(team, carl) == [
        ("STAGE_CHANGED", "Bob Stone moved ACME rollout to Proposal")
    ]


async def test_someone_elses_notification_is_not_found_and_nothing_changes(
    api: Api, admin_token: str
) -> None:
    team = await make_team(api, admin_token)
    deal = await team.create()
    await team.follow(team.mia, deal)
    await team.move(team.bob, deal, "Qualification")
    (notification,) = (await team.inbox(team.mia))["nodes"]

    for token in (team.zoe, team.bob):
        body = await api.ok(MARK_READ, {"id": notification["id"]}, token)
        assert body["markNotificationRead"]["notification"] is None
        errors = body["markNotificationRead"]["userErrors"]
        assert [(e["code"], e["field"]) for e in errors] == [("NOT_FOUND", ["id"])]
    missing = base64.b64encode(b"Notification:999999").decode()
    body = await api.ok(MARK_READ, {"id": missing}, team.mia)
    assert [e["code"] for e in body["markNotificationRead"]["userErrors"]] == ["NOT_FOUND"]
    body = await api.ok(MARK_READ, {"id": deal["id"]}, team.mia)  # not a notification's ID
    assert body["markNotificationRead"]["notification"] is None
    assert body["markNotificationRead"]["userErrors"]
    inbox = await team.inbox(team.mia)
    assert (inbox["unread"], inbox["nodes"][0]["read"]) == (1, False)
    # By its ID, only to its owner.
    node = "query($id: ID!) { node(id: $id) { __typename ... on Notification { kind read } } }"
    mine = (await api.ok(node, {"id": notification["id"]}, team.mia))["node"]
    assert mine == {"__typename": "Notification", "kind": "STAGE_CHANGED", "read": False}
    assert (await api.ok(node, {"id": notification["id"]}, team.bob))["node"] is None

    payload = await api.mutate(
        "markNotificationRead", MARK_READ, {"id": notification["id"]}, team.mia
    )
    assert payload["notification"] == {"id": notification["id"], "read": True}
    assert payload["unreadCount"] == 0
    again = await api.mutate(
        "markNotificationRead", MARK_READ, {"id": notification["id"]}, team.mia
    )
    assert again["notification"]["read"] is True


async def next_event(subscriber: Subscriber) -> dict[str, Any]:
    event: dict[str, Any] = (await subscriber.next(timeout=10))["notificationEvents"]
    return event


async def test_notification_events_arrive_once_and_resume_from_a_cursor(
    api: Api, admin_token: str
) -> None:
    team = await make_team(api, admin_token)
    deal = await team.create(name="ACME rollout")
    await team.follow(team.mia, deal)
    async with api.subscriber(team.mia) as socket:
        await socket.subscribe(EVENTS)
        await until_subscribed(api, 1)
        await team.move(team.bob, deal, "Qualification")
        await team.journal(team.bob, deal, "Demo booked")
        first = await next_event(socket)
        second = await next_event(socket)
        await socket.expect_silence()
    assert (first["kind"], first["unreadCount"]) == ("NEW", 1)
    assert [n["summary"] for n in first["notifications"]] == [
        "Bob Stone moved ACME rollout to Qualification"
    ]
    assert (second["kind"], second["unreadCount"]) == ("NEW", 2)
    assert [n["kind"] for n in second["notifications"]] == ["COMMENTED"]
    assert int(second["cursor"]) > int(first["cursor"])

    # Disconnected: two changes, and one that is not for Mia at all.
    await team.move(team.bob, deal, "Proposal")
    other = await team.create(name="Not followed")
    await team.move(team.bob, other, "Qualification")
    await team.win(team.bob, deal)

    async with api.subscriber(team.mia) as socket:
        await socket.subscribe(EVENTS, {"since": second["cursor"]})
        third = await next_event(socket)
        fourth = await next_event(socket)
        await socket.expect_silence()
    assert [n["summary"] for n in third["notifications"]] == [
        "Bob Stone moved ACME rollout to Proposal"
    ]
    assert [n["kind"] for n in fourth["notifications"]] == ["DEAL_WON"]
    assert (third["unreadCount"], fourth["unreadCount"]) == (4, 4)  # the count as it is now
    assert int(second["cursor"]) < int(third["cursor"]) < int(fourth["cursor"])

    # Resuming from the first cursor gives the rest, once each and in order.
    async with api.subscriber(team.mia) as socket:
        await socket.subscribe(EVENTS, {"since": first["cursor"]})
        replayed = [await next_event(socket) for _ in range(3)]
        await socket.expect_silence()
    assert [e["cursor"] for e in replayed] == [second["cursor"], third["cursor"], fourth["cursor"]]

    # A cursor that is not one, or from the future, is refused before anything is sent.
    async with api.subscriber(team.mia) as socket:
        for since in ("abc", str(int(fourth["cursor"]) + 1000)):
            op_id = await socket.subscribe(EVENTS, {"since": since})
            message = await socket.receive(timeout=10)
            assert message["payload"]["data"] is None, message
            assert message["payload"]["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
            assert (await socket.receive(timeout=10)) == {"id": op_id, "type": "complete"}
    bad = await api.gql("query { unreadNotificationCount }")
    assert bad["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_marking_read_updates_the_count_live_on_other_devices(
    api: Api, admin_token: str
) -> None:
    team = await make_team(api, admin_token)
    deal = await team.create()
    await team.follow(team.mia, deal)
    await team.move(team.bob, deal, "Qualification")
    await team.move(team.bob, deal, "Proposal")
    newest, older = (await team.inbox(team.mia))["nodes"]
    async with api.subscriber(team.mia) as phone, api.subscriber(team.bob) as bobs:
        await phone.subscribe(EVENTS)
        await bobs.subscribe(EVENTS)
        await until_subscribed(api, 2)
        await api.mutate("markNotificationRead", MARK_READ, {"id": older["id"]}, team.mia)
        read = await next_event(phone)
        assert (read["kind"], read["unreadCount"]) == ("READ", 1)
        assert [(n["id"], n["read"]) for n in read["notifications"]] == [(older["id"], True)]
        payload = await api.mutate("markAllNotificationsRead", MARK_ALL_READ, {}, team.mia)
        assert (payload["markedCount"], payload["unreadCount"]) == (1, 0)
        everything = await next_event(phone)
        assert (everything["kind"], everything["unreadCount"]) == ("READ", 0)
        assert [n["id"] for n in everything["notifications"]] == [newest["id"]]
        # Nothing left to read: no event; and Bob heard nothing of Mia's inbox.
        payload = await api.mutate("markAllNotificationsRead", MARK_ALL_READ, {}, team.mia)
        assert payload["markedCount"] == 0
        await phone.expect_silence()
        await bobs.expect_silence()
    unread = await team.inbox(team.mia, unreadOnly=True)
    assert (unread["totalCount"], unread["unread"]) == (0, 0)


async def test_opportunity_events_never_carry_inbox_changes(api: Api, admin_token: str) -> None:
    team = await make_team(api, admin_token)
    names = {v["name"] for v in (await api.ok(ENUM, token=team.bob))["__type"]["enumValues"]}
    assert "INBOX" not in names and "STAGE_CHANGED" in names
    deal = await team.create()
    await team.follow(team.mia, deal)
    async with api.subscriber(team.mia) as all_kinds, api.subscriber(team.mia) as stage_moves:
        await all_kinds.subscribe(OPPORTUNITY_EVENTS)
        await stage_moves.subscribe(OPPORTUNITY_EVENTS, {"kinds": ["STAGE_CHANGED"]})
        await until_subscribed(api, 2)
        await team.move(team.bob, deal, "Qualification")  # and a notification for Mia
        await api.mutate("markAllNotificationsRead", MARK_ALL_READ, {}, team.mia)
        await team.journal(team.bob, deal, "Noted")
        kinds = [(await all_kinds.next())["opportunityEvents"]["kind"] for _ in range(2)]
        assert kinds == ["STAGE_CHANGED", "ACTIVITY_ADDED"]
        moved = (await stage_moves.next())["opportunityEvents"]
        assert moved["kind"] == "STAGE_CHANGED"
        await all_kinds.expect_silence()
        await stage_moves.expect_silence()


async def test_pythons_gql_client_receives_notification_events(api: Api, admin_token: str) -> None:
    team = await make_team(api, admin_token)
    deal = await team.create(name="Client deal")
    await team.follow(team.mia, deal)
    transport = WebsocketsTransport(url=api.ws_url, init_payload={"token": team.mia})
    received: list[dict[str, Any]] = []
    async with Client(transport=transport, fetch_schema_from_transport=False) as session:

        async def first() -> None:
            # Closed once done: gql waits for open subscriptions before closing the socket.
            async with aclosing(session.subscribe(GraphQLRequest(EVENTS))) as events:
                async for event in events:
                    received.append(event["notificationEvents"])
                    return

        listening = asyncio.create_task(first())
        await until_subscribed(api, 1)
        await team.move(team.bob, deal, "Qualification")
        await asyncio.wait_for(listening, 10)
    (event,) = received
    assert (event["kind"], event["unreadCount"]) == ("NEW", 1)
    assert event["notifications"][0]["summary"] == "Bob Stone moved Client deal to Qualification"
