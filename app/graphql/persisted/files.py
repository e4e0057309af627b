"""Documents kept as `.graphql` files: one document per file, named by its path."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class DocumentFileError(ValueError):
    """A file that cannot be read as a document, or a directory without any."""


@dataclass(frozen=True, slots=True)
class DocumentFile:
    name: str
    """The path below the directory, without `.graphql`: `orders/create_order`."""
    text: str


def read_directory(directory: Path) -> list[DocumentFile]:
    """Every `*.graphql` below `directory` (subdirectories too), in path order. The text is
    hashed as read, so a client must send the file's exact text, or its printed form."""
    found = []
    for path in sorted(directory.rglob("*.graphql")):
        if not path.is_file():
            continue
        relative = path.relative_to(directory)
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            raise DocumentFileError(f"{relative}: not UTF-8 text") from None
        except OSError as error:
            raise DocumentFileError(f"{relative}: {error.strerror}") from None
        found.append(DocumentFile(relative.with_suffix("").as_posix(), text))
    return found
