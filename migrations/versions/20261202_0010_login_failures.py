"""failed logins per account and per client address, for the login throttle

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 19:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_failures")),
    )
    op.create_index(
        "ix_login_failures_last_failed_at", "login_failures", ["last_failed_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_login_failures_last_failed_at", table_name="login_failures")
    op.drop_table("login_failures")
