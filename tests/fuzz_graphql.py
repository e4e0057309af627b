"""Fuzz the running server through its GraphQL schema with schemathesis (GraphQL mode).

    .venv/bin/python tests/fuzz_graphql.py [--examples 40] [--seconds 300]

Sets up a throw-away database (a new one on TANDEM_TEST_DATABASE_URL's server, else an embedded
PostgreSQL), loads the demo sales team with `tandem seed --demo`, adds an admin, starts
`tandem serve` on a free port of 127.0.0.1 and lets schemathesis generate queries and mutations
for every root field, sent as that admin. IDs are drawn from the seeded records as well as made
up, so mutations reach real rows. A case fails when the answer is a 5xx, or a 200 whose errors
hold an INTERNAL_SERVER_ERROR (an exception that escaped). Prints the case count per outcome
and every failing case; exits non-zero on any failure. `.ci/run` runs it after the tests.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import schemathesis
import schemathesis.graphql
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.core.result import Err
from schemathesis.graphql import nodes

ROOT = Path(__file__).resolve().parent.parent
TANDEM = str(Path(sys.executable).parent / "tandem")
ADMIN = ("fuzz-admin@example.com", "fuzz admin password")
# Every node type's IDs, read from the seeded data to give the fuzzer real targets.
ID_QUERIES = {
    "opportunities": "{ opportunities(first: 20) { nodes { id participants { id } } } }",
    "companies": "{ companies(first: 20) { nodes { id } } }",
    "contacts": "{ contacts(first: 20) { nodes { id } } }",
    "people": "{ users { id } teams { id } stages { id } folders { id } lostReasons { id } }",
    "views": "{ views { id } }",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def run(env: dict[str, str], *args: str) -> None:
    subprocess.run([TANDEM, *args], env=env, check=True, stdout=subprocess.DEVNULL)


def database_env(work: Path) -> tuple[dict[str, str], str | None]:
    """Environment for the `tandem` commands, and the database to drop afterwards."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
    env.update(
        TANDEM_DATA_DIR=str(work),
        TANDEM_SECRET_KEY=secrets.token_urlsafe(32),
        TANDEM_PASSWORD_HASHING="fast",
        TANDEM_LOG_LEVEL="warning",
    )
    server = os.environ.get("TANDEM_TEST_DATABASE_URL")
    if not server:
        return env, None  # each command starts the embedded server in the data directory
    name = f"tandem_fuzz_{secrets.token_hex(4)}"
    admin_url = server.replace("postgresql+asyncpg://", "postgresql://")
    subprocess.run(["psql", admin_url, "-qc", f'CREATE DATABASE "{name}"'], check=True)
    env["TANDEM_DATABASE_URL"] = admin_url.rsplit("/", 1)[0] + f"/{name}"
    return env, name


def collect_ids(http: httpx.Client) -> list[str]:
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                if key == "id" and isinstance(inner, str):
                    found.add(inner)
                else:
                    walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    for query in ID_QUERIES.values():
        walk(http.post("/graphql", json={"query": query}).json().get("data"))
    return sorted(found)


def made_up_ids() -> st.SearchStrategy[str]:
    # Well-formed global IDs of unknown rows and types, and plain garbage.
    encoded = st.tuples(
        st.sampled_from(["Opportunity", "Company", "User", "Team", "Nope"]),
        st.integers(min_value=-5, max_value=2**70),
    ).map(lambda t: base64.b64encode(f"{t[0]}:{t[1]}".encode()).decode())
    return st.one_of(encoded, st.text(max_size=30))


def register_scalars(ids: list[str]) -> None:
    real = st.sampled_from(ids) if ids else st.nothing()
    schemathesis.graphql.scalar("ID", st.one_of(real, real, made_up_ids()).map(nodes.String))
    decimals = st.one_of(
        st.decimals(allow_nan=False, allow_infinity=False, places=2).map(str),
        st.text(max_size=12),
    )
    schemathesis.graphql.scalar("Decimal", decimals.map(nodes.String))
    schemathesis.graphql.scalar("JSON", st.text(max_size=20).map(nodes.String))
    schemathesis.graphql.scalar("Upload", st.text(max_size=10).map(nodes.String))
    schemathesis.graphql.scalar(
        "Date", st.one_of(st.dates().map(str), st.text(max_size=12)).map(nodes.String)
    )
    schemathesis.graphql.scalar(
        "DateTime",
        st.one_of(st.datetimes().map(lambda d: d.isoformat() + "Z"), st.text(max_size=12)).map(
            nodes.String
        ),
    )


def answer_kind(response: Any) -> str:
    """What an answer was, for the summary: data, a top-level error's code, or user errors."""
    try:
        body = response.json()
    except ValueError:
        return "not JSON"
    if isinstance(body, dict) and body.get("errors"):
        return str((body["errors"][0].get("extensions") or {}).get("code"))
    text = response.text
    return "userErrors" if '"userErrors":[{' in text else "data"


def verdict(response: Any) -> str:
    if response.status_code >= 500:
        return f"HTTP {response.status_code}"
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}, not JSON"
    answers = body if isinstance(body, list) else [body]
    for answer in answers:
        for error in (answer or {}).get("errors") or []:
            if (error.get("extensions") or {}).get("code") == "INTERNAL_SERVER_ERROR":
                return "INTERNAL_SERVER_ERROR"
    return "ok" if response.status_code == 200 else f"HTTP {response.status_code}"


def run_cases(
    operation: Any,
    base_url: str,
    headers: dict[str, str],
    examples: int,
    outcomes: Counter[str],
    kinds: Counter[str],
    failures: list[str],
) -> None:
    """`examples` generated cases of one operation (derandomized: the same cases each run)."""

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def one(case: Any) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        outcome = verdict(response)
        outcomes[outcome] += 1
        kinds[answer_kind(response)] += 1
        if outcome != "ok" and not outcome.startswith("HTTP 4"):
            failures.append(
                f"{operation.label}: {outcome}\n  {json.dumps(case.body)[:600]}\n"
                f"  -> {response.text[:400]}"
            )

    one()


def fuzz(base_url: str, token: str, examples: int, deadline: float) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.graphql.from_url(base_url + "/graphql", headers=headers)
    outcomes: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    failures: list[str] = []
    operations = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise SystemExit(f"schemathesis cannot read the schema: {result.err()}")
        operations.append(result.ok())
    # Mutations that end the session or the data under test would stop the run short: after
    # a logout (or a password change, which ends every token) every case is UNAUTHENTICATED.
    skipped = {"Mutation.changePassword", "Mutation.login", "Mutation.logout"}
    for operation in operations:
        if operation.label in skipped or time.monotonic() > deadline:
            outcomes["skipped operations"] += 1
            continue

        run_cases(operation, base_url, headers, examples, outcomes, kinds, failures)
    cases = sum(n for key, n in outcomes.items() if key != "skipped operations")
    print(f"fuzz: {cases} cases over {len(operations)} operations: {dict(outcomes)}")
    print(f"fuzz: answers by kind: {dict(kinds.most_common())}")
    for failure in failures:
        print("FAILED", failure)
    return len(failures)


def main(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="tandem-fuzz-") as tmp:
        work = Path(tmp)
        env, database = database_env(work)
        try:
            run(env, "migrate")
            run(env, "seed", "--demo")
            run(
                env,
                "create-user",
                "--email",
                ADMIN[0],
                "--name",
                "Fuzz",
                "--password",
                ADMIN[1],
                "--role",
                "ADMIN",
            )
            port = free_port()
            server_env = {**env, "TANDEM_HOST": "127.0.0.1", "TANDEM_PORT": str(port)}
            log = (work / "server.log").open("wb")
            server = subprocess.Popen(
                [TANDEM, "serve", "--no-migrate"], env=server_env, stdout=log, stderr=log
            )
            try:
                base_url = f"http://127.0.0.1:{port}"
                with httpx.Client(base_url=base_url, timeout=30) as http:
                    for _ in range(300):
                        try:
                            if http.get("/health").status_code == 200:
                                break
                        except httpx.TransportError:
                            pass
                        time.sleep(0.1)
                    login = http.post(
                        "/graphql",
                        json={
                            "query": "mutation($e: String!, $p: String!) { login(input: "
                            "{email: $e, password: $p}) { token } }",
                            "variables": {"e": ADMIN[0], "p": ADMIN[1]},
                        },
                    ).json()
                    token = login["data"]["login"]["token"]
                    http.headers["Authorization"] = f"Bearer {token}"
                    register_scalars(collect_ids(http))
                failed = fuzz(base_url, token, args.examples, time.monotonic() + args.seconds)
            finally:
                server.terminate()
                server.wait(timeout=30)
                log.close()
            server_log = (work / "server.log").read_text()
            if "Traceback" in server_log:
                print("the server logged tracebacks:\n" + server_log[-5000:])
                failed += 1
            return 1 if failed else 0
        finally:
            if database is not None:
                admin_url = os.environ["TANDEM_TEST_DATABASE_URL"].replace(
                    "postgresql+asyncpg://", "postgresql://"
                )
                subprocess.run(
                    [
                        "psql",
                        admin_url,
                        "-qc",
                        f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)',
                    ],
                    check=False,
                )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=40, help="cases per operation")
    parser.add_argument("--seconds", type=float, default=300, help="stop starting operations after")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main(parse_args()))
