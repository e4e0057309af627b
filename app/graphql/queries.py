"""The root Query type."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry

from app.crm.activities import queries as activity_queries
from app.crm.companies import queries as companies
from app.crm.contacts import queries as contacts
from app.crm.errors import DomainError, ErrorCode
from app.crm.folders import queries as folders
from app.crm.opportunities import queries as opportunities
from app.crm.opportunities.filters import OpportunityFilter
from app.crm.orders import queries as order_queries
from app.crm.stages import queries as stages
from app.crm.users import queries as users
from app.crm.views import queries as view_queries
from app.crm.views.services import ViewDefinition
from app.graphql.errors import bad_input
from app.graphql.filters import OpportunityFilterInput
from app.graphql.ids import decode_any, decode_id
from app.graphql.inputs import OpportunityOrder
from app.graphql.reads import opportunity_connection
from app.graphql.types.activities import Appointment, Task, TaskStatus, activity_of
from app.graphql.types.common import Connection, Node, connection
from app.graphql.types.opportunities import Opportunity, Participant
from app.graphql.types.orders import Order, OrderLine, Product
from app.graphql.types.parties import Company, Contact
from app.graphql.types.people import Team, User
from app.graphql.types.pipeline import Folder, LostReason, Stage
from app.graphql.types.views import OpportunityView


def _decode(global_id: str, node_type: str) -> int:
    try:
        return decode_id(global_id, node_type)
    except DomainError as error:
        raise bad_input(error) from None


async def load_node(info: strawberry.Info, global_id: str) -> Node | None:
    """Any object by its global ID; hidden opportunities (and what hangs off them) are None."""
    try:
        type_name, pk = decode_any(global_id)
    except DomainError as error:
        raise bad_input(error) from None
    loaders = info.context.loaders
    if type_name == "Opportunity":
        row = await loaders.opportunity_by_id.load(pk)
        return Opportunity.of(row) if row is not None else None
    if type_name == "Activity":
        row = await loaders.activity_by_id.load(pk)
        return activity_of(row) if row is not None else None
    if type_name == "View":
        async with info.context.read() as session:
            found = await view_queries.visible_by_id(session, info.context.require_actor(), [pk])
        return OpportunityView.of(found[pk]) if pk in found else None
    if type_name in ("Order", "OrderLine"):
        return await _order_node(info, type_name, pk)
    if type_name == "Participant":
        async with info.context.read() as session:
            opportunity_id = await opportunities.participant_opportunity(session, pk)
        if opportunity_id is None or await loaders.opportunity_by_id.load(opportunity_id) is None:
            return None
        rows = await loaders.participants_by_opportunity.load(opportunity_id)
        return next((Participant.of(r) for r in rows if r.id == pk), None)
    simple: dict[str, tuple[Any, Any]] = {
        "Company": (loaders.company_by_id, Company),
        "Contact": (loaders.contact_by_id, Contact),
        "User": (loaders.user_by_id, User),
        "Team": (loaders.team_by_id, Team),
        "Folder": (loaders.folder_by_id, Folder),
        "Stage": (loaders.stage_by_id, Stage),
        "LostReason": (loaders.lost_reason_by_id, LostReason),
        "Product": (loaders.product_by_id, Product),
    }
    loader, node_type = simple[type_name]
    row = await loader.load(pk)
    return node_type.of(row) if row is not None else None


async def through_view(
    info: strawberry.Info, selected: OpportunityFilter, view_id: str | None
) -> tuple[OpportunityFilter, ViewDefinition | None]:
    """`selected` narrowed to a view the asker may see (DomainError otherwise), and the view."""
    if view_id is None:
        return selected, None
    actor = info.context.require_actor()
    pk = decode_id(view_id, "View", "viewId")
    # Built-in views cannot change and everyone may use them, so each process reads them once.
    builtins = info.context.runtime.builtin_views
    view = builtins.get(pk)
    if view is None:
        async with info.context.read() as session:
            view, builtin = await view_queries.applied(session, actor, pk)
        if builtin:
            builtins[pk] = view
    return OpportunityFilter(all_of=(view.filter, selected)), view


async def _order_node(info: strawberry.Info, type_name: str, pk: int) -> Node | None:
    loaders = info.context.loaders
    order_id = pk
    if type_name == "OrderLine":
        async with info.context.read() as session:
            found = await order_queries.line_order_ids(session, [pk])
        if pk not in found:
            return None
        order_id = found[pk]
    order = await loaders.order_by_id.load(order_id)
    if order is None:
        return None
    if type_name == "Order":
        return Order.of(order)
    lines = await loaders.lines_by_order.load(order_id)
    return next((OrderLine.of(r, order.currency) for r in lines if r.id == pk), None)


@strawberry.input(description="Which of your tasks: by status (default OPEN), overdue, due.")
class TaskFilter:
    status: list[TaskStatus] | None = None
    overdue: bool = strawberry.field(default=False, description="Open and past their due time.")
    due_before: datetime | None = None


@strawberry.type
class Query:
    @strawberry.field(description="The logged-in user.")
    async def me(self, info: strawberry.Info) -> User:
        actor = info.context.require_actor()
        return User.of(await info.context.loaders.user_by_id.load(actor.user_id))

    @strawberry.field(
        description="The cursor of the newest committed event. Read it before loading data, "
        "then subscribe to opportunityEvents with since: this cursor, and no change made in "
        "between is missed (an event may repeat what the data already shows: compare version)."
    )
    async def event_cursor(self, info: strawberry.Info) -> str:
        info.context.require_actor()
        return str(await info.context.runtime.hub.latest_committed())

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

    @strawberry.field(description="null when it does not exist or you may not see it.")
    async def opportunity(self, info: strawberry.Info, id: strawberry.ID) -> Opportunity | None:
        info.context.require_actor()
        row = await info.context.loaders.opportunity_by_id.load(_decode(id, "Opportunity"))
        return Opportunity.of(row) if row is not None else None

    @strawberry.field(description="Opportunities you may see, filtered and sorted, by page.")
    async def opportunities(
        self,
        info: strawberry.Info,
        filter: OpportunityFilterInput | None = None,
        order_by: list[OpportunityOrder] | None = None,
        first: int | None = 50,
        after: str | None = None,
        view_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(
                description="Apply a saved or built-in view; `filter` narrows it further and "
                "`orderBy` replaces its sort."
            ),
        ] = None,
    ) -> Connection[Opportunity]:
        info.context.require_actor()
        try:
            domain_filter, view = await through_view(
                info, filter.to_domain() if filter else OpportunityFilter(), view_id
            )
            sorts = [o.to_domain() for o in order_by or []]
            if view is not None:
                sorts = sorts or list(view.sorts)
        except DomainError as error:
            raise bad_input(error) from None
        return await opportunity_connection(info, domain_filter, sorts, first, after)

    @strawberry.field(description="The views you may use: built-in ones first, then by name.")
    async def views(self, info: strawberry.Info) -> list[OpportunityView]:
        actor = info.context.require_actor()
        async with info.context.read() as session:
            return [OpportunityView.of(r) for r in await view_queries.listed(session, actor)]

    @strawberry.field(description="The pipeline's stages in order.")
    async def stages(self, info: strawberry.Info) -> list[Stage]:
        info.context.require_actor()
        async with info.context.read() as session:
            return [Stage.of(r) for r in await stages.list_stages(session)]

    @strawberry.field(description="The catalogue of reasons for losing an opportunity.")
    async def lost_reasons(
        self, info: strawberry.Info, include_inactive: bool = False
    ) -> list[LostReason]:
        info.context.require_actor()
        async with info.context.read() as session:
            rows = await opportunities.list_lost_reasons(session, include_inactive=include_inactive)
        return [LostReason.of(r) for r in rows]

    @strawberry.field(
        description="Folders in tree order (parents before children); with parentId, that "
        "folder's children; with rootsOnly, the top level."
    )
    async def folders(
        self,
        info: strawberry.Info,
        parent_id: strawberry.ID | None = None,
        roots_only: bool = False,
    ) -> list[Folder]:
        info.context.require_actor()
        parent = _decode(parent_id, "Folder") if parent_id else None
        async with info.context.read() as session:
            rows = await folders.list_folders(session, parent, roots_only=roots_only)
        return [Folder.of(r) for r in rows]

    @strawberry.field
    async def companies(
        self,
        info: strawberry.Info,
        search: str | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> Connection[Company]:
        info.context.require_actor()
        try:
            async with info.context.read() as session:
                page = await companies.page(session, search, first, after)
        except DomainError as error:
            raise bad_input(error) from None

        async def count() -> int:
            async with info.context.read() as session:
                return await companies.count(session, search)

        return connection(page, [Company.of(r) for r in page.items], count)

    @strawberry.field
    async def contacts(
        self,
        info: strawberry.Info,
        search: str | None = None,
        company_id: strawberry.ID | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> Connection[Contact]:
        info.context.require_actor()
        company = _decode(company_id, "Company") if company_id else None
        try:
            async with info.context.read() as session:
                page = await contacts.page(session, search, company, first, after)
        except DomainError as error:
            raise bad_input(error) from None

        async def count() -> int:
            async with info.context.read() as session:
                return await contacts.count(session, search, company)

        return connection(page, [Contact.of(r) for r in page.items], count)

    @strawberry.field(
        description="Your tasks across the opportunities you may see, soonest due first."
    )
    async def my_tasks(
        self,
        info: strawberry.Info,
        status: list[TaskStatus] | None = None,
        overdue: bool = False,
        due_before: datetime | None = None,
        first: int | None = 50,
        after: str | None = None,
        filter: Annotated[
            TaskFilter | None,
            strawberry.argument(description="The same conditions as one object; wins if given."),
        ] = None,
    ) -> Connection[Task]:
        actor = info.context.require_actor()
        if filter is not None:
            status, overdue, due_before = filter.status, filter.overdue, filter.due_before
        statuses = [s.value for s in status] if status else ["OPEN"]
        try:
            async with info.context.read() as session:
                page = await activity_queries.my_tasks(
                    session,
                    actor,
                    statuses=statuses,
                    overdue_only=overdue,
                    due_before=due_before,
                    first=first,
                    after=after,
                )
        except DomainError as error:
            raise bad_input(error) from None

        async def count() -> int:
            async with info.context.read() as session:
                return await activity_queries.my_tasks_count(
                    session,
                    actor,
                    statuses=statuses,
                    overdue_only=overdue,
                    due_before=due_before,
                )

        return connection(page, [activity_of(r) for r in page.items], count)  # type: ignore[misc]

    @strawberry.field(description="Appointments overlapping [from, to), for a calendar.")
    async def appointments(
        self,
        info: strawberry.Info,
        from_: Annotated[datetime, strawberry.argument(name="from")],
        to: datetime,
    ) -> list[Appointment]:
        actor = info.context.require_actor()
        try:
            async with info.context.read() as session:
                rows = await activity_queries.appointments_between(session, actor, from_, to)
        except DomainError as error:
            raise bad_input(error) from None
        return [activity_of(r) for r in rows]  # type: ignore[misc]

    @strawberry.field
    async def users(self, info: strawberry.Info, include_inactive: bool = False) -> list[User]:
        info.context.require_actor()
        async with info.context.read() as session:
            rows = await users.list_users(session, include_inactive=include_inactive)
        return [User.of(r) for r in rows]

    @strawberry.field
    async def teams(self, info: strawberry.Info) -> list[Team]:
        info.context.require_actor()
        async with info.context.read() as session:
            return [Team.of(r) for r in await users.list_teams(session)]
