"""The web app and the DCs, in a real browser (Debian's chromium) against a real three-DC cluster:
sends follow the room's write hint, recent rooms' messages are kept for a reload with no DC
reachable, and a DC that stops answering while its TCP connections stay open (its gateway frozen
with SIGSTOP) is left for another within the documented time (docs/WEB.md). The freeze is last."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, Route

from firebreak.client import Client
from firebreak.localcluster import LocalCluster
from firebreak.wire.views import WRITE_URL_HEADER
from tests.helpers import cluster_config, eventually, local_cluster, uname
from tests.web_pages import (
    PASSWORD,
    bubbles,
    open_app,
    open_room,
    register,
    sent_bubbles,
    shot,
    show_app,
    type_message,
)

#: The app's rule (js/live.js): this many heartbeat intervals (config.Limits.ws_heartbeat_s) of
#: silence and the DC counts as lost.
SILENT_BEATS = 3
#: what a page is told in one test instead of the DC's interval
CLAIMED_HEARTBEAT_S = 600


@pytest.fixture(scope="module")
async def web_cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalCluster]:
    local = local_cluster(cluster_config(Path(tmp_path_factory.mktemp("web-dcs"))))
    try:
        await local.start()
        yield local
    finally:
        local.stop()


class Pair:
    """alice in a browser served by dc1; bob through the Python client, served by dc3."""

    def __init__(self, cluster: LocalCluster, alice: Page, alice_name: str, bob: Client) -> None:
        self.cluster, self.alice, self.alice_name, self.bob = cluster, alice, alice_name, bob
        self.urls = [dc.http_url for dc in cluster.config.dcs]


@pytest.fixture(scope="module")
async def pair(web_cluster: LocalCluster, browser: Browser) -> AsyncIterator[Pair]:
    alice = await open_app(browser, web_cluster.config.dcs[0].http_url)
    name = uname("alice")
    await register(alice, name)
    await alice.wait_for_selector("body[data-offline-ready='1']")  # the app's files are cached
    async with Client([dc.http_url for dc in web_cluster.config.dcs], preferred=2) as bob:
        bob_name = uname("bob")
        await bob.register(bob_name, PASSWORD, "Bob")
        await bob.login(bob_name, PASSWORD)
        yield Pair(web_cluster, alice, name, bob)


async def _answered_by(page: Page) -> list[str]:
    mine = page.locator("#msg-list li.msg.mine[data-state=sent]")
    found: list[str] = await mine.evaluate_all("nodes => nodes.map(n => n.dataset.answeredBy ?? '')")
    return found


async def test_sends_follow_the_write_hint(pair: Pair) -> None:
    dc1 = pair.cluster.config.dcs[0]
    # A room whose log stream another DC's node leads (leaders are spread over the DCs).
    for i in range(12):
        room = await pair.bob.create_group(f"Hint {i}", [pair.alice_name])
        answer: dict[str, str] = {}
        await pair.bob.send(room.room_id, f"welcome {i}", answer_headers=answer)
        hint = answer.get(WRITE_URL_HEADER, "").rstrip("/")
        if hint and hint != dc1.http_url:
            break
    else:
        pytest.fail("no room led outside dc1")
    hinted = next(dc.name for dc in pair.cluster.config.dcs if dc.http_url == hint)
    alice = pair.alice
    await eventually(lambda: _has(alice, "#rooms", f"Hint {i}"), what="the room in alice's list")
    await open_room(alice, f"Hint {i}")
    # What the page writes on its live socket, from now on (the socket is open already).
    await alice.evaluate(
        """() => {
            window.sentFrames = [];
            const send = WebSocket.prototype.send;
            WebSocket.prototype.send = function (data) {
                window.sentFrames.push(String(data));
                return send.call(this, data);
            };
        }"""
    )
    await type_message(alice, "first")  # no hint yet: over her socket at dc1, whose ack names the leader's
    await eventually(lambda: _sent_is(alice, [f"welcome {i}", "first"]), what="the first send")
    await type_message(alice, "second")
    await eventually(lambda: _sent_is(alice, [f"welcome {i}", "first", "second"]), what="the second")
    assert await _answered_by(alice) == ["dc1", hinted], "the second send went where the hint said"
    assert (await alice.locator("#conn").get_attribute("data-dc")) == "dc1", "the rest stays at dc1"
    frames = [json.loads(f) for f in await alice.evaluate("window.sentFrames")]
    sends = [f["text"] for f in frames if f.get("kind") == "send"]
    assert sends == ["first"], "the first went over the live socket, the second over HTTP to the leader's DC"


async def _has(page: Page, selector: str, text: str) -> bool:
    return text in await page.locator(selector).inner_text()


async def _sent_is(page: Page, texts: list[str]) -> bool:
    return await sent_bubbles(page) == texts


async def _tail_is(page: Page, texts: list[str]) -> bool:
    shown = await bubbles(page)
    return shown[-len(texts) :] == texts and len(set(shown)) == len(shown)


async def _kept_keys(page: Page) -> list[str]:
    keys: list[str] = await page.evaluate(
        "Object.keys(localStorage).filter(k => k.startsWith('fb.history.'))"
    )
    return keys


async def _kept_has(page: Page, text: str) -> bool:
    raw = await page.evaluate(
        "Object.keys(localStorage).filter(k => k.startsWith('fb.history.'))"
        ".map(k => localStorage.getItem(k)).join('')"
    )
    return text in str(raw)


async def test_recent_rooms_are_kept_for_a_reload_with_no_dc(pair: Pair) -> None:
    alice, bob = pair.alice, pair.bob
    direct = await bob.open_direct(pair.alice_name)
    await bob.send_batch(direct.room_id, [(f"k{n}", f"k{n}") for n in range(60)])
    group = await bob.create_group("Kept", [pair.alice_name])
    for text in ("g1", "g2", "g3"):
        await bob.send(group.room_id, text)
    await eventually(lambda: _has(alice, "#rooms", "Kept"), what="the rooms in alice's list")
    await open_room(alice, "Kept")
    await eventually(lambda: _sent_is(alice, ["g1", "g2", "g3"]), what="the group's messages")
    await open_room(alice, "Bob")
    await eventually(lambda: _tail_is(alice, ["k58", "k59"]), what="the 1:1 room's newest")
    await eventually(lambda: _kept_has(alice, "k59"), what="the messages kept in storage")

    # No DC reachable (the tab offline): the reloaded app shows both rooms' messages.
    await alice.context.set_offline(True)
    await alice.reload()
    await alice.wait_for_selector("#chats:not([hidden])")
    await eventually(lambda: _tail_is(alice, ["k58", "k59"]), what="the open room, from storage")
    kept = await bubbles(alice)
    assert kept == [f"k{n}" for n in range(60 - len(kept), 60)] and len(kept) >= 40, kept
    await shot(alice, "dcs-01-reloaded-with-no-dc")
    await open_room(alice, "Kept")
    await eventually(lambda: _sent_is(alice, ["g1", "g2", "g3"]), what="the other room, from storage")

    # A DC answers again: what it has joins what was kept, nothing twice.
    await bob.send(direct.room_id, "while you were away")
    await alice.context.set_offline(False)
    await eventually(lambda: _has(alice, "#conn", "connected"), within_s=30, what="alice live again")
    await open_room(alice, "Bob")
    await eventually(lambda: _tail_is(alice, ["k58", "k59", "while you were away"]), what="merged once")
    shown = await bubbles(alice)
    start = int(shown[0][1:])
    assert shown == [*(f"k{n}" for n in range(start, 60)), "while you were away"], shown

    # Signing out drops the kept messages.
    await alice.click("#signout")
    await alice.wait_for_selector("#signin:not([hidden])")
    assert await _kept_keys(alice) == []
    signin = alice.locator("#signin-form")
    await signin.locator("[name=username]").fill(pair.alice_name)
    await signin.locator("[name=password]").fill(PASSWORD)
    await signin.locator("button").click()
    await alice.wait_for_selector("#chats:not([hidden])")


#: How long one send keeps trying before the outbox's own loop takes over (js/outbox.js).
ONE_SEND_S = 15


async def test_the_outbox_keeps_trying_past_one_send(pair: Pair) -> None:
    """Every DC refuses sends (503) for longer than one send's retries, then takes them: the
    message is sent by itself, once (over HTTP: the page's socket fails its sends)."""
    alice, bob = pair.alice, pair.bob
    room = await bob.open_direct(pair.alice_name)
    await bob.send(room.room_id, "before the refusals")
    await open_room(alice, "Bob")
    await eventually(lambda: _tail_is(alice, ["before the refusals"]), what="the room open")
    origin = pair.urls[0]
    refused: list[float] = []

    async def refuse(route: Route) -> None:
        if route.request.method == "POST" and (not refused or time.monotonic() - refused[0] < ONE_SEND_S + 3):
            refused.append(time.monotonic())
            error = {"error": {"code": "log_unavailable", "message": "the log takes no writes now"}}
            cors = {"access-control-allow-origin": origin, "retry-after": "1"}
            await route.fulfill(status=503, json=error, headers=cors)
        else:
            await route.continue_()

    await alice.route("**/v1/rooms/*/messages", refuse)
    # Its socket cannot take a send either: the outbox turns to HTTP, where the refusals are.
    await alice.evaluate(
        """() => {
            const send = WebSocket.prototype.send;
            WebSocket.prototype.send = function (data) {
                if (String(data).includes('"kind":"send"')) throw new Error("blocked by the test");
                return send.call(this, data);
            };
        }"""
    )
    try:
        await type_message(alice, "through the refusals")
        await eventually(
            lambda: _sent_at_last(alice, ["before the refusals", "through the refusals"]),
            within_s=ONE_SEND_S + 30,
            what="the message sent by itself",
        )
    finally:
        await alice.unroute("**/v1/rooms/*/messages", refuse)
    assert refused[-1] - refused[0] >= ONE_SEND_S, "refused for longer than one send's retries"
    history = await bob.history(room.room_id)
    assert [m.text for m in history.messages].count("through the refusals") == 1


async def _sent_at_last(page: Page, texts: list[str]) -> bool:
    pending = await page.locator("#msg-list li.msg[data-state=pending]").count()
    return pending == 0 and (await sent_bubbles(page))[-len(texts) :] == texts


async def _serving(page: Page) -> tuple[str, str]:
    status = page.locator("#conn")
    return (await status.get_attribute("data-dc") or "", await status.get_attribute("data-state") or "")


async def test_a_frozen_dc_is_left_for_another(pair: Pair, browser: Browser) -> None:
    """dc1's gateway stops (SIGSTOP): its TCP connections stay open but nothing answers. The tab
    it serves must notice from the missing heartbeats and carry on at another DC."""
    # The page's config.json claims rare heartbeats: the DC's own `ready` frame, which states the
    # interval in force, must be what the silence is counted in.
    async with await browser.new_context() as context:
        await context.route("**/app/config.json", _claim_rare_heartbeats)
        alice = await context.new_page()
        await _leave_a_frozen_dc(pair, alice)


async def _leave_a_frozen_dc(pair: Pair, alice: Page) -> None:
    cluster = pair.cluster
    await show_app(alice, cluster.config.dcs[0].http_url)
    name = uname("fay")
    await register(alice, name)
    heartbeat_s = cluster.config.limits.ws_heartbeat_s
    config = json.loads(await alice.evaluate("localStorage.getItem('fb.config')"))
    assert config["heartbeat_s"] == CLAIMED_HEARTBEAT_S, "the page was told the claimed interval"
    room = await pair.bob.open_direct(name)
    await pair.bob.send(room.room_id, "before the freeze")
    await eventually(lambda: _has(alice, "#rooms", "before the freeze"), what="the room in her list")
    await open_room(alice, "Bob")
    await eventually(lambda: _tail_is(alice, ["before the freeze"]), what="the room open")
    await eventually(lambda: _is_serving(alice, "dc1"), what="live at dc1")
    gateway = cluster.gateways["dc1"].pid
    os.killpg(gateway, signal.SIGSTOP)
    frozen = time.monotonic()
    try:
        limit_s = SILENT_BEATS * heartbeat_s + 10  # the silence, then reconnecting and catching up
        moved = await eventually(lambda: _left_dc1(alice), within_s=limit_s, what="the tab left dc1")
        took = time.monotonic() - frozen
        assert took >= SILENT_BEATS * heartbeat_s - 1, f"left after {took:.1f} s: before the silence rule"
        print(f"left frozen dc1 for {moved} after {took:.1f} s")
        await pair.bob.send(room.room_id, "after the freeze")
        await eventually(lambda: _tail_is(alice, ["after the freeze"]), what="live at the new DC")
        await shot(alice, "dcs-02-left-a-frozen-dc")
    finally:
        os.killpg(gateway, signal.SIGCONT)


async def _claim_rare_heartbeats(route: Route) -> None:
    answer = await route.fetch()
    about = json.loads(await answer.text())
    # The body grows: the answer's own Content-Length must not be kept.
    headers = {k: v for k, v in answer.headers.items() if k.lower() != "content-length"}
    await route.fulfill(response=answer, headers=headers, json={**about, "heartbeat_s": CLAIMED_HEARTBEAT_S})


async def _is_serving(page: Page, dc: str) -> bool:
    return await _serving(page) == (dc, "live")


async def _left_dc1(page: Page) -> str:
    dc, state = await _serving(page)
    return dc if dc != "dc1" and state == "live" else ""


async def _alice_in_a_room_with(pair: Pair, said: str) -> str:
    """Alice's page (reloaded: without what earlier tests patched into it) live, with the direct
    room open where Bob just said ``said``; the room's id."""
    alice, bob = pair.alice, pair.bob
    await alice.reload()
    await eventually(lambda: _has(alice, "#conn", "connected"), within_s=30, what="alice live")
    room = await bob.open_direct(pair.alice_name)
    await bob.send(room.room_id, said)
    await open_room(alice, "Bob")
    await eventually(lambda: _tail_is(alice, [said]), what="the room open")
    return room.room_id


async def _answer_first_socket_send(page: Page, ack: dict[str, object]) -> None:
    """The page itself answers its socket's first send with ``ack`` (its ``ref`` filled in) and
    notes when (``window.refusedAt``) and when the next send went out (``window.sentAgainAt``)."""
    await page.evaluate(
        """(ack) => {
            const send = WebSocket.prototype.send;
            WebSocket.prototype.send = function (data) {
                const text = String(data);
                if (text.includes('"kind":"send"') && window.refusedAt === undefined) {
                    window.refusedAt = performance.now();
                    const answer = { ...ack, kind: "ack", ref: JSON.parse(text).ref };
                    setTimeout(() => this.dispatchEvent(new MessageEvent("message",
                                                        { data: JSON.stringify(answer) })), 0);
                    return;
                }
                if (text.includes('"kind":"send"')) window.sentAgainAt ??= performance.now();
                return send.call(this, data);
            };
        }""",
        ack,
    )


async def _posts_while(page: Page, typed: str, before: str) -> list[str]:
    """Types ``typed`` after ``before`` and waits until it is sent; the HTTP sends meanwhile."""
    posted: list[str] = []

    async def count(route: Route) -> None:
        if route.request.method == "POST":
            posted.append(route.request.url)
        await route.continue_()

    await page.route("**/v1/rooms/*/messages", count)
    try:
        await type_message(page, typed)
        await eventually(lambda: _sent_at_last(page, [before, typed]), within_s=30, what=f"{typed!r} sent")
    finally:
        await page.unroute("**/v1/rooms/*/messages", count)
    return posted


async def test_a_send_refused_429_on_the_socket_waits_as_told(pair: Pair) -> None:
    """A 429 ack says when to ask again: the outbox waits that long and asks on the socket again,
    instead of turning to HTTP at once, where the same allowance would refuse it."""
    alice = pair.alice
    room_id = await _alice_in_a_room_with(pair, "hello from bob")
    await _answer_first_socket_send(
        alice, {"status": 429, "code": "rate_limited", "message": "slow down", "retry_after_s": 2}
    )
    posted = await _posts_while(alice, "after the wait", "hello from bob")
    waited_ms = await alice.evaluate("() => window.sentAgainAt - window.refusedAt")
    assert posted == [], "asked again on the socket, not over HTTP"
    assert waited_ms >= 1900, f"asked again after {waited_ms:.0f} ms, not the 2 s the ack said"
    history = await pair.bob.history(room_id)
    assert [m.text for m in history.messages].count("after the wait") == 1


async def test_a_send_held_on_the_socket_goes_over_http(pair: Pair) -> None:
    """409 ``earlier_send_failed`` on the socket: the message before went over HTTP to another DC
    and the socket's DC has not applied it yet. The outbox (one message at a time) sends this
    one over HTTP at once instead of marking it failed."""
    alice = pair.alice
    room_id = await _alice_in_a_room_with(pair, "hello again from bob")
    held = "send the refused ones again first"
    await _answer_first_socket_send(alice, {"status": 409, "code": "earlier_send_failed", "message": held})
    posted = await _posts_while(alice, "over http instead", "hello again from bob")
    assert len(posted) == 1, "sent again over HTTP at once"
    history = await pair.bob.history(room_id)
    assert [m.text for m in history.messages].count("over http instead") == 1
