"""The web app's account settings in a real browser (Debian's chromium) against a real three-DC
cluster: the signed-in devices (end one, end all others), the password change (a wrong current
password is refused; the other devices end) and the display name, by keyboard, axe-clean, on a
phone-size screen too (docs/WEB.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Locator, Page

from firebreak.client import ApiError, Client
from firebreak.localcluster import LocalCluster
from tests.helpers import cluster_config, eventually, local_cluster, uname
from tests.web_pages import PASSWORD, axe_violations, open_app, register, shot

NEW_PASSWORD = "battery staple"


@pytest.fixture(scope="module")
async def web_cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalCluster]:
    local = local_cluster(cluster_config(Path(tmp_path_factory.mktemp("web-settings"))))
    try:
        await local.start()
        yield local
    finally:
        local.stop()


async def _count_is(locator: Locator, n: int) -> bool:
    return await locator.count() == n


async def _has(page: Page, selector: str, text: str) -> bool:
    return text in await page.locator(selector).inner_text()


async def _refused(client: Client) -> bool:
    try:
        await client.rooms()
    except ApiError as exc:
        return exc.status == 401
    return False


async def test_devices_password_and_name(web_cluster: LocalCluster, browser: Browser) -> None:
    dcs = web_cluster.config.dcs
    urls = [dc.http_url for dc in dcs]
    page = await open_app(browser, dcs[0].http_url)
    name = uname("dana")
    await register(page, name)
    async with Client(urls, preferred=1) as laptop, Client(urls, preferred=2) as phone:
        await laptop.login(name, PASSWORD)
        await phone.login(name, PASSWORD)

        # Opened by keyboard; the devices: this one (dc1) and the two others, where they signed in.
        await page.locator("#settings-open").press("Enter")
        rows = page.locator("#session-list li.session")
        await eventually(lambda: _count_is(rows, 3), what="three devices listed")
        this = page.locator("#session-list li[data-current='1']")
        assert "This device" in await this.inner_text() and "dc1" in await this.inner_text()
        others = page.locator("#session-list li.session:not([data-current='1'])")
        assert sorted(t.split(" ")[0] for t in await others.all_inner_texts()) == ["dc2", "dc3"]
        await shot(page, "settings-01-devices")
        assert await axe_violations(page) == [], "account settings"

        # End the phone's session (by keyboard): it stops working in every DC.
        await others.filter(has_text="dc3").get_by_role("button", name="Sign out").press("Enter")
        await eventually(lambda: _count_is(rows, 2), what="the ended device left the list")
        await eventually(lambda: _refused(phone), what="the phone signed out")

        # A wrong current password: the error, and nothing changes.
        form = page.locator("#password-form")
        await form.get_by_label("Current password").fill("not my password")
        await form.get_by_label("New password").fill(NEW_PASSWORD)
        await form.get_by_label("New password").press("Enter")
        await eventually(lambda: _has(page, "#password-error", "current password is wrong"), what="refused")
        assert await laptop.rooms() is not None, "the other device still works"
        # The right one: changed, and the laptop's session ends; this one stays.
        await form.get_by_label("Current password").fill(PASSWORD)
        await form.get_by_label("New password").fill(NEW_PASSWORD)
        await form.get_by_role("button", name="Change password").click()
        await eventually(lambda: _has(page, "#password-done", "Password changed"), what="changed")
        await eventually(lambda: _refused(laptop), what="the laptop signed out by the change")
        await eventually(lambda: _count_is(rows, 1), what="only this device left")
        assert await page.locator("#end-others").is_disabled()
        async with Client(urls, preferred=1) as again:
            await again.login(name, NEW_PASSWORD)  # the new password works in another DC

            # Sign out all other devices.
            await page.locator("#settings-close").click()
            await page.locator("#settings-open").click()
            await eventually(lambda: _count_is(rows, 2), what="the new device listed")
            await page.locator("#end-others").click()
            await eventually(lambda: _count_is(rows, 1), what="all others ended")
            await eventually(lambda: _refused(again), what="the other device signed out")

    # The display name: shown at once, and every DC knows it.
    name_form = page.locator("#name-form")
    await name_form.get_by_label("Display name").fill("Dana Kim")
    await name_form.get_by_label("Display name").press("Enter")
    await eventually(lambda: _has(page, "#name-done", "Dana Kim"), what="the name saved")
    assert "Dana Kim" in await page.locator("#me").inner_text()
    await page.keyboard.press("Escape")
    await page.wait_for_selector("#settings", state="hidden")
    async with Client(urls, preferred=2) as reader:
        await reader.login(name, NEW_PASSWORD)
        assert (await reader.me()).display_name == "Dana Kim"
    await page.context.close()


async def test_settings_fit_a_phone(web_cluster: LocalCluster, browser: Browser) -> None:
    phone = await open_app(
        browser, web_cluster.config.dcs[1].http_url, viewport={"width": 390, "height": 800}, has_touch=True
    )
    await register(phone, uname("erin"))
    await phone.click("#settings-open")
    await eventually(lambda: _count_is(phone.locator("#session-list li.session"), 1), what="the device list")
    assert await phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    box = await phone.locator("#settings").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    await shot(phone, "settings-02-phone")
    await phone.context.close()
