"""Attachments: resumable uploads, completion, and downloads (docs/FILES.md).

Every step's state is in the replicated log, none in a gateway: an upload's description and its
chunks in the uploads stream, the finished bytes in the object store, and the file's record
(``file_stored``) in the room's stream. So an upload started at one DC can be finished at
another, and a file acknowledged before a fire is served by every DC after it.
"""

from __future__ import annotations

import asyncio
import hashlib

import msgspec

from firebreak.adapters.nats_log import Log
from firebreak.adapters.object_files import Missing, ObjectFiles
from firebreak.adapters.sqlite_files import FileQueries, FileRow
from firebreak.adapters.sqlite_queries import Queries
from firebreak.adapters.thumbnails import inspect_image
from firebreak.config import Config
from firebreak.domain import events as ev
from firebreak.domain.files import (
    IMAGE_TYPES,
    check_sha256,
    check_upload,
    chunk_count,
    expected_chunk_size,
    file_id_for,
    is_file_id,
    is_upload_id,
    sniff,
    upload_id_for,
)
from firebreak.domain.ids import partition_of, room_stream, room_subject
from firebreak.errors import BadRequest, Conflict, NotFound, RateLimited, Unavailable
from firebreak.service.accounts import now_ms
from firebreak.service.room_queries import RoomQueries, unknown_room
from firebreak.service.sync import Freshness
from firebreak.wire.file_views import ChunkResult, FileView, UploadView


class UploadMeta(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An upload's description, the first entry of its subjects in the uploads stream."""

    upload_id: str
    user_id: str
    client_id: str
    room_id: str
    name: str
    size: int
    chunk_bytes: int
    at: int
    sha256: str | None = None


_meta_decoder = msgspec.json.Decoder(UploadMeta)
_encoder = msgspec.json.Encoder()


def unknown_file() -> NotFound:
    """The one answer for a file that does not exist and for one of a room that is not the
    caller's (as for rooms: nobody learns from a refusal whether a file exists)."""
    return NotFound("no such file among your rooms", code="unknown_file")


def unknown_upload() -> NotFound:
    return NotFound("no such upload of yours (unfinished uploads expire)", code="unknown_upload")


def file_view(row: FileRow) -> FileView:
    url = f"/v1/files/{row.file_id}"
    return FileView(
        file_id=row.file_id,
        room_id=row.room_id,
        uploader=row.uploader,
        name=row.name,
        size=row.size,
        content_type=row.content_type,
        sha256=row.sha256,
        width=row.width,
        height=row.height,
        has_thumb=row.thumb_size > 0,
        at=row.at,
        url=url,
        thumb_url=f"{url}/thumb" if row.thumb_size else None,
    )


class Files:
    def __init__(
        self,
        config: Config,
        objects: ObjectFiles,
        log: Log,
        queries: Queries,
        files: FileQueries,
        fresh: Freshness,
        views: RoomQueries,
    ) -> None:
        self._partitions = config.partitions
        self._limits = config.limits
        self._objects = objects
        self._log = log
        self._q = queries
        self._files = files
        self._fresh = fresh
        self._views = views
        self._reads = asyncio.Semaphore(config.limits.file_reads_in_flight)

    # ---- uploads ----------------------------------------------------------------------------

    async def start(
        self, me: str, client_id: str, room_id: str, name: str, size: int, sha256: str | None
    ) -> UploadView:
        limits = self._limits
        name = check_upload(client_id, name, size, limits.max_file_bytes)
        check_sha256(sha256)
        await self._views.member_room(room_id, me)
        upload_id = upload_id_for(me, client_id)
        mine = UploadMeta(
            upload_id=upload_id,
            user_id=me,
            client_id=client_id,
            room_id=room_id,
            name=name,
            size=size,
            chunk_bytes=limits.upload_chunk_bytes,
            at=now_ms(),
            sha256=sha256,
        )
        try:
            meta = _meta_decoder.decode(await self._objects.upload_meta(me, upload_id))
        except Missing:
            if await self._objects.open_uploads(me) >= limits.uploads_in_flight:
                raise RateLimited(
                    f"at most {limits.uploads_in_flight} unfinished uploads at a time: complete one first",
                    code="too_many_uploads",
                    retry_after_s=60,
                ) from None
            meta = _meta_decoder.decode(
                await self._objects.create_upload(me, upload_id, _encoder.encode(mine))
            )
        if (meta.room_id, meta.name, meta.size, meta.sha256) != (room_id, name, size, sha256):
            raise Conflict("this client_id was already used for another upload", code="client_id_reused")
        return await self._status(meta)

    async def status(self, me: str, upload_id: str) -> UploadView:
        return await self._status(await self._meta(me, upload_id))

    async def put_chunk(self, me: str, upload_id: str, index: int, data: bytes) -> ChunkResult:
        meta = await self._meta(me, upload_id)
        expected = expected_chunk_size(index, meta.size, meta.chunk_bytes)
        if len(data) != expected:
            raise BadRequest(
                f"chunk {index} has {expected} bytes (every chunk but the last has {meta.chunk_bytes})",
                code="invalid_chunk_size",
            )
        if await self._objects.done(me, upload_id) is None:
            await self._objects.put_chunk(me, upload_id, index, data)
        return ChunkResult(upload_id=upload_id, index=index, size=len(data))

    async def complete(self, me: str, upload_id: str) -> FileView:
        """Assembles the chunks, checks them, stores the file (and an image's thumbnail) and then
        records it in the room's stream. Completing again answers the same file."""
        meta = await self._meta(me, upload_id)
        file_id = file_id_for(upload_id)
        row = self._files.file(file_id)
        if row is not None:
            # Recorded already (an earlier completion may have stopped before its mark).
            if await self._objects.done(me, upload_id) is None:
                await self._objects.mark_done(me, upload_id, file_id)
            return file_view(row)
        await self._views.member_room(meta.room_id, me)
        count = chunk_count(meta.size, meta.chunk_bytes)
        present = await self._objects.chunks_present(me, upload_id)
        missing = sorted(set(range(count)) - present)
        if missing:
            shown = ", ".join(map(str, missing[:20]))
            raise Conflict(f"chunks missing: {shown}", code="upload_incomplete")
        data = b"".join([await self._objects.chunk(me, upload_id, i) for i in range(count)])
        if len(data) != meta.size:
            raise Conflict("the chunks do not add up to the upload's size", code="upload_incomplete")
        digest = hashlib.sha256(data).hexdigest()
        if meta.sha256 is not None and digest != meta.sha256:
            raise Conflict(
                "the bytes received do not have the sha256 given at the start: send the chunks again",
                code="sha256_mismatch",
            )
        content_type = sniff(data)
        width = height = thumb_size = 0
        thumb_type = ""
        if content_type in IMAGE_TYPES:
            image = await asyncio.to_thread(inspect_image, data)
            if image is None:
                content_type = "application/octet-stream"  # not the image its first bytes claim
            else:
                width, height = image.width, image.height
                if image.thumb is not None:
                    if not await self._objects.exists(
                        f"{file_id}.thumb", hashlib.sha256(image.thumb).hexdigest()
                    ):
                        await self._objects.put(f"{file_id}.thumb", image.thumb)
                    thumb_size, thumb_type = len(image.thumb), image.thumb_type
        if not await self._objects.exists(file_id, digest):
            await self._objects.put(file_id, data)
        event = ev.FileStored(
            v=1,
            at=now_ms(),
            room_id=meta.room_id,
            uploader=me,
            file_id=file_id,
            name=meta.name,
            size=meta.size,
            content_type=content_type,
            sha256=digest,
            width=width,
            height=height,
            thumb_size=thumb_size,
            thumb_type=thumb_type,
        )
        subject = room_subject(meta.room_id, self._partitions)
        appended = await self._log.append(subject, ev.encode(event), f"file:{file_id}")
        await self._fresh.until_applied(appended)
        row = self._files.file(file_id)
        if row is None:
            raise unknown_room()  # left the room between the check and the append
        await self._objects.mark_done(me, upload_id, file_id)
        return file_view(row)

    # ---- downloads --------------------------------------------------------------------------

    async def info(self, me: str, file_id: str) -> FileView:
        return file_view(await self._visible(me, file_id))

    async def content(self, me: str, file_id: str, thumb: bool = False) -> tuple[FileRow, bytes]:
        """The file's record and its whole bytes, checked against the record (503 if the store
        cannot give them whole: never partial data)."""
        row = await self._visible(me, file_id)
        if thumb and not row.thumb_size:
            raise NotFound("this file has no thumbnail", code="no_thumbnail")
        async with self._reads:
            try:
                data = await self._objects.get(f"{file_id}.thumb" if thumb else file_id)
            except Missing as exc:
                raise Unavailable(
                    "the file's bytes cannot be read whole right now; try again or at another DC",
                    code="file_unavailable",
                    retry_after_s=1,
                ) from exc
        if not thumb and (len(data) != row.size or hashlib.sha256(data).hexdigest() != row.sha256):
            raise Unavailable("the stored bytes do not match the file's record", code="file_unavailable")
        return row, data

    # ---- helpers ----------------------------------------------------------------------------

    async def _visible(self, me: str, file_id: str) -> FileRow:
        if not is_file_id(file_id):
            raise unknown_file()
        row = self._files.file(file_id)
        if row is None:
            # Recorded at another DC a moment ago? Wait until this DC has what the log holds.
            for p in range(self._partitions):
                await self._fresh.barrier(room_stream(p))
            row = self._files.file(file_id)
        if row is None:
            raise unknown_file()
        if not self._q.is_active_member(row.room_id, me):
            await self._fresh.barrier(room_stream(partition_of(row.room_id, self._partitions)))
            if not self._q.is_active_member(row.room_id, me):
                raise unknown_file()
        return row

    async def _meta(self, me: str, upload_id: str) -> UploadMeta:
        if not is_upload_id(upload_id):
            raise unknown_upload()
        try:
            return _meta_decoder.decode(await self._objects.upload_meta(me, upload_id))
        except Missing:
            raise unknown_upload() from None

    async def _status(self, meta: UploadMeta) -> UploadView:
        received = await self._objects.chunks_present(meta.user_id, meta.upload_id)
        return UploadView(
            upload_id=meta.upload_id,
            room_id=meta.room_id,
            name=meta.name,
            size=meta.size,
            chunk_bytes=meta.chunk_bytes,
            chunks=chunk_count(meta.size, meta.chunk_bytes),
            received=sorted(received),
            file_id=await self._objects.done(meta.user_id, meta.upload_id),
        )
