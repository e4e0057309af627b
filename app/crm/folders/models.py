from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from app.crm.columns import BigId, CreatedAt, UpdatedAt
from app.db import Base


def folder_ids_on(path: str | None) -> frozenset[int]:
    """The folder ids of a materialised path ("/1/4/9/": 1, 4 and 9)."""
    return frozenset(int(part) for part in path.split("/") if part) if path else frozenset()


class Folder(Base):
    __tablename__ = "folders"
    __table_args__ = (
        # Sibling names are unique; NULL parents (the roots) are siblings of each other too.
        Index(
            "uq_folders_parent_name",
            func.coalesce(text("parent_id"), 0),
            func.lower(text("name")),
            unique=True,
        ),
        # The materialised path answers "whole subtree" with one prefix scan.
        Index("ix_folders_path", "path", postgresql_ops={"path": "text_pattern_ops"}),
    )

    id: Mapped[BigId]
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("folders.id", ondelete="RESTRICT"), index=True
    )
    # "/1/4/9/" for folder 9 under 4 under 1.
    path: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]
