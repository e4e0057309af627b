"""Order arithmetic: exact, rounded once where rounding is due, and always adding up.

The rule (README "Orders: how totals are computed"):

1. A line's amount is quantity x unit price, rounded half up to the currency's minor unit.
2. A line discount is a percentage of that amount (rounded half up) or a fixed amount; the
   line's net is amount - line discount.
3. The order discount is a percentage of the sum of the line nets (rounded half up) or a fixed
   amount. It is spread over the lines in proportion to their nets.
4. Tax is computed once per tax rate on the sum of the taxable amounts (net - share of the
   order discount) at that rate, rounded half up, and spread over those lines in proportion
   to their taxable amounts.
5. Spreading is by largest remainder in whole minor units: every line gets the floor of its
   exact share, and the units left over go, one each, to the lines with the largest
   remainders (the earlier position first on a tie). So the shares add up to the total
   exactly, and no share is more than one minor unit away from its exact value.

Rounding tax per rate on the total instead of per line is what keeps three lines of 0.03 at
19 % at 0.02 of tax (0.09 x 19 % = 0.0171) instead of 0.03 (three roundings of 0.0057 up).

Everything below works in integer minor units, so no step can lose a fraction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

PERCENT = "PERCENT"
AMOUNT = "AMOUNT"


@dataclass(frozen=True, slots=True)
class Discount:
    kind: str  # PERCENT or AMOUNT
    value: Decimal  # a percentage (0-100), or an amount in the order's currency


@dataclass(frozen=True, slots=True)
class LineInput:
    quantity: Decimal
    unit_price: Decimal
    discount: Discount | None
    tax_rate: Decimal  # percent


@dataclass(frozen=True, slots=True)
class LineTotals:
    amount: Decimal  # quantity x unit price
    discount: Decimal  # the line's own discount
    order_discount: Decimal  # its share of the order discount
    net: Decimal  # amount - discount - order_discount: what tax applies to
    tax: Decimal
    gross: Decimal  # net + tax


@dataclass(frozen=True, slots=True)
class OrderTotals:
    subtotal: Decimal  # sum of line amounts
    line_discount_total: Decimal
    order_discount: Decimal
    discount_total: Decimal  # line discounts + order discount
    net_total: Decimal
    tax_total: Decimal
    grand_total: Decimal
    lines: tuple[LineTotals, ...]


class DiscountTooLarge(ValueError):
    """A fixed discount larger than what it applies to; `line` is None for the order's."""

    def __init__(self, line: int | None) -> None:
        super().__init__(line)
        self.line = line


def _units(value: Decimal, exponent: int) -> int:
    """`value` in minor units, rounded half up (value is non-negative)."""
    return int(value.scaleb(exponent).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def spread(total: int, weights: Sequence[int]) -> list[int]:
    """`total` units split in proportion to `weights`, by largest remainder, summing exactly."""
    whole = sum(weights)
    if whole == 0:
        if total:
            raise ValueError("cannot spread a non-zero total over nothing")
        return [0] * len(weights)
    shares = [total * w // whole for w in weights]
    remainders = [total * w % whole for w in weights]
    left = total - sum(shares)
    # Largest remainder first; on a tie the earlier line (sorted() is stable).
    for i in sorted(range(len(weights)), key=lambda i: -remainders[i])[:left]:
        shares[i] += 1
    return shares


def compute(
    lines: Sequence[LineInput], order_discount: Discount | None, minor_units: int
) -> OrderTotals:
    """The totals of an order whose lines and discount are already validated."""
    amounts: list[int] = []
    line_discounts: list[int] = []
    for index, line in enumerate(lines):
        amount = _units(line.quantity * line.unit_price, minor_units)
        discount = 0
        if line.discount is not None:
            if line.discount.kind == PERCENT:
                discount = _units(
                    Decimal(amount) * line.discount.value / 100, 0
                )  # already in units
            else:
                discount = _units(line.discount.value, minor_units)
            if discount > amount:
                raise DiscountTooLarge(index)
        amounts.append(amount)
        line_discounts.append(discount)
    nets = [a - d for a, d in zip(amounts, line_discounts, strict=True)]
    order_units = 0
    if order_discount is not None:
        if order_discount.kind == PERCENT:
            order_units = _units(Decimal(sum(nets)) * order_discount.value / 100, 0)
        else:
            order_units = _units(order_discount.value, minor_units)
        if order_units > sum(nets):
            raise DiscountTooLarge(None)
    shares = spread(order_units, nets)
    taxable = [n - s for n, s in zip(nets, shares, strict=True)]
    taxes = [0] * len(lines)
    by_rate: dict[Decimal, list[int]] = {}
    for index, line in enumerate(lines):
        by_rate.setdefault(line.tax_rate.normalize(), []).append(index)
    for rate, indexes in by_rate.items():
        base = sum(taxable[i] for i in indexes)
        rate_tax = _units(Decimal(base) * rate / 100, 0)
        for i, share in zip(indexes, spread(rate_tax, [taxable[i] for i in indexes]), strict=True):
            taxes[i] = share

    def money(units: int) -> Decimal:
        return Decimal(units).scaleb(-minor_units)

    line_totals = tuple(
        LineTotals(
            amount=money(amounts[i]),
            discount=money(line_discounts[i]),
            order_discount=money(shares[i]),
            net=money(taxable[i]),
            tax=money(taxes[i]),
            gross=money(taxable[i] + taxes[i]),
        )
        for i in range(len(lines))
    )
    line_discount_total = sum(line_discounts)
    return OrderTotals(
        subtotal=money(sum(amounts)),
        line_discount_total=money(line_discount_total),
        order_discount=money(order_units),
        discount_total=money(line_discount_total + order_units),
        net_total=money(sum(taxable)),
        tax_total=money(sum(taxes)),
        grand_total=money(sum(taxable) + sum(taxes)),
        lines=line_totals,
    )
