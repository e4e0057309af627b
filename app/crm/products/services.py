"""The product catalogue: admins manage it; order lines draw their defaults from it."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from app.crm.audit.services import record, snapshot
from app.crm.errors import DomainError, ErrorCode, check_version, not_found
from app.crm.money import check_currency
from app.crm.numbers import check_decimal, check_percentage
from app.crm.products.models import Product
from app.crm.unit import Unit
from app.crm.users.services import require_admin
from app.crm.validation import clean_text, required_text

MAX_PRICE = Decimal("999999999999")
_AUDITED = (
    "sku",
    "name",
    "description",
    "unit_price",
    "currency",
    "default_tax_rate",
    "is_active",
)


def check_unit_price(field: list[str], value: Decimal) -> Decimal:
    # Unit prices may be finer than the currency's minor unit (0.0125 per screw); amounts
    # computed from them are rounded (app/crm/orders/pricing.py).
    return check_decimal(field, value, places=4, low=Decimal(0), high=MAX_PRICE)


async def get_product(unit: Unit, product_id: int, field: str = "productId") -> Product:
    product = await unit.session.get(Product, product_id)
    if product is None:
        raise not_found("product", field)
    return product


async def _check_sku(unit: Unit, sku: str | None, product_id: int | None) -> str:
    cleaned = required_text("sku", sku, max_length=64)
    query = select(Product.id).where(func.lower(Product.sku) == cleaned.lower())
    if product_id is not None:
        query = query.where(Product.id != product_id)
    if await unit.session.scalar(query) is not None:
        raise DomainError(ErrorCode.DUPLICATE, f"a product with SKU {cleaned} exists", ["sku"])
    return cleaned


def _check_price_currency(price: Decimal, currency: str) -> tuple[Decimal, str]:
    return check_unit_price(["unitPrice"], price), check_currency(currency, ["currency"])


async def create_product(unit: Unit, values: Mapping[str, Any]) -> Product:
    require_admin(unit)
    price, currency = _check_price_currency(values["unit_price"], values["currency"])
    product = Product(
        sku=await _check_sku(unit, values.get("sku"), None),
        name=required_text("name", values.get("name"), max_length=200),
        description=clean_text("description", values.get("description"), max_length=10_000),
        unit_price=price,
        currency=currency,
        default_tax_rate=check_percentage(
            ["defaultTaxRate"], values.get("default_tax_rate") or Decimal(0)
        ),
        is_active=values.get("is_active", True),
        version=1,
    )
    unit.session.add(product)
    await unit.session.flush()
    record(unit, "product.create", "Product", product.id, after=snapshot(product, _AUDITED))
    return product


async def update_product(
    unit: Unit, product_id: int, expected_version: int | None, values: Mapping[str, Any]
) -> Product:
    """Change what `values` holds. Lines already on orders keep the prices they were given."""
    require_admin(unit)
    product = await unit.session.get(Product, product_id, with_for_update=True)
    if product is None:
        raise not_found("product", "id")
    check_version("product", product.version, expected_version)
    new: dict[str, Any] = {}
    if "sku" in values:
        new["sku"] = await _check_sku(unit, values["sku"], product.id)
    if "name" in values:
        new["name"] = required_text("name", values["name"], max_length=200)
    if "description" in values:
        new["description"] = clean_text("description", values["description"], max_length=10_000)
    if "unit_price" in values or "currency" in values:
        price = values.get("unit_price", product.unit_price)
        currency = values.get("currency", product.currency)
        if price is None:
            raise DomainError(ErrorCode.REQUIRED, "unitPrice cannot be null", ["unitPrice"])
        if currency is None:
            raise DomainError(ErrorCode.REQUIRED, "currency cannot be null", ["currency"])
        new["unit_price"], new["currency"] = _check_price_currency(price, currency)
    if "default_tax_rate" in values:
        rate = values["default_tax_rate"]
        if rate is None:
            raise DomainError(
                ErrorCode.REQUIRED, "defaultTaxRate cannot be null", ["defaultTaxRate"]
            )
        new["default_tax_rate"] = check_percentage(["defaultTaxRate"], rate)
    if "is_active" in values:
        if values["is_active"] is None:
            raise DomainError(ErrorCode.REQUIRED, "isActive cannot be null", ["isActive"])
        new["is_active"] = values["is_active"]
    changed = [a for a, value in new.items() if getattr(product, a) != value]
    if changed:
        before = snapshot(product, changed)
        for attribute in changed:
            setattr(product, attribute, new[attribute])
        product.version += 1
        await unit.session.flush()
        record(unit, "product.update", "Product", product.id, before, snapshot(product, changed))
    return product
