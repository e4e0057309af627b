"""`tandem serve --workers N` (app/workers.py): N real processes on one port, one database, no
Redis, and every live-update guarantee held across them.

Subscribers and writers land on different workers (each answer names its worker in the
`Tandem-Worker` header, the WebSocket handshake's too): every subscriber gets every change
exactly once in commit order, and one that comes back with `since` resumes without gap or
repeat. SIGTERM to the parent stops every worker and clients get 1012; a worker killed with
SIGKILL is replaced and its clients resume from their cursors. A server started on its own
with `memory://` beside the workers is refused; the embedded PostgreSQL serves workers too.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections.abc import AsyncIterator, Collection
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.settings import Settings
from app.workers import WORKER_HEADER
from tests.client import Api, Subscriber
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, create_admin
from tests.processes import TANDEM, free_port, tandem_env, wait_until_healthy
from tests.test_cli import tandem

WORKERS = 2
STOP_BOUND_SECONDS = 60
"""How long the parent may take to stop (a guard against a hang, not a speed check)."""

EVENTS = """
subscription Events($since: String) {
  opportunityEvents(since: $since) { cursor kind opportunityId version }
}
"""
CREATE = """mutation($i: CreateOpportunityInput!) { createOpportunity(input: $i) {
  opportunity { id version } userErrors { field code message } } }"""
CHANGE_PASSWORD = """mutation($i: ChangePasswordInput!) { changePassword(input: $i) {
  userErrors { field code message } } }"""
UPDATE = """mutation($i: UpdateOpportunityInput!) { updateOpportunity(input: $i) {
  opportunity { id version } userErrors { field code message } } }"""


@dataclass
class Served:
    api: Api
    process: asyncio.subprocess.Process
    log: Path
    workers: set[int]
    """The workers' process ids, as their answers name them."""


def logged(log: Path) -> str:
    """What `tandem serve` wrote so far (a small file: read at once)."""
    return log.read_text()


def worker_of(response: httpx.Response) -> int:
    return int(response.headers[WORKER_HEADER])


def worker_of_socket(subscriber: Subscriber) -> int:
    response = subscriber.ws.response
    assert response is not None
    return int(response.headers[WORKER_HEADER])


async def worker_of_new_connection(base_url: str) -> int:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        response = await http.get("/health")
        assert response.status_code == 200, response.text
        return worker_of(response)


async def workers_answering(
    base_url: str, count: int, *, without: Collection[int] = ()
) -> set[int]:
    """The first `count` workers (not among `without`) seen answering on new connections:
    the kernel hands each connection to whichever worker accepts it first."""
    seen: set[int] = set()
    for _ in range(600):
        try:
            pid = await worker_of_new_connection(base_url)
        except httpx.TransportError:
            pid = None  # a worker dying as it accepted
        if pid is not None and pid not in without:
            seen.add(pid)
            if len(seen) == count:
                return seen
        await asyncio.sleep(0.05)
    raise AssertionError(f"only workers {seen} answered; expected {count}")


@asynccontextmanager
async def serving(
    env: dict[str, str], log: Path, *, migrate: bool = False
) -> AsyncIterator[Served]:
    port = free_port()
    with log.open("ab") as sink:
        process = await asyncio.create_subprocess_exec(
            TANDEM,
            "serve",
            "--workers",
            str(WORKERS),
            *([] if migrate else ["--no-migrate"]),
            env={**env, "TANDEM_PORT": str(port)},
            stdout=sink,
            stderr=sink,
        )
    try:
        base_url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            try:
                await wait_until_healthy(http, process)
            except AssertionError as failure:
                raise AssertionError(f"{failure}; its log:\n{logged(log)[-4000:]}") from None
            workers = await workers_answering(base_url, WORKERS)
            yield Served(Api(base_url, http), process, log, workers)
    finally:
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.wait(), timeout=STOP_BOUND_SECONDS)


def workers_env(settings: Settings, database_url: str | None, **extra: str) -> dict[str, str]:
    return tandem_env(settings, database_url, TANDEM_PASSWORD_HASHING="fast", **extra)


async def subscribers_on_every_worker(
    stack: AsyncExitStack, served: Served, token: str, since: str | None, per_worker: int
) -> dict[int, list[Subscriber]]:
    """Sockets opened until each worker holds `per_worker` of them (extra ones are closed),
    each subscribed to every event after `since`."""
    held: dict[int, list[Subscriber]] = {pid: [] for pid in served.workers}
    for _ in range(200):
        if all(len(subs) >= per_worker for subs in held.values()):
            break
        async with AsyncExitStack() as attempt:
            subscriber = await attempt.enter_async_context(served.api.subscriber(token))
            pid = worker_of_socket(subscriber)
            if len(held[pid]) < per_worker:
                await subscriber.subscribe(EVENTS, {"since": since})
                held[pid].append(subscriber)
                stack.push_async_exit(attempt.pop_all())
    assert all(len(subs) >= per_worker for subs in held.values()), {
        pid: len(subs) for pid, subs in held.items()
    }
    return held


async def events(subscriber: Subscriber, count: int) -> list[dict[str, Any]]:
    return [(await subscriber.next(timeout=30))["opportunityEvents"] for _ in range(count)]


async def everyone_gets(subscribers: list[Subscriber], count: int) -> list[list[dict[str, Any]]]:
    """`count` events on each socket and then nothing: no event comes twice (the outbox poll
    runs every second, so a repeat would come within the silence)."""
    received = await asyncio.gather(*(events(s, count) for s in subscribers))
    await asyncio.gather(*(s.expect_silence(2.0) for s in subscribers))
    return list(received)


async def create(
    http: httpx.AsyncClient, token: str, name: str, visibility: str = "PUBLIC"
) -> tuple[dict[str, Any], int]:
    values = {
        "name": name,
        "expectedValue": {"amount": "10.00", "currency": "EUR"},
        "visibility": visibility,
    }
    return await _mutate(http, token, "createOpportunity", CREATE, {"i": values})


async def update(http: httpx.AsyncClient, token: str, deal: dict[str, Any], next_step: str) -> int:
    """The worker that answered; `deal` gets its new version."""
    values = {"id": deal["id"], "expectedVersion": deal["version"], "nextStep": next_step}
    updated, pid = await _mutate(http, token, "updateOpportunity", UPDATE, {"i": values})
    deal["version"] = updated["version"]
    return pid


async def _mutate(
    http: httpx.AsyncClient, token: str, name: str, query: str, variables: dict[str, Any]
) -> tuple[dict[str, Any], int]:
    response = await http.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors") and not body["data"][name]["userErrors"], body
    opportunity: dict[str, Any] = body["data"][name]["opportunity"]
    return opportunity, worker_of(response)


async def writers_on_every_worker(
    stack: AsyncExitStack, served: Served, per_worker: int
) -> list[httpx.AsyncClient]:
    """HTTP clients, each keeping its connection to one worker, `per_worker` on each."""
    held: dict[int, list[httpx.AsyncClient]] = {pid: [] for pid in served.workers}
    for _ in range(200):
        if all(len(clients) >= per_worker for clients in held.values()):
            break
        http = httpx.AsyncClient(base_url=served.api.base_url, timeout=30)
        pid = worker_of(await http.get("/health"))
        if len(held[pid]) < per_worker:
            held[pid].append(http)
            stack.push_async_callback(http.aclose)
        else:
            await http.aclose()
    assert all(len(clients) >= per_worker for clients in held.values()), held
    return [http for clients in held.values() for http in clients]


def cursors(received: list[dict[str, Any]]) -> list[int]:
    return [int(event["cursor"]) for event in received]


async def test_every_subscriber_on_every_worker_gets_every_change_once_in_commit_order(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    await create_admin(database_url)
    log = tmp_path / "serve.log"
    env = workers_env(settings, database_url, TANDEM_LOG_LEVEL="info")
    async with serving(env, log) as served, AsyncExitStack() as stack:
        assert len(served.workers) == WORKERS
        assert "workers share live events through PostgreSQL LISTEN/NOTIFY" in logged(log)
        token = await served.api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        _, member = await served.api.create_user(token, "mia@example.com")
        on = await subscribers_on_every_worker(stack, served, token, "0", per_worker=2)
        subscribers = [s for subs in on.values() for s in subs]
        members = await subscribers_on_every_worker(stack, served, member, "0", per_worker=1)
        writers = await writers_on_every_worker(stack, served, per_worker=2)

        # Concurrent writers on both workers, each on its own deal; half of them private.
        async def write(http: httpx.AsyncClient, n: int) -> list[tuple[str, int, int]]:
            deal, pid = await create(http, token, f"Deal {n}", ("PUBLIC", "PRIVATE")[n % 2])
            done = [(deal["id"], deal["version"], pid)]
            for step in range(5):
                pid = await update(http, token, deal, f"step {step}")
                done.append((deal["id"], deal["version"], pid))
            return done

        by_writer = await asyncio.gather(*map(write, writers, range(4)))
        written = [change for changes in by_writer for change in changes]
        public_deals = {changes[0][0] for n, changes in enumerate(by_writer) if n % 2 == 0}
        assert {pid for _, _, pid in written} == served.workers
        received = await everyone_gets(subscribers, len(written))

        # One order for all, the commit order: gap-free cursors, each change once.
        assert all(r == received[0] for r in received)
        assert cursors(received[0]) == list(range(1, len(written) + 1))
        assert sorted((e["opportunityId"], e["version"]) for e in received[0]) == sorted(
            (deal, version) for deal, version, _ in written
        )
        for deal in {deal for deal, _, _ in written}:
            versions = [e["version"] for e in received[0] if e["opportunityId"] == deal]
            assert versions == list(range(1, 7))

        # A member sees the public deals' changes only, in the same order, on every worker.
        public = [e for e in received[0] if e["opportunityId"] in public_deals]
        assert len(public) == len(written) // 2
        seen = await everyone_gets([s for subs in members.values() for s in subs], len(public))
        assert all(r == public for r in seen)

        # Back with the cursor of the tenth event, on each worker: the rest, nothing twice.
        resumed = await subscribers_on_every_worker(
            stack, served, token, received[0][9]["cursor"], per_worker=1
        )
        rest = await everyone_gets(
            [s for subs in resumed.values() for s in subs], len(written) - 10
        )
        assert all(r == received[0][10:] for r in rest)

        # Each worker's broker (the database's LISTEN/NOTIFY) is connected.
        brokers: dict[int, str] = {}
        for _ in range(200):
            async with httpx.AsyncClient(base_url=served.api.base_url, timeout=30) as http:
                answer = await http.get("/health")
            brokers[worker_of(answer)] = answer.json()["broker"]
            if len(brokers) == WORKERS:
                break
        assert brokers == {pid: "connected" for pid in served.workers}


async def test_sigterm_stops_every_worker_and_their_clients_get_1012(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    await create_admin(database_url)
    async with serving(workers_env(settings, database_url), tmp_path / "log") as served:
        token = await served.api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        async with AsyncExitStack() as stack:
            on = await subscribers_on_every_worker(stack, served, token, "0", per_worker=2)
            await create(served.api.http, token, "Before the restart")
            subscribers = [s for subs in on.values() for s in subs]
            await everyone_gets(subscribers, 1)

            served.process.send_signal(signal.SIGTERM)
            for subscriber in subscribers:
                await asyncio.wait_for(subscriber.ws.wait_closed(), STOP_BOUND_SECONDS)
            assert [s.ws.close_code for s in subscribers] == [1012] * len(subscribers)
            code = await asyncio.wait_for(served.process.wait(), STOP_BOUND_SECONDS)
    assert code == 0
    for pid in served.workers:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


async def test_a_killed_worker_is_replaced_and_its_clients_resume_from_their_cursors(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    await create_admin(database_url)
    log = tmp_path / "serve.log"
    async with serving(workers_env(settings, database_url), log) as served:
        token = await served.api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        async with AsyncExitStack() as stack:
            on = await subscribers_on_every_worker(stack, served, token, "0", per_worker=2)
            deal, _ = await create(served.api.http, token, "Survives a worker")
            first = await everyone_gets([s for subs in on.values() for s in subs], 1)
            last_cursor = first[0][0]["cursor"]

            victim, survivor = sorted(served.workers)
            os.kill(victim, signal.SIGKILL)
            for subscriber in on[victim]:
                await asyncio.wait_for(subscriber.ws.wait_closed(), 30)

            # Changes meanwhile, through whichever worker takes the new connections.
            async with httpx.AsyncClient(base_url=served.api.base_url, timeout=30) as http:
                for step in ("after the kill 1", "after the kill 2", "after the kill 3"):
                    await update(http, token, deal, step)
            kept = await everyone_gets(on[survivor], 3)

            # The parent starts another worker in the dead one's place.
            (replacement,) = await workers_answering(
                served.api.base_url, 1, without={victim, survivor}
            )
            assert re.search(
                rf"worker {victim} ended .*worker {replacement} takes its place", logged(log)
            )

            # The victim's clients come back with their last cursor, on any worker.
            back = await subscribers_on_every_worker(
                stack,
                Served(served.api, served.process, log, {survivor, replacement}),
                token,
                last_cursor,
                per_worker=1,
            )
            resumed = await everyone_gets([s for subs in back.values() for s in subs], 3)
    assert all(r == kept[0] for r in kept + resumed)
    assert [e["version"] for e in kept[0]] == [2, 3, 4]
    assert cursors(kept[0]) == [int(last_cursor) + n for n in (1, 2, 3)]


async def test_workers_stop_by_themselves_when_their_parent_is_killed(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    await create_admin(database_url)
    async with serving(workers_env(settings, database_url), tmp_path / "log") as served:
        token = await served.api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        async with AsyncExitStack() as stack:
            on = await subscribers_on_every_worker(stack, served, token, "0", per_worker=1)
            served.process.send_signal(signal.SIGKILL)
            subscribers = [s for subs in on.values() for s in subs]
            for subscriber in subscribers:
                await asyncio.wait_for(subscriber.ws.wait_closed(), STOP_BOUND_SECONDS)
            # Stopped as on SIGTERM, not left holding the port with nobody to replace them.
            assert [s.ws.close_code for s in subscribers] == [1012] * len(subscribers)
    for pid in served.workers:
        for _ in range(STOP_BOUND_SECONDS * 10):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"worker {pid} still runs without its parent")


async def test_a_server_in_memory_beside_the_workers_refuses_to_start(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    await create_admin(database_url)
    env = workers_env(settings, database_url)
    async with serving(env, tmp_path / "log") as served:
        alone = await tandem({**env, "TANDEM_PORT": str(free_port())}, "serve", "--no-migrate")
        assert alone.code == 2
        assert "another Tandem server is running on this database" in alone.stderr
        assert "Traceback" not in alone.stderr, alone.stderr
        # The workers serve on, undisturbed.
        assert (await served.api.http.get("/health")).json()["status"] == "ok"


@pytest.mark.parametrize(
    ("args", "variable", "named"),
    [
        (["--workers", "0"], None, "--workers"),
        (["--workers", "many"], None, "--workers"),
        ([], "65", "TANDEM_WORKERS"),
        ([], "two", "TANDEM_WORKERS"),
    ],
)
async def test_a_bad_number_of_workers_is_a_clear_error(
    settings: Settings, args: list[str], variable: str | None, named: str
) -> None:
    extra = {"TANDEM_WORKERS": variable} if variable is not None else {}
    result = await tandem(tandem_env(settings, None, **extra), "serve", *args)
    assert result.code == 2
    assert named in result.stderr, result.stderr
    assert repr(args[-1] if args else variable).strip("'") in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr


async def test_workers_on_the_embedded_database(settings: Settings, tmp_path: Path) -> None:
    """No TANDEM_DATABASE_URL: the parent starts PostgreSQL and migrates it, once; the
    workers connect to it, share events through it, and it stops after them."""
    log = tmp_path / "serve.log"
    env = workers_env(settings, None, TANDEM_LOG_LEVEL="info")
    async with serving(env, log, migrate=True) as served:
        printed = re.search(r"password:\s+(\S+)", logged(log))
        assert printed, logged(log)
        first = await served.api.login("admin@tandem.local", printed.group(1))
        new = {"currentPassword": printed.group(1), "newPassword": "a brand new secret phrase"}
        await served.api.mutate("changePassword", CHANGE_PASSWORD, {"i": new}, first)
        token = await served.api.login("admin@tandem.local", new["newPassword"])
        async with AsyncExitStack() as stack:
            on = await subscribers_on_every_worker(stack, served, token, "0", per_worker=1)
            writers = await writers_on_every_worker(stack, served, per_worker=1)
            for n, http in enumerate(writers):
                await create(http, token, f"Embedded {n}")
            received = await everyone_gets([s for subs in on.values() for s in subs], 2)
        assert all(cursors(r) == [1, 2] for r in received)
        assert logged(log).count("Running upgrade  -> 0001") == 1
        served.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(served.process.wait(), STOP_BOUND_SECONDS) == 0
    assert not (settings.data_dir / "postgres" / "postmaster.pid").exists()
