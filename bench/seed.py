"""Bulk-load a benchmark-sized sales team into a freshly migrated database, fast.

The demo seed (`tandem seed --demo`) goes through the domain services, one transaction per
deal; that is right for 200 opportunities and far too slow for 100,000. This loader writes the
same tables directly with asyncpg's binary COPY, so 100,000 opportunities with their
participants and one CREATED event each load in a few seconds:

- users (one admin, the rest members, all with the password BENCH_PASSWORD), teams with
  members, companies, contacts at those companies, a folder tree three levels deep;
- opportunities spread over folders, stages, owners, currencies and close dates, about 10 %
  PRIVATE, the closed ones with their outcome; ids follow creation time;
- 1 to 3 participants each: the customer company, usually a primary contact there, sometimes
  a team or a user (every PRIVATE deal gets its owner's team, so teammates see it);
- the outbox: one CREATED event per opportunity (seq = id, with audience and snapshot as the
  server writes them), event_counter at the last seq, and every sequence moved past the
  loaded ids, so the server can carry on creating and numbering as if it made them all.

Usage: `seed(database_url, opportunities)` on an empty, migrated database (see bench/run.py).
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import orjson

from app.crm.auth.passwords import hash_password_now
from app.crm.money import quantum
from app.crm.opportunities.rows import COLUMNS, OpportunityRow
from app.events.envelope import Audience

BENCH_PASSWORD = "bench-password"
ADMIN_EMAIL = "admin@bench.example.com"
SEED = 42

FIRST_NAMES = (
    "Ada Ben Cleo Dan Eva Finn Gia Hugo Ines Jon Kira Leo Mia Nils Ola Pia Rui Sara".split()
)
LAST_NAMES = "Berg Costa Dahl Engel Fox Gray Hale Ito Jung Kerr Lund Moss Nash Ortiz Park".split()
INDUSTRIES = "Software Logistics Retail Banking Insurance Energy Healthcare Media Mining".split()
COUNTRIES = ("DE", "FR", "GB", "US", "JP", "SE", "NL", "ES", "IT", "CA")
PRODUCTS = (
    "CRM rollout",
    "Analytics platform",
    "Support renewal",
    "Cloud migration",
    "Seat expansion",
    "Security audit",
    "Customer portal",
)
# (currency, weight, minor-unit scale): mostly EUR and USD, some GBP and JPY.
CURRENCIES = (("EUR", 45, 1), ("USD", 40, 1), ("GBP", 10, 1), ("JPY", 5, 150))
CONTACT_ROLES = ("DECISION_MAKER", "ECONOMIC_BUYER", "CHAMPION", "TECHNICAL_EVALUATOR")


@dataclass(frozen=True)
class Loaded:
    users: int
    teams: int
    companies: int
    contacts: int
    folders: int
    opportunities: int
    participants: int
    events: int
    seconds: float
    member_emails: tuple[str, ...]

    def summary(self) -> str:
        return (
            f"{self.opportunities:,} opportunities, {self.participants:,} participants, "
            f"{self.events:,} events, {self.companies:,} companies, {self.contacts:,} contacts, "
            f"{self.users} users, {self.teams} teams, {self.folders} folders "
            f"in {self.seconds:.1f} s"
        )


def libpq_connect_args(database_url: str) -> dict[str, Any]:
    """asyncpg.connect() arguments for a SQLAlchemy URL (TCP or a unix socket in ?host=)."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    return {
        "user": url.username,
        "password": url.password,
        "database": url.database,
        "host": url.query.get("host", url.host),
        "port": url.port or int(str(url.query.get("port", 5432))),
    }


async def seed(database_url: str, opportunities: int, *, seed: int = SEED) -> Loaded:
    started = time.perf_counter()
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    today = now.date()
    connection = await asyncpg.connect(**libpq_connect_args(database_url))
    try:
        if await connection.fetchval("SELECT count(*) FROM opportunities"):
            raise RuntimeError("bench/seed.py loads into an empty database only")
        await connection.execute("SET synchronous_commit = off")
        # The rows reference each other correctly by construction; skipping the per-row
        # foreign-key triggers halves the load. Needs a superuser; without one, rows are
        # checked as usual.
        with suppress(asyncpg.InsufficientPrivilegeError):
            await connection.execute("SET session_replication_role = replica")
        stages = [
            dict(r)
            for r in await connection.fetch(
                "SELECT id, kind, default_probability, forecast_category FROM stages "
                "ORDER BY position, id"
            )
        ]
        n_users = 60
        n_teams = 8
        n_companies = max(50, opportunities // 20)
        async with connection.transaction():
            users = _users(n_users, now)
            teams = [(i, f"Team {i:02d}", f"team-{i:02d}", now, now) for i in range(1, n_teams + 1)]
            # Each member is in one team, a few in two; the admin in none.
            team_of = {u: 1 + (u - 2) % n_teams for u in range(2, n_users + 1)}
            members = [(t, u) for u, t in team_of.items()]
            members += [(1 + (u % n_teams), u) for u in range(2, n_users + 1, 7)]
            members = sorted(set(members))
            companies = [
                (
                    i,
                    f"{rng.choice(LAST_NAMES)} {rng.choice(INDUSTRIES)} {i}",
                    rng.choice(INDUSTRIES),
                    rng.choice(COUNTRIES),
                    now,
                    now,
                )
                for i in range(1, n_companies + 1)
            ]
            contacts = [
                (
                    (c - 1) * 3 + k + 1,
                    rng.choice(FIRST_NAMES),
                    rng.choice(LAST_NAMES),
                    "Head of Procurement" if k == 0 else "IT Director",
                    c,
                    now,
                    now,
                )
                for c in range(1, n_companies + 1)
                for k in range(3)
            ]
            folders, leaves = _folders(now)
            opps, participants, events = _opportunities(
                rng,
                opportunities,
                stages=stages,
                owners=list(range(1, n_users + 1)),
                team_of=team_of,
                n_companies=n_companies,
                leaves=leaves,
                now=now,
                today=today,
            )
            await _copy(connection, "users", users, _USER_COLUMNS)
            await _copy(
                connection, "teams", teams, ("id", "name", "handle", "created_at", "updated_at")
            )
            await _copy(connection, "team_members", members, ("team_id", "user_id"))
            await _copy(
                connection,
                "companies",
                companies,
                ("id", "name", "industry", "country", "created_at", "updated_at"),
            )
            await _copy(
                connection,
                "contacts",
                contacts,
                (
                    "id",
                    "first_name",
                    "last_name",
                    "job_title",
                    "company_id",
                    "created_at",
                    "updated_at",
                ),
            )
            await _copy(
                connection,
                "folders",
                folders,
                ("id", "name", "parent_id", "path", "created_at", "updated_at"),
            )
            await _copy(connection, "opportunities", opps, _OPPORTUNITY_COLUMNS)
            await _copy(connection, "opportunity_participants", participants, _PARTICIPANT_COLUMNS)
            await _copy(connection, "opportunity_events", events, _EVENT_COLUMNS)
            await connection.execute(
                "UPDATE event_counter SET last_seq = $1 WHERE id = 1", len(events)
            )
            if opportunities:
                await connection.execute(
                    "SELECT setval('opportunity_number_seq', $1)", opportunities
                )
            for table in (
                "users",
                "teams",
                "companies",
                "contacts",
                "folders",
                "opportunities",
                "opportunity_participants",
            ):
                await connection.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
                )
        # Fresh COPYs have no visibility map or statistics yet: a real database would.
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()
    return Loaded(
        users=len(users),
        teams=len(teams),
        companies=len(companies),
        contacts=len(contacts),
        folders=len(folders),
        opportunities=len(opps),
        participants=len(participants),
        events=len(events),
        seconds=time.perf_counter() - started,
        member_emails=tuple(u[1] for u in users[1:]),
    )


_USER_COLUMNS = (
    *("id", "email", "name", "handle", "password_hash", "role"),
    *("created_at", "updated_at"),
)
_OPPORTUNITY_COLUMNS = (*COLUMNS[:6], "last_open_stage_id", *COLUMNS[6:])
_PARTICIPANT_COLUMNS = (
    "id",
    "opportunity_id",
    "kind",
    "company_id",
    "contact_id",
    "user_id",
    "team_id",
    "role",
    "is_primary",
    "created_at",
)
_EVENT_COLUMNS = (
    "seq",
    "kind",
    "opportunity_id",
    "version",
    "actor_id",
    "occurred_at",
    "changes",
    "audience",
    "snapshot",
)


async def _copy(
    connection: asyncpg.Connection, table: str, rows: Sequence[tuple[Any, ...]], columns: Any
) -> None:
    await connection.copy_records_to_table(table, records=rows, columns=list(columns))


def _users(count: int, now: datetime) -> list[tuple[Any, ...]]:
    password_hash = hash_password_now(BENCH_PASSWORD)  # argon2 is slow on purpose: hash once
    rows: list[tuple[Any, ...]] = [
        (1, ADMIN_EMAIL, "Bench Admin", "admin", password_hash, "ADMIN", now, now)
    ]
    for i in range(2, count + 1):
        first = FIRST_NAMES[i % len(FIRST_NAMES)]
        last = LAST_NAMES[i % len(LAST_NAMES)]
        rows.append(
            (
                i,
                f"member{i:03d}@bench.example.com",
                f"{first} {last}",
                f"member{i:03d}",
                password_hash,
                "MEMBER",
                now,
                now,
            )
        )
    return rows


def _folders(now: datetime) -> tuple[list[tuple[Any, ...]], list[int]]:
    """Three regions, four areas each, four territories per area: 63 folders, 48 leaves."""
    rows: list[tuple[Any, ...]] = []
    leaves: list[int] = []
    next_id = 1
    for region in ("EMEA", "Americas", "APAC"):
        region_id, next_id = next_id, next_id + 1
        rows.append((region_id, region, None, f"/{region_id}/", now, now))
        for a in range(1, 5):
            area_id, next_id = next_id, next_id + 1
            area_path = f"/{region_id}/{area_id}/"
            rows.append((area_id, f"{region} area {a}", region_id, area_path, now, now))
            for t in range(1, 5):
                leaf_id, next_id = next_id, next_id + 1
                rows.append(
                    (leaf_id, f"Territory {a}.{t}", area_id, f"{area_path}{leaf_id}/", now, now)
                )
                leaves.append(leaf_id)
    return rows, leaves


def _opportunities(
    rng: random.Random,
    count: int,
    *,
    stages: list[dict[str, Any]],
    owners: list[int],
    team_of: dict[int, int],
    n_companies: int,
    leaves: list[int],
    now: datetime,
    today: date,
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    open_stages = [s for s in stages if s["kind"] == "OPEN"]
    won = next(s for s in stages if s["kind"] == "WON")
    lost = next(s for s in stages if s["kind"] == "LOST")
    currencies = [c for c, _, _ in CURRENCIES]
    currency_weights = [w for _, w, _ in CURRENCIES]
    scale = {c: s for c, _, s in CURRENCIES}
    # Ids follow creation time, as they would if the server had created them one by one.
    created = sorted(now - timedelta(seconds=rng.randrange(0, 730 * 86400)) for _ in range(count))
    opps: list[tuple[Any, ...]] = []
    participants: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    for i, created_at in enumerate(created, start=1):
        roll = rng.random()
        stage = won if roll < 0.15 else lost if roll < 0.30 else rng.choice(open_stages)
        status = stage["kind"]
        currency = rng.choices(currencies, currency_weights)[0]
        amount = Decimal(rng.randrange(10, 400) * 250 * scale[currency]).quantize(quantum(currency))
        owner = rng.choice(owners)
        company = rng.randrange(1, n_companies + 1)
        visibility = "PRIVATE" if rng.random() < 0.10 else "PUBLIC"
        age = (now - created_at).total_seconds()
        updated_at = created_at + timedelta(seconds=rng.random() * age)
        closed_on = updated_at.date() if status != "OPEN" else None
        row = OpportunityRow(
            id=i,
            number=f"OPP-{i:06d}",
            name=f"Deal {i} \N{EN DASH} {rng.choice(PRODUCTS)}",
            description=None,
            folder_id=rng.choice(leaves),
            stage_id=stage["id"],
            status=status,
            amount=amount,
            currency=currency,
            probability=stage["default_probability"],
            forecast_category=stage["forecast_category"],
            estimated_close_date=today + timedelta(days=rng.randrange(-60, 300)),
            next_step="Send proposal" if status == "OPEN" else None,
            lead_source=rng.choice(("Website", "Referral", "Partner", "Outbound")),
            owner_id=owner,
            visibility=visibility,
            actual_amount=amount if status == "WON" else None,
            actual_close_date=closed_on,
            awarded_company_id=(
                rng.randrange(1, n_companies + 1)
                if status == "LOST" and rng.random() < 0.4
                else None
            ),
            lost_note=None,
            version=1,
            created_by_id=owner,
            created_at=created_at,
            updated_at=updated_at,
            deleted_at=None,
        )
        values = [getattr(row, name) for name in COLUMNS]
        last_open = rng.choice(open_stages)["id"] if status != "OPEN" else None
        opps.append((*values[:6], last_open, *values[6:]))

        # Participants: the customer, usually a primary contact there, sometimes a team/user.
        base = len(participants)
        participants.append(
            (base + 1, i, "COMPANY", company, None, None, None, "CUSTOMER", False, created_at)
        )
        if rng.random() < 0.7:
            contact = (company - 1) * 3 + rng.randrange(3) + 1
            participants.append(
                (
                    base + 2,
                    i,
                    "CONTACT",
                    None,
                    contact,
                    None,
                    None,
                    rng.choice(CONTACT_ROLES),
                    True,
                    created_at,
                )
            )
        user_ids: list[int] = []
        team_ids: list[int] = []
        if owner in team_of and (visibility == "PRIVATE" or rng.random() < 0.2):
            team_ids.append(team_of[owner])
        elif rng.random() < 0.15:
            user_ids.append(rng.choice([u for u in owners if u != owner]))
        for team in team_ids:
            participants.append(
                (
                    len(participants) + 1,
                    i,
                    "TEAM",
                    None,
                    None,
                    None,
                    team,
                    "SALES_REP",
                    False,
                    created_at,
                )
            )
        for user in user_ids:
            participants.append(
                (
                    len(participants) + 1,
                    i,
                    "USER",
                    None,
                    None,
                    user,
                    None,
                    "PRESALES",
                    False,
                    created_at,
                )
            )

        snapshot = row.to_json()
        audience = Audience(visibility, owner, frozenset(user_ids), frozenset(team_ids))
        changes = [
            {"field": name, "old": None, "new": snapshot[name]}
            for name in ("name", "folder_id", "stage_id", "status", "owner_id", "visibility")
        ]
        changes.append(
            {
                "field": "expected_value",
                "old": None,
                "new": {"amount": snapshot["amount"], "currency": currency},
            }
        )
        events.append(
            (
                i,
                "CREATED",
                i,
                1,
                owner,
                created_at,
                orjson.dumps(changes).decode(),
                orjson.dumps(audience.to_json()).decode(),
                orjson.dumps(snapshot).decode(),
            )
        )
    return opps, participants, events
