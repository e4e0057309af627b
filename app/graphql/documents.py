"""Parsing each document once, and telling clients what is wrong with one that fails.

Every error from parsing or validation carries an `extensions.code` a client can branch on:
`GRAPHQL_PARSE_FAILED`, `GRAPHQL_VALIDATION_FAILED`, `BAD_USER_INPUT` for variables the
operation cannot take, or the code of the limit it broke (limits.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from functools import lru_cache

from graphql import DocumentNode, GraphQLError, parse
from strawberry.extensions import SchemaExtension

from app.graphql import limits

PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
BAD_USER_INPUT = "BAD_USER_INPUT"


def _parse(query: str) -> DocumentNode:
    return _parse_within(query, limits.current().tokens)


@lru_cache(maxsize=512)
def _parse_within(query: str, max_tokens: int) -> DocumentNode:
    # Only documents that parse are kept (lru_cache does not keep exceptions), so a stream
    # of broken documents cannot push the good ones out.
    return parse(query, max_tokens=max_tokens)


def _tag(errors: list[GraphQLError] | None, code: str) -> None:
    for error in errors or ():
        if not (error.extensions or {}).get("code"):
            error.extensions = {**(error.extensions or {}), "code": code}


def parsed(query: str) -> DocumentNode | list[GraphQLError]:
    """The document, or why it cannot be parsed (a limit's error, or the syntax error)."""
    size_error = limits.document_size_error(query)
    if size_error is not None:
        # Where the parser stops, as the standard path reports it, with the limit's words.
        try:
            _parse(query)
        except GraphQLError as error:
            error.message = size_error.message
            error.extensions = size_error.extensions
            return [error]
        return [size_error]
    try:
        return _parse(query)
    except GraphQLError as error:
        return [error]


def parse_errors(errors: list[GraphQLError]) -> list[GraphQLError]:
    _tag(errors, PARSE_FAILED)
    return errors


def validation_errors(errors: list[GraphQLError]) -> list[GraphQLError]:
    _tag(errors, VALIDATION_FAILED)
    return errors


def variable_errors(errors: list[GraphQLError]) -> list[GraphQLError]:
    _tag(errors, BAD_USER_INPUT)
    return errors


class ParsedDocuments(SchemaExtension):
    """The parser cache, and codes on whatever parsing or validation refused."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        query = context.query
        size_error = None
        if query and context.graphql_document is None:
            size_error = limits.document_size_error(query)
            if size_error is None:
                # On a syntax error Strawberry parses again and reports it (with its code,
                # below).
                with suppress(GraphQLError):
                    context.graphql_document = _parse(query)
        # Left unparsed, Strawberry's own parse stops at the same token limit.
        context.parse_options["max_tokens"] = limits.current().tokens
        yield
        for error in context.pre_execution_errors or ():
            if size_error is not None:
                # The parser's "Syntax Error: more than N tokens" names the wrong cause when
                # aliases made the document that long; say what the limits say.
                error.message = size_error.message
                error.extensions = size_error.extensions
        _tag(context.pre_execution_errors, PARSE_FAILED)

    def on_validate(self) -> Iterator[None]:
        yield
        _tag(self.execution_context.pre_execution_errors, VALIDATION_FAILED)

    def on_execute(self) -> Iterator[None]:
        yield
        # Variables the operation cannot take (a string for an Int, a missing required input
        # field) are refused before any field runs: errors without a path.
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        _tag([e for e in errors or () if e.path is None], BAD_USER_INPUT)
