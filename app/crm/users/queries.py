"""Reads of users and teams, as plain rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, any_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.crm.actor import Actor
from app.crm.statements import Statement, by_key, keys
from app.crm.users.models import Team, TeamMember, User

_users = User.__table__
_teams = Team.__table__


async def load_actor(session: AsyncSession, user_id: int) -> Actor | None:
    """The acting user with their teams, or None if unknown or deactivated."""
    return (await load_actors(session, [user_id])).get(user_id)


SHOWN_COLUMNS = ("id", "email", "name", "handle", "role", "is_active", "created_at")
"""What reads of users for showing them select (never the password hash): every read of a
list of deals or a timeline carries its users, so the fewer columns the better."""

_USERS_BY_ID = Statement(
    select(*(_users.c[name] for name in SHOWN_COLUMNS)).where(_users.c.id == any_(keys("ids")))
)
_TEAMS_BY_ID = Statement(select(_teams).where(_teams.c.id == any_(keys("ids"))))


async def users_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, Any]:
    return by_key(await _USERS_BY_ID.rows(session, ids=list(ids)))


async def teams_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, Any]:
    return by_key(await _TEAMS_BY_ID.rows(session, ids=list(ids)))


async def list_users(session: AsyncSession, *, include_inactive: bool) -> Sequence[Row[Any]]:
    query = select(_users).order_by(func.lower(_users.c.name), _users.c.id)
    if not include_inactive:
        query = query.where(_users.c.is_active)
    return (await session.execute(query)).all()


async def list_teams(session: AsyncSession) -> Sequence[Row[Any]]:
    return (await session.execute(select(_teams).order_by(func.lower(_teams.c.name)))).all()


async def member_ids_by_team(
    session: AsyncSession, team_ids: Sequence[int]
) -> dict[int, list[int]]:
    rows = (
        await session.execute(
            select(TeamMember.team_id, TeamMember.user_id)
            .where(TeamMember.team_id.in_(team_ids))
            .order_by(TeamMember.user_id)
        )
    ).all()
    result: dict[int, list[int]] = {t: [] for t in team_ids}
    for team_id, user_id in rows:
        result[team_id].append(user_id)
    return result


async def team_ids_by_user(session: AsyncSession, user_ids: Sequence[int]) -> dict[int, list[int]]:
    rows = (
        await session.execute(
            select(TeamMember.user_id, TeamMember.team_id)
            .where(TeamMember.user_id.in_(user_ids))
            .order_by(TeamMember.team_id)
        )
    ).all()
    result: dict[int, list[int]] = {u: [] for u in user_ids}
    for user_id, team_id in rows:
        result[user_id].append(team_id)
    return result


# Compiled once: every request reads its actor.
_ACTORS = Statement(
    select(
        _users.c.id,
        _users.c.name,
        _users.c.email,
        _users.c.role,
        _users.c.must_change_password,
        select(func.array_agg(TeamMember.team_id))
        .where(TeamMember.user_id == _users.c.id)
        .scalar_subquery()
        .label("teams"),
    ).where(_users.c.id == any_(keys("user_ids")), _users.c.is_active)
)


async def load_actors(session: AsyncSession, user_ids: Sequence[int]) -> dict[int, Actor]:
    """Active users among `user_ids` with their teams, in one query."""
    rows = await _ACTORS.rows(session, user_ids=list(user_ids))
    return {
        r.id: Actor(
            r.id,
            r.name,
            r.email,
            r.role,
            frozenset(r.teams or ()),
            r.must_change_password,
        )
        for r in rows
    }
