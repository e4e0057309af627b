"""Root fields for the pipeline's catalogue: stages, lost reasons, folders."""

from __future__ import annotations

import strawberry

from app.crm.folders import queries as folders
from app.crm.opportunities import queries as opportunities
from app.crm.stages import queries as stages
from app.graphql.queries.arguments import decoded
from app.graphql.types.pipeline import Folder, LostReason, Stage


@strawberry.type
class PipelineQueries:
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
        parent = decoded(parent_id, "Folder") if parent_id else None
        async with info.context.read() as session:
            rows = await folders.list_folders(session, parent, roots_only=roots_only)
        return [Folder.of(r) for r in rows]
