"""reference data: event counter, opportunity numbers, default pipeline, lost reasons

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A pipeline most B2B teams recognise; admins can edit it afterwards.
DEFAULT_STAGES = [
    ("Prospecting", 1, "OPEN", 10, "PIPELINE"),
    ("Qualification", 2, "OPEN", 20, "PIPELINE"),
    ("Needs Analysis", 3, "OPEN", 40, "BEST_CASE"),
    ("Proposal", 4, "OPEN", 60, "BEST_CASE"),
    ("Negotiation", 5, "OPEN", 80, "COMMIT"),
    ("Closed Won", 6, "WON", 100, "CLOSED"),
    ("Closed Lost", 7, "LOST", 0, "OMITTED"),
]

DEFAULT_LOST_REASONS = [
    "Price",
    "Lost to competitor",
    "No budget",
    "No decision",
    "Missing features",
    "Timing",
    "Went silent",
]


def upgrade() -> None:
    op.execute("INSERT INTO event_counter (id, last_seq) VALUES (1, 0)")
    op.execute("CREATE SEQUENCE opportunity_number_seq")
    for name, position, kind, probability, category in DEFAULT_STAGES:
        op.execute(
            "INSERT INTO stages (name, position, kind, default_probability, forecast_category) "
            f"VALUES ('{name}', {position}, '{kind}', {probability}, '{category}')"
        )
    for reason in DEFAULT_LOST_REASONS:
        op.execute(f"INSERT INTO lost_reasons (name) VALUES ('{reason}')")


def downgrade() -> None:
    op.execute("DELETE FROM opportunity_lost_reasons")
    op.execute("DELETE FROM lost_reasons")
    op.execute("DELETE FROM stages")
    op.execute("DROP SEQUENCE opportunity_number_seq")
    op.execute("DELETE FROM event_counter")
