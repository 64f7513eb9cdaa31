"""What the provider refuses: unregistered redirect URIs (never redirected to), a missing or wrong
PKCE verifier, an expired code, a wrong client secret, a tampered ID token, ``alg: none``."""

from __future__ import annotations

import base64
import json
from urllib.parse import urlencode

import httpx
import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import KeySet

from firebreak.localcluster import LocalCluster
from tests.helpers import eventually
from tests.oidc_helpers import (
    PASSWORD,
    REDIRECT,
    Site,
    add_site,
    authorize_params,
    exchange,
    hidden,
    jwks,
    new_user,
    oauth_error,
    pkce,
    query_of,
    sign_in,
    url,
    userinfo,
)


async def test_an_unregistered_redirect_uri_is_never_redirected_to(cluster: LocalCluster) -> None:
    site = await add_site(cluster)
    _, challenge = pkce()
    for uri in ("https://evil.example/cb", REDIRECT + "/", REDIRECT + "?x=1"):
        params = authorize_params(site, challenge, "n") | {"redirect_uri": uri}
        async with httpx.AsyncClient(timeout=20) as http:
            resp = await http.get(f"{url(cluster, 0)}/oauth/authorize?{urlencode(params)}")
        assert resp.status_code == 400 and "location" not in resp.headers
        assert "not registered" in resp.text
    # An unknown client likewise gets a page, not a redirect.
    params = authorize_params(Site("nobody", None), challenge, "n")
    async with httpx.AsyncClient(timeout=20) as http:
        resp = await http.get(f"{url(cluster, 1)}/oauth/authorize?{urlencode(params)}")
    assert resp.status_code == 400 and "location" not in resp.headers


async def test_errors_after_the_redirect_uri_is_known_go_back_to_the_site(cluster: LocalCluster) -> None:
    site = await add_site(cluster, public=True)
    cases = {
        "invalid_request": authorize_params(site, None, "n"),  # PKCE missing
        "invalid_scope": authorize_params(site, pkce()[1], "n", scope="profile"),
        "unsupported_response_type": authorize_params(site, pkce()[1], "n", response_type="token"),
    }
    async with httpx.AsyncClient(timeout=20) as http:
        for error, params in cases.items():
            resp = await http.get(f"{url(cluster, 2)}/oauth/authorize?{urlencode(params)}")
            assert resp.status_code == 302, resp.text
            got = query_of(resp.headers["location"])
            assert resp.headers["location"].startswith(REDIRECT + "?")
            assert got["error"] == error and got["state"] == params["state"]


async def test_the_token_endpoint_refuses_wrong_redirect_uri_and_pkce(cluster: LocalCluster) -> None:
    site = await add_site(cluster)
    code = await sign_in(cluster, site, await new_user(cluster), dc=0)
    form = {"grant_type": "authorization_code", "code": code.code, "redirect_uri": REDIRECT + "x"}
    async with httpx.AsyncClient(timeout=20) as http:
        assert site.secret is not None
        resp = await http.post(
            url(cluster, 1) + "/oauth/token",
            data=form | {"code_verifier": code.verifier},
            auth=(site.client_id, site.secret),
        )
    assert resp.status_code == 400 and oauth_error(resp) == "invalid_grant"
    missing = await exchange(cluster, site, code, dc=1, verifier="")
    assert missing.status_code == 400 and oauth_error(missing) == "invalid_grant"
    wrong = await exchange(cluster, site, code, dc=2, verifier=pkce()[0])
    assert wrong.status_code == 400 and oauth_error(wrong) == "invalid_grant"
    # None of those used the code up: the right verifier still redeems it.
    right = await exchange(cluster, site, code, dc=0)
    assert right.status_code == 200, right.text


async def test_a_wrong_client_secret_is_refused(cluster: LocalCluster) -> None:
    site = await add_site(cluster)
    code = await sign_in(cluster, site, await new_user(cluster), dc=0)
    wrong = await exchange(cluster, Site(site.client_id, "not-the-secret"), code, dc=1)
    assert wrong.status_code == 401 and oauth_error(wrong) == "invalid_client"
    assert "basic" in wrong.headers["www-authenticate"].lower()
    no_secret = await exchange(cluster, Site(site.client_id, None), code, dc=1)
    assert no_secret.status_code == 401 and oauth_error(no_secret) == "invalid_client"


async def test_an_expired_code_is_refused(cluster: LocalCluster) -> None:
    site = await add_site(cluster)
    code = await sign_in(cluster, site, await new_user(cluster), dc=0)

    async def expired() -> bool:
        # A wrong verifier never uses the code up; once the code has expired it says so instead.
        resp = await exchange(cluster, site, code, dc=1, verifier=pkce()[0])
        return "expired" in resp.json()["error_description"]

    await eventually(expired, within_s=cluster.config.limits.oidc_code_ttl_s + 20, what="the code to expire")
    late = await exchange(cluster, site, code, dc=2)
    assert late.status_code == 400 and oauth_error(late) == "invalid_grant"
    assert "expired" in late.json()["error_description"]


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_tampered_and_unsigned_tokens_are_refused(cluster: LocalCluster) -> None:
    site = await add_site(cluster)
    code = await sign_in(cluster, site, await new_user(cluster), dc=0)
    tokens = (await exchange(cluster, site, code, dc=0)).json()
    keys = KeySet.import_key_set(await jwks(cluster, 1))  # type: ignore[arg-type]
    header, payload, signature = tokens["id_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))

    tampered = ".".join([header, _b64(claims | {"sub": "u_someone_else"}), signature])
    with pytest.raises(BadSignatureError):
        jwt.decode(tampered, keys, algorithms=["RS256", "ES256"])
    unsigned = ".".join([_b64({"alg": "none", "typ": "JWT"}), _b64(claims), ""])
    with pytest.raises(JoseError):
        jwt.decode(unsigned, keys, algorithms=["RS256", "ES256"])

    # The provider refuses the same forgeries of an access token at userinfo.
    a_header, a_payload, a_signature = tokens["access_token"].split(".")
    a_claims = json.loads(base64.urlsafe_b64decode(a_payload + "=" * (-len(a_payload) % 4)))
    forged = [
        ".".join([a_header, _b64(a_claims | {"sub": "u_someone_else"}), a_signature]),
        ".".join([_b64({"alg": "none", "typ": "at+jwt"}), _b64(a_claims), ""]),
        tokens["id_token"],  # an ID token is not an access token
    ]
    for token in forged:
        resp = await userinfo(cluster, token, dc=2)
        assert resp.status_code == 401 and oauth_error(resp) == "invalid_token"
    assert (await userinfo(cluster, tokens["access_token"], dc=2)).status_code == 200


async def test_a_sign_in_posted_from_another_page_is_refused(cluster: LocalCluster) -> None:
    """Login CSRF: another site's page posts the sign-in form (with its own account) into a
    visitor's browser. Without the cookie the provider's own page set, nobody is signed in."""
    site = await add_site(cluster)
    username = await new_user(cluster)
    _, challenge = pkce()
    query = urlencode(authorize_params(site, challenge, "n"))
    base = url(cluster, 0)
    async with httpx.AsyncClient(timeout=20) as attacker, httpx.AsyncClient(timeout=20) as victim:
        page = await attacker.get(f"{base}/oauth/authorize?{query}")
        form = hidden(page.text) | {"username": username, "password": PASSWORD}
        forged = await victim.post(f"{base}/oauth/authorize/login", data=form)
        assert forged.status_code == 400 and "not opened here" in forged.text, forged.text[:300]
        assert "fb_login" not in victim.cookies, "the visitor must not be signed in"
        # The same form from the provider's own page (its cookie along) signs in.
        own = await attacker.post(f"{base}/oauth/authorize/login", data=form)
        assert own.status_code in (200, 303) and "fb_login" in attacker.cookies, own.text[:300]
