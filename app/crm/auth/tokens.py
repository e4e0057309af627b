"""Access tokens as clients hold them: `tdm_<kind>_<id>_<secret>`.

Every token is a row of `access_tokens` (models.py): a login's session (`tdm_s_…`) or a
personal token for an integration (`tdm_p_…`; the prefix lets secret scanners and people tell
them apart). The row keeps an HMAC of the secret, keyed with the server's secret key, never
the secret itself: the database alone cannot give a token back, and changing
TANDEM_SECRET_KEY revokes every token at once. Whether a token still works is the row's to
say (revoked, expired), so a token can be revoked one by one: logout, a password change, an
admin deactivating its user.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

PREFIXES = {"SESSION": "tdm_s", "PERSONAL": "tdm_p"}
_KINDS = {prefix: kind for kind, prefix in PREFIXES.items()}
_LONGEST = 120
"""Longer than any token this server makes: a longer one is refused unread."""


@dataclass(frozen=True, slots=True)
class Presented:
    """A token as a request presented it, well-formed but not yet checked."""

    token_id: int
    kind: str
    secret: str


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def token_text(kind: str, token_id: int, secret: str) -> str:
    return f"{PREFIXES[kind]}_{token_id}_{secret}"


def secret_hash(secret_key: str, secret: str) -> str:
    # 256 random bits need no slow hash: nobody can guess one, so no stretching is needed.
    return hmac.new(secret_key.encode(), secret.encode(), hashlib.sha256).hexdigest()


def read_token(token: str) -> Presented | None:
    """The parts of a well-formed token; None for anything else."""
    if len(token) > _LONGEST:
        return None
    parts = token.split("_")
    if len(parts) < 4 or not parts[2].isdigit() or len(parts[2]) > 18:
        return None
    prefix = f"{parts[0]}_{parts[1]}"
    kind = _KINDS.get(prefix)
    if kind is None:
        return None
    # A secret may itself hold "_" (URL-safe base64): everything after the id is the secret.
    secret = token[len(prefix) + len(parts[2]) + 2 :]
    if not secret:
        return None
    return Presented(int(parts[2]), kind, secret)


def matches(secret_key: str, presented: Presented, stored_hash: str) -> bool:
    return hmac.compare_digest(secret_hash(secret_key, presented.secret), stored_hash)
