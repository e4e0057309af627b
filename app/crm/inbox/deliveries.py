"""The seam for delivering notifications beyond the inbox (e-mail, push): each registered
Delivery is handed every notification once its transaction has committed.

None is registered by default: the inbox and notificationEvents are the only way a
notification reaches its user. A delivery is called in the request that made the change, after
the commit, so it should hand the work on (a queue, a task) rather than send there and then; a
delivery that raises is logged and the others still run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Delivery(Protocol):
    async def deliver(self, notifications: Sequence[dict[str, Any]]) -> None:
        """`notifications`: committed rows as plain values (id, user_id, seq, kind,
        opportunity_id, activity_id, actor_id, detail)."""


_registered: list[Delivery] = []


def register(delivery: Delivery) -> None:
    _registered.append(delivery)


def unregister(delivery: Delivery) -> None:
    if delivery in _registered:
        _registered.remove(delivery)


async def deliver(notifications: Sequence[dict[str, Any]]) -> None:
    if not notifications:
        return
    for delivery in list(_registered):
        try:
            await delivery.deliver(notifications)
        except Exception:
            log.exception(
                "delivering %d notifications through %r failed", len(notifications), delivery
            )
