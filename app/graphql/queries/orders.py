"""Root query fields for products and orders."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry

from app.crm.errors import DomainError
from app.crm.orders import queries as orders
from app.crm.orders.queries import OrderFilter, OrderSort, OrderSortField
from app.crm.products import queries as products
from app.graphql.batch import reader
from app.graphql.errors import bad_input
from app.graphql.ids import decode_id, decode_optional
from app.graphql.types.common import Connection, SortDirection, connection
from app.graphql.types.orders import Order, OrderStatus, Product

OrderSortFieldType = strawberry.enum(OrderSortField, name="OrderSortField")


@strawberry.input
class OrderFilterInput:
    status: list[OrderStatus] | None = None
    company_id: strawberry.ID | None = None
    opportunity_id: strawberry.ID | None = None
    date_from: date | None = strawberry.field(default=None, description="Order date, inclusive.")
    date_to: date | None = strawberry.field(default=None, description="Order date, inclusive.")

    def to_domain(self) -> OrderFilter:
        return OrderFilter(
            statuses=[s.value for s in self.status or []],
            company_id=decode_optional(self.company_id, "Company", "companyId"),
            opportunity_id=decode_optional(self.opportunity_id, "Opportunity", "opportunityId"),
            date_from=self.date_from,
            date_to=self.date_to,
        )


@strawberry.input
class OrderOrder:
    field: OrderSortFieldType  # type: ignore[valid-type]
    direction: SortDirection = SortDirection.DESC

    def to_domain(self) -> OrderSort:
        return OrderSort(OrderSortField(self.field), self.direction is SortDirection.DESC)


@strawberry.type
class OrderQueries:
    @strawberry.field(description="Orders you may see; newest order date first by default.")
    async def orders(
        self,
        info: strawberry.Info,
        filter: OrderFilterInput | None = None,
        order_by: list[OrderOrder] | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> Connection[Order]:
        context = info.context
        actor = context.require_actor()
        try:
            domain_filter = filter.to_domain() if filter else OrderFilter()
            sorts = [o.to_domain() for o in order_by or []]
            async with context.read() as session:
                page = await orders.page(session, actor, domain_filter, sorts, first, after)
        except DomainError as error:
            raise bad_input(error) from None

        async def count() -> int:
            async with context.read() as session:
                return await orders.count(session, actor, domain_filter)

        return connection(page, [Order.of(r) for r in page.items], count)

    @strawberry.field(description="An order by ID; null when missing or hidden.")
    async def order(self, info: strawberry.Info, id: strawberry.ID) -> Order | None:
        info.context.require_actor()
        try:
            pk = decode_id(id, "Order")
        except DomainError as error:
            raise bad_input(error) from None
        row = await reader(info).one_visible(orders.visible_by_id, pk)
        return Order.of(row) if row is not None else None

    @strawberry.field(description="The product catalogue, by name.")
    async def products(
        self,
        info: strawberry.Info,
        search: str | None = None,
        active: Annotated[
            bool | None,
            strawberry.argument(description="true: only active ones; false: only inactive ones."),
        ] = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> Connection[Product]:
        context = info.context
        context.require_actor()
        try:
            async with context.read() as session:
                page = await products.page(session, search, active, first, after)
        except DomainError as error:
            raise bad_input(error) from None

        async def count() -> int:
            async with context.read() as session:
                return await products.count(session, search, active)

        return connection(page, [Product.of(r) for r in page.items], count)
