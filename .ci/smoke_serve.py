"""Smoke test of the path a user without a database server takes.

A fresh data directory, no TANDEM_DATABASE_URL (so the embedded PostgreSQL starts), the real
`tandem` command: create an admin, serve, log in over GraphQL, ask who we are, shut down.
Exits non-zero, with everything the server printed, on any failure.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
TANDEM = ROOT / ".venv" / "bin" / "tandem"
EMAIL = "smoke@example.com"
PASSWORD = "smoke-pass-123"
HEALTH_TIMEOUT_S = 60.0
SHUTDOWN_TIMEOUT_S = 20.0

LOGIN = (
    'mutation { login(input: {email: "smoke@example.com", password: "smoke-pass-123"}) '
    "{ token userErrors { code message } } }"
)
ME = "{ me { email role } }"


class SmokeFailure(Exception):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def child_env(data_dir: Path, port: int) -> dict[str, str]:
    # Every TANDEM_* the CI exports (test database, Redis) would steer the server off the
    # embedded path this script exists to check.
    env = {key: value for key, value in os.environ.items() if not key.startswith("TANDEM_")}
    env.update(
        TANDEM_DATA_DIR=str(data_dir),
        TANDEM_HOST="127.0.0.1",
        TANDEM_PORT=str(port),
        PYTHONUNBUFFERED="1",
    )
    return env


def graphql(
    client: httpx.Client, base: str, query: str, token: str | None = None
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.post(f"{base}/graphql", json={"query": query}, headers=headers)
    if response.status_code != 200:
        raise SmokeFailure(f"POST /graphql: HTTP {response.status_code}: {response.text}")
    body: dict[str, Any] = response.json()
    if body.get("errors"):
        raise SmokeFailure(f"POST /graphql: errors: {body['errors']}")
    data: dict[str, Any] | None = body.get("data")
    if data is None:
        raise SmokeFailure(f"POST /graphql: no data: {body}")
    return data


def wait_healthy(client: httpx.Client, base: str, server: subprocess.Popen[bytes]) -> float:
    started = time.monotonic()
    deadline = started + HEALTH_TIMEOUT_S
    last = "no answer"
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SmokeFailure(f"server exited with code {server.returncode} before /health")
        try:
            response = client.get(f"{base}/health")
        except httpx.TransportError as exc:
            last = repr(exc)
        else:
            if response.status_code == 200:
                return time.monotonic() - started
            last = f"HTTP {response.status_code}: {response.text[:200]}"
        time.sleep(0.2)
    raise SmokeFailure(f"/health did not answer 200 within {HEALTH_TIMEOUT_S:.0f} s ({last})")


def stop_server(server: subprocess.Popen[bytes]) -> str | None:
    """SIGTERM, then SIGKILL; returns what went wrong, if anything."""
    if server.poll() is not None:
        return None
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(SHUTDOWN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
        return f"server did not exit within {SHUTDOWN_TIMEOUT_S:.0f} s of SIGTERM; killed"
    return None


def stop_leftover_postgres(data_dir: Path) -> str | None:
    """Stop an embedded PostgreSQL that outlived the server, so that the data directory can
    be removed; returns the complaint when there was one."""
    pid_file = data_dir / "postgres" / "postmaster.pid"
    # PostgreSQL removes the file at the end of its own shutdown, which may trail ours a bit.
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        if not pid_file.exists():
            return None
        time.sleep(0.1)
    try:
        pid = int(pid_file.read_text().splitlines()[0])
        os.kill(pid, signal.SIGINT)  # "fast" shutdown: roll back sessions, write a checkpoint
    except (OSError, ValueError, IndexError):
        return None
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    return "embedded PostgreSQL was still running after the server exited"


def run(tmp: Path, log_path: Path) -> str:
    data_dir = tmp / "data"
    port = free_port()
    env = child_env(data_dir, port)

    created = subprocess.run(
        [
            str(TANDEM),
            "create-user",
            "--email",
            EMAIL,
            "--name",
            "Smoke",
            "--password",
            PASSWORD,
            "--role",
            "ADMIN",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=120,
        check=False,
    )
    if created.returncode != 0:
        raise SmokeFailure(
            f"tandem create-user exited with code {created.returncode}:\n"
            + created.stdout.decode(errors="replace")
        )

    base = f"http://127.0.0.1:{port}"
    # A file, not a pipe: nobody reads the server's output while it runs, and a full pipe
    # would block it.
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [str(TANDEM), "serve"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        with httpx.Client(timeout=10.0) as client:
            ready_s = wait_healthy(client, base, server)
            login = graphql(client, base, LOGIN)["login"]
            if login.get("userErrors") or not login.get("token"):
                raise SmokeFailure(f"login failed: {login}")
            me = graphql(client, base, ME, token=login["token"])["me"]
            if not me or me.get("email") != EMAIL:
                raise SmokeFailure(f"me: expected {EMAIL}, got {me}")
    finally:
        # Reported here rather than raised, so that an earlier failure is not masked.
        problems = [
            problem
            for problem in (stop_server(server), stop_leftover_postgres(data_dir))
            if problem is not None
        ]
        for problem in problems:
            print(f"smoke: {problem}", file=sys.stderr)
    if problems:
        raise SmokeFailure("the server did not shut down cleanly (see above)")
    return (
        f"smoke ok: embedded serve healthy after {ready_s:.1f} s, login + me as "
        f"{me['email']} ({me.get('role')}), server exit code {server.returncode}"
    )


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="tandem-smoke-"))
    log_path = tmp / "server.log"
    try:
        print(run(tmp, log_path))
        return 0
    except Exception as exc:
        print(f"smoke FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        if log_path.exists():
            print("----- server output -----", file=sys.stderr)
            print(log_path.read_text(errors="replace"), file=sys.stderr)
            print("----- end of server output -----", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
