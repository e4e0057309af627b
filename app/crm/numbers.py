"""Checks for the exact decimals clients send: quantities, prices, rates, discounts."""

from __future__ import annotations

from decimal import Decimal

from app.crm.errors import DomainError, ErrorCode


def check_decimal(
    field: list[str],
    value: Decimal,
    *,
    places: int,
    low: Decimal,
    high: Decimal,
    low_open: bool = False,
) -> Decimal:
    """`value` if it is a finite number in range with at most `places` decimals.

    Too many decimals is an error, never a silent rounding: a client that sends 0.125 EUR
    must learn that its value was not what was stored.
    """
    name = field[-1]
    if not value.is_finite():
        raise DomainError(ErrorCode.INVALID, f"{name} is not a number", field)
    below = value <= low if low_open else value < low
    if below or value > high:
        bound = "above" if low_open else "at least"
        raise DomainError(
            ErrorCode.OUT_OF_RANGE, f"{name} must be {bound} {low} and at most {high}", field
        )
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    if -exponent > places and value != value.quantize(Decimal(1).scaleb(-places)):
        raise DomainError(ErrorCode.INVALID, f"{name} has more than {places} decimal places", field)
    # abs() of a zero turns "-0" into "0"; quantize gives one stored form for one value.
    return (abs(value) if value == 0 else value).quantize(Decimal(1).scaleb(-places))


def check_percentage(field: list[str], value: Decimal) -> Decimal:
    return check_decimal(field, value, places=4, low=Decimal(0), high=Decimal(100))


def trimmed(value: Decimal) -> Decimal:
    """Without trailing zeros and never in exponent form: 19.0000 -> 19, 7.7000 -> 7.7."""
    normal = value.normalize()
    return normal.quantize(Decimal(1)) if normal == normal.to_integral_value() else normal


def at_least_places(value: Decimal, places: int) -> Decimal:
    """Trimmed, but with at least `places` decimals: 12.5000 -> 12.50, 0.0125 stays."""
    value = trimmed(value)
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    return value.quantize(Decimal(1).scaleb(-places)) if -exponent < places else value
