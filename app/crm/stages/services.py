"""The pipeline's stages: seeded by migration, edited by admins."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.crm.audit.services import record, record_change, snapshot
from app.crm.errors import DomainError, ErrorCode, not_found
from app.crm.opportunities.models import Opportunity
from app.crm.stages.models import Stage
from app.crm.unit import Unit
from app.crm.users.services import require_admin
from app.crm.validation import check_range, required_text

STAGE_KINDS = ("OPEN", "WON", "LOST")
FORECAST_CATEGORIES = ("PIPELINE", "BEST_CASE", "COMMIT", "CLOSED", "OMITTED")
_AUDITED = ("name", "kind", "position", "default_probability", "forecast_category")


def check_forecast_category(value: str, field: str = "forecastCategory") -> str:
    if value not in FORECAST_CATEGORIES:
        raise DomainError(
            ErrorCode.INVALID,
            f"{field} must be one of {', '.join(FORECAST_CATEGORIES)}",
            [field],
        )
    return value


async def get_stage(unit: Unit, stage_id: int, field: str = "stageId") -> Stage:
    stage = await unit.session.get(Stage, stage_id)
    if stage is None:
        raise not_found("stage", field)
    return stage


async def first_stage_of_kind(unit: Unit, kind: str) -> Stage:
    stage = (
        await unit.session.execute(
            select(Stage).where(Stage.kind == kind).order_by(Stage.position, Stage.id).limit(1)
        )
    ).scalar_one_or_none()
    if stage is None:
        raise DomainError(ErrorCode.INVALID_STATE, f"the pipeline has no {kind} stage")
    return stage


async def _flush_unique(unit: Unit) -> None:
    try:
        await unit.session.flush()
    except IntegrityError:
        raise DomainError(ErrorCode.DUPLICATE, "a stage with this name exists", ["name"]) from None


async def create_stage(
    unit: Unit,
    *,
    name: str,
    kind: str,
    default_probability: int | None,
    forecast_category: str | None,
    position: int | None,
) -> Stage:
    require_admin(unit)
    if kind not in STAGE_KINDS:
        raise DomainError(ErrorCode.INVALID, "kind must be OPEN, WON or LOST", ["kind"])
    forced = {"WON": 100, "LOST": 0}.get(kind)
    probability = forced if forced is not None else default_probability
    if probability is None:
        raise DomainError(
            ErrorCode.REQUIRED, "defaultProbability is required", ["defaultProbability"]
        )
    if forced is not None and default_probability not in (None, forced):
        raise DomainError(
            ErrorCode.INVALID,
            f"a {kind} stage always has probability {forced}",
            ["defaultProbability"],
        )
    if position is None:
        position = (
            int(await unit.session.scalar(select(func.coalesce(func.max(Stage.position), 0))) or 0)
            + 1
        )
    stage = Stage(
        name=required_text("name", name, max_length=100),
        kind=kind,
        default_probability=check_range("defaultProbability", probability, 0, 100),
        forecast_category=check_forecast_category(
            forecast_category or {"WON": "CLOSED", "LOST": "OMITTED"}.get(kind, "PIPELINE")
        ),
        position=check_range("position", position, 0, 10_000),
    )
    unit.session.add(stage)
    await _flush_unique(unit)
    record(unit, "stage.create", "Stage", stage.id, after=snapshot(stage, _AUDITED))
    return stage


async def update_stage(
    unit: Unit,
    stage_id: int,
    *,
    name: str | None = None,
    default_probability: int | None = None,
    forecast_category: str | None = None,
    position: int | None = None,
) -> Stage:
    require_admin(unit)
    stage = await get_stage(unit, stage_id, "id")
    before = snapshot(stage, _AUDITED)
    if name is not None:
        stage.name = required_text("name", name, max_length=100)
    if default_probability is not None:
        if stage.kind != "OPEN" and default_probability != stage.default_probability:
            raise DomainError(
                ErrorCode.INVALID,
                f"a {stage.kind} stage always has probability {stage.default_probability}",
                ["defaultProbability"],
            )
        stage.default_probability = check_range("defaultProbability", default_probability, 0, 100)
    if forecast_category is not None:
        stage.forecast_category = check_forecast_category(forecast_category)
    if position is not None:
        stage.position = check_range("position", position, 0, 10_000)
    await _flush_unique(unit)
    record_change(unit, "stage.update", "Stage", stage.id, before, snapshot(stage, _AUDITED))
    return stage


async def delete_stage(unit: Unit, stage_id: int) -> None:
    require_admin(unit)
    stage = await get_stage(unit, stage_id, "id")
    used = await unit.session.scalar(
        select(func.count()).select_from(Opportunity).where(Opportunity.stage_id == stage_id)
    )
    if used:
        raise DomainError(
            ErrorCode.IN_USE, f"{used} opportunities are in this stage; move them first", ["id"]
        )
    same_kind = await unit.session.scalar(
        select(func.count()).select_from(Stage).where(Stage.kind == stage.kind)
    )
    if stage.kind != "OPEN" and same_kind == 1:
        raise DomainError(ErrorCode.INVALID, f"the pipeline needs a {stage.kind} stage", ["id"])
    record(unit, "stage.delete", "Stage", stage.id, before=snapshot(stage, _AUDITED))
    await unit.session.delete(stage)
    await unit.session.flush()
