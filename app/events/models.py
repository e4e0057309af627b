"""The outbox: every committed change to an opportunity, in commit order.

The same rows are the opportunity's field-by-field history and the source that subscribers
resume from, so history and live events can never disagree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class EventRecord(Base):
    __tablename__ = "opportunity_events"
    __table_args__ = (
        Index("ix_opportunity_events_opportunity", "opportunity_id", "seq"),
        Index(
            "ix_opportunity_events_order",
            "order_id",
            "seq",
            postgresql_where=text("order_id IS NOT NULL"),
        ),
        # An INBOX event (app/crm/inbox) is about users' inboxes, no deal or order.
        CheckConstraint(
            "opportunity_id IS NOT NULL OR order_id IS NOT NULL OR kind = 'INBOX'",
            name="about_something",
        ),
    )

    # Allocated from event_counter while its row lock is held until commit, so the sequence is
    # gap-free and in commit order (see app/events/outbox.py).
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(32))
    # An order's events are on its opportunity's stream too; an order without one has only its
    # own (order_id).
    opportunity_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("opportunities.id", ondelete="CASCADE")
    )
    order_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("orders.id", ondelete="CASCADE")
    )
    version: Mapped[int] = mapped_column(Integer)
    actor_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    changes: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    # Who may see the opportunity after this change: checked in memory for every subscriber.
    audience: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # The opportunity as this change left it, so delivering an event needs no query.
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # The order as this change left it (order events only).
    order_snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class EventCounter(Base):
    __tablename__ = "event_counter"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger)
