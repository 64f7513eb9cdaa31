"""The one retry helper: which errors are tried again, deadlines, and a server's Retry-After."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from firebreak.errors import FirebreakError, RateLimited
from firebreak.retry import Backoff, retry, unless


def failing(errors: list[BaseException]) -> Callable[[], Awaitable[str]]:
    async def fn() -> str:
        if errors:
            raise errors.pop(0)
        return "done"

    return fn


async def test_retries_the_named_errors_with_growing_delays(slept: list[float]) -> None:
    errors: list[BaseException] = [OSError("a"), OSError("b"), OSError("c")]
    heard: list[BaseException] = []
    result = await retry(
        failing(errors),
        retry_on=(OSError,),
        backoff=Backoff(first_s=0.1, max_s=0.3, jitter=0),
        on_retry=heard.append,
    )
    assert result == "done" and slept == [0.1, 0.2, 0.3] and len(heard) == 3


async def test_other_errors_and_a_passed_deadline_propagate(slept: list[float]) -> None:
    with pytest.raises(ValueError):
        await retry(failing([ValueError()]), retry_on=(OSError,))
    with pytest.raises(OSError):
        await retry(failing([OSError()] * 5), retry_on=(OSError,), deadline=time.monotonic())
    assert slept == []


async def test_a_server_saying_when_to_come_back_is_not_asked_sooner(slept: list[float]) -> None:
    errors: list[BaseException] = [RateLimited("slow down", retry_after_s=3), RateLimited("again")]
    await retry(failing(errors), retry_on=(FirebreakError,), backoff=Backoff(jitter=0))
    assert slept[0] == 3.0, "Retry-After: 3"
    assert slept[1] < 1, "no Retry-After: the backoff's own delay"
    with pytest.raises(RateLimited):  # waiting 60 s would pass the deadline: give up now
        await retry(
            failing([RateLimited("later", retry_after_s=60)]),
            retry_on=(RateLimited,),
            deadline=time.monotonic() + 10,
        )


async def test_unless_ends_the_wait_on_stop_and_leaves_other_cancellations_alone() -> None:
    loop = asyncio.get_running_loop()
    never: asyncio.Future[str] = loop.create_future()
    stop: asyncio.Future[BaseException] = loop.create_future()
    waiting = asyncio.ensure_future(unless(never, stop))
    await asyncio.sleep(0)
    stop.set_result(RateLimited("cut off", code="dc_cut_off"))
    with pytest.raises(RateLimited):
        await waiting
    assert never.cancelled(), "the work is cancelled, not left running"

    # A cancellation from outside stays a cancellation, even with stop done by then.
    other: asyncio.Future[str] = loop.create_future()
    stop2: asyncio.Future[BaseException] = loop.create_future()
    outer = asyncio.ensure_future(unless(other, stop2))
    await asyncio.sleep(0)
    outer.cancel()
    stop2.set_result(RateLimited("cut off", code="dc_cut_off"))
    with pytest.raises(asyncio.CancelledError):
        await outer

    # An answer in hand before the stop is kept; a stop already done begins nothing.
    done: asyncio.Future[str] = loop.create_future()
    done.set_result("acked")
    assert await unless(done, loop.create_future()) == "acked"
    with pytest.raises(RateLimited):
        await unless(failing([])(), stop)
