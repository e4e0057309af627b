"""A document's name on the wire: the SHA-256 of its text, as lowercase hex.

Apollo Client and urql hash the exact string they send as `query` (UTF-8), so the server
hashes the same bytes: no trimming, no normalising of line ends.
"""

from __future__ import annotations

import hashlib
import re

_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")


def document_hash(document: str) -> str:
    # surrogatepass: JSON may carry a lone surrogate; it must hash, not raise.
    return hashlib.sha256(document.encode("utf-8", "surrogatepass")).hexdigest()


def is_hash(value: str) -> bool:
    return _HEX_SHA256.fullmatch(value) is not None
