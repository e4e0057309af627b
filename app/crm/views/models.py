"""Saved views: a named filter, sort, grouping and column set over the pipeline."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.crm.columns import BigId, CreatedAt, UpdatedAt
from app.db import Base

VISIBILITIES = ("PRIVATE", "TEAM", "EVERYONE")
KINDS = ("TABLE", "BOARD")


class OpportunityView(Base):
    __tablename__ = "opportunity_views"
    __table_args__ = (
        CheckConstraint("visibility IN ('PRIVATE', 'TEAM', 'EVERYONE')", name="visibility"),
        CheckConstraint("kind IN ('TABLE', 'BOARD')", name="kind"),
        CheckConstraint("visibility <> 'TEAM' OR team_id IS NOT NULL", name="team_named"),
        # Built-in views have no owner; every other view has one.
        CheckConstraint("(builtin_key IS NULL) = (owner_id IS NOT NULL)", name="owned"),
        Index("ix_opportunity_views_owner", "owner_id"),
        Index("ix_opportunity_views_team", "team_id"),
    )

    id: Mapped[BigId]
    name: Mapped[str] = mapped_column(String(200))
    owner_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE")
    )
    visibility: Mapped[str] = mapped_column(String(10))
    team_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("teams.id", ondelete="RESTRICT")
    )
    kind: Mapped[str] = mapped_column(String(10), default="TABLE")
    # The domain filter's stored form (app/crm/opportunities/filters.py filter_to_json).
    filter: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # [{"field": ..., "descending": ..., "nulls_first": ...}]
    sort: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    group_by: Mapped[str | None] = mapped_column(String(24))
    columns: Mapped[list[str]] = mapped_column(JSONB)
    builtin_key: Mapped[str | None] = mapped_column(String(32), unique=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]
