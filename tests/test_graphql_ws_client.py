"""Tandem through the npm `graphql-ws` client (what Apollo Client and urql use), under Node.

The client script (tests/js/graphql_ws_client.mjs) logs in over HTTP, queries and subscribes
over the WebSocket, receives a teammate's changes, resumes from a cursor, is refused with a bad
token, and reports the kind of every frame it received. `make test` installs its packages from
the lockfile (`npm ci` in tests/js).
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

from tests.client import Api, metric, until_subscribed
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD

CLIENT_DIR = Path(__file__).parent / "js"
SCRIPT = CLIENT_DIR / "graphql_ws_client.mjs"

CREATE = """
mutation($i: CreateOpportunityInput!) {
  createOpportunity(input: $i) { opportunity { id version } userErrors { code } }
}"""
UPDATE = """
mutation($i: UpdateOpportunityInput!) {
  updateOpportunity(input: $i) { opportunity { version } userErrors { code } }
}"""


class NodeClient:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def expect(self, step: str) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), 20)
        if not line:
            assert self.process.stderr is not None
            error = await self.process.stderr.read()
            raise AssertionError(f"the Node client ended before {step!r}: {error.decode()}")
        said: dict[str, Any] = json.loads(line)
        assert said["step"] == step, said
        return said

    async def go_on(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(b"go\n")
        await self.process.stdin.drain()


async def start_node_client(api: Api, opportunity_id: str) -> NodeClient:
    node = shutil.which("node")
    assert node, "Node.js is needed for the graphql-ws client test"
    assert (CLIENT_DIR / "node_modules" / "graphql-ws").is_dir(), (
        "the client's packages are missing: run `npm ci --prefix tests/js` (make test does)"
    )
    process = await asyncio.create_subprocess_exec(
        node,
        str(SCRIPT),
        api.base_url,
        ADMIN_EMAIL,
        ADMIN_PASSWORD,
        opportunity_id,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=CLIENT_DIR,
    )
    return NodeClient(process)


async def test_the_graphql_ws_client_subscribes_resumes_and_sees_only_text_frames(
    api: Api, admin_token: str
) -> None:
    _, teammate = await api.create_user(admin_token, "mia@example.com", name="Mia")
    created = await api.mutate(
        "createOpportunity",
        CREATE,
        {
            "i": {
                "name": "Node deal",
                "visibility": "PUBLIC",
                "expectedValue": {"amount": "500.00", "currency": "USD"},
            }
        },
        teammate,
    )
    deal = created["opportunity"]
    version = deal["version"]

    async def next_step(step: str) -> None:
        nonlocal version
        payload = await api.mutate(
            "updateOpportunity",
            UPDATE,
            {"i": {"id": deal["id"], "expectedVersion": version, "nextStep": step}},
            teammate,
        )
        version = payload["opportunity"]["version"]

    client = await start_node_client(api, deal["id"])
    try:
        assert (await client.expect("logged-in"))["hasToken"] is True
        assert (await client.expect("query"))["me"] == {"me": {"email": ADMIN_EMAIL}}
        await client.expect("subscribed")
        await until_subscribed(api, 1)
        written = await metric(api, "tandem_event_deliveries_written_at_once_total")
        await next_step("Demo")
        await next_step("Offer")
        live = (await client.expect("events"))["events"]
        assert [(e["kind"], e["opportunity"]["nextStep"]) for e in live] == [
            ("UPDATED", "Demo"),
            ("UPDATED", "Offer"),
        ]
        # Both were written to the socket in the hub's turn, and the library read them.
        assert await metric(api, "tandem_event_deliveries_written_at_once_total") == written + 2
        assert {e["actor"]["name"] for e in live} == {"Mia"}

        await client.expect("offline")
        await next_step("Signature")
        await client.go_on()
        resumed = (await client.expect("resumed"))["events"]
        assert [e["opportunity"]["nextStep"] for e in resumed] == ["Offer", "Signature"]
        assert resumed[0]["cursor"] == live[1]["cursor"]

        refused = await client.expect("bad-token")
        assert refused["closeCode"] == 4403, refused
        frames = await client.expect("frames")
        assert frames["binary"] == 0, frames
        assert frames["text"] >= 8, frames  # acks, results, completes: all text
        assert await asyncio.wait_for(client.process.wait(), 10) == 0
    finally:
        if client.process.returncode is None:
            client.process.kill()
            await client.process.wait()
