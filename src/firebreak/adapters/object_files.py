"""Attachments' bytes in JetStream (docs/FILES.md), R3 like the log.

- ``FB_FILES``: a JetStream object store (stream ``OBJ_FB_FILES``, nats-py's layout, so the
  ``nats object`` tools read it) holding finished files and thumbnails, kept forever. Written in
  the object store's format by this module rather than by nats-py's ``put``: that one purges
  chunks on an error or on a replaced name, and nobody may purge the log's streams
  (adapters/nats_server_conf.py). A name is written once (ids are unique); an interrupted write
  leaves chunks that no meta names, never a broken object.
- ``FB_UPLOADS``: a plain stream of unfinished uploads, ``upl.<user>.<upload>.m`` (the upload's
  description), ``.c.<n>`` (chunk n, the latest copy kept) and ``.d`` (completed), whose entries
  expire after ``upload_ttl_s``: an abandoned upload vanishes by itself.

Reads go to each stream's leader (not this DC's replica, which may trail it), so a chunk or a
file acknowledged anywhere is read whole or not at all.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, StorageType, StreamConfig

from firebreak.adapters.nats_connect import TRANSIENT, StillCommitting, publish_once
from firebreak.errors import Unavailable
from firebreak.retry import Backoff, retry

FILES_BUCKET = "FB_FILES"
FILES_STREAM = f"OBJ_{FILES_BUCKET}"
UPLOADS_STREAM = "FB_UPLOADS"
#: Bytes per chunk of a stored object. A non-direct read answers in JSON with the chunk in
#: base64 (4/3 larger), which must fit NATS's 1 MiB payload.
OBJECT_CHUNK_BYTES = 256 * 1024
#: Largest upload chunk the uploads stream takes (config.Limits.upload_chunk_bytes is at most
#: this), for the same reason.
MAX_UPLOAD_CHUNK_BYTES = 640 * 1024
_DEADLINE_S = 12.0
_BACKOFF = Backoff(first_s=0.05, max_s=0.5)
#: Worth another try: no leader right now, or an earlier try of a publish still being committed.
_AGAIN: tuple[type[BaseException], ...] = (*TRANSIENT, StillCommitting)
_T = TypeVar("_T")


class Missing(Exception):
    """No such entry (or object) in the stream."""


def stream_configs(upload_ttl_s: int, dedupe_window_s: int) -> list[StreamConfig]:
    files = StreamConfig(
        name=FILES_STREAM,
        subjects=[f"$O.{FILES_BUCKET}.C.>", f"$O.{FILES_BUCKET}.M.>"],
        num_replicas=3,
        storage=StorageType.FILE,
        discard=DiscardPolicy.NEW,
        allow_rollup_hdrs=True,
        allow_direct=True,
        duplicate_window=float(dedupe_window_s),
    )
    uploads = StreamConfig(
        name=UPLOADS_STREAM,
        subjects=["upl.>"],
        num_replicas=3,
        storage=StorageType.FILE,
        max_age=float(upload_ttl_s),
        # A chunk sent again replaces the earlier copy (the server drops it: no purge needed).
        max_msgs_per_subject=1,
        max_msg_size=MAX_UPLOAD_CHUNK_BYTES + 4096,
        allow_direct=True,
        duplicate_window=float(dedupe_window_s),
    )
    return [files, uploads]


def _meta_subject(name: str) -> str:
    return f"$O.{FILES_BUCKET}.M.{base64.urlsafe_b64encode(name.encode()).decode()}"


def upload_subject(user_id: str, upload_id: str, part: str) -> str:
    return f"upl.{user_id}.{upload_id}.{part}"


class ObjectFiles:
    """Reads and writes attachments' bytes; every call retries through elections for up to 12 s,
    then raises Unavailable (503)."""

    def __init__(self, js: JetStreamContext) -> None:
        self._js = js

    async def _patiently(self, fn: Callable[[], Awaitable[_T]]) -> _T:
        try:
            return await retry(fn, retry_on=_AGAIN, deadline=time.monotonic() + _DEADLINE_S, backoff=_BACKOFF)
        except _AGAIN as exc:
            raise Unavailable("the file store has no quorum right now; try again") from exc

    async def _publish(self, subject: str, data: bytes, headers: dict[str, str]) -> int:
        async def once() -> int:
            ack = await publish_once(self._js, subject, data, attempt_s=2.0, headers=headers)
            return int(ack.seq)

        return await self._patiently(once)

    async def _last(self, stream: str, subject: str) -> bytes:
        async def once() -> bytes:
            try:
                msg = await self._js.get_msg(stream, subject=subject)
            except nats.js.errors.NotFoundError as exc:
                raise Missing(subject) from exc
            return msg.data or b""

        return await self._patiently(once)

    # ---- finished files ---------------------------------------------------------------------

    async def exists(self, name: str, sha256_hex: str) -> bool:
        """Whether ``name`` is stored whole with this content."""
        try:
            meta = json.loads(await self._last(FILES_STREAM, _meta_subject(name)))
        except Missing:
            return False
        return bool(meta.get("digest") == _digest(bytes.fromhex(sha256_hex)))

    async def put(self, name: str, data: bytes) -> None:
        """Stores ``data`` as object ``name``: chunks first, then the meta that makes it visible.
        Each publish is acknowledged by a quorum (two of three DCs) before the next."""
        nuid = secrets.token_hex(11)
        chunk_subject = f"$O.{FILES_BUCKET}.C.{nuid}"
        chunks = 0
        for offset in range(0, len(data), OBJECT_CHUNK_BYTES):
            piece = data[offset : offset + OBJECT_CHUNK_BYTES]
            await self._publish(chunk_subject, piece, {"Nats-Msg-Id": f"{nuid}:{chunks}"})
            chunks += 1
        info = {
            "name": name,
            "bucket": FILES_BUCKET,
            "nuid": nuid,
            "size": len(data),
            "chunks": chunks,
            "digest": _digest(hashlib.sha256(data).digest()),
            "options": {"max_chunk_size": OBJECT_CHUNK_BYTES},
            "mtime": "",
        }
        await self._publish(
            _meta_subject(name), json.dumps(info).encode(), {"Nats-Rollup": "sub", "Nats-Msg-Id": f"{nuid}:m"}
        )

    async def get(self, name: str) -> bytes:
        """The whole object, its digest checked; :class:`Missing` if it is not stored whole."""
        meta = json.loads(await self._last(FILES_STREAM, _meta_subject(name)))
        chunk_subject = f"$O.{FILES_BUCKET}.C.{meta['nuid']}"
        parts: list[bytes] = []
        seq = 1
        for _ in range(int(meta["chunks"])):

            async def once(at: int = seq) -> tuple[int, bytes]:
                try:
                    msg = await self._js.get_msg(FILES_STREAM, seq=at, subject=chunk_subject, next=True)
                except nats.js.errors.NotFoundError as exc:
                    raise Missing(name) from exc
                return int(msg.seq or 0), msg.data or b""

            found, piece = await self._patiently(once)
            parts.append(piece)
            seq = found + 1
        data = b"".join(parts)
        if len(data) != meta["size"] or _digest(hashlib.sha256(data).digest()) != meta["digest"]:
            raise Missing(f"{name}: stored bytes do not match their digest")
        return data

    # ---- unfinished uploads -----------------------------------------------------------------

    async def create_upload(self, user_id: str, upload_id: str, meta: bytes) -> bytes:
        """Records an upload's description unless one is there; returns the one that stands."""
        subject = upload_subject(user_id, upload_id, "m")

        async def once() -> bytes:
            try:
                await self._js.publish(
                    subject,
                    meta,
                    timeout=2.0,
                    headers={"Nats-Expected-Last-Subject-Sequence": "0", "Nats-Msg-Id": f"{upload_id}:m"},
                )
            except nats.js.errors.APIError as exc:
                if exc.err_code not in (10071, 10164):
                    raise
            return await self._last(UPLOADS_STREAM, subject)

        return await self._patiently(once)

    async def upload_meta(self, user_id: str, upload_id: str) -> bytes:
        return await self._last(UPLOADS_STREAM, upload_subject(user_id, upload_id, "m"))

    async def put_chunk(self, user_id: str, upload_id: str, index: int, data: bytes) -> None:
        digest = hashlib.sha256(data).hexdigest()[:16]
        subject = upload_subject(user_id, upload_id, f"c.{index}")
        await self._publish(subject, data, {"Nats-Msg-Id": f"{upload_id}:{index}:{digest}"})

    async def chunk(self, user_id: str, upload_id: str, index: int) -> bytes:
        return await self._last(UPLOADS_STREAM, upload_subject(user_id, upload_id, f"c.{index}"))

    async def chunks_present(self, user_id: str, upload_id: str) -> set[int]:
        prefix = upload_subject(user_id, upload_id, "c.")
        subjects = await self._subjects(prefix + "*")
        return {int(s[len(prefix) :]) for s in subjects}

    async def mark_done(self, user_id: str, upload_id: str, file_id: str) -> None:
        subject = upload_subject(user_id, upload_id, "d")
        await self._publish(subject, file_id.encode(), {"Nats-Msg-Id": f"{upload_id}:d"})

    async def done(self, user_id: str, upload_id: str) -> str | None:
        try:
            return (await self._last(UPLOADS_STREAM, upload_subject(user_id, upload_id, "d"))).decode()
        except Missing:
            return None

    async def open_uploads(self, user_id: str) -> int:
        """The user's uploads started within the stream's age limit and not completed."""
        started = await self._subjects(f"upl.{user_id}.*.m")
        finished = await self._subjects(f"upl.{user_id}.*.d")
        return len({s.split(".")[2] for s in started} - {s.split(".")[2] for s in finished})

    async def _subjects(self, pattern: str) -> list[str]:
        async def once() -> list[str]:
            info = await self._js.stream_info(UPLOADS_STREAM, subjects_filter=pattern)
            if info.cluster is None or not info.cluster.leader:
                # A node without a leader answers from its own replica, perhaps an empty one.
                raise nats.errors.TimeoutError
            return list((info.state.subjects or {}).keys())

        return await self._patiently(once)


def _digest(sha: bytes) -> str:
    return "SHA-256=" + base64.urlsafe_b64encode(sha).decode()
