"""Password hashing with argon2id.

The standard profile is RFC 9106's second recommendation (64 MiB, 3 passes): about 0.1 s a
hash on a 2-core machine, which is the point. The fast profile exists for test suites and
throw-away demo servers only, where hundreds of hashes would otherwise dominate the run. A hash
records its own parameters, so changing the profile never locks anybody out.
"""

from __future__ import annotations

import secrets
from functools import cache

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

PROFILES = {
    "standard": profiles.RFC_9106_LOW_MEMORY,
    "fast": profiles.CHEAPEST,
}

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256

_hasher = PasswordHasher.from_parameters(PROFILES["standard"])


def configure(profile: str) -> None:
    global _hasher
    _hasher = PasswordHasher.from_parameters(PROFILES[profile])


@cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    # Verifying against this when the e-mail is unknown keeps login timing the same either way.
    return hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        verified = _hasher.verify(password_hash or _dummy_hash(_hasher), password)
    except (VerificationError, InvalidHashError):
        return False
    return verified and password_hash is not None


def generate_password() -> str:
    return secrets.token_urlsafe(12)
