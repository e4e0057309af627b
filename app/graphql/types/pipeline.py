"""Stages, folders and the lost-reason catalogue."""

from __future__ import annotations

from typing import Any

import strawberry

from app.graphql.ids import encode_id
from app.graphql.types.common import ForecastCategory, Node, StageKind


@strawberry.type(description="A step of the sales pipeline.")
class Stage(Node):
    id: strawberry.ID
    name: str
    position: int
    kind: StageKind
    default_probability: int
    forecast_category: ForecastCategory
    pk: strawberry.Private[int]

    @classmethod
    def of(cls, row: Any) -> Stage:
        return cls(
            id=strawberry.ID(encode_id("Stage", row.id)),
            name=row.name,
            position=row.position,
            kind=StageKind(row.kind),
            default_probability=row.default_probability,
            forecast_category=ForecastCategory(row.forecast_category),
            pk=row.id,
        )


@strawberry.type(description="A reason from the catalogue for losing an opportunity.")
class LostReason(Node):
    id: strawberry.ID
    name: str
    is_active: bool

    @classmethod
    def of(cls, row: Any) -> LostReason:
        return cls(
            id=strawberry.ID(encode_id("LostReason", row.id)),
            name=row.name,
            is_active=row.is_active,
        )


@strawberry.type(description="A folder in the tree that opportunities are filed in.")
class Folder(Node):
    id: strawberry.ID
    name: str
    depth: int
    pk: strawberry.Private[int]
    parent_pk: strawberry.Private[int | None]
    path_ids: strawberry.Private[list[int]]

    @classmethod
    def of(cls, row: Any) -> Folder:
        path_ids = [int(p) for p in row.path.strip("/").split("/")] if row.path.strip("/") else []
        return cls(
            id=strawberry.ID(encode_id("Folder", row.id)),
            name=row.name,
            depth=max(len(path_ids) - 1, 0),
            pk=row.id,
            parent_pk=row.parent_id,
            path_ids=path_ids,
        )

    @strawberry.field
    async def parent(self, info: strawberry.Info) -> Folder | None:
        if self.parent_pk is None:
            return None
        row = await info.context.loaders.folder_by_id.load(self.parent_pk)
        return Folder.of(row) if row is not None else None

    @strawberry.field(description="The folders from the root down to this one's parent.")
    async def ancestors(self, info: strawberry.Info) -> list[Folder]:
        rows = await info.context.loaders.folder_by_id.load_many(self.path_ids[:-1])
        return [Folder.of(r) for r in rows if r is not None]

    @strawberry.field
    async def children(self, info: strawberry.Info) -> list[Folder]:
        return [Folder.of(r) for r in await info.context.loaders.children_by_folder.load(self.pk)]

    @strawberry.field(
        description="Opportunities in this folder that you may see; with includeSubfolders, "
        "in its whole subtree."
    )
    async def opportunity_count(
        self, info: strawberry.Info, include_subfolders: bool = False
    ) -> int:
        loaders = info.context.loaders
        loader = (
            loaders.subtree_opportunity_count_by_folder
            if include_subfolders
            else loaders.opportunity_count_by_folder
        )
        count: int = await loader.load(self.pk)
        return count
