"""The client library's hooks for long-lived callers (the terminal chat): a call with no deadline
that reports each retry, and a live connection that reports each state with its DC. No cluster:
the DCs here are closed loopback ports."""

from __future__ import annotations

import asyncio
import math

import pytest

from firebreak.client import Client, LiveConnection, LiveState
from firebreak.errors import FirebreakError
from firebreak.localcluster import free_ports
from tests.helpers import eventually


async def test_a_call_without_deadline_keeps_trying_and_reports_each_retry() -> None:
    urls = [f"http://127.0.0.1:{port}" for port in free_ports(2)]
    heard: list[str] = []
    async with Client(urls, retry_deadline=0.1) as client:
        forever = client.request(
            "GET", "/healthz", type=dict, deadline_s=math.inf, on_retry=lambda e: heard.append(e.code)
        )
        call = asyncio.create_task(forever)

        async def retried_past_the_default_deadline() -> bool:
            return len(heard) >= 6 and not call.done()

        await eventually(retried_past_the_default_deadline, what="retries beyond retry_deadline")
        call.cancel()
        assert set(heard) == {"unreachable"}
        with pytest.raises(FirebreakError):  # the default deadline still applies to other calls
            await client.request("GET", "/healthz", type=dict)


async def test_live_connection_reports_states_with_their_dc() -> None:
    urls = [f"ws://127.0.0.1:{port}/v1/ws" for port in free_ports(3)]
    seen: list[tuple[LiveState, int]] = []
    live = LiveConnection(urls, lambda: "token", preferred=1, max_backoff=0.05)
    live.on_change(lambda state, dc: seen.append((state, dc)))
    live.start()

    async def went_round() -> bool:
        return len(seen) >= 6

    await eventually(went_round, what="two failed connection attempts")
    await live.close()
    assert seen[:4] == [
        (LiveState.CONNECTING, 1),
        (LiveState.BACKOFF, 1),  # BACKOFF names the DC just lost ...
        (LiveState.CONNECTING, 2),  # ... CONNECTING the one tried next
        (LiveState.BACKOFF, 2),
    ]
    assert seen[-1][0] is LiveState.CLOSED
