"""Attachments' rules (docs/FILES.md): ids, upload checks, the type sniffed from the bytes, and
HTTP ranges. Pure: no I/O."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from firebreak.domain.validation import NAME_PATTERN, check_client_id, check_unicode
from firebreak.errors import BadRequest, FirebreakError, TooLarge

UPLOAD_ID_PATTERN = "^up_[0-9a-f]{32}$"
FILE_ID_PATTERN = "^f_[0-9a-f]{32}$"
_UPLOAD_ID = re.compile(UPLOAD_ID_PATTERN[1:-1])
_FILE_ID = re.compile(FILE_ID_PATTERN[1:-1])
_NAME = re.compile(NAME_PATTERN[1:-1])
#: Characters of a file name: shown to people and put in Content-Disposition, never a path.
FILE_NAME_MAX = 255
#: Images whose thumbnail is made; any other type is stored as it is.
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
#: Types served inline (shown by a browser); everything else is served as an attachment, so a
#: file can never run as a page of the gateway's origin.
INLINE_TYPES = IMAGE_TYPES
#: The longest side of a thumbnail, in pixels.
THUMB_MAX_PX = 320
#: Images with more pixels get no thumbnail (Pillow would refuse them anyway: decompression bombs).
MAX_IMAGE_PIXELS = 50_000_000


def upload_id_for(user_id: str, client_id: str) -> str:
    """An upload's id derives from its uploader and the client's id: a retried start is the same
    upload, at any DC."""
    return "up_" + hashlib.sha256(f"upload\0{user_id}\0{client_id}".encode()).hexdigest()[:32]


def file_id_for(upload_id: str) -> str:
    """One upload makes one file, whichever DC completes it and however often."""
    return "f_" + hashlib.sha256(f"file\0{upload_id}".encode()).hexdigest()[:32]


def is_upload_id(value: str) -> bool:
    return _UPLOAD_ID.fullmatch(value) is not None


def is_file_id(value: str) -> bool:
    return _FILE_ID.fullmatch(value) is not None


def check_file_name(name: str) -> str:
    check_unicode(name, "name")
    trimmed = name.strip()
    if (
        not trimmed
        or len(trimmed) > FILE_NAME_MAX
        or _NAME.fullmatch(trimmed) is None
        or any(c in trimmed for c in "/\\")
        or trimmed in (".", "..")
    ):
        raise BadRequest(
            f"a file name is 1-{FILE_NAME_MAX} characters, one line, without / or \\",
            code="invalid_file_name",
        )
    return trimmed


def check_upload(client_id: str, name: str, size: int, max_file_bytes: int) -> str:
    """Checks an upload's start; returns the trimmed name."""
    check_client_id(client_id)
    trimmed = check_file_name(name)
    if isinstance(size, bool) or size < 1:
        raise BadRequest("size is the file's length in bytes, at least 1", code="invalid_size")
    if size > max_file_bytes:
        raise TooLarge(f"files are at most {max_file_bytes} bytes", code="file_too_large")
    return trimmed


def check_attachments(file_ids: tuple[str, ...], max_files: int) -> None:
    if not 1 <= len(file_ids) <= max_files or len(set(file_ids)) != len(file_ids):
        raise BadRequest(f"a message shows 1-{max_files} distinct files", code="invalid_attachments")
    if not all(is_file_id(f) for f in file_ids):
        raise BadRequest("attachments are file ids (f_ and 32 hex digits)", code="invalid_attachments")


def chunk_count(size: int, chunk_bytes: int) -> int:
    return -(-size // chunk_bytes)


def expected_chunk_size(index: int, size: int, chunk_bytes: int) -> int:
    """How many bytes chunk ``index`` (from 0) of a ``size``-byte file holds: all are
    ``chunk_bytes`` but the last."""
    count = chunk_count(size, chunk_bytes)
    if not 0 <= index < count:
        raise BadRequest(f"chunks are numbered 0 to {count - 1}", code="invalid_chunk")
    return chunk_bytes if index < count - 1 else size - chunk_bytes * (count - 1)


def check_sha256(value: str | None) -> str | None:
    if value is None:
        return None
    if re.fullmatch("[0-9a-f]{64}", value) is None:
        raise BadRequest("sha256 is 64 lowercase hex digits", code="invalid_sha256")
    return value


# ---- sniffing -------------------------------------------------------------------------------

_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"%PDF-", 0, "application/pdf"),
    (b"PK\x03\x04", 0, "application/zip"),
    (b"\x1f\x8b", 0, "application/gzip"),
    (b"OggS", 0, "audio/ogg"),
    (b"ID3", 0, "audio/mpeg"),
)


def sniff(data: bytes) -> str:
    """The content type the bytes show (never the client's word for it): a few well-known
    signatures, UTF-8 text without NULs as text/plain, anything else application/octet-stream."""
    for magic, offset, kind in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":
        return "video/mp4"
    head = data[:4096]
    if b"\0" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            # A multi-byte character cut at the sample's end is still text.
            if exc.start < len(head) - 3:
                return "application/octet-stream"
        return "text/plain; charset=utf-8"
    return "application/octet-stream"


# ---- HTTP ranges ----------------------------------------------------------------------------


class RangeNotSatisfiable(FirebreakError):
    status = 416
    code = "range_not_satisfiable"


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1


_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The one byte range a ``Range`` header asks of a ``size``-byte file, or None for the whole
    file: no header, a unit other than bytes, a malformed header or several ranges (each of
    those the server may answer with the whole file, RFC 9110 14.2). Raises
    :class:`RangeNotSatisfiable` for a range that starts past the end."""
    if header is None:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        suffix = int(last)
        if suffix == 0:
            raise RangeNotSatisfiable(f"the file has {size} bytes")
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable(f"the file has {size} bytes")
    return ByteRange(start, min(end, size - 1))
