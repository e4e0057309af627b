"""A user created with a one-time password (`mustChangePassword`) can do nothing but change it:
every other operation is refused (`PASSWORD_CHANGE_REQUIRED`), over HTTP and WebSocket, and so
is a document's download; once changed, and logged in again, the user works as any other."""

from __future__ import annotations

import json
from typing import Any

from tests.client import Api
from tests.conftest import RunningServer
from tests.test_websocket_protocols import frame, opened

CREATE_USER = """mutation($i: CreateUserInput!) {
  createUser(input: $i) { user { id } userErrors { code } } }"""
LOGIN = """mutation($e: String!, $p: String!) {
  login(input: {email: $e, password: $p}) { token mustChangePassword userErrors { code } } }"""
CHANGE = """mutation($i: ChangePasswordInput!) {
  changePassword(input: $i) { user { email } userErrors { code } } }"""
DEALS = "{ opportunities { totalCount } }"
EVENTS = "subscription { opportunityEvents { kind } }"
EMAIL = "newcomer@example.com"


def refused(body: dict[str, Any]) -> None:
    assert body.get("data") is None, body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["PASSWORD_CHANGE_REQUIRED"]


async def log_in(api: Api, password: str) -> dict[str, Any]:
    data = await api.ok(LOGIN, {"e": EMAIL, "p": password})
    assert data["login"]["userErrors"] == [], data
    login: dict[str, Any] = data["login"]
    return login


async def test_a_one_time_password_must_be_changed_before_anything_else(
    server: RunningServer,
) -> None:
    api, admin = server.api, server.admin_token
    user = {"email": EMAIL, "name": "Newcomer", "password": "one-time-pass-1"}
    made = await api.mutate(
        "createUser", CREATE_USER, {"i": {**user, "mustChangePassword": True}}, admin
    )
    assert made["userErrors"] == []
    first = await log_in(api, "one-time-pass-1")
    assert first["mustChangePassword"] is True
    token = first["token"]

    # Nothing but `me` and changing the password, however the request is put.
    refused(await api.gql(DEALS, token=token))
    refused(await api.gql("{ me { email } opportunities { totalCount } }", token=token))
    refused(await api.gql("query { ...Q } fragment Q on Query { users { id } }", token=token))
    refused(
        await api.gql(
            'mutation { createCompany(input: {name: "X"}) { company { id } } }', token=token
        )
    )
    assert (await api.ok("{ me { email } }", token=token))["me"] == {"email": EMAIL}
    ws = await opened(api, "graphql-transport-ws", token)
    try:
        await ws.send(json.dumps({"id": "s", "type": "subscribe", "payload": {"query": EVENTS}}))
        error = await frame(ws)
        assert (error["type"], error["id"]) == ("error", "s")
        assert error["payload"][0]["extensions"]["code"] == "PASSWORD_CHANGE_REQUIRED"
    finally:
        await ws.close()
    download = await api.http.get("/documents/1", headers={"Authorization": f"Bearer {token}"})
    assert download.status_code == 403
    companies = await api.ok("{ companies { totalCount } }", token=admin)
    assert companies["companies"]["totalCount"] == 0  # the refused mutation made nothing

    # Changed: the old token is over, and a new login works as any user's.
    changed = await api.mutate(
        "changePassword",
        CHANGE,
        {"i": {"currentPassword": "one-time-pass-1", "newPassword": "my-own-password-2"}},
        token,
    )
    assert changed["userErrors"] == []
    again = await log_in(api, "my-own-password-2")
    assert again["mustChangePassword"] is False
    assert (await api.ok(DEALS, token=again["token"]))["opportunities"]["totalCount"] == 0
