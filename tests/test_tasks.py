"""Background tasks stop when stopped, even when a cancellation is lost (firebreak/tasks.py)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from firebreak.tasks import cancel_all, stop_all


def _sampler(answer: asyncio.Future[int]) -> tuple[asyncio.Task[None], list[int]]:
    """A loop around requests, as the bench's follower-lag sampler is: the first request's answer
    is ``answer``, later ones come after 10 ms."""
    rounds: list[int] = []

    async def run() -> None:
        while True:
            rounds.append(await asyncio.wait_for(answer if not rounds else asyncio.sleep(0.01, 1), 5))
            await asyncio.sleep(0.02)

    return asyncio.create_task(run(), name="sampler"), rounds


async def _cancelled_as_answered(answer: asyncio.Future[int], task: asyncio.Task[None]) -> None:
    """The cancellation arrives in the same loop step as the answer: Python 3.11's ``wait_for``
    then returns the answer and the cancellation is lost."""
    await asyncio.sleep(0.01)  # the task waits for the answer
    answer.set_result(1)
    task.cancel()


async def test_a_loop_whose_cancellation_was_lost_is_stopped() -> None:
    answer = asyncio.get_running_loop().create_future()
    task, _ = _sampler(answer)
    await _cancelled_as_answered(answer, task)
    assert await cancel_all([task], round_s=1.0) == set()
    assert task.done()


async def test_a_task_that_takes_back_one_cancellation_is_stopped() -> None:
    """Whatever the Python version: a task that carries on after a cancellation is cancelled again."""
    taken_back = 0

    async def run() -> None:
        nonlocal taken_back
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                if taken_back:
                    raise
                taken_back += 1

    task = asyncio.create_task(run())
    await asyncio.sleep(0)
    await stop_all([task], round_s=0.5)
    assert task.cancelled() and taken_back == 1


async def test_stop_all_raises_what_a_task_raised() -> None:
    async def fails() -> None:
        raise ValueError("broken")

    task = asyncio.create_task(fails())
    await asyncio.sleep(0)
    with pytest.raises(ValueError, match="broken"):
        await stop_all([task])


async def test_stop_all_names_a_task_that_would_not_stop() -> None:
    giving_up = asyncio.Event()

    async def stubborn() -> None:
        while not giving_up.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(10)

    task = asyncio.create_task(stubborn(), name="stubborn")
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="stubborn"):
        await stop_all([task], round_s=0.01, rounds=3)
    giving_up.set()
    task.cancel()
    await asyncio.wait([task], timeout=5)
    assert task.done()
