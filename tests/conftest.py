"""Fixtures: a real PostgreSQL, a fresh database per test, a real server on a free port.

The database server is TANDEM_TEST_DATABASE_URL when set (CI uses the machine's own), or else
an embedded PostgreSQL started once for the session. Each test gets its own database, cloned
from a migrated template, and its own running Tandem server, so tests never share state.
"""

from __future__ import annotations

import asyncio
import io
import os
import secrets
from collections.abc import AsyncIterator, Generator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from sqlalchemy.engine import make_url

from app.crm.auth import passwords
from app.crm.unit import NoSink, unit_of_work
from app.crm.users import services as user_services
from app.db import create_engine, create_session_factory
from app.migrate import upgrade
from app.settings import Settings, load_settings, to_asyncpg_url
from app.web import WEBSOCKET_OPTIONS, create_app
from tests import differential
from tests.client import Api

# Hundreds of argon2 hashes at the standard cost would dominate the run; the fast profile
# checks the same code paths.
passwords.configure("fast")

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-password-1"


@dataclass(frozen=True)
class DatabaseServer:
    url: str  # SQLAlchemy asyncpg URL of the server's maintenance database

    def database_url(self, name: str) -> str:
        return make_url(self.url).set(database=name).render_as_string(hide_password=False)

    def connect_args(self) -> dict[str, Any]:
        url = make_url(self.url)
        port = url.query.get("port", "5432")  # a query value may be given more than once
        args: dict[str, Any] = {
            "user": url.username,
            "password": url.password,
            "database": url.database,
            "host": url.query.get("host", url.host),
            "port": url.port or int(port if isinstance(port, str) else port[0]),
        }
        return args

    async def execute(self, sql: str) -> None:
        connection = await asyncpg.connect(**self.connect_args())
        try:
            await connection.execute(sql)
        finally:
            await connection.close()


@pytest.fixture(scope="session")
def database_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseServer]:
    configured = os.environ.get("TANDEM_TEST_DATABASE_URL")
    if configured:
        yield DatabaseServer(to_asyncpg_url(configured))
        return
    from app.embedded import start_embedded_postgres

    server = start_embedded_postgres(tmp_path_factory.mktemp("pg"), database="postgres")
    try:
        yield DatabaseServer(server.url)
    finally:
        server.stop()


@pytest.fixture(scope="session")
async def template_database(database_server: DatabaseServer) -> AsyncIterator[str]:
    """A migrated database that each test's database is cloned from."""
    name = f"tandem_template_{secrets.token_hex(4)}"
    await database_server.execute(f'CREATE DATABASE "{name}"')
    await asyncio.to_thread(upgrade, database_server.database_url(name))
    try:
        yield name
    finally:
        await database_server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class DatabasePool:
    """Fresh databases cloned from the template, made ahead of need.

    CREATE DATABASE takes a few hundred milliseconds; the next test's database is cloned while
    the current test runs, and used ones are dropped in the background.
    """

    def __init__(self, server: DatabaseServer, template: str, ahead: int = 2) -> None:
        self._server = server
        self._template = template
        self._ready: asyncio.Queue[asyncio.Task[str]] = asyncio.Queue()
        self._drops: set[asyncio.Task[None]] = set()
        for _ in range(ahead):
            self._prepare()

    def _prepare(self) -> None:
        self._ready.put_nowait(asyncio.ensure_future(self._create()))

    async def _create(self) -> str:
        name = f"tandem_test_{secrets.token_hex(6)}"
        await self._server.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self._template}"')
        return name

    async def take(self) -> str:
        name = await self._ready.get_nowait()
        self._prepare()
        return name

    def give_back(self, name: str) -> None:
        task = asyncio.ensure_future(
            self._server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        )
        self._drops.add(task)
        task.add_done_callback(self._drops.discard)

    async def close(self) -> None:
        while not self._ready.empty():
            self.give_back(await self._ready.get_nowait())
        await asyncio.gather(*self._drops)


@pytest.fixture(scope="session")
async def database_pool(
    database_server: DatabaseServer, template_database: str
) -> AsyncIterator[DatabasePool]:
    pool = DatabasePool(database_server, template_database)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def database_url(
    database_server: DatabaseServer, database_pool: DatabasePool
) -> AsyncIterator[str]:
    name = await database_pool.take()
    try:
        yield database_server.database_url(name)
    finally:
        database_pool.give_back(name)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    base = load_settings(
        {
            "TANDEM_DATA_DIR": str(tmp_path),
            "TANDEM_SECRET_KEY": "x" * 32,
            "TANDEM_PASSWORD_HASHING": "fast",
        }
    )
    return replace(base, log_level="warning")


@dataclass
class RunningServer:
    api: Api
    database_url: str
    settings: Settings
    app: Any
    admin_token: str
    mirror: differential.Mirror | None = None
    """With TANDEM_TEST_DIFFERENTIAL=1: the transport that sends queries to the twin too."""

    @property
    def runtime(self) -> Any:
        return self.app.state.runtime


async def create_admin(database_url: str) -> None:
    engine = create_engine(database_url, pool_size=1)
    try:
        async with unit_of_work(create_session_factory(engine), None, NoSink()) as unit:
            await user_services.create_user(
                unit, email=ADMIN_EMAIL, name="Ada Admin", password=ADMIN_PASSWORD, role="ADMIN"
            )
    finally:
        await engine.dispose()


class _Server(uvicorn.Server):
    """uvicorn's server, told to stop by an event: its own loop looks at a flag every 0.1 s,
    which over hundreds of tests adds up to minutes of waiting."""

    def __init__(self, config: uvicorn.Config, stop: asyncio.Event) -> None:
        super().__init__(config)
        self._stop = stop

    async def main_loop(self) -> None:
        await self.on_tick(0)
        await self._stop.wait()


@asynccontextmanager
async def serve(
    settings: Settings,
    database_url: str,
    *,
    mirror: differential.Mirror | None = None,
    stop: asyncio.Event | None = None,
    alone: bool = True,
) -> AsyncIterator[tuple[Api, Any]]:
    """Run the real app under uvicorn on a free port in this event loop; with `mirror`, the
    client's requests go through it (tests/differential.py). Servers given one `stop` event
    shut down together when the first of them leaves its block. `alone=False`: the app takes
    no place among the servers on the database (for the differential twin beside another)."""
    app = create_app(settings, database_url, alone=alone)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="on",
        **WEBSOCKET_OPTIONS,
    )
    stop = stop or asyncio.Event()
    server = _Server(config, stop)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the server stopped during start-up")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=30, transport=mirror) as http:
            yield Api(base_url, http), app
    finally:
        stop.set()
        await _stopped(task)


SHUTDOWN_SECONDS = 30.0
"""How long a test's server may take to stop: uvicorn waits for every connection to end,
and one left hanging would otherwise hang the whole run."""


async def _stopped(task: asyncio.Task[None]) -> None:
    """Wait for the server's task; one that does not end in time fails the test with what
    every other task was waiting on, instead of hanging the run."""
    try:
        await asyncio.wait_for(asyncio.shield(task), SHUTDOWN_SECONDS)
        return
    except TimeoutError:
        pass
    stacks = io.StringIO()
    for other in asyncio.all_tasks():
        if other is not asyncio.current_task():
            other.print_stack(limit=12, file=stacks)
    task.cancel()
    with suppress(BaseException):
        await task
    raise AssertionError(
        f"the server did not stop within {SHUTDOWN_SECONDS:.0f} s; its tasks:\n{stacks.getvalue()}"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Each phase's report on the test, so a fixture's teardown can see how the test went."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if differential.enabled():
        counts = ", ".join(f"{n} {what}" for what, n in sorted(differential.TOTALS.items()))
        terminalreporter.write_line(f"differential: queries sent to both executors: {counts}")


@pytest.fixture
async def server(
    settings: Settings, database_url: str, request: pytest.FixtureRequest
) -> AsyncIterator[RunningServer]:
    await create_admin(database_url)
    async with AsyncExitStack() as stack:
        mirror = None
        stop = asyncio.Event()
        if differential.enabled():
            # The twin: the same app on the same database, with graphql-core's executor.
            standard = replace(settings, executor="standard")
            twin, _twin_app = await stack.enter_async_context(
                serve(standard, database_url, stop=stop, alone=False)
            )
            mirror = differential.Mirror(twin.http)
        api, app = await stack.enter_async_context(
            serve(settings, database_url, mirror=mirror, stop=stop)
        )
        token = await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        yield RunningServer(api, database_url, settings, app, token, mirror)
    call = getattr(request.node, "report_call", None)
    if mirror is not None and mirror.differences and call is not None and call.passed:
        # The test caught the failure the difference raised: fail it anyway.
        pytest.fail("\n\n".join(mirror.differences), pytrace=False)


@pytest.fixture
def api(server: RunningServer) -> Api:
    return server.api


@pytest.fixture
def admin_token(server: RunningServer) -> str:
    return server.admin_token
