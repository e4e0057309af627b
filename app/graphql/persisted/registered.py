"""The registered documents: read from TANDEM_PERSISTED_QUERIES_DIR at start-up, and
registered by admins (in PostgreSQL, so every server process knows them).

Each process keeps a copy of the database's documents and reads which hashes exist every
REFRESH_SECONDS (a document never changes under its hash, so only new ones are read whole).
The process where an admin registers or removes a document applies the change at once;
the others follow at their next refresh. A request never waits for the database here.

A document is found by the hash of its text, and also by the hash of its printed form (the
parsed document printed back, as graphql-js prints it for Apollo Client): a file formatted
by hand still matches the string a client sends for the same document.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graphql import DocumentNode, GraphQLError, parse, print_ast
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.crm.persisted import queries
from app.crm.persisted.hashes import document_hash
from app.graphql import limits
from app.graphql.documents import parsed
from app.periodic import Periodic

REFRESH_SECONDS = 2.0

DIRECTORY = "DIRECTORY"
ADMIN = "ADMIN"


@dataclass(frozen=True, slots=True)
class Registered:
    hash: str
    document: str
    name: str
    source: str
    """DIRECTORY or ADMIN."""
    created_by: int | None = None
    created_at: datetime | None = None

    @classmethod
    def of(cls, row: Any) -> Registered:
        return cls(row.hash, row.document, row.name, ADMIN, row.created_by, row.created_at)


def printed_hash(document: str) -> str | None:
    """The hash of a request's document printed back (through the parser's cache: the
    request is about to be parsed anyway)."""
    node = parsed(document)
    return document_hash(print_ast(node)) if isinstance(node, DocumentNode) else None


def _printed_hash_uncached(document: str) -> str | None:
    # Registered documents are parsed once each, outside the cache that requests share.
    try:
        return document_hash(print_ast(parse(document, max_tokens=limits.current().tokens)))
    except GraphQLError:
        return None


class RegisteredDocuments:
    def __init__(
        self,
        reads: async_sessionmaker[AsyncSession],
        directory: Iterable[Registered] = (),
        *,
        refresh_seconds: float = REFRESH_SECONDS,
    ) -> None:
        self._reads = reads
        self.directory = {d.hash: d for d in directory}
        self._admin: dict[str, Registered] = {}
        self._found: dict[str, Registered] = {}
        self._printed: dict[str, str | None] = {}
        self._lock = asyncio.Lock()
        self.refreshing = Periodic(
            "reading the registered documents", refresh_seconds, self.refresh
        )
        self._index()

    def find(self, key: str) -> Registered | None:
        """The document registered under `key`, a hash of its text or of its printed form."""
        return self._found.get(key)

    def matching(self, text: str) -> Registered | None:
        """The registered document `text` is, exactly or once printed."""
        found = self._found.get(document_hash(text))
        if found is not None:
            return found
        printed = printed_hash(text)
        return self._found.get(printed) if printed is not None else None

    def listed(self) -> list[Registered]:
        return sorted(self._all(), key=lambda d: (d.name, d.hash))

    async def refresh(self) -> None:
        # Under the lock, so that a registration applied by add() after its commit is never
        # undone by a refresh that read the table before that commit.
        async with self._lock:
            async with self._reads() as session:
                present = await queries.hashes(session)
                new = present - self._admin.keys()
                rows = await queries.by_hash(session, new)
            gone = self._admin.keys() - present
            if not rows and not gone:
                return
            for key in gone:
                del self._admin[key]
            for row in rows:
                self._admin[row.hash] = Registered.of(row)
            self._index()

    async def add(self, row: Any) -> None:
        async with self._lock:
            self._admin[row.hash] = Registered.of(row)
            self._index()

    async def discard(self, key: str) -> None:
        async with self._lock:
            if self._admin.pop(key, None) is not None:
                self._index()

    async def start(self) -> None:
        await self.refresh()
        await self.refreshing.start()

    async def stop(self) -> None:
        await self.refreshing.stop()

    def _all(self) -> list[Registered]:
        admin = (d for key, d in self._admin.items() if key not in self.directory)
        return [*self.directory.values(), *admin]

    def _index(self) -> None:
        # Rebuilt whole and swapped in: readers never see one half-updated.
        found: dict[str, Registered] = {}
        documents = self._all()
        printed_hashes = {
            d.hash: self._printed[d.hash]
            if d.hash in self._printed
            else _printed_hash_uncached(d.document)
            for d in documents
        }
        self._printed = printed_hashes
        for document in documents:
            printed = printed_hashes[document.hash]
            if printed is not None:
                found.setdefault(printed, document)
        for document in documents:
            found[document.hash] = document
        self._found = found
