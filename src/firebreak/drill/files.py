"""Uploaders of a chat drill (``--files``): a few users upload files of random bytes into their
rooms while the chat runs, failing over like the chat clients, and record every upload whose
completion was answered. After the drill every acknowledged file is read back at every DC.

Bounded: each uploader starts at most ``MAX_FILES_EACH`` uploads, one every ``UPLOAD_EVERY_S``,
only during the workload's duration; each upload is retried (same client id, any DC: the upload
resumes) until the drill's send deadline.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections.abc import Callable

from firebreak.client import Client
from firebreak.config import Config
from firebreak.drill.files_checker import FileRead, FileReads, FileRecord
from firebreak.drill.plan import DrillOptions
from firebreak.drill.readback import member_reader
from firebreak.drill.workload import SimUser, Workload
from firebreak.errors import FirebreakError
from firebreak.retry import Backoff, retry

#: Uploads each uploader starts at most, and how often; the size range of a file, in bytes.
MAX_FILES_EACH = 20
UPLOAD_EVERY_S = 1.0
FILE_BYTES = (32 * 1024, 128 * 1024)
#: Between two starts of the same upload.
_AGAIN = Backoff(first_s=0.2, max_s=0.2, jitter=0.0)


class Uploads:
    def __init__(
        self, config: Config, options: DrillOptions, workload: Workload, clock: Callable[[], float]
    ) -> None:
        self._config = config
        self._o = options
        self._workload = workload
        self._clock = clock
        # Its own stream of randomness: the chat's schedule stays the same with or without files.
        self._rng = random.Random(options.seed * 7919 + 1)
        self.records: list[FileRecord] = []

    async def run(self, stop: asyncio.Event) -> None:
        uploaders = [u for u in self._workload.users if u.rooms][: self._o.files]
        await asyncio.gather(*(self._uploader(k, u, stop) for k, u in enumerate(uploaders)))

    async def _uploader(self, k: int, user: SimUser, stop: asyncio.Event) -> None:
        urls = [d.http_url for d in self._config.dcs]
        # A client of its own (same account): the user's chat client keeps its own failover state.
        client = Client(urls, preferred=user.home, retry_deadline=self._o.send_deadline_s)
        client.token = user.client.token
        try:
            for n in range(MAX_FILES_EACH):
                delay = n * UPLOAD_EVERY_S + k * 0.3 - self._clock()
                if delay > 0:
                    await asyncio.sleep(delay)
                if stop.is_set() or self._clock() >= self._o.duration_s:
                    return
                data = self._rng.randbytes(self._rng.randint(*FILE_BYTES))
                room = self._rng.choice(user.rooms)
                await self._upload(client, user, room, data, f"f{self._o.seed}-{k}-{n}")
        finally:
            await client.aclose()

    async def _upload(self, client: Client, user: SimUser, room: str, data: bytes, cid: str) -> None:
        record = FileRecord(
            user.user_id, cid, room, len(data), hashlib.sha256(data).hexdigest(), started=self._clock()
        )
        self.records.append(record)

        def heard(exc: BaseException) -> None:
            if isinstance(exc, FirebreakError):  # the only kind retried
                record.error = exc.code

        # The client already fails over within its deadline; starting the upload again with the
        # same client id resumes it wherever the log has it.
        try:
            view = await retry(
                lambda: client.upload(room, data, f"{cid}.bin", client_id=cid),
                retry_on=(FirebreakError,),
                deadline=time.monotonic() + self._o.send_deadline_s,
                backoff=_AGAIN,
                on_retry=heard,
            )
        except FirebreakError as exc:
            record.error, record.failed = exc.code, self._clock()
            return
        record.acked, record.file_id = self._clock(), view.file_id


async def read_files(
    config: Config, alive: list[str], workload: Workload, records: list[FileRecord]
) -> FileReads:
    """Downloads every acknowledged file whole from each DC in ``alive`` (no failover: that DC's
    own answer), as a member of the file's room."""
    reads: FileReads = {}
    acked = [r for r in records if r.acked is not None and r.file_id]
    for dc in alive:
        served: dict[str, FileRead] = {}
        readers: dict[str, Client] = {}
        try:
            for r in acked:
                if r.room_id not in readers:
                    readers[r.room_id] = member_reader(config, dc, workload, r.room_id)
                try:
                    data = await readers[r.room_id].download(r.file_id)
                    served[r.file_id] = FileRead(len(data), hashlib.sha256(data).hexdigest())
                except FirebreakError as exc:
                    served[r.file_id] = FileRead(error=exc.code)
        finally:
            for reader in readers.values():
                await reader.aclose()
        reads[dc] = served
    return reads


def forget_file(reads: FileReads, records: list[FileRecord]) -> str:
    """Fault: the read-back of one DC drops one acknowledged file, as if that DC had lost it."""
    victim = sorted(reads)[-1]
    file_id = next(r.file_id for r in records if r.acked is not None and r.file_id)
    reads[victim].pop(file_id, None)
    return f"{victim} forgot file {file_id}"
