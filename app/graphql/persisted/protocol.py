"""Apollo's automatic persisted queries on the wire, and the refusals of the allow-list.

A request names its document with `extensions.persistedQuery = {version: 1, sha256Hash}`,
with or without the `query` text. The two answers Apollo Client's and urql's persisted-query
links act on are GraphQL errors in a 200 response, said exactly as Apollo Server says them:
`PersistedQueryNotFound` (the client retries with the text) and `PersistedQueryNotSupported`
(the client retries with the text and stops sending hashes). Every other refusal is a request
the client must change, answered 400 when it is the only operation of its request.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError

from app.crm.persisted.hashes import is_hash

NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"
HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
VERSION_NOT_SUPPORTED = "PERSISTED_QUERY_VERSION_NOT_SUPPORTED"
INVALID = "PERSISTED_QUERY_INVALID"
NOT_ALLOWED = "PERSISTED_QUERY_NOT_ALLOWED"

SUPPORTED_VERSION = 1


class Refused(Exception):
    """A persisted-query request that runs nothing: the error to answer, and the HTTP status
    for a request that held only this operation."""

    def __init__(self, message: str, code: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
        self.error = GraphQLError(message, extensions={"code": code})


def not_found() -> Refused:
    return Refused("PersistedQueryNotFound", NOT_FOUND, status=200)


def not_supported() -> Refused:
    return Refused("PersistedQueryNotSupported", NOT_SUPPORTED, status=200)


def hash_mismatch() -> Refused:
    return Refused(
        "the query's SHA-256 hash is not extensions.persistedQuery.sha256Hash; nothing was "
        "stored or run",
        HASH_MISMATCH,
    )


def not_allowed_document() -> Refused:
    return Refused(
        "this server runs only registered documents, and this one is not registered",
        NOT_ALLOWED,
    )


def not_allowed_hash() -> Refused:
    return Refused(
        "this server runs only registered documents, and none is registered under this hash",
        NOT_ALLOWED,
    )


def requested(extensions: Any) -> Any:
    """What the request says under extensions.persistedQuery; None when it says nothing."""
    if not isinstance(extensions, dict):
        return None
    return extensions.get("persistedQuery")


def requested_hash(persisted: Any) -> str:
    """The hash of a well-formed extensions.persistedQuery (lowercase), or Refused."""
    if not isinstance(persisted, dict):
        raise Refused(
            "extensions.persistedQuery must be an object {version: 1, sha256Hash}", INVALID
        )
    version = persisted.get("version")
    if version != SUPPORTED_VERSION or isinstance(version, bool):
        raise Refused(
            f"persisted query version {version!r} is not supported; send version 1",
            VERSION_NOT_SUPPORTED,
        )
    key = persisted.get("sha256Hash")
    if not isinstance(key, str) or not is_hash(key.lower()):
        raise Refused(
            "extensions.persistedQuery.sha256Hash must be the document's SHA-256 as 64 "
            "hexadecimal characters",
            INVALID,
        )
    return key.lower()
