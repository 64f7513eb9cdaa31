"""Helpers for the chat web app's browser tests (tests/test_web_app.py): a person's page, what it
shows, screenshots as artifacts (test-artifacts/web/, not committed) and the axe-core check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "web"
#: axe-core from the npm registry at a pinned version, installed by scripts/bootstrap.sh (dev).
AXE = ROOT / ".web-test" / "node_modules" / "axe-core" / "axe.min.js"
PASSWORD = "correct horse"


async def open_app(browser: Browser, url: str, **context: Any) -> Page:
    ctx = await browser.new_context(**context)
    return await show_app(await ctx.new_page(), url)


async def show_app(page: Page, url: str) -> Page:
    """``page`` at the app of the DC at ``url``, once it asks to sign in."""
    await page.goto(url + "/")
    await page.wait_for_selector("#signin:not([hidden])")
    return page


async def register(page: Page, username: str) -> None:
    form = page.locator("#register-form")
    await form.locator("[name=username]").fill(username)
    await form.locator("[name=display_name]").fill(username.split("_")[0].title())
    await form.locator("[name=password]").fill(PASSWORD)
    await form.locator("button").click()
    await page.wait_for_selector("#chats:not([hidden])")


async def dialog(page: Page, opener: str, *values: str) -> None:
    await page.click(opener)
    inputs = page.locator("#dialog-fields input")
    for i, value in enumerate(values):
        await inputs.nth(i).fill(value)
    await page.click("#dialog-ok")
    await page.wait_for_selector("#dialog", state="hidden")


async def type_message(page: Page, text: str) -> None:
    await page.locator("#text").fill(text)
    await page.locator("#text").press("Enter")


async def bubbles(page: Page) -> list[str]:
    return await page.locator("#msg-list li.msg .bubble").all_inner_texts()


async def sent_bubbles(page: Page) -> list[str]:
    return await page.locator("#msg-list li.msg[data-state=sent] .bubble").all_inner_texts()


async def open_room(page: Page, name: str) -> None:
    await page.locator("#rooms .room button", has_text=name).first.click()
    await page.wait_for_selector("#room-pane:not([hidden])")


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """The serious and critical axe-core violations of what the page shows now."""
    assert AXE.exists(), f"{AXE} is missing: scripts/bootstrap.sh dev installs axe-core"
    await page.add_script_tag(content=AXE.read_text())
    result = await page.evaluate("async () => JSON.stringify((await axe.run(document)).violations)")
    found: list[dict[str, Any]] = json.loads(result)
    return [v for v in found if v.get("impact") in ("serious", "critical")]
