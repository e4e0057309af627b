"""pipeline totals: running counts and sums per (visibility, status, stage, owner, currency),
kept by a statement trigger; index-only paths to private deals and to the deals of a user's,
a team's or a company's links

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 13:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = "visibility, status, stage_id, owner_id, currency"
TOTALLED = ["status", "visibility", "stage_id", "owner_id", "currency", "amount", "probability"]

# A statement trigger with transition tables: one insert per statement however many rows it
# touched (a COPY of a million deals adds a few thousand change rows), and nothing at all for
# the many updates that move no money between keys (names, notes, dates).
TRACK = f"""
CREATE FUNCTION track_opportunity_totals() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO opportunity_total_changes ({KEY}, count, value, weighted)
        SELECT {KEY}, count(*), sum(amount), sum(amount * probability)
        FROM new_rows WHERE deleted_at IS NULL GROUP BY {KEY};
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO opportunity_total_changes ({KEY}, count, value, weighted)
        SELECT {KEY}, -count(*), -sum(amount), -sum(amount * probability)
        FROM old_rows WHERE deleted_at IS NULL GROUP BY {KEY};
    ELSE
        INSERT INTO opportunity_total_changes ({KEY}, count, value, weighted)
        SELECT {KEY}, sum(n), sum(v), sum(w) FROM (
            SELECT {KEY}, 1 AS n, amount AS v, amount * probability AS w
            FROM new_rows WHERE deleted_at IS NULL
            UNION ALL
            SELECT {KEY}, -1, -amount, -(amount * probability)
            FROM old_rows WHERE deleted_at IS NULL
        ) AS moved
        GROUP BY {KEY}
        HAVING sum(n) <> 0 OR sum(v) <> 0 OR sum(w) <> 0;
    END IF;
    RETURN NULL;
END
$$
"""


def _totals_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("visibility", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("stage_id", sa.BigInteger(), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.Numeric(), nullable=False),
        sa.Column("weighted", sa.Numeric(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "opportunity_totals",
        *_totals_columns(),
        sa.PrimaryKeyConstraint(
            "visibility", "status", "stage_id", "owner_id", "currency", name="pk_opportunity_totals"
        ),
    )
    op.create_table(
        "opportunity_total_changes",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        *_totals_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_opportunity_total_changes"),
    )
    op.execute(TRACK)
    op.execute(
        "CREATE TRIGGER opportunity_totals_insert AFTER INSERT ON opportunities "
        "REFERENCING NEW TABLE AS new_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION track_opportunity_totals()"
    )
    op.execute(
        "CREATE TRIGGER opportunity_totals_update AFTER UPDATE ON opportunities "
        "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION track_opportunity_totals()"
    )
    op.execute(
        "CREATE TRIGGER opportunity_totals_delete AFTER DELETE ON opportunities "
        "REFERENCING OLD TABLE AS old_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION track_opportunity_totals()"
    )
    # The deals there are now. A write racing this statement waits for the migration's
    # transaction (the trigger's table is new in it), so nothing is counted twice or missed.
    op.execute(
        f"INSERT INTO opportunity_totals ({KEY}, count, value, weighted) "
        f"SELECT {KEY}, count(*), sum(amount), sum(amount * probability) "
        f"FROM opportunities WHERE deleted_at IS NULL GROUP BY {KEY}"
    )

    # Private deals, with what a group needs in the index itself: a user's visible private
    # deals are summed from it without reading the table.
    op.create_index(
        "ix_opportunities_live_private",
        "opportunities",
        ["status", "id"],
        unique=False,
        postgresql_include=[
            "stage_id",
            "owner_id",
            "currency",
            "amount",
            "probability",
            "estimated_close_date",
        ],
        postgresql_where=sa.text("deleted_at IS NULL AND visibility = 'PRIVATE'"),
    )
    # The close-date order's index, covering too: "closing this quarter, by stage".
    op.drop_index("ix_opportunities_live_close_date", table_name="opportunities")
    op.create_index(
        "ix_opportunities_live_close_date",
        "opportunities",
        ["estimated_close_date", "id"],
        unique=False,
        postgresql_include=TOTALLED,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    # A user's, a team's and a company's links with the deal in the index: index-only.
    op.drop_index("ix_participants_user", table_name="opportunity_participants")
    op.drop_index("ix_participants_team", table_name="opportunity_participants")
    op.drop_index("ix_participants_company", table_name="opportunity_participants")
    op.create_index(
        "ix_participants_company",
        "opportunity_participants",
        ["company_id", "opportunity_id"],
        unique=False,
        postgresql_where=sa.text("company_id IS NOT NULL"),
    )
    op.create_index(
        "ix_participants_user",
        "opportunity_participants",
        ["user_id", "opportunity_id"],
        unique=False,
        postgresql_where=sa.text("user_id IS NOT NULL"),
    )
    op.create_index(
        "ix_participants_team",
        "opportunity_participants",
        ["team_id", "opportunity_id"],
        unique=False,
        postgresql_where=sa.text("team_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_participants_company", table_name="opportunity_participants")
    op.create_index(
        "ix_participants_company",
        "opportunity_participants",
        ["company_id"],
        unique=False,
        postgresql_where=sa.text("company_id IS NOT NULL"),
    )
    op.drop_index("ix_participants_team", table_name="opportunity_participants")
    op.drop_index("ix_participants_user", table_name="opportunity_participants")
    op.create_index(
        "ix_participants_team",
        "opportunity_participants",
        ["team_id"],
        unique=False,
        postgresql_where=sa.text("team_id IS NOT NULL"),
    )
    op.create_index(
        "ix_participants_user",
        "opportunity_participants",
        ["user_id"],
        unique=False,
        postgresql_where=sa.text("user_id IS NOT NULL"),
    )
    op.drop_index("ix_opportunities_live_private", table_name="opportunities")
    op.drop_index("ix_opportunities_live_close_date", table_name="opportunities")
    op.create_index(
        "ix_opportunities_live_close_date",
        "opportunities",
        ["estimated_close_date", "id"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.execute("DROP TRIGGER opportunity_totals_delete ON opportunities")
    op.execute("DROP TRIGGER opportunity_totals_update ON opportunities")
    op.execute("DROP TRIGGER opportunity_totals_insert ON opportunities")
    op.execute("DROP FUNCTION track_opportunity_totals()")
    op.drop_table("opportunity_total_changes")
    op.drop_table("opportunity_totals")
