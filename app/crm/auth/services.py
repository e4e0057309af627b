"""Issuing and revoking access tokens (tokens.py).

A login starts a session: a token that expires after TANDEM_TOKEN_TTL_SECONDS. A user makes
personal tokens for integrations: named, read-only or read-write, expiring when they choose
or never, shown once. Either kind ends when revoked: by its user (`logout` for the session
in hand, `revokeAccessToken` for any of theirs), by an admin, and all of a user's at once
when their password changes or they are deactivated.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.crm.audit.services import record, snapshot
from app.crm.auth.models import AccessToken
from app.crm.auth.tokens import new_secret, secret_hash, token_text
from app.crm.errors import DomainError, ErrorCode, not_found
from app.crm.folders.models import Folder
from app.crm.unit import Unit
from app.crm.validation import required_text

ACCESS = ("READ_WRITE", "READ_ONLY")
MOST_FOLDERS = 100
MOST_PERSONAL_TOKENS = 50
"""Live personal tokens per user: enough for every integration, few enough to review."""
_KEPT_AFTER_ENDING = timedelta(days=30)
"""How long a session stays listed (revoked or expired) before a later login removes it."""


async def start_session(
    sessions: async_sessionmaker[AsyncSession], secret_key: str, user_id: int, ttl_seconds: int
) -> tuple[str, datetime]:
    """A new session token for `user_id` and when it expires."""
    secret = new_secret()
    expires_at = datetime.now(UTC) + timedelta(seconds=ttl_seconds)
    async with sessions() as session, session.begin():
        token = AccessToken(
            user_id=user_id,
            kind="SESSION",
            secret_hash=secret_hash(secret_key, secret),
            access="READ_WRITE",
            expires_at=expires_at,
        )
        session.add(token)
        # Every login adds a row: the user's sessions long over are cleared as they go.
        ended = datetime.now(UTC) - _KEPT_AFTER_ENDING
        await session.execute(
            delete(AccessToken).where(
                AccessToken.user_id == user_id,
                AccessToken.kind == "SESSION",
                func.coalesce(AccessToken.revoked_at, AccessToken.expires_at) < ended,
            )
        )
        await session.flush()
        return token_text("SESSION", token.id, secret), expires_at


async def create_personal_token(
    unit: Unit,
    secret_key: str,
    *,
    name: str,
    access: str = "READ_WRITE",
    expires_at: datetime | None = None,
    folder_ids: Sequence[int] | None = None,
) -> tuple[AccessToken, str]:
    """The token's row and its text: the only time the text exists outside the client."""
    actor = unit.require_actor()
    if access not in ACCESS:
        raise DomainError(
            ErrorCode.INVALID, f"access must be one of {', '.join(ACCESS)}", ["access"]
        )
    if expires_at is not None and expires_at <= datetime.now(UTC):
        raise DomainError(ErrorCode.INVALID, "expiresAt must be in the future", ["expiresAt"])
    # Made by a person's session: a token never makes tokens (app/graphql/grants.py).
    reach = await _reach(unit, folder_ids)
    live = await unit.session.scalar(
        select(func.count())
        .select_from(AccessToken)
        .where(
            AccessToken.user_id == actor.user_id,
            AccessToken.kind == "PERSONAL",
            AccessToken.revoked_at.is_(None),
        )
    )
    if (live or 0) >= MOST_PERSONAL_TOKENS:
        raise DomainError(
            ErrorCode.OUT_OF_RANGE,
            f"a user may hold at most {MOST_PERSONAL_TOKENS} personal tokens; revoke one first",
        )
    secret = new_secret()
    token = AccessToken(
        user_id=actor.user_id,
        kind="PERSONAL",
        name=required_text("name", name, max_length=100),
        secret_hash=secret_hash(secret_key, secret),
        access=access,
        expires_at=expires_at,
        folder_ids=reach,
    )
    unit.session.add(token)
    await unit.session.flush()
    record(unit, "token.create", "AccessToken", token.id, after=_described(token))
    return token, token_text("PERSONAL", token.id, secret)


def _described(token: AccessToken) -> dict[str, object]:
    """What the audit log keeps of a token: never its secret's hash."""
    return snapshot(token, ("user_id", "kind", "name", "access", "expires_at", "folder_ids"))


async def _reach(unit: Unit, folder_ids: Sequence[int] | None) -> list[int] | None:
    """The folders a new token is limited to, checked; None: all."""
    if folder_ids is None:
        return None
    unique = sorted(set(folder_ids))
    if not unique or len(unique) > MOST_FOLDERS:
        raise DomainError(
            ErrorCode.OUT_OF_RANGE,
            f"name 1 to {MOST_FOLDERS} folders (or none at all for a token that reaches every "
            "deal)",
            ["folderIds"],
        )
    found = set(await unit.session.scalars(select(Folder.id).where(Folder.id.in_(unique))))
    if len(found) != len(unique):
        raise not_found("folder", "folderIds")
    return unique


async def revoke_token(unit: Unit, token_id: int) -> AccessToken:
    """Revoke one of the actor's tokens (an admin: anyone's). Revoking a revoked token
    changes nothing and is no error: the client wanted it gone, and it is."""
    actor = unit.require_actor()
    token = await unit.session.get(AccessToken, token_id, with_for_update=True)
    if token is None or (token.user_id != actor.user_id and not actor.is_admin):
        raise not_found("access token", "id")
    if token.revoked_at is None:
        token.revoked_at = datetime.now(UTC)
        unit.rights_changed = True
        await unit.session.flush()
        # A session ending by its own user's hand (logout) is no admin action; a personal
        # token's revocation, or another user's token revoked by an admin, is.
        if token.kind == "PERSONAL" or token.user_id != actor.user_id:
            record(
                unit,
                "token.revoke",
                "AccessToken",
                token.id,
                before={**_described(token), "revokedAt": None},
                after={"revokedAt": token.revoked_at},
            )
    return token


async def log_out(unit: Unit) -> None:
    """Revoke the token the actor came with."""
    grant = unit.require_actor().grant
    if grant is None:
        raise DomainError(ErrorCode.INVALID, "no token to log out of")
    await revoke_token(unit, grant.token_id)


async def revoke_all(unit: Unit, user_id: int) -> None:
    """End every token of the user's (a password change, a deactivation)."""
    await unit.session.execute(
        update(AccessToken)
        .where(AccessToken.user_id == user_id, AccessToken.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )
    unit.rights_changed = True


class LastUses:
    """When each token was last used, written at most once a minute per token and process:
    a request costs a lookup here, not a write (`lastUsedAt` is to the minute)."""

    EVERY_SECONDS = 60.0

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, writes: bool = True) -> None:
        self._sessions = sessions
        self._writes = writes
        self._written: dict[int, float] = {}

    async def used(self, token_id: int) -> None:
        if not self._writes:
            return
        now = time.monotonic()
        if now - self._written.get(token_id, -self.EVERY_SECONDS) < self.EVERY_SECONDS:
            return
        if len(self._written) >= 100_000:
            self._written.clear()  # bounded; forgetting costs one early write per token
        self._written[token_id] = now
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(AccessToken)
                .where(AccessToken.id == token_id)
                .values(last_used_at=func.now())
            )
