"""The chat web app in a real browser (Debian's chromium) against a real three-DC cluster:
two people chatting through different DCs, input methods, a phone-size screen, accessibility,
and a burned DC under a typing user. The tests share one cluster and run in order; the burn is last.
Screenshots go to test-artifacts/web/ (docs/WEB.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Locator, Page

from firebreak.client import Client
from firebreak.localcluster import LocalCluster
from tests.helpers import cluster_config, eventually, local_cluster, uname
from tests.web_pages import (
    PASSWORD,
    axe_violations,
    bubbles,
    dialog,
    open_app,
    open_room,
    register,
    sent_bubbles,
    shot,
    type_message,
)


class People:
    def __init__(self, cluster: LocalCluster, alice: Page, bob: Page, names: tuple[str, str]) -> None:
        self.cluster = cluster
        self.alice, self.bob = alice, bob
        self.alice_name, self.bob_name = names


@pytest.fixture(scope="module")
async def web_cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalCluster]:
    local = local_cluster(cluster_config(Path(tmp_path_factory.mktemp("web"))))
    try:
        await local.start()
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="module")
async def people(web_cluster: LocalCluster, browser: Browser) -> People:
    """alice's tab is served by dc1, bob's by dc3; both registered through the app."""
    dcs = web_cluster.config.dcs
    alice = await open_app(browser, dcs[0].http_url)
    bob = await open_app(browser, dcs[2].http_url)
    names = (uname("alice"), uname("bob"))
    await register(alice, names[0])
    await register(bob, names[1])
    return People(web_cluster, alice, bob, names)


async def test_sign_in_and_register_say_what_is_wrong(people: People, browser: Browser) -> None:
    page = await open_app(browser, people.cluster.config.dcs[1].http_url)
    form = page.locator("#register-form")
    await form.locator("[name=username]").fill(people.alice_name)
    await form.locator("[name=password]").fill(PASSWORD)
    await form.locator("button").click()
    await eventually(
        lambda: _has(page, "#register-error", "taken"), what="the register form says the name is taken"
    )
    signin = page.locator("#signin-form")
    await signin.locator("[name=username]").fill(people.alice_name)
    await signin.locator("[name=password]").fill("wrong password")
    await signin.locator("button").click()
    await eventually(lambda: _has(page, "#signin-error", "Wrong username or password"), what="bad password")
    assert await page.locator("#register-error").inner_text() != ""  # separate forms, separate errors
    await shot(page, "01-sign-in-errors")
    assert await axe_violations(page) == [], "sign-in view"
    await signin.locator("[name=password]").fill(PASSWORD)
    await signin.locator("button").click()
    await page.wait_for_selector("#chats:not([hidden])")
    await page.click("#signout")
    await page.wait_for_selector("#signin:not([hidden])")
    await page.context.close()


async def test_other_dcs_pages_may_call_the_api_and_no_one_else(web_cluster: LocalCluster) -> None:
    dc1, dc2 = web_cluster.config.dcs[0], web_cluster.config.dcs[1]
    ask = {"access-control-request-method": "POST", "access-control-request-headers": "authorization"}
    async with httpx.AsyncClient(base_url=dc1.http_url) as http:
        ok = await http.options("/v1/rooms", headers={"origin": dc2.http_url, **ask})
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == dc2.http_url
        foreign = await http.options("/v1/rooms", headers={"origin": "http://example.com", **ask})
        assert "access-control-allow-origin" not in foreign.headers
        refused = await http.get("/v1/rooms", headers={"origin": dc2.http_url})
        assert refused.status_code == 401, "errors are readable by the other DCs' pages too"
        assert refused.headers["access-control-allow-origin"] == dc2.http_url
        config = (await http.get("/app/config.json")).json()
        assert config["heartbeat_s"] == web_cluster.config.limits.ws_heartbeat_s
        assert config["dc"] == "dc1" and [d["http_url"] for d in config["dcs"]] == [
            d.http_url for d in web_cluster.config.dcs
        ]


async def _has(page: Page, selector: str, text: str) -> bool:
    return text in await page.locator(selector).inner_text()


async def _unread_of_mine(page: Page, text: str) -> str:
    bubble = page.locator("#msg-list li.msg.mine[data-state=sent]", has_text=text)
    return "".join(await bubble.locator(".unread").all_inner_texts())


async def test_two_people_chat_through_different_dcs(people: People) -> None:
    alice, bob = people.alice, people.bob
    await dialog(alice, "#new-dm", people.bob_name)
    await type_message(alice, "hello bob")
    await eventually(lambda: _sent(alice, ["hello bob"]), what="alice's message acknowledged")
    assert await _unread_of_mine(alice, "hello bob") == "1", "bob has not read it yet"
    # bob's list: the room, its preview, an unread badge, live.
    row = bob.locator("#rooms .room button", has_text="Alice")
    await eventually(lambda: _has(bob, "#rooms", "hello bob"), what="bob's list shows the message")
    assert (await row.locator(".badge").inner_text()).split()[0] == "1"
    await shot(bob, "02-bob-chat-list")
    assert await axe_violations(bob) == [], "chat list view"
    await open_room(bob, "Alice")
    await eventually(lambda: _sent(bob, ["hello bob"]), what="bob sees the message")
    # bob read it: the number on alice's bubble goes away, live.
    await eventually(lambda: _no_unread(alice, "hello bob"), what="alice sees bob read it")
    await type_message(bob, "hi alice\nsecond line")
    await eventually(lambda: _sent(alice, ["hello bob", "hi alice\nsecond line"]), what="bob's reply")
    assert await bob.locator("#rooms .badge").count() == 0
    assert "Bob: hi alice" in await alice.locator("#announce").inner_text(), "announced to screen readers"
    await shot(alice, "03-alice-dm")
    assert await axe_violations(alice) == [], "room view"

    # A group, both ways.
    await dialog(alice, "#new-group", "Weekend", people.bob_name)
    await type_message(alice, "group hello")
    await eventually(lambda: _has(bob, "#rooms", "Weekend"), what="bob's list shows the group")
    await open_room(bob, "Weekend")
    await eventually(lambda: _sent(bob, ["group hello"]), what="bob sees the group message")
    await type_message(bob, "group reply")
    await eventually(lambda: _sent(alice, ["group hello", "group reply"]), what="alice sees the reply")
    assert await alice.locator("#msg-list li.theirs .who").first.inner_text() == "Bob"
    # The list: newest activity first.
    assert (await alice.locator("#rooms .room-name").all_inner_texts())[0] == "Weekend"
    await dialog(alice, "#rename", "Long weekend")
    await eventually(lambda: _has(bob, "#room-title", "Long weekend"), what="bob sees the new name")

    # Invite carol, see the members and how far each has read; bob leaves.
    carol = uname("carol")
    urls = [dc.http_url for dc in people.cluster.config.dcs]
    async with Client(urls, preferred=1) as client:
        await client.register(carol, PASSWORD, "Carol")
    await dialog(alice, "#invite", carol)
    await alice.click("#members")
    await eventually(lambda: _has(alice, "#dialog-fields", "Carol"), what="carol in the member list")
    members = await alice.locator("#dialog-fields li").all_inner_texts()
    assert len(members) == 3 and any("Bob" in m and "read all" in m for m in members), members
    assert any("Carol" in m for m in members), members
    await alice.click("#dialog-cancel")
    await dialog(bob, "#leave")
    await eventually(lambda: _not_has(bob, "#rooms", "Long weekend"), what="the group left bob's list")


async def _not_has(page: Page, selector: str, text: str) -> bool:
    return text not in await page.locator(selector).inner_text()


async def _sent(page: Page, texts: list[str]) -> bool:
    return await sent_bubbles(page) == texts


async def _no_unread(page: Page, text: str) -> bool:
    return await _unread_of_mine(page, text) == ""


async def test_history_scrolls_back_page_by_page(people: People) -> None:
    urls = [dc.http_url for dc in people.cluster.config.dcs]
    async with Client(urls, preferred=1) as client:
        await client.login(people.alice_name, PASSWORD)
        room = await client.open_direct(people.bob_name)
        for start in (0, 100):
            await client.send_batch(
                room.room_id, [(f"old{i}", f"old {i}") for i in range(start, start + 100)]
            )
    bob = people.bob
    await open_room(bob, "Alice")
    await eventually(lambda: _last_is(bob, "old 199"), what="bob's room shows the newest")
    shown = len(await bubbles(bob))
    assert shown < 150, "one page at first"
    for _ in range(10):
        await bob.locator("#messages").evaluate("box => { box.scrollTop = 0; }")
        if "hello bob" in await bubbles(bob):
            break
        await bob.wait_for_timeout(300)
    texts = await bubbles(bob)
    olds = [t for t in texts if t.startswith("old ")]
    assert olds == [f"old {i}" for i in range(200)], "every older page, in order, once"
    assert texts[0] == "hello bob"


async def _last_is(page: Page, text: str) -> bool:
    texts = await bubbles(page)
    return bool(texts) and texts[-1] == text


async def _ime_enter(page: Page, commit: str, *, then_plain_enter: bool) -> None:
    """Enter pressed while the IME composes: Chromium's real sequence (through CDP): a keydown
    with keyCode 229 and isComposing, the IME commits ``commit`` (compositionend), the key's up; a
    Korean IME then hands the same Enter over as a plain key (keyCode 13), a Japanese one does not."""
    cdp = await page.context.new_cdp_session(page)
    enter = {"key": "Enter", "code": "Enter"}
    await cdp.send("Input.dispatchKeyEvent", {"type": "rawKeyDown", **enter, "windowsVirtualKeyCode": 229})
    await cdp.send("Input.insertText", {"text": commit})
    await cdp.send("Input.dispatchKeyEvent", {"type": "keyUp", **enter, "windowsVirtualKeyCode": 229})
    if then_plain_enter:
        await cdp.send("Input.dispatchKeyEvent", {"type": "rawKeyDown", **enter, "windowsVirtualKeyCode": 13})
        await cdp.send("Input.dispatchKeyEvent", {"type": "keyUp", **enter, "windowsVirtualKeyCode": 13})
    await cdp.detach()


async def _compose(page: Page, committed: str, *steps: str) -> None:
    """Types ``committed`` as committed text, then composes ``steps`` (each replaces the last)."""
    cdp = await page.context.new_cdp_session(page)
    if committed:
        await cdp.send("Input.insertText", {"text": committed})
    for text in steps:
        await cdp.send(
            "Input.imeSetComposition", {"text": text, "selectionStart": len(text), "selectionEnd": len(text)}
        )
    await cdp.detach()


async def test_enter_during_ime_composition(people: People) -> None:
    alice = people.alice
    await dialog(alice, "#new-dm", people.bob_name)
    await alice.wait_for_selector("#room-pane[data-loaded='1']")
    before = await bubbles(alice)
    box = alice.locator("#text")
    await box.focus()

    # Korean: one Enter after the last syllable (still composing) sends the whole text, once.
    await _compose(alice, "안녕하세", "ㅇ", "요")
    await _ime_enter(alice, "요", then_plain_enter=True)
    await eventually(lambda: _new_bubbles(alice, before, ["안녕하세요"]), what="the Korean text, sent once")
    assert await box.input_value() == "", "no syllable left behind or doubled"

    # Japanese: the Enter that confirms the conversion does not send; the next one does.
    await _compose(alice, "", "に", "にほんご", "日本語")
    await _ime_enter(alice, "日本語", then_plain_enter=False)
    await alice.wait_for_timeout(300)  # nothing may arrive: give a wrong send the time to show
    assert await box.input_value() == "日本語" and await _new_bubbles(alice, before, ["안녕하세요"])
    await _compose(alice, "", "を")
    await _ime_enter(alice, "を", then_plain_enter=False)
    await box.press("Enter")
    await eventually(
        lambda: _new_bubbles(alice, before, ["안녕하세요", "日本語を"]), what="the Japanese text"
    )

    # Shift+Enter: a new line, not a send.
    await box.type("two")
    await box.press("Shift+Enter")
    await box.type("lines")
    assert await box.input_value() == "two\nlines"
    await box.press("Enter")
    await eventually(
        lambda: _new_bubbles(alice, before, ["안녕하세요", "日本語を", "two\nlines"]), what="two lines"
    )


async def _new_bubbles(page: Page, before: list[str], expected: list[str]) -> bool:
    """The room shows ``expected`` after what it showed ``before``, each once (older pages may
    have been loaded above meanwhile)."""
    texts = await bubbles(page)
    tail = texts[len(texts) - len(expected) - 1 :]
    return tail == [before[-1], *expected] and all(texts.count(t) == 1 for t in expected)


async def test_phone_size_screen(people: People, browser: Browser) -> None:
    phone = await open_app(
        browser, people.cluster.config.dcs[1].http_url, viewport={"width": 390, "height": 800}, has_touch=True
    )
    signin = phone.locator("#signin-form")
    await signin.locator("[name=username]").fill(people.bob_name)
    await signin.locator("[name=password]").fill(PASSWORD)
    await signin.locator("button").click()
    await eventually(lambda: _has(phone, "#rooms", "Alice"), what="the chat list on a phone")
    assert await _fits(phone), "nothing wider than the screen"
    await open_room(phone, "Alice")
    assert not await phone.locator("#list-pane").is_visible(), "the room takes the whole screen"
    composer = await phone.locator("#text").bounding_box()
    assert composer is not None and composer["y"] + composer["height"] <= 800 and composer["width"] > 250
    assert await _fits(phone)
    await shot(phone, "04-phone-room")
    await phone.click("#back")
    assert await phone.locator("#list-pane").is_visible()
    await phone.context.close()


async def test_a_refused_message_is_marked_failed_and_can_be_edited_or_dropped(people: People) -> None:
    alice = people.alice
    await dialog(alice, "#new-dm", people.bob_name)
    await alice.wait_for_selector("#room-pane[data-loaded='1']")
    before = await sent_bubbles(alice)
    too_long = "x" * 4001
    await type_message(alice, too_long)
    failed = alice.locator("#msg-list li.msg[data-state=failed]")
    await eventually(lambda: _count_is(failed, 1), what="the message marked failed")
    assert "4000" in await failed.locator(".sending").inner_text(), "the reason is shown"
    await failed.get_by_role("button", name="Edit").click()
    await alice.locator("#dialog-fields input").fill("shorter now")
    await alice.click("#dialog-ok")
    await eventually(lambda: _sent(alice, [*before, "shorter now"]), what="the edited message sent")
    assert await failed.count() == 0
    await type_message(alice, too_long)
    await eventually(lambda: _count_is(failed, 1), what="failed again")
    await failed.get_by_role("button", name="Drop").click()
    await eventually(lambda: _count_is(failed, 0), what="dropped")
    assert await sent_bubbles(alice) == [*before, "shorter now"]


async def _count_is(locator: Locator, n: int) -> bool:
    return await locator.count() == n


async def _fits(page: Page) -> bool:
    return bool(await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


async def _pending(page: Page) -> list[str]:
    return await page.locator("#msg-list li.msg[data-state=pending] .bubble").all_inner_texts()


async def _conn(page: Page) -> tuple[str, str, str]:
    status = page.locator("#conn")
    dc, state = await status.get_attribute("data-dc"), await status.get_attribute("data-state")
    return dc or "", state or "", await status.inner_text()


async def _reactions(page: Page, text: str) -> list[str]:
    bubble = page.locator("#msg-list li.msg", has_text=text)
    return await bubble.locator(".reaction").all_inner_texts()


async def test_edit_react_search_and_delete(people: People) -> None:
    alice, bob = people.alice, people.bob
    await dialog(alice, "#new-group", "Dinner", people.bob_name)
    await type_message(alice, "오늘 저녁에 삼겹살 먹으러 갈래?")
    await eventually(lambda: _has(bob, "#rooms", "Dinner"), what="bob's list shows the group")
    await open_room(bob, "Dinner")
    await eventually(lambda: _sent(bob, ["오늘 저녁에 삼겹살 먹으러 갈래?"]), what="bob sees the message")

    mine = alice.locator("#msg-list li.msg.mine[data-state=sent]").last
    await mine.get_by_role("button", name="Message actions").click()
    await alice.locator("#dialog").get_by_role("button", name="Edit").click()
    await alice.locator("#dialog-fields input").fill("오늘 저녁에 갈비 먹으러 갈래?")
    await alice.click("#dialog-ok")
    await eventually(lambda: _sent(bob, ["오늘 저녁에 갈비 먹으러 갈래?"]), what="bob sees the edit live")
    assert await bob.locator("#msg-list li.msg .edited").count() == 1

    theirs = bob.locator("#msg-list li.msg.theirs").last
    await theirs.get_by_role("button", name="Message actions").click()
    await bob.locator("#dialog").get_by_role("button", name="React \U0001f44d").click()
    await eventually(lambda: _reactions(alice, "갈비"), what="alice sees bob's reaction live")
    assert await _reactions(alice, "갈비") == ["\U0001f44d 1"]

    await alice.locator("#search").fill("갈비")
    await alice.locator("#search").press("Enter")
    await eventually(lambda: _has(alice, "#dialog-fields", "갈비 먹으러"), what="the search hit")
    assert await alice.locator("#dialog-fields mark").all_inner_texts() == ["갈비"]
    await shot(alice, "07-search")
    assert await axe_violations(alice) == [], "search results"
    await alice.locator(".search-hit").first.click()
    await alice.wait_for_selector("#dialog", state="hidden")

    await mine.get_by_role("button", name="Message actions").click()
    await alice.locator("#dialog").get_by_role("button", name="Delete for everyone").click()
    await alice.click("#dialog-ok")
    await eventually(lambda: _sent(bob, ["This message was deleted."]), what="bob sees the deletion live")
    assert await _reactions(bob, "deleted") == []
    await shot(bob, "08-deleted")
    assert await axe_violations(bob) == [], "room with a deleted message"


async def test_burning_the_tabs_dc(people: People) -> None:
    """Last: dc1 burns while alice (served by dc1) has messages pending and keeps typing."""
    alice, bob, cluster = people.alice, people.bob, people.cluster
    await alice.wait_for_selector("body[data-offline-ready='1']")  # the app's files are cached
    await dialog(alice, "#new-group", "Fire", people.bob_name)
    sent = [f"m{i}" for i in range(1, 4)]
    for text in sent:
        await type_message(alice, text)
    await eventually(lambda: _sent(alice, sent), what="alice's first messages")
    # Pending: the network is gone for her tab while she types two more.
    await alice.context.set_offline(True)
    for text in ("m4", "m5"):
        await type_message(alice, text)
    assert await _pending(alice) == ["m4", "m5"]
    cluster.kill("dc1", burn=True)
    await alice.context.set_offline(False)
    for text in ("m6", "m7", "m8"):  # she keeps typing while her DC is gone and the log elects
        await type_message(alice, text)
    expected = [f"m{i}" for i in range(1, 9)]
    await eventually(lambda: _sent(alice, expected), within_s=60, what="every message acknowledged")
    dc, state, text = await _conn(alice)
    assert dc != "dc1" and state == "live" and "failed over from dc1" in text, text
    await shot(alice, "05-alice-after-the-fire")
    await open_room(bob, "Fire")
    await eventually(lambda: _sent(bob, expected), within_s=30, what="bob gets each message once, in order")

    # Reload alice's tab, dc1 still gone, with one more message waiting in the outbox.
    await alice.context.set_offline(True)
    await type_message(alice, "m9")
    await alice.reload()
    await alice.wait_for_selector("#chats:not([hidden])")
    assert "Fire" in await alice.locator("#rooms").inner_text(), "her rooms came back"
    await eventually(lambda: _pending_is(alice, ["m9"]), what="her outbox came back")
    await shot(alice, "06-alice-reloaded-offline")
    await alice.context.set_offline(False)
    expected.append("m9")
    await eventually(lambda: _sent(alice, expected), within_s=60, what="m9 sent after the reload")
    await eventually(lambda: _sent(bob, expected), within_s=30, what="bob gets m9 once")
    dc, state, text = await _conn(alice)
    assert dc != "dc1" and "failed over from dc1" in text, text

    # What the log holds, read through another DC: each message once, in the order typed.
    urls = [d.http_url for d in cluster.config.dcs]
    async with Client(urls, preferred=2) as client:
        await client.login(people.bob_name, PASSWORD)
        room = next(r for r in (await client.rooms()).rooms if r.name == "Fire")
        history = await client.history(room.room_id)
        assert [m.text for m in history.messages] == expected
        assert len({m.client_id for m in history.messages}) == len(expected)


async def _pending_is(page: Page, texts: list[str]) -> bool:
    return await _pending(page) == texts
