"""A memo for things made once and asked for again and again (a statement per shape of read,
a token's checked signature, a row's global ID): a dict with a bound, forgotten all at once
when full. What it holds can always be made again; the bound only keeps memory flat against
inputs that never repeat."""

from __future__ import annotations

from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Memo(dict[K, V]):
    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def keep(self, key: K, value: V) -> V:
        """Keep `value` under `key` (forgetting everything first when full); returns it."""
        if len(self) >= self.limit:
            self.clear()
        self[key] = value
        return value
