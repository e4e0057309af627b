"""Limits on what one GraphQL document may ask, each refused with its own `extensions.code`.

Three limits, checked in the order a client can act on them:

- tokens (`TOO_MANY_TOKENS`): counted by lexing before anything is parsed, so a huge document
  costs one linear pass. When such a document is huge because of its aliases, the answer says
  so (`TOO_MANY_ALIASES`): "too many tokens" would send its author looking for the wrong cause.
- aliases (`TOO_MANY_ALIASES`) and depth (`QUERY_TOO_DEEP`): validation rules over the parsed
  document that follow fragment spreads, so a fragment cannot hide what it adds. Each fragment
  is measured once however often it is spread, so nesting spreads cannot make the check itself
  exponential.
"""

from __future__ import annotations

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

MAX_TOKENS = 5000
MAX_ALIASES = 30
MAX_DEPTH = 12
# Operations in one batched HTTP request (a JSON array), as Apollo's BatchHttpLink sends them
# (its own default is 10).
MAX_BATCH_OPERATIONS = 10

# Past this many tokens the document is refused anyway; lexing further would only be spent
# on a more precise count of what is already too much.
_LEX_AT_MOST = MAX_TOKENS * 4


def too_many_tokens(count_at_least: int) -> GraphQLError:
    return GraphQLError(
        f"the document has more than {MAX_TOKENS} tokens ({count_at_least} or more); "
        "split it or send fewer fields",
        extensions={"code": "TOO_MANY_TOKENS", "limit": MAX_TOKENS},
    )


def too_many_aliases(count: int) -> GraphQLError:
    return GraphQLError(
        f"the document uses {count} aliases; at most {MAX_ALIASES} are allowed",
        extensions={"code": "TOO_MANY_ALIASES", "limit": MAX_ALIASES},
    )


def too_deep(operation: str, node: Any) -> GraphQLError:
    return GraphQLError(
        f"operation {operation} nests selections deeper than the maximum depth of {MAX_DEPTH}",
        node,
        extensions={"code": "QUERY_TOO_DEEP", "limit": MAX_DEPTH},
    )


@lru_cache(maxsize=256)
def document_size_error(query: str) -> GraphQLError | None:
    """The error for a document over the token limit, or None (also for one the lexer
    refuses: the parser then reports that syntax error where it is)."""
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
        while token.kind != TokenKind.EOF and tokens <= _LEX_AT_MOST:
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
    if tokens <= MAX_TOKENS:
        return None
    if aliases > MAX_ALIASES:
        return too_many_aliases(aliases)
    return too_many_tokens(tokens)


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


class DocumentLimits(ValidationRule):
    """Aliases over the whole document and depth per operation, fragments followed."""

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
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
            if depth > MAX_DEPTH:
                name = definition.name.value if definition.name else "(anonymous)"
                context.report_error(too_deep(name, definition))
        if aliases > MAX_ALIASES:
            context.report_error(too_many_aliases(aliases))
