"""The API's answers about attachments (docs/FILES.md)."""

from __future__ import annotations

import msgspec


class UploadView(msgspec.Struct, frozen=True):
    """An upload: what it will be, which chunks the log holds (any DC may take the rest), and
    the file it became once completed."""

    upload_id: str
    room_id: str
    name: str
    size: int
    #: Every chunk but the last has exactly this many bytes; chunks are numbered from 0.
    chunk_bytes: int
    chunks: int
    #: The chunks stored (replicated), sorted.
    received: list[int]
    #: Set once completed.
    file_id: str | None = None


class ChunkResult(msgspec.Struct, frozen=True):
    """One chunk stored in the replicated log."""

    upload_id: str
    index: int
    size: int


class FileView(msgspec.Struct, frozen=True):
    """A stored file. ``content_type`` is sniffed from the bytes; ``width``, ``height`` and the
    thumbnail are for images only."""

    file_id: str
    room_id: str
    uploader: str
    name: str
    size: int
    content_type: str
    sha256: str
    width: int
    height: int
    has_thumb: bool
    at: int
    url: str
    thumb_url: str | None = None


FILE_VIEWS: tuple[type[msgspec.Struct], ...] = (UploadView, ChunkResult, FileView)
