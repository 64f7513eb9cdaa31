"""Builds a DC's read model from the log and tells everyone who is waiting.

All replica readers feed one queue; one task drains it in batches and applies each batch, rows and
new log positions together, in a SQLite transaction. Once a batch is applied, still without
yielding to the event loop, it advances the in-memory ``head`` and pushes the accepted events to
the live hub. That ordering is what the WebSocket catch-up relies on: any event with a sequence
above a ``head`` read by a session was pushed after that read (see service/sessions.py).

While serving, batches are small (from a few entries to some tens under load), and a COMMIT per
batch wrote every page the batch touched (19 WAL frames for 4 messages), the same pages again for
the next batch, and stalled the event loop each time. So the transaction stays open across batches
and is committed ``commit_every_s`` after it began (``read_model_commit_s`` in the config, 500 ms
by default; :meth:`Projector.apply_batch_open`). Each batch is still applied and flushed before
``head`` advances and before anything is pushed, and every API read goes through the same
connection, so what is served is exactly what ``head`` says; nothing waits for the COMMIT. A crash
loses only this DC's copy of the applies since the last COMMIT, together with the log positions
that say so, and the restarted gateway reads them again from the log before it serves (the log is
the truth).

While the DC is still catching up (it serves nobody) batches are larger, each is committed, and
the COMMIT runs in a worker thread; ``head`` advances only after it (see
:meth:`Projector.apply_batch_catching_up`).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import Awaitable, Callable

from firebreak.adapters.replica_reader import Entry
from firebreak.adapters.sqlite_store import SqliteStore
from firebreak.config import READ_MODEL_COMMIT_S
from firebreak.domain.events import Event
from firebreak.domain.ids import ACCOUNTS_STREAM, WALLETS_STREAM, Cursor, room_stream
from firebreak.domain.model import Applied
from firebreak.errors import Unavailable
from firebreak.service.projector_apply import BatchApplier

#: Entries per transaction while serving: bounds how long one apply holds the event loop.
MAX_BATCH = 1000
#: ... and while catching up (rebuild; the DC answers nobody yet): each commit writes every page the
#: batch touched, and consecutive batches touch the same index pages, so bigger batches are much
#: cheaper per entry (measured over 200k messages: 17.9k events/s at 1,000, 31.4k at 10,000).
CATCH_UP_BATCH = 10_000
#: While catching up, the projector waits for a full batch in steps of CATCH_UP_STEP_S, for at most
#: CATCH_UP_WAIT_S, and stops waiting as soon as a step brought nothing new (readers are idle).
CATCH_UP_STEP_S = 0.005
CATCH_UP_WAIT_S = 0.5
#: Readers pull no further while this many entries wait to be applied (bounds memory in catch-up).
MAX_BACKLOG = 2 * CATCH_UP_BATCH
#: Put into the queue by the commit timer: wakes the projector task, which owns every COMMIT.
_COMMIT_DUE: Entry = ("", 0, b"")


class Projector:
    def __init__(
        self,
        store: SqliteStore,
        partitions: int,
        publish: Callable[[list[Applied]], None],
        commit_every_s: float = READ_MODEL_COMMIT_S,
        revoked: Callable[[str, str], object] = lambda user_id, session_id: None,
        observe: Callable[[list[Event]], object] | None = None,
        *,
        catching_up: bool = False,
        after_commit: Callable[[], Awaitable[None] | None] = lambda: None,
    ) -> None:
        """``catching_up``: start in the catching-up mode (a gateway that serves nobody yet); the
        gateway's readiness ends it with :meth:`start_serving`. ``after_commit``: called after
        each COMMIT while serving, with no transaction open; what it returns, if anything, is
        waited for before the next batch is applied (the WAL checkpoint's last pass:
        adapters/sqlite_checkpoint.py)."""
        self._store = store
        #: The mode: large committed batches while catching up, small ones once serving.
        self.catching_up = catching_up
        #: Told of every event of each applied batch (decoded, accepted by the rules or not), before
        #: anyone waiting for the batch is woken: the write limits count them (service/ratelimit.py).
        self._observe = observe
        #: Told of each session ended (user id, session id): a logout, a log out everywhere, a
        #: password change; before the batch's events are pushed.
        self._revoked = revoked
        self._commit_every_s = commit_every_s
        self._after_commit = after_commit
        #: What :meth:`run` waits for before it applies another batch (from ``after_commit``).
        self._pause: Awaitable[None] | None = None
        # Set while a transaction is open across batches: the timer that will ask for its COMMIT.
        self._commit_timer: asyncio.TimerHandle | None = None
        self._applier = BatchApplier(store, partitions, observing=observe is not None)
        self._partitions = partitions
        self._publish = publish
        self.queue: asyncio.Queue[Entry] = asyncio.Queue()
        positions = store.positions()
        self.head: dict[str, int] = {
            s: positions.get(s, 0) for s in [ACCOUNTS_STREAM, WALLETS_STREAM, *self._applier.room_streams]
        }
        # Waiters per stream: heap of (seq, tiebreak, future).
        self._waiters: dict[str, list[tuple[int, int, asyncio.Future[None]]]] = {s: [] for s in self.head}
        self._tiebreak = itertools.count()
        self._drained = asyncio.Event()
        self._advanced = asyncio.Event()

    def head_cursor(self) -> Cursor:
        return Cursor([self.head[room_stream(p)] for p in range(self._partitions)])

    async def wait_for(self, stream: str, seq: int, within_s: float = 10.0) -> None:
        """Returns once ``stream`` is applied up to ``seq`` in this DC's read model."""
        if self.head[stream] >= seq:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters[stream], (seq, next(self._tiebreak), fut))
        try:
            await asyncio.wait_for(fut, within_s)
        except TimeoutError as exc:
            raise Unavailable(f"this DC's read model has not reached {stream}#{seq} yet; retry") from exc

    def apply_batch(self, batch: list[Entry]) -> list[Applied]:
        """Applies and commits one batch, then advances ``head`` and wakes waiters (no awaits)."""
        self.commit()
        try:
            with self._store.transaction():
                applied, last = self._applier.apply(batch)
        except BaseException:
            self._applier.forget()
            raise
        self._committed()
        self._advance(applied, last)
        return applied

    def apply_batch_open(self, batch: list[Entry]) -> list[Applied]:
        """Applies one batch inside the open transaction (beginning one, and timing its COMMIT,
        if none is open), flushes it, then advances ``head`` and wakes waiters (no awaits).

        The rows are visible through this store's connection at once and reach the file with the
        COMMIT that :meth:`run` makes within ``commit_every_s``. If applying fails, everything since
        the last COMMIT is rolled back and ``head`` goes back to the committed positions, so it never
        claims rows the read model does not hold; the error propagates.
        """
        store = self._store
        if self._commit_timer is None:
            store.begin()
            self._commit_timer = asyncio.get_running_loop().call_later(
                self._commit_every_s, self.queue.put_nowait, _COMMIT_DUE
            )
        try:
            applied, last = self._applier.apply(batch)
            store.flush()
        except BaseException:
            self._abandon()
            raise
        self._advance(applied, last)
        return applied

    def commit(self) -> None:
        """COMMITs the transaction that :meth:`apply_batch_open` left open, if any."""
        timer = self._commit_timer
        if timer is None:
            return
        timer.cancel()
        try:
            self._store.commit()
        except BaseException:
            self._abandon()
            raise
        self._commit_timer = None
        self._committed()

    def _committed(self) -> None:
        """After a serving COMMIT: asks ``after_commit`` what to wait for, unless a wait is due."""
        if self._pause is None:
            self._pause = self._after_commit()

    def _abandon(self) -> None:
        """Rolls back the open transaction and puts ``head`` back where the file is."""
        if self._commit_timer is not None:
            self._commit_timer.cancel()
            self._commit_timer = None
        self._applier.forget()
        self._store.rollback()
        committed = self._store.positions()
        for stream in self.head:
            self.head[stream] = committed.get(stream, 0)

    async def apply_batch_catching_up(self, batch: list[Entry]) -> list[Applied]:
        """As :meth:`apply_batch`, but the COMMIT runs in a worker thread.

        Only while catching up: the COMMIT is about a fifth of a rebuild's time, and sqlite3 lets
        go of the GIL for it, so the event loop parses the readers' next replies meanwhile.
        Nothing else writes the store (all writes are applies, and this is the only applier);
        until caught up the gateway refuses API calls and WebSockets, so nobody reads either. If
        readiness turns true during the commit, an API read on the loop waits on the SQLite
        connection's mutex until the commit ends. ``head`` still advances only after the commit,
        and the commit is the only await between applying and advancing.
        """
        store = self._store
        store.begin()
        try:
            applied, last = self._applier.apply(batch)
            store.flush()
            await asyncio.to_thread(store.commit)
        except BaseException:
            self._applier.forget()
            store.rollback()
            raise
        self._advance(applied, last)
        return applied

    def _advance(self, applied: list[Applied], last: dict[str, int]) -> None:
        applier = self._applier
        if applier.observed and self._observe is not None:
            self._observe(applier.observed)
            applier.observed = []
        self._advanced.set()
        for stream, seq in last.items():
            self.head[stream] = seq
            waiters = self._waiters[stream]
            while waiters and waiters[0][0] <= seq:
                _, _, fut = heapq.heappop(waiters)
                if not fut.done():
                    fut.set_result(None)
        if applier.revocations:
            # First: a logged-out session gets nothing of this batch, whatever its order.
            for user_id, session_id in applier.revocations:
                self._revoked(user_id, session_id)
            applier.revocations.clear()
        if applied:
            self._publish(applied)

    async def wait_for_room(self) -> None:
        """Returns once fewer than MAX_BACKLOG entries wait in the queue."""
        while self.queue.qsize() >= MAX_BACKLOG:
            self._drained.clear()
            await self._drained.wait()

    async def _fill(self, limit: int) -> None:
        """Waits until ``limit`` entries are queued, the readers stop adding, or CATCH_UP_WAIT_S."""
        waited = 0.0
        size = self.queue.qsize()
        while size < limit and waited < CATCH_UP_WAIT_S:
            await asyncio.sleep(CATCH_UP_STEP_S)
            waited += CATCH_UP_STEP_S
            if self.queue.qsize() == size:
                return
            size = self.queue.qsize()

    async def next_batch(self, within_s: float) -> None:
        """Returns once another batch has been applied, or after ``within_s`` seconds."""
        self._advanced.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._advanced.wait(), within_s)

    def start_serving(self) -> None:
        """Ends the catching-up mode: from the next batch on, small batches for low latency."""
        self.catching_up = False

    async def run(self) -> None:
        while True:
            if self._pause is not None:
                pause, self._pause = self._pause, None
                await pause
            batch = [await self.queue.get()]
            catching_up = self.catching_up
            limit = CATCH_UP_BATCH if catching_up else MAX_BATCH
            if catching_up:
                # Catching up: let the readers fill the batch instead of committing whatever the
                # first wake-up found; each commit costs about the same whatever its size
                # (latency does not matter: nobody is served yet).
                await self._fill(limit)
            while len(batch) < limit:
                try:
                    batch.append(self.queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            self._drained.set()
            due = _COMMIT_DUE in batch  # no real entry has an empty stream name
            if due:
                batch = [entry for entry in batch if entry is not _COMMIT_DUE]
            if catching_up:
                self.commit()
                if batch:
                    await self.apply_batch_catching_up(batch)
            elif self._commit_every_s <= 0:
                if batch:
                    self.apply_batch(batch)
            else:
                if batch:
                    self.apply_batch_open(batch)
                if due:
                    self.commit()

    def close(self) -> None:
        """COMMITs what is open; for a clean shutdown, after the :meth:`run` task has ended (it
        only stops between batches). Without it, a restart reads those entries again from the log."""
        self.commit()
