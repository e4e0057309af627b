"""The verbs that change opportunities. Each records its event on the unit of work.

Every change takes the version the caller last saw: a stale one is a CONFLICT and changes
nothing, so two teammates can never silently overwrite each other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select, text

from app.crm.actor import live_and_visible
from app.crm.companies.services import get_company
from app.crm.errors import DomainError, ErrorCode, check_version, forbidden, not_found
from app.crm.fields import text_rule
from app.crm.folders.services import folder_in_reach
from app.crm.jsonable import jsonable
from app.crm.money import Money, check_money, quantum
from app.crm.opportunities.audience import audience_of
from app.crm.opportunities.models import (
    VISIBILITIES,
    LostReason,
    Opportunity,
    OpportunityLostReason,
)
from app.crm.opportunities.rows import OpportunityRow
from app.crm.stages.models import Stage
from app.crm.stages.services import check_forecast_category, first_stage_of_kind, get_stage
from app.crm.unit import Unit
from app.crm.users.services import active_user
from app.crm.validation import api_name, check_range
from app.events.envelope import EventKind, FieldChange, PendingEvent

_TEXT_RULES = {
    "name": text_rule(200, required=True),
    "description": text_rule(10_000),
    "next_step": text_rule(500),
    "lead_source": text_rule(100),
    "lost_note": text_rule(10_000),
}


def _now() -> datetime:
    return datetime.now(UTC)


def _money_json(amount: Decimal | None, currency: str) -> dict[str, str] | None:
    # Stored with 4 decimals; a change shows it in the currency's minor unit, as reads do.
    if amount is None:
        return None
    return {"amount": str(amount.quantize(quantum(currency))), "currency": currency}


class ChangeSet:
    """Collects field-by-field changes as they are applied to a record (an opportunity, an
    order)."""

    def __init__(self, opportunity: Any) -> None:
        self.opportunity = opportunity
        self.items: list[FieldChange] = []

    def set(self, attribute: str, value: Any, field: str | None = None) -> None:
        old = getattr(self.opportunity, attribute)
        if old != value:
            setattr(self.opportunity, attribute, value)
            self.items.append(FieldChange(field or attribute, jsonable(old), jsonable(value)))

    def set_money(self, amount: Decimal | None, currency: str, field: str, attribute: str) -> None:
        opportunity = self.opportunity
        old_amount = getattr(opportunity, attribute)
        if old_amount != amount or opportunity.currency != currency:
            old = _money_json(old_amount, opportunity.currency)
            setattr(opportunity, attribute, amount)
            self.items.append(FieldChange(field, old, _money_json(amount, currency)))

    def add(self, field: str, old: Any, new: Any) -> None:
        self.items.append(FieldChange(field, old, new))

    def __bool__(self) -> bool:
        return bool(self.items)


async def record_change(
    unit: Unit, opportunity: Opportunity, kind: EventKind, changes: ChangeSet
) -> None:
    """Bump the version and record the event with the state this change leaves behind."""
    opportunity.version += 1
    opportunity.updated_at = _now()
    await record_event(unit, opportunity, kind, changes.items)


async def record_event(
    unit: Unit,
    opportunity: Opportunity,
    kind: EventKind,
    changes: Sequence[FieldChange],
    **about: Any,
) -> None:
    """Record an event on the opportunity's stream, with who may see it and the opportunity
    as it stands in this transaction. `about` names what else it concerns (an order)."""
    await unit.session.flush()
    unit.record(
        PendingEvent(
            kind=kind,
            opportunity_id=opportunity.id,
            version=opportunity.version,
            changes=tuple(changes),
            audience=await audience_of(unit.session, opportunity),
            snapshot=OpportunityRow.from_source(opportunity).to_json(),
            **about,
        )
    )


async def visible_opportunity(
    unit: Unit, opportunity_id: int, field: str = "opportunityId"
) -> Opportunity:
    """A live opportunity the actor may see, not locked (for what hangs off it)."""
    opportunity = (
        await unit.session.execute(
            select(Opportunity).where(
                Opportunity.id == opportunity_id, live_and_visible(unit.require_actor())
            )
        )
    ).scalar_one_or_none()
    if opportunity is None:
        raise not_found("opportunity", field)
    return opportunity


async def load_for_change(
    unit: Unit, opportunity_id: int, expected_version: int | None
) -> Opportunity:
    """Lock the opportunity row; hidden and deleted ones look exactly like missing ones."""
    actor = unit.require_actor()
    opportunity = (
        await unit.session.execute(
            select(Opportunity)
            .where(Opportunity.id == opportunity_id, live_and_visible(actor))
            .with_for_update(of=Opportunity)
        )
    ).scalar_one_or_none()
    if opportunity is None:
        raise not_found("opportunity", "id")
    check_version("opportunity", opportunity.version, expected_version, opportunity.id)
    return opportunity


def _check_visibility(value: str) -> str:
    if value not in VISIBILITIES:
        raise DomainError(ErrorCode.INVALID, "visibility must be PUBLIC or PRIVATE", ["visibility"])
    return value


async def _open_stage(unit: Unit, stage_id: int) -> Stage:
    stage = await get_stage(unit, stage_id)
    if stage.kind != "OPEN":
        raise DomainError(
            ErrorCode.INVALID_STATE,
            "use markOpportunityWon or markOpportunityLost to close an opportunity",
            ["stageId"],
        )
    return stage


async def create_opportunity(unit: Unit, values: Mapping[str, Any]) -> Opportunity:
    actor = unit.require_actor()
    money = check_money(values["amount"], values["currency"], "expectedValue")
    stage = (
        await _open_stage(unit, values["stage_id"])
        if values.get("stage_id") is not None
        else await first_stage_of_kind(unit, "OPEN")
    )
    await folder_in_reach(unit, values.get("folder_id"))
    probability = values.get("probability")
    now = _now()
    opportunity = Opportunity(
        name=_TEXT_RULES["name"]("name", values.get("name")),
        description=_TEXT_RULES["description"]("description", values.get("description")),
        folder_id=values.get("folder_id"),
        stage_id=stage.id,
        status="OPEN",
        amount=money.amount,
        currency=money.currency,
        probability=(
            check_range("probability", probability, 0, 100)
            if probability is not None
            else stage.default_probability
        ),
        forecast_category=check_forecast_category(
            values.get("forecast_category") or stage.forecast_category
        ),
        estimated_close_date=values.get("estimated_close_date"),
        next_step=_TEXT_RULES["next_step"]("nextStep", values.get("next_step")),
        lead_source=_TEXT_RULES["lead_source"]("leadSource", values.get("lead_source")),
        owner_id=await active_user(unit, values.get("owner_id") or actor.user_id, "ownerId"),
        visibility=_check_visibility(values.get("visibility") or "PUBLIC"),
        version=0,
        created_by_id=actor.user_id,
        created_at=now,
        updated_at=now,
    )
    # Numbered only once every value has passed its checks: nextval is never rolled back, and
    # a refused create must not leave a gap in the numbering.
    number = await unit.session.scalar(text("SELECT nextval('opportunity_number_seq')"))
    opportunity.number = f"OPP-{number:06d}"
    unit.session.add(opportunity)
    await unit.session.flush()
    changes = ChangeSet(opportunity)
    for field, value in OpportunityRow.from_source(opportunity).to_json().items():
        if field in _CREATION_FIELDS and value is not None:
            changes.add(field, None, value)
    changes.add("expected_value", None, _money_json(opportunity.amount, opportunity.currency))
    await record_change(unit, opportunity, EventKind.CREATED, changes)
    return opportunity


_CREATION_FIELDS = (
    "name",
    "description",
    "folder_id",
    "stage_id",
    "status",
    "probability",
    "forecast_category",
    "estimated_close_date",
    "next_step",
    "lead_source",
    "owner_id",
    "visibility",
)


async def update_opportunity(
    unit: Unit, opportunity_id: int, expected_version: int, values: Mapping[str, Any]
) -> Opportunity:
    """Change any of the editable fields; only those present in `values` are touched."""
    opportunity = await load_for_change(unit, opportunity_id, expected_version)
    changes = ChangeSet(opportunity)
    for field in ("name", "description", "next_step", "lead_source"):
        if field in values:
            changes.set(field, _TEXT_RULES[field](api_name(field), values[field]))
    if "amount" in values or "currency" in values:
        money = check_money(
            values.get("amount", opportunity.amount),
            values.get("currency", opportunity.currency),
            "expectedValue",
        )
        if money.currency != opportunity.currency and opportunity.actual_amount is not None:
            raise DomainError(
                ErrorCode.INVALID_STATE,
                "the currency of a won opportunity cannot change",
                ["expectedValue", "currency"],
            )
        changes.set_money(money.amount, money.currency, "expected_value", "amount")
        opportunity.currency = money.currency
    stage_changed = False
    if values.get("stage_id") is not None and values["stage_id"] != opportunity.stage_id:
        if opportunity.status != "OPEN":
            raise DomainError(
                ErrorCode.INVALID_STATE,
                "reopen the opportunity before moving it to another stage",
                ["stageId"],
            )
        stage = await _open_stage(unit, values["stage_id"])
        changes.set("stage_id", stage.id)
        stage_changed = True
        # A stage change resets probability and forecast category to the new stage's
        # defaults, unless the same request sets them explicitly.
        if values.get("probability") is None:
            changes.set("probability", stage.default_probability)
        if values.get("forecast_category") is None:
            changes.set("forecast_category", stage.forecast_category)
    if values.get("probability") is not None:
        if opportunity.status != "OPEN":
            raise DomainError(
                ErrorCode.INVALID_STATE,
                "the probability of a won or lost opportunity is fixed",
                ["probability"],
            )
        changes.set("probability", check_range("probability", values["probability"], 0, 100))
    if values.get("forecast_category") is not None:
        changes.set("forecast_category", check_forecast_category(values["forecast_category"]))
    if "estimated_close_date" in values:
        changes.set("estimated_close_date", values["estimated_close_date"])
    if values.get("owner_id") is not None:
        changes.set("owner_id", await active_user(unit, values["owner_id"], "ownerId"))
    if values.get("visibility") is not None:
        changes.set("visibility", _check_visibility(values["visibility"]))
    if "folder_id" in values:
        await folder_in_reach(unit, values["folder_id"])
        changes.set("folder_id", values["folder_id"])
    if changes:
        await record_change(
            unit,
            opportunity,
            EventKind.STAGE_CHANGED if stage_changed else EventKind.UPDATED,
            changes,
        )
    return opportunity


async def move_opportunity(
    unit: Unit, opportunity_id: int, expected_version: int, folder_id: int | None
) -> Opportunity:
    opportunity = await load_for_change(unit, opportunity_id, expected_version)
    await folder_in_reach(unit, folder_id)
    changes = ChangeSet(opportunity)
    changes.set("folder_id", folder_id)
    if changes:
        await record_change(unit, opportunity, EventKind.MOVED, changes)
    return opportunity


def _require_status(opportunity: Opportunity, allowed: Sequence[str], action: str) -> None:
    if opportunity.status not in allowed:
        raise DomainError(
            ErrorCode.INVALID_STATE, f"a {opportunity.status} opportunity cannot be {action}"
        )


async def mark_won(
    unit: Unit,
    opportunity_id: int,
    expected_version: int,
    *,
    actual_value: Money | None,
    actual_close_date: date | None,
) -> Opportunity:
    opportunity = await load_for_change(unit, opportunity_id, expected_version)
    _require_status(opportunity, ("OPEN",), "marked won")
    amount = opportunity.amount
    if actual_value is not None:
        money = check_money(actual_value.amount, actual_value.currency, "actualValue")
        if money.currency != opportunity.currency:
            raise DomainError(
                ErrorCode.INVALID,
                f"actualValue must be in the opportunity's currency {opportunity.currency}",
                ["actualValue", "currency"],
            )
        amount = money.amount
    stage = await first_stage_of_kind(unit, "WON")
    changes = ChangeSet(opportunity)
    opportunity.last_open_stage_id = opportunity.stage_id
    changes.set("status", "WON")
    changes.set("stage_id", stage.id)
    changes.set("probability", 100)
    changes.set("forecast_category", stage.forecast_category)
    changes.set_money(amount, opportunity.currency, "actual_value", "actual_amount")
    changes.set("actual_close_date", actual_close_date or _now().date())
    await record_change(unit, opportunity, EventKind.WON, changes)
    return opportunity


async def _lost_reasons(unit: Unit, reason_ids: Sequence[int]) -> list[int]:
    if not reason_ids:
        return []
    found = (
        await unit.session.scalars(
            select(LostReason.id).where(LostReason.id.in_(reason_ids), LostReason.is_active)
        )
    ).all()
    if len(set(found)) != len(set(reason_ids)):
        raise not_found("lost reason", "lostReasonIds")
    return sorted(set(found))


async def mark_lost(
    unit: Unit,
    opportunity_id: int,
    expected_version: int,
    *,
    lost_reason_ids: Sequence[int],
    awarded_company_id: int | None,
    note: str | None,
    actual_close_date: date | None,
) -> Opportunity:
    opportunity = await load_for_change(unit, opportunity_id, expected_version)
    _require_status(opportunity, ("OPEN",), "marked lost")
    reasons = await _lost_reasons(unit, lost_reason_ids)
    if awarded_company_id is not None:
        await get_company(unit, awarded_company_id, "awardedToId")
    stage = await first_stage_of_kind(unit, "LOST")
    changes = ChangeSet(opportunity)
    opportunity.last_open_stage_id = opportunity.stage_id
    changes.set("status", "LOST")
    changes.set("stage_id", stage.id)
    changes.set("probability", 0)
    changes.set("forecast_category", stage.forecast_category)
    changes.set("awarded_company_id", awarded_company_id)
    changes.set("lost_note", _TEXT_RULES["lost_note"]("note", note))
    changes.set("actual_close_date", actual_close_date or _now().date())
    unit.session.add_all(
        OpportunityLostReason(opportunity_id=opportunity.id, lost_reason_id=r) for r in reasons
    )
    if reasons:
        changes.add("lost_reason_ids", [], reasons)
    await record_change(unit, opportunity, EventKind.LOST, changes)
    return opportunity


async def reopen(
    unit: Unit, opportunity_id: int, expected_version: int, *, stage_id: int | None
) -> Opportunity:
    opportunity = await load_for_change(unit, opportunity_id, expected_version)
    _require_status(opportunity, ("WON", "LOST"), "reopened")
    if stage_id is not None:
        stage = await _open_stage(unit, stage_id)
    elif opportunity.last_open_stage_id is not None:
        stage = await get_stage(unit, opportunity.last_open_stage_id)
    else:
        stage = await first_stage_of_kind(unit, "OPEN")
    old_reasons = (
        await unit.session.scalars(
            select(OpportunityLostReason.lost_reason_id)
            .where(OpportunityLostReason.opportunity_id == opportunity.id)
            .order_by(OpportunityLostReason.lost_reason_id)
        )
    ).all()
    changes = ChangeSet(opportunity)
    changes.set("status", "OPEN")
    changes.set("stage_id", stage.id)
    changes.set("probability", stage.default_probability)
    changes.set("forecast_category", stage.forecast_category)
    changes.set_money(None, opportunity.currency, "actual_value", "actual_amount")
    changes.set("actual_close_date", None)
    changes.set("awarded_company_id", None)
    changes.set("lost_note", None)
    if old_reasons:
        await unit.session.execute(
            delete(OpportunityLostReason).where(
                OpportunityLostReason.opportunity_id == opportunity.id
            )
        )
        changes.add("lost_reason_ids", list(old_reasons), [])
    await record_change(unit, opportunity, EventKind.REOPENED, changes)
    return opportunity


async def delete_opportunity(unit: Unit, opportunity_id: int, expected_version: int) -> Opportunity:
    actor = unit.require_actor()
    opportunity = await load_for_change(unit, opportunity_id, expected_version)
    if not actor.is_admin and opportunity.owner_id != actor.user_id:
        raise forbidden("only the owner or an admin may delete an opportunity")
    changes = ChangeSet(opportunity)
    changes.set("deleted_at", _now())
    await record_change(unit, opportunity, EventKind.DELETED, changes)
    return opportunity
