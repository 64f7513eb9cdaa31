"""The raw limit: JetStream publishes with 3 replicas from one Python process, no Firebreak code.

Runs against the same cluster, in the same run as the Firebreak measurement (pipelined before and
after it; the ratio uses the mean), so the ratio between them is fair. Uses its own stream
(``BENCH``, R3, file storage), deleted afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import msgspec
import nats.errors
import nats.js.errors
from nats.js.api import StorageType, StreamConfig

from firebreak.adapters import nats_connect
from firebreak.config import Config
from firebreak.retry import retry


class RawResult(msgspec.Struct, frozen=True):
    mode: str
    messages: int
    seconds: float
    per_s: float


async def raw_publish(
    config: Config, *, messages: int, size: int, pipelined: bool, window: int = 1000, when: str = ""
) -> RawResult:
    """Publishes ``messages`` and times them; ``when`` is added to the result's mode."""
    nc = await nats_connect.connect(config, prefer_dc=config.dcs[0].name, name="bench-raw")
    try:
        js = nc.jetstream(timeout=10)
        with contextlib.suppress(Exception):
            await js.delete_stream("BENCH")
        await js.add_stream(
            StreamConfig(name="BENCH", subjects=["bench.>"], num_replicas=3, storage=StorageType.FILE)
        )
        payload = b"x" * size
        # A fresh R3 stream may answer "no responders" until it has a leader.
        await retry(
            lambda: js.publish("bench.warm", payload, timeout=1),
            retry_on=(nats.errors.Error, nats.js.errors.Error, TimeoutError),
            deadline=time.monotonic() + 10,
        )
        start = time.perf_counter()
        if pipelined:
            for first in range(0, messages, window):
                batch = [
                    js.publish("bench.p", payload, timeout=30) for _ in range(min(window, messages - first))
                ]
                await asyncio.gather(*batch)
        else:
            for _ in range(messages):
                await js.publish("bench.s", payload, timeout=10)
        took = time.perf_counter() - start
        await js.delete_stream("BENCH")
        mode = f"pipelined (windows of {window})" if pipelined else "one at a time"
        mode = f"{mode}, {when}" if when else mode
        return RawResult(mode, messages, round(took, 3), round(messages / took, 1))
    finally:
        await nc.close()
