"""Applying a partial update: only the fields the caller sent, each checked by its rule."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from app.crm.errors import DomainError, ErrorCode
from app.crm.validation import api_name, clean_text, required_text

Rule = Callable[[str, Any], Any]


def text_rule(max_length: int, *, required: bool = False) -> Rule:
    def rule(field: str, value: Any) -> Any:
        if required:
            return required_text(field, value, max_length=max_length)
        return clean_text(field, value, max_length=max_length)

    return rule


def country_rule(field: str, value: Any) -> Any:
    cleaned = clean_text(field, value, max_length=2)
    if cleaned is None:
        return None
    if len(cleaned) != 2 or not (cleaned.isascii() and cleaned.isalpha()):
        raise DomainError(
            ErrorCode.INVALID, f"{field} must be an ISO 3166 two-letter code", [field]
        )
    return cleaned.upper()


def apply_changes(
    target: object, changes: Mapping[str, Any], rules: Mapping[str, tuple[str, Rule]]
) -> dict[str, tuple[Any, Any]]:
    """Set each changed attribute; `rules` maps an input name to (attribute, rule).

    Returns {attribute: (old, new)} for the values that really changed.
    """
    changed: dict[str, tuple[Any, Any]] = {}
    for name, value in changes.items():
        if name not in rules:
            raise DomainError(ErrorCode.INVALID, f"{name} cannot be changed here", [name])
        attribute, rule = rules[name]
        new = rule(api_name(name), value)
        old = getattr(target, attribute)
        if old != new:
            setattr(target, attribute, new)
            changed[attribute] = (old, new)
    return changed
