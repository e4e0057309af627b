"""Bearer tokens: `<user id>.<expiry>.<HMAC-SHA256>`, signed with the server's secret key.

Stateless, so any server process can check a token without a lookup; the user row is still
read on each request, so a deactivated user is locked out at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time


def _sign(secret: str, payload: str) -> str:
    digest = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue_token(secret: str, user_id: int, ttl_seconds: int, now: float | None = None) -> str:
    expires = int((now if now is not None else time.time()) + ttl_seconds)
    payload = f"{user_id}.{expires}"
    return f"{payload}.{_sign(secret, payload)}"


def read_token(secret: str, token: str, now: float | None = None) -> int | None:
    """The user id in a valid, unexpired token; None for anything else."""
    parts = token.split(".")
    if len(parts) != 3 or len(token) > 200:
        return None
    user_part, expires_part, signature = parts
    if not hmac.compare_digest(_sign(secret, f"{user_part}.{expires_part}"), signature):
        return None
    try:
        user_id, expires = int(user_part), int(expires_part)
    except ValueError:
        return None
    if expires < (now if now is not None else time.time()):
        return None
    return user_id
