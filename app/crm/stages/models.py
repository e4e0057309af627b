from __future__ import annotations

from sqlalchemy import CheckConstraint, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.crm.columns import BigId, CreatedAt, UpdatedAt
from app.db import Base


class Stage(Base):
    __tablename__ = "stages"
    __table_args__ = (
        CheckConstraint("kind IN ('OPEN', 'WON', 'LOST')", name="kind"),
        CheckConstraint("default_probability BETWEEN 0 AND 100", name="default_probability"),
    )

    id: Mapped[BigId]
    name: Mapped[str] = mapped_column(String(100), unique=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(8))
    default_probability: Mapped[int] = mapped_column(Integer)
    forecast_category: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]
