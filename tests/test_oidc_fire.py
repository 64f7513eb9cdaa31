"""A fire between the redirect and the code exchange: the DC that issued the code, and led the
provider's state, burns; the exchange succeeds at another DC, refresh works at the third, and
the code is still redeemable once only (docs/LOGIN.md)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from firebreak.adapters import leadership
from firebreak.adapters.oidc_store import OIDC_BUCKET
from firebreak.localcluster import LocalCluster
from tests.helpers import cluster_config, local_cluster
from tests.oidc_helpers import add_site, exchange, new_user, oauth_error, refresh, sign_in, userinfo

# A cluster of its own whose DCs burn: the slow set, with the other long proofs.
pytestmark = pytest.mark.slow


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[LocalCluster]:
    running = local_cluster(cluster_config(tmp_path / "data"))
    await running.start()
    try:
        yield running
    finally:
        running.stop()


async def test_the_issuing_dc_burns_before_the_exchange(cluster: LocalCluster) -> None:
    names = [dc.name for dc in cluster.config.dcs]
    site = await add_site(cluster)
    username = await new_user(cluster)
    # The worst case: the DC that issues the code also leads the provider's state.
    leaders = await leadership.leaders(cluster.config)
    victim = leaders[f"KV_{OIDC_BUCKET}"]
    assert victim is not None
    at = names.index(victim)
    code = await sign_in(cluster, site, username, dc=at)

    cluster.kill(victim, burn=True)
    others = [i for i in range(3) if i != at]
    started = time.monotonic()
    resp = await exchange(cluster, site, code, dc=others[0])
    took = time.monotonic() - started
    assert resp.status_code == 200, resp.text
    print(f"\nburned {victim} (leader of the OIDC bucket); code exchange at {names[others[0]]}: {took:.2f} s")
    tokens = resp.json()

    started = time.monotonic()
    refreshed = await refresh(cluster, site, tokens["refresh_token"], dc=others[1])
    assert refreshed.status_code == 200, refreshed.text
    print(f"refresh at {names[others[1]]}: {time.monotonic() - started:.2f} s")
    assert (await userinfo(cluster, refreshed.json()["access_token"], dc=others[0])).status_code == 200

    replay = await exchange(cluster, site, code, dc=others[1])
    assert replay.status_code == 400 and oauth_error(replay) == "invalid_grant"


async def test_a_draining_dc_sends_sites_elsewhere(cluster: LocalCluster) -> None:
    import httpx

    site = await add_site(cluster)
    code = await sign_in(cluster, site, await new_user(cluster), dc=0)
    last = cluster.config.dcs[2].http_url
    async with httpx.AsyncClient(timeout=20) as http:
        drained = await http.post(
            last + "/internal/drain", headers={"x-ops-token": cluster.config.secrets.ops_token}
        )
        assert drained.status_code == 200
        refused = await http.post(last + "/oauth/token", data={"grant_type": "refresh_token"})
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "dc_draining"
        assert (await http.get(last + "/.well-known/openid-configuration")).status_code == 200
    resp = await exchange(cluster, site, code, dc=1)
    assert resp.status_code == 200, resp.text
