"""Password hashing with argon2id.

The standard profile is RFC 9106's second recommendation (64 MiB, 3 passes): about 0.1 s a
hash on a 2-core machine, which is the point. The fast profile exists for test suites and
throw-away demo servers only, where hundreds of hashes would otherwise dominate the run. A hash
records its own parameters, so changing the profile never locks anybody out.

Hashing runs on a small pool of threads, never on the event loop: argon2 releases the GIL, so
a burst of logins keeps the pool's threads busy while queries and live events go on. The
number waiting for the pool is bounded too; past it, a login is refused at once (`Busy`)
instead of queueing for seconds.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import TypeVar

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

from app.crm.errors import DomainError, ErrorCode

T = TypeVar("T")

PROFILES = {
    "standard": profiles.RFC_9106_LOW_MEMORY,
    "fast": profiles.CHEAPEST,
}

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256

_hasher = PasswordHasher.from_parameters(PROFILES["standard"])

# A standard-cost hash already runs its four lanes on threads of its own, so one pool thread
# per two cores keeps the machine's cores busy while leaving room for the event loop and
# PostgreSQL (bench/logins.py: /health p99 64 ms during bursts with one thread, 91 with two).
_THREADS = max(1, min(4, (os.cpu_count() or 1) // 2))
_pool = ThreadPoolExecutor(max_workers=_THREADS, thread_name_prefix="tandem-argon2")
# About five seconds of work at the standard cost on a 2-core machine; past it, BUSY at once.
MAX_WAITING = 32 * _THREADS
_waiting = 0


class Busy(DomainError):
    def __init__(self) -> None:
        super().__init__(
            ErrorCode.BUSY,
            "the server is busy checking other passwords; try again in a second",
            retry_after=1,
        )


def has_capacity() -> bool:
    """Whether a password check would be taken now rather than refused as Busy."""
    return _waiting < MAX_WAITING


def configure(profile: str) -> None:
    global _hasher
    _hasher = PasswordHasher.from_parameters(PROFILES[profile])


@cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    # Verifying against this when the e-mail is unknown keeps login timing the same either way.
    return hasher.hash(secrets.token_urlsafe(16))


def _verify(hasher: PasswordHasher, password_hash: str | None, password: str) -> bool:
    try:
        verified = hasher.verify(password_hash or _dummy_hash(hasher), password)
    except (VerificationError, InvalidHashError):
        return False
    return verified and password_hash is not None


async def _off_the_loop(work: Callable[[], T]) -> T:
    global _waiting
    if _waiting >= MAX_WAITING:
        raise Busy
    _waiting += 1
    try:
        return await asyncio.get_running_loop().run_in_executor(_pool, work)
    finally:
        _waiting -= 1


async def hash_password(password: str) -> str:
    hasher = _hasher
    return await _off_the_loop(lambda: hasher.hash(password))


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches; as slow for an unknown user (no hash) as for a known one."""
    hasher = _hasher
    return await _off_the_loop(lambda: _verify(hasher, password_hash, password))


def hash_password_now(password: str) -> str:
    """For command-line tools and seeding, which have no event loop to keep free."""
    return _hasher.hash(password)


def generate_password() -> str:
    return secrets.token_urlsafe(12)
