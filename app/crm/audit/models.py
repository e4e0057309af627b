"""One row per audited change, written in the change's own transaction (services.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.crm.columns import BigId, CreatedAt
from app.db import Base

VIAS = ("API", "CLI")


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        CheckConstraint("via IN ('API', 'CLI')", name="via"),
        # The log is read newest first (at, then id), whole or narrowed to one action, one
        # actor or one subject: each reading walks its own index in that order.
        Index("ix_audit_log_at", "at", "id"),
        Index("ix_audit_log_action", "action", "at", "id"),
        Index("ix_audit_log_actor", "actor_id", "at", "id"),
        Index("ix_audit_log_subject", "subject_type", "subject_id", "at", "id"),
    )

    id: Mapped[BigId]
    # The transaction's start: every entry of one change has the same time.
    at: Mapped[CreatedAt]
    # Null for the command line, which acts with the server's own authority, and for a user
    # since deleted (`via` tells them apart).
    actor_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    via: Mapped[str] = mapped_column(String(8))
    action: Mapped[str] = mapped_column(String(64))
    """`<subject>.<verb>`: user.create, team.member_add, view.share, token.revoke, ..."""
    subject_type: Mapped[str] = mapped_column(String(32))
    """The API's name of the changed record's type (User, Team, View, ...)."""
    subject_id: Mapped[int] = mapped_column(BigInteger)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
