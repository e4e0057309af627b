"""The `node` and `nodes` root fields: any object by its global ID, as the asker may see it."""

from __future__ import annotations

from typing import Any

import strawberry

from app.crm.activities import queries as activity_queries
from app.crm.companies import queries as companies
from app.crm.contacts import queries as contacts
from app.crm.errors import DomainError, ErrorCode
from app.crm.folders import queries as folders
from app.crm.inbox import queries as inbox
from app.crm.opportunities import queries as opportunities
from app.crm.orders import queries as order_queries
from app.crm.products import queries as products
from app.crm.stages import queries as stages
from app.crm.users import queries as users
from app.crm.views import queries as view_queries
from app.graphql.batch import Fetch, reader
from app.graphql.errors import bad_input
from app.graphql.ids import decode_any
from app.graphql.types.activities import activity_of
from app.graphql.types.common import Node
from app.graphql.types.inbox import Notification
from app.graphql.types.opportunities import Opportunity, Participant
from app.graphql.types.orders import Order, OrderLine, Product
from app.graphql.types.parties import Company, Contact
from app.graphql.types.people import Team, User
from app.graphql.types.pipeline import Folder, LostReason, Stage
from app.graphql.types.views import OpportunityView


async def load_node(info: strawberry.Info, global_id: str) -> Node | None:
    """Any object by its global ID; hidden opportunities (and what hangs off them) are None."""
    try:
        type_name, pk = decode_any(global_id)
    except DomainError as error:
        raise bad_input(error) from None
    known = reader(info)
    if type_name == "Opportunity":
        row = await known.one_visible(opportunities.visible_by_id, pk)
        return Opportunity.of(row) if row is not None else None
    if type_name == "Activity":
        row = await known.one_visible(activity_queries.visible_by_id, pk)
        return activity_of(row) if row is not None else None
    if type_name == "View":
        async with info.context.read() as session:
            found = await view_queries.visible_by_id(session, info.context.require_actor(), [pk])
        return OpportunityView.of(found[pk]) if pk in found else None
    if type_name in ("Order", "OrderLine"):
        return await _order_node(info, type_name, pk)
    if type_name == "Notification":  # the asker's own, about a deal they may see now
        async with info.context.read() as session:
            mine = await inbox.by_ids(session, info.context.require_actor(), [pk])
        return Notification.of(mine[pk]) if pk in mine else None
    if type_name == "Participant":
        async with info.context.read() as session:
            opportunity_id = await opportunities.participant_opportunity(session, pk)
        if (
            opportunity_id is None
            or await known.one_visible(opportunities.visible_by_id, opportunity_id) is None
        ):
            return None
        rows = await known.one(opportunities.participants_by_opportunity, opportunity_id, [])
        return next((Participant.of(r) for r in rows if r.id == pk), None)
    fetch, node_type = _SIMPLE_NODES[type_name]
    row = await known.one(fetch, pk)
    return node_type.of(row) if row is not None else None


_SIMPLE_NODES: dict[str, tuple[Fetch, Any]] = {
    "Company": (companies.by_id, Company),
    "Contact": (contacts.by_id, Contact),
    "User": (users.users_by_id, User),
    "Team": (users.teams_by_id, Team),
    "Folder": (folders.folders_by_id, Folder),
    "Stage": (stages.stages_by_id, Stage),
    "LostReason": (opportunities.lost_reasons_by_id, LostReason),
    "Product": (products.by_id, Product),
}


async def _order_node(info: strawberry.Info, type_name: str, pk: int) -> Node | None:
    known = reader(info)
    order_id = pk
    if type_name == "OrderLine":
        async with info.context.read() as session:
            found = await order_queries.line_order_ids(session, [pk])
        if pk not in found:
            return None
        order_id = found[pk]
    order = await known.one_visible(order_queries.visible_by_id, order_id)
    if order is None:
        return None
    if type_name == "Order":
        return Order.of(order)
    lines = await known.one(order_queries.lines_by_order, order_id, [])
    return next((OrderLine.of(r, order.currency) for r in lines if r.id == pk), None)


@strawberry.type
class NodeQueries:
    @strawberry.field
    async def node(self, info: strawberry.Info, id: strawberry.ID) -> Node | None:
        info.context.require_actor()
        return await load_node(info, id)

    @strawberry.field
    async def nodes(self, info: strawberry.Info, ids: list[strawberry.ID]) -> list[Node | None]:
        info.context.require_actor()
        if len(ids) > 100:
            raise bad_input(DomainError(ErrorCode.OUT_OF_RANGE, "at most 100 ids at once", ["ids"]))
        return [await load_node(info, i) for i in ids]
