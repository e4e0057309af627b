"""`tandem` as a real subprocess: its environment, a free port, a running server."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from app.settings import Settings
from tests.client import Api

TANDEM = str(Path(sys.executable).with_name("tandem"))


def tandem_env(settings: Settings, database_url: str | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
    env.update(
        TANDEM_DATA_DIR=str(settings.data_dir),
        TANDEM_SECRET_KEY=settings.secret_key,
        TANDEM_LOG_LEVEL="warning",
    )
    if database_url is not None:
        env["TANDEM_DATABASE_URL"] = database_url
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_until_healthy(http: httpx.AsyncClient, process: asyncio.subprocess.Process) -> None:
    for _ in range(300):
        assert process.returncode is None, "`tandem serve` exited during start-up"
        try:
            if (await http.get("/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError("`tandem serve` did not become healthy within 15 s")


@asynccontextmanager
async def tandem_server(env: dict[str, str], *, output: Path | None = None) -> AsyncIterator[Api]:
    """`tandem serve --no-migrate` in a process of its own, on a free port; `output`: a file
    that gets everything it prints (its log, uvicorn's access lines), else it is dropped."""
    port = free_port()
    sink = output.open("ab") if output is not None else None
    try:
        process = await asyncio.create_subprocess_exec(
            TANDEM,
            "serve",
            "--no-migrate",
            env={**env, "TANDEM_PORT": str(port)},
            stdout=sink or asyncio.subprocess.DEVNULL,
            stderr=sink or asyncio.subprocess.DEVNULL,
        )
    finally:
        if sink is not None:
            sink.close()  # the process has its own copy of the file
    try:
        base_url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            await wait_until_healthy(http, process)
            yield Api(base_url, http)
    finally:
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.wait(), timeout=30)
