"""The product catalogue that order lines draw from."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Boolean, CheckConstraint, Index, Integer, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from app.crm.columns import MONEY, RATE, BigId, CreatedAt, UpdatedAt
from app.db import Base


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        # SKUs are compared as people read them: "ab-1" and "AB-1" are the same product.
        Index("uq_products_sku", func.lower(text("sku")), unique=True),
        CheckConstraint("unit_price >= 0", name="unit_price"),
        CheckConstraint("default_tax_rate BETWEEN 0 AND 100", name="default_tax_rate"),
    )

    id: Mapped[BigId]
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    unit_price: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    default_tax_rate: Mapped[Decimal] = mapped_column(RATE)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]
