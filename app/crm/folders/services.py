"""The folder tree: create, rename, move with the whole subtree, delete when empty."""

from __future__ import annotations

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError

from app.crm.errors import DomainError, ErrorCode, not_found
from app.crm.folders.models import Folder, folder_ids_on
from app.crm.opportunities.models import Opportunity
from app.crm.unit import Unit
from app.crm.validation import required_text

MAX_DEPTH = 20


async def _lock_tree(unit: Unit) -> None:
    # Two concurrent moves (A into B, B into A) could each pass the cycle check; tree changes
    # take one transaction-scoped lock so they happen one after the other.
    await unit.session.execute(text("SELECT pg_advisory_xact_lock(hashtext('tandem.folders'))"))


async def get_folder(unit: Unit, folder_id: int, field: str = "folderId") -> Folder:
    folder = await unit.session.get(Folder, folder_id)
    if folder is None:
        raise not_found("folder", field)
    return folder


async def folder_in_reach(unit: Unit, folder_id: int | None, field: str = "folderId") -> None:
    """That a deal may be put in the folder (None: in none) by the actor's token: anywhere,
    but for a token limited to folders only in one of those or beneath one."""
    folder = await get_folder(unit, folder_id, field) if folder_id is not None else None
    reach = unit.actor.folder_ids if unit.actor is not None else None
    if reach is not None and (folder is None or reach.isdisjoint(folder_ids_on(folder.path))):
        raise DomainError(
            ErrorCode.FORBIDDEN, "this token reaches only the deals in its folders", [field]
        )


async def _flush_unique(unit: Unit) -> None:
    try:
        await unit.session.flush()
    except IntegrityError:
        raise DomainError(
            ErrorCode.DUPLICATE, "a folder with this name exists in the same parent", ["name"]
        ) from None


def _depth(path: str) -> int:
    return path.count("/") - 1


async def create_folder(unit: Unit, *, name: str, parent_id: int | None) -> Folder:
    await _lock_tree(unit)
    parent = await get_folder(unit, parent_id, "parentId") if parent_id is not None else None
    if parent is not None and _depth(parent.path) >= MAX_DEPTH:
        raise DomainError(ErrorCode.INVALID, f"folders nest at most {MAX_DEPTH} deep", ["parentId"])
    folder = Folder(name=required_text("name", name, max_length=200), parent_id=parent_id, path="")
    unit.session.add(folder)
    await _flush_unique(unit)
    folder.path = f"{parent.path if parent else '/'}{folder.id}/"
    await unit.session.flush()
    return folder


async def rename_folder(unit: Unit, folder_id: int, *, name: str) -> Folder:
    folder = await get_folder(unit, folder_id, "id")
    folder.name = required_text("name", name, max_length=200)
    await _flush_unique(unit)
    return folder


async def move_folder(unit: Unit, folder_id: int, *, parent_id: int | None) -> Folder:
    await _lock_tree(unit)
    folder = await get_folder(unit, folder_id, "id")
    parent = await get_folder(unit, parent_id, "parentId") if parent_id is not None else None
    if parent is not None and parent.path.startswith(folder.path):
        raise DomainError(
            ErrorCode.INVALID_MOVE,
            "a folder cannot move into itself or its own subtree",
            ["parentId"],
        )
    old_prefix = folder.path
    new_prefix = f"{parent.path if parent else '/'}{folder.id}/"
    deepest = await unit.session.scalar(
        select(
            func.max(func.length(Folder.path) - func.length(func.replace(Folder.path, "/", "")))
        ).where(Folder.path.startswith(old_prefix, autoescape=True))
    )
    if (deepest or 0) - _depth(old_prefix) - 1 + _depth(new_prefix) > MAX_DEPTH:
        raise DomainError(ErrorCode.INVALID, f"folders nest at most {MAX_DEPTH} deep", ["parentId"])
    folder.parent_id = parent_id
    await _flush_unique(unit)
    await unit.session.execute(
        update(Folder)
        .where(Folder.path.startswith(old_prefix, autoescape=True))
        .values(path=new_prefix + func.substr(Folder.path, len(old_prefix) + 1))
        .execution_options(synchronize_session=False)
    )
    await unit.session.refresh(folder)
    return folder


async def delete_folder(unit: Unit, folder_id: int) -> None:
    await _lock_tree(unit)
    folder = await get_folder(unit, folder_id, "id")
    children = await unit.session.scalar(
        select(func.count()).select_from(Folder).where(Folder.parent_id == folder_id)
    )
    # Hidden opportunities count too: deleting must not strand anybody's private deals.
    live = await unit.session.scalar(
        select(func.count())
        .select_from(Opportunity)
        .where(Opportunity.folder_id == folder_id, Opportunity.deleted_at.is_(None))
    )
    if children or live:
        raise DomainError(
            ErrorCode.NOT_EMPTY,
            "only an empty folder (no sub-folders, no opportunities) can be deleted",
            ["id"],
        )
    await unit.session.execute(
        update(Opportunity).where(Opportunity.folder_id == folder_id).values(folder_id=None)
    )
    await unit.session.delete(folder)
    await unit.session.flush()
