"""Benchmark: a burst of wrong-password logins, and what it does to everybody else.

    .venv/bin/python bench/logins.py [--burst 20] [--rounds 3]

Starts the real server in a subprocess (standard argon2 cost, as in production) on the
usual bench data, then: `/health` alone, one request at a time; and `/health` polled the same
way while `--burst` wrong-password logins for as many accounts run at once, `--rounds` times.
Before argon2 left the event loop, 20 such logins held `/health` for 6.2 s. Also prints the
logins' own latency and how many were refused as BUSY (the pool's queue is bounded).
Targets 127.0.0.1 only; bounded in count.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.migrate import upgrade
from bench.run import Row, bench_database, percentile, print_table, running_server
from bench.seed import seed

WRONG_LOGIN = """
mutation($email: String!) {
  login(input: {email: $email, password: "not the password"}) { userErrors { code } }
}"""


async def poll_health(http: httpx.AsyncClient, until: asyncio.Event) -> list[float]:
    times: list[float] = []
    while not until.is_set():
        started = time.perf_counter()
        response = await http.get("/health")
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
        await asyncio.sleep(0.005)
    return times


async def wrong_login(http: httpx.AsyncClient, email: str, address: str) -> tuple[float, str]:
    # As if from many clients behind a trusted proxy (uvicorn believes X-Forwarded-For from
    # 127.0.0.1): one address would be throttled after 20 failures.
    started = time.perf_counter()
    response = await http.post(
        "/graphql",
        json={"query": WRONG_LOGIN, "variables": {"email": email}},
        headers={"X-Forwarded-For": address},
    )
    elapsed = (time.perf_counter() - started) * 1000
    errors = response.json()["data"]["login"]["userErrors"]
    return elapsed, errors[0]["code"]


async def main(args: argparse.Namespace) -> None:
    async with bench_database(args.database_url, keep=False) as database_url:
        with tempfile.TemporaryDirectory(prefix="tandem-bench-") as work:
            await asyncio.to_thread(upgrade, database_url)
            loaded = await seed(database_url, 200)
            emails = list(loaded.member_emails)
            async with (
                running_server(database_url, Path(work)) as server,
                httpx.AsyncClient(base_url=server.base_url, timeout=60) as http,
            ):
                idle: list[float] = []
                for _ in range(200):
                    started = time.perf_counter()
                    await http.get("/health")
                    idle.append((time.perf_counter() - started) * 1000)

                during: list[float] = []
                logins: list[float] = []
                codes: list[str] = []
                walls: list[float] = []
                for round_ in range(args.rounds):
                    # Other accounts each round: the throttle would otherwise refuse them.
                    batch = emails[round_ * args.burst : (round_ + 1) * args.burst]
                    batch = batch or [f"nobody{round_}.{i}@example.com" for i in range(args.burst)]
                    done = asyncio.Event()
                    poller = asyncio.create_task(poll_health(http, done))
                    started = time.perf_counter()
                    results = await asyncio.gather(
                        *(wrong_login(http, e, f"10.0.{round_}.{i}") for i, e in enumerate(batch))
                    )
                    walls.append((time.perf_counter() - started) * 1000)
                    done.set()
                    during += await poller
                    logins += [elapsed for elapsed, _ in results]
                    codes += [code for _, code in results]

    rows = [
        Row(
            "/health, nothing else running",
            len(idle),
            percentile(idle, 50),
            percentile(idle, 99),
            "",
            float("nan"),
            None,
        ),
        Row(
            f"/health during {args.burst} concurrent wrong logins",
            len(during),
            percentile(during, 50),
            percentile(during, 99),
            f"max {max(during):.1f} ms",
            float("nan"),
            None,
        ),
        Row(
            "the wrong logins themselves",
            len(logins),
            percentile(logins, 50),
            percentile(logins, 99),
            f"burst wall {percentile(walls, 50):.0f} ms",
            float("nan"),
            None,
        ),
    ]
    print_table(rows)
    print("login answers:", {code: codes.count(code) for code in sorted(set(codes))})


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--burst", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
