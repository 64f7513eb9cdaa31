"""WAL checkpoints of a read model, off the gateway's event loop.

SQLite checkpoints a WAL database from inside the COMMIT that pushes the WAL past
``wal_autocheckpoint`` pages: it copies the pages into the database file and syncs it. On the
gateway that COMMIT runs on the event loop, and under 20 x 20 load (every ~5.5 s, 64 MiB of WAL)
it took 60-160 ms of wall time and ~20 ms of CPU, during which the gateway answered nobody and
pushed nothing: the p99.9 of delivery (docs/PERFORMANCE.md). All three gateways apply the same
log at the same pace, so they stalled together.

:class:`Checkpointer` turns the automatic checkpoint off on the store's connection and instead runs
a PASSIVE checkpoint every ``every_s`` from a second connection in a worker thread (sqlite3
releases the GIL while SQLite copies and syncs). PASSIVE never waits for, or blocks, the writer
or readers; it copies what is committed and not in use by a reader, and once it has copied
everything, the store's next transaction starts the WAL from its beginning again, so the WAL
stays at about ``every_s`` worth of writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sqlite3
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

#: Seconds between background checkpoints (±25 %). Checkpointing every second costs CPU (each
#: checkpoint copies the hot pages again); every 5 s costs nothing measurable (docs/PERFORMANCE.md).
CHECKPOINT_EVERY_S = 5.0


class Checkpointer:
    """Runs the WAL checkpoints of the database at ``path`` for the connection ``store_conn``
    while ``serving()`` says the gateway serves; before that (a rebuild) SQLite's automatic
    checkpoint stays on."""

    def __init__(
        self,
        path: Path,
        store_conn: sqlite3.Connection,
        serving: Callable[[], bool] = lambda: True,
        every_s: float = CHECKPOINT_EVERY_S,
    ) -> None:
        self._path = path
        self._store_conn = store_conn
        self._serving = serving
        self._every_s = every_s
        #: Checkpoints tried, and the last result: (busy, frames in the WAL, frames copied).
        self.runs = 0
        self.last: tuple[int, int, int] | None = None

    async def run(self) -> None:
        """Runs until cancelled; restores the automatic checkpoint when it stops."""
        conn = sqlite3.connect(str(self._path), isolation_level=None, check_same_thread=False)
        before = int(self._store_conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
        running: asyncio.Future[tuple[int, int, int]] | None = None
        mine = False  # whether this task has taken the checkpoints over from SQLite
        try:
            while True:
                # Jittered, so that gateways started together (all three share one disk in a
                # local cluster) do not flush their checkpoints at the same moment.
                await asyncio.sleep(self._every_s * random.uniform(0.75, 1.25))
                # The PRAGMA runs only when the mode changes: while rebuilding, the store's COMMIT
                # may be running in a worker thread, and a statement on its connection would wait.
                if not self._serving():
                    # Rebuilding: its batches are committed off the loop already, and a checkpoint
                    # per 64 MiB of WAL is what the rebuild figures were measured with.
                    if mine:
                        self._store_conn.execute(f"PRAGMA wal_autocheckpoint={before}")
                        mine = False
                    continue
                if not mine:
                    self._store_conn.execute("PRAGMA wal_autocheckpoint=0")
                    mine = True
                running = asyncio.ensure_future(asyncio.to_thread(_checkpoint, conn))
                # Shielded: a cancelled wait must not leave the thread using a closed connection.
                try:
                    self.last = await asyncio.shield(running)
                except sqlite3.Error:
                    # The WAL keeps growing until one succeeds; the store's writes go on.
                    log.exception("WAL checkpoint of %s failed; trying again", self._path)
                running = None
                self.runs += 1
        finally:
            if mine:
                self._store_conn.execute(f"PRAGMA wal_autocheckpoint={before}")
            if running is not None:
                with contextlib.suppress(Exception):
                    await running
            conn.close()


def _checkpoint(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """(busy, frames in the WAL, frames checkpointed), as SQLite reports them."""
    busy, wal_frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(busy), int(wal_frames), int(copied)
