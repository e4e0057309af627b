"""The root Query type, one module per area; `connections` builds the pages that root fields
and nested fields (a deal's timeline, a company's activities) share."""

from __future__ import annotations

from strawberry.tools import merge_types

from app.graphql.queries.activities import ActivityQueries
from app.graphql.queries.audit import AuditQueries
from app.graphql.queries.inbox import InboxQueries
from app.graphql.queries.nodes import NodeQueries
from app.graphql.queries.opportunities import OpportunityQueries
from app.graphql.queries.orders import OrderQueries
from app.graphql.queries.parties import PartyQueries
from app.graphql.queries.people import PeopleQueries
from app.graphql.queries.persisted import PersistedQueryQueries
from app.graphql.queries.pipeline import PipelineQueries
from app.graphql.queries.tokens import TokenQueries
from app.graphql.queries.views import ViewQueries

Queries = merge_types(
    "Query",
    (
        PeopleQueries,
        TokenQueries,
        NodeQueries,
        OpportunityQueries,
        ViewQueries,
        PipelineQueries,
        PartyQueries,
        ActivityQueries,
        OrderQueries,
        PersistedQueryQueries,
        AuditQueries,
        InboxQueries,
    ),
)
