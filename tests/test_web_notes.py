"""Typing and presence in the web app (docs/WEB.md), in a real browser (Debian's chromium) against a
real three-DC cluster: alice's tab is served by dc1, bob's by dc3, in a DM. bob sees "Alice is
typing…" while she types, gone when she sends, empties her composer, or stops (the note's ttl);
he sees her online, and "last seen" once her page is closed. In a group, several typists."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from firebreak.client import Client
from firebreak.localcluster import LocalCluster
from tests.helpers import cluster_config, eventually, local_cluster, uname
from tests.web_pages import (
    PASSWORD,
    axe_violations,
    dialog,
    open_app,
    open_room,
    register,
    sent_bubbles,
    shot,
    type_message,
)


@pytest.fixture(scope="module")
async def web_cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalCluster]:
    local = local_cluster(cluster_config(Path(tmp_path_factory.mktemp("web-notes"))))
    try:
        await local.start()
        yield local
    finally:
        local.stop()


async def _text(page: Page, selector: str) -> str:
    return (await page.locator(selector).inner_text()).strip()


async def _is(page: Page, selector: str, text: str) -> bool:
    return await _text(page, selector) == text


async def _has(page: Page, selector: str, text: str) -> bool:
    return text in await _text(page, selector)


async def _starts(page: Page, selector: str, text: str) -> bool:
    return (await _text(page, selector)).startswith(text)


async def _sent(page: Page, texts: list[str]) -> bool:
    return await sent_bubbles(page) == texts


async def test_typing_and_presence_in_a_dm(web_cluster: LocalCluster, browser: Browser) -> None:
    dcs = web_cluster.config.dcs
    alice = await open_app(browser, dcs[0].http_url)
    bob = await open_app(browser, dcs[2].http_url)
    alice_name, bob_name = uname("alice"), uname("bob")
    await register(alice, alice_name)
    await register(bob, bob_name)
    await dialog(alice, "#new-dm", bob_name)
    await type_message(alice, "hi bob")
    await eventually(lambda: _sent(alice, ["hi bob"]), what="alice's first message acknowledged")
    await eventually(lambda: _has(bob, "#rooms", "hi bob"), what="bob's list shows the DM")
    await open_room(bob, "Alice")
    await bob.wait_for_selector("#room-pane[data-loaded='1']")

    # Presence: alice's tab is live at dc1, bob's at dc3.
    await eventually(lambda: _is(bob, "#room-presence", "online"), what="bob sees alice online")
    assert await bob.locator("#typing").get_attribute("aria-live") == "polite"
    assert await _text(bob, "#typing") == ""

    # Typing, then sending: the message ends the indicator.
    await alice.locator("#text").fill("I am wri")
    await eventually(lambda: _is(bob, "#typing", "Alice is typing…"), what="bob sees alice typing")
    await shot(bob, "notes-01-typing")
    assert await axe_violations(bob) == [], "room view with the typing indicator"
    await alice.locator("#text").fill("I am writing")
    await alice.locator("#text").press("Enter")
    await eventually(lambda: _is(bob, "#typing", ""), within_s=4, what="the message ended the indicator")
    await eventually(lambda: _sent(alice, ["hi bob", "I am writing"]), what="alice's message acknowledged")

    # Typing, then emptying the composer: a `typing: false` note, well before the 5 s ttl.
    await alice.locator("#text").fill("never mind")
    await eventually(lambda: _is(bob, "#typing", "Alice is typing…"), what="typing again")
    await alice.locator("#text").fill("")
    await eventually(lambda: _is(bob, "#typing", ""), within_s=4, what="an emptied composer ends it")

    # Typing, then nothing: the indicator ends by itself (ttl).
    await alice.locator("#text").fill("hmm")
    await eventually(lambda: _is(bob, "#typing", "Alice is typing…"), what="typing once more")
    await eventually(lambda: _is(bob, "#typing", ""), within_s=15, what="the note expired")

    # alice closes her page: her last socket is gone, bob sees when she was last there.
    await alice.context.close()
    await eventually(lambda: _starts(bob, "#room-presence", "last seen "), what="bob sees alice offline")
    await bob.click("#members")
    items = await bob.locator("#dialog .members li").all_inner_texts()
    assert any(t.startswith("Alice") and "last seen" in t for t in items), items
    assert any(t.startswith("Bob") and "online" in t for t in items), items
    await shot(bob, "notes-02-last-seen")
    await bob.context.close()


async def test_several_typists_in_a_group(web_cluster: LocalCluster, browser: Browser) -> None:
    """carol (at dc1) and dan (at dc2) type through the API; bob's tab (dc3) names both, then
    drops carol when her message arrives and dan on his `typing: false`."""
    dcs = web_cluster.config.dcs
    urls = [dc.http_url for dc in dcs]
    bob = await open_app(browser, dcs[2].http_url)
    bob_name, carol_name, dan_name = uname("bob"), uname("carol"), uname("dan")
    await register(bob, bob_name)
    async with Client(urls, preferred=0) as carol, Client(urls, preferred=1) as dan:
        for client, name in ((carol, carol_name), (dan, dan_name)):
            await client.register(name, PASSWORD, display_name=name.split("_")[0].title())
            await client.login(name, PASSWORD)
        group = await carol.create_group("notes", [bob_name, dan_name])
        await carol.send(group.room_id, "welcome")
        await eventually(lambda: _has(bob, "#rooms", "welcome"), what="bob's list shows the group")
        await open_room(bob, "notes")
        await bob.wait_for_selector("#room-pane[data-loaded='1']")
        # Only bob has a live connection: carol and dan use plain HTTP.
        await eventually(lambda: _is(bob, "#room-presence", "1 of 3 online"), what="the group's header")

        await carol.typing(group.room_id)
        await eventually(lambda: _is(bob, "#typing", "Carol is typing…"), what="one typist")
        await dan.typing(group.room_id)
        await eventually(lambda: _is(bob, "#typing", "Carol and Dan are typing…"), what="two typists")
        await shot(bob, "notes-03-two-typists")
        await carol.send(group.room_id, "done")
        await eventually(lambda: _is(bob, "#typing", "Dan is typing…"), within_s=4, what="carol's message")
        await dan.typing(group.room_id, typing=False)
        await eventually(lambda: _is(bob, "#typing", ""), within_s=4, what="dan stopped")
    await bob.context.close()
