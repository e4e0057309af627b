"""DataLoaders, one set per request (or per delivered event), named <Target>By<Key>Loader.

Each batch opens its own short session: loaders run concurrently inside one request, and an
AsyncSession must not be shared between concurrent tasks.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.dataloader import DataLoader

from app.crm.activities import queries as activities
from app.crm.actor import Actor
from app.crm.companies import queries as companies
from app.crm.contacts import queries as contacts
from app.crm.folders import queries as folders
from app.crm.opportunities import audience
from app.crm.opportunities import queries as opportunities
from app.crm.orders import queries as orders
from app.crm.products import queries as products
from app.crm.stages import queries as stages
from app.crm.users import queries as users

K = TypeVar("K")
V = TypeVar("V")

Fetch = Callable[[AsyncSession, Sequence[Any]], Awaitable[dict[Any, Any]]]


def _loader(
    sessions: async_sessionmaker[AsyncSession], fetch: Fetch, default: Any = None
) -> DataLoader[Any, Any]:
    async def load(keys: list[Any]) -> list[Any]:
        async with sessions() as session:
            found = await fetch(session, keys)
        return [found.get(key, default) for key in keys]

    return DataLoader(load_fn=load)


class Loaders:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], actor: Actor | None) -> None:
        self.user_by_id = _loader(sessions, users.users_by_id)
        self.team_by_id = _loader(sessions, users.teams_by_id)
        self.member_ids_by_team = _loader(sessions, users.member_ids_by_team, [])
        self.team_ids_by_user = _loader(sessions, users.team_ids_by_user, [])
        self.stage_by_id = _loader(sessions, stages.stages_by_id)
        self.folder_by_id = _loader(sessions, folders.folders_by_id)
        self.children_by_folder = _loader(sessions, folders.children_by_parent, [])
        self.company_by_id = _loader(sessions, companies.by_id)
        self.contact_by_id = _loader(sessions, contacts.by_id)
        self.participants_by_opportunity = _loader(
            sessions, opportunities.participants_by_opportunity, []
        )
        self.lost_reason_ids_by_opportunity = _loader(
            sessions, opportunities.lost_reason_ids_by_opportunity, []
        )
        self.lost_reason_by_id = _loader(sessions, opportunities.lost_reasons_by_id)
        self.audience_by_opportunity = _loader(sessions, audience.audiences_by_id)
        self.links_by_activity = _loader(sessions, activities.links_by_activity, [])
        self.attendees_by_activity = _loader(sessions, activities.attendees_by_activity, [])
        self.activity_summary_by_opportunity = _loader(sessions, activities.summaries)
        # Activities of an opportunity already known to be visible (timelines, payloads).
        self.activity_row_by_id = _loader(sessions, activities.rows_by_id)
        self.event_by_seq = _loader(sessions, activities.events_by_seq)
        self.product_by_id = _loader(sessions, products.by_id)
        # Lines and orders of orders/opportunities already known to be visible.
        self.lines_by_order = _loader(sessions, orders.lines_by_order, [])
        self.orders_by_opportunity = _loader(sessions, orders.by_opportunity, [])
        if actor is not None:
            self.opportunity_by_id = _loader(
                sessions, lambda s, ids: opportunities.visible_by_id(s, actor, ids)
            )
            self.activity_by_id = _loader(
                sessions, lambda s, ids: activities.visible_by_id(s, actor, ids)
            )
            self.order_by_id = _loader(sessions, lambda s, ids: orders.visible_by_id(s, actor, ids))
            self.opportunity_count_by_folder = _loader(
                sessions,
                lambda s, ids: folders.opportunity_counts(s, actor, ids, include_subfolders=False),
                0,
            )
            self.subtree_opportunity_count_by_folder = _loader(
                sessions,
                lambda s, ids: folders.opportunity_counts(s, actor, ids, include_subfolders=True),
                0,
            )


def _ready(future: Awaitable[Any]) -> bool:
    return (
        isinstance(future, asyncio.Future)
        and future.done()
        and not future.cancelled()
        and future.exception() is None
    )


def now_or_later(future: Awaitable[V], present: Callable[[V], Any]) -> Any:
    """The value at once when the loader already holds it, else an awaitable of it.

    graphql-core completes a plain value in place, but every awaitable field costs a task
    and a trip through the event loop (~60 µs against ~5 µs). Pages prefetch what their rows
    need, so nested fields mostly take the fast path. `present` may itself return an
    awaitable (a second load that depends on the first); the slow path awaits it too.
    """
    if _ready(future):
        return present(future.result())  # type: ignore[attr-defined]

    async def later() -> Any:
        value = present(await future)
        return await value if inspect.isawaitable(value) else value

    return later()


def all_now_or_later(futures: Sequence[Awaitable[V]], present: Callable[[list[V]], Any]) -> Any:
    """`now_or_later` for several loads at once (load_many's gather is never done at once)."""
    if all(_ready(f) for f in futures):
        return present([f.result() for f in futures])  # type: ignore[attr-defined]

    async def later() -> Any:
        value = present(list(await asyncio.gather(*futures)))
        return await value if inspect.isawaitable(value) else value

    return later()
