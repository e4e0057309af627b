"""Limits on what one GraphQL document may ask, each refused with its own `extensions.code`.

Three limits, checked in the order a client can act on them:

- tokens (`TOO_MANY_TOKENS`): counted by lexing before anything is parsed, so a huge document
  costs one linear pass. When such a document is huge because of its aliases, the answer says
  so (`TOO_MANY_ALIASES`): "too many tokens" would send its author looking for the wrong cause.
- aliases (`TOO_MANY_ALIASES`) and depth (`QUERY_TOO_DEEP`): validation rules over the parsed
  document that follow fragment spreads, so a fragment cannot hide what it adds. Each fragment
  is measured once however often it is spread, so nesting spreads cannot make the check itself
  exponential.

And the operations of one batched HTTP request (`BATCH_TOO_LARGE`, app/graphql/endpoint.py).
Each is configurable (TANDEM_MAX_TOKENS, _ALIASES, _DEPTH, _BATCH_OPERATIONS): the values are
the process's, set when its app is made (`configure`), like its password hashing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSyntaxError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)
from graphql.language import Lexer, Source, TokenKind


@dataclass(frozen=True, slots=True)
class Limits:
    tokens: int = 5000
    aliases: int = 100
    """A dashboard asks for a dozen tiles of one kind in one document, each under its alias."""
    depth: int = 12
    batch_operations: int = 10
    """Operations in one batched HTTP request (a JSON array), as Apollo's BatchHttpLink sends
    them (its own default is 10)."""
    introspection: bool = True
    """Whether documents may ask for the schema (`__schema`, `__type`; `__typename` always)."""


_limits = Limits()


def configure(limits: Limits) -> None:
    """The limits of this process's requests from now on. What was judged under others is
    not reused: every cache of judged documents is keyed by the limits, or by the rule that
    holds them (`document_rules`)."""
    global _limits, _rules
    _limits = limits
    _rules = _rules_for(limits)


def current() -> Limits:
    return _limits


def too_many_tokens(count_at_least: int, limit: int) -> GraphQLError:
    return GraphQLError(
        f"the document has more than {limit} tokens ({count_at_least} or more); "
        "split it or send fewer fields",
        extensions={"code": "TOO_MANY_TOKENS", "limit": limit},
    )


def too_many_aliases(count: int, limit: int) -> GraphQLError:
    return GraphQLError(
        f"the document uses {count} aliases; at most {limit} are allowed",
        extensions={"code": "TOO_MANY_ALIASES", "limit": limit},
    )


def too_deep(operation: str, node: Any, limit: int) -> GraphQLError:
    return GraphQLError(
        f"operation {operation} nests selections deeper than the maximum depth of {limit}",
        node,
        extensions={"code": "QUERY_TOO_DEEP", "limit": limit},
    )


def too_slow(limit: float) -> GraphQLError:
    return GraphQLError(
        f"the query took longer than {limit:g} s and was stopped; ask for less (smaller "
        "pages, fewer nested connections)",
        extensions={"code": "OPERATION_TIMEOUT", "limit": limit},
    )


def document_size_error(query: str) -> GraphQLError | None:
    """The error for a document over the token limit, or None (also for one the lexer
    refuses: the parser then reports that syntax error where it is)."""
    return _size_error(query, _limits)


@lru_cache(maxsize=256)
def _size_error(query: str, limits: Limits) -> GraphQLError | None:
    # Past this many tokens the document is refused anyway; lexing further would only be
    # spent on a more precise count of what is already too much.
    lex_at_most = limits.tokens * 4
    lexer = Lexer(Source(query))
    tokens = 0
    aliases = 0
    # Where the lexer stands: a Name followed by ':' is an alias only in a selection set,
    # not in arguments, variable definitions or input objects (all inside parentheses).
    parens = 0
    braces: list[bool] = []  # per open brace: whether it opened inside parentheses
    previous_name = False
    try:
        token = lexer.advance()
        while token.kind != TokenKind.EOF and tokens <= lex_at_most:
            tokens += 1
            kind = token.kind
            if kind == TokenKind.COLON and previous_name and parens == 0 and braces:
                aliases += 1
            elif kind == TokenKind.PAREN_L:
                parens += 1
            elif kind == TokenKind.PAREN_R:
                parens = max(parens - 1, 0)
            elif kind == TokenKind.BRACE_L:
                braces.append(parens > 0)
            elif kind == TokenKind.BRACE_R and braces:
                braces.pop()
            previous_name = kind == TokenKind.NAME
            token = lexer.advance()
    except GraphQLSyntaxError:
        return None
    if tokens <= limits.tokens:
        return None
    if aliases > limits.aliases:
        return too_many_aliases(aliases, limits.aliases)
    return too_many_tokens(tokens, limits.tokens)


class _Measure:
    """Aliases and depth of selection sets, each fragment measured once."""

    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self._fragments = fragments
        self._measured: dict[str, tuple[int, int]] = {}
        self._in_progress: set[str] = set()

    def of(self, selection_set: SelectionSetNode | None) -> tuple[int, int]:
        """(aliases, depth) below `selection_set`; a field with a selection set adds a level."""
        if selection_set is None:
            return 0, 0
        aliases = 0
        depth = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                if selection.alias is not None:
                    aliases += 1
                if selection.selection_set is not None and not selection.name.value.startswith(
                    "__"
                ):
                    inner_aliases, inner_depth = self.of(selection.selection_set)
                    aliases += inner_aliases
                    depth = max(depth, inner_depth + 1)
                elif selection.selection_set is not None:  # introspection: aliases only
                    aliases += self.of(selection.selection_set)[0]
            elif isinstance(selection, InlineFragmentNode):
                inner_aliases, inner_depth = self.of(selection.selection_set)
                aliases += inner_aliases
                depth = max(depth, inner_depth)
            elif isinstance(selection, FragmentSpreadNode):
                inner_aliases, inner_depth = self.fragment(selection.name.value)
                aliases += inner_aliases
                depth = max(depth, inner_depth)
        return aliases, depth

    def fragment(self, name: str) -> tuple[int, int]:
        measured = self._measured.get(name)
        if measured is not None:
            return measured
        definition = self._fragments.get(name)
        if definition is None or name in self._in_progress:
            return 0, 0  # unknown or cyclic: other rules report those
        self._in_progress.add(name)
        measured = self.of(definition.selection_set)
        self._in_progress.discard(name)
        self._measured[name] = measured
        return measured


class _DocumentLimits(ValidationRule):
    """Aliases over the whole document and depth per operation, fragments followed."""

    limits = Limits()

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        limits = self.limits
        definitions = context.document.definitions
        measure = _Measure(
            {d.name.value: d for d in definitions if isinstance(d, FragmentDefinitionNode)}
        )
        aliases = 0
        for definition in definitions:
            if not isinstance(definition, OperationDefinitionNode):
                continue
            operation_aliases, depth = measure.of(definition.selection_set)
            aliases += operation_aliases
            if depth > limits.depth:
                name = definition.name.value if definition.name else "(anonymous)"
                context.report_error(too_deep(name, definition, limits.depth))
        if aliases > limits.aliases:
            context.report_error(too_many_aliases(aliases, limits.aliases))


class _NoIntrospection(ValidationRule):
    """The schema's own description asked for, where introspection is turned off."""

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        if node.name.value in ("__schema", "__type"):
            self.report_error(
                GraphQLError(
                    f"introspection is turned off on this server: {node.name.value} cannot "
                    "be asked (TANDEM_INTROSPECTION)",
                    node,
                    extensions={"code": "INTROSPECTION_DISABLED"},
                )
            )


def document_rules() -> tuple[type[ValidationRule], ...]:
    """The validation rules of the current limits: a class per distinct limits, so the
    caches of validated documents, which key on their rules, keep each limit's verdicts
    apart. (Found when the limits are set: asked by every request.)"""
    return _rules


@lru_cache(maxsize=8)
def _rules_for(limits: Limits) -> tuple[type[ValidationRule], ...]:
    measured = type("DocumentLimits", (_DocumentLimits,), {"limits": limits})
    return (measured,) if limits.introspection else (measured, _NoIntrospection)


_rules = _rules_for(_limits)
