"""`TANDEM_LOG_FORMAT=json`: everything a real `tandem serve` logs (the app's loggers and
uvicorn's, its access lines included, in one process or several workers) is one JSON object
a line, and a request's lines carry the id its answer's `X-Request-Id` header gives, so a
user's report finds them. Another format is refused at start, as other settings are.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from app.settings import Settings, to_libpq_url
from tests.client import CREATE_USER
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, create_admin
from tests.processes import TANDEM, tandem_env, tandem_server

# PostgreSQL refuses to store a user: an error the server did not foresee, as a bug would be.
REFUSE_USERS = """
CREATE FUNCTION refuse_writes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'injected failure'; END $$;
CREATE TRIGGER refuse_writes BEFORE INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION refuse_writes();
"""
KEYS = {"ts", "level", "logger", "message", "worker"}


def text_of(log: Path) -> str:
    return log.read_text()


def lines_of(log: Path) -> list[dict[str, Any]]:
    """Every line of the log as the JSON object it must be (a line that is not fails)."""
    parsed = []
    text = text_of(log)
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r} in\n{text[-3000:]}") from None
        assert isinstance(entry, dict), line
        assert entry.keys() >= KEYS, line
        assert datetime.fromisoformat(entry["ts"]).utcoffset() is not None, line
        parsed.append(entry)
    return parsed


async def logged(log: Path, wanted: str, request: str) -> list[dict[str, Any]]:
    """The log once a line of logger `wanted` with `request`'s id is in it (a line is
    written as its request is answered, an access line just after)."""
    for _ in range(100):
        entries = lines_of(log)
        if any(e["logger"] == wanted and e.get("request_id") == request for e in entries):
            return entries
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {wanted} line of request {request}:\n{text_of(log)[-3000:]}")


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_every_line_is_json_and_a_requests_lines_carry_its_id(
    settings: Settings, database_url: str, tmp_path: Path, workers: str
) -> None:
    # Else the first start prints its admin's one-time password, for the operator's eyes: a
    # message on the console, not a log line (nor one a log collector should keep).
    await create_admin(database_url)
    log = tmp_path / "serve.log"
    env = tandem_env(
        settings,
        database_url,
        TANDEM_LOG_FORMAT="json",
        TANDEM_LOG_LEVEL="info",
        TANDEM_WORKERS=workers,
    )
    async with tandem_server(env, output=log) as api:
        # A failure the server did not foresee is logged under the request's id, with its
        # traceback: an id the client gives is the one its answer and the log carry.
        given = "report-42.a"
        answer = await api.http.post(
            "/graphql",
            json={"query": "query Heartbeat { __typename }"},
            headers={"X-Request-Id": given},
        )
        assert answer.status_code == 200
        assert answer.headers["x-request-id"] == given
        entries = await logged(log, "uvicorn.access", given)
        access = [e for e in entries if e["logger"] == "uvicorn.access"]
        mine = [e for e in access if e.get("request_id") == given]
        assert len(mine) == 1
        assert '"POST /graphql HTTP/1.1" 200' in mine[0]["message"]
        assert mine[0]["level"] == "INFO"
        assert mine[0]["operation"] == "Heartbeat"  # the operation it answered, by name

        # An id the server made is in its access line too; query values stay out of it.
        made = await api.http.get("/graphql", params={"query": "{ __typename }"})
        assert made.status_code in (200, 400)  # a GET's answer is beside the point here
        entries = await logged(log, "uvicorn.access", made.headers["x-request-id"])
        line = next(e for e in entries if e.get("request_id") == made.headers["x-request-id"])
        assert "GET /graphql?query=... HTTP/1.1" in line["message"]
        assert "__typename" not in text_of(log)

    entries = lines_of(log)
    loggers = {e["logger"] for e in entries}
    assert {"uvicorn.error", "uvicorn.access"} <= loggers, loggers
    # Lines that belong to no request (start-up, shutdown) carry no id.
    assert any("request_id" not in e and e["logger"] == "uvicorn.error" for e in entries)
    pids = {e["worker"] for e in entries}
    assert len(pids) >= int(workers), pids


async def test_a_failure_is_one_line_with_its_traceback_under_the_requests_id(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    await create_admin(database_url)
    log = tmp_path / "serve.log"
    env = tandem_env(
        settings,
        database_url,
        TANDEM_LOG_FORMAT="json",
        TANDEM_LOG_LEVEL="info",
        TANDEM_PASSWORD_HASHING="fast",
    )
    async with tandem_server(env, output=log) as api:
        token = await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        connection = await asyncpg.connect(to_libpq_url(database_url))
        try:
            await connection.execute(REFUSE_USERS)
        finally:
            await connection.close()
        password = "never-in-the-log-" + "k3y" * 8
        user = {"email": "leo@example.com", "name": "Leo", "role": "MEMBER", "password": password}
        failed = await api.gql(CREATE_USER, {"input": user}, token)
        [error] = failed["errors"]
        answering = error["extensions"]["requestId"]
        entries = await logged(log, "uvicorn.access", answering)
    [failure] = [e for e in entries if "exc" in e]
    assert failure["request_id"] == answering
    assert failure["level"] == "ERROR"
    assert failure["exc"].startswith("Traceback") and "injected failure" in failure["exc"]
    assert password not in text_of(log) and token not in text_of(log)


async def test_a_failure_nothing_caught_is_one_json_line_too(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    """A server that cannot start (its database does not exist) stops with its traceback in
    one line of the log, not many lines beside it."""
    missing = database_url.rsplit("/", 1)[0] + "/tandem_no_such_database"
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            TANDEM,
            "serve",
            "--no-migrate",
            env=tandem_env(settings, missing, TANDEM_LOG_FORMAT="json"),
            stdout=sink,
            stderr=sink,
        )
    assert await asyncio.wait_for(process.wait(), timeout=60) != 0
    [stopped] = [e for e in lines_of(log) if e["level"] == "CRITICAL"]
    assert stopped["exc"].startswith("Traceback") and "tandem_no_such_database" in stopped["exc"]


@pytest.mark.parametrize("value", ["xml", "JSONL", "yaml"])
async def test_another_log_format_is_a_clear_error(settings: Settings, value: str) -> None:
    process = await asyncio.create_subprocess_exec(
        TANDEM,
        "serve",
        env=tandem_env(settings, None, TANDEM_LOG_FORMAT=value),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 2
    said = stderr.decode()
    assert "TANDEM_LOG_FORMAT" in said, said
    assert "text, json" in said, said
    assert value.lower() in said, said
    assert "Traceback" not in said, said
