"""From what a request sent (a query text, a hash, or both) to the document that runs.

Every operation passes through `PersistedQueries.resolve`: HTTP ones in TandemSchema.execute,
WebSocket ones where their message arrives (websocket.py; Strawberry's socket handlers do
not hand extensions on) and again in TandemSchema.stream. By mode:

- `apq`: a hash alone runs the document known under it (registered, or sent before with its
  text), else PersistedQueryNotFound. A text with its hash is checked against the hash, kept
  if it parses and validates, and run.
- `off`: a request that names a hash gets PersistedQueryNotSupported; texts run as ever.
- `allowlist`: only registered documents run, named by hash or sent as text. Admins may also
  run documents that only manage the list (registerPersistedQuery, removePersistedQuery,
  persistedQueries), so it can be kept over GraphQL. Nothing else runs, introspection
  included, and nothing is kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.crm.actor import Actor
from app.crm.persisted.hashes import document_hash
from app.graphql.documents import parsed
from app.graphql.persisted import checks, protocol
from app.graphql.persisted.files import DocumentFileError, read_directory
from app.graphql.persisted.recent import RecentDocuments
from app.graphql.persisted.registered import DIRECTORY, Registered, RegisteredDocuments
from app.settings import SettingsError

MANAGING_FIELDS = frozenset(
    {"registerPersistedQuery", "removePersistedQuery", "persistedQueries", "__typename"}
)


class PersistedQueries:
    def __init__(
        self,
        mode: str,
        schema: GraphQLSchema,
        reads: async_sessionmaker[AsyncSession],
        directory: Path | None = None,
    ) -> None:
        self.mode = mode
        self._schema = schema
        self.recent = RecentDocuments()
        files = self._read_directory(directory) if directory is not None else []
        self.registered = RegisteredDocuments(reads, files)

    def problem(self, document: str) -> str | None:
        """Why `document` cannot run, or None (checks.py)."""
        return checks.problem(self._schema, document)

    def resolve(self, query: str | None, extensions: Any, actor: Actor | None) -> str | None:
        """The document to run (None when the request holds none: the executor says so), or
        protocol.Refused."""
        persisted = protocol.requested(extensions)
        if persisted is None:
            if query is not None and self.mode == "allowlist":
                self._require_registered(query, actor)
            return query
        if self.mode == "off":
            raise protocol.not_supported()
        key = protocol.requested_hash(persisted)
        if query is None:
            return self._known(key)
        if document_hash(query) != key:
            raise protocol.hash_mismatch()
        if self.mode == "allowlist":
            self._require_registered(query, actor)
        elif self._keeps(key, query):
            self.recent.keep(key, query)
        return query

    async def start(self) -> None:
        if self.mode != "off":
            await self.registered.start()

    async def stop(self) -> None:
        await self.registered.stop()

    def _keeps(self, key: str, query: str) -> bool:
        # Only what could run is kept: a stream of broken documents keeps nothing.
        return (
            self.registered.find(key) is None
            and key not in self.recent
            and not checks.problems(self._schema, query)
        )

    def _known(self, key: str) -> str:
        registered = self.registered.find(key)
        if registered is not None:
            return registered.document
        if self.mode == "allowlist":
            raise protocol.not_allowed_hash()
        document = self.recent.get(key)
        if document is None:
            raise protocol.not_found()
        return document

    def _require_registered(self, query: str, actor: Actor | None) -> None:
        if self.registered.matching(query) is not None:
            return
        if actor is not None and actor.is_admin and _manages_the_list(query):
            return
        raise protocol.not_allowed_document()

    def _read_directory(self, directory: Path) -> list[Registered]:
        setting = "TANDEM_PERSISTED_QUERIES_DIR"
        try:
            files = read_directory(directory)
        except DocumentFileError as error:
            raise SettingsError(f"{setting}: {error}") from None
        registered = []
        for file in files:
            problem = self.problem(file.text)
            if problem is not None:
                raise SettingsError(f"{setting}: {file.name}.graphql cannot run: {problem}")
            registered.append(Registered(document_hash(file.text), file.text, file.name, DIRECTORY))
        return registered


def _manages_the_list(query: str) -> bool:
    """Whether every operation of `query` is a query or mutation whose root fields only
    manage the persisted documents."""
    node = parsed(query)
    if not isinstance(node, DocumentNode):
        return False
    fragments = {d.name.value: d for d in node.definitions if isinstance(d, FragmentDefinitionNode)}
    operations = [d for d in node.definitions if isinstance(d, OperationDefinitionNode)]
    return bool(operations) and all(
        operation.operation is not OperationType.SUBSCRIPTION
        and all(
            name in MANAGING_FIELDS
            for name in _root_fields(operation.selection_set, fragments, set())
        )
        for operation in operations
    )


def _root_fields(
    selections: SelectionSetNode,
    fragments: dict[str, FragmentDefinitionNode],
    spread: set[str],
) -> Iterator[str]:
    # Fragments at the root add root fields: they are followed (each once).
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            yield selection.name.value
        elif isinstance(selection, InlineFragmentNode):
            yield from _root_fields(selection.selection_set, fragments, spread)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is None:
                yield f"...{name}"  # unknown: not a managing field
            elif name not in spread:
                spread.add(name)
                yield from _root_fields(fragment.selection_set, fragments, spread)
