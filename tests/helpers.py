"""Test helpers: cluster configs, waiting on conditions with a deadline, users and clients of a
test cluster, raw requests and sockets, and running the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import secrets
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from playwright.async_api import Page
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from firebreak.adapters import nats_connect
from firebreak.adapters.leadership import LEADERSHIP_ERRORS, Leadership, stream_names
from firebreak.adapters.ops_board import DCHeartbeat, OpsBoard
from firebreak.client import Client, LiveConnection
from firebreak.config import Config
from firebreak.domain.model import ClientEvent
from firebreak.limits import Limits
from firebreak.localcluster import LocalCluster, Sites, ephemeral_config, isolated_config
from firebreak.localcluster.linkfaults import LinkFault
from firebreak.localcluster.netns import unavailable
from firebreak.wire.frames import HEARTBEAT_FRAME

T = TypeVar("T")
#: Makes a client of the test cluster that prefers DC ``dc`` (the ``make_client`` fixture).
ClientFactory = Callable[..., Client]


#: ``FIREBREAK_TEST_ISOLATED=1``: every test cluster made with :func:`cluster_config` and
#: :func:`local_cluster` runs on isolated DCs (localcluster/netns.py: a network namespace and an
#: address per DC), so that traffic between DCs crosses real interfaces.
ISOLATED = os.environ.get("FIREBREAK_TEST_ISOLATED") == "1"
#: The isolated sites planned for each test cluster's data directory.
_SITES: dict[Path, Sites] = {}


@functools.cache
def _why_not_isolated() -> str | None:
    return unavailable()


def cluster_config(
    data_dir: Path, limits: Limits | None = None, partitions: int = 3, gateways: int = 1
) -> Config:
    """A test cluster's layout: free loopback ports, or isolated DCs under ``FIREBREAK_TEST_ISOLATED=1``
    (the test is skipped, saying why, where this machine cannot make them). ``gateways``: gateway
    processes per DC, each with a port of its own."""
    if not ISOLATED:
        return ephemeral_config(data_dir, partitions=partitions, limits=limits, gateways=gateways)
    why = _why_not_isolated()
    if why is not None:
        pytest.skip(f"FIREBREAK_TEST_ISOLATED=1, but {why}")
    sites = _SITES[data_dir] = Sites.plan(("dc1", "dc2", "dc3"))
    return isolated_config(data_dir, sites, partitions=partitions, limits=limits, gateways=gateways)


def sites_of(config: Config) -> Sites | None:
    """The isolated DCs :func:`cluster_config` planned for ``config`` (None: on loopback)."""
    return _SITES.get(config.data_dir)


def local_cluster(
    config: Config, *, sites: Sites | None = None, links: LinkFault | None = None
) -> LocalCluster:
    """The cluster of a config made by :func:`cluster_config`, on its isolated DCs if it has them."""
    sites = sites or sites_of(config)
    if sites is not None and links is not None:
        pytest.skip("link proxies run on loopback: this test cannot run on isolated DCs")
    return LocalCluster(config, sites=sites, links=links)


async def eventually(
    check: Callable[[], Awaitable[T | None]], within_s: float = 20.0, what: str = "condition"
) -> T:
    """Polls ``check`` until it returns something truthy; fails after ``within_s`` seconds."""
    end = time.monotonic() + within_s
    last: BaseException | None = None
    while True:
        try:
            value = await check()
            if value:
                return value
        except AssertionError as exc:
            last = exc
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}") from last
        await asyncio.sleep(0.05)


def messages_of(events: list[ClientEvent]) -> list[tuple[str, str, int]]:
    """(room_id, client_id, room_seq) of the message events, in the order received."""
    from firebreak.domain.events import MessageSent

    return [
        (e.event.room_id, e.event.client_id, e.room_seq) for e in events if isinstance(e.event, MessageSent)
    ]


async def collect_messages(
    queue: asyncio.Queue[ClientEvent], n: int, within_s: float = 20.0
) -> tuple[list[tuple[str, str, int]], list[ClientEvent]]:
    """Takes events until ``n`` messages have arrived; returns (messages, every event taken)."""
    events: list[ClientEvent] = []
    end = time.monotonic() + within_s
    while len(messages_of(events)) < n:
        remaining = end - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"got {len(messages_of(events))} of {n} messages")
        try:
            events.append(await asyncio.wait_for(queue.get(), remaining))
        except TimeoutError:
            continue
    return messages_of(events), events


async def settled(cluster: LocalCluster, within_s: float = 15.0) -> None:
    """Waits until every DC has applied the same log positions.

    Reads in another DC trail a write by milliseconds. Every acknowledged write was applied by the
    DC that accepted it before it answered, so once all DCs report the same positions, every DC has
    every acknowledged write.
    """

    async def same() -> bool:
        async with httpx.AsyncClient(timeout=5) as http:
            heads = [(await http.get(dc.http_url + "/healthz")).json()["head"] for dc in cluster.config.dcs]
        return all(h == heads[0] for h in heads)

    await eventually(same, within_s=within_s, what="all DCs to apply the same log positions")


async def fully_replicated(config: Config) -> bool:
    """Every stream of the log (KV buckets included) has a current replica in every DC: only then
    may a test take one DC away without leaving a stream whose survivors are both still copying."""
    nc = await nats_connect.connect(config, prefer_dc=None, name="test-replicas", role="ops")
    try:
        leadership = Leadership(nc)
        everywhere = frozenset(dc.name for dc in config.dcs)
        for stream in stream_names(config):
            try:
                if (await leadership.placement(stream)).current != everywhere:
                    return False
            except LEADERSHIP_ERRORS:
                return False
        return True
    finally:
        await nc.close()


async def history_ids(http: httpx.AsyncClient, url: str, token: str, room: str) -> list[str] | None:
    """A room's client ids in room order at one DC, every page (None: that DC answered 503)."""
    ids: list[str] = []
    after = 0
    while True:
        resp = await http.get(
            f"{url}/v1/rooms/{room}/messages",
            params={"after": after, "limit": 200},
            headers={"authorization": f"Bearer {token}"},
        )
        if resp.status_code == 503:
            return None
        assert resp.status_code == 200, f"{url} answered {resp.status_code}: {resp.text}"
        page = resp.json()
        ids.extend(m["client_id"] for m in page["messages"])
        if not page["more"]:
            return ids
        after = page["messages"][-1]["room_seq"]


async def digests(cluster: LocalCluster, names: list[str]) -> dict[str, dict[str, object]]:
    """Each named DC's /internal/digest answer: positions (``head``) and a digest per table."""
    out = {}
    async with httpx.AsyncClient(timeout=5) as http:
        for name in names:
            resp = await http.get(
                cluster.config.dc(name).http_url + "/internal/digest",
                headers={"x-ops-token": cluster.config.secrets.ops_token},
            )
            out[name] = resp.json()
    return out


async def spawn_up(config_path: Path, *options: str) -> asyncio.subprocess.Process:
    """``firebreak up`` started as a user starts it, its output (stdout and stderr) on a pipe; on
    isolated DCs under ``FIREBREAK_TEST_ISOLATED=1`` (unless the test runs link proxies)."""
    if ISOLATED and not any(o.startswith("--link-") or o == "--isolated-dcs" for o in options):
        options = (*options, "--isolated-dcs")
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "firebreak.entrypoints.cli", "up", "--config", str(config_path), *options,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip


async def stop_up(proc: asyncio.subprocess.Process) -> None:
    """Stops ``up`` the way a user does (Ctrl-C), so it stops its DCs' processes in order; after a
    SIGKILL only its reaper would kill them (localcluster/reaper.py)."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(proc.wait(), 60)
        except TimeoutError:
            proc.kill()
            await proc.wait()


# ---- users, clients and raw requests (shared by the API tests) ----


@contextlib.asynccontextmanager
async def clients_of(cluster: LocalCluster) -> AsyncIterator[ClientFactory]:
    """Makes clients that know every DC of ``cluster`` and prefer the given one; closes them after."""
    made: list[Client] = []
    urls = [dc.http_url for dc in cluster.config.dcs]

    def make(preferred: int = 0) -> Client:
        client = Client(urls, preferred=preferred, retry_deadline=30.0)
        made.append(client)
        return client

    try:
        yield make
    finally:
        for client in made:
            await client.aclose()


def uname(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


async def user(make: ClientFactory, dc: int, prefix: str = "u") -> Client:
    client = make(dc)
    name = uname(prefix)
    await client.register(name, "correct horse")
    await client.login(name, "correct horse")
    return client


def pinned(make: ClientFactory, client: Client, dc: int) -> Client:
    """The same user's session, talking to DC ``dc`` (to read what that DC's read model says)."""
    other = make(dc)
    other.token, other.user = client.token, client.user
    return other


def live(cluster: LocalCluster, client: Client, dc: int, cursor: str | None = None) -> LiveConnection:
    urls = [d.ws_url for d in cluster.config.dcs]
    return LiveConnection(urls, client.current_token, preferred=dc, cursor=cursor).start()


async def raw(
    cluster: LocalCluster, method: str, path: str, *, token: str | None = None, **kw: object
) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=cluster.config.dcs[0].http_url) as http:
        return await http.request(method, path, headers=headers, **kw)  # type: ignore[arg-type]


def code_of(resp: httpx.Response) -> tuple[int, str]:
    body = resp.json()
    assert body["error"]["message"], "every error carries a human message"
    return resp.status_code, body["error"]["code"]


async def live_socket(url: str, token: str) -> ClientConnection:
    """A WebSocket that has caught up and streams live."""
    ws = await connect(f"{url}?token={token}")
    frame = json.loads(await asyncio.wait_for(ws.recv(), 20))
    assert frame["kind"] == "ready", frame
    return ws


async def next_frame(ws: ClientConnection, end: float) -> str:
    """The next frame other than a heartbeat (which a slow test may meet between any two)."""
    while True:
        frame = str(await asyncio.wait_for(ws.recv(), max(0.0, end - time.monotonic())))
        if frame != HEARTBEAT_FRAME:
            return frame


async def until_closed(ws: ClientConnection, within_s: float) -> list[dict[str, Any]]:
    """Every frame the server sends until it closes the socket, which must be within ``within_s``."""
    frames = []
    end = time.monotonic() + within_s
    try:
        while True:
            frames.append(json.loads(await next_frame(ws, end)))
    except ConnectionClosed:
        return frames


async def read_until(stream: asyncio.StreamReader, text: str, within_s: float, seen: list[str]) -> None:
    end = time.monotonic() + within_s
    while not any(text in line for line in seen):
        remaining = end - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"never printed {text!r}: {seen}")
        line = await asyncio.wait_for(stream.readline(), remaining)
        if not line:
            raise AssertionError(f"exited before printing {text!r}: {seen}")
        seen.append(line.decode().rstrip())


async def run_cli(*args: str, within_s: float = 60) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "firebreak.entrypoints.cli", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), within_s)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return await proc.wait(), out.decode()


async def ops_sign_in(page: Page, cluster: LocalCluster, dc: int, poll_ms: int = 500) -> None:
    """Opens DC ``dc``'s ops console, is refused with a wrong token, then signs in."""
    await page.goto(cluster.config.dcs[dc].http_url + f"/ops?poll={poll_ms}")
    await page.fill("#token", "not the token")
    await page.click("#login button[type=submit]")
    await page.wait_for_selector("#login-error:has-text('not the ops token')")
    await page.fill("#token", cluster.config.secrets.ops_token)
    await page.click("#login button[type=submit]")
    await page.wait_for_selector("#console:not([hidden])")


class HeldBoard(OpsBoard):
    """The ops board in memory as a balancer holding its lease sees it: the heartbeats in
    ``beats`` (a DC not there has none), the lease always held."""

    def __init__(self, beats: dict[str, DCHeartbeat]) -> None:
        self.beats = beats

    async def beat(self, dc: str, heartbeat: DCHeartbeat) -> None:
        pass

    async def hold(self, lease: str, me: str) -> bool:
        return True

    async def heartbeats(self, dcs: list[str]) -> dict[str, DCHeartbeat]:
        return {dc: self.beats[dc] for dc in dcs if dc in self.beats}
