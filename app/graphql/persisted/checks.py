"""Whether a document could run: it parses and validates against the schema, within the
limits every request is held to (limits.py)."""

from __future__ import annotations

from graphql import DocumentNode, GraphQLError, GraphQLSchema, specified_rules, validate

from app.graphql.documents import parsed
from app.graphql.limits import document_rules


def problems(schema: GraphQLSchema, document: str) -> list[GraphQLError]:
    node = parsed(document)
    if not isinstance(node, DocumentNode):
        return node
    return validate(schema, node, (*specified_rules, *document_rules()))


def problem(schema: GraphQLSchema, document: str) -> str | None:
    """The first of `problems`, with where it is; None for a document that could run."""
    found = problems(schema, document)
    if not found:
        return None
    first = found[0]
    where = f" (line {first.locations[0].line})" if first.locations else ""
    return f"{first.message}{where}"
