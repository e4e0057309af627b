"""Orders and their lines. Totals are stored as computed by app/crm/orders/pricing.py, so lists
and filters read them without recomputing; every change recomputes them in its transaction."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.crm.columns import MONEY, RATE, BigId, CreatedAt, UpdatedAt
from app.db import Base

QUANTITY = Numeric(20, 4)

STATUSES = ("DRAFT", "CONFIRMED", "FULFILLED", "INVOICED", "CANCELLED")
DISCOUNT_KINDS = ("PERCENT", "AMOUNT")


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(
            "status IN ('DRAFT', 'CONFIRMED', 'FULFILLED', 'INVOICED', 'CANCELLED')",
            name="status",
        ),
        CheckConstraint(
            "(discount_kind IS NULL) = (discount_value IS NULL)", name="discount_complete"
        ),
        Index("ix_orders_opportunity", "opportunity_id"),
        Index("ix_orders_company", "company_id"),
        Index("ix_orders_status_date", "status", "order_date", "id"),
        Index("ix_orders_date", "order_date", "id"),
    )

    id: Mapped[BigId]
    number: Mapped[str] = mapped_column(String(20), unique=True)
    company_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("companies.id", ondelete="RESTRICT")
    )
    contact_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("contacts.id", ondelete="RESTRICT")
    )
    opportunity_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("opportunities.id", ondelete="RESTRICT")
    )
    owner_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(16), default="DRAFT")
    currency: Mapped[str] = mapped_column(String(3))
    order_date: Mapped[date] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text)
    discount_kind: Mapped[str | None] = mapped_column(String(8))
    discount_value: Mapped[Decimal | None] = mapped_column(MONEY)
    discount_reason: Mapped[str | None] = mapped_column(String(500))
    subtotal: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    discount_total: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    order_discount: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    net_total: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    tax_total: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    grand_total: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    line_count: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    status_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint("unit_price >= 0", name="unit_price"),
        CheckConstraint("tax_rate BETWEEN 0 AND 100", name="tax_rate"),
        CheckConstraint(
            "(discount_kind IS NULL) = (discount_value IS NULL)", name="discount_complete"
        ),
        Index("ix_order_lines_order", "order_id", "position"),
        Index("ix_order_lines_product", "product_id"),
    )

    id: Mapped[BigId]
    order_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("orders.id", ondelete="CASCADE"))
    # 1..n within the order, kept dense by the services.
    position: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("products.id", ondelete="RESTRICT")
    )
    description: Mapped[str] = mapped_column(String(1000))
    quantity: Mapped[Decimal] = mapped_column(QUANTITY)
    unit_price: Mapped[Decimal] = mapped_column(MONEY)
    discount_kind: Mapped[str | None] = mapped_column(String(8))
    discount_value: Mapped[Decimal | None] = mapped_column(MONEY)
    tax_rate: Mapped[Decimal] = mapped_column(RATE)
    amount: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    discount_amount: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    order_discount_amount: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    net_amount: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    tax_amount: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    gross_amount: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]
