"""Attachments' pure rules (docs/FILES.md): ids, upload checks, sniffing, thumbnails, ranges, and
the projection of ``file_stored``."""

from __future__ import annotations

import io

import msgspec
import pytest
from PIL import Image

from firebreak.adapters import sqlite_store
from firebreak.adapters.sqlite_files import FileQueries
from firebreak.adapters.sqlite_queries import Queries
from firebreak.adapters.sqlite_store import SqliteStore
from firebreak.adapters.thumbnails import inspect_image
from firebreak.domain import events as ev
from firebreak.domain.files import (
    THUMB_MAX_PX,
    ByteRange,
    RangeNotSatisfiable,
    check_attachments,
    check_upload,
    chunk_count,
    expected_chunk_size,
    file_id_for,
    is_file_id,
    is_upload_id,
    parse_range,
    sniff,
    upload_id_for,
)
from firebreak.domain.projection import Projection
from firebreak.errors import FirebreakError


def _png(width: int, height: int, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height), (200, 30, 30) if mode == "RGB" else (1, 2, 3, 4)).save(out, "PNG")
    return out.getvalue()


def test_ids_derive_from_the_uploader_and_client_id() -> None:
    a = upload_id_for("u_1", "c1")
    assert a == upload_id_for("u_1", "c1") and is_upload_id(a)
    assert a != upload_id_for("u_2", "c1")
    f = file_id_for(a)
    assert is_file_id(f) and not is_file_id(f + "\n") and not is_upload_id(f)


@pytest.mark.parametrize(
    ("name", "size", "code"),
    [
        ("a.txt", 0, "invalid_size"),
        ("a.txt", 26 * 1024 * 1024, "file_too_large"),
        ("", 1, "invalid_file_name"),
        ("../etc/passwd", 1, "invalid_file_name"),
        ("evil\u202etxt.exe", 1, "invalid_file_name"),
        ("a\nb", 1, "invalid_file_name"),
        ("x" * 256, 1, "invalid_file_name"),
    ],
)
def test_bad_uploads_are_refused(name: str, size: int, code: str) -> None:
    with pytest.raises(FirebreakError) as err:
        check_upload("c1", name, size, 25 * 1024 * 1024)
    assert err.value.code == code


def test_chunk_sizes() -> None:
    assert chunk_count(1, 4) == 1 and chunk_count(8, 4) == 2 and chunk_count(9, 4) == 3
    assert [expected_chunk_size(i, 9, 4) for i in range(3)] == [4, 4, 1]
    with pytest.raises(FirebreakError):
        expected_chunk_size(3, 9, 4)


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (_png(2, 2), "image/png"),
        (b"\xff\xd8\xff\xe0rest", "image/jpeg"),
        (b"GIF89a...", "image/gif"),
        (b"RIFF\0\0\0\0WEBPVP8 ", "image/webp"),
        (b"%PDF-1.7", "application/pdf"),
        ("안녕하세요 hello".encode(), "text/plain; charset=utf-8"),
        (b"<html><script>alert(1)</script>", "text/plain; charset=utf-8"),
        (b"\0\1\2\3binary", "application/octet-stream"),
    ],
)
def test_the_type_comes_from_the_bytes(data: bytes, kind: str) -> None:
    assert sniff(data) == kind


def test_a_thumbnail_is_small_and_keeps_the_aspect() -> None:
    info = inspect_image(_png(1200, 600))
    assert info is not None and (info.width, info.height) == (1200, 600)
    assert info.thumb is not None and info.thumb_type == "image/jpeg"
    with Image.open(io.BytesIO(info.thumb)) as thumb:
        assert thumb.size == (THUMB_MAX_PX, THUMB_MAX_PX // 2)
    transparent = inspect_image(_png(10, 10, "RGBA"))
    assert transparent is not None and transparent.thumb_type == "image/png"


def test_bytes_that_only_start_like_an_image_are_no_image() -> None:
    assert inspect_image(b"\x89PNG\r\n\x1a\nnot really") is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-9", ByteRange(0, 9)),
        ("bytes=10-", ByteRange(10, 99)),
        ("bytes=-10", ByteRange(90, 99)),
        ("bytes=-1000", ByteRange(0, 99)),
        ("bytes=50-5000", ByteRange(50, 99)),
        ("bytes=0-1,5-6", None),  # several ranges: the whole file
        ("items=0-1", None),
        ("bytes=9-3", None),
    ],
)
def test_ranges(header: str | None, expected: ByteRange | None) -> None:
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=200-300", "bytes=-0"])
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 100)


def _stored(room_id: str, uploader: str, file_id: str) -> ev.FileStored:
    return ev.FileStored(
        v=1,
        at=5,
        room_id=room_id,
        uploader=uploader,
        file_id=file_id,
        name="a.png",
        size=3,
        content_type="image/png",
        sha256="0" * 64,
    )


def test_only_a_members_file_joins_the_room() -> None:
    conn = sqlite_store.connect(":memory:")
    store, files = SqliteStore(conn), FileQueries(conn)
    projection = Projection(store)
    with store.transaction():
        projection.apply_room(
            0,
            1,
            ev.RoomCreated(v=1, at=1, room_id="g_a", kind="group", name="A", creator="u1", members=("u2",)),
        )
        assert projection.apply_room(0, 2, _stored("g_a", "u3", "f_" + "1" * 32)) is None
        assert projection.apply_room(0, 3, _stored("g_b", "u1", "f_" + "2" * 32)) is None
        assert projection.apply_room(0, 4, _stored("g_a", "u2", "f_" + "3" * 32)) is not None
        assert projection.apply_room(0, 5, _stored("g_a", "u2", "f_" + "3" * 32)) is None
    assert files.file("f_" + "1" * 32) is None and files.file("f_" + "2" * 32) is None
    row = files.file("f_" + "3" * 32)
    assert row is not None and (row.room_id, row.uploader, row.size) == ("g_a", "u2", 3)


def test_a_message_shows_only_files_of_its_own_room() -> None:
    conn = sqlite_store.connect(":memory:")
    store = SqliteStore(conn)
    queries = Queries(conn)
    projection = Projection(store)
    mine, theirs = "f_" + "a" * 32, "f_" + "b" * 32

    def send(seq: int, client_id: str, *files: str) -> object:
        event = ev.MessageSent(
            v=2, at=6, room_id="g_a", sender="u1", client_id=client_id, text="", attachments=files
        )
        return projection.apply_room(0, seq, event)

    with store.transaction():
        for seq, room in ((1, "g_a"), (2, "g_b")):
            created = ev.RoomCreated(
                v=1, at=1, room_id=room, kind="group", name="A", creator="u1", members=()
            )
            projection.apply_room(0, seq, created)
        projection.apply_room(0, 3, _stored("g_a", "u1", mine))
        projection.apply_room(0, 4, _stored("g_b", "u1", theirs))
        assert send(5, "c1", mine, theirs) is None, "a file of another room"
        assert send(6, "c2", mine, mine) is None, "the same file twice"
        assert send(7, "c3", mine) is not None
    row = queries.message("g_a", 1)
    assert row is not None and row.attachments.split() == [mine]
    with store.transaction():
        projection.apply_room(0, 8, ev.MessageDeleted(v=1, at=7, room_id="g_a", sender="u1", room_seq=1))
    row = queries.message("g_a", 1)
    assert row is not None and row.attachments == ""
    body = queries.event_body(0, 7)
    assert body is not None and mine.encode() not in body, "the pushed copy forgets it too"


def test_version_two_is_the_message_with_attachments() -> None:
    with pytest.raises(msgspec.ValidationError):
        ev.MessageSent(v=1, at=1, room_id="r", sender="u", client_id="c", text="", attachments=("f",))
    with pytest.raises(FirebreakError):
        check_attachments(("f_" + "a" * 32,) * 2, 10)
    with pytest.raises(FirebreakError):
        check_attachments(tuple(f"f_{i:032x}" for i in range(11)), 10)
