"""The login throttle: failed logins slow down per account and per client address.

Each attempt is counted *before* its password is checked, in a short transaction of its own,
so a burst of concurrent guesses cannot all slip in before the first failure is recorded; a
successful login then clears the counts it made. Past a policy's free attempts, the next
attempt is refused until a block ends: 30 s, doubling with each further failure, at most
15 minutes. Counts are forgotten 15 minutes after the last failure. The counts live in the
database, so every server process sees the same ones.

Refused attempts are not counted: a blocked account cannot be kept blocked longer by hammering
it, and the work a refusal costs is one small transaction, never a password hash.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.crm.auth.models import LoginFailure
from app.crm.errors import DomainError, ErrorCode

WINDOW = timedelta(minutes=15)
FIRST_BLOCK = timedelta(seconds=30)
LONGEST_BLOCK = timedelta(minutes=15)
# Rows this old have expired (window and longest block both over): removed as logins happen.
_STALE = WINDOW + LONGEST_BLOCK
_SWEEP_AT_MOST = 100


@dataclass(frozen=True, slots=True)
class Policy:
    kind: str
    free_attempts: int


ACCOUNT = Policy("account", 5)
# One address may be an office behind one NAT: it gets more room than one account does.
ADDRESS = Policy("address", 20)


class Throttled(DomainError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(
            ErrorCode.TOO_MANY_ATTEMPTS,
            f"too many failed logins; try again in {retry_after} s",
            retry_after=retry_after,
        )


def keys(email: str, address: str | None) -> dict[str, Policy]:
    """The counters one attempt moves: its account's (known or not) and its address's."""
    # PostgreSQL text holds no NUL; an e-mail with one is still counted, under an escape.
    account = email.strip().lower()[:320].replace("\x00", "\\0")
    found = {f"account:{account}": ACCOUNT}
    if address:
        found[f"address:{address[:64]}"] = ADDRESS
    return found


def block_after(failures: int, policy: Policy) -> timedelta | None:
    if failures < policy.free_attempts:
        return None
    doublings = min(failures - policy.free_attempts, 16)
    return min(FIRST_BLOCK * (1 << doublings), LONGEST_BLOCK)


async def admit(session: AsyncSession, counters: dict[str, Policy]) -> None:
    """Count one attempt on each counter, or raise Throttled (counting nothing) while any of
    them is blocked. Run in a transaction of its own, committed before the password check."""
    now = await session.scalar(select(func.now()))
    assert isinstance(now, datetime)
    await session.execute(
        delete(LoginFailure).where(
            LoginFailure.key.in_(
                select(LoginFailure.key)
                .where(LoginFailure.last_failed_at < now - _STALE)
                .limit(_SWEEP_AT_MOST)
                .with_for_update(skip_locked=True)
            )
        )
    )
    ordered = sorted(counters)  # one lock order for every attempt: no deadlocks
    await session.execute(
        insert(LoginFailure)
        .values([{"key": key, "failures": 0, "last_failed_at": now} for key in ordered])
        .on_conflict_do_nothing()
    )
    rows: Sequence[LoginFailure] = (
        await session.scalars(
            select(LoginFailure)
            .where(LoginFailure.key.in_(ordered))
            .order_by(LoginFailure.key)
            .with_for_update()
        )
    ).all()
    blocked = [row.blocked_until for row in rows if row.blocked_until and row.blocked_until > now]
    if blocked:
        raise Throttled(math.ceil((max(blocked) - now).total_seconds()))
    for row in rows:
        if row.last_failed_at < now - WINDOW:
            row.failures = 0
        row.failures += 1
        row.last_failed_at = now
        block = block_after(row.failures, counters[row.key])
        row.blocked_until = now + block if block else None
    await session.flush()


async def clear(session: AsyncSession, counters: dict[str, Policy]) -> None:
    """A successful login: its account and address start afresh."""
    await session.execute(delete(LoginFailure).where(LoginFailure.key.in_(sorted(counters))))
