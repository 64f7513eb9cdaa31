"""Where stream leaders live, and moving them (a planned move takes ~23 ms; an election 4-9 s)."""

from __future__ import annotations

import asyncio
import json
import time

import nats.errors
import nats.js.errors

from firebreak.adapters.nats_log import SECRETS_BUCKET, connect
from firebreak.config import Config
from firebreak.domain.ids import ACCOUNTS_STREAM, room_stream


def stream_names(config: Config) -> list[str]:
    """Every stream whose leader matters: accounts, room partitions, and the secrets KV bucket."""
    return [ACCOUNTS_STREAM] + [room_stream(p) for p in range(config.partitions)] + [f"KV_{SECRETS_BUCKET}"]


async def leaders(config: Config) -> dict[str, str | None]:
    nc = await connect(config, prefer_dc=None, name="leadership")
    try:
        js = nc.jetstream(timeout=5.0)
        out: dict[str, str | None] = {}
        for name in stream_names(config):
            info = await js.stream_info(name)
            out[name] = info.cluster.leader if info.cluster else None
        return out
    finally:
        await nc.close()


async def move(config: Config, placement: dict[str, str], deadline_s: float = 20.0) -> dict[str, str | None]:
    """Asks each named stream's leader to step down in favour of the given DC; returns the leaders after."""
    nc = await connect(config, prefer_dc=None, name="leadership")
    try:
        js = nc.jetstream(timeout=5.0)
        end = time.monotonic() + deadline_s
        result: dict[str, str | None] = {}
        for stream, target in placement.items():
            while True:
                try:
                    info = await js.stream_info(stream)
                    leader = info.cluster.leader if info.cluster else None
                    if leader == target:
                        result[stream] = leader
                        break
                    await nc.request(
                        f"$JS.API.STREAM.LEADER.STEPDOWN.{stream}",
                        json.dumps({"placement": {"preferred": target}}).encode(),
                        timeout=5.0,
                    )
                except (TimeoutError, nats.errors.Error, nats.js.errors.Error):
                    pass
                if time.monotonic() > end:
                    result[stream] = None
                    break
                await asyncio.sleep(0.2)
        return result
    finally:
        await nc.close()


async def spread(config: Config) -> dict[str, str | None]:
    names = [d.name for d in config.dcs]
    return await move(config, {s: names[i % len(names)] for i, s in enumerate(stream_names(config))})
