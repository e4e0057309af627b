"""Saving, changing and deleting views. Built-in views belong to nobody and never change."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, false, or_, select, true, update

from app.crm.actor import Actor
from app.crm.audit.services import record, record_change, snapshot
from app.crm.errors import DomainError, ErrorCode, check_version, forbidden, not_found
from app.crm.opportunities.filters import (
    OpportunityFilter,
    check_filter,
    filter_from_json,
    filter_to_json,
)
from app.crm.opportunities.groups import GroupBy
from app.crm.opportunities.sorting import Sort, SortField, sort_keys
from app.crm.unit import Unit
from app.crm.users.models import Team
from app.crm.validation import required_text
from app.crm.views.models import KINDS, VISIBILITIES, OpportunityView

# What a table may show; clients render these, the server only keeps them in order.
COLUMNS = (
    "number",
    "name",
    "status",
    "stage",
    "owner",
    "folder",
    "companies",
    "contacts",
    "expectedValue",
    "weightedValue",
    "probability",
    "forecastCategory",
    "estimatedCloseDate",
    "actualCloseDate",
    "leadSource",
    "nextStep",
    "visibility",
    "lastActivityAt",
    "openTaskCount",
    "createdAt",
    "updatedAt",
)
DEFAULT_COLUMNS = ("number", "name", "stage", "owner", "expectedValue", "estimatedCloseDate")
# A view shared with everyone is part of what every user works with: its sharing, changes
# and deletion are in the audit log (a private or team view's are not).
_AUDITED = (
    "name",
    "owner_id",
    "visibility",
    "team_id",
    "kind",
    "filter",
    "sort",
    "group_by",
    "columns",
)


@dataclass(frozen=True, slots=True)
class ViewDefinition:
    """What a view applies: read from a stored view, built-in or saved."""

    filter: OpportunityFilter
    sorts: tuple[Sort, ...]
    group_by: GroupBy | None


def definition(view: Any) -> ViewDefinition:
    return ViewDefinition(
        filter=filter_from_json(view.filter),
        sorts=tuple(
            Sort(SortField(s["field"]), s["descending"], s.get("nulls_first")) for s in view.sort
        ),
        group_by=GroupBy(view.group_by) if view.group_by else None,
    )


def visible_views(actor: Actor) -> ColumnElement[bool]:
    """Built-in and EVERYONE views, your own, your teams'; admins see every view."""
    if actor.is_admin:
        return true()
    team_views = OpportunityView.team_id.in_(sorted(actor.team_ids)) if actor.team_ids else false()
    return or_(
        OpportunityView.visibility == "EVERYONE",
        OpportunityView.owner_id == actor.user_id,
        (OpportunityView.visibility == "TEAM") & team_views,
    )


def _sorts_json(sorts: Sequence[Sort]) -> list[dict[str, Any]]:
    sort_keys(sorts)  # refuses a field given twice
    return [
        {"field": s.field.value, "descending": s.descending, "nulls_first": s.nulls_first}
        for s in sorts
    ]


def _columns(columns: Sequence[str]) -> list[str]:
    for column in columns:
        if column not in COLUMNS:
            raise DomainError(ErrorCode.INVALID, f"unknown column {column!r}", ["columns"])
    if len(set(columns)) != len(columns):
        raise DomainError(ErrorCode.INVALID, "a column may appear once", ["columns"])
    return list(columns)


async def _check_sharing(unit: Unit, visibility: str, team_id: int | None) -> int | None:
    actor = unit.require_actor()
    if visibility not in VISIBILITIES:
        raise DomainError(ErrorCode.INVALID, f"unknown visibility {visibility}", ["visibility"])
    if visibility != "TEAM":
        return None
    if team_id is None:
        raise DomainError(ErrorCode.REQUIRED, "a TEAM view names its team", ["teamId"])
    if await unit.session.get(Team, team_id) is None:
        raise not_found("team", "teamId")
    if not actor.is_admin and team_id not in actor.team_ids:
        raise forbidden("you can share a view only with a team you belong to")
    return team_id


def _check_kind(kind: str, group_by: GroupBy | None) -> str:
    if kind not in KINDS:
        raise DomainError(ErrorCode.INVALID, f"unknown kind {kind}", ["kind"])
    if kind == "BOARD" and group_by is None:
        raise DomainError(ErrorCode.REQUIRED, "a BOARD view needs a groupBy", ["groupBy"])
    return kind


async def create_view(
    unit: Unit,
    *,
    name: str,
    filter: OpportunityFilter,
    sorts: Sequence[Sort],
    group_by: GroupBy | None,
    columns: Sequence[str] | None,
    kind: str,
    visibility: str,
    team_id: int | None,
) -> OpportunityView:
    actor = unit.require_actor()
    check_filter(filter)
    view = OpportunityView(
        name=required_text("name", name, max_length=200),
        owner_id=actor.user_id,
        visibility=visibility,
        team_id=await _check_sharing(unit, visibility, team_id),
        kind=_check_kind(kind, group_by),
        filter=filter_to_json(filter),
        sort=_sorts_json(sorts),
        group_by=group_by.value if group_by else None,
        columns=_columns(columns if columns is not None else DEFAULT_COLUMNS),
        version=1,
    )
    unit.session.add(view)
    await unit.session.flush()
    if view.visibility == "EVERYONE":
        record(unit, "view.share", "View", view.id, after=snapshot(view, _AUDITED))
    return view


async def _editable(unit: Unit, view_id: int, expected_version: int | None) -> OpportunityView:
    actor = unit.require_actor()
    view = (
        await unit.session.execute(
            select(OpportunityView)
            .where(OpportunityView.id == view_id, visible_views(actor))
            .with_for_update()
        )
    ).scalar_one_or_none()
    if view is None:
        raise not_found("view", "id")
    if view.builtin_key is not None:
        raise DomainError(ErrorCode.NOT_EDITABLE, "built-in views cannot change", ["id"])
    if view.owner_id != actor.user_id and not actor.is_admin:
        raise forbidden("only the view's owner or an admin may change it")
    check_version("view", view.version, expected_version, view.id)
    return view


async def update_view(
    unit: Unit, view_id: int, expected_version: int, values: Mapping[str, Any]
) -> OpportunityView:
    """Change what `values` holds: name, filter, sorts, group_by, columns, kind, visibility,
    team_id."""
    view = await _editable(unit, view_id, expected_version)
    before = snapshot(view, _AUDITED)
    if "name" in values:
        view.name = required_text("name", values["name"], max_length=200)
    if "filter" in values:
        check_filter(values["filter"])
        view.filter = filter_to_json(values["filter"])
    if "sorts" in values:
        view.sort = _sorts_json(values["sorts"])
    if "group_by" in values:
        view.group_by = values["group_by"].value if values["group_by"] else None
    if "columns" in values:
        view.columns = _columns(values["columns"])
    if "visibility" in values or "team_id" in values:
        visibility = values.get("visibility") or view.visibility
        team_id = values.get("team_id", view.team_id)
        view.team_id = await _check_sharing(unit, visibility, team_id)
        view.visibility = visibility
    view.kind = _check_kind(
        values.get("kind") or view.kind, GroupBy(view.group_by) if view.group_by else None
    )
    after = snapshot(view, _AUDITED)
    if after != before:
        view.version += 1
        await unit.session.flush()
    shared = (before["visibility"] == "EVERYONE", after["visibility"] == "EVERYONE")
    if any(shared):
        action = {(False, True): "view.share", (True, False): "view.unshare"}.get(
            shared, "view.update"
        )
        record_change(unit, action, "View", view.id, before, after)
    return view


async def delete_view(unit: Unit, view_id: int) -> None:
    view = await _editable(unit, view_id, None)
    if view.visibility == "EVERYONE":
        record(unit, "view.delete", "View", view.id, before=snapshot(view, _AUDITED))
    await unit.session.delete(view)
    await unit.session.flush()


async def unshare_team_views(unit: Unit, team_id: int) -> int:
    """Views shared with a team that is going away become their owners' private views: the
    team's members lose a view they had through the team, nobody loses a view of their own.
    How many there were."""
    result = await unit.session.execute(
        update(OpportunityView)
        .where(OpportunityView.team_id == team_id)
        .values(visibility="PRIVATE", team_id=None, version=OpportunityView.version + 1)
        .returning(OpportunityView.id)
    )
    return len(result.all())
