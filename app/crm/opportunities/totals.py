"""Running totals of the pipeline: count, value and weighted value of the live deals per
(visibility, status, stage, owner, currency), kept by PostgreSQL as deals change.

Why: "All open, by stage" sums every open deal. At a million deals that is ~200 ms of
aggregation however it is indexed, and a board asks for it on every open. Instead a statement
trigger on `opportunities` (migration 0008) appends each statement's net change to
`opportunity_total_changes`, in the writer's transaction; the totals are
`opportunity_totals` plus those changes, exact in any snapshot. Writers only append, so they
never queue for a total's row lock; a server folds the changes into the totals every few
seconds (fold()), in one transaction, so no reader sees a change counted twice or missed.

Only conditions on the key can be answered here (answers()); other filters and groupings sum
the deals themselves (groups.py). Which private deals a member sees depends on their links,
so for members only the public part comes from here.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Numeric, String, select, text, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.crm.columns import BigId
from app.crm.opportunities.filters import OpportunityFilter
from app.db import Base

KEY = ("visibility", "status", "stage_id", "owner_id", "currency")


class OpportunityTotal(Base):
    """The live deals of one key, as of the last fold."""

    __tablename__ = "opportunity_totals"

    visibility: Mapped[str] = mapped_column(String(8), primary_key=True)
    status: Mapped[str] = mapped_column(String(8), primary_key=True)
    stage_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    owner_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[Decimal] = mapped_column(Numeric)
    # The sum of amount * probability (in percent): exact; divided by 100 when read.
    weighted: Mapped[Decimal] = mapped_column(Numeric)


class OpportunityTotalChange(Base):
    """One statement's net change to one key, not folded yet (negative: deals left it)."""

    __tablename__ = "opportunity_total_changes"

    id: Mapped[BigId]
    visibility: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(8))
    stage_id: Mapped[int] = mapped_column(BigInteger)
    owner_id: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    count: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[Decimal] = mapped_column(Numeric)
    weighted: Mapped[Decimal] = mapped_column(Numeric)


def answers(f: OpportunityFilter) -> bool:
    """Can the totals answer `f`: conditions on their key only, joined by AND."""
    rest = replace(f, all_of=(), statuses=(), stage_ids=(), owner_ids=(), mine=False)
    return rest == OpportunityFilter() and all(answers(child) for child in f.all_of)


def running(f: OpportunityFilter, me: int, key: str, *, public_only: bool) -> Any:
    """The totals `f` selects (answers(f) must hold), folded and not, as rows of (key,
    currency, count, value, weighted) where key is the column `key` of the totals."""
    parts = []
    for model in (OpportunityTotal, OpportunityTotalChange):
        table: Any = model.__table__
        where = _conditions(f, me, table)
        if public_only:
            where.append(table.c.visibility == "PUBLIC")
        columns = (table.c[key].label("key"), table.c.currency, table.c.count, table.c.value)
        parts.append(select(*columns, table.c.weighted).where(*where))
    return union_all(*parts)


def _conditions(f: OpportunityFilter, me: int, table: Any) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if f.mine:
        clauses.append(table.c.owner_id == me)
    if f.statuses:
        clauses.append(table.c.status.in_(f.statuses))
    if f.stage_ids:
        clauses.append(table.c.stage_id.in_(f.stage_ids))
    if f.owner_ids:
        clauses.append(table.c.owner_id.in_(f.owner_ids))
    for child in f.all_of:
        clauses += _conditions(child, me, table)
    return clauses


# Any number for the advisory lock, as long as nothing else uses it.
_FOLD_LOCK = 0x7A4D_0E70
_KEY = ", ".join(KEY)
_FOLD = text(
    f"""
    WITH moved AS (
        DELETE FROM opportunity_total_changes
        RETURNING {_KEY}, count, value, weighted
    )
    INSERT INTO opportunity_totals ({_KEY}, count, value, weighted)
    SELECT {_KEY}, sum(count), sum(value), sum(weighted) FROM moved GROUP BY {_KEY}
    ON CONFLICT ({_KEY}) DO UPDATE SET
        count = opportunity_totals.count + excluded.count,
        value = opportunity_totals.value + excluded.value,
        weighted = opportunity_totals.weighted + excluded.weighted
    """
)


async def fold(session: AsyncSession) -> int:
    """Fold the pending changes into the totals; how many totals it changed.

    One folder at a time (two would each upsert keys in their own order, a deadlock); a
    change committed while this runs is not in its snapshot and waits for the next fold.
    """
    async with session.begin():
        if not await session.scalar(text(f"SELECT pg_try_advisory_xact_lock({_FOLD_LOCK})")):
            return 0
        folded = (await session.execute(_FOLD)).rowcount  # type: ignore[attr-defined]
        await session.execute(text("DELETE FROM opportunity_totals WHERE count = 0"))
    return int(folded or 0)


_CURRENT = f"""
    SELECT {_KEY}, sum(count) AS count, sum(value) AS value, sum(weighted) AS weighted
    FROM (
        SELECT {_KEY}, count, value, weighted FROM opportunity_totals
        UNION ALL
        SELECT {_KEY}, count, value, weighted FROM opportunity_total_changes
    ) AS kept
    GROUP BY {_KEY} HAVING sum(count) <> 0 OR sum(value) <> 0 OR sum(weighted) <> 0
"""
_COUNTED = f"""
    SELECT {_KEY}, count(*) AS count, sum(amount) AS value, sum(amount * probability) AS weighted
    FROM opportunities WHERE deleted_at IS NULL GROUP BY {_KEY}
"""


async def rebuild(session: AsyncSession) -> int:
    """Count the totals afresh from the deals; how many keys were wrong.

    For an admin who suspects drift (the trigger can only be bypassed by someone who turns
    triggers off, e.g. a bulk load with session_replication_role = replica). Writers wait
    for it (a SHARE lock on the deals); readers do not.
    """
    async with session.begin():
        await session.execute(text("LOCK TABLE opportunities IN SHARE MODE"))
        wrong = await session.scalar(
            text(
                f"SELECT count(*) FROM ({_CURRENT}) AS kept FULL JOIN ({_COUNTED}) AS counted"
                f" USING ({_KEY}) WHERE kept.count IS DISTINCT FROM counted.count"
                " OR kept.value IS DISTINCT FROM counted.value"
                " OR kept.weighted IS DISTINCT FROM counted.weighted"
            )
        )
        await session.execute(text("DELETE FROM opportunity_total_changes"))
        await session.execute(text("DELETE FROM opportunity_totals"))
        await session.execute(
            text(f"INSERT INTO opportunity_totals ({_KEY}, count, value, weighted) {_COUNTED}")
        )
    return int(wrong or 0)
