"""The one retry helper: call until it works, backing off exponentially with jitter.

Used wherever Firebreak waits for something outside its control to become possible (the log
forming at start-up, a leader being elected, a stream answering). Callers choose which errors are
worth another try, whether there is a deadline, and what to report while waiting; the helper owns
the timing, so no module grows a loop of its own.
"""

from __future__ import annotations

import asyncio
import inspect
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from firebreak.errors import FirebreakError

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """Delays of ``first_s``, then ``factor`` times the last, at most ``max_s``, each jittered by
    ``±jitter`` (a fraction) so that processes started together do not retry in lockstep."""

    first_s: float = 0.05
    max_s: float = 2.0
    factor: float = 2.0
    jitter: float = 0.2

    def delays(self) -> Iterator[float]:
        delay = self.first_s
        while True:
            yield delay * (1 + random.uniform(-self.jitter, self.jitter))
            delay = min(delay * self.factor, self.max_s)


async def retry(
    fn: Callable[[], Awaitable[T]],
    *,
    retry_on: tuple[type[BaseException], ...],
    deadline: float | None = None,
    backoff: Backoff = Backoff(),
    on_retry: Callable[[BaseException], None] | None = None,
) -> T:
    """Awaits ``fn()`` until it returns; an error in ``retry_on`` is tried again after the next
    delay, any other error propagates. With ``deadline`` (``time.monotonic()`` seconds) the last
    error propagates once the next try would start after it; without one it tries for as long as
    the caller's task runs (cancel it to stop). ``on_retry`` hears each error that is retried.
    An error that says when to ask again (a FirebreakError's ``retry_after_s``, from a server's
    ``Retry-After``) is not asked again sooner."""
    delays = backoff.delays()
    while True:
        try:
            return await fn()
        except retry_on as exc:
            delay = next(delays)
            if isinstance(exc, FirebreakError) and exc.retry_after_s is not None:
                delay = max(delay, float(exc.retry_after_s))
            if deadline is not None and time.monotonic() + delay > deadline:
                raise
            if on_retry is not None:
                on_retry(exc)
        await asyncio.sleep(delay)


async def unless(work: Awaitable[T], stop: asyncio.Future[BaseException]) -> T:
    """``work``'s result, unless ``stop`` is done first: then ``work`` is cancelled and the error
    ``stop`` holds is raised. ``stop`` may be shared by many waiters and is never cancelled here.
    With ``stop`` done already, ``work`` is not begun.

    ``work`` runs in the caller's task, and ``stop`` cancels that task through a callback: a task
    and a wait per call would cost every append more than the append's own bookkeeping. Should
    ``work`` finish in the same loop step as ``stop``, the answer may be lost to the cancel; the
    callers' writes are idempotent, so the client's retry is answered as a duplicate."""
    if stop.done():
        if inspect.iscoroutine(work):
            work.close()
        raise stop.result()
    task = asyncio.current_task()
    assert task is not None, "unless() runs in a task"
    stopped = False
    waiting = True

    def on_stop(_: asyncio.Future[BaseException]) -> None:
        nonlocal stopped
        if waiting:
            stopped = True
            task.cancel()

    stop.add_done_callback(on_stop)
    try:
        return await work
    except asyncio.CancelledError:
        # Ours only if no one else cancelled the task too: theirs goes on as a cancellation.
        if stopped and task.uncancel() == 0:
            raise stop.result() from None
        raise
    finally:
        waiting = False
        stop.remove_done_callback(on_stop)
