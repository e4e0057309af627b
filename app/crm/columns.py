"""Column helpers shared by the models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from sqlalchemy import BigInteger, DateTime, Identity, Numeric, func
from sqlalchemy.orm import mapped_column

BigId = Annotated[int, mapped_column(BigInteger, Identity(always=False), primary_key=True)]
CreatedAt = Annotated[
    datetime, mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
]
UpdatedAt = Annotated[
    datetime,
    mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    ),
]

# Enough for any real deal in any currency, with room for 3-decimal currencies and for unit
# prices finer than the currency's minor unit.
MONEY = Numeric(20, 4)
# A percentage with up to four decimals: 19, 7.7, 5.5, 0.25 ...
RATE = Numeric(7, 4)
