from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from app.crm.columns import MONEY, BigId, CreatedAt, UpdatedAt
from app.db import Base

# What a group-by sums and groups by most: covering indexes include these columns so that
# totals are read from an index alone.
TOTALLED = ["status", "visibility", "stage_id", "owner_id", "currency", "amount", "probability"]

# The values of the enumerated columns, each in the order lists, groups and boards show them
# (sorting.py, groups.py): the pipeline's order, not the alphabet's.
STATUSES = ("OPEN", "WON", "LOST")
FORECAST_CATEGORIES = ("PIPELINE", "BEST_CASE", "COMMIT", "CLOSED", "OMITTED")
VISIBILITIES = ("PUBLIC", "PRIVATE")


class Opportunity(Base):
    __tablename__ = "opportunities"
    __table_args__ = (
        CheckConstraint("status IN ('OPEN', 'WON', 'LOST')", name="status"),
        CheckConstraint("visibility IN ('PUBLIC', 'PRIVATE')", name="visibility"),
        CheckConstraint("probability BETWEEN 0 AND 100", name="probability"),
        CheckConstraint("amount >= 0", name="amount"),
        Index(
            "ix_opportunities_live_folder", "folder_id", postgresql_where=text("deleted_at IS NULL")
        ),
        # One owner's deals by close date: the built-in "My open".
        Index(
            "ix_opportunities_live_owner",
            "owner_id",
            "estimated_close_date",
            "id",
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index(
            "ix_opportunities_live_stage", "stage_id", postgresql_where=text("deleted_at IS NULL")
        ),
        # Text search: words of the name, number and description (full text, ranked), and
        # any part of the name (trigrams, for substrings and typos).
        Index("ix_opportunities_search", "search_vector", postgresql_using="gin"),
        Index(
            "ix_opportunities_name_trgm",
            "name",
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
        ),
        Index(
            "ix_opportunities_number_trgm",
            "number",
            postgresql_using="gin",
            postgresql_ops={"number": "gin_trgm_ops"},
        ),
        # The default orders of lists and views, walked in order and cut at a page.
        # With what a total needs: "closing this quarter, by stage" sums from the index.
        Index(
            "ix_opportunities_live_close_date",
            "estimated_close_date",
            "id",
            postgresql_include=TOTALLED,
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index(
            "ix_opportunities_live_amount",
            "amount",
            "id",
            postgresql_where=text("deleted_at IS NULL"),
        ),
        # Private deals with what a total needs: a user's visible private deals are summed
        # from the index alone (public ones come from opportunity_totals).
        Index(
            "ix_opportunities_live_private",
            "status",
            "id",
            postgresql_include=[*TOTALLED[2:], "estimated_close_date"],
            postgresql_where=text("deleted_at IS NULL AND visibility = 'PRIVATE'"),
        ),
        Index(
            "ix_opportunities_live_updated",
            "updated_at",
            "id",
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )

    id: Mapped[BigId]
    number: Mapped[str] = mapped_column(String(20), unique=True)
    # Computed by PostgreSQL; never loaded into objects (deferred), only searched.
    search_vector: Mapped[Any] = mapped_column(
        TSVECTOR,
        Computed(
            "to_tsvector('simple'::regconfig, coalesce(name, '') || ' ' || number || ' ' || "
            "coalesce(description, ''))",
            persisted=True,
        ),
        deferred=True,
    )
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    folder_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("folders.id", ondelete="RESTRICT")
    )
    stage_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("stages.id", ondelete="RESTRICT"))
    # Where reopen returns to: the last open stage before the deal was closed.
    last_open_stage_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("stages.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(8), default="OPEN")
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    probability: Mapped[int] = mapped_column(Integer)
    forecast_category: Mapped[str] = mapped_column(String(16))
    estimated_close_date: Mapped[date | None] = mapped_column(Date)
    next_step: Mapped[str | None] = mapped_column(String(500))
    lead_source: Mapped[str | None] = mapped_column(String(100))
    owner_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="RESTRICT"))
    visibility: Mapped[str] = mapped_column(String(8), default="PUBLIC")
    actual_amount: Mapped[Decimal | None] = mapped_column(MONEY)
    actual_close_date: Mapped[date | None] = mapped_column(Date)
    awarded_company_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("companies.id", ondelete="RESTRICT")
    )
    lost_note: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="RESTRICT")
    )
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LostReason(Base):
    __tablename__ = "lost_reasons"

    id: Mapped[BigId]
    name: Mapped[str] = mapped_column(String(100), unique=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_at: Mapped[CreatedAt]


class OpportunityLostReason(Base):
    __tablename__ = "opportunity_lost_reasons"

    opportunity_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("opportunities.id", ondelete="CASCADE"), primary_key=True
    )
    lost_reason_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("lost_reasons.id", ondelete="RESTRICT"), primary_key=True
    )


# The column of a participant that holds the linked record, by kind.
TARGET_COLUMNS = {
    "COMPANY": "company_id",
    "CONTACT": "contact_id",
    "USER": "user_id",
    "TEAM": "team_id",
}


class Participant(Base):
    """A company, contact, user or team linked to an opportunity in a role."""

    __tablename__ = "opportunity_participants"
    __table_args__ = (
        CheckConstraint("kind IN ('COMPANY', 'CONTACT', 'USER', 'TEAM')", name="kind"),
        CheckConstraint(
            "num_nonnulls(company_id, contact_id, user_id, team_id) = 1", name="one_target"
        ),
        CheckConstraint("NOT is_primary OR kind = 'CONTACT'", name="primary_is_contact"),
        Index(
            "uq_participants_link",
            "opportunity_id",
            "kind",
            text("coalesce(company_id, contact_id, user_id, team_id)"),
            "role",
            unique=True,
        ),
        Index(
            "uq_participants_primary_contact",
            "opportunity_id",
            unique=True,
            postgresql_where=text("is_primary"),
        ),
        # With the deal in the index: "the deals linked to me, my teams, the companies named
        # like this" read no table.
        Index(
            "ix_participants_user",
            "user_id",
            "opportunity_id",
            postgresql_where=text("user_id IS NOT NULL"),
        ),
        Index(
            "ix_participants_team",
            "team_id",
            "opportunity_id",
            postgresql_where=text("team_id IS NOT NULL"),
        ),
        Index(
            "ix_participants_company",
            "company_id",
            "opportunity_id",
            postgresql_where=text("company_id IS NOT NULL"),
        ),
        Index(
            "ix_participants_contact", "contact_id", postgresql_where=text("contact_id IS NOT NULL")
        ),
    )

    id: Mapped[BigId]
    opportunity_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("opportunities.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(8))
    company_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("companies.id", ondelete="RESTRICT")
    )
    contact_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("contacts.id", ondelete="RESTRICT")
    )
    user_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="RESTRICT")
    )
    team_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("teams.id", ondelete="RESTRICT")
    )
    role: Mapped[str] = mapped_column(String(32))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    created_at: Mapped[CreatedAt]
