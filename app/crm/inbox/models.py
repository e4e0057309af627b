"""Notifications and each user's choice of the kinds they get."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.crm.columns import BigId, CreatedAt
from app.db import Base


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        # The inbox is read newest first, by page; a live event reads its own rows.
        Index("ix_notifications_user_seq", "user_id", text("seq DESC"), text("id DESC")),
        # The unread count, asked on every page load and after every change to the inbox.
        Index(
            "ix_notifications_unread",
            "user_id",
            "opportunity_id",
            postgresql_where=text("read_at IS NULL"),
        ),
        Index(
            "ix_notifications_read_seq",
            "user_id",
            "read_seq",
            postgresql_where=text("read_seq IS NOT NULL"),
        ),
    )

    id: Mapped[BigId]
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    """The sequence number of the INBOX event that told of it (app/events/outbox.py): what
    notificationEvents resumes from."""
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    opportunity_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("opportunities.id", ondelete="CASCADE")
    )
    activity_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("activities.id", ondelete="CASCADE")
    )
    actor_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    detail: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    created_at: Mapped[CreatedAt]
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    read_seq: Mapped[int | None] = mapped_column(BigInteger)
    """The INBOX event that told of its reading (the user's other devices update from it)."""


class NotificationPreference(Base):
    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False)
