"""The OpenID Connect provider on a real three-DC cluster: the code flow with PKCE across DCs, the
ID token checked against JWKS, userinfo, and refresh-token rotation (docs/LOGIN.md)."""

from __future__ import annotations

import time

from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from firebreak.localcluster import LocalCluster
from tests.oidc_helpers import add_site, exchange, jwks, new_user, oauth_error, refresh, sign_in, userinfo


async def test_code_from_dc1_redeemed_at_dc2_id_token_verifies_with_jwks(cluster: LocalCluster) -> None:
    site = await add_site(cluster)
    username = await new_user(cluster)
    code = await sign_in(cluster, site, username, dc=0)
    resp = await exchange(cluster, site, code, dc=1)
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"
    tokens = resp.json()
    assert tokens["token_type"] == "Bearer" and tokens["refresh_token"] and tokens["expires_in"] > 0

    keys = KeySet.import_key_set(await jwks(cluster, 2))  # type: ignore[arg-type]
    id_token = jwt.decode(tokens["id_token"], keys, algorithms=["RS256", "ES256"])
    issuer = cluster.config.issuer
    JWTClaimsRegistry(
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": site.client_id},
        nonce={"essential": True, "value": code.nonce},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        auth_time={"essential": True},
    ).validate(id_token.claims)
    claims = id_token.claims
    assert claims["preferred_username"] == username and claims["name"] == username
    assert claims["sub"].startswith("u_")
    assert claims["auth_time"] <= time.time() + 1

    info = await userinfo(cluster, tokens["access_token"], dc=2)
    assert info.status_code == 200, info.text
    assert info.json() == {"sub": claims["sub"], "name": username, "preferred_username": username}


async def test_discovery_is_the_same_issuer_at_every_dc(cluster: LocalCluster) -> None:
    import httpx

    docs = []
    async with httpx.AsyncClient(timeout=20) as http:
        for dc in cluster.config.dcs:
            resp = await http.get(dc.http_url + "/.well-known/openid-configuration")
            assert resp.status_code == 200
            docs.append(resp.json())
            assert resp.json()["token_endpoint"] == dc.http_url + "/oauth/token"
    assert {d["issuer"] for d in docs} == {cluster.config.issuer}
    assert docs[0]["code_challenge_methods_supported"] == ["S256"]
    assert set(docs[0]["id_token_signing_alg_values_supported"]) == {"RS256", "ES256"}


async def test_refresh_rotates_and_a_reused_token_revokes_the_family_everywhere(
    cluster: LocalCluster,
) -> None:
    site = await add_site(cluster)
    code = await sign_in(cluster, site, await new_user(cluster), dc=0)
    first = (await exchange(cluster, site, code, dc=0)).json()

    second = await refresh(cluster, site, first["refresh_token"], dc=1)
    assert second.status_code == 200, second.text
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert (await userinfo(cluster, rotated["access_token"], dc=2)).status_code == 200

    # The rotated-away token, replayed at every DC: refused each time.
    for dc in (2, 0, 1):
        again = await refresh(cluster, site, first["refresh_token"], dc=dc)
        assert again.status_code == 400 and oauth_error(again) == "invalid_grant", again.text
    # ...and its reuse revoked the whole family: the newest token and its access token too.
    newest = await refresh(cluster, site, rotated["refresh_token"], dc=2)
    assert newest.status_code == 400 and oauth_error(newest) == "invalid_grant"
    assert (await userinfo(cluster, rotated["access_token"], dc=0)).status_code == 401
