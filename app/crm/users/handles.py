"""Handles: the `@name` by which a user or a team is mentioned in an activity's text.

The rule (docs/mentions.md): 1 to 40 characters of lowercase ASCII letters, digits and `.`,
`_`, `-`, starting and ending with a letter or digit (so `@mia.` at a sentence's end is
`@mia`). Users and teams share one namespace, so a handle names exactly one of them; it is
stored lowercase, which makes it unique case-insensitively. A new user's handle is made
from the local part of their e-mail address (`mia.keller@…` → `mia.keller`), a new team's
from its name (`Sales East` → `sales-east`), with a number added when taken (`mia2`).
Handles are stable: renaming a user or team keeps theirs; admins may change it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, func, literal, select, union_all

from app.crm.errors import DomainError, ErrorCode
from app.crm.unit import Unit
from app.crm.users.models import Team, User

MAX_HANDLE_LENGTH = 40
HANDLE = re.compile(r"[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?")
_SEPARATORS = re.compile(r"[._-]{2,}")
_OTHER = re.compile(r"[^a-z0-9._-]+")
# Room for a number when the base is taken.
_BASE_LENGTH = MAX_HANDLE_LENGTH - 4


def is_handle(value: str) -> bool:
    return (
        len(value) <= MAX_HANDLE_LENGTH and value.isascii() and HANDLE.fullmatch(value) is not None
    )


def base_handle(text: str, fallback: str) -> str:
    """A handle made from free text: accents dropped, other characters become `-`."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = _OTHER.sub("-", ascii_text.lower())
    slug = _SEPARATORS.sub(lambda m: m.group(0)[0], slug)
    slug = slug[:_BASE_LENGTH].strip("._-")
    return slug or fallback


def user_base(email: str) -> str:
    # `mia+crm@…` is Mia: a sub-address tag is not part of the name.
    local = email.split("@", 1)[0].split("+", 1)[0]
    return base_handle(local, "user")


def check_handle(value: str) -> str:
    """An admin's handle for a user or team, lowercased (a leading `@` is allowed)."""
    handle = value.strip().removeprefix("@").lower()
    if not handle:
        raise DomainError(ErrorCode.REQUIRED, "handle must not be empty", ["handle"])
    if len(handle) > MAX_HANDLE_LENGTH:
        raise DomainError(
            ErrorCode.TOO_LONG,
            f"handle is longer than {MAX_HANDLE_LENGTH} characters",
            ["handle"],
        )
    if not is_handle(handle):
        raise DomainError(
            ErrorCode.INVALID,
            "handle may hold only a-z, 0-9, '.', '_' and '-', and must start and end with "
            "a letter or digit",
            ["handle"],
        )
    return handle


async def _lock(unit: Unit) -> None:
    # Users and teams share the namespace, which no one index can keep: whoever assigns a
    # handle holds this lock until their transaction ends.
    await unit.session.execute(select(func.pg_advisory_xact_lock(func.hashtext("tandem.handles"))))


def _taken_like(base: str) -> Select[Any]:
    """Handles of users and teams that are `base` or `base` with a number."""
    pattern = f"^{re.escape(base)}-?[0-9]+$"
    users = select(User.handle.label("handle")).where(
        (User.handle == base) | User.handle.regexp_match(pattern)
    )
    teams = select(Team.handle.label("handle")).where(
        (Team.handle == base) | Team.handle.regexp_match(pattern)
    )
    return select(union_all(users, teams).subquery().c.handle)


async def free_handle(unit: Unit, base: str) -> str:
    """`base`, or `base` with the lowest number that makes it free."""
    await _lock(unit)
    return first_free(base, (await unit.session.scalars(_taken_like(base))).all())


def first_free(base: str, taken: Iterable[str]) -> str:
    used = set(taken)
    if base not in used:
        return base
    # `team-01` + 2 would read as `team-012`.
    joint = "-" if base[-1].isdigit() else ""
    number = 2
    while f"{base}{joint}{number}" in used:
        number += 1
    return f"{base}{joint}{number}"


async def claim_handle(unit: Unit, handle: str, *, user_id: int | None, team_id: int | None) -> str:
    """`handle` for that user or team, refused with DUPLICATE when another one has it."""
    await _lock(unit)
    holders = (
        await unit.session.execute(
            union_all(
                select(literal("USER").label("kind"), User.id).where(User.handle == handle),
                select(literal("TEAM").label("kind"), Team.id).where(Team.handle == handle),
            )
        )
    ).all()
    if any(h != ("USER", user_id) and h != ("TEAM", team_id) for h in map(tuple, holders)):
        raise DomainError(ErrorCode.DUPLICATE, f"@{handle} is taken", ["handle"])
    return handle
