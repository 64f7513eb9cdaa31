"""Firebreak Taxi, the demo site, in a real browser (Debian's chromium) against a real three-DC
cluster: a person signs in at the site through Firebreak's sign-in and consent pages, is back at
the site signed in, and stays signed in after the DC the site was talking to burns (the site's
refreshes go to the other DCs). Screenshots go to test-artifacts/web/."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, Route

from firebreak.config import Config
from firebreak.entrypoints.taxi_site import TaxiSite, register
from firebreak.localcluster import LocalCluster
from firebreak.localcluster.processes import free_ports
from tests.conftest import SHARED_LIMITS
from tests.helpers import cluster_config, eventually, local_cluster, uname
from tests.web_pages import PASSWORD, axe_violations, shot

# A browser through fires and rebuilds: the slow set, with the other long proofs.
pytestmark = pytest.mark.slow

#: Access tokens live a few seconds here, so the test sees refreshes (and one after the burn).
ACCESS_TTL_S = 4
#: A new signing key signs this soon after it is published.
KEY_PUBLISH_S = 2


class Taxi:
    def __init__(self, cluster: LocalCluster, site: TaxiSite) -> None:
        self.cluster = cluster
        self.site = site


@contextlib.asynccontextmanager
async def _running(data: Path) -> AsyncIterator[Taxi]:
    limits = dataclasses.replace(
        SHARED_LIMITS, oidc_access_token_ttl_s=ACCESS_TTL_S, oidc_key_publish_s=KEY_PUBLISH_S
    )
    cluster = local_cluster(cluster_config(data, limits))
    site = TaxiSite(cluster.config, free_ports(1)[0], watch=cluster.watch)
    try:
        await cluster.start()
        site.start(await register(cluster.config, site.url), refresh_margin_s=1.0)
        await site.wait_ready()
        yield Taxi(cluster, site)
    finally:
        site.stop()
        cluster.stop()


@pytest.fixture(scope="module")
async def taxi(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Taxi]:
    async with _running(Path(tmp_path_factory.mktemp("taxi"))) as running:
        yield running


@pytest.fixture
async def other_taxi(tmp_path: Path) -> AsyncIterator[Taxi]:
    """A cluster of its own: its test burns a DC before the module's test would."""
    async with _running(tmp_path) as running:
        yield running


async def _account(config: Config) -> tuple[str, str]:
    """A new Firebreak account (username, display name), made through the messenger's API."""
    username, name = uname("minji"), "Minji Kim"
    async with httpx.AsyncClient() as http:
        made = await http.post(
            config.dcs[1].http_url + "/v1/accounts",
            json={"username": username, "password": PASSWORD, "request_id": uname("r"), "display_name": name},
        )
        assert made.status_code in (200, 201), made.text
    return username, name


async def _sign_in_at_firebreak(page: Page, username: str, consent_shot: str | None = None) -> None:
    """On Firebreak's sign-in page: the password, then "Allow" on the consent page."""
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    allow = page.locator("button[name=decision][value=allow]")
    await allow.wait_for()
    if consent_shot:
        await shot(page, consent_shot)
    await allow.click()


async def _session(page: Page) -> tuple[str, int]:
    info = page.locator("#session")
    return str(await info.get_attribute("data-dc")), int(await info.get_attribute("data-refreshes") or "-1")


async def test_sign_in_with_firebreak_and_stay_signed_in_through_a_fire(taxi: Taxi, browser: Browser) -> None:
    config = taxi.cluster.config
    username, name = await _account(config)

    page = await (await browser.new_context()).new_page()
    await page.goto(taxi.site.url + "/")
    await shot(page, "taxi-01-signed-out")
    await page.click("#signin")
    # Firebreak's own sign-in page, at a DC's address.
    await page.wait_for_selector("input[name=password]")
    assert any(page.url.startswith(dc.http_url + "/oauth/authorize") for dc in config.dcs), page.url
    await _sign_in_at_firebreak(page, username, consent_shot="taxi-02-consent")
    # Back at the site, signed in.
    await page.wait_for_selector("#user-name")
    assert page.url.startswith(taxi.site.url)
    assert await page.locator("#user-name").inner_text() == name
    assert re.fullmatch(r"\S+", await page.locator("#user-id").inner_text())
    await page.fill("[name=pickup]", "Pangyo station")
    await page.fill("[name=destination]", "Seoul Forest")
    await page.click("#call-form button")
    await page.locator("#rides li", has_text="Pangyo station").wait_for()
    await shot(page, "taxi-03-signed-in")
    assert await axe_violations(page) == [], "the taxi site's ride page"

    # An operator rotates the signing keys: the site meets ID tokens signed by a key it has not
    # fetched yet and stays signed in.
    first_key = await page.locator("#session").get_attribute("data-kid")
    async with httpx.AsyncClient() as http:
        rotated = await http.post(
            config.dcs[2].http_url + "/internal/oidc/rotate-key",
            json={"alg": "RS256"},
            headers={"x-ops-token": config.secrets.ops_token},
        )
        new_keys = rotated.raise_for_status().json()["kids"]
    assert first_key and first_key not in new_keys

    async def signed_with_the_new_key() -> bool:
        await page.reload()
        return await page.locator("#session").get_attribute("data-kid") in new_keys

    await eventually(signed_with_the_new_key, within_s=30, what="an ID token signed with the new key")
    assert await page.locator("#user-name").inner_text() == name

    # Burn the DC the site talks to; once the access token expires, the site refreshes elsewhere.
    talking_to, refreshes = await _session(page)
    burned = next(dc.name for dc in config.dcs if dc.http_url == talking_to)
    taxi.cluster.kill(burned, burn=True)
    fire = time.monotonic()
    pages_with_notice = 0

    async def refreshed_elsewhere() -> bool:
        await page.reload()
        if await page.locator("#user-name").count() == 0:
            raise AssertionError("signed out: " + (await page.content())[:500])
        nonlocal pages_with_notice
        dc, count = await _session(page)
        notice = await page.locator("#notice").count()
        pages_with_notice += notice
        return dc != talking_to and count > refreshes and notice == 0

    await eventually(refreshed_elsewhere, within_s=60, what=f"a refresh through another DC than {burned}")
    # Shown with `pytest -s`: docs/LOGIN.md quotes it.
    print(
        f"taxi: refreshed through another DC {time.monotonic() - fire:.1f} s after {burned} burned;"
        f" {pages_with_notice} pages meanwhile showed 'cannot be reached'"
    )
    assert await page.locator("#user-name").inner_text() == name
    await page.fill("[name=pickup]", "Seoul Forest")
    await page.fill("[name=destination]", "Gangnam")
    await page.click("#call-form button")
    await page.locator("#rides li", has_text="Gangnam").wait_for()
    await shot(page, "taxi-04-after-fire")

    # Signing out ends the site's session and the provider's (RP-initiated logout), and comes back.
    await page.click("#signout")
    await page.wait_for_selector("#signin")
    assert page.url.startswith(taxi.site.url)
    await page.context.close()


async def test_the_code_is_redeemed_at_another_dc_when_the_dc_that_issued_it_burns(
    other_taxi: Taxi, browser: Browser
) -> None:
    config = other_taxi.cluster.config
    username, name = await _account(config)
    page = await (await browser.new_context()).new_page()
    await page.goto(other_taxi.site.url + "/")
    await page.click("#signin")
    await page.wait_for_selector("input[name=password]")
    issuer_dc = next(dc for dc in config.dcs if page.url.startswith(dc.http_url + "/"))
    burned_at: list[float] = []

    async def burn_then_deliver(route: Route) -> None:
        # "Allow" is answered with a redirect that carries the code back to the site; the DC that
        # issued the code burns before the browser follows it.
        answer = await route.fetch(max_redirects=0)
        assert answer.status in (302, 303) and "code=" in answer.headers["location"]
        await asyncio.to_thread(other_taxi.cluster.kill, issuer_dc.name, burn=True)
        burned_at.append(time.monotonic())
        await route.fulfill(response=answer)

    await page.route(issuer_dc.http_url + "/oauth/authorize/consent", burn_then_deliver)
    await _sign_in_at_firebreak(page, username)
    await page.wait_for_selector("#user-name", timeout=60_000)
    took = time.monotonic() - burned_at[0]
    print(f"taxi: signed in {took:.1f} s after {issuer_dc.name}, which issued the code, burned")
    assert await page.locator("#user-name").inner_text() == name
    talking_to, _ = await _session(page)
    assert talking_to != issuer_dc.http_url
    await page.context.close()
