"""Mutations on the folder tree and the pipeline's stages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import strawberry

from app.crm.folders import services as folders
from app.crm.folders.models import Folder as FolderModel
from app.crm.stages import services as stages
from app.crm.stages.models import Stage as StageModel
from app.crm.unit import Unit
from app.graphql.errors import UserError
from app.graphql.ids import decode_id, decode_optional
from app.graphql.inputs import (
    CreateFolderInput,
    CreateStageInput,
    DeleteFolderInput,
    DeleteStageInput,
    MoveFolderInput,
    RenameFolderInput,
    UpdateStageInput,
)
from app.graphql.mutations.base import DeletePayload, deletion, presented
from app.graphql.types.pipeline import Folder, Stage


@strawberry.type
class FolderPayload:
    folder: Folder | None
    user_errors: list[UserError]


@strawberry.type
class StagePayload:
    stage: Stage | None
    user_errors: list[UserError]


async def _folder(
    info: strawberry.Info, work: Callable[[Unit], Awaitable[FolderModel]]
) -> FolderPayload:
    folder, errors = await presented(info, work, Folder.of)
    return FolderPayload(folder=folder, user_errors=errors)


async def _stage(
    info: strawberry.Info, work: Callable[[Unit], Awaitable[StageModel]]
) -> StagePayload:
    stage, errors = await presented(info, work, Stage.of)
    return StagePayload(stage=stage, user_errors=errors)


@strawberry.type
class PipelineMutations:
    @strawberry.mutation
    async def create_folder(self, info: strawberry.Info, input: CreateFolderInput) -> FolderPayload:
        async def work(unit: Unit) -> FolderModel:
            return await folders.create_folder(
                unit,
                name=input.name,
                parent_id=decode_optional(input.parent_id, "Folder", "parentId"),
            )

        return await _folder(info, work)

    @strawberry.mutation
    async def rename_folder(self, info: strawberry.Info, input: RenameFolderInput) -> FolderPayload:
        async def work(unit: Unit) -> FolderModel:
            return await folders.rename_folder(unit, decode_id(input.id, "Folder"), name=input.name)

        return await _folder(info, work)

    @strawberry.mutation(description="Moves the folder with its whole subtree.")
    async def move_folder(self, info: strawberry.Info, input: MoveFolderInput) -> FolderPayload:
        async def work(unit: Unit) -> FolderModel:
            return await folders.move_folder(
                unit,
                decode_id(input.id, "Folder"),
                parent_id=decode_optional(input.parent_id, "Folder", "parentId"),
            )

        return await _folder(info, work)

    @strawberry.mutation(description="Only an empty folder can be deleted.")
    async def delete_folder(self, info: strawberry.Info, input: DeleteFolderInput) -> DeletePayload:
        async def work(unit: Unit) -> None:
            await folders.delete_folder(unit, decode_id(input.id, "Folder"))

        return await deletion(info, work, input.id)

    @strawberry.mutation(description="Admins only.")
    async def create_stage(self, info: strawberry.Info, input: CreateStageInput) -> StagePayload:
        async def work(unit: Unit) -> StageModel:
            return await stages.create_stage(
                unit,
                name=input.name,
                kind=input.kind.value,
                default_probability=input.default_probability,
                forecast_category=input.forecast_category.value
                if input.forecast_category
                else None,
                position=input.position,
            )

        return await _stage(info, work)

    @strawberry.mutation(description="Admins only.")
    async def update_stage(self, info: strawberry.Info, input: UpdateStageInput) -> StagePayload:
        async def work(unit: Unit) -> StageModel:
            return await stages.update_stage(
                unit,
                decode_id(input.id, "Stage"),
                name=input.name,
                default_probability=input.default_probability,
                forecast_category=input.forecast_category.value
                if input.forecast_category
                else None,
                position=input.position,
            )

        return await _stage(info, work)

    @strawberry.mutation(description="Admins only; only a stage no opportunity is in.")
    async def delete_stage(self, info: strawberry.Info, input: DeleteStageInput) -> DeletePayload:
        async def work(unit: Unit) -> None:
            await stages.delete_stage(unit, decode_id(input.id, "Stage"))

        return await deletion(info, work, input.id)
