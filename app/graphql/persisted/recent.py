"""The documents clients registered by sending them with their hash (mode `apq`).

A bounded store per process, in two segments so that a flood of documents sent once cannot
push out the ones in use: a new document waits in `probation`, and moves to `protected` when
its hash is asked for again. Eviction takes from probation first. Only documents that parse
and validate are offered here at all (resolution.py), and none longer than MAX_CHARS.
"""

from __future__ import annotations

from collections import OrderedDict

MAX_DOCUMENTS = 2048
MAX_CHARS = 100_000
"""Per document; a longer one still runs when sent whole, it is just not kept."""
MAX_TOTAL_CHARS = 32 * 1024 * 1024
PROTECTED_SHARE = 0.8


class RecentDocuments:
    def __init__(
        self,
        max_documents: int = MAX_DOCUMENTS,
        max_total_chars: int = MAX_TOTAL_CHARS,
    ) -> None:
        self._max_documents = max_documents
        self._max_protected = max(1, int(max_documents * PROTECTED_SHARE))
        self._max_total_chars = max_total_chars
        self._probation: OrderedDict[str, str] = OrderedDict()
        self._protected: OrderedDict[str, str] = OrderedDict()
        self._chars = 0

    def __len__(self) -> int:
        return len(self._probation) + len(self._protected)

    def __contains__(self, key: str) -> bool:
        return key in self._protected or key in self._probation

    def get(self, key: str) -> str | None:
        document = self._protected.get(key)
        if document is not None:
            self._protected.move_to_end(key)
            return document
        document = self._probation.pop(key, None)
        if document is None:
            return None
        self._protected[key] = document
        if len(self._protected) > self._max_protected:
            # Demoted, not dropped: it gets another chance before it is evicted.
            demoted, text = self._protected.popitem(last=False)
            self._probation[demoted] = text
        return document

    def keep(self, key: str, document: str) -> None:
        if key in self or len(document) > MAX_CHARS:
            return
        self._probation[key] = document
        self._chars += len(document)
        while len(self) > self._max_documents or self._chars > self._max_total_chars:
            segment = self._probation or self._protected
            _, evicted = segment.popitem(last=False)
            self._chars -= len(evicted)
