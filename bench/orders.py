"""Benchmark: an order with 500 lines, read whole, and one of its lines updated.

    .venv/bin/python bench/orders.py [--lines 500] [--requests 200]

Starts from an empty migrated database (the machine's PostgreSQL, else an embedded one),
starts the real server in a subprocess, creates through the API a DRAFT order with `--lines`
lines (mixed products, free text, discounts, three tax rates and an order discount), then,
one request at a time over loopback:

a) reads the whole order: header, totals and every line with its computed amounts;
b) updates one line's quantity (with its expectedVersion), which recomputes and stores the
   totals of all lines and writes the order event.

Prints p50/p99 of each (issue 4 asks for them; it sets no goal). Targets 127.0.0.1 only;
bounded in count.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.migrate import upgrade
from bench.run import (
    Profiler,
    RawHttp,
    Row,
    bench_database,
    graphql_request,
    login,
    percentile,
    print_table,
    query,
    running_server,
)
from bench.seed import ADMIN_EMAIL, seed

READ = """
query Order($id: ID!) {
  order(id: $id) {
    id number status version
    subtotal { amount } discountTotal { amount } taxTotal { amount } grandTotal { amount }
    lines {
      id position description quantity version
      unitPrice { amount currency } taxRate discount { kind value }
      amount { amount } discountAmount { amount } orderDiscountAmount { amount }
      netAmount { amount } taxAmount { amount } grossAmount { amount }
    }
  }
}
"""

UPDATE = """
mutation Update($i: UpdateOrderLineInput!) {
  updateOrderLine(input: $i) {
    line { id version netAmount { amount } }
    order { version grandTotal { amount } }
    userErrors { code message }
  }
}
"""

CREATE = """
mutation Create($i: CreateOrderInput!) {
  createOrder(input: $i) { order { id lines { id version } } userErrors { code message } }
}
"""


def line_inputs(count: int) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for i in range(count):
        line: dict[str, Any] = {
            "description": f"Item {i}",
            "quantity": str(Decimal(1 + i % 7) + Decimal(i % 4) / 4),
            "unitPrice": str(Decimal(1999 + 37 * i) / 100),
            "taxRate": ("19", "7", "7.7")[i % 3],
        }
        if i % 5 == 0:
            line["discount"] = {"kind": "PERCENT", "value": "12.5"}
        elif i % 5 == 1:
            line["discount"] = {"kind": "AMOUNT", "value": "1.01"}
        lines.append(line)
    return lines


async def timed(http: RawHttp, request: bytes) -> tuple[float, bytes]:
    start = time.perf_counter()
    status, body = await http.send(request)
    elapsed = (time.perf_counter() - start) * 1000
    assert status == 200 and b'"errors"' not in body and b'"code"' not in body, body[:300]
    return elapsed, body


async def main(args: argparse.Namespace) -> None:
    async with bench_database(None, keep=False) as database_url:
        await asyncio.to_thread(upgrade, database_url)
        await seed(database_url, 10)  # users, including the admin the bench logs in as
        with tempfile.TemporaryDirectory() as work_dir:
            async with running_server(database_url, Path(work_dir)) as server:
                token = await login(server, ADMIN_EMAIL)
                py_spy = shutil.which("py-spy") if args.profile else None
                profiler = Profiler(py_spy, args.profile, server)
                created = await query(
                    server,
                    token,
                    CREATE,
                    {
                        "i": {
                            "currency": "EUR",
                            "discount": {"kind": "PERCENT", "value": "3", "reason": "bench"},
                            "lines": line_inputs(args.lines),
                        }
                    },
                )
                order = created["createOrder"]["order"]
                assert order is not None, created
                line = order["lines"][args.lines // 2]
                read_request = graphql_request(server.port, READ, {"id": order["id"]}, token)
                rows = []
                async with RawHttp(server.port) as http:
                    for _ in range(10):  # warm the caches and the prepared statements
                        await timed(http, read_request)
                    reads = []
                    cpu_before = server.cpu_seconds()
                    async with profiler.phase("read"):
                        for _ in range(args.requests):
                            elapsed, _body = await timed(http, read_request)
                            reads.append(elapsed)
                    read_cpu = (server.cpu_seconds() - cpu_before) * 1000 / args.requests
                    updates = []
                    version = line["version"]
                    cpu_before = server.cpu_seconds()
                    update_phase = profiler.phase("update")
                    await update_phase.__aenter__()
                    for i in range(args.requests):
                        request = graphql_request(
                            server.port,
                            UPDATE,
                            {
                                "i": {
                                    "id": line["id"],
                                    "expectedVersion": version,
                                    "quantity": str(2 + i % 5),
                                }
                            },
                            token,
                        )
                        elapsed, body = await timed(http, request)
                        version = orjson.loads(body)["data"]["updateOrderLine"]["line"]["version"]
                        updates.append(elapsed)
                    await update_phase.__aexit__(None, None, None)
                    update_cpu = (server.cpu_seconds() - cpu_before) * 1000 / args.requests
                for what, latencies, cpu in (
                    (f"read an order with {args.lines} lines", reads, read_cpu),
                    (f"update one line of {args.lines} (totals recomputed)", updates, update_cpu),
                ):
                    rows.append(
                        Row(
                            what=what,
                            n=len(latencies),
                            p50_ms=percentile(latencies, 50),
                            p99_ms=percentile(latencies, 99),
                            throughput=f"{1000 / (sum(latencies) / len(latencies)):.0f} req/s "
                            "(one at a time)",
                            rss_mib=server.rss_mib(),
                            cpu_ms_per_op=cpu,
                            goal="report p50/p99",
                            met="-",
                        )
                    )
                print_table(rows)
                for report in profiler.reports:
                    print(report)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=500)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument(
        "--profile", type=Path, default=None, help="sample the server with py-spy into this dir"
    )
    arguments = parser.parse_args()
    if arguments.profile:
        arguments.profile.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(arguments))
