"""Mutations on opportunities and their participants."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import strawberry

from app.crm.errors import DomainError, ErrorCode
from app.crm.money import Money as DomainMoney
from app.crm.opportunities import participants, services
from app.crm.opportunities import queries as opportunities
from app.crm.opportunities.models import Opportunity as OpportunityModel
from app.crm.opportunities.rows import OpportunityRow
from app.crm.unit import Unit
from app.graphql.batch import reader
from app.graphql.errors import UserError
from app.graphql.ids import decode_any, decode_id, decode_optional
from app.graphql.inputs import (
    CreateOpportunityInput,
    DeleteOpportunityInput,
    LinkParticipantInput,
    MarkOpportunityLostInput,
    MarkOpportunityWonInput,
    MoveOpportunityInput,
    ReopenOpportunityInput,
    UnlinkParticipantInput,
    UpdateOpportunityInput,
)
from app.graphql.mutations.base import attempt
from app.graphql.presence import with_editors
from app.graphql.types.opportunities import Opportunity, Participant


@strawberry.type
class OpportunityPayload:
    opportunity: Opportunity | None = strawberry.field(
        description="The changed opportunity; on CONFLICT, its current state."
    )
    user_errors: list[UserError]


@strawberry.type
class ParticipantPayload:
    participant: Participant | None
    opportunity: Opportunity | None
    user_errors: list[UserError]


Work = Callable[[Unit], Awaitable[OpportunityModel]]
_TARGET_KINDS = {"Company": "COMPANY", "Contact": "CONTACT", "User": "USER", "Team": "TEAM"}


async def _current(info: strawberry.Info, error: DomainError | None) -> Opportunity | None:
    """After a CONFLICT, the opportunity as it stands now, so the client can merge."""
    if error is None or error.code is not ErrorCode.CONFLICT or error.current is None:
        return None
    row = await reader(info).one_visible(opportunities.visible_by_id, error.current)
    return Opportunity.of(row) if row is not None else None


async def _run(info: strawberry.Info, work: Work) -> OpportunityPayload:
    result, errors, error = await attempt(info, work)
    if result is not None:
        return OpportunityPayload(
            opportunity=Opportunity.of(OpportunityRow.from_source(result)), user_errors=[]
        )
    return OpportunityPayload(
        opportunity=await _current(info, error),
        user_errors=await with_editors(info, errors, error),  # who is editing it now
    )


def _id(value: str) -> int:
    return decode_id(value, "Opportunity")


@strawberry.type
class OpportunityMutations:
    @strawberry.mutation
    async def create_opportunity(
        self, info: strawberry.Info, input: CreateOpportunityInput
    ) -> OpportunityPayload:
        async def work(unit: Unit) -> OpportunityModel:
            return await services.create_opportunity(unit, input.to_domain())

        return await _run(info, work)

    @strawberry.mutation(description="Change fields; fails with CONFLICT on a stale version.")
    async def update_opportunity(
        self, info: strawberry.Info, input: UpdateOpportunityInput
    ) -> OpportunityPayload:
        async def work(unit: Unit) -> OpportunityModel:
            return await services.update_opportunity(
                unit, _id(input.id), input.expected_version, input.to_domain()
            )

        return await _run(info, work)

    @strawberry.mutation
    async def mark_opportunity_won(
        self, info: strawberry.Info, input: MarkOpportunityWonInput
    ) -> OpportunityPayload:
        async def work(unit: Unit) -> OpportunityModel:
            value = input.actual_value
            return await services.mark_won(
                unit,
                _id(input.id),
                input.expected_version,
                actual_value=DomainMoney(value.amount, value.currency) if value else None,
                actual_close_date=input.actual_close_date,
            )

        return await _run(info, work)

    @strawberry.mutation
    async def mark_opportunity_lost(
        self, info: strawberry.Info, input: MarkOpportunityLostInput
    ) -> OpportunityPayload:
        async def work(unit: Unit) -> OpportunityModel:
            return await services.mark_lost(
                unit,
                _id(input.id),
                input.expected_version,
                lost_reason_ids=[
                    decode_id(r, "LostReason", "lostReasonIds") for r in input.lost_reason_ids
                ],
                awarded_company_id=decode_optional(input.awarded_to_id, "Company", "awardedToId"),
                note=input.note,
                actual_close_date=input.actual_close_date,
            )

        return await _run(info, work)

    @strawberry.mutation
    async def reopen_opportunity(
        self, info: strawberry.Info, input: ReopenOpportunityInput
    ) -> OpportunityPayload:
        async def work(unit: Unit) -> OpportunityModel:
            return await services.reopen(
                unit,
                _id(input.id),
                input.expected_version,
                stage_id=decode_optional(input.stage_id, "Stage", "stageId"),
            )

        return await _run(info, work)

    @strawberry.mutation(description="Only its owner or an admin may delete an opportunity.")
    async def delete_opportunity(
        self, info: strawberry.Info, input: DeleteOpportunityInput
    ) -> OpportunityPayload:
        async def work(unit: Unit) -> OpportunityModel:
            return await services.delete_opportunity(unit, _id(input.id), input.expected_version)

        return await _run(info, work)

    @strawberry.mutation
    async def move_opportunity(
        self, info: strawberry.Info, input: MoveOpportunityInput
    ) -> OpportunityPayload:
        async def work(unit: Unit) -> OpportunityModel:
            return await services.move_opportunity(
                unit,
                _id(input.id),
                input.expected_version,
                decode_optional(input.folder_id, "Folder", "folderId"),
            )

        return await _run(info, work)

    @strawberry.mutation
    async def link_participant(
        self, info: strawberry.Info, input: LinkParticipantInput
    ) -> ParticipantPayload:
        async def work(unit: Unit) -> tuple[OpportunityModel, object]:
            type_name, target_id = decode_any(input.participant_id, "participantId")
            if type_name not in _TARGET_KINDS:
                raise DomainError(
                    ErrorCode.INVALID_ID,
                    "participantId must be the ID of a Company, Contact, User or Team",
                    ["participantId"],
                )
            return await participants.link_participant(
                unit,
                decode_id(input.opportunity_id, "Opportunity", "opportunityId"),
                kind=_TARGET_KINDS[type_name],
                target_id=target_id,
                role=input.role.value,
                is_primary=input.is_primary,
                expected_version=input.expected_version,
            )

        result, errors, error = await attempt(info, work)
        if result is None:
            return ParticipantPayload(
                participant=None,
                opportunity=await _current(info, error),
                user_errors=await with_editors(info, errors, error),
            )
        opportunity, participant = result
        return ParticipantPayload(
            participant=Participant.of(participant),
            opportunity=Opportunity.of(OpportunityRow.from_source(opportunity)),
            user_errors=[],
        )

    @strawberry.mutation
    async def unlink_participant(
        self, info: strawberry.Info, input: UnlinkParticipantInput
    ) -> OpportunityPayload:
        async def work(unit: Unit) -> OpportunityModel:
            return await participants.unlink_participant(
                unit,
                decode_id(input.id, "Participant"),
                expected_version=input.expected_version,
            )

        return await _run(info, work)
