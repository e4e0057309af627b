"""a user's live deals in close-date order: the built-in "My open" view walks one owner's
deals instead of everyone's

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 15:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Same name, longer key: the owner alone is still its leading column. At a million deals
    # the close-date index walked 5,000 deals of 60 owners to find one owner's 51 (8 ms).
    op.drop_index("ix_opportunities_live_owner", table_name="opportunities")
    op.create_index(
        "ix_opportunities_live_owner",
        "opportunities",
        ["owner_id", "estimated_close_date", "id"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_opportunities_live_owner", table_name="opportunities")
    op.create_index(
        "ix_opportunities_live_owner",
        "opportunities",
        ["owner_id"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
