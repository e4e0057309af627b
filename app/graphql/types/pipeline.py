"""Stages, folders and the lost-reason catalogue."""

from __future__ import annotations

from functools import partial
from typing import Any

import strawberry

from app.crm.folders import queries as folders
from app.graphql.batch import batched, reader, related, related_lists
from app.graphql.ids import encode_id
from app.graphql.types.common import ForecastCategory, Node, StageKind
from app.graphql.types.rows import EnumColumn, RowBacked, check_row_fields, columns, node_id


@strawberry.type(description="A step of the sales pipeline.")
class Stage(Node, RowBacked):
    id: strawberry.ID
    name: str
    position: int
    kind: StageKind
    default_probability: int
    forecast_category: ForecastCategory
    row: strawberry.Private[Any]


Stage.ROW_FIELDS = {
    "id": node_id("Stage"),
    **columns("name", "position", "default_probability"),
    "kind": EnumColumn("kind", StageKind),
    "forecast_category": EnumColumn("forecast_category", ForecastCategory),
}
check_row_fields(Stage)


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

    @batched()
    async def parent(parents: list[Folder], info: strawberry.Info) -> list[Folder | None]:
        return await related(info, folders.folders_by_id, [f.parent_pk for f in parents], Folder.of)

    @batched(description="The folders from the root down to this one's parent.")
    async def ancestors(parents: list[Folder], info: strawberry.Info) -> list[list[Folder]]:
        paths = [f.path_ids[:-1] for f in parents]
        return await related_lists(info, folders.folders_by_id, paths, Folder.of)

    @batched()
    async def children(parents: list[Folder], info: strawberry.Info) -> list[list[Folder]]:
        found = await reader(info).fetch(folders.children_by_parent, [f.pk for f in parents], [])
        return [[Folder.of(row) for row in found[f.pk]] for f in parents]

    @batched(
        description="Opportunities in this folder that you may see; with includeSubfolders, "
        "in its whole subtree."
    )
    async def opportunity_count(
        parents: list[Folder], info: strawberry.Info, include_subfolders: bool = False
    ) -> list[int]:
        counts = _SUBTREE_COUNTS if include_subfolders else _OWN_COUNTS
        found = await reader(info).visible(counts, [f.pk for f in parents], 0)
        return [found[f.pk] for f in parents]


_OWN_COUNTS = partial(folders.opportunity_counts, include_subfolders=False)
_SUBTREE_COUNTS = partial(folders.opportunity_counts, include_subfolders=True)
