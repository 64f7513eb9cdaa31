"""Background tasks stop when stopped, even when a cancellation is lost (firebreak/tasks.py)."""

from __future__ import annotations

import asyncio
import contextlib
import sys

import pytest

from firebreak.tasks import cancel_all, stop_all


def _sampler(answer: asyncio.Future[int]) -> tuple[asyncio.Task[None], asyncio.Event]:
    """A loop around requests, as the bench's follower-lag sampler is: the first request's answer
    is ``answer``, later ones come after 10 ms (the sleeps stand for the requests and the pause
    between rounds). The event is set once a second round has begun."""
    ran_on = asyncio.Event()

    async def run() -> None:
        rounds = 0
        while True:
            await asyncio.wait_for(answer if not rounds else asyncio.sleep(0.01), 5)
            rounds += 1
            if rounds > 1:
                ran_on.set()
            await asyncio.sleep(0.02)

    return asyncio.create_task(run(), name="sampler"), ran_on


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="CPython 3.12 no longer loses it")
async def test_the_premise_a_cancellation_as_the_answer_comes_is_lost() -> None:
    answer = asyncio.get_running_loop().create_future()
    task, ran_on = _sampler(answer)
    await asyncio.sleep(0)  # one step: the task starts and waits for the answer
    answer.set_result(1)
    task.cancel()  # in the same loop step as the answer
    await asyncio.wait(
        [task, asyncio.create_task(ran_on.wait())], timeout=5, return_when=asyncio.FIRST_COMPLETED
    )
    assert ran_on.is_set() and not task.done(), "the loop runs on"
    assert await cancel_all([task]) == set()


async def test_a_loop_whose_cancellation_was_lost_is_stopped() -> None:
    answer = asyncio.get_running_loop().create_future()
    task, _ = _sampler(answer)
    await asyncio.sleep(0)
    answer.set_result(1)
    # Its first cancellation is made before it awaits anything: in the answer's loop step.
    assert await cancel_all([task], round_s=0.2) == set()
    assert task.done()


def _taking_back_one(taken_back: asyncio.Event) -> asyncio.Task[None]:
    """A task that carries on after its first cancellation (and sets ``taken_back``) and ends at
    the second."""

    async def run() -> None:
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                if taken_back.is_set():
                    raise
                taken_back.set()

    return asyncio.create_task(run())


async def test_a_caller_cancelled_while_stopping_tasks_is_cancelled_and_the_tasks_too() -> None:
    taken_back = asyncio.Event()
    task = _taking_back_one(taken_back)
    await asyncio.sleep(0)
    stopping = asyncio.create_task(cancel_all([task], round_s=10))
    await taken_back.wait()  # stopping is inside its first round's wait
    assert not task.done()
    stopping.cancel()
    await asyncio.wait([stopping, task], timeout=5)
    assert stopping.cancelled() and task.cancelled()


async def test_a_task_that_takes_back_one_cancellation_is_stopped() -> None:
    """Whatever the Python version: a task that carries on after a cancellation is cancelled again."""
    task = _taking_back_one(asyncio.Event())
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
