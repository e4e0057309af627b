"""Access tokens (tokens.py) and failed logins, counted per account and per client address
(throttle.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from app.crm.columns import BigId, CreatedAt
from app.db import Base


class AccessToken(Base):
    __tablename__ = "access_tokens"
    __table_args__ = (
        CheckConstraint("kind IN ('SESSION', 'PERSONAL')", name="kind"),
        CheckConstraint("access IN ('READ_WRITE', 'READ_ONLY')", name="access"),
        Index("ix_access_tokens_user_id", "user_id"),
    )

    id: Mapped[BigId]
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    """SESSION: made by `login`; PERSONAL: made by its user for an integration."""
    name: Mapped[str | None] = mapped_column(String(100))
    secret_hash: Mapped[str] = mapped_column(String(64))
    access: Mapped[str] = mapped_column(String(16), server_default="READ_WRITE")
    folder_ids: Mapped[list[int] | None] = mapped_column(ARRAY(BigInteger))
    """The folders (with their sub-folders) whose deals the token reaches; None: all."""
    created_at: Mapped[CreatedAt]
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LoginFailure(Base):
    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_last_failed_at", "last_failed_at"),)

    # "account:<e-mail, lower case>" or "address:<IP>"; an unknown e-mail is counted like a
    # known one, so the throttle does not tell which accounts exist.
    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    blocked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
