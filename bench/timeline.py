"""Benchmark: the first page of the timeline of an opportunity with 1,000 activities.

    .venv/bin/python bench/timeline.py [--activities 1000] [--requests 300]

Loads the usual bench data (bench/seed.py, 1,000 opportunities), gives one opportunity
`--activities` activities of all kinds plus some history, starts the real server in a
subprocess and asks for `timeline(first: 20)` one request at a time, so each latency is the
server's time for it plus a loopback round trip. Prints p50/p99 (issue 3's goal: under 10 ms
server time at p50). Targets 127.0.0.1 only; bounded in count.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.migrate import upgrade
from bench.run import (
    RawHttp,
    Row,
    bench_database,
    graphql_request,
    login,
    percentile,
    print_table,
    running_server,
)
from bench.seed import ADMIN_EMAIL, libpq_connect_args, seed

TIMELINE = """
query Timeline($id: ID!) {
  opportunity(id: $id) {
    timeline(first: 20) {
      pageInfo { hasNextPage endCursor }
      nodes {
        kind occurredAt actor { name }
        activity { __typename ... on Journal { title } ... on Task { title status }
                   ... on Appointment { subject startsAt } ... on Email { subject }
                   ... on Document { name size } }
        change { kind changes { field old new } }
      }
    }
  }
}
"""

KINDS = ("JOURNAL", "TASK", "APPOINTMENT", "EMAIL", "DOCUMENT")


async def add_activities(database_url: str, count: int) -> int:
    """Give the first opportunity `count` activities; returns its id."""
    connection = await asyncpg.connect(**libpq_connect_args(database_url))
    try:
        opportunity_id, owner_id = await connection.fetchrow(
            "SELECT id, owner_id FROM opportunities ORDER BY id LIMIT 1"
        )
        rng = random.Random(7)
        now = datetime.now(UTC)
        rows = []
        for i in range(count):
            kind = KINDS[i % len(KINDS)]
            at = now - timedelta(minutes=rng.randint(0, 60 * 24 * 365))
            rows.append(
                (
                    opportunity_id,
                    kind,
                    owner_id,
                    at,
                    f"{kind.title()} {i}",
                    "Some text " * 20,
                    "PLAIN" if kind == "JOURNAL" else None,
                    owner_id if kind == "TASK" else None,
                    "NORMAL" if kind == "TASK" else None,
                    "OPEN" if kind == "TASK" else None,
                    at if kind == "APPOINTMENT" else None,
                    at + timedelta(hours=1) if kind == "APPOINTMENT" else None,
                    "OUTBOUND" if kind == "EMAIL" else None,
                    "me@example.com" if kind == "EMAIL" else None,
                    ["you@example.com"] if kind == "EMAIL" else None,
                    "application/pdf" if kind == "DOCUMENT" else None,
                    1234 if kind == "DOCUMENT" else None,
                    "0" * 64 if kind == "DOCUMENT" else None,
                )
            )
        await connection.executemany(
            """INSERT INTO activities (opportunity_id, kind, created_by_id, occurred_at, title,
                 body, body_format, assignee_id, priority, status, starts_at, ends_at, direction,
                 from_address, to_addresses, content_type, size_bytes, sha256, version)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                 $17, $18, 1)""",
            rows,
        )
        await connection.execute("VACUUM ANALYZE activities")
        return int(opportunity_id)
    finally:
        await connection.close()


async def main(args: argparse.Namespace) -> None:
    async with bench_database(None, keep=False) as database_url:
        await asyncio.to_thread(upgrade, database_url)
        await seed(database_url, 1000)
        opportunity_id = await add_activities(database_url, args.activities)
        with tempfile.TemporaryDirectory() as work_dir:
            async with running_server(database_url, Path(work_dir)) as server:
                token = await login(server, ADMIN_EMAIL)
                from app.graphql.ids import encode_id

                request = graphql_request(
                    server.port, TIMELINE, {"id": encode_id("Opportunity", opportunity_id)}, token
                )
                latencies = []
                async with RawHttp(server.port) as http:
                    for _ in range(20):  # warm the caches and the prepared statements
                        await http.send(request)
                    cpu_before = server.cpu_seconds()
                    for _ in range(args.requests):
                        start = time.perf_counter()
                        status, body = await http.send(request)
                        latencies.append((time.perf_counter() - start) * 1000)
                        assert status == 200 and b'"errors"' not in body, body[:300]
                    cpu = (server.cpu_seconds() - cpu_before) * 1000 / args.requests
                print_table(
                    [
                        Row(
                            what=f"timeline(first: 20) of an opportunity with "
                            f"{args.activities:,} activities",
                            n=args.requests,
                            p50_ms=percentile(latencies, 50),
                            p99_ms=percentile(latencies, 99),
                            throughput=f"{1000 / (sum(latencies) / len(latencies)):.0f} req/s "
                            "(one at a time)",
                            rss_mib=server.rss_mib(),
                            cpu_ms_per_op=cpu,
                            goal="p50 < 10 ms",
                            met="yes" if percentile(latencies, 50) < 10 else "NO",
                        )
                    ]
                )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--activities", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=300)
    asyncio.run(main(parser.parse_args()))
