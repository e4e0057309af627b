"""The `tandem` command, run as a real subprocess against the test's own database.

Covers what an operator does on day one: create a user, load the demo team, migrate, start the
server on an empty database and log in with the admin it prints, get a clear error for a bad
setting, and keep the committed schema/schema.graphql in step with the code.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest

from app.settings import Settings
from tests.client import Api
from tests.conftest import DatabaseServer, RunningServer, serve
from tests.processes import TANDEM, free_port, tandem_env, wait_until_healthy

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema" / "schema.graphql"

ME = "{ me { email name role } }"
LOGIN = """
mutation Login($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) {
    token mustChangePassword user { email role } userErrors { code message }
  }
}
"""
DEMO_OVERVIEW = """
{
  opportunities(first: 50) { totalCount nodes { status companies { name } } }
  folders { name }
  teams { name members { email } }
  companies(first: 1) { totalCount }
}
"""
STAGES = "{ stages { name position kind defaultProbability } }"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


async def tandem(env: dict[str, str], *args: str) -> Result:
    process = await asyncio.create_subprocess_exec(
        TANDEM,
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return Result(process.returncode, stdout.decode(), stderr.decode())


async def create_user(env: dict[str, str], email: str, password: str, role: str) -> Result:
    return await tandem(
        env,
        "create-user",
        "--email",
        email,
        "--name",
        "Cleo Cli",
        "--password",
        password,
        "--role",
        role,
    )


def demo_admin_login(summary: str) -> tuple[str, str]:
    """The seed's summary tells a newcomer how to log in: the e-mails and the shared password."""
    password = re.search(r"password '([^']+)'", summary)
    admin = re.search(r"^\s+(\S+@\S+)\s+admin\b", summary, re.MULTILINE)
    assert password and admin, f"the summary does not say how to log in:\n{summary}"
    return admin.group(1), password.group(1)


@pytest.fixture
async def blank_database_url(database_server: DatabaseServer) -> AsyncIterator[str]:
    """A database with nothing in it, not even the schema: a first start."""
    name = f"tandem_blank_{secrets.token_hex(6)}"
    await database_server.execute(f'CREATE DATABASE "{name}"')
    try:
        yield database_server.database_url(name)
    finally:
        await database_server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_created_user_can_log_in(settings: Settings, database_url: str) -> None:
    result = await create_user(
        tandem_env(settings, database_url), "cleo@example.com", "cleo-password-1", "ADMIN"
    )
    assert result.code == 0, result.stderr
    assert "cleo@example.com" in result.stdout
    async with serve(settings, database_url) as (api, _app):
        token = await api.login("cleo@example.com", "cleo-password-1")
        me = (await api.ok(ME, token=token))["me"]
    assert me == {"email": "cleo@example.com", "name": "Cleo Cli", "role": "ADMIN"}


async def test_create_user_with_a_taken_email_fails_clearly(
    settings: Settings, database_url: str
) -> None:
    env = tandem_env(settings, database_url)
    first = await create_user(env, "dup@example.com", "first-password", "MEMBER")
    assert first.code == 0, first.stderr
    second = await create_user(env, "dup@example.com", "second-password", "MEMBER")
    assert second.code != 0
    assert "already exists" in second.stderr, second.stderr
    assert "Traceback" not in second.stderr, second.stderr


async def test_seed_demo_loads_a_team_the_admin_sees(settings: Settings, database_url: str) -> None:
    result = await tandem(
        tandem_env(settings, database_url), "seed", "--demo", "--opportunities", "30"
    )
    assert result.code == 0, result.stderr
    email, password = demo_admin_login(result.stdout)

    async with serve(settings, database_url) as (api, _app):
        token = await api.login(email, password)
        data = await api.ok(DEMO_OVERVIEW, token=token)

    opportunities = data["opportunities"]
    assert opportunities["totalCount"] == 30
    assert all(node["companies"] for node in opportunities["nodes"])
    assert {"OPEN", "WON", "LOST"} <= {node["status"] for node in opportunities["nodes"]}
    assert {"Regions", "EMEA", "DACH", "Partners"} <= {f["name"] for f in data["folders"]}
    assert len(data["teams"]) >= 2
    assert all(team["members"] for team in data["teams"])
    assert data["companies"]["totalCount"] >= 30


async def test_seed_demo_twice_changes_nothing(settings: Settings, database_url: str) -> None:
    env = tandem_env(settings, database_url)
    first = await tandem(env, "seed", "--demo", "--opportunities", "5")
    assert first.code == 0, first.stderr
    email, password = demo_admin_login(first.stdout)

    second = await tandem(env, "seed", "--demo", "--opportunities", "5")
    assert second.code == 0, second.stderr
    assert "already loaded" in second.stdout, second.stdout

    async with serve(settings, database_url) as (api, _app):
        token = await api.login(email, password)
        data = await api.ok("{ opportunities { totalCount } users { email } }", token=token)
    assert data["opportunities"]["totalCount"] == 5
    assert len(data["users"]) == len({u["email"] for u in data["users"]})


async def test_migrate_twice_changes_nothing(server: RunningServer) -> None:
    """The reference data (default pipeline) is there once, however often migrate runs."""
    before = await server.api.ok(STAGES, token=server.admin_token)
    env = tandem_env(server.settings, server.database_url)
    for _ in range(2):
        result = await tandem(env, "migrate")
        assert result.code == 0, result.stderr
        assert "up to date" in result.stdout
    assert await server.api.ok(STAGES, token=server.admin_token) == before


BY_STAGE = """query($filter: OpportunityFilterInput) {
  opportunityGroups(groupBy: STAGE, filter: $filter) {
    key count totals { currency value { amount } }
  }
}"""
CREATE_DEAL = """mutation($i: CreateOpportunityInput!) {
  createOpportunity(input: $i) { opportunity { id } userErrors { message } } }"""


async def test_rebuild_totals_repairs_drift_and_says_how_much(server: RunningServer) -> None:
    """If someone bulk-edits deals with triggers off, the running totals drift; the command
    counts them afresh, and says how many keys were wrong."""
    api, token = server.api, server.admin_token
    for amount in ("100.00", "250.00"):
        deal = {"name": "Deal", "expectedValue": {"amount": amount, "currency": "EUR"}}
        await api.mutate("createOpportunity", CREATE_DEAL, {"i": deal}, token)
    from_totals = {"status": ["OPEN"]}  # answered from the running totals
    summed = {"status": ["OPEN"], "probability": {"min": 0}}  # the same deals, summed
    connection = await asyncpg.connect(server.database_url.replace("+asyncpg", ""))
    try:
        # What `session_replication_role = replica` (pg_restore --disable-triggers) allows.
        async with connection.transaction():
            await connection.execute("SET LOCAL session_replication_role = replica")
            await connection.execute("UPDATE opportunities SET amount = amount + 1")
    finally:
        await connection.close()
    drifted = await api.ok(BY_STAGE, {"filter": from_totals}, token)
    truth = await api.ok(BY_STAGE, {"filter": summed}, token)
    assert drifted != truth
    assert truth["opportunityGroups"][0]["totals"][0]["value"]["amount"] == "352.00"

    env = tandem_env(server.settings, server.database_url)
    result = await tandem(env, "rebuild-totals")
    assert result.code == 0, result.stderr
    assert "1 keys had drifted" in result.stdout, result.stdout
    assert await api.ok(BY_STAGE, {"filter": from_totals}, token) == truth
    again = await tandem(env, "rebuild-totals")
    assert "0 keys had drifted" in again.stdout, again.stdout


@pytest.mark.parametrize("port", ["http", "70000"])
async def test_bad_port_is_a_clear_error(settings: Settings, port: str) -> None:
    result = await tandem(tandem_env(settings, None, TANDEM_PORT=port), "serve")
    assert result.code == 2
    assert "TANDEM_PORT" in result.stderr, result.stderr
    assert port in result.stderr
    assert "Traceback" not in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TANDEM_MAX_ALIASES", "-1"),
        ("TANDEM_MAX_BODY_BYTES", "lots"),
        ("TANDEM_OPERATION_TIMEOUT_SECONDS", "nan"),
        ("TANDEM_MAX_BATCH_OPERATIONS", "1000"),
        ("TANDEM_CONNECTION_INIT_SECONDS", "0"),
    ],
)
async def test_a_bad_limit_is_a_clear_error(settings: Settings, variable: str, value: str) -> None:
    result = await tandem(tandem_env(settings, None, **{variable: value}), "serve")
    assert result.code == 2
    assert variable in result.stderr, result.stderr
    assert value in result.stderr
    assert "Traceback" not in result.stderr, result.stderr


async def test_schema_drift_committed_sdl_matches_the_code(settings: Settings) -> None:
    result = await tandem(tandem_env(settings, None), "export-schema")
    assert result.code == 0, result.stderr
    assert result.stdout == SCHEMA_FILE.read_text(), (
        "schema/schema.graphql differs from the code's schema; if the change is intended, run "
        "`.venv/bin/tandem export-schema > schema/schema.graphql` and commit it"
    )


async def test_first_start_prints_a_one_time_admin_password_that_logs_in(
    settings: Settings, blank_database_url: str
) -> None:
    port = free_port()
    env = tandem_env(settings, blank_database_url, TANDEM_PORT=str(port))
    process = await asyncio.create_subprocess_exec(
        TANDEM,
        "serve",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        printed = ""
        while not re.search(r"password:\s+\S+", printed):
            line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
            assert line, f"`tandem serve` printed no admin password:\n{printed}"
            printed += line.decode()
        email = re.search(r"e-mail:\s+(\S+)", printed)
        password = re.search(r"password:\s+(\S+)", printed)
        assert email and password, printed

        base_url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
            await wait_until_healthy(http, process)
            api = Api(base_url, http)
            login = (await api.ok(LOGIN, {"email": email.group(1), "password": password.group(1)}))[
                "login"
            ]
            assert login["userErrors"] == [], login
            assert login["mustChangePassword"] is True
            me = (await api.ok(ME, token=login["token"]))["me"]
        assert me["email"] == email.group(1)
        assert me["role"] == "ADMIN"
    finally:
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.communicate(), timeout=30)
