"""Mutations on saved views."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from strawberry import UNSET

from app.crm.opportunities.filters import OpportunityFilter
from app.crm.opportunities.groups import GroupBy
from app.crm.unit import Unit
from app.crm.views import services
from app.crm.views.models import OpportunityView as ViewModel
from app.graphql.errors import UserError
from app.graphql.filters import OpportunityFilterInput
from app.graphql.ids import decode_id, decode_optional
from app.graphql.inputs import OpportunityOrder
from app.graphql.mutations.base import DeletePayload, attempt, deletion
from app.graphql.types.groups import OpportunityGroupBy
from app.graphql.types.views import OpportunityView, ViewKind, ViewVisibility


@strawberry.input
class CreateViewInput:
    name: str
    filter: OpportunityFilterInput | None = None
    sort: list[OpportunityOrder] | None = None
    group_by: OpportunityGroupBy | None = None  # type: ignore[valid-type]
    columns: list[str] | None = strawberry.field(
        default=None, description="Default: number, name, stage, owner, value, close date."
    )
    kind: ViewKind = ViewKind.TABLE
    visibility: ViewVisibility = ViewVisibility.PRIVATE
    team_id: strawberry.ID | None = strawberry.field(
        default=None, description="For a TEAM view: a team you belong to."
    )


@strawberry.input
class UpdateViewInput:
    id: strawberry.ID
    expected_version: int
    name: str | None = UNSET
    filter: OpportunityFilterInput | None = UNSET
    sort: list[OpportunityOrder] | None = UNSET
    group_by: OpportunityGroupBy | None = UNSET  # type: ignore[valid-type]
    columns: list[str] | None = UNSET
    kind: ViewKind | None = UNSET
    visibility: ViewVisibility | None = UNSET
    team_id: strawberry.ID | None = UNSET


@strawberry.input
class DeleteViewInput:
    id: strawberry.ID


@strawberry.type
class ViewPayload:
    view: OpportunityView | None
    user_errors: list[UserError]


def _group_by(value: Any) -> GroupBy | None:
    return GroupBy(value.value if hasattr(value, "value") else value) if value else None


def _update_values(input: UpdateViewInput) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if input.name is not UNSET:
        values["name"] = input.name
    if input.filter is not UNSET:
        values["filter"] = input.filter.to_domain() if input.filter else OpportunityFilter()
    if input.sort is not UNSET:
        values["sorts"] = [o.to_domain() for o in input.sort or []]
    if input.group_by is not UNSET:
        values["group_by"] = _group_by(input.group_by)
    if input.columns is not UNSET:
        values["columns"] = input.columns or []
    if input.kind is not UNSET and input.kind is not None:
        values["kind"] = input.kind.value
    if input.visibility is not UNSET and input.visibility is not None:
        values["visibility"] = input.visibility.value
    if input.team_id is not UNSET:
        values["team_id"] = decode_optional(input.team_id, "Team", "teamId")
    return values


async def _view(info: strawberry.Info, work: Callable[[Unit], Awaitable[ViewModel]]) -> ViewPayload:
    result, errors, _ = await attempt(info, work)
    return ViewPayload(
        view=OpportunityView.of(result) if result is not None else None, user_errors=errors
    )


@strawberry.type
class ViewMutations:
    @strawberry.mutation(description="Save a view; PRIVATE unless shared with a team or all.")
    async def create_view(self, info: strawberry.Info, input: CreateViewInput) -> ViewPayload:
        async def work(unit: Unit) -> ViewModel:
            return await services.create_view(
                unit,
                name=input.name,
                filter=input.filter.to_domain() if input.filter else OpportunityFilter(),
                sorts=[o.to_domain() for o in input.sort or []],
                group_by=_group_by(input.group_by),
                columns=input.columns,
                kind=input.kind.value,
                visibility=input.visibility.value,
                team_id=decode_optional(input.team_id, "Team", "teamId"),
            )

        return await _view(info, work)

    @strawberry.mutation(
        description="Owner or admin; NOT_EDITABLE for built-in views; CONFLICT on a stale version."
    )
    async def update_view(self, info: strawberry.Info, input: UpdateViewInput) -> ViewPayload:
        async def work(unit: Unit) -> ViewModel:
            return await services.update_view(
                unit, decode_id(input.id, "View"), input.expected_version, _update_values(input)
            )

        return await _view(info, work)

    @strawberry.mutation(description="Owner or admin; built-in views stay.")
    async def delete_view(self, info: strawberry.Info, input: DeleteViewInput) -> DeletePayload:
        async def work(unit: Unit) -> None:
            await services.delete_view(unit, decode_id(input.id, "View"))

        return await deletion(info, work, input.id)
