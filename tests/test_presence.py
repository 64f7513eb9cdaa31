"""Typing and presence on a real cluster (service/presence.py): notes cross DCs over core NATS,
reach only the room's other members, expire, are rate limited; presence follows sockets, and a
burned DC's users go offline and stop typing within the documented expiry.

This module owns its cluster: its last test burns a DC.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from firebreak.client import ApiError, Client, LiveConnection
from firebreak.client.transport import TryAgain
from firebreak.limits import Limits
from firebreak.localcluster import LocalCluster
from firebreak.service.presence_speaker import LIST_EVERY_BEATS
from firebreak.wire.presence_views import PresenceView, TypingView
from tests.helpers import (
    ClientFactory,
    clients_of,
    cluster_config,
    eventually,
    live,
    live_socket,
    local_cluster,
    user,
)

LIMITS = Limits()


@pytest.fixture(scope="module")
async def own(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalCluster]:
    local = local_cluster(cluster_config(Path(tmp_path_factory.mktemp("presence"))))
    try:
        await local.start()
        yield local
    finally:
        local.stop()


@pytest.fixture
async def make(own: LocalCluster) -> AsyncIterator[ClientFactory]:
    async with clients_of(own) as factory:
        yield factory


async def pair(make: ClientFactory) -> tuple[Client, Client, str]:
    """alice (requests to dc1), bob (requests to dc3) and their 1:1 room."""
    alice, bob = await user(make, 0, "ta"), await user(make, 2, "tb")
    assert bob.user
    room = await alice.open_direct(bob.user.username)
    return alice, bob, room.room_id


def uid(client: Client) -> str:
    assert client.user
    return client.user.user_id


async def connected(cluster: LocalCluster, client: Client, dc: int) -> LiveConnection:
    conn = live(cluster, client, dc)
    await asyncio.wait_for(conn.live.wait(), 20)
    return conn


def typing_notes(conn: LiveConnection) -> list[TypingView]:
    """The typing notes received so far (taken out of ``conn.notes``)."""
    notes = []
    while not conn.notes.empty():
        note = conn.notes.get_nowait()
        if isinstance(note, TypingView):
            notes.append(note)
    return notes


async def presence_of(conn: LiveConnection, user_id: str, online: bool) -> PresenceView:
    """Waits for a presence frame saying ``user_id`` is (not) ``online``."""
    while True:
        note = await conn.notes.get()
        if isinstance(note, PresenceView) and note.user_id == user_id and note.online == online:
            return note


async def test_typing_at_dc1_reaches_the_other_member_at_dc3_and_expires(
    own: LocalCluster, make: ClientFactory
) -> None:
    alice, bob, room = await pair(make)
    assert alice.user and bob.user
    bob_live, alice_live = await connected(own, bob, 2), await connected(own, alice, 0)
    try:
        sent_at = time.monotonic()
        answer = await alice.typing(room)
        assert answer.typing and answer.ttl_ms == round(LIMITS.typing_ttl_s * 1000)

        async def bob_sees() -> list[TypingView]:
            return typing_notes(bob_live)

        [note] = await eventually(bob_sees, within_s=5, what="bob's typing frame")
        assert (note.room_id, note.user_id, note.typing) == (room, uid(alice), True)
        assert bob_live.typing_in(room) == [uid(alice)]

        async def expired() -> bool:
            return bob_live.typing_in(room) == []

        await eventually(expired, within_s=LIMITS.typing_ttl_s + 2, what="typing to expire")
        assert time.monotonic() - sent_at >= LIMITS.typing_ttl_s - 0.5, "shown for its ttl"

        # The typer's own sockets get nothing: bob types back, and alice hears only him.
        await bob.typing(room)

        async def alice_sees() -> list[TypingView]:
            return typing_notes(alice_live)

        heard = await eventually(alice_sees, within_s=5, what="alice's typing frame")
        assert [n.user_id for n in heard] == [uid(bob)]

        # A message ends its sender's typing at once; so does typing: false.
        await alice.typing(room)
        await eventually(lambda: _typing(bob_live, room, [uid(alice)]), within_s=5, what="typing")
        await alice.send(room, "done typing")
        await eventually(lambda: _typing(bob_live, room, []), within_s=3, what="the message to end it")
        await alice.typing(room)
        await eventually(lambda: _typing(bob_live, room, [uid(alice)]), within_s=5, what="typing")
        stopped = await alice.typing(room, typing=False)
        assert not stopped.typing
        await eventually(lambda: _typing(bob_live, room, []), within_s=3, what="typing: false")
    finally:
        await bob_live.close()
        await alice_live.close()


async def _typing(conn: LiveConnection, room: str, users: list[str]) -> bool:
    return conn.typing_in(room) == users


async def test_typing_is_rate_limited_with_retry_after(own: LocalCluster, make: ClientFactory) -> None:
    alice, _, room = await pair(make)
    for _ in range(LIMITS.typing_burst):
        await alice.typing(room)
    with pytest.raises(TryAgain) as refused:
        await alice.typing(room)
    assert refused.value.status == 429 and refused.value.code == "rate_limited"
    assert refused.value.retry_after_s is not None and refused.value.retry_after_s >= 1
    async with httpx.AsyncClient(base_url=own.config.dcs[0].http_url) as http:
        resp = await http.post(
            f"/v1/rooms/{room}/typing", headers={"authorization": f"Bearer {alice.token}"}, json={}
        )
    assert resp.status_code == 429 and int(resp.headers["retry-after"]) >= 1


async def test_a_stranger_can_neither_type_in_a_room_nor_see_its_presence(
    own: LocalCluster, make: ClientFactory
) -> None:
    _, bob, room = await pair(make)
    eve = await user(make, 1, "te")
    bob_live = await connected(own, bob, 2)
    try:
        for call in (eve.typing(room), eve.presence(room)):
            with pytest.raises(ApiError) as refused:
                await call
            assert (refused.value.status, refused.value.code) == (404, "unknown_room")
        # A member's note after the stranger's: if the stranger's had gone out, bob would see it first.
        member = await user(make, 1, "tm")
        assert member.user
        group = await bob.create_group("typists", [member.user.username])
        await member.typing(group.room_id)

        async def first_note() -> list[TypingView]:
            return typing_notes(bob_live)

        notes = await eventually(first_note, within_s=5, what="the member's typing frame")
        assert [n.user_id for n in notes] == [uid(member)]
    finally:
        await bob_live.close()


async def test_presence_follows_the_socket_across_dcs(own: LocalCluster, make: ClientFactory) -> None:
    alice, bob, room = await pair(make)
    assert alice.user and bob.user
    bob_live = await connected(own, bob, 2)
    try:

        async def only_bob_online() -> bool:
            before = await bob.presence(room)
            return {m.user_id: m.online for m in before.members} == {
                uid(alice): False,
                uid(bob): True,
            }

        await eventually(only_bob_online, within_s=5, what="bob online, alice not")
        alice_live = await connected(own, alice, 0)
        await asyncio.wait_for(presence_of(bob_live, uid(alice), True), 10)

        async def online_by_get() -> bool:
            now = await bob.presence(room)
            return {m.user_id: m.online for m in now.members}[uid(alice)]

        await eventually(online_by_get, within_s=5, what="GET presence to say online")
        assert bob_live.online[uid(alice)].online

        closed_at = time.monotonic()
        await alice_live.close()
        gone = await asyncio.wait_for(presence_of(bob_live, uid(alice), False), 10)
        took = time.monotonic() - closed_at
        print(f"offline at dc3 {took:.2f} s after the socket at dc1 closed")
        assert took < LIMITS.presence_expiry_s, "a closed socket is told at once, not by expiry"
        assert gone.last_seen is not None
        after = await bob.presence(room)
        [seen] = [m for m in after.members if m.user_id == uid(alice)]
        assert not seen.online and seen.last_seen is not None
    finally:
        await bob_live.close()


async def test_a_restarted_gateway_asks_who_is_online_instead_of_waiting_for_a_list(
    own: LocalCluster, make: ClientFactory
) -> None:
    """dc3's gateway restarts while alice is live at dc1: it never heard her ``on`` note, and
    dc1 pulses without naming anyone. It must ask dc1 for its list (domain/presence_board.py)
    rather than show her offline until dc1's next unasked list (``LIST_EVERY_BEATS`` beats)."""
    alice, bob, room = await pair(make)
    # Only dc3: a client that knows every DC would ask another one while dc3 restarts.
    at_dc3 = Client([own.config.dcs[2].http_url], retry_deadline=5)
    at_dc3.token = bob.token
    alice_live = await connected(own, alice, 0)
    try:
        await eventually(lambda: _online_at(at_dc3, room, uid(alice)), within_s=10, what="alice online")
        own.kill_gateway("dc3")
        own.start_gateway("dc3")
        await own.wait_ready(["dc3"], within_s=120)
        # Well within the unasked list's 30 s: a pulse (2 s), then an ask and its answer.
        await eventually(
            lambda: _online_at(at_dc3, room, uid(alice)),
            within_s=LIST_EVERY_BEATS * LIMITS.presence_beat_s / 3,
            what="the restarted dc3 to show alice online",
        )
    finally:
        await alice_live.close()
        await at_dc3.aclose()


async def _online_at(client: Client, room: str, user_id: str) -> bool:
    """Whether ``client``'s DC says ``user_id`` is online (a restart answers 503 for a while)."""
    try:
        now = await client.presence(room)
    except TryAgain:
        return False
    return {m.user_id: m.online for m in now.members}[user_id]


async def test_burning_dc1_ends_alices_typing_and_presence_at_dc3(
    own: LocalCluster, make: ClientFactory
) -> None:
    alice, bob, room = await pair(make)
    assert alice.user and bob.user and alice.token
    bob_live = await connected(own, bob, 2)
    # A raw socket: the client library would fail over to another DC, and stay online.
    alice_ws = await live_socket(own.config.dcs[0].ws_url, alice.token)
    typing_loop: asyncio.Task[None] | None = None
    try:
        await asyncio.wait_for(presence_of(bob_live, uid(alice), True), 10)

        async def keep_typing() -> None:
            # Renewed every second, as a client does while keys are pressed.
            while True:
                try:
                    await alice.typing(room)
                except TryAgain as exc:
                    if exc.status != 429:
                        return
                except Exception:  # dc1 is gone: the client would move on to another DC
                    return
                await asyncio.sleep(1.0)

        typing_loop = asyncio.create_task(keep_typing())
        await eventually(lambda: _typing(bob_live, room, [uid(alice)]), within_s=5, what="typing")

        burned_at = time.monotonic()
        own.kill(own.config.dcs[0].name, burn=True)

        async def offline() -> tuple[PresenceView, float]:
            note = await presence_of(bob_live, uid(alice), False)
            return note, time.monotonic() - burned_at

        async def typing_expired() -> float:
            await eventually(lambda: _typing(bob_live, room, []), within_s=30, what="typing to expire")
            return time.monotonic() - burned_at

        (gone, offline_s), typing_s = await asyncio.wait_for(
            asyncio.gather(offline(), typing_expired()),
            LIMITS.presence_expiry_s + LIMITS.presence_beat_s + 3,
        )
        print(f"after dc1 burned: offline at dc3 in {offline_s:.2f} s, typing expired in {typing_s:.2f} s")
        assert typing_s <= LIMITS.typing_ttl_s + 0.5, "no renewal came after the burn"
        assert offline_s <= LIMITS.presence_expiry_s + LIMITS.presence_beat_s
        assert gone.last_seen is not None
        after = await bob.presence(room)
        assert not {m.user_id: m.online for m in after.members}[uid(alice)]
    finally:
        if typing_loop is not None:
            typing_loop.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await typing_loop
        with contextlib.suppress(Exception):
            await alice_ws.close()
        await bob_live.close()
