"""Authentication (issue 2 point 3): login, bearer tokens over HTTP and WebSocket, passwords.

Every operation except `login` needs a valid token; a failed login never tells whether the
e-mail exists; a deactivated user is locked out at once, token or not.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app.settings import Settings, to_libpq_url
from tests.client import Api
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, RunningServer, create_admin, serve
from tests.processes import tandem_env, tandem_server

ME = "{ me { id email } }"
LOGIN = """
mutation($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) {
    token expiresAt user { email } userErrors { field code message }
  }
}
"""
CREATE_COMPANY = """
mutation($input: CreateCompanyInput!) {
  createCompany(input: $input) { company { id } userErrors { code message } }
}
"""
COMPANIES = "{ companies { totalCount } }"
SUBSCRIPTION = "subscription { opportunityEvents { kind } }"
CHANGE_PASSWORD = """
mutation($input: ChangePasswordInput!) {
  changePassword(input: $input) { user { email } userErrors { field code message } }
}
"""
DEACTIVATE = """
mutation($id: ID!) {
  updateUser(input: {id: $id, isActive: false}) { user { isActive } userErrors { code message } }
}
"""
CREATE_TOKEN = """
mutation($input: CreateAccessTokenInput!) {
  createAccessToken(input: $input) { token userErrors { field code message } }
}
"""
MEMBER_PASSWORD = "correct horse battery"  # what Api.create_user gives every user


async def login_payload(api: Api, email: str, password: str) -> dict[str, Any]:
    data = await api.ok(LOGIN, {"email": email, "password": password})
    payload: dict[str, Any] = data["login"]
    return payload


async def me_with_header(api: Api, authorization: str) -> dict[str, Any]:
    response = await api.http.post(
        "/graphql", json={"query": ME}, headers={"Authorization": authorization}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_unauthenticated(body: dict[str, Any]) -> None:
    assert body.get("data") is None or all(v is None for v in body["data"].values()), body
    codes = [error.get("extensions", {}).get("code") for error in body.get("errors") or []]
    assert codes and set(codes) == {"UNAUTHENTICATED"}, body


def _in_seconds(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def user_pk(global_id: str) -> int:
    return int(base64.b64decode(global_id).decode().split(":")[1])


async def ws_handshake(
    api: Api, protocol: str, payload: dict[str, Any]
) -> tuple[list[dict[str, Any]], int | None]:
    """(messages received, close code) after connection_init with `payload`."""
    messages: list[dict[str, Any]] = []
    async with connect(api.ws_url, subprotocols=[protocol]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        try:
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), 5))
                messages.append(message)
                if message["type"] == "connection_ack":
                    return messages, None
        except ConnectionClosed as closed:
            return messages, closed.rcvd.code if closed.rcvd else None


# --- login ----------------------------------------------------------------------------------


async def test_login_returns_a_token_that_authenticates(api: Api) -> None:
    payload = await login_payload(api, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert payload["userErrors"] == []
    assert payload["token"] and payload["expiresAt"]
    assert payload["user"] == {"email": ADMIN_EMAIL}
    data = await api.ok(ME, token=payload["token"])
    assert data["me"]["email"] == ADMIN_EMAIL


async def test_login_e_mail_is_case_insensitive(api: Api) -> None:
    payload = await login_payload(api, ADMIN_EMAIL.upper(), ADMIN_PASSWORD)
    assert payload["userErrors"] == [] and payload["token"]


async def test_wrong_password_and_unknown_e_mail_fail_the_same_way(api: Api) -> None:
    wrong_password = await login_payload(api, ADMIN_EMAIL, "not-the-password")
    unknown_email = await login_payload(api, "nobody@example.com", ADMIN_PASSWORD)
    for payload in (wrong_password, unknown_email):
        assert payload["token"] is None
        assert payload["user"] is None
        assert [e["code"] for e in payload["userErrors"]] == ["INVALID_CREDENTIALS"]
    assert wrong_password["userErrors"] == unknown_email["userErrors"]


async def test_login_with_a_nul_character_is_just_a_failed_login(api: Api) -> None:
    for email, password in ((f"{ADMIN_EMAIL}\x00", ADMIN_PASSWORD), (ADMIN_EMAIL, "pass\x00word")):
        payload = await login_payload(api, email, password)
        assert payload["token"] is None
        assert [e["code"] for e in payload["userErrors"]] == ["INVALID_CREDENTIALS"]


async def test_login_needs_no_token_even_when_a_bad_one_is_sent(api: Api) -> None:
    data = await api.ok(
        LOGIN, {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}, token="garbage.token.here"
    )
    assert data["login"]["token"]


# --- deactivated users ----------------------------------------------------------------------


async def test_deactivated_user_cannot_log_in_and_their_token_stops_working(
    api: Api, admin_token: str
) -> None:
    user_id, token = await api.create_user(admin_token, "leaver@example.com")
    assert (await api.ok(ME, token=token))["me"]["email"] == "leaver@example.com"

    payload = await api.mutate("updateUser", DEACTIVATE, {"id": user_id}, admin_token)
    assert payload["user"]["isActive"] is False

    assert_unauthenticated(await api.gql(ME, token=token))
    login = await login_payload(api, "leaver@example.com", MEMBER_PASSWORD)
    assert login["token"] is None
    assert [e["code"] for e in login["userErrors"]] == ["INVALID_CREDENTIALS"]


async def test_deactivated_users_token_cannot_open_a_websocket(api: Api, admin_token: str) -> None:
    user_id, token = await api.create_user(admin_token, "leaver@example.com")
    await api.mutate("updateUser", DEACTIVATE, {"id": user_id}, admin_token)
    messages, code = await ws_handshake(api, "graphql-transport-ws", {"token": token})
    assert code == 4403, (messages, code)


# --- everything but login needs a token ------------------------------------------------------


async def test_query_without_token_is_unauthenticated(api: Api) -> None:
    assert_unauthenticated(await api.gql(ME))
    assert_unauthenticated(await api.gql(COMPANIES))


async def test_mutation_without_token_is_unauthenticated_and_changes_nothing(
    api: Api, admin_token: str
) -> None:
    assert_unauthenticated(await api.gql(CREATE_COMPANY, {"input": {"name": "Sneaky Ltd"}}))
    assert (await api.ok(COMPANIES, token=admin_token))["companies"]["totalCount"] == 0


async def test_change_password_without_token_is_unauthenticated(api: Api) -> None:
    body = await api.gql(
        CHANGE_PASSWORD, {"input": {"currentPassword": "x", "newPassword": "y" * 12}}
    )
    assert_unauthenticated(body)


async def test_websocket_without_token_is_closed_4403_graphql_transport_ws(api: Api) -> None:
    messages, code = await ws_handshake(api, "graphql-transport-ws", {})
    assert code == 4403, (messages, code)
    assert all(m["type"] != "connection_ack" for m in messages)


async def test_websocket_with_bad_token_is_closed_4403_graphql_transport_ws(api: Api) -> None:
    messages, code = await ws_handshake(api, "graphql-transport-ws", {"token": "1.2.3"})
    assert code == 4403, (messages, code)


async def test_subscribe_before_connection_init_is_refused_graphql_transport_ws(
    api: Api,
) -> None:
    async with connect(api.ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}})
        )
        try:
            message = await asyncio.wait_for(ws.recv(), 5)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 4401
        else:
            raise AssertionError(f"expected the socket to close, got {message!r}")


async def test_websocket_without_token_is_rejected_legacy_graphql_ws(api: Api) -> None:
    # The legacy protocol reports a rejected connection_init with connection_error and then
    # closes (subscriptions-transport-ws uses 1011 for that); it must never acknowledge.
    messages, code = await ws_handshake(api, "graphql-ws", {})
    assert [m["type"] for m in messages] == ["connection_error"], messages
    assert messages[0]["payload"]["code"] == "UNAUTHENTICATED"
    assert code is not None and code != 1000


async def test_websocket_with_bad_token_is_rejected_legacy_graphql_ws(api: Api) -> None:
    messages, code = await ws_handshake(api, "graphql-ws", {"token": "not-a-token"})
    assert [m["type"] for m in messages] == ["connection_error"], messages
    assert code is not None and code != 1000


async def test_start_without_connection_init_is_refused_legacy_graphql_ws(api: Api) -> None:
    async with connect(api.ws_url, subprotocols=["graphql-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"id": "1", "type": "start", "payload": {"query": SUBSCRIPTION}}))
        try:
            message = await asyncio.wait_for(ws.recv(), 5)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 4401
        else:
            raise AssertionError(f"expected the socket to close, got {message!r}")


async def test_websocket_accepts_the_token_as_an_authorization_parameter(
    api: Api, admin_token: str
) -> None:
    for protocol in ("graphql-transport-ws", "graphql-ws"):
        messages, code = await ws_handshake(
            api, protocol, {"Authorization": f"Bearer {admin_token}"}
        )
        assert code is None and messages[-1]["type"] == "connection_ack", (protocol, messages)


# --- tampered, expired and oddly sent tokens -------------------------------------------------


async def test_tampered_tokens_are_rejected(api: Api, admin_token: str) -> None:
    prefix, kind, token_id, secret = admin_token.split("_", 3)
    assert (prefix, kind) == ("tdm", "s"), admin_token  # a login's session token
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    for token in (
        f"{prefix}_{kind}_{token_id}_{flipped}",  # the secret changed
        f"{prefix}_{kind}_{int(token_id) + 1}_{secret}",  # another token's id
        f"{prefix}_p_{token_id}_{secret}",  # presented as a personal token
        f"{prefix}_{kind}_{token_id}_",  # the secret dropped
        f"{prefix}_{kind}_{token_id}",
        f"{admin_token}x",
        f"{prefix}_{kind}_-{token_id}_{secret}",
        f"{prefix}_{kind}_{'9' * 30}_{secret}",  # an id beyond any integer column
        "1.4102444800.0000000000000000.c2lnbmF0dXJl",  # the format of tokens before revocation
        "",
        "x" * 500,
    ):
        body = await api.gql(ME, token=token or None)
        assert_unauthenticated(body)


async def test_expired_token_is_rejected_and_its_socket_closed(
    server: RunningServer, api: Api
) -> None:
    expiring = await api.ok(
        CREATE_TOKEN,
        {"input": {"name": "short-lived", "expiresAt": _in_seconds(2)}},
        token=server.admin_token,
    )
    token = expiring["createAccessToken"]["token"]
    assert (await api.ok(ME, token=token))["me"]["email"] == ADMIN_EMAIL
    async with connect(api.ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
        # Closed within a refresh of rights (5 s) once the token has expired.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ws.wait_closed(), 10)
        assert ws.close_code == 4403, ws.close_code
    assert_unauthenticated(await api.gql(ME, token=token))
    messages, code = await ws_handshake(api, "graphql-transport-ws", {"token": token})
    assert code == 4403, (messages, code)


async def test_authorization_scheme_is_case_insensitive(api: Api, admin_token: str) -> None:
    for header in (f"bearer {admin_token}", f"BEARER {admin_token}", f"Bearer   {admin_token}"):
        body = await me_with_header(api, header)
        assert body.get("errors") is None, (header, body)
        assert body["data"]["me"]["email"] == ADMIN_EMAIL


async def test_other_authorization_schemes_are_unauthenticated(api: Api, admin_token: str) -> None:
    for header in (f"Token {admin_token}", f"Basic {admin_token}", admin_token, "Bearer"):
        assert_unauthenticated(await me_with_header(api, header))


# --- changing the password -------------------------------------------------------------------


async def test_change_password_with_wrong_current_password_is_refused(
    api: Api, admin_token: str
) -> None:
    _, token = await api.create_user(admin_token, "mia@example.com")
    data = await api.ok(
        CHANGE_PASSWORD,
        {"input": {"currentPassword": "wrong password", "newPassword": "a brand new secret"}},
        token,
    )
    errors = data["changePassword"]["userErrors"]
    assert [(e["code"], e["field"]) for e in errors] == [
        ("INVALID_CREDENTIALS", ["currentPassword"])
    ]
    assert (await login_payload(api, "mia@example.com", MEMBER_PASSWORD))["token"]
    assert (await login_payload(api, "mia@example.com", "a brand new secret"))["token"] is None


async def test_change_password_to_a_short_one_is_refused(api: Api, admin_token: str) -> None:
    _, token = await api.create_user(admin_token, "mia@example.com")
    data = await api.ok(
        CHANGE_PASSWORD,
        {"input": {"currentPassword": MEMBER_PASSWORD, "newPassword": "short"}},
        token,
    )
    assert [e["code"] for e in data["changePassword"]["userErrors"]] == ["INVALID"]
    assert (await login_payload(api, "mia@example.com", MEMBER_PASSWORD))["token"]


async def test_changed_password_works_and_the_old_one_does_not(api: Api, admin_token: str) -> None:
    _, token = await api.create_user(admin_token, "mia@example.com")
    payload = await api.mutate(
        "changePassword",
        CHANGE_PASSWORD,
        {"input": {"currentPassword": MEMBER_PASSWORD, "newPassword": "a brand new secret"}},
        token,
    )
    assert payload["user"]["email"] == "mia@example.com"
    new = await login_payload(api, "mia@example.com", "a brand new secret")
    assert new["userErrors"] == [] and new["token"]
    old = await login_payload(api, "mia@example.com", MEMBER_PASSWORD)
    assert old["token"] is None
    assert [e["code"] for e in old["userErrors"]] == ["INVALID_CREDENTIALS"]


async def test_tokens_issued_before_a_password_change_stop_working(
    api: Api, admin_token: str
) -> None:
    _, stolen = await api.create_user(admin_token, "mia@example.com")
    await api.mutate(
        "changePassword",
        CHANGE_PASSWORD,
        {"input": {"currentPassword": MEMBER_PASSWORD, "newPassword": "a brand new secret"}},
        stolen,
    )
    assert_unauthenticated(await api.gql(ME, token=stolen))
    fresh = (await login_payload(api, "mia@example.com", "a brand new secret"))["token"]
    assert (await api.ok(ME, token=fresh))["me"]["email"] == "mia@example.com"


# --- the users tokens name, remembered for a moment (TANDEM_AUTH_CACHE_SECONDS) -------------

PROMOTE = """
mutation($id: ID!) {
  updateUser(input: {id: $id, role: ADMIN}) { user { role } userErrors { code message } }
}
"""
ADMIN_ONLY = "{ persistedQueries { hash } }"


async def test_a_change_of_rights_applies_to_the_very_next_request(
    api: Api, admin_token: str
) -> None:
    user_id, token = await api.create_user(admin_token, "rising@example.com")
    refused = await api.gql(ADMIN_ONLY, token=token)
    assert [e["extensions"]["code"] for e in refused["errors"]] == ["FORBIDDEN"]

    await api.mutate("updateUser", PROMOTE, {"id": user_id}, admin_token)
    assert await api.ok(ADMIN_ONLY, token=token) == {"persistedQueries": []}


async def test_a_deactivation_through_another_server_applies_within_the_cache_time(
    settings: Settings, database_url: str
) -> None:
    # Two servers on one database share a broker (app/events/neighbours.py).
    broker = to_libpq_url(database_url)
    env = tandem_env(
        settings, database_url, TANDEM_AUTH_CACHE_SECONDS="1", TANDEM_BROADCAST_URL=broker
    )
    await create_admin(database_url)
    async with (
        serve(replace(settings, broadcast_url=broker), database_url) as (api, _),
        tandem_server(env) as other,
    ):
        admin_token = await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        user_id, token = await api.create_user(admin_token, "leaver@example.com")
        assert (await other.ok(ME, token=token))["me"]["email"] == "leaver@example.com"
        await api.mutate("updateUser", DEACTIVATE, {"id": user_id}, admin_token)
        assert_unauthenticated(await api.gql(ME, token=token))

        # The other process may still know the user from its last read, for at most a second.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 1 + 2  # the cache time, and slack for a loaded machine
        while "errors" not in (body := await other.gql(ME, token=token)):
            assert loop.time() < deadline, "the other server still accepts the token"
            await asyncio.sleep(0.05)
        assert_unauthenticated(body)


async def test_a_logout_through_one_server_closes_the_tokens_socket_on_another(
    settings: Settings, database_url: str
) -> None:
    broker = to_libpq_url(database_url)
    env = tandem_env(settings, database_url, TANDEM_BROADCAST_URL=broker)
    await create_admin(database_url)
    async with (
        serve(replace(settings, broadcast_url=broker), database_url) as (api, _),
        tandem_server(env) as other,
    ):
        token = await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        kept = await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        subprotocols: Any = ["graphql-transport-ws"]
        async with (
            connect(other.ws_url, subprotocols=subprotocols) as ws,
            connect(other.ws_url, subprotocols=subprotocols) as other_ws,
        ):
            for socket, credential in ((ws, token), (other_ws, kept)):
                init = {"type": "connection_init", "payload": {"token": credential}}
                await socket.send(json.dumps(init))
                assert json.loads(await asyncio.wait_for(socket.recv(), 5))["type"] == (
                    "connection_ack"
                )
            await api.ok("mutation { logout { loggedOut } }", token=token)
            # The other server checks its sockets' tokens every 5 seconds.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ws.wait_closed(), 5 + 3)
            assert ws.close_code == 4403, ws.close_code
            assert other_ws.close_code is None
