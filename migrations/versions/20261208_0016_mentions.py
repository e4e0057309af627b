"""mentions: the users and teams an activity's text mentions

Users and teams get a handle (`@mia`, `@sales-east`), made for the existing ones here by the
rule new ones follow (app/crm/users/handles.py; a copy, so that this migration stays as it
is when that module changes): a user's from their e-mail's local part, a team's from its
name, lowercase, with a number added when taken; users first, then teams, each by id.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08 00:00:00
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_HANDLE_CHECK = "handle ~ '^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$'"


def _base(text: str, fallback: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9._-]+", "-", ascii_text.lower())
    slug = re.sub(r"[._-]{2,}", lambda m: m.group(0)[0], slug)
    return slug[:36].strip("._-") or fallback


def _free(base: str, taken: set[str]) -> str:
    handle, number = base, 2
    joint = "-" if base[-1].isdigit() else ""
    while handle in taken:
        handle, number = f"{base}{joint}{number}", number + 1
    taken.add(handle)
    return handle


def upgrade() -> None:
    op.add_column("users", sa.Column("handle", sa.String(length=40), nullable=True))
    op.add_column("teams", sa.Column("handle", sa.String(length=40), nullable=True))
    connection = op.get_bind()
    taken: set[str] = set()
    users = connection.execute(sa.text("SELECT id, email FROM users ORDER BY id")).all()
    for user_id, email in users:
        local = email.split("@", 1)[0].split("+", 1)[0]
        connection.execute(
            sa.text("UPDATE users SET handle = :handle WHERE id = :id"),
            {"handle": _free(_base(local, "user"), taken), "id": user_id},
        )
    teams = connection.execute(sa.text("SELECT id, name FROM teams ORDER BY id")).all()
    for team_id, name in teams:
        connection.execute(
            sa.text("UPDATE teams SET handle = :handle WHERE id = :id"),
            {"handle": _free(_base(name, "team"), taken), "id": team_id},
        )
    for table in ("users", "teams"):
        op.alter_column(table, "handle", nullable=False)
        op.create_check_constraint(op.f(f"ck_{table}_handle"), table, _HANDLE_CHECK)
        op.create_index(f"uq_{table}_handle", table, ["handle"], unique=True)

    op.create_table(
        "activity_mentions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("activity_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("team_id", sa.BigInteger(), nullable=True),
        sa.Column("start", sa.Integer(), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "num_nonnulls(user_id, team_id) = 1", name=op.f("ck_activity_mentions_one_target")
        ),
        sa.CheckConstraint("start >= 0 AND length > 1", name=op.f("ck_activity_mentions_span")),
        sa.ForeignKeyConstraint(
            ["activity_id"],
            ["activities.id"],
            name=op.f("fk_activity_mentions_activity_id_activities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_activity_mentions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_activity_mentions_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_mentions")),
    )
    op.create_index("ix_activity_mentions_activity", "activity_mentions", ["activity_id", "start"])
    op.create_index(
        "ix_activity_mentions_user",
        "activity_mentions",
        ["user_id"],
        postgresql_where=sa.text("user_id IS NOT NULL"),
    )
    op.create_index(
        "ix_activity_mentions_team",
        "activity_mentions",
        ["team_id"],
        postgresql_where=sa.text("team_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_activity_mentions_team",
        table_name="activity_mentions",
        postgresql_where=sa.text("team_id IS NOT NULL"),
    )
    op.drop_index(
        "ix_activity_mentions_user",
        table_name="activity_mentions",
        postgresql_where=sa.text("user_id IS NOT NULL"),
    )
    op.drop_index("ix_activity_mentions_activity", table_name="activity_mentions")
    op.drop_table("activity_mentions")
    for table in ("teams", "users"):
        op.drop_index(f"uq_{table}_handle", table_name=table)
        op.drop_constraint(op.f(f"ck_{table}_handle"), table, type_="check")
        op.drop_column(table, "handle")
