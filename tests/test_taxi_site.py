"""The taxi site's own logic, with no cluster: a stand-in provider with two DCs
(tests/taxi_fake_provider.py) and the site's app in-process. Sign-in with PKCE, state and nonce,
the ID token's checks, refresh through the other DC, key rotation, sign-out."""

from __future__ import annotations

import ast
import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from joserfc.jwk import KeySet
from starlette.applications import Starlette

from firebreak_taxi.idtoken import BadIdToken, verify_id_token
from firebreak_taxi.settings import TaxiSettings
from firebreak_taxi.web import build_app
from tests.taxi_fake_provider import CLIENT_ID, CLIENT_SECRET, DCS, ISSUER, FakeProvider, unsigned

SITE = "http://taxi.test"


class Site:
    def __init__(self, provider: FakeProvider, browser: httpx.AsyncClient, app: Starlette) -> None:
        self.provider = provider
        self.browser = browser
        self.app = app

    async def sign_in(self, sub: str = "u-1", name: str = "Minji") -> httpx.Response:
        """Clicks "Sign in with Firebreak", signs in at the provider, follows it back."""
        start = await self.browser.get("/login")
        assert start.status_code == 303
        back = self.provider.authorize(start.headers["location"], sub, name)
        return await self.browser.get(back.removeprefix(SITE))

    async def page(self) -> str:
        response = await self.browser.get("/")
        assert response.status_code == 200
        return response.text


def _settings(tmp_path: Path, margin_s: float = 10.0) -> TaxiSettings:
    return TaxiSettings(
        issuer=ISSUER,
        provider_urls=DCS,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        public_url=SITE,
        database=tmp_path / "taxi.sqlite",
        refresh_margin_s=margin_s,
    )


@pytest.fixture
def provider() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
async def site(tmp_path: Path, provider: FakeProvider) -> AsyncIterator[Site]:
    app = build_app(_settings(tmp_path), provider.transport())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SITE) as browser:
        yield Site(provider, browser, app)


def _session(page: str) -> tuple[str, int]:
    found = re.search(r'data-dc="([^"]+)" data-refreshes="(\d+)"', page)
    assert found, page
    return found.group(1), int(found.group(2))


async def test_sign_in_shows_the_user_and_keeps_their_rides(site: Site) -> None:
    assert 'id="signin"' in await site.page()
    start = await site.browser.get("/login")
    url = httpx.URL(start.headers["location"])
    assert str(url).startswith(DCS[0] + "/oidc/authorize?")
    assert url.params["redirect_uri"] == SITE + "/callback" and url.params["code_challenge_method"] == "S256"
    back = site.provider.authorize(str(url), "u-1", "Minji <b>")
    done = await site.browser.get(back.removeprefix(SITE))
    assert done.status_code == 303 and done.headers["location"] == "/"
    page = await site.page()
    assert 'id="user-name">Minji &lt;b&gt;</strong>' in page and 'id="user-id">u-1</code>' in page
    await site.browser.post("/rides", content="pickup=Pangyo+station&destination=Seoul+Forest")
    assert "Pangyo station → Seoul Forest" in await site.page()
    # The same callback again (a replayed state) signs no one in, even with the login cookie.
    state = httpx.URL(back).params["state"]
    again = await site.browser.get(back.removeprefix(SITE), headers={"cookie": f"taxi_login={state}"})
    assert again.status_code == 400 and "already used" in again.text


async def test_a_callback_from_another_browser_is_refused(site: Site, provider: FakeProvider) -> None:
    start = await site.browser.get("/login")
    back = provider.authorize(start.headers["location"], "u-1", "Minji")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=site.app), base_url=SITE) as other:
        refused = await other.get(back.removeprefix(SITE))
    assert refused.status_code == 400 and "another browser" in refused.text
    assert 'id="signin"' in await site.page()


@pytest.mark.parametrize("bad", ["tampered", "alg none", "wrong nonce", "wrong audience", "other key"])
async def test_an_id_token_that_fails_a_check_signs_no_one_in(
    site: Site, provider: FakeProvider, bad: str
) -> None:
    good = provider.id_token("u-1", "will not match")
    head, body, sig = good.split(".")
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": CLIENT_ID, "sub": "u-1", "iat": now, "exp": now + 300}
    stranger = FakeProvider()
    provider.id_token_override = {
        "tampered": f"{head}.{body[:-4]}AAAA.{sig}",
        "alg none": unsigned(claims),
        "wrong nonce": good,
        "wrong audience": provider.id_token("u-1", None, aud="another-site"),
        "other key": stranger.id_token("u-1", None),
    }[bad]
    response = await site.sign_in()
    assert response.status_code == 400 and "could not be verified" in response.text
    assert 'id="signin"' in await site.page()


async def test_a_wrong_code_verifier_is_refused_by_the_provider(site: Site, provider: FakeProvider) -> None:
    start = await site.browser.get("/login")
    back = provider.authorize(start.headers["location"], "u-1", "Minji")
    code = httpx.URL(back).params["code"]
    provider.codes[code].challenge = "not the site's"
    response = await site.browser.get(back.removeprefix(SITE))
    assert response.status_code == 400 and "refused" in response.text


async def test_refresh_goes_to_the_other_dc_when_the_first_does_not_answer(
    tmp_path: Path, provider: FakeProvider
) -> None:
    provider.access_ttl_s = 1.0  # shorter than the margin: every page refreshes first
    app = build_app(_settings(tmp_path, margin_s=10.0), provider.transport())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SITE) as browser:
        site = Site(provider, browser, app)
        await site.sign_in()
        assert _session(await site.page()) == (DCS[0], 1)
        provider.down.add(DCS[0])
        page = await site.page()
        assert "Minji" in page and _session(page) == (DCS[1], 2)
        assert provider.token_calls[-2:] == [DCS[0], DCS[1]], "tried the first DC, then the other"
        # Every refresh token was used once: the provider saw no replay.
        assert len(provider.used) == 2 and not (provider.used & set(provider.refresh))
        provider.down.add(DCS[1])
        page = await site.page()
        assert "cannot be reached" in page and "Minji" in page, "the site still serves its own data"


async def test_the_callback_waits_for_a_dc_that_can_redeem_the_code(
    site: Site, provider: FakeProvider
) -> None:
    provider.unavailable_token_calls = 3  # both DCs answer 503, then the first again
    response = await site.sign_in()
    assert response.status_code == 303, response.text
    assert provider.token_calls == [DCS[0], DCS[1], DCS[0], DCS[1]]
    assert "Minji" in await site.page()


async def test_a_new_signing_key_is_fetched_when_a_token_names_it(
    tmp_path: Path, provider: FakeProvider
) -> None:
    provider.access_ttl_s = 1.0
    app = build_app(_settings(tmp_path), provider.transport())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SITE) as browser:
        site = Site(provider, browser, app)
        await site.sign_in()
        assert 'data-kid="k1"' in await site.page()
        provider.rotate_key()  # the refresh's ID token is signed with a key the site has not seen
        page = await site.page()
        assert "Minji" in page and 'data-kid="k2"' in page


async def test_two_pages_at_once_refresh_once(tmp_path: Path, provider: FakeProvider) -> None:
    """A rotated refresh token presented twice would make the provider revoke the family."""
    provider.access_ttl_s = 1.0
    app = build_app(_settings(tmp_path), provider.transport())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SITE) as browser:
        site = Site(provider, browser, app)
        await site.sign_in()  # its access token is already near expiry
        provider.access_ttl_s = 300.0
        calls = len(provider.token_calls)
        pages = await asyncio.gather(site.page(), site.page(), site.page())
        assert all("Minji" in page for page in pages)
        assert len(provider.token_calls) == calls + 1


async def test_a_refused_refresh_signs_the_person_out(tmp_path: Path, provider: FakeProvider) -> None:
    provider.access_ttl_s = 1.0
    app = build_app(_settings(tmp_path), provider.transport())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SITE) as browser:
        site = Site(provider, browser, app)
        await site.sign_in()
        provider.refresh.clear()  # the family was revoked at the provider
        assert 'id="signin"' in await site.page()


async def test_sign_out_ends_the_session_and_goes_to_the_providers_logout(site: Site) -> None:
    await site.sign_in()
    out = await site.browser.post("/logout")
    location = httpx.URL(out.headers["location"])
    assert str(location).startswith(DCS[0] + "/oidc/logout?")
    assert location.params["post_logout_redirect_uri"] == SITE + "/" and location.params["id_token_hint"]
    assert 'id="signin"' in await site.page()


def test_verify_id_token_checks_expiry_and_issuer() -> None:
    provider = FakeProvider()
    keys = KeySet([provider.key])

    def verify(token: str) -> dict[str, object]:
        return verify_id_token(token, keys, issuer=ISSUER, client_id=CLIENT_ID, nonce="n")

    assert verify(provider.id_token("u", "n"))["sub"] == "u"
    with pytest.raises(BadIdToken):
        verify(provider.id_token("u", "n", exp=int(time.time()) - 120))
    with pytest.raises(BadIdToken):
        verify(provider.id_token("u", "n", iss="https://evil.test"))


def test_the_site_imports_nothing_of_firebreak() -> None:
    """It is another company's site: it knows Firebreak only through OpenID Connect."""
    root = Path(__file__).resolve().parent.parent / "src" / "firebreak_taxi"
    found = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                found.update(a.name.split(".")[0] for a in node.names)
    assert "firebreak" not in found and "firebreak_taxi" in found
