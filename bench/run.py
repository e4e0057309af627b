"""Tandem benchmark: a page of opportunities under load, and one change reaching 100 watchers.

    .venv/bin/python bench/run.py [--opportunities 100000] [--database-url URL] [--help]

1. Creates a fresh database `tandem_bench` on the PostgreSQL server named by --database-url,
   else TANDEM_BENCH_DATABASE_URL, else postgresql://postgres@127.0.0.1:5432/postgres; when
   none of those answers (and no URL was given), on an embedded PostgreSQL.
2. Migrates it and bulk-loads --opportunities opportunities (bench/seed.py).
3. Starts the real server as a subprocess: `tandem serve --no-migrate`, one uvicorn worker
   (uvloop + httptools), memory:// broadcast, on a free port of 127.0.0.1.
4. Measures, from this process:
   a) the page: `opportunities(first: 50)` with owner, stage, companies and participants,
      from N concurrent keep-alive HTTP connections, a fixed number of requests;
   b) updateOpportunity with its event delivered to 100 WebSocket subscriptions
      (graphql-transport-ws): the time from sending the mutation to each subscriber
      receiving the event, over a fixed number of sequential updates.
5. Prints a table (what, N, p50, p99, throughput, server RSS, server CPU per operation) with
   the goals of issue 2 beside the numbers, then drops the database (unless --keep).

Everything targets 127.0.0.1 only, and every phase is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import uvloop
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.migrate import upgrade  # noqa: E402
from app.settings import to_asyncpg_url  # noqa: E402
from bench import subscribers  # noqa: E402
from bench.seed import ADMIN_EMAIL, BENCH_PASSWORD, libpq_connect_args, seed  # noqa: E402

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE_NAME = "tandem_bench"
TANDEM = str(Path(sys.executable).with_name("tandem"))

PAGE_GOAL_RPS = 900
EVENT_GOAL_P99_MS = 20.0
EVENT_GOAL_MANY_P99_MS = 50.0  # 1,000 subscribers over 10 distinct selections

PAGE = """
query Page($after: String) {
  opportunities(first: 50, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id number name status probability version estimatedCloseDate
      expectedValue { amount currency }
      owner { id name }
      stage { id name }
      companies { name }
      participants {
        kind role isPrimary
        target {
          __typename
          ... on Company { name }
          ... on Contact { fullName }
          ... on User { name }
          ... on Team { name }
        }
      }
    }
  }
}
"""
PAGE_WITH_COUNT = PAGE.replace("pageInfo {", "totalCount pageInfo {")
PAGE_PLAIN = """
query Page($after: String) {
  opportunities(first: 50, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id number name status probability version estimatedCloseDate
      expectedValue { amount currency }
    }
  }
}
"""
LOGIN = """
mutation Login($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) { token userErrors { message } }
}
"""
TARGETS = """
{ opportunities(first: 40, filter: {visibility: PUBLIC, status: [OPEN]}) {
    nodes { id version probability } } }
"""
UPDATE = """
mutation Update($input: UpdateOpportunityInput!) {
  updateOpportunity(input: $input) {
    opportunity { id version }
    userErrors { code message }
  }
}
"""
SUBSCRIPTION = """
subscription {
  opportunityEvents {
    cursor kind opportunityId version occurredAt
    changes { field old new }
    actor { name }
    opportunity {
      id name version probability
      expectedValue { amount currency }
      stage { name }
      owner { name }
    }
  }
}
"""


# --- measuring ---------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of unsorted values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass
class Server:
    process: asyncio.subprocess.Process
    port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_mib(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        return int(match.group(1)) / 1024 if match else float("nan")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Row:
    what: str
    n: int
    p50_ms: float
    p99_ms: float
    throughput: str
    rss_mib: float
    cpu_ms_per_op: float | None
    goal: str = ""
    met: str = ""
    notes: list[str] = field(default_factory=list)


# --- a minimal HTTP/1.1 client --------------------------------------------------------------
# httpx spends ~1 ms of CPU per request; on a 2-core machine that is CPU taken from the
# server. This client writes pre-built requests on keep-alive connections and reads
# Content-Length (or chunked) bodies, so the load generator costs little.


class RawHttp:
    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> RawHttp:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.writer is not None:
            self.writer.close()
            with suppress(Exception):
                await self.writer.wait_closed()

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        try:
            return await self._send(raw)
        except (asyncio.IncompleteReadError, ConnectionResetError) as error:
            if isinstance(error, asyncio.IncompleteReadError) and error.partial:
                raise
            # The server closed an idle keep-alive connection before reading the request.
            await self.__aexit__()
            await self.__aenter__()
            return await self._send(raw)

    async def _send(self, raw: bytes) -> tuple[int, bytes]:
        assert self.reader is not None and self.writer is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        headers = head.lower()
        match = re.search(rb"\r\ncontent-length:\s*(\d+)", headers)
        if match:
            return status, await self.reader.readexactly(int(match.group(1)))
        if b"transfer-encoding: chunked" not in headers:
            raise RuntimeError(f"cannot frame the response: {head!r}")
        body = bytearray()
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await self.reader.readexactly(size + 2)
            if size == 0:
                return status, bytes(body)
            body += chunk[:-2]


def graphql_request(port: int, query: str, variables: dict[str, Any], token: str | None) -> bytes:
    body = orjson.dumps({"query": query, "variables": variables})
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nAccept: application/json\r\n{auth}"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


# --- database and server ------------------------------------------------------------------


@asynccontextmanager
async def bench_database(
    explicit_url: str | None, keep: bool, name: str = DATABASE_NAME
) -> AsyncIterator[str]:
    """A fresh database `name` (`tandem_bench`); yields its SQLAlchemy asyncpg URL."""
    server_url = explicit_url or os.environ.get("TANDEM_BENCH_DATABASE_URL") or DEFAULT_SERVER
    server_url = to_asyncpg_url(server_url)
    embedded = None
    try:
        connection = await asyncio.wait_for(
            asyncpg.connect(**libpq_connect_args(server_url)), timeout=5
        )
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        if explicit_url or os.environ.get("TANDEM_BENCH_DATABASE_URL"):
            raise SystemExit(f"bench: cannot reach {server_url}: {error}") from None
        from app.embedded import start_embedded_postgres

        print(f"no PostgreSQL at {DEFAULT_SERVER} ({error}); starting an embedded one")
        data_dir = ROOT / ".tandem" / "bench"  # .tandem/ is git-ignored
        embedded = await asyncio.to_thread(start_embedded_postgres, data_dir, "postgres")
        server_url = embedded.url
        connection = await asyncpg.connect(**libpq_connect_args(server_url))
    database_url = make_url(server_url).set(database=name)
    url = database_url.render_as_string(hide_password=False)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{name}"')
        yield url
    finally:
        if not keep:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.close()
        if embedded is not None:
            embedded.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def running_server(database_url: str, work_dir: Path) -> AsyncIterator[Server]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
    env.update(
        TANDEM_DATABASE_URL=database_url,
        TANDEM_HOST="127.0.0.1",
        TANDEM_PORT=str(port),
        TANDEM_LOG_LEVEL="warning",
        TANDEM_SECRET_KEY=secrets.token_urlsafe(32),
        TANDEM_DATA_DIR=str(work_dir),
        TANDEM_BROADCAST_URL="memory://",
        # A wall of dashboards: thousands of sockets over a few dozen users' tokens; and a
        # load of thousands of requests a second under one token, where each would be a user.
        TANDEM_MAX_CONNECTIONS_PER_USER="100000",
        TANDEM_COST_BUDGET_PER_MINUTE="1000000000000",
    )
    log = work_dir / "server.log"
    with log.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            TANDEM,
            "serve",
            "--no-migrate",
            env=env,
            stdout=log_file,
            stderr=log_file,
        )
    server = Server(process, port, log)
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as http:
            deadline = time.monotonic() + 60
            while True:
                if process.returncode is not None:
                    raise SystemExit(f"the server exited:\n{log.read_text()}")
                with suppress(httpx.TransportError):
                    if (await http.get("/health")).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise SystemExit(f"the server did not start:\n{log.read_text()}")
                await asyncio.sleep(0.1)
        yield server
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=15)
            except TimeoutError:
                process.kill()
                await process.wait()


async def login(server: Server, email: str) -> str:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        response = await http.post(
            "/graphql",
            json={"query": LOGIN, "variables": {"email": email, "password": BENCH_PASSWORD}},
        )
    payload = response.json()["data"]["login"]
    if payload["userErrors"]:
        raise SystemExit(f"login as {email} failed: {payload['userErrors']}")
    token: str = payload["token"]
    return token


async def query(server: Server, token: str, document: str, variables: dict[str, Any]) -> Any:
    async with RawHttp(server.port) as http:
        status, body = await http.send(graphql_request(server.port, document, variables, token))
    data = orjson.loads(body)
    if status != 200 or data.get("errors"):
        raise SystemExit(f"query failed ({status}): {body[:500]!r}")
    return data["data"]


# --- a) the page -------------------------------------------------------------------------


async def page_cursors(server: Server, token: str, pages: int) -> list[str | None]:
    """The `after` of the first `pages` pages, so the load walks real pages, not one."""
    cursors: list[str | None] = [None]
    while len(cursors) < pages:
        data = await query(server, token, PAGE_PLAIN, {"after": cursors[-1]})
        info = data["opportunities"]["pageInfo"]
        if not info["hasNextPage"]:
            break
        cursors.append(info["endCursor"])
    return cursors


async def page_load(
    server: Server,
    what: str,
    token: str,
    document: str,
    cursors: list[str | None],
    *,
    requests: int,
    concurrency: int,
    check: Callable[[bytes], bool],
    max_seconds: float,
) -> Row:
    raws = [graphql_request(server.port, document, {"after": c}, token) for c in cursors]
    # Warm up: parser caches, the database's buffers, the connection pool.
    async with RawHttp(server.port) as http:
        for raw in raws * 3:
            status, body = await http.send(raw)
            if status != 200 or not check(body):
                raise SystemExit(f"{what}: unexpected response {status}: {body[:300]!r}")
    latencies: list[float] = []
    failures = 0
    counter = itertools.count()

    async def worker() -> None:
        nonlocal failures
        async with RawHttp(server.port) as http:
            while (i := next(counter)) < requests and time.perf_counter() < deadline:
                raw = raws[i % len(raws)]
                started = time.perf_counter()
                status, body = await http.send(raw)
                latencies.append(time.perf_counter() - started)
                if status != 200 or b'"errors"' in body:
                    failures += 1

    cpu_before = server.cpu_seconds()
    started = time.perf_counter()
    deadline = started + max_seconds
    await asyncio.wait_for(
        asyncio.gather(*(worker() for _ in range(concurrency))), timeout=max_seconds + 120
    )
    elapsed = time.perf_counter() - started
    cpu = server.cpu_seconds() - cpu_before
    done = len(latencies)
    row = Row(
        what=what,
        n=done,
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        throughput=f"{done / elapsed:,.0f} req/s",
        rss_mib=server.rss_mib(),
        cpu_ms_per_op=cpu / done * 1000,
    )
    row.notes.append(f"{concurrency} connections, {elapsed:.1f} s")
    if done < requests:
        row.notes.append(f"stopped at the {max_seconds:.0f} s cap after {done} of {requests}")
    if failures:
        row.notes.append(f"{failures} FAILED responses")
    return row


def full_page(body: bytes) -> bool:
    data = orjson.loads(body)
    nodes = data.get("data", {}).get("opportunities", {}).get("nodes", [])
    return not data.get("errors") and 0 < len(nodes) <= 50 and all(n.get("owner") for n in nodes)


def plain_page(body: bytes) -> bool:
    data = orjson.loads(body)
    return not data.get("errors") and 0 < len(data["data"]["opportunities"]["nodes"]) <= 50


async def wrk_page(
    server: Server, token: str, document: str, *, seconds: int, connections: int
) -> Row | None:
    """The same page measured by wrk (C, one thread), when it is installed."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    body = orjson.dumps({"query": document, "variables": {"after": None}}).decode()
    script = (
        'wrk.method = "POST"\n'
        f"wrk.body = {lua_string(body)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {token}"\n'
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
    try:
        cpu_before = server.cpu_seconds()
        process = await asyncio.create_subprocess_exec(
            wrk,
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "--timeout",
            "30s",
            "-s",
            file.name,
            f"{server.base_url}/graphql",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out = (await asyncio.wait_for(process.communicate(), timeout=seconds + 30))[0].decode()
        cpu = server.cpu_seconds() - cpu_before
    finally:
        os.unlink(file.name)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    if not (rps and total and p50 and p99):
        print(f"wrk output not understood:\n{out}")
        return None
    n = int(total.group(1))
    row = Row(
        what="a) page of 50, member, measured by wrk",
        n=n,
        p50_ms=to_ms(p50),
        p99_ms=to_ms(p99),
        throughput=f"{float(rps.group(1)):,.0f} req/s",
        rss_mib=server.rss_mib(),
        cpu_ms_per_op=cpu / n * 1000 if n else None,
    )
    row.notes.append(f"{connections} connections, {seconds} s, first page only")
    if "Non-2xx" in out or "Socket errors" in out:
        row.notes.append("wrk saw errors: " + " ".join(out.split("\n")[-4:]))
    return row


def lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_ms(match: re.Match[str]) -> float:
    value = float(match.group(1))
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]


# --- b) one change, 100 subscribers -------------------------------------------------------


@dataclass
class Deliveries:
    expected: int
    arrivals: dict[tuple[str, int], list[float]] = field(default_factory=lambda: defaultdict(list))
    complete: dict[tuple[str, int], asyncio.Event] = field(
        default_factory=lambda: defaultdict(asyncio.Event)
    )
    occurred: dict[tuple[str, int], str] = field(default_factory=dict)
    """Each event's occurredAt: taken in the change's transaction, just before the outbox
    row is written and the transaction commits."""

    def record(self, key: tuple[str, int], at: float, occurred_at: str) -> None:
        self.occurred.setdefault(key, occurred_at)
        times = self.arrivals[key]
        times.append(at)
        if len(times) == self.expected:
            self.complete[key].set()


def watcher(deliveries: Deliveries, ended: list[str]) -> subscribers.OnMessage:
    """What a subscriber does with each message: record the arrival of an event."""

    def on_message(message: dict[str, Any], at: float) -> None:
        kind = message.get("type")
        if kind == "next":
            event = message["payload"]["data"]["opportunityEvents"]
            key = (event["opportunityId"], event["version"])
            deliveries.record(key, at, event["occurredAt"])
        elif kind in ("error", "complete"):
            ended.append(f"subscription ended: {message}")

    return on_message


def subscription(selection: int) -> str:
    """The subscription of the `selection`-th distinct selection: the same fields, and one
    more (an alias) that makes it a document of its own, executed on its own."""
    if selection == 0:
        return SUBSCRIPTION
    return SUBSCRIPTION.replace("cursor kind", f"cursor s{selection}: version kind", 1)


async def open_subscriber(
    server: Server, token: str, on_message: subscribers.OnMessage, selection: int = 0
) -> subscribers.Subscriber:
    return await subscribers.subscribe(
        "127.0.0.1", server.port, token, subscription(selection), on_message
    )


async def event_fanout(
    server: Server,
    admin_token: str,
    member_tokens: list[str],
    *,
    subscribers: int,
    updates: int,
    selections: int = 1,
) -> list[Row]:
    targets = (await query(server, admin_token, TARGETS, {}))["opportunities"]["nodes"]
    state = {t["id"]: (t["version"], t["probability"]) for t in targets}
    ids = list(state)
    deliveries = Deliveries(expected=subscribers)
    rss_before = server.rss_mib()
    ended: list[str] = []
    on_message = watcher(deliveries, ended)
    sockets = [
        await open_subscriber(
            server, member_tokens[i % len(member_tokens)], on_message, i % selections
        )
        for i in range(subscribers)
    ]
    sequence = itertools.count()

    async def one_update(http: RawHttp) -> tuple[float, float, tuple[str, int]]:
        opportunity_id = ids[next(sequence) % len(ids)]
        version, probability = state[opportunity_id]
        new_probability = 37 if probability != 37 else 38
        raw = graphql_request(
            server.port,
            UPDATE,
            {
                "input": {
                    "id": opportunity_id,
                    "expectedVersion": version,
                    "probability": new_probability,
                }
            },
            admin_token,
        )
        sent = time.perf_counter()
        status, body = await http.send(raw)
        answered = time.perf_counter()
        payload = orjson.loads(body)["data"]["updateOpportunity"]
        if status != 200 or payload["userErrors"]:
            raise SystemExit(f"updateOpportunity failed: {body[:300]!r}")
        new_version = payload["opportunity"]["version"]
        state[opportunity_id] = (new_version, new_probability)
        return sent, answered, (opportunity_id, new_version)

    try:
        async with RawHttp(server.port) as http:
            # Subscriptions start asynchronously: update until one event reaches all of them.
            deadline = time.monotonic() + 60
            while True:
                _, _, key = await one_update(http)
                with suppress(TimeoutError):
                    await asyncio.wait_for(deliveries.complete[key].wait(), timeout=3)
                if deliveries.complete[key].is_set():
                    break
                if time.monotonic() > deadline:
                    got = len(deliveries.arrivals[key])
                    raise SystemExit(f"only {got} of {subscribers} subscribers receive events")
            rss_connected = server.rss_mib()
            for _ in range(10):  # warm-up
                _, _, key = await one_update(http)
                await asyncio.wait_for(deliveries.complete[key].wait(), timeout=10)

            from_send: list[float] = []
            from_commit: list[float] = []
            from_response: list[float] = []
            # Arrivals are on perf_counter; occurredAt on the wall clock of the same machine.
            wall_minus_perf = time.time() - time.perf_counter()
            to_all: list[float] = []
            mutation: list[float] = []
            missing = 0
            cpu_before = server.cpu_seconds()
            client_before = time.process_time()
            hub_before = await hub_seconds(server)
            started = time.perf_counter()
            for _ in range(updates):
                sent, answered, key = await one_update(http)
                try:
                    await asyncio.wait_for(deliveries.complete[key].wait(), timeout=5)
                except TimeoutError:
                    missing += subscribers - len(deliveries.arrivals[key])
                times = deliveries.arrivals[key]
                from_send += [t - sent for t in times]
                from_response += [t - answered for t in times]
                to_all.append(max(times) - sent)
                committed = datetime.fromisoformat(deliveries.occurred[key]).timestamp()
                from_commit.append(max(times) + wall_minus_perf - committed)
                mutation.append(answered - sent)
            elapsed = time.perf_counter() - started
            cpu = server.cpu_seconds() - cpu_before
            client_cpu = time.process_time() - client_before
            hub_after = await hub_seconds(server)
        rss = server.rss_mib()
    finally:
        for ws in sockets:
            ws.close()
    if ended:
        raise SystemExit(f"{len(ended)} subscriptions ended early; the first: {ended[0]}")

    cpu_ms = cpu / updates * 1000
    n_deliveries = len(from_send)
    goal_ms = EVENT_GOAL_P99_MS if subscribers <= 100 else EVENT_GOAL_MANY_P99_MS
    rows = [
        Row(
            "b) updateOpportunity: mutation round trip",
            updates,
            percentile(mutation, 50) * 1000,
            percentile(mutation, 99) * 1000,
            f"{updates / elapsed:,.0f} updates/s (sequential)",
            rss,
            cpu_ms,
        ),
        timing_row(
            f"b) event, send -> each of {subscribers} subscribers",
            from_send,
            rss,
            f"{n_deliveries / elapsed:,.0f} deliveries/s",
        ),
        timing_row(
            f"b) event, send -> last of {subscribers} subscribers ({selections} selections)",
            to_all,
            rss,
        ),
        timing_row(
            f"b) event, commit -> last of {subscribers} subscribers ({selections} selections)",
            from_commit,
            rss,
            goal_ms=goal_ms,
        ),
        timing_row(f"b) event, mutation response -> each of {subscribers}", from_response, rss),
    ]
    rows[0].notes.append(
        f"server RSS {rss_before:.0f} MiB before the {subscribers} subscribers connected, "
        f"{rss_connected:.0f} MiB once all received an event, {rss:.0f} MiB after the updates"
    )
    preparing, writing = (
        (after - before) / updates * 1000
        for before, after in zip(hub_before, hub_after, strict=True)
    )
    rows[0].notes.append(
        f"per change, the server's hub spent {preparing:.1f} ms preparing the event (its "
        f"audience, each selection's result) and {writing:.1f} ms handing it to the "
        f"{subscribers} subscriptions (writing it to their sockets); this bench's own CPU "
        f"(its subscribers reading, the mutations): {client_cpu / updates * 1000:.1f} ms"
    )
    rows[2].notes.append(
        "from the client's sending updateOpportunity: the mutation's own work before its "
        f"commit included; the slowest: {max(to_all) * 1000:.1f} ms"
    )
    rows[3].notes.append(
        "from the event's occurredAt, taken in the change's transaction just before its "
        "outbox row is written and it commits (so the commit's own round trips included), "
        "to the last subscriber's receipt, on the same machine's clock; p99 by nearest rank "
        f"of {len(from_commit)} changes (at least 200 for it to be a percentile and not the "
        f"slowest one); the slowest: {max(from_commit) * 1000:.1f} ms"
    )
    if missing:
        rows[1].notes.append(f"{missing} deliveries MISSING (5 s timeout)")
    return rows


# --- report -------------------------------------------------------------------------------


def timing_row(
    what: str,
    seconds: Sequence[float],
    rss: float,
    throughput: str = "",
    goal_ms: float | None = None,
) -> Row:
    """A row of p50 and p99 in milliseconds, with a p99 goal if there is one."""
    p99 = percentile(seconds, 99) * 1000
    return Row(
        what,
        len(seconds),
        percentile(seconds, 50) * 1000,
        p99,
        throughput,
        rss,
        None,
        goal=f"p99 <= {goal_ms:.0f} ms" if goal_ms is not None else "",
        met=("yes" if p99 <= goal_ms else "NO") if goal_ms is not None else "",
    )


async def hub_seconds(server: Server) -> tuple[float, float]:
    """What /metrics says the hub spent, in all, preparing events and dispatching them."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        text = (await http.get("/metrics")).text
    found = dict(line.split(" ", 1) for line in text.splitlines() if line.startswith("tandem_"))
    return (
        float(found["tandem_event_preparing_seconds_total"]),
        float(found["tandem_event_dispatching_seconds_total"]),
    )


def machine() -> str:
    model = "unknown CPU"
    with suppress(OSError):
        found = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        if found:
            model = found.group(1).strip()
    return f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}"


def print_table(rows: list[Row]) -> None:
    header = (
        "| what | N | p50 ms | p99 ms | throughput | server RSS MiB | server CPU ms/op "
        "| goal | met |"
    )
    print(header)
    print("|" + "---|" * 9)
    for r in rows:
        cpu = f"{r.cpu_ms_per_op:.2f}" if r.cpu_ms_per_op is not None else ""
        print(
            f"| {r.what} | {r.n:,} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.throughput} "
            f"| {r.rss_mib:.0f} | {cpu} | {r.goal} | {r.met} |"
        )
    notes = [f"- {r.what}: {'; '.join(r.notes)}" for r in rows if r.notes]
    if notes:
        print("\n" + "\n".join(notes))


class Profiler:
    """py-spy sampling the server during one phase, when --profile asks for it."""

    def __init__(self, py_spy: str | None, directory: Path | None, server: Server) -> None:
        self.py_spy = py_spy
        self.directory = directory
        self.server = server
        self.reports: list[str] = []

    @asynccontextmanager
    async def phase(self, name: str) -> AsyncIterator[None]:
        if self.py_spy is None or self.directory is None:
            yield
            return
        output = self.directory / f"{name}.txt"
        process = await asyncio.create_subprocess_exec(
            self.py_spy,
            "record",
            "--pid",
            str(self.server.process.pid),
            "--rate",
            "200",
            "--format",
            "raw",
            "--nonblocking",
            "-o",
            str(output),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            yield
        finally:
            process.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            with suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), timeout=30)
        if output.exists():
            self.reports.append(summarise_profile(name, output))


def summarise_profile(name: str, path: Path, top: int = 15) -> str:
    """Self and inclusive time of the hottest frames in py-spy's collapsed stacks."""
    own: Counter[str] = Counter()
    by_package: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = stack.split(";")
        own[frames[-1]] += samples
        by_package[package_of(frames[-1])] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    if not total:
        return f"### profile: {name}: no samples"
    lines = [f"### profile: {name} ({total} samples, {path})", "", "self time by package:"]
    lines += [f"  {100 * n / total:5.1f}%  {p}" for p, n in by_package.most_common(10)]
    lines += ["", "self time:"]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    lines += ["", "inclusive time (app/, sqlalchemy, asyncpg, strawberry, graphql frames):"]
    interesting = ("app/", "sqlalchemy/", "asyncpg/", "strawberry/", "graphql/")
    chosen = [(f, n) for f, n in inclusive.most_common() if any(k in f for k in interesting)]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in chosen[: top * 2]]
    return "\n".join(lines)


_PACKAGES = (
    "graphql/",
    "strawberry/",
    "sqlalchemy/",
    "asyncpg/",
    "asyncio/",
    "uvicorn/",
    "starlette/",
    "websockets/",
    "app/",
    "json/",
)


def package_of(frame: str) -> str:
    """'f (graphql/execution/executor.py:883)' -> 'graphql'; generated code and the rest."""
    location = frame.rpartition(" (")[2]
    if location.startswith("app/"):  # Tandem's own, app/graphql/ included
        return "app"
    for package in _PACKAGES:
        if package in location:
            return package.rstrip("/")
    return "<generated code>" if "<string>" in location else "other"


def load_average() -> str:
    with suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


async def plan_counters(server: Server) -> list[str]:
    """What /metrics says of the plan executor: operations planned, what the standard
    executor served (by reason: the bench's queries must never fall back), event results."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        text = (await http.get("/metrics")).text
    wanted = ("tandem_planned", "tandem_plan_fallbacks", "tandem_event_results")
    return [line for line in text.splitlines() if line.startswith(wanted)]


async def main(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    load_before = load_average()
    rows: list[Row] = []
    profile_dir: Path | None = args.profile
    py_spy = shutil.which("py-spy") if profile_dir else None
    if profile_dir and py_spy is None:
        print("--profile: py-spy is not on PATH (pip install py-spy); not profiling")
    async with bench_database(args.database_url, args.keep) as database_url:
        with tempfile.TemporaryDirectory(prefix="tandem-bench-") as work:
            await asyncio.to_thread(upgrade, database_url)
            loaded = await seed(database_url, args.opportunities)
            print(f"seeded {loaded.summary()}")
            async with running_server(database_url, Path(work)) as server:
                postgres = await server_version(database_url)
                print(f"server pid {server.process.pid} on port {server.port}; {postgres}")
                profiler = Profiler(py_spy, profile_dir, server)
                admin = await login(server, ADMIN_EMAIL)
                members = [await login(server, e) for e in loaded.member_emails[:20]]
                print(f"server RSS after start and logins: {server.rss_mib():.0f} MiB")
                cursors = await page_cursors(server, members[0], args.pages)

                async with profiler.phase("page"):
                    rows.append(
                        await page_load(
                            server,
                            "a) page of 50 with owner, stage, companies, participants (member)",
                            members[0],
                            PAGE,
                            cursors,
                            requests=args.requests,
                            concurrency=args.concurrency,
                            check=full_page,
                            max_seconds=args.max_seconds,
                        )
                    )
                rows[-1].goal = f">= {PAGE_GOAL_RPS} req/s"
                rps = float(rows[-1].throughput.split()[0].replace(",", ""))
                rows[-1].met = "yes" if rps >= PAGE_GOAL_RPS else "NO"
                print(f"  {rows[-1].what}: {rows[-1].throughput}", flush=True)
                if not args.quick:
                    admin_cursors = await page_cursors(server, admin, args.pages)
                    variants = (
                        (
                            "a) same page as an admin (no visibility filter)",
                            admin,
                            PAGE,
                            admin_cursors,
                            full_page,
                        ),
                        (
                            "a) same page + totalCount (member)",
                            members[0],
                            PAGE_WITH_COUNT,
                            cursors,
                            full_page,
                        ),
                        (
                            "a) page of 50, scalar fields only (member)",
                            members[0],
                            PAGE_PLAIN,
                            cursors,
                            plain_page,
                        ),
                    )
                    for what, token, document, page_after, check in variants:
                        rows.append(
                            await page_load(
                                server,
                                what,
                                token,
                                document,
                                page_after,
                                requests=max(100, args.requests // 5),
                                concurrency=args.concurrency,
                                check=check,
                                max_seconds=args.max_seconds / 3,
                            )
                        )
                        print(f"  {what}: {rows[-1].throughput}", flush=True)
                    wrk_row = await wrk_page(
                        server, members[0], PAGE, seconds=10, connections=args.concurrency
                    )
                    if wrk_row is not None:
                        rows.append(wrk_row)

                async with profiler.phase("events"):
                    rows += await event_fanout(
                        server,
                        admin,
                        members,
                        subscribers=args.subscribers,
                        updates=args.updates,
                        selections=args.selections,
                    )
                plans = await plan_counters(server)
    print()
    print(
        f"Tandem bench, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}, "
        f"load average {load_before} before and {load_average()} after; "
        f"{loaded.opportunities:,} opportunities, {postgres}; server: `tandem serve` "
        "in a subprocess, 1 uvicorn worker (uvloop, httptools), memory:// broadcast; "
        "client: this process on the same machine"
    )
    print()
    print_table(rows)
    print(
        f"\nGoals (issue 2): the page at >= {PAGE_GOAL_RPS} req/s on this 2-core machine; "
        f"the event to all 100 subscribers within {EVENT_GOAL_P99_MS:.0f} ms at p99."
    )
    print("\nplan executor (/metrics): " + (", ".join(plans) or "no counters"))
    for report in profiler.reports:
        print("\n" + report)
    print(f"\nbench took {time.perf_counter() - started:.0f} s")


async def server_version(database_url: str) -> str:
    connection = await asyncpg.connect(**libpq_connect_args(database_url))
    try:
        version = await connection.fetchval("SHOW server_version")
    finally:
        await connection.close()
    return f"PostgreSQL {str(version).split()[0]}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--opportunities", type=int, default=100_000)
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server to create the tandem_bench database on "
        "(default: TANDEM_BENCH_DATABASE_URL, else " + DEFAULT_SERVER + ", else embedded)",
    )
    parser.add_argument("--requests", type=int, default=2000, help="page requests (a)")
    parser.add_argument("--concurrency", type=int, default=16, help="HTTP connections (a)")
    parser.add_argument("--pages", type=int, default=10, help="distinct pages to cycle (a)")
    parser.add_argument("--subscribers", type=int, default=100, help="WebSocket subscribers (b)")
    parser.add_argument("--updates", type=int, default=200, help="measured updates (b)")
    parser.add_argument(
        "--selections", type=int, default=1, help="distinct subscription selections (b)"
    )
    parser.add_argument("--quick", action="store_true", help="skip the page variants and wrk")
    parser.add_argument("--keep", action="store_true", help="keep the tandem_bench database")
    parser.add_argument(
        "--max-seconds", type=float, default=240, help="time cap of the main page phase (a)"
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="sample the server with py-spy (if on PATH) during (a) and (b); raw stacks to DIR",
    )
    args = parser.parse_args(argv)
    if args.profile:
        args.profile = Path(args.profile).resolve()
        args.profile.mkdir(parents=True, exist_ok=True)
    if not 1 <= args.subscribers <= 1000 or not 1 <= args.concurrency <= 256:
        parser.error("--subscribers must be 1..1000 and --concurrency 1..256")
    return args


if __name__ == "__main__":
    # The event loop the server runs on: the client's side of a thousand sockets costs less.
    uvloop.run(main(parse_args()))
