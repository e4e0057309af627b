"""The `tandem` command: serve, migrate, seed, create-user, persisted-queries, export-schema."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

from app.settings import MOST_WORKERS, Settings, SettingsError, load_settings

log = logging.getLogger("tandem")

DEFAULT_ADMIN_EMAIL = "admin@tandem.local"


def _fail(message: str) -> NoReturn:
    print(f"tandem: {message}", file=sys.stderr)
    raise SystemExit(2)


@contextmanager
def database(settings: Settings) -> Iterator[str]:
    """The configured database, or the embedded one (started here, stopped on exit)."""
    if settings.database_url is not None:
        yield settings.database_url
        return
    from app.embedded import start_embedded_postgres

    server = start_embedded_postgres(settings.data_dir)
    try:
        yield server.url
    finally:
        server.stop()


def _migrate(url: str) -> None:
    from app.migrate import upgrade

    upgrade(url)


async def _bootstrap_admin(url: str) -> None:
    """On an empty database, create an admin with a one-time password and say so."""
    from app.crm.auth.passwords import generate_password
    from app.crm.unit import NoSink, unit_of_work
    from app.crm.users import services
    from app.db import create_engine, create_session_factory

    engine = create_engine(url, pool_size=1)
    try:
        async with unit_of_work(create_session_factory(engine), None, NoSink()) as unit:
            if await services.count_users(unit):
                return
            password = generate_password()
            await services.create_user(
                unit,
                email=DEFAULT_ADMIN_EMAIL,
                name="Administrator",
                password=password,
                role="ADMIN",
                must_change_password=True,
            )
    finally:
        await engine.dispose()
    print(
        "\n  Tandem has no users yet, so it created an admin:\n"
        f"    e-mail:   {DEFAULT_ADMIN_EMAIL}\n"
        f"    password: {password}   (one-time: change it with the changePassword mutation)\n"
        "  Log in with the `login` mutation; `tandem create-user` adds more users.\n",
        flush=True,
    )


async def _beside_the_others(url: str, broadcast_url: str) -> str | None:
    """Why this server cannot run beside the others on its database, if it cannot: said
    plainly here, before uvicorn starts (the app takes its place for good when it starts)."""
    from app.events.neighbours import Neighbours

    neighbours = Neighbours(url, broadcast_url)
    problem = await neighbours.claim()
    await neighbours.release()
    return problem


def cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    from app.logs import uvicorn_log_config
    from app.shutdown import SERVER_OPTIONS
    from app.web import WEBSOCKET_OPTIONS, create_app

    workers = args.workers or settings.workers
    # uvicorn re-raises SIGTERM after its graceful shutdown; turning it into SystemExit lets
    # the `finally` below stop the embedded PostgreSQL instead of leaving it running.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    with database(settings) as url:
        if settings.auto_migrate and not args.no_migrate:
            _migrate(url)  # here, once, also for many workers (app/workers.py)
        asyncio.run(_bootstrap_admin(url))
        broadcast_url = settings.broadcast_url
        if workers > 1:
            from app.workers import shared_broadcast_url

            broadcast_url = shared_broadcast_url(broadcast_url, url, workers)
        problem = asyncio.run(_beside_the_others(url, broadcast_url))
        if problem is not None:
            _fail(problem)
        options: dict[str, Any] = dict(
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            # No query values, no wire dump (app/logs.py); JSON lines if so configured.
            log_config=uvicorn_log_config(settings.log_format),
            # uvicorn formats each request's access line (quoting its path) before the
            # logger drops it: a fortieth of a small request's CPU, for nothing above "info".
            access_log=settings.log_level in ("debug", "info"),
            **WEBSOCKET_OPTIONS,
            **SERVER_OPTIONS,  # requests in flight finish within a bound (app/shutdown.py)
            proxy_headers=True,
        )
        if workers > 1:
            from app.workers import run_workers

            if not run_workers(workers, url, broadcast_url, options):
                _fail("a worker could not start (its log says why); every worker was stopped")
            return
        try:
            app = create_app(settings, url, stop_within=True)
        except SettingsError as error:
            _fail(str(error))
        tune_garbage_collector()
        uvicorn.run(app, **options)


def tune_garbage_collector() -> None:
    """For a server process, once its app is built (`serve`, and each worker of it)."""
    # The modules, schema and caches loaded so far live as long as the process: keep them
    # out of every full collection. Measured (bench/orders.py): p99 of reading a 500-line
    # order 132 -> 67 ms, of updating one of its lines 94 -> 32 ms; small requests alike.
    gc.freeze()
    # What a server allocates is nearly all freed by reference counting; the cycle
    # collector's default pace (a young collection every 700 allocations) spent 40 % of
    # the CPU of one change reaching 1,000 subscribers, and its full collections over
    # their connections made the tail (bench/run.py, 1,000 subscribers: CPU per change
    # 89 -> 58 ms, p99 to the last subscriber 275 -> 100 ms).
    gc.set_threshold(50_000, 20, 100)


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> None:
    with database(settings) as url:
        _migrate(url)
    print("database schema is up to date")


def cmd_create_user(settings: Settings, args: argparse.Namespace) -> None:
    from app.crm.errors import DomainError
    from app.crm.unit import NoSink, unit_of_work
    from app.crm.users import services
    from app.db import create_engine, create_session_factory

    async def create(url: str) -> None:
        engine = create_engine(url, pool_size=1)
        try:
            async with unit_of_work(create_session_factory(engine), None, NoSink()) as unit:
                await services.create_user(
                    unit, email=args.email, name=args.name, password=args.password, role=args.role
                )
        finally:
            await engine.dispose()

    with database(settings) as url:
        _migrate(url)
        try:
            asyncio.run(create(url))
        except DomainError as error:
            _fail(error.message)
    print(f"created {args.role.lower()} {args.email}")


def cmd_seed(settings: Settings, args: argparse.Namespace) -> None:
    from app.demo import seed_demo

    if not args.demo:
        _fail("say what to seed: `tandem seed --demo` loads a demo sales team")
    with database(settings) as url:
        _migrate(url)
        summary = asyncio.run(seed_demo(url, opportunities=args.opportunities))
    print(summary)


def cmd_rebuild_totals(settings: Settings, args: argparse.Namespace) -> None:
    from app.crm.opportunities import totals
    from app.db import create_engine, create_session_factory

    async def rebuild(url: str) -> int:
        engine = create_engine(url, pool_size=1)
        try:
            async with create_session_factory(engine)() as session:
                return await totals.rebuild(session)
        finally:
            await engine.dispose()

    with database(settings) as url:
        _migrate(url)
        wrong = asyncio.run(rebuild(url))
    print(f"pipeline totals rebuilt from the opportunities; {wrong} keys had drifted")


def cmd_register_persisted_queries(settings: Settings, args: argparse.Namespace) -> None:
    """Register every `.graphql` file below a directory, as an admin would one by one; a
    document registered already is left as it is, so running it again changes nothing."""
    from functools import partial
    from pathlib import Path

    from app.crm.errors import DomainError, ErrorCode
    from app.crm.persisted import services
    from app.crm.unit import NoSink, unit_of_work
    from app.db import create_engine, create_session_factory
    from app.graphql.persisted.checks import problem
    from app.graphql.persisted.files import DocumentFileError, read_directory
    from app.graphql.schema import schema

    directory = Path(args.directory)
    if not directory.is_dir():
        _fail(f"{args.directory} is not a directory")
    try:
        files = read_directory(directory)
    except DocumentFileError as error:
        _fail(str(error))
    if not files:
        _fail(f"{args.directory} holds no .graphql files")

    async def register(url: str) -> tuple[int, int]:
        engine = create_engine(url, pool_size=1)
        check = partial(problem, schema._schema)
        added = kept = 0
        try:
            # One transaction for all: a file that cannot run registers none of them.
            async with unit_of_work(create_session_factory(engine), None, NoSink()) as unit:
                for file in files:
                    try:
                        await services.register(
                            unit, document=file.text, name=file.name, check=check
                        )
                        added += 1
                    except DomainError as error:
                        if error.code is not ErrorCode.DUPLICATE:
                            message = f"{file.name}.graphql: {error.message}"
                            raise DomainError(error.code, message) from None
                        kept += 1
        finally:
            await engine.dispose()
        return added, kept

    with database(settings) as url:
        _migrate(url)
        try:
            added, kept = asyncio.run(register(url))
        except DomainError as error:
            _fail(f"{error.message}; nothing was registered")
    print(f"registered {added} documents; {kept} were registered already")


def cmd_export_schema(settings: Settings, args: argparse.Namespace) -> None:
    from app.graphql.schema import schema

    sys.stdout.write(schema.as_str() + "\n")


def _worker_count(raw: str) -> int:
    try:
        count = int(raw)
    except ValueError:
        count = 0
    if not 1 <= count <= MOST_WORKERS:
        raise argparse.ArgumentTypeError(f"expected a number from 1 to {MOST_WORKERS}, got {raw!r}")
    return count


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tandem", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the server (migrates first)")
    serve.add_argument("--no-migrate", action="store_true", help="do not apply migrations")
    serve.add_argument(
        "--workers",
        type=_worker_count,
        metavar="N",
        help=f"server processes on this host (1 to {MOST_WORKERS}; default TANDEM_WORKERS, or 1)",
    )
    serve.set_defaults(handler=cmd_serve)

    migrate = commands.add_parser("migrate", help="apply pending database migrations")
    migrate.set_defaults(handler=cmd_migrate)

    seed = commands.add_parser("seed", help="load sample data")
    seed.add_argument("--demo", action="store_true", help="a demo sales team and pipeline")
    seed.add_argument("--opportunities", type=int, default=200, help="how many (default 200)")
    seed.set_defaults(handler=cmd_seed)

    create_user = commands.add_parser("create-user", help="add a user")
    create_user.add_argument("--email", required=True)
    create_user.add_argument("--name", required=True)
    create_user.add_argument("--password", required=True)
    create_user.add_argument("--role", choices=("ADMIN", "MEMBER"), default="MEMBER")
    create_user.set_defaults(handler=cmd_create_user)

    rebuild = commands.add_parser(
        "rebuild-totals", help="count the pipeline's running totals afresh from the deals"
    )
    rebuild.set_defaults(handler=cmd_rebuild_totals)

    persisted = commands.add_parser("persisted-queries", help="manage the persisted queries")
    persisted_commands = persisted.add_subparsers(dest="persisted_command", required=True)
    register = persisted_commands.add_parser(
        "register", help="register every .graphql file below a directory (one document each)"
    )
    register.add_argument("directory")
    register.set_defaults(handler=cmd_register_persisted_queries)

    export = commands.add_parser("export-schema", help="print the GraphQL SDL")
    export.set_defaults(handler=cmd_export_schema)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as error:
        _fail(str(error))
    configure_logging(settings)
    from app.crm.auth import passwords

    passwords.configure(settings.password_hashing)
    args.handler(settings, args)


def configure_logging(settings: Settings) -> None:
    """This process's log (every command, and each worker of `serve`: app/workers.py)."""
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if settings.log_format == "json":
        from app.log_format import log_json

        log_json()
    # Alembic announces each of its plugins at INFO; only the migrations it runs matter.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


if __name__ == "__main__":
    main()
