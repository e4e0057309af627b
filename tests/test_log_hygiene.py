"""The server's log never holds a password, a token, a document or what a client sent in its
variables, whatever reaches it: a wrong password, a bad token, a token or variables in a URL,
an upload, a WebSocket's messages, and a failure in the middle of a mutation (logged, with its
traceback, under its request id). A real `tandem serve` at its most talkative (`debug`, with
uvicorn's access log and the websockets library's own lines), its whole output captured.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from pathlib import Path
from typing import Any

import asyncpg
from websockets.asyncio.client import connect

from app.settings import Settings, to_libpq_url
from tests.client import CREATE_USER, LOGIN, Api
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, create_admin
from tests.processes import tandem_env, tandem_server

CREATE = """
mutation($i: CreateOpportunityInput!) {
  createOpportunity(input: $i) { opportunity { id } userErrors { code } }
}"""
UPLOAD = """
mutation($i: UploadDocumentInput!) {
  uploadDocument(input: $i) { activity { id ... on Document { downloadUrl } } userErrors { code } }
}"""
SEARCH = "query Search($s: String) { opportunities(filter: {search: $s}) { totalCount } }"

# PostgreSQL refuses to store a document or a user: an error the server did not foresee, in
# the middle of a mutation, as a bug would be.
REFUSE_WRITES = """
CREATE FUNCTION refuse_writes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'injected failure'; END $$;
CREATE TRIGGER refuse_writes BEFORE INSERT ON document_contents
    FOR EACH ROW EXECUTE FUNCTION refuse_writes();
CREATE TRIGGER refuse_writes BEFORE INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION refuse_writes();
"""


def secret() -> str:
    return secrets.token_hex(12)


def leaked(secret: str, log: str, width: int = 12) -> bool:
    """Whether any `width` characters of `secret` in a row are in `log`: a line that shows a
    message cut short (as a frame dump does) shows part of what it holds."""
    return any(secret[i : i + width] in log for i in range(len(secret) - width + 1))


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def type_named(name: str) -> str:
    return f'{{ __type(name: "{name}") {{ name }} }}'


def authorized(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def upload(api: Api, token: str, deal: str, content: bytes) -> dict[str, Any]:
    operations = {"query": UPLOAD, "variables": {"i": {"opportunityId": deal, "file": None}}}
    response = await api.http.post(
        "/graphql",
        headers=authorized(token),
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.i.file"]})},
        files={"0": ("offer.txt", content, "text/plain")},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_nothing_a_client_sends_in_confidence_reaches_the_log(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    kept = {
        name: secret()
        for name in (
            "a wrong password",
            "a password written in a document",
            "a new user's password",
            "a bad token",
            "a document's content",
            "variables in a URL",
            "a document in GraphiQL's URL",
            "a literal in an introspection document",
            "a password sent over a WebSocket",
            "a failed document's content",
            "a failed user's password",
        )
    }
    await create_admin(database_url)
    log = tmp_path / "server.log"
    env = tandem_env(
        settings, database_url, TANDEM_LOG_LEVEL="debug", TANDEM_PASSWORD_HASHING="fast"
    )
    async with tandem_server(env, output=log) as api:
        wrong = await api.gql(LOGIN, {"email": ADMIN_EMAIL, "password": kept["a wrong password"]})
        assert wrong["data"]["login"]["token"] is None
        literal = kept["a password written in a document"]
        await api.gql(
            f'mutation {{ login(input: {{email: "{ADMIN_EMAIL}", password: "{literal}"}}) '
            "{ token } }"
        )
        token = await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        new_user = {
            "email": "mia@example.com",
            "name": "Mia",
            "password": kept["a new user's password"],
            "role": "MEMBER",
        }
        await api.mutate("createUser", CREATE_USER, {"input": new_user}, token)
        their_token = await api.login("mia@example.com", kept["a new user's password"])
        refused = await api.gql("{ me { email } }", token=kept["a bad token"])
        assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

        deal_input = {"name": "Deal", "expectedValue": {"amount": "10.00", "currency": "EUR"}}
        created = await api.mutate("createOpportunity", CREATE, {"i": deal_input}, token)
        deal = created["opportunity"]["id"]
        content = b"Offer, code %s\n" % kept["a document's content"].encode()
        stored = (await upload(api, token, deal, content))["data"]["uploadDocument"]
        download = stored["activity"]["downloadUrl"]
        assert (await api.http.get(download, headers=authorized(token))).content == content
        # A token in the URL opens nothing (only the Authorization header does), and the
        # access line that names the URL does not show it.
        in_url = await api.http.get(download, params={"access_token": token})
        assert in_url.status_code == 401

        # A persisted query by GET carries its variables in the URL; so does GraphiQL's page.
        extensions = {"persistedQuery": {"version": 1, "sha256Hash": sha256(SEARCH)}}
        by_get = await api.http.get(
            "/graphql",
            params={
                "query": SEARCH,
                "extensions": json.dumps(extensions),
                "variables": json.dumps({"s": kept["variables in a URL"]}),
            },
            headers=authorized(token),
        )
        assert by_get.json()["data"] == {"opportunities": {"totalCount": 0}}
        graphiql = await api.http.get(
            "/graphql",
            params={"q": type_named(kept["a document in GraphiQL's URL"])},
            headers={"Accept": "text/html"},
        )
        assert graphiql.status_code == 200
        # Served by the standard executor, which the log says.
        introspection = type_named(kept["a literal in an introspection document"])
        assert (await api.ok(introspection, token=token)) == {"__type": None}

        # The token in the socket's URL too, as clients that cannot set headers do.
        async with connect(
            f"{api.ws_url}?token={token}",
            subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        ) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            password = kept["a password sent over a WebSocket"]
            payload = {"query": LOGIN, "variables": {"email": ADMIN_EMAIL, "password": password}}
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
            assert json.loads(await ws.recv())["payload"]["data"]["login"]["token"] is None

        connection = await asyncpg.connect(to_libpq_url(database_url))
        try:
            await connection.execute(REFUSE_WRITES)
        finally:
            await connection.close()
        failed_content = b"Offer, code %s\n" % kept["a failed document's content"].encode()
        failed_upload = await upload(api, token, deal, failed_content)
        failed_password = kept["a failed user's password"]
        failed_user = {**new_user, "email": "leo@example.com", "password": failed_password}
        failed_creation = await api.gql(CREATE_USER, {"input": failed_user}, token)
        failures = [failed_upload, failed_creation]
    written = log.read_text()

    # What the log must have, so that its silence about the rest means something: each
    # failure under the id its client was given, with what went wrong; the access lines;
    # the plan executor's note; the sockets.
    for failure in failures:
        [error] = failure["errors"]
        assert error["message"] == "Internal error.", error
        assert f"(request {error['extensions']['requestId']})" in written, written
    assert "injected failure" in written
    assert '"GET /documents/' in written and "access_token=..." in written
    assert "the standard executor serves operation" in written
    assert '"WebSocket /graphql?token=..." [accepted]' in written
    kept.update({"the admin's token": token, "another user's token": their_token})
    for name, value in kept.items():
        assert not leaked(value, written), f"{name} is in the log:\n{written}"
