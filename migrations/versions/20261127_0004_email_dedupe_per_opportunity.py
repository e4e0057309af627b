"""e-mail de-duplication per opportunity

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 10:30:00

One e-mail may concern several deals: its messageId is unique per opportunity, and a deleted
copy keeps its messageId (it no longer blocks logging the message again).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index(
        "uq_activities_message_id",
        table_name="activities",
        postgresql_where=sa.text("message_id IS NOT NULL"),
    )
    op.create_index(
        "uq_activities_message_id",
        "activities",
        ["opportunity_id", "message_id"],
        unique=True,
        postgresql_where=sa.text("message_id IS NOT NULL AND deleted_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_activities_message_id",
        table_name="activities",
        postgresql_where=sa.text("message_id IS NOT NULL AND deleted_at IS NULL"),
    )
    # Keep the newest live copy of each message; the older ones lose their messageId.
    op.execute(
        """
        UPDATE activities SET message_id = NULL
        WHERE message_id IS NOT NULL AND (deleted_at IS NOT NULL OR id NOT IN (
            SELECT max(id) FROM activities
            WHERE message_id IS NOT NULL AND deleted_at IS NULL GROUP BY message_id))
        """
    )
    op.create_index(
        "uq_activities_message_id",
        "activities",
        ["message_id"],
        unique=True,
        postgresql_where=sa.text("message_id IS NOT NULL"),
    )
