"""Bearer tokens: `<user id>.<expiry>.<credential stamp>.<HMAC-SHA256>`, signed with the
server's secret key.

Stateless, so any server process can check a token without a lookup of its own; the user row
is still read on each request, so a deactivated user is locked out at once. The credential
stamp is derived from the user's password hash, so changing the password ends every token
issued before.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass

from app.memo import Memo


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: int
    stamp: str


def credential_stamp(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def _sign(secret: str, payload: str) -> str:
    # The one-shot digest: a request checks its token before anything else runs.
    digest = hmac.digest(secret.encode(), payload.encode(), "sha256")
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue_token(
    secret: str, user_id: int, ttl_seconds: int, stamp: str = "", now: float | None = None
) -> str:
    expires = int((now if now is not None else time.time()) + ttl_seconds)
    payload = f"{user_id}.{expires}.{stamp}"
    return f"{payload}.{_sign(secret, payload)}"


_CHECKED: Memo[tuple[str, str], tuple[int, int, str]] = Memo(4096)
"""Tokens whose signature was found good, by (secret, token): an app sends the same token
with every request, and checking it again cost as much as reading a small page's rows.
Their expiry is checked every time."""


def read_token(secret: str, token: str, now: float | None = None) -> TokenClaims | None:
    """The claims of a valid, unexpired token; None for anything else."""
    checked = _CHECKED.get((secret, token))
    if checked is None:
        parts = token.split(".")
        if len(parts) != 4 or len(token) > 200:
            return None
        user_part, expires_part, stamp, signature = parts
        if not hmac.compare_digest(_sign(secret, f"{user_part}.{expires_part}.{stamp}"), signature):
            return None
        try:
            checked = (int(user_part), int(expires_part), stamp)
        except ValueError:
            return None
        _CHECKED.keep((secret, token), checked)
    user_id, expires, stamp = checked
    if expires < (now if now is not None else time.time()):
        return None
    return TokenClaims(user_id, stamp)
