"""Plain JSON values for what the domain stores: change records, snapshots and cursors."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Any


def jsonable(value: Any) -> Any:
    """Decimals as exact strings, dates and datetimes as ISO 8601, enums as their values;
    anything else unchanged."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):  # datetime is a date too
        return value.isoformat()
    return value
