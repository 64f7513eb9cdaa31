"""WAL checkpoints of a read model, off the gateway's event loop.

SQLite checkpoints a WAL database from inside the COMMIT that pushes the WAL past
``wal_autocheckpoint`` pages: it copies the pages into the database file and syncs it. On the
gateway that COMMIT runs on the event loop, and under 20 x 20 load (every ~5.5 s, 64 MiB of WAL)
it took 60-160 ms of wall time and ~20 ms of CPU, during which the gateway answered nobody and
pushed nothing: the p99.9 of delivery (docs/PERFORMANCE.md). All three gateways apply the same
log at the same pace, so they stalled together.

:class:`Checkpointer` turns the automatic checkpoint off on the store's connection and instead runs
PASSIVE checkpoints every ``every_s`` from a second connection in a worker thread (sqlite3
releases the GIL while SQLite copies and syncs). PASSIVE never waits for, or blocks, the writer
or readers; it copies what is committed and not in use by a reader.

Copying is not enough to keep the WAL small: SQLite starts the WAL from its beginning again only
when a write transaction begins while every frame in it is copied. A serving projector keeps a
transaction open nearly all the time (it commits every 500 ms), so under any steady load (100
messages a second was enough, with 50 ms then) the thread never finished between two COMMITs, and
the WAL grew for
as long as the load lasted, every frame extending the file (docs/PERFORMANCE.md, "The read
model's WAL"). So the thread copies the bulk, in up to ``PASSES`` passes while each finds more
than ``TAIL_FRAMES`` new frames; then the projector, after its next COMMIT, waits for one more
pass (at most ``FINAL_WAIT_S``) before it begins the next transaction
(:meth:`Checkpointer.after_commit`), which then starts the WAL over. The event loop goes on
serving meanwhile; only applying waits, for about a commit interval's frames to be copied and the
file synced. The WAL stays at about ``every_s`` worth of writes.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

log = logging.getLogger(__name__)

#: Seconds between background checkpoints (±25 %): each copies the pages written since the last
#: one, and the hot ones are written again and again (docs/DECISIONS.md).
CHECKPOINT_EVERY_S = 5.0
#: Passes the thread makes in a row, each copying what was committed during the one before ...
PASSES = 3
#: ... until one finds no more new frames than this (a frame is a 4 KiB page): the last pass, which
#: applying waits for, copies only what came after. A WAL no larger than this is not worth a last
#: pass.
TAIL_FRAMES = 256
#: Applying waits at most this long for the last pass; then it goes on (the pass still finishes, and
#: the WAL starts over at a later checkpoint).
FINAL_WAIT_S = 0.5


class Checkpointer:
    """Runs the WAL checkpoints of the database at ``path`` for the connection ``store_conn``
    while the gateway serves (:meth:`run`); before that (a rebuild) SQLite's automatic checkpoint
    stays on."""

    def __init__(
        self,
        path: Path,
        store_conn: sqlite3.Connection,
        every_s: float = CHECKPOINT_EVERY_S,
    ) -> None:
        self._path = path
        self._store_conn = store_conn
        self._every_s = every_s
        #: Checkpoints tried, and the last result: (busy, frames in the WAL, frames copied).
        self.runs = 0
        self.last: tuple[int, int, int] | None = None
        #: Last passes that applying waited for (or stopped waiting for).
        self.finals = 0
        #: The thread's connection, while :meth:`run` runs and has taken the checkpoints over.
        self._conn: sqlite3.Connection | None = None
        #: While :meth:`run` runs, one thread of its own: a pass never waits behind other work
        #: (password hashes, images) in the loop's shared pool, two passes never use the
        #: connection at once, and the connection is closed after the last pass, in the same queue.
        self._thread: ThreadPoolExecutor | None = None
        #: Frames in the WAL at the last checkpoint that was not kept out by another one.
        self._wal_frames = 0
        #: Set when the thread has copied the bulk: the next COMMIT asks for the last pass.
        self._final_due = False

    @property
    def wal_frames(self) -> int:
        """Frames in the WAL at the last checkpoint (0 before the first)."""
        return self._wal_frames

    def after_commit(self) -> asyncio.Future[None] | None:
        """Called by the projector just after a COMMIT of the store's connection, with no
        transaction open. When the thread has copied the bulk, starts the last pass and returns
        what the projector waits for before it begins another transaction: with nothing committed
        meanwhile, that pass leaves every frame copied, and the next transaction starts the WAL
        over. Else None."""
        if not self._final_due or self._conn is None or self._thread is None:
            return None
        self._final_due = False
        running = asyncio.get_running_loop().run_in_executor(self._thread, _checkpoint, self._conn)
        return asyncio.ensure_future(self._final(running))

    async def _final(self, running: asyncio.Future[tuple[int, int, int]]) -> None:
        # Whatever happens to the pass, applying goes on: at worst the WAL grows until a later
        # checkpoint starts it over.
        try:
            await asyncio.wait_for(asyncio.shield(running), FINAL_WAIT_S)
        except TimeoutError:
            log.warning("WAL checkpoint of %s took over %s s; applying goes on", self._path, FINAL_WAIT_S)
            running.add_done_callback(_retrieve)
        except asyncio.CancelledError:
            running.add_done_callback(_retrieve)
            raise
        except Exception:
            log.exception("WAL checkpoint of %s failed; trying again later", self._path)
        self.finals += 1

    async def run(self, serving: Callable[[], bool] = lambda: True) -> None:
        """Runs until cancelled, checkpointing while ``serving()`` says the gateway serves;
        restores the automatic checkpoint when it stops."""
        conn = sqlite3.connect(str(self._path), isolation_level=None, check_same_thread=False)
        before = int(self._store_conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
        loop = asyncio.get_running_loop()
        thread = self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wal-checkpoint")
        try:
            while True:
                # Jittered, so that gateways started together (all three share one disk in a
                # local cluster) do not flush their checkpoints at the same moment.
                await asyncio.sleep(self._every_s * random.uniform(0.75, 1.25))
                # The PRAGMA runs only when the mode changes: while rebuilding, the store's COMMIT
                # may be running in a worker thread, and a statement on its connection would wait.
                if not serving():
                    # Rebuilding: its batches are committed off the loop already, and a checkpoint
                    # per 64 MiB of WAL is what the rebuild figures were measured with.
                    if self._conn is not None:
                        self._store_conn.execute(f"PRAGMA wal_autocheckpoint={before}")
                        self._conn = None
                    continue
                if self._conn is None:
                    self._store_conn.execute("PRAGMA wal_autocheckpoint=0")
                    self._conn = conn
                self._final_due = False
                try:
                    self.last = await loop.run_in_executor(thread, _passes, conn)
                except sqlite3.Error:
                    # The WAL keeps growing until one succeeds; the store's writes go on.
                    log.exception("WAL checkpoint of %s failed; trying again", self._path)
                else:
                    busy, frames, _ = self.last
                    # Busy: another connection holds the checkpoint (a drill's, an operator's), and
                    # SQLite tells nothing of the WAL. A small WAL is not worth a last pass; the
                    # frames counted go on from the last restart, so a later one will be.
                    if busy == 0:
                        self._wal_frames = frames
                    self._final_due = busy == 0 and frames > TAIL_FRAMES
                self.runs += 1
        finally:
            self._final_due = False
            try:
                if self._conn is not None:
                    self._conn = None
                    self._store_conn.execute(f"PRAGMA wal_autocheckpoint={before}")
            finally:
                # Behind any pass still running, whether or not anyone waits for it.
                self._thread = None
                thread.submit(conn.close)
                thread.shutdown(wait=False)


def _retrieve(done: asyncio.Future[tuple[int, int, int]]) -> None:
    """Takes a pass's outcome that nobody waits for any more (a failure is logged)."""
    if not done.cancelled() and done.exception() is not None:
        log.error("WAL checkpoint failed", exc_info=done.exception())


def _passes(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """Up to PASSES checkpoints in a row, until one finds at most TAIL_FRAMES frames that the one
    before had not seen, or the checkpoint busy; the last one's result."""
    result = _checkpoint(conn)
    for _ in range(PASSES - 1):
        seen = result[1]
        if result[0] != 0 or result[1] <= TAIL_FRAMES:
            break
        result = _checkpoint(conn)
        if result[1] - seen <= TAIL_FRAMES:
            break
    return result


def _checkpoint(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """(busy, frames in the WAL, frames checkpointed), as SQLite reports them."""
    busy, wal_frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(busy), int(wal_frames), int(copied)
