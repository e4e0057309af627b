"""Benchmark: typical views of the pipeline at 10,000 and at 1,000,000 opportunities.

    .venv/bin/python bench/views.py [--sizes 10000 1000000] [--requests 100] [--verbose]

For each size: a fresh database (the machine's PostgreSQL, else an embedded one), migrated and
bulk-loaded by bench/seed.py (companies, owners, teams, folders, participants, ~10 % PRIVATE),
then the real server in a subprocess. A MEMBER (not an admin: the visibility rule is part of
every query) asks, one request at a time over loopback, for:

- pages of 50 through typical views: the built-in "All open" and "My open", "closing this
  quarter, biggest first", a stage and probability filter, a folder subtree;
- opportunityGroups with totals: by stage and by owner for "All open" (answered from the
  running totals), by stage for "closing this quarter" (a date filter: summed from the deals);
- text searches: a company name, a product word that a seventh of all deals contain, a deal
  number, and digits that one deal in 125 contains (in its name, number or company).

Prints p50/p99 per view with issue 5's goals beside them (page p50 < 15 ms, flat from 10k to
1M; group-by stage < 150 ms; search < 50 ms). --verbose prints each query's plan
(EXPLAIN ANALYZE, run in this process with the same statements the server builds), to show
which indexes serve it. Targets 127.0.0.1 only; bounded in count.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.crm.opportunities import groups as group_queries
from app.crm.opportunities import queries as opportunity_queries
from app.crm.opportunities.filters import (
    DateRange,
    IntRange,
    OpportunityFilter,
    Period,
)
from app.crm.opportunities.groups import GroupBy
from app.crm.opportunities.sorting import Sort, SortField
from app.crm.users.queries import load_actor
from app.db import create_engine, create_read_session_factory
from app.graphql.ids import encode_id
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
from bench.seed import libpq_connect_args, seed

PAGE = """query Page($view: ID, $filter: OpportunityFilterInput, $orderBy: [OpportunityOrder!],
                     $after: String) {
  opportunities(viewId: $view, filter: $filter, orderBy: $orderBy, first: 50, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { id number name probability estimatedCloseDate
            expectedValue { amount currency } stage { name } owner { name } }
  }
}"""
GROUPS = """query Groups($view: ID, $filter: OpportunityFilterInput, $by: OpportunityGroupBy!) {
  opportunityGroups(viewId: $view, filter: $filter, groupBy: $by) {
    key count stage { name } owner { name }
    totals { currency count value { amount } weightedValue { amount } }
  }
}"""


async def member(database_url: str) -> tuple[str, int, str, int, int]:
    """A member's email and id, a company name, a stage id and a folder id to ask about."""
    connection = await asyncpg.connect(**libpq_connect_args(database_url))
    try:
        email, user_id = await connection.fetchrow(
            "SELECT email, id FROM users WHERE role = 'MEMBER' ORDER BY id LIMIT 1"
        )
        company = await connection.fetchval(
            "SELECT name FROM companies ORDER BY id LIMIT 1 OFFSET 7"
        )
        stage_id = await connection.fetchval(
            "SELECT id FROM stages WHERE kind = 'OPEN' ORDER BY position LIMIT 1 OFFSET 1"
        )
        folder_id = await connection.fetchval(
            "SELECT id FROM folders WHERE parent_id IS NULL ORDER BY id LIMIT 1"
        )
        await connection.execute("VACUUM ANALYZE")
        return email, user_id, company, stage_id, folder_id
    finally:
        await connection.close()


def cases(
    company: str, stage_id: int, folder_id: int
) -> list[tuple[str, str, dict[str, Any], OpportunityFilter, list[Sort], str]]:
    """(name, query, variables, the same filter and sort in domain terms, goal)."""
    all_open = encode_id("View", 1)
    my_open = encode_id("View", 2)
    open_ = OpportunityFilter(statuses=("OPEN",))
    by_close = [Sort(SortField.ESTIMATED_CLOSE_DATE, False)]
    quarter = {"status": ["OPEN"], "estimatedCloseDate": {"period": "THIS_QUARTER"}}
    staged = {"stageIds": [encode_id("Stage", stage_id)], "probability": {"min": 10}}
    return [
        ("page: All open (built-in view)", PAGE, {"view": all_open}, open_, by_close, "page"),
        (
            "page: My open (built-in view)",
            PAGE,
            {"view": my_open},
            OpportunityFilter(statuses=("OPEN",), mine=True),
            by_close,
            "page",
        ),
        (
            "page: closing this quarter, biggest first",
            PAGE,
            {"filter": quarter, "orderBy": [{"field": "EXPECTED_VALUE", "direction": "DESC"}]},
            OpportunityFilter(
                statuses=("OPEN",), estimated_close_date=DateRange(period=Period.THIS_QUARTER)
            ),
            [Sort(SortField.EXPECTED_VALUE, True)],
            "page",
        ),
        (
            "page: one stage, probability >= 10",
            PAGE,
            {"filter": staged},
            OpportunityFilter(stage_ids=(stage_id,), probability=IntRange(10, None)),
            [],
            "page",
        ),
        (
            "page: a folder with its subfolders",
            PAGE,
            {"filter": {"folderId": encode_id("Folder", folder_id), "includeSubfolders": True}},
            OpportunityFilter(folder_id=folder_id, include_subfolders=True),
            [],
            "page",
        ),
        (
            "group by stage with totals: All open",
            GROUPS,
            {"view": all_open, "by": "STAGE"},
            open_,
            [],
            "groups",
        ),
        (
            "group by owner with totals: All open",
            GROUPS,
            {"view": all_open, "by": "OWNER"},
            open_,
            [],
            "groups-owner",
        ),
        (
            "group by stage with totals: closing this quarter",
            GROUPS,
            {"filter": quarter, "by": "STAGE"},
            OpportunityFilter(
                statuses=("OPEN",), estimated_close_date=DateRange(period=Period.THIS_QUARTER)
            ),
            [],
            "groups",
        ),
        search_case(f"a company ({company})", company),
        search_case("a product word in 1 of 7 deals (portal)", "portal"),
        search_case("a deal number (OPP-123456)", "OPP-123456"),
        search_case("digits in 1 of 125 deals (123)", "123"),
        search_case("digits in 1 of 125 deals (123), page 3", "123", page=3),
        search_case("digits in 1 of 125 deals (123), page 6", "123", page=6),
    ]


def search_case(
    what: str, text: str, *, page: int = 1
) -> tuple[str, str, dict[str, Any], OpportunityFilter, list[Sort], str]:
    """A search's first page, or its `page`-th (the cursor is read first: _page_variables);
    page 3 is in the ranked part, page 6 past it."""
    variables: dict[str, Any] = {"filter": {"search": text}}
    if page > 1:
        variables["page"] = page
    return (f"search: {what}", PAGE, variables, OpportunityFilter(search=text), [], "search")


async def _page_variables(http: RawHttp, port: int, variables: dict[str, Any], token: str) -> Any:
    """`variables` with the cursor that leads to its "page" (not a GraphQL variable)."""
    variables = dict(variables)
    page = variables.pop("page", 1)
    for _ in range(page - 1):
        status, body = await http.send(graphql_request(port, PAGE, variables, token))
        assert status == 200 and b'"errors"' not in body, body[:400]
        variables["after"] = orjson.loads(body)["data"]["opportunities"]["pageInfo"]["endCursor"]
    return variables


GOALS = {"page": 15.0, "groups": 150.0, "groups-owner": 150.0, "search": 50.0}
GROUP_BY = {"groups": GroupBy.STAGE, "groups-owner": GroupBy.OWNER}


async def explain(
    database_url: str, user_id: int, name: str, f: OpportunityFilter, sorts: Any, kind: str
) -> str:
    """EXPLAIN ANALYZE of the statements the server runs for this view, with its values (a
    search: its probe, then the page in the form the probe chose)."""
    engine = create_engine(database_url)
    try:
        async with create_read_session_factory(engine)() as session:
            actor = await load_actor(session, user_id)
            assert actor is not None
            if kind.startswith("groups"):
                statements = [group_queries.groups_statement(actor, f, GROUP_BY[kind])]
            else:
                statements, how = await opportunity_queries.page_statements(
                    session, actor, f, sorts, 50
                )
                if how:
                    name += f" ({how})"
        compiled = [
            s.compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True})
            for s in statements
        ]
    finally:
        await engine.dispose()
    connection = await asyncpg.connect(**libpq_connect_args(database_url))
    out = f"#### {name}\n"
    try:
        for c in compiled:
            values = [c.params[key] for key in c.positiontup or ()]
            plan = await connection.fetch("EXPLAIN (ANALYZE, BUFFERS) " + str(c), *values)
            out += "\n```\n" + "\n".join(row[0] for row in plan) + "\n```\n"
    finally:
        await connection.close()
    return out


async def run_size(size: int, requests: int, verbose: bool) -> list[Row]:
    rows: list[Row] = []
    async with bench_database(None, keep=False) as database_url:
        await asyncio.to_thread(upgrade, database_url)
        started = time.perf_counter()
        loaded = await seed(database_url, size)
        print(f"loaded {loaded} in {time.perf_counter() - started:.0f} s", flush=True)
        email, user_id, company, stage_id, folder_id = await member(database_url)
        plans: list[str] = []
        with tempfile.TemporaryDirectory() as work_dir:
            async with running_server(database_url, Path(work_dir)) as server:
                token = await login(server, email)
                async with RawHttp(server.port) as http:
                    for name, document, variables, f, sorts, kind in cases(
                        company, stage_id, folder_id
                    ):
                        variables = await _page_variables(http, server.port, variables, token)
                        request = graphql_request(server.port, document, variables, token)
                        for _ in range(5):  # warm caches, plans, prepared statements
                            status, body = await http.send(request)
                            assert status == 200 and b'"errors"' not in body, body[:400]
                        latencies = []
                        cpu_before = server.cpu_seconds()
                        for _ in range(requests):
                            start = time.perf_counter()
                            status, body = await http.send(request)
                            latencies.append((time.perf_counter() - start) * 1000)
                        cpu = (server.cpu_seconds() - cpu_before) * 1000 / requests
                        answer = orjson.loads(body)["data"].popitem()[1]
                        found = len(answer if isinstance(answer, list) else answer["nodes"])
                        p50 = percentile(latencies, 50)
                        rows.append(
                            Row(
                                what=f"{size:,} opps: {name}",
                                n=requests,
                                p50_ms=p50,
                                p99_ms=percentile(latencies, 99),
                                throughput=f"{1000 / (sum(latencies) / len(latencies)):.0f} req/s",
                                rss_mib=server.rss_mib(),
                                cpu_ms_per_op=cpu,
                                goal=f"p50 < {GOALS[kind]:.0f} ms",
                                met="yes" if p50 < GOALS[kind] else "NO",
                                notes=[f"{found} rows or groups in the answer"],
                            )
                        )
                        if verbose and "after" not in variables:  # a first page's plan
                            plans.append(await explain(database_url, user_id, name, f, sorts, kind))
        for plan in plans:
            print(plan)
    return rows


async def main(args: argparse.Namespace) -> None:
    rows: list[Row] = []
    for size in args.sizes:
        rows += await run_size(size, args.requests, args.verbose)
        print_table(rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--verbose", action="store_true", help="print the query plans")
    asyncio.run(main(parser.parse_args()))
