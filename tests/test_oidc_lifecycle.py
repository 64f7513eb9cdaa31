"""After sign-in: consent remembered, revocation (RFC 7009), introspection (RFC 7662), a user's
list of sites and withdrawing one, RP-initiated logout, the operator CLI and key rotation."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from firebreak.config_file import dump_config
from firebreak.localcluster import LocalCluster
from tests.oidc_helpers import (
    LOGOUT_BACK,
    PASSWORD,
    REDIRECT,
    Site,
    add_site,
    authorize_params,
    exchange,
    jwks,
    new_user,
    oauth_error,
    pkce,
    query_of,
    refresh,
    sign_in,
    url,
    userinfo,
)


async def _post(
    cluster: LocalCluster, site: Site, dc: int, path: str, form: dict[str, str]
) -> httpx.Response:
    async with httpx.AsyncClient(timeout=20) as http:
        auth = (site.client_id, site.secret) if site.secret else None
        return await http.post(url(cluster, dc) + path, data=form, auth=auth or httpx.USE_CLIENT_DEFAULT)


async def _tokens(cluster: LocalCluster, site: Site, username: str | None = None) -> dict[str, Any]:
    code = await sign_in(cluster, site, username or await new_user(cluster), dc=0)
    resp = await exchange(cluster, site, code, dc=1)
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()
    return data


async def test_consent_is_remembered_per_user_and_site(cluster: LocalCluster) -> None:
    site, other = await add_site(cluster), await add_site(cluster)
    username = await new_user(cluster)
    async with httpx.AsyncClient(timeout=30) as browser:
        await sign_in(cluster, site, username, dc=0, browser=browser)
        # Signed in and consented: the next request gets a code at once, at another DC too.
        _, challenge = pkce()
        params = authorize_params(site, challenge, "n2")
        resp = await browser.get(f"{url(cluster, 2)}/oauth/authorize?{urlencode(params)}")
        assert resp.status_code == 302 and query_of(resp.headers["location"])["code"]
        # Another site still asks.
        params = authorize_params(other, challenge, "n3")
        resp = await browser.get(f"{url(cluster, 1)}/oauth/authorize?{urlencode(params)}")
        assert resp.status_code == 200 and "decision" in resp.text


async def test_revocation_and_introspection_for_confidential_clients(cluster: LocalCluster) -> None:
    site = await add_site(cluster)
    tokens = await _tokens(cluster, site)
    looked = await _post(cluster, site, 2, "/oauth/introspect", {"token": tokens["access_token"]})
    assert looked.status_code == 200 and looked.json()["active"] is True
    assert looked.json()["client_id"] == site.client_id and looked.json()["sub"].startswith("u_")
    looked = await _post(cluster, site, 0, "/oauth/introspect", {"token": tokens["refresh_token"]})
    assert looked.json()["active"] is True and looked.json()["token_type"] == "refresh_token"
    # Another client learns nothing of this client's tokens.
    other = await add_site(cluster)
    assert (
        await _post(cluster, other, 0, "/oauth/introspect", {"token": tokens["access_token"]})
    ).json() == {"active": False}
    assert (await _post(cluster, site, 0, "/oauth/introspect", {"token": "garbage"})).json() == {
        "active": False
    }

    revoked = await _post(cluster, site, 1, "/oauth/revoke", {"token": tokens["refresh_token"]})
    assert revoked.status_code == 200
    for dc in range(3):
        gone = await refresh(cluster, site, tokens["refresh_token"], dc=dc)
        assert gone.status_code == 400 and oauth_error(gone) == "invalid_grant"
        looked = await _post(cluster, site, dc, "/oauth/introspect", {"token": tokens["access_token"]})
        assert looked.json() == {"active": False}
    # An unknown token is answered like a known one (RFC 7009 2.2).
    assert (await _post(cluster, site, 0, "/oauth/revoke", {"token": "nothing"})).status_code == 200

    public = await add_site(cluster, public=True)
    refused = await _post(cluster, public, 0, "/oauth/revoke", {"token": "x", "client_id": public.client_id})
    assert refused.status_code == 400 and oauth_error(refused) == "unauthorized_client"


async def test_a_user_lists_their_sites_and_withdraws_one(cluster: LocalCluster) -> None:
    site = await add_site(cluster)
    username = await new_user(cluster)
    tokens = await _tokens(cluster, site, username)
    async with httpx.AsyncClient(base_url=url(cluster, 1), timeout=20) as http:
        login = await http.post("/v1/sessions", json={"username": username, "password": PASSWORD})
        me = {"authorization": f"Bearer {login.json()['token']}"}
        listed = (await http.get("/v1/me/sites", headers=me)).json()["sites"]
        assert [(s["client_id"], s["scope"]) for s in listed] == [(site.client_id, "openid profile")]
        assert (await http.delete(f"/v1/me/sites/{site.client_id}", headers=me)).status_code == 200
        assert (await http.get("/v1/me/sites", headers=me)).json()["sites"] == []
        again = await http.delete(f"/v1/me/sites/{site.client_id}", headers=me)
        assert again.status_code == 404 and again.json()["error"]["code"] == "unknown_site"
    # What the site held stops working everywhere.
    for dc in range(3):
        assert (await userinfo(cluster, tokens["access_token"], dc=dc)).status_code == 401
    gone = await refresh(cluster, site, tokens["refresh_token"], dc=2)
    assert gone.status_code == 400 and oauth_error(gone) == "invalid_grant"


async def test_rp_initiated_logout_ends_the_provider_session(cluster: LocalCluster) -> None:
    site = await add_site(cluster)
    username = await new_user(cluster)
    async with httpx.AsyncClient(timeout=30) as browser:
        code = await sign_in(cluster, site, username, dc=0, browser=browser)
        id_token = (await exchange(cluster, site, code, dc=0)).json()["id_token"]
        unregistered = {"id_token_hint": id_token, "post_logout_redirect_uri": REDIRECT}
        resp = await browser.get(f"{url(cluster, 1)}/oauth/logout?{urlencode(unregistered)}")
        assert resp.status_code == 200 and "location" not in resp.headers

        code = await sign_in(cluster, site, username, dc=0, browser=browser)
        id_token = (await exchange(cluster, site, code, dc=0)).json()["id_token"]
        params = {"id_token_hint": id_token, "post_logout_redirect_uri": LOGOUT_BACK, "state": "s1"}
        resp = await browser.get(f"{url(cluster, 1)}/oauth/logout?{urlencode(params)}")
        assert resp.status_code == 302 and resp.headers["location"] == LOGOUT_BACK + "?state=s1"
        # Signed out: the next authorization asks to sign in again.
        authz = authorize_params(site, pkce()[1], "n")
        resp = await browser.get(f"{url(cluster, 2)}/oauth/authorize?{urlencode(authz)}")
        assert resp.status_code == 200 and "name='password'" in resp.text


async def _cli(config_path: Path, *args: str) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "firebreak.entrypoints.cli", "oidc", *args, "--config", str(config_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    data: dict[str, Any] = json.loads(out)
    return data


async def test_operator_cli_registers_a_site_and_rotates_keys(cluster: LocalCluster, tmp_path: Path) -> None:
    config_path = tmp_path / "cluster.toml"
    config_path.write_text(dump_config(cluster.config))
    added = await _cli(
        config_path, "client", "add", "--name", "Taxi", "--redirect-uri", REDIRECT,
        "--post-logout-redirect-uri", LOGOUT_BACK,
    )  # fmt: skip
    site = Site(added["client_id"], added["client_secret"])
    assert site.secret and added["issuer"] == cluster.config.issuer
    before = {k["kid"] for k in (await jwks(cluster, 0))["keys"]}

    rotated = await _cli(config_path, "rotate-key")
    new = set(rotated["kids"])
    assert len(new) == 2
    # Published at once in every DC, before it signs: tokens are still signed by the old keys.
    for dc in range(3):
        published = {k["kid"] for k in (await jwks(cluster, dc))["keys"]}
        assert new | before <= published
    tokens = await _tokens(cluster, site)
    header = json.loads(_unb64(tokens["id_token"].split(".")[0]))
    assert header["kid"] in before and header["kid"] not in new


def _unb64(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
