"""Registered documents: what may run when the server only runs registered documents."""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.crm.columns import CreatedAt
from app.db import Base


class PersistedQuery(Base):
    __tablename__ = "persisted_queries"
    __table_args__ = (CheckConstraint("hash ~ '^[0-9a-f]{64}$'", name="hash_is_sha256"),)

    # sha256 hex of `document` (hashes.py): a document never changes under its hash, so a
    # server's copy of a row is either current or gone.
    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    document: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(String(200))
    # Null when registered by the `tandem` command, which acts with the server's authority.
    created_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id"))
    created_at: Mapped[CreatedAt]
