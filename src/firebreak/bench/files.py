"""``firebreak bench --files N``: attachments' upload and download throughput through the real API
(docs/FILES.md), next to the raw object-store rate measured in the same run on the same cluster.

Raw: ``ObjectFiles.put`` and ``get`` (the gateway's own adapter: R3 publishes of 256 KiB chunks
and reads from the leader) from this process, one at a time and ``concurrency`` at once.
Firebreak: ``concurrency`` clients, spread over the DCs, each uploading its share of the files
(start, chunks, complete: replicated chunks, assembly, sha256, the object write and the
``file_stored`` event) and then downloading them from the next DC. Files are random bytes (no
thumbnail work); every download is compared with what was sent.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable

import msgspec

from firebreak.adapters import nats_connect
from firebreak.adapters.object_files import ObjectFiles
from firebreak.bench.latency import Latency, latency
from firebreak.client import Client
from firebreak.config import Config
from firebreak.localcluster import LocalCluster

PASSWORD = "bench password"


class Rate(msgspec.Struct, frozen=True):
    mode: str
    files: int
    seconds: float
    files_per_s: float
    mb_per_s: float
    latency: Latency


class FilesResult(msgspec.Struct, frozen=True):
    started_at: str
    files: int
    size: int
    concurrency: int
    raw: list[Rate]
    firebreak: list[Rate]
    identical: bool


async def _timed(
    mode: str, count: int, size: int, concurrency: int, op: Callable[[int], Awaitable[None]]
) -> Rate:
    took: list[float] = []
    queue = list(range(count))

    async def worker() -> None:
        while queue:
            i = queue.pop()
            t = time.perf_counter()
            await op(i)
            took.append(time.perf_counter() - t)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - start
    return Rate(
        mode=mode,
        files=count,
        seconds=round(seconds, 3),
        files_per_s=round(count / seconds, 1),
        mb_per_s=round(count * size / seconds / 1e6, 1),
        latency=latency(took),
    )


async def run_files_bench(
    config: Config, *, files: int, size: int, concurrency: int, say: Callable[[str], None]
) -> FilesResult:
    cluster = LocalCluster(config)
    started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    payloads = [os.urandom(size) for _ in range(files)]
    urls = [dc.http_url for dc in config.dcs]
    clients: list[Client] = []
    try:
        say("starting the cluster ...")
        await cluster.start()
        nc = await nats_connect.connect(config, prefer_dc=config.dcs[0].name, name="bench-files")
        try:
            store = ObjectFiles(nc.jetstream(timeout=10))
            raw: list[Rate] = []
            for mode, n in (("raw put, one at a time", 1), (f"raw put, {concurrency} at once", concurrency)):
                say(f"{mode} ...")
                tag = f"{n}-{time.monotonic_ns()}"

                async def put(i: int, tag: str = tag) -> None:
                    await store.put(f"bench-{tag}-{i}", payloads[i])

                async def get(i: int, tag: str = tag) -> None:
                    if await store.get(f"bench-{tag}-{i}") != payloads[i]:
                        raise AssertionError("the object store gave other bytes")

                raw.append(await _timed(mode, files, size, n, put))
                raw.append(await _timed(mode.replace("put", "get"), files, size, n, get))
        finally:
            await nc.close()
        say(f"{concurrency} clients uploading {files} files of {size:,} bytes ...")
        rooms = []
        for w in range(concurrency):
            client = Client(urls, preferred=w % len(urls), retry_deadline=60.0)
            clients.append(client)
            name = f"files_{w}_{os.urandom(3).hex()}"
            await client.register(name, PASSWORD)
            await client.login(name, PASSWORD)
            rooms.append((await client.create_group(f"files {w}", [])).room_id)
        ids: dict[int, str] = {}
        readers: list[Client] = []

        async def upload(i: int) -> None:
            w = i % concurrency
            ids[i] = (await clients[w].upload(rooms[w], payloads[i], f"file-{i}.bin")).file_id

        identical = True

        async def download(i: int) -> None:
            nonlocal identical
            identical &= await readers[i % concurrency].download(ids[i]) == payloads[i]

        up = await _timed("upload (API)", files, size, concurrency, upload)
        for w, client in enumerate(list(clients)):
            reader = Client(urls, preferred=(w + 1) % len(urls), retry_deadline=60.0)
            reader.token, reader.user = client.token, client.user
            clients.append(reader)
            readers.append(reader)
        say("downloading them at the next DC ...")
        down = await _timed("download (API, another DC)", files, size, concurrency, download)
        return FilesResult(
            started_at=started_at,
            files=files,
            size=size,
            concurrency=concurrency,
            raw=raw,
            firebreak=[up, down],
            identical=identical,
        )
    finally:
        for client in clients:
            await client.aclose()
        cluster.stop()


def files_table(r: FilesResult) -> str:
    lines = [
        f"{r.files} files of {r.size:,} bytes, {r.concurrency} at once where it says so",
        f"{'':34} {'files/s':>8} {'MB/s':>7} {'p50 ms':>8} {'p99 ms':>8}",
    ]
    for rate in (*r.raw, *r.firebreak):
        p50, p99 = rate.latency.p50_ms or 0, rate.latency.p99_ms or 0
        lines.append(f"{rate.mode:34} {rate.files_per_s:8.1f} {rate.mb_per_s:7.1f} {p50:8.1f} {p99:8.1f}")
    lines.append("every download identical: " + ("yes" if r.identical else "NO"))
    return "\n".join(lines)
