"""Exact money: Decimal amounts with an ISO 4217 currency, never floats."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from app.crm.errors import DomainError, ErrorCode

# Active ISO 4217 codes and their minor units (digits after the decimal point).
_MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(
        (
            "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP "
            "BYN BZD CAD CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP "
            "GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT "
            "LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN "
            "NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP "
            "SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD UYU UZS VES "
            "WST XCD YER ZAR ZMW ZWG"
        ).split(),
        2,
    ),
    **dict.fromkeys(
        ("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF").split(),
        0,
    ),
    **dict.fromkeys(
        ("BHD IQD JOD KWD LYD OMR TND").split(),
        3,
    ),
}

MAX_AMOUNT = Decimal("1e15")


def minor_units(currency: str) -> int:
    return _MINOR_UNITS[currency]


def check_currency(currency: str, field: list[str]) -> str:
    code = currency.strip().upper()
    if code not in _MINOR_UNITS:
        raise DomainError(
            ErrorCode.UNKNOWN_CURRENCY, f"{currency!r} is not an ISO 4217 currency code", field
        )
    return code


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str


def check_money(amount: Decimal, currency: str, field: str) -> Money:
    """A non-negative amount, no more precise than the currency's minor unit."""
    code = check_currency(currency, [field, "currency"])
    try:
        if not amount.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        raise DomainError(
            ErrorCode.INVALID, f"{field} is not a number", [field, "amount"]
        ) from None
    if amount < 0:
        raise DomainError(
            ErrorCode.OUT_OF_RANGE, f"{field} must not be negative", [field, "amount"]
        )
    if amount >= MAX_AMOUNT:
        raise DomainError(ErrorCode.OUT_OF_RANGE, f"{field} is too large", [field, "amount"])
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int)
    if -exponent > minor_units(code) and amount != amount.quantize(quantum(code)):
        raise DomainError(
            ErrorCode.INVALID,
            f"{field} has more decimals than {code} allows ({minor_units(code)})",
            [field, "amount"],
        )
    # abs(): "-0" passes the sign check but must not come back as "-0.00".
    return Money(abs(amount).quantize(quantum(code)), code)


_QUANTA = {code: Decimal(1).scaleb(-units) for code, units in _MINOR_UNITS.items()}


def quantum(currency: str) -> Decimal:
    """The currency's minor unit as a Decimal (0.01 for EUR): every amount read is quantized
    to it, so it is made once per currency."""
    return _QUANTA[currency]


def weighted(amount: Decimal, probability: int, currency: str) -> Decimal:
    """value * probability / 100, rounded half-even to the currency's minor unit."""
    return (amount * probability / 100).quantize(quantum(currency), rounding=ROUND_HALF_EVEN)
