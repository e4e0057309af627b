"""Users, teams and team membership: admin-managed."""

from __future__ import annotations

import re

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.crm.audit.services import record, record_change, snapshot
from app.crm.auth import throttle
from app.crm.auth.passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    Busy,
    has_capacity,
    hash_password,
    verify_password,
)
from app.crm.auth.services import revoke_all
from app.crm.errors import DomainError, ErrorCode, forbidden, not_found
from app.crm.opportunities.models import Participant
from app.crm.unit import Unit
from app.crm.users import handles
from app.crm.users.models import Team, TeamMember, User
from app.crm.validation import required_text
from app.crm.views.services import unshare_team_views

ROLES = ("ADMIN", "MEMBER")
# What the audit log keeps of a user: never the password or its hash.
_AUDITED = ("email", "name", "role", "is_active", "must_change_password")
# A handle is made at creation from the e-mail; a change of it is recorded.
_UPDATES_AUDITED = (*_AUDITED, "handle")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


async def active_user(unit: Unit, user_id: int, field: str) -> int:
    """`user_id` when it names an active user (an owner, an assignee); NOT_FOUND otherwise."""
    user = await unit.session.get(User, user_id)
    if user is None or not user.is_active:
        raise not_found("user", field)
    return user_id


def require_admin(unit: Unit) -> None:
    # No actor means the CLI, which runs with the server's own authority.
    if unit.actor is not None and not unit.actor.is_admin:
        raise forbidden("only admins may do this")


def check_email(email: str) -> str:
    cleaned = required_text("email", email, max_length=254).lower()
    if not _EMAIL.match(cleaned):
        raise DomainError(ErrorCode.INVALID, "email is not a valid e-mail address", ["email"])
    return cleaned


def check_password(password: str) -> str:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise DomainError(
            ErrorCode.INVALID,
            f"password must have {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters",
            ["password"],
        )
    return password


def check_role(role: str) -> str:
    if role not in ROLES:
        raise DomainError(ErrorCode.INVALID, f"role must be one of {', '.join(ROLES)}", ["role"])
    return role


async def _get_user(unit: Unit, user_id: int) -> User:
    user = await unit.session.get(User, user_id)
    if user is None:
        raise not_found("user", "id")
    return user


async def create_user(
    unit: Unit,
    *,
    email: str,
    name: str,
    password: str,
    role: str = "MEMBER",
    must_change_password: bool = False,
) -> User:
    require_admin(unit)
    email = check_email(email)
    user = User(
        email=email,
        handle=await handles.free_handle(unit, handles.user_base(email)),
        name=required_text("name", name, max_length=200),
        password_hash=await hash_password(check_password(password)),
        role=check_role(role),
        must_change_password=must_change_password,
    )
    unit.session.add(user)
    try:
        await unit.session.flush()
    except IntegrityError:
        raise DomainError(
            ErrorCode.DUPLICATE, "a user with this e-mail already exists", ["email"]
        ) from None
    record(unit, "user.create", "User", user.id, after=snapshot(user, _AUDITED))
    return user


async def update_user(
    unit: Unit,
    user_id: int,
    *,
    name: str | None = None,
    role: str | None = None,
    is_active: bool | None = None,
    handle: str | None = None,
) -> User:
    require_admin(unit)
    user = await _get_user(unit, user_id)
    actor = unit.actor
    if actor is not None and actor.user_id == user_id and (role == "MEMBER" or is_active is False):
        # An admin demoting or locking out themselves is almost always a mistake.
        raise DomainError(ErrorCode.INVALID, "admins cannot demote or deactivate themselves")
    before = snapshot(user, _UPDATES_AUDITED)
    if name is not None:
        user.name = required_text("name", name, max_length=200)
    if role is not None:
        user.role = check_role(role)
    if handle is not None:
        user.handle = await handles.claim_handle(
            unit, handles.check_handle(handle), user_id=user.id, team_id=None
        )
    if is_active is not None:
        if not is_active and user.is_active:
            # Reactivating the user must not bring their old tokens back.
            await revoke_all(unit, user_id)
        user.is_active = is_active
    unit.rights_changed = True
    await unit.session.flush()
    record_change(unit, "user.update", "User", user.id, before, snapshot(user, _UPDATES_AUDITED))
    return user


async def change_password(unit: Unit, *, current_password: str, new_password: str) -> User:
    actor = unit.require_actor()
    user = await _get_user(unit, actor.user_id)
    if not await verify_password(user.password_hash, current_password):
        raise DomainError(
            ErrorCode.INVALID_CREDENTIALS, "the current password is wrong", ["currentPassword"]
        )
    user.password_hash = await hash_password(check_password(new_password))
    user.must_change_password = False
    # Whoever held a token of theirs may be whom the password is being changed against.
    await revoke_all(unit, user.id)
    unit.rights_changed = True
    await unit.session.flush()
    # The action alone: nothing of a password, old or new, belongs in the log.
    record(unit, "user.password_change", "User", user.id)
    return user


async def log_in(
    sessions: async_sessionmaker[AsyncSession],
    *,
    email: str,
    password: str,
    address: str | None,
) -> User:
    """The user whose e-mail and password these are, through the login throttle.

    Three short transactions: counting the attempt (committed whatever follows, throttle.py),
    reading the user, and clearing the counts after a success. The password is checked in
    between, off the event loop, with no transaction open.
    """
    if not has_capacity():
        raise Busy
    counters = throttle.keys(email, address)
    async with sessions() as session, session.begin():
        await throttle.admit(session, counters)
    # No stored e-mail holds a NUL, and PostgreSQL would refuse it as a parameter.
    user = None
    if "\x00" not in email:
        async with sessions() as session:
            user = (
                await session.execute(select(User).where(func.lower(User.email) == email.lower()))
            ).scalar_one_or_none()
    ok = await verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:
        raise DomainError(ErrorCode.INVALID_CREDENTIALS, "wrong e-mail or password")
    async with sessions() as session, session.begin():
        await throttle.clear(session, counters)
    return user


async def create_team(unit: Unit, *, name: str) -> Team:
    require_admin(unit)
    name = required_text("name", name, max_length=200)
    handle = await handles.free_handle(unit, handles.base_handle(name, "team"))
    team = Team(name=name, handle=handle)
    unit.session.add(team)
    try:
        await unit.session.flush()
    except IntegrityError:
        raise DomainError(ErrorCode.DUPLICATE, "a team with this name exists", ["name"]) from None
    record(unit, "team.create", "Team", team.id, after={"name": team.name})
    return team


async def _get_team(unit: Unit, team_id: int) -> Team:
    team = await unit.session.get(Team, team_id)
    if team is None:
        raise not_found("team", "id")
    return team


async def rename_team(
    unit: Unit, team_id: int, *, name: str | None, handle: str | None = None
) -> Team:
    """A new name, a new handle (app/crm/users/handles.py), or both: renaming keeps the
    handle, so that `@team` in notes goes on meaning the same team."""
    require_admin(unit)
    team = await _get_team(unit, team_id)
    before = {"name": team.name, "handle": team.handle}
    if name is not None:
        team.name = required_text("name", name, max_length=200)
    if handle is not None:
        team.handle = await handles.claim_handle(
            unit, handles.check_handle(handle), user_id=None, team_id=team.id
        )
    try:
        await unit.session.flush()
    except IntegrityError:
        raise DomainError(ErrorCode.DUPLICATE, "a team with this name exists", ["name"]) from None
    after = {"name": team.name, "handle": team.handle}
    record_change(unit, "team.rename", "Team", team.id, before, after)
    return team


async def delete_team(unit: Unit, team_id: int) -> None:
    require_admin(unit)
    team = await _get_team(unit, team_id)
    linked = await unit.session.scalar(
        select(func.count()).select_from(Participant).where(Participant.team_id == team_id)
    )
    if linked:
        raise DomainError(
            ErrorCode.IN_USE, f"the team is linked to {linked} opportunities; unlink it first"
        )
    await unshare_team_views(unit, team_id)
    members = await unit.session.scalars(
        delete(TeamMember).where(TeamMember.team_id == team_id).returning(TeamMember.user_id)
    )
    before = {"name": team.name, "memberIds": sorted(members)}
    record(unit, "team.delete", "Team", team_id, before=before)
    unit.rights_changed = True
    await unit.session.delete(team)
    await unit.session.flush()


async def add_team_member(unit: Unit, team_id: int, user_id: int) -> Team:
    require_admin(unit)
    team = await _get_team(unit, team_id)
    await _get_user(unit, user_id)
    if await unit.session.get(TeamMember, (team_id, user_id)) is None:
        unit.session.add(TeamMember(team_id=team_id, user_id=user_id))
        unit.rights_changed = True
        await unit.session.flush()
        record(unit, "team.member_add", "Team", team_id, after={"userId": user_id})
    return team


async def remove_team_member(unit: Unit, team_id: int, user_id: int) -> Team:
    require_admin(unit)
    team = await _get_team(unit, team_id)
    removed = await unit.session.scalar(
        delete(TeamMember)
        .where(TeamMember.team_id == team_id, TeamMember.user_id == user_id)
        .returning(TeamMember.user_id)
    )
    if removed is not None:
        record(unit, "team.member_remove", "Team", team_id, before={"userId": user_id})
    unit.rights_changed = True
    return team


async def count_users(unit: Unit) -> int:
    return int(await unit.session.scalar(select(func.count()).select_from(User)) or 0)
