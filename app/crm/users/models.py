from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from app.crm.columns import BigId, CreatedAt, UpdatedAt
from app.db import Base

HANDLE_CHECK = "handle ~ '^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$'"
"""A mention's handle (app/crm/users/handles.py), as the database keeps it."""


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        # E-mail addresses are compared case-insensitively everywhere.
        Index("uq_users_email_lower", func.lower(text("email")), unique=True),
        CheckConstraint("role IN ('ADMIN', 'MEMBER')", name="role"),
        # Stored lowercase, so unique means unique case-insensitively (app/crm/users/handles.py).
        Index("uq_users_handle", "handle", unique=True),
        CheckConstraint(HANDLE_CHECK, name="handle"),
    )

    id: Mapped[BigId]
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(200))
    handle: Mapped[str] = mapped_column(String(40))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default="MEMBER")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    must_change_password: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]


class Team(Base):
    __tablename__ = "teams"
    __table_args__ = (
        Index("uq_teams_name_lower", func.lower(text("name")), unique=True),
        Index("uq_teams_handle", "handle", unique=True),
        CheckConstraint(HANDLE_CHECK, name="handle"),
    )

    id: Mapped[BigId]
    name: Mapped[str] = mapped_column(String(200))
    handle: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]


class TeamMember(Base):
    __tablename__ = "team_members"

    team_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
