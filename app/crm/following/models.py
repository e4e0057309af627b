"""A user's explicit choice about one opportunity; without a row, the default holds (its owner
and linked users follow it, nobody else does)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from app.crm.columns import CreatedAt
from app.db import Base


class OpportunityFollow(Base):
    __tablename__ = "opportunity_follows"
    __table_args__ = (
        # "The deals I follow" is read by user; a deal's followers by the primary key.
        Index("ix_opportunity_follows_user", "user_id", "opportunity_id"),
    )

    opportunity_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("opportunities.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    following: Mapped[bool] = mapped_column(Boolean)
    """True: opted in; False: opted out (which overrides being owner or linked)."""
    created_at: Mapped[CreatedAt]
