"""Reads of access tokens: the one a request presents, and a user's list."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Row, any_, bindparam, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.crm.actor import Actor, Grant
from app.crm.auth.models import AccessToken
from app.crm.auth.tokens import Presented, matches
from app.crm.statements import Statement, keys
from app.crm.users.queries import load_actor

_tokens = AccessToken.__table__

_LIVE = (
    _tokens.c.revoked_at.is_(None),
    or_(_tokens.c.expires_at.is_(None), _tokens.c.expires_at > func.now()),
)
"""A token that still works: not revoked, not expired (by the database's clock, the one
revocations and expiries are written with)."""

_PRESENTED = Statement(
    select(
        _tokens.c.user_id,
        _tokens.c.kind,
        _tokens.c.secret_hash,
        _tokens.c.access,
        _tokens.c.expires_at,
        _tokens.c.folder_ids,
    ).where(_tokens.c.id == bindparam("token_id"), *_LIVE)
)

_STILL_LIVE = Statement(select(_tokens.c.id).where(_tokens.c.id == any_(keys("ids")), *_LIVE))


async def load_actor_for_token(
    session: AsyncSession, secret_key: str, presented: Presented
) -> Actor | None:
    """The token's user with what the token allows; None unless the token is live and its
    user active."""
    found = await _PRESENTED.rows(session, token_id=presented.token_id)
    if not found:
        return None
    token = found[0]
    if token.kind != presented.kind or not matches(secret_key, presented, token.secret_hash):
        return None
    actor = await load_actor(session, token.user_id)
    if actor is None:
        return None
    grant = Grant(
        presented.token_id,
        token.kind,
        token.access == "READ_ONLY",
        token.expires_at,
        frozenset(token.folder_ids) if token.folder_ids is not None else None,
    )
    return replace(actor, grant=grant)


async def live_tokens(session: AsyncSession, token_ids: Sequence[int]) -> set[int]:
    """Those of `token_ids` that still work."""
    return {row.id for row in await _STILL_LIVE.rows(session, ids=list(token_ids))}


async def list_tokens(
    session: AsyncSession, user_id: int, *, kind: str | None, include_revoked: bool
) -> Sequence[Row[Any]]:
    """A user's tokens, newest first: what they are, never their secrets' hashes."""
    query = (
        select(*(c for c in _tokens.c if c.name != "secret_hash"))
        .where(_tokens.c.user_id == user_id)
        .order_by(_tokens.c.id.desc())
    )
    if kind is not None:
        query = query.where(_tokens.c.kind == kind)
    if not include_revoked:
        query = query.where(*_LIVE)
    return (await session.execute(query)).all()
