"""Stopping background tasks so that they do stop.

Python 3.11's ``asyncio.wait_for`` loses a cancellation that arrives in the same loop step as
the result it waits for (CPython gh-86296, fixed in 3.12): it returns the result, and the task
runs on. nats-py waits for every request's answer with ``wait_for``, so a loop around requests
(a reader, a sampler) that is cancelled once can miss it and never end, and whoever awaits it
after cancelling waits for good; so can any task that takes a cancellation back. So a task is
cancelled again until it ends, within a bound: a lost cancellation leaves the task awaiting
something else, which the next one interrupts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

#: How long each round waits for the tasks cancelled in it, and how many rounds there are.
ROUND_S = 1.0
ROUNDS = 5


async def cancel_all(
    tasks: Iterable[asyncio.Task[Any]], *, round_s: float = ROUND_S, rounds: int = ROUNDS
) -> set[asyncio.Task[Any]]:
    """Cancels ``tasks`` until each has ended, at most ``rounds`` times, waiting up to ``round_s``
    after each; returns those still running then. What the ended ones raised is left in them
    (:func:`raise_failure` raises it)."""
    pending = {task for task in tasks if not task.done()}
    for _ in range(rounds):
        if not pending:
            break
        for task in pending:
            task.cancel()
        try:
            _, pending = await asyncio.wait(pending, timeout=round_s)
        except asyncio.CancelledError:
            # The caller is being cancelled: one more cancellation each, and what they end with
            # is read when they end (no "exception was never retrieved" later).
            for task in pending:
                task.cancel()
                task.add_done_callback(failures_of_one)
            raise
    return pending


async def stop_all(
    tasks: Iterable[asyncio.Task[Any]], *, round_s: float = ROUND_S, rounds: int = ROUNDS
) -> None:
    """:func:`cancel_all`, then raises what went wrong: a task that would not stop, or the first
    exception (other than its cancellation) a task ended with."""
    tasks = list(tasks)
    running = await cancel_all(tasks, round_s=round_s, rounds=rounds)
    if running:
        names = sorted(task.get_name() for task in running)
        raise RuntimeError(f"{len(running)} tasks did not stop after {rounds} cancellations: {names}")
    raise_failure(tasks)


def failures(tasks: Iterable[asyncio.Task[Any]]) -> list[BaseException]:
    """What the ended ``tasks`` raised, other than their cancellation, in their order."""
    return [failure for task in tasks for failure in failures_of_one(task)]


def failures_of_one(task: asyncio.Task[Any]) -> list[BaseException]:
    if not task.done() or task.cancelled():
        return []
    failure = task.exception()
    return [] if failure is None else [failure]


def raise_failure(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Raises the first exception, other than a cancellation, that one of the ended ``tasks``
    ended with."""
    for failure in failures(tasks):
        raise failure
