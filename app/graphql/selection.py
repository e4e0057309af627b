"""What a query selects below a connection's nodes, to prefetch just that for a whole page."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import strawberry
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField


def _fields(selections: Iterable[Any]) -> Iterable[SelectedField]:
    for selection in selections:
        if isinstance(selection, SelectedField):
            yield selection
        elif isinstance(selection, FragmentSpread | InlineFragment):
            yield from _fields(selection.selections)


def node_selections(info: strawberry.Info) -> dict[str, list[SelectedField]]:
    """{field name: its selections} under `edges { node }` and `nodes` of this connection."""
    found: dict[str, list[SelectedField]] = {}
    for connection in _fields(info.selected_fields):
        for part in _fields(connection.selections):
            if part.name == "edges":
                nodes = [f for f in _fields(part.selections) if f.name == "node"]
            elif part.name == "nodes":
                nodes = [part]
            else:
                continue
            for node in nodes:
                for field in _fields(node.selections):
                    found.setdefault(field.name, []).append(field)
    return found


def selects_below(fields: list[SelectedField], name: str) -> bool:
    """Whether any of `fields` selects `name` directly (fragments included)."""
    return any(f.name == name for field in fields for f in _fields(field.selections))
