"""Root fields for activities across opportunities: your tasks, appointments for a calendar."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from app.crm.activities import queries as activity_queries
from app.crm.errors import DomainError
from app.graphql.errors import bad_input
from app.graphql.types.activities import Appointment, Task, TaskStatus, activity_of
from app.graphql.types.common import Connection, connection


@strawberry.input(description="Which of your tasks: by status (default OPEN), overdue, due.")
class TaskFilter:
    status: list[TaskStatus] | None = None
    overdue: bool = strawberry.field(default=False, description="Open and past their due time.")
    due_before: datetime | None = None


@strawberry.type
class ActivityQueries:
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
