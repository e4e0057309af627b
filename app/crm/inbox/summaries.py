"""A notification in one line, for lists, badges and (later) e-mail subjects."""

from __future__ import annotations

from typing import Any


def summary(kind: str, detail: dict[str, Any], user_id: int | None = None) -> str:
    """In the words of the user it is for (`user_id`)."""
    actor = detail.get("actor") or "Someone"
    deal = detail.get("opportunity") or "a deal"
    title = detail.get("title")
    if kind == "MENTIONED":
        excerpt = detail.get("excerpt")
        if excerpt:
            return f"{actor} mentioned you on {deal}: {excerpt}"
        return (
            f"{actor} mentioned you in “{title}” on {deal}"
            if title
            else f"{actor} mentioned you on {deal}"
        )
    if kind == "TASK_ASSIGNED":
        return (
            f"{actor} assigned you “{title}” on {deal}"
            if title
            else f"{actor} assigned you a task on {deal}"
        )
    if kind == "DEAL_WON":
        return f"{actor} marked {deal} won"
    if kind == "DEAL_LOST":
        return f"{actor} marked {deal} lost"
    if kind == "STAGE_CHANGED":
        stage = detail.get("stage")
        return (
            f"{actor} moved {deal} to {stage}"
            if stage
            else f"{actor} moved {deal} to another stage"
        )
    if kind == "REASSIGNED":
        owner = "you" if detail.get("owner_id") == user_id else detail.get("owner")
        return f"{actor} gave {deal} to {owner}" if owner else f"{actor} reassigned {deal}"
    if kind == "COMMENTED":
        return f"{actor} commented on {deal}" + (f": {title}" if title else "")
    return f"{actor} changed {deal}"
