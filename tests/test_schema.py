"""The committed SDL and the README's example operations stay true to the code."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from graphql import parse, validate

from app.graphql.schema import schema

ROOT = Path(__file__).resolve().parent.parent
OPERATIONS = sorted((ROOT / "schema" / "operations").glob("*.graphql"))


def test_committed_schema_matches_the_code() -> None:
    committed = (ROOT / "schema" / "schema.graphql").read_text()
    assert committed == schema.as_str() + "\n", (
        "schema/schema.graphql is stale: run `make schema` and commit it"
    )


def test_there_are_example_operations() -> None:
    assert len(OPERATIONS) >= 8


@pytest.mark.parametrize("path", OPERATIONS, ids=lambda p: p.name)
def test_example_operation_is_valid_against_the_schema(path: Path) -> None:
    errors = validate(schema._schema, parse(path.read_text()))
    assert errors == [], [e.message for e in errors]


def test_readme_operations_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    for path in OPERATIONS:
        assert f"schema/operations/{path.name}" in readme, f"README does not mention {path.name}"


async def test_migrations_match_the_models(database_url: str) -> None:
    # `alembic check` autogenerates against the migrated database: any difference means a
    # model changed without a migration.
    from alembic import command

    from app.migrate import alembic_config

    await asyncio.to_thread(command.check, alembic_config(database_url))


async def test_every_migration_downgrades_and_upgrades_again(database_url: str) -> None:
    # The database is at head; walking down to nothing and back up must work and end where
    # the models are, so an operator can roll a release back.
    from alembic import command

    from app.migrate import alembic_config

    config = alembic_config(database_url)
    await asyncio.to_thread(command.downgrade, config, "base")
    await asyncio.to_thread(command.upgrade, config, "head")
    await asyncio.to_thread(command.check, config)
