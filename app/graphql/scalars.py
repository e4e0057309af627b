"""Custom scalars: exact decimals as strings, and free-form JSON for change values."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, NewType

import strawberry
from graphql import GraphQLError

JSON = NewType("JSON", object)


def _parse_decimal(value: Any) -> Decimal:
    # Strings only: a JSON number has already passed through a float in most clients.
    if not isinstance(value, str) or len(value) > 40:
        raise GraphQLError('Decimal values are strings such as "1234.50"')
    try:
        parsed = Decimal(value.strip())
    except InvalidOperation:
        raise GraphQLError(f"{value!r} is not a decimal number") from None
    if not parsed.is_finite():
        raise GraphQLError(f"{value!r} is not a finite decimal number")
    return parsed


SCALAR_MAP: dict[object, Any] = {
    Decimal: strawberry.scalar(
        name="Decimal",
        description='An exact decimal number, serialised as a string (e.g. "1234.50").',
        serialize=str,
        parse_value=_parse_decimal,
    ),
    JSON: strawberry.scalar(
        name="JSON",
        description="Any JSON value.",
        serialize=lambda v: v,
        parse_value=lambda v: v,
    ),
}
