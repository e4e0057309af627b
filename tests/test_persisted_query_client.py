"""Tandem's persisted queries through the clients' own persisted-query support, under Node.

The client scripts (tests/js/apollo_persisted_queries.mjs: Apollo Client's link;
tests/js/urql_persisted_queries.mjs: urql's exchange) hash documents with Node's crypto and
let the library do what it does against any Apollo-compatible server: the hash alone first,
the text after PersistedQueryNotFound, the hash alone from then on. Apollo's
`useGETForHashedQueries` sends hashed queries by GET and its retry by POST; urql's
`preferGetForPersistedQueries` retries by GET too. Each script reports every HTTP request it
made. `make test` installs their packages from tests/js/package-lock.json.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

from tests.client import Api
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD

CLIENT_DIR = Path(__file__).parent / "js"
NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"


async def run_client(api: Api, script: str, package: str) -> dict[str, dict[str, Any]]:
    node = shutil.which("node")
    assert node, "Node.js is needed for the persisted-query client tests"
    assert (CLIENT_DIR / "node_modules" / package).is_dir(), (
        "the client's packages are missing: run `npm ci --prefix tests/js` (make test does)"
    )
    process = await asyncio.create_subprocess_exec(
        node,
        str(CLIENT_DIR / script),
        api.base_url,
        ADMIN_EMAIL,
        ADMIN_PASSWORD,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=CLIENT_DIR,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    said = [json.loads(line) for line in stdout.decode().splitlines() if line.strip()]
    steps = {s["step"]: s for s in said}
    assert "failed" not in steps, steps["failed"]
    assert process.returncode == 0, stderr.decode()
    return steps


def sent(step: dict[str, Any]) -> list[tuple[str, bool, int, list[str | None]]]:
    """(method, with the text, status, error codes) of each request a step made."""
    return [(r["method"], r["withText"], r["status"], r["codes"]) for r in step["requests"]]


async def test_apollo_clients_persisted_query_link_misses_once_then_sends_hashes_only(
    api: Api, admin_token: str
) -> None:
    steps = await run_client(api, "apollo_persisted_queries.mjs", "@apollo/client")

    first = steps["first"]
    assert first["data"] == {"me": {"__typename": "User", "email": ADMIN_EMAIL}}, first
    assert sent(first) == [("POST", False, 200, [NOT_FOUND]), ("POST", True, 200, [])]
    # The link's hash is of the text it sent, and both requests named the same one.
    hashes = {r["hash"] for r in first["requests"]}
    assert len(hashes) == 1 and None not in hashes
    second = steps["second"]
    assert second["data"] == first["data"]
    assert sent(second) == [("POST", False, 200, [])]
    assert second["requests"][0]["hash"] in hashes

    get_first = steps["get-first"]
    assert get_first["data"]["stages"], get_first
    assert sent(get_first) == [("GET", False, 200, [NOT_FOUND]), ("POST", True, 200, [])]
    assert sent(steps["get-second"]) == [("GET", False, 200, [])]

    # Mutations go by POST whatever the link is told about GET: hash first, then the text.
    mutation = steps["mutation"]
    assert mutation["data"]["createOpportunity"]["userErrors"] == [], mutation
    assert sent(mutation) == [("POST", False, 200, [NOT_FOUND]), ("POST", True, 200, [])]
    assert sent(steps["mutation-again"]) == [("POST", False, 200, [])]
    created = await api.ok("{ opportunities(first: 5) { nodes { name } } }", token=admin_token)
    assert created["opportunities"]["nodes"] == [{"name": "Apollo deal"}] * 2


async def test_urqls_persisted_exchange_retries_by_get_and_then_sends_hashes_only(
    api: Api, admin_token: str
) -> None:
    steps = await run_client(api, "urql_persisted_queries.mjs", "@urql/exchange-persisted")

    first = steps["first"]
    assert first["data"] == {"me": {"email": ADMIN_EMAIL}}, first
    assert sent(first) == [("GET", False, 200, [NOT_FOUND]), ("GET", True, 200, [])]
    assert sent(steps["second"]) == [("GET", False, 200, [])]
    assert steps["second"]["data"] == first["data"]

    mutation = steps["mutation"]
    assert mutation["data"]["createOpportunity"]["opportunity"] == {"name": "urql deal"}
    assert sent(mutation) == [("POST", False, 200, [NOT_FOUND]), ("POST", True, 200, [])]
    assert sent(steps["mutation-again"]) == [("POST", False, 200, [])]
    created = await api.ok("{ opportunities(first: 5) { totalCount } }", token=admin_token)
    assert created["opportunities"]["totalCount"] == 2
