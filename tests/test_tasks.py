"""Background tasks stop when stopped, even when a cancellation is lost (firebreak/tasks.py)."""

from __future__ import annotations

import asyncio
import contextlib
import sys

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
    task, rounds = _sampler(answer)
    await _cancelled_as_answered(answer, task)
    if sys.version_info < (3, 12):  # the premise: one cancellation is not enough here
        done, _ = await asyncio.wait([task], timeout=0.2)
        assert not done and len(rounds) > 1
    assert await cancel_all([task], round_s=0.2) == set()
    assert task.done()


def _taking_back_one() -> asyncio.Task[None]:
    """A task that carries on after its first cancellation and ends at the second."""

    async def run() -> None:
        taken_back = False
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                if taken_back:
                    raise
                taken_back = True

    return asyncio.create_task(run())


async def test_a_caller_cancelled_while_stopping_tasks_is_cancelled_and_the_tasks_too() -> None:
    task = _taking_back_one()
    await asyncio.sleep(0)
    stopping = asyncio.create_task(cancel_all([task], round_s=10))
    await asyncio.sleep(0.05)  # inside its first round's wait, the first cancellation taken back
    assert not task.done()
    stopping.cancel()
    await asyncio.wait([stopping, task], timeout=5)
    assert stopping.cancelled() and task.cancelled()


async def test_a_task_that_takes_back_one_cancellation_is_stopped() -> None:
    """Whatever the Python version: a task that carries on after a cancellation is cancelled again."""
    task = _taking_back_one()
    await asyncio.sleep(0)
    await stop_all([task], round_s=0.5)
    assert task.cancelled()


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
