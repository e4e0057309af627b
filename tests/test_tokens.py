"""Tokens that can be revoked (issue 14 point 2): logout, a password change and a
deactivation end tokens and close their sockets with 4403; personal tokens for integrations
are shown once, stored hashed, read-only or read-write, revocable, with their last use.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from websockets.asyncio.client import ClientConnection, connect

from app.settings import to_libpq_url
from tests.client import Api
from tests.conftest import ADMIN_EMAIL

ME = "{ me { email } }"
LOGOUT = "mutation { logout { loggedOut userErrors { code message } } }"
CREATE_TOKEN = """
mutation($input: CreateAccessTokenInput!) {
  createAccessToken(input: $input) {
    token
    accessToken { id kind name access expiresAt lastUsedAt revokedAt current }
    userErrors { field code message }
  }
}
"""
REVOKE = """
mutation($id: ID!) {
  revokeAccessToken(input: {id: $id}) {
    accessToken { id revokedAt }
    userErrors { field code message }
  }
}
"""
TOKENS = """
query($kind: AccessTokenKind, $includeRevoked: Boolean! = false, $userId: ID) {
  accessTokens(kind: $kind, includeRevoked: $includeRevoked, userId: $userId) {
    id kind name access createdAt expiresAt lastUsedAt revokedAt current
  }
}
"""
CHANGE_PASSWORD = """
mutation($input: ChangePasswordInput!) {
  changePassword(input: $input) { token user { email } userErrors { field code message } }
}
"""
SET_ACTIVE = """
mutation($id: ID!, $active: Boolean!) {
  updateUser(input: {id: $id, isActive: $active}) { user { isActive } userErrors { code } }
}
"""
CREATE_COMPANY = """
mutation($name: String!) {
  createCompany(input: {name: $name}) { company { id } userErrors { code message } }
}
"""
COMPANIES = "{ companies { totalCount } }"
EVENTS = "subscription { opportunityEvents { kind } }"
PASSWORD = "correct horse battery"  # what Api.create_user gives every user


def codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors") or []]


async def unauthenticated(api: Api, token: str) -> bool:
    return codes(await api.gql(ME, token=token)) == ["UNAUTHENTICATED"]


@contextlib.asynccontextmanager
async def socket(api: Api, token: str) -> AsyncIterator[ClientConnection]:
    """A graphql-transport-ws connection acknowledged for `token`, with a subscription."""
    async with connect(api.ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
        subscribe = {"id": "1", "type": "subscribe", "payload": {"query": EVENTS}}
        await ws.send(json.dumps(subscribe))
        yield ws


async def closed_with(ws: ClientConnection, timeout: float = 10.0) -> int | None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(ws.wait_closed(), timeout)
    return ws.close_code


async def personal_token(api: Api, token: str, **fields: Any) -> tuple[str, dict[str, Any]]:
    """(text, AccessToken) of a new personal token."""
    payload = await api.mutate(
        "createAccessToken", CREATE_TOKEN, {"input": {"name": "integration", **fields}}, token
    )
    return payload["token"], payload["accessToken"]


# --- logout ----------------------------------------------------------------------------------


async def test_logout_ends_the_token_and_its_sockets_but_not_other_sessions(
    api: Api, admin_token: str
) -> None:
    await api.create_user(admin_token, "mia@example.com")
    leaving = await api.login("mia@example.com", PASSWORD)
    staying = await api.login("mia@example.com", PASSWORD)
    async with socket(api, leaving) as doomed, socket(api, staying) as kept:
        answer = await api.ok(LOGOUT, token=leaving)
        assert answer == {"logout": {"loggedOut": True, "userErrors": []}}
        # The server that logged the token out closes its sockets before answering.
        assert await closed_with(doomed, 5) == 4403
        assert kept.close_code is None
    assert await unauthenticated(api, leaving)
    assert (await api.ok(ME, token=staying))["me"]["email"] == "mia@example.com"
    # A token logged out once is no token: a second logout is unauthenticated.
    assert codes(await api.gql(LOGOUT, token=leaving)) == ["UNAUTHENTICATED"]


async def test_sessions_are_listed_with_the_current_one_marked(api: Api, admin_token: str) -> None:
    other = await api.login(ADMIN_EMAIL, "admin-password-1")
    listed = (await api.ok(TOKENS, {"kind": "SESSION"}, admin_token))["accessTokens"]
    assert len(listed) == 2 and {t["kind"] for t in listed} == {"SESSION"}
    assert [t["current"] for t in listed] == [False, True]  # newest first
    assert all(t["expiresAt"] and t["revokedAt"] is None and t["name"] is None for t in listed)
    await api.ok(LOGOUT, token=other)
    assert len((await api.ok(TOKENS, token=admin_token))["accessTokens"]) == 1
    with_ended = await api.ok(TOKENS, {"includeRevoked": True}, admin_token)
    assert [t["revokedAt"] is not None for t in with_ended["accessTokens"]] == [True, False]


# --- a password change and a deactivation end every token -----------------------------------


async def test_a_password_change_ends_every_token_and_gives_this_client_a_new_one(
    api: Api, admin_token: str
) -> None:
    _, session = await api.create_user(admin_token, "mia@example.com")
    other_session = await api.login("mia@example.com", PASSWORD)
    integration, _ = await personal_token(api, session)
    async with socket(api, other_session) as ws:
        changed = await api.mutate(
            "changePassword",
            CHANGE_PASSWORD,
            {"input": {"currentPassword": PASSWORD, "newPassword": "a brand new secret"}},
            session,
        )
        assert await closed_with(ws, 5) == 4403
    for ended in (session, other_session, integration):
        assert await unauthenticated(api, ended)
    assert (await api.ok(ME, token=changed["token"]))["me"]["email"] == "mia@example.com"


async def test_a_deactivation_ends_every_token_for_good(api: Api, admin_token: str) -> None:
    user_id, session = await api.create_user(admin_token, "mia@example.com")
    integration, _ = await personal_token(api, session)
    async with socket(api, integration) as ws:
        await api.mutate("updateUser", SET_ACTIVE, {"id": user_id, "active": False}, admin_token)
        assert await closed_with(ws, 5) == 4403
    await api.mutate("updateUser", SET_ACTIVE, {"id": user_id, "active": True}, admin_token)
    # Reactivated, the user logs in again; what they held before stays ended.
    assert await unauthenticated(api, session)
    assert await unauthenticated(api, integration)
    fresh = await api.login("mia@example.com", PASSWORD)
    assert (await api.ok(ME, token=fresh))["me"]["email"] == "mia@example.com"


# --- personal tokens -------------------------------------------------------------------------


async def test_a_personal_token_is_shown_once_and_stored_hashed(
    database_url: str, api: Api, admin_token: str
) -> None:
    text, made = await personal_token(api, admin_token, name="nightly export")
    assert text.startswith("tdm_p_")
    assert made["kind"] == "PERSONAL" and made["name"] == "nightly export"
    assert made["access"] == "READ_WRITE" and made["expiresAt"] is None
    assert made["lastUsedAt"] is None and made["current"] is False
    listed = await api.gql(TOKENS, {"kind": "PERSONAL"}, admin_token)
    [shown] = listed["data"]["accessTokens"]
    assert {k: v for k, v in shown.items() if k != "createdAt"} == made
    assert text not in json.dumps(listed)
    # Not in the database either: no column of the row holds the secret.
    connection = await asyncpg.connect(to_libpq_url(database_url))
    try:
        rows = await connection.fetch("SELECT * FROM access_tokens")
    finally:
        await connection.close()
    secret = text.split("_", 3)[3]
    assert rows and all(secret not in str(dict(row)) for row in rows)


async def test_a_personal_token_acts_as_its_user_and_records_its_last_use(
    api: Api, admin_token: str
) -> None:
    text, made = await personal_token(api, admin_token)
    assert (await api.ok(ME, token=text))["me"]["email"] == ADMIN_EMAIL
    await api.mutate("createCompany", CREATE_COMPANY, {"name": "Made by a token"}, text)
    listed = (await api.ok(TOKENS, {"kind": "PERSONAL"}, text))["accessTokens"]
    assert listed[0]["id"] == made["id"] and listed[0]["current"] is True
    assert listed[0]["lastUsedAt"] is not None


async def test_only_a_person_makes_personal_tokens_and_a_token_logs_itself_out(
    api: Api, admin_token: str
) -> None:
    """A token's reach never grows: a personal token cannot make another (which might be
    read-write, or live longer); it may end itself."""
    for access in ("READ_WRITE", "READ_ONLY"):
        text, _ = await personal_token(api, admin_token, access=access)
        made = await api.gql(CREATE_TOKEN, {"input": {"name": "wider"}}, token=text)
        assert codes(made) == ["FORBIDDEN"], made
        assert await api.ok(LOGOUT, token=text) == {"logout": {"loggedOut": True, "userErrors": []}}
        assert await unauthenticated(api, text)


async def test_a_read_only_token_reads_and_subscribes_but_changes_nothing(
    api: Api, admin_token: str
) -> None:
    text, made = await personal_token(api, admin_token, access="READ_ONLY")
    assert made["access"] == "READ_ONLY"
    before = await api.ok(COMPANIES, token=admin_token)
    refused = await api.gql(CREATE_COMPANY, {"name": "Not made"}, token=text)
    assert codes(refused) == ["FORBIDDEN"] and refused.get("data") is None, refused
    assert "read-only" in refused["errors"][0]["message"]
    assert await api.ok(COMPANIES, token=admin_token) == before
    async with socket(api, text) as ws:
        await api.mutate("createOpportunity", *_opportunity(), admin_token)
        event = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert event["type"] == "next" and event["payload"]["data"]["opportunityEvents"]
    assert (await api.ok(ME, token=text))["me"]["email"] == ADMIN_EMAIL


def _opportunity() -> tuple[str, dict[str, Any]]:
    return (
        """
        mutation($input: CreateOpportunityInput!) {
          createOpportunity(input: $input) { opportunity { id } userErrors { code message } }
        }
        """,
        {"input": {"name": "Watched deal", "expectedValue": {"amount": "10", "currency": "EUR"}}},
    )


async def test_a_revoked_personal_token_stops_at_once_and_its_socket_closes(
    api: Api, admin_token: str
) -> None:
    text, made = await personal_token(api, admin_token)
    async with socket(api, text) as ws:
        revoked = await api.mutate("revokeAccessToken", REVOKE, {"id": made["id"]}, admin_token)
        assert revoked["accessToken"]["revokedAt"] is not None
        assert await closed_with(ws, 5) == 4403
    assert await unauthenticated(api, text)
    # Revoking it again changes nothing and is no error.
    again = await api.mutate("revokeAccessToken", REVOKE, {"id": made["id"]}, admin_token)
    assert again["accessToken"]["revokedAt"] == revoked["accessToken"]["revokedAt"]


async def test_members_reach_only_their_own_tokens(api: Api, admin_token: str) -> None:
    mia_id, mia = await api.create_user(admin_token, "mia@example.com")
    _, leo = await api.create_user(admin_token, "leo@example.com")
    _, made = await personal_token(api, mia)
    # Leo can neither see nor revoke Mia's token: it answers as a missing one.
    refused = await api.ok(REVOKE, {"id": made["id"]}, leo)
    assert [e["code"] for e in refused["revokeAccessToken"]["userErrors"]] == ["NOT_FOUND"]
    missing = await api.ok(REVOKE, {"id": _another_id(made["id"])}, leo)
    assert refused == missing
    listed = await api.gql(TOKENS, {"userId": mia_id}, token=leo)
    assert codes(listed) == ["FORBIDDEN"]
    # An admin sees and revokes anyone's.
    mias = await api.ok(TOKENS, {"userId": mia_id, "kind": "PERSONAL"}, admin_token)
    assert [t["id"] for t in mias["accessTokens"]] == [made["id"]]
    await api.mutate("revokeAccessToken", REVOKE, {"id": made["id"]}, admin_token)


def _another_id(global_id: str) -> str:
    kind, pk = base64.b64decode(global_id).decode().split(":")
    return base64.b64encode(f"{kind}:{int(pk) + 1000}".encode()).decode()


async def test_bad_token_input_is_refused_with_nothing_made(api: Api, admin_token: str) -> None:
    for fields, field in (
        ({"name": "  "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "late", "expiresAt": "2020-01-01T00:00:00Z"}, "expiresAt"),
    ):
        answer = await api.ok(CREATE_TOKEN, {"input": fields}, admin_token)
        payload = answer["createAccessToken"]
        assert payload["token"] is None and payload["accessToken"] is None, payload
        assert [e["field"] for e in payload["userErrors"]] == [[field]], payload
    wrong_kind = await api.gql(REVOKE, {"id": "VXNlcjox"}, token=admin_token)  # a User's ID
    assert wrong_kind["data"]["revokeAccessToken"]["userErrors"][0]["code"] == "INVALID_ID"
    assert (await api.ok(TOKENS, {"kind": "PERSONAL"}, admin_token))["accessTokens"] == []


# --- tokens limited to folders ---------------------------------------------------------------

CREATE_FOLDER = """
mutation($name: String!, $parentId: ID) {
  createFolder(input: {name: $name, parentId: $parentId}) {
    folder { id } userErrors { code message }
  }
}
"""
CREATE_DEAL = """
mutation($input: CreateOpportunityInput!) {
  createOpportunity(input: $input) {
    opportunity { id version } userErrors { field code message }
  }
}
"""
MOVE_DEAL = """
mutation($id: ID!, $version: Int!, $folderId: ID) {
  moveOpportunity(input: {id: $id, expectedVersion: $version, folderId: $folderId}) {
    opportunity { id } userErrors { field code message }
  }
}
"""
RENAME_DEAL = """
mutation($id: ID!, $version: Int!, $name: String!) {
  updateOpportunity(input: {id: $id, expectedVersion: $version, name: $name}) {
    opportunity { id version } userErrors { field code message }
  }
}
"""
PIPELINE = """
{
  opportunities(first: 100) { totalCount nodes { name } }
  opportunityGroups(groupBy: STATUS) { key count totals { value { amount currency } } }
}
"""
ONE_DEAL = """
query($id: ID!) {
  opportunity(id: $id) { name }
  node(id: $id) { id }
}
"""
CREATE_ORDER = """
mutation($input: CreateOrderInput!) {
  createOrder(input: $input) { order { id } userErrors { field code message } }
}
"""


async def _folder(api: Api, token: str, name: str, parent: str | None = None) -> str:
    made = await api.mutate(
        "createFolder", CREATE_FOLDER, {"name": name, "parentId": parent}, token
    )
    folder_id: str = made["folder"]["id"]
    return folder_id


async def _deal(api: Api, token: str, name: str, folder: str | None) -> dict[str, Any]:
    money = {"amount": "100", "currency": "EUR"}
    made = await api.mutate(
        "createOpportunity",
        CREATE_DEAL,
        {"input": {"name": name, "expectedValue": money, "folderId": folder}},
        token,
    )
    deal: dict[str, Any] = made["opportunity"]
    return deal


async def test_a_token_limited_to_folders_reaches_only_their_deals(
    api: Api, admin_token: str
) -> None:
    north = await _folder(api, admin_token, "North")
    north_east = await _folder(api, admin_token, "North East", north)
    south = await _folder(api, admin_token, "South")
    inside = await _deal(api, admin_token, "Inside", north_east)
    outside = await _deal(api, admin_token, "Outside", south)
    await _deal(api, admin_token, "Unfiled", None)
    text, _ = await personal_token(api, admin_token, folderIds=[north])
    listed = await api.ok(
        "{ accessTokens(kind: PERSONAL) { folders { name } } }", token=admin_token
    )
    assert listed["accessTokens"] == [{"folders": [{"name": "North"}]}]

    seen = await api.ok(PIPELINE, token=text)
    assert seen["opportunities"] == {"totalCount": 1, "nodes": [{"name": "Inside"}]}
    assert seen["opportunityGroups"] == [
        {"key": "OPEN", "count": 1, "totals": [{"value": {"amount": "100.00", "currency": "EUR"}}]}
    ]
    # A deal beyond its folders answers exactly as a missing one.
    hidden = await api.gql(ONE_DEAL, {"id": outside["id"]}, token=text)
    missing = await api.gql(ONE_DEAL, {"id": _another_id(outside["id"])}, token=text)
    assert hidden == missing and hidden["data"] == {"opportunity": None, "node": None}
    assert (await api.ok(ONE_DEAL, {"id": inside["id"]}, text))["opportunity"]["name"] == "Inside"

    # It writes only within its folders, and cannot move a deal out of them.
    refused = await api.ok(
        CREATE_DEAL,
        {
            "input": {
                "name": "Elsewhere",
                "expectedValue": {"amount": "1", "currency": "EUR"},
                "folderId": south,
            }
        },
        text,
    )
    assert _errors(refused["createOpportunity"]) == [("FORBIDDEN", ["folderId"])]
    moved = await api.ok(
        MOVE_DEAL, {"id": inside["id"], "version": inside["version"], "folderId": south}, text
    )
    assert _errors(moved["moveOpportunity"]) == [("FORBIDDEN", ["folderId"])]
    renamed = await api.ok(
        RENAME_DEAL, {"id": outside["id"], "version": outside["version"], "name": "x"}, text
    )
    assert [e["code"] for e in renamed["updateOpportunity"]["userErrors"]] == ["NOT_FOUND"]
    order = await api.ok(CREATE_ORDER, {"input": {"currency": "EUR"}}, text)
    assert _errors(order["createOrder"]) == [("FORBIDDEN", ["opportunityId"])]
    await _deal(api, text, "Made inside", north_east)
    seen = await api.ok(PIPELINE, token=admin_token)
    assert seen["opportunities"]["totalCount"] == 4


def _errors(payload: dict[str, Any]) -> list[tuple[str, list[str]]]:
    return [(e["code"], e["field"]) for e in payload["userErrors"]]


async def test_a_token_limited_to_folders_hears_only_their_deals(
    api: Api, admin_token: str
) -> None:
    north = await _folder(api, admin_token, "North")
    south = await _folder(api, admin_token, "South")
    text, _ = await personal_token(api, admin_token, folderIds=[north], access="READ_ONLY")
    async with socket(api, text) as limited, socket(api, admin_token) as everything:
        await _deal(api, admin_token, "Outside", south)
        await _deal(api, admin_token, "Inside", north)
        for ws, expected in ((everything, 2), (limited, 1)):
            kinds = []
            for _ in range(expected):
                message = json.loads(await asyncio.wait_for(ws.recv(), 5))
                kinds.append(message["payload"]["data"]["opportunityEvents"]["kind"])
            assert kinds == ["CREATED"] * expected
        # Nothing more reaches the limited socket: the first event it got was Inside's.
        with contextlib.suppress(TimeoutError):
            extra = await asyncio.wait_for(limited.recv(), 0.5)
            raise AssertionError(f"an event beyond the token's folders arrived: {extra!r}")


async def test_bad_folder_limits_are_refused(api: Api, admin_token: str) -> None:
    north = await _folder(api, admin_token, "North")
    for folders, code in (([], "OUT_OF_RANGE"), ([_another_id(north)], "NOT_FOUND")):
        answer = await api.ok(
            CREATE_TOKEN, {"input": {"name": "limited", "folderIds": folders}}, admin_token
        )
        payload = answer["createAccessToken"]
        assert payload["token"] is None, payload
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [(code, ["folderIds"])]


AUDIT = """
{
  auditLog(filter: {subjectType: "AccessToken"}) {
    nodes { action actor { email } subjectId before after }
  }
}
"""


async def test_personal_tokens_made_and_revoked_are_audited_without_secrets(
    api: Api, admin_token: str
) -> None:
    north = await _folder(api, admin_token, "North")
    text, made = await personal_token(
        api, admin_token, name="Export", access="READ_ONLY", folderIds=[north]
    )
    await api.mutate("revokeAccessToken", REVOKE, {"id": made["id"]}, admin_token)
    await api.ok(LOGOUT, token=await api.login(ADMIN_EMAIL, "admin-password-1"))  # a session
    log = (await api.ok(AUDIT, token=admin_token))["auditLog"]["nodes"]
    assert [entry["action"] for entry in log] == ["token.revoke", "token.create"]
    revoked, created = log
    assert created["subjectId"] == revoked["subjectId"] == made["id"]
    assert created["actor"] == {"email": ADMIN_EMAIL} and created["before"] is None
    assert created["after"] == {
        "userId": created["after"]["userId"],
        "kind": "PERSONAL",
        "name": "Export",
        "access": "READ_ONLY",
        "expiresAt": None,
        "folderIds": [north],
    }
    assert revoked["after"]["revokedAt"] and revoked["before"]["revokedAt"] is None
    assert text.split("_", 3)[3] not in json.dumps(log)
