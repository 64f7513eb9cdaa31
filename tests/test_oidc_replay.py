"""A code is redeemed exactly once across all DCs: a replay is refused at every DC and revokes what
the first redemption gave (RFC 6749 4.1.2); DCs racing on one code never both succeed."""

from __future__ import annotations

import asyncio

from firebreak.localcluster import LocalCluster
from tests.oidc_helpers import add_site, exchange, new_user, oauth_error, refresh, sign_in, userinfo

#: Rounds of the race (each: one code, a redemption at every DC at the same moment).
RACES = 30


async def test_a_replayed_code_is_refused_everywhere_and_revokes_its_tokens(cluster: LocalCluster) -> None:
    site = await add_site(cluster)
    code = await sign_in(cluster, site, await new_user(cluster), dc=0)
    first = await exchange(cluster, site, code, dc=0)
    assert first.status_code == 200, first.text
    tokens = first.json()
    assert (await userinfo(cluster, tokens["access_token"], dc=1)).status_code == 200

    for dc in (1, 2, 0):
        again = await exchange(cluster, site, code, dc=dc)
        assert again.status_code == 400 and oauth_error(again) == "invalid_grant", again.text

    # What the first redemption gave no longer works, at any DC.
    for dc in range(3):
        assert (await userinfo(cluster, tokens["access_token"], dc=dc)).status_code == 401
        refused = await refresh(cluster, site, tokens["refresh_token"], dc=dc)
        assert refused.status_code == 400 and oauth_error(refused) == "invalid_grant"


async def test_dcs_racing_on_one_code_never_both_win(cluster: LocalCluster) -> None:
    site = await add_site(cluster)
    username = await new_user(cluster)
    winners = []
    for _ in range(RACES):
        code = await sign_in(cluster, site, username, dc=0)
        answers = await asyncio.gather(*(exchange(cluster, site, code, dc=dc) for dc in range(3)))
        ok = [a for a in answers if a.status_code == 200]
        assert len(ok) <= 1, [a.text for a in answers]
        for refused in (a for a in answers if a.status_code != 200):
            assert refused.status_code == 400 and oauth_error(refused) == "invalid_grant", refused.text
        winners.append(len(ok))
        # A winner's tokens are revoked by the losers' attempts (they came second): none survive.
        for won in ok:
            info = await userinfo(cluster, won.json()["access_token"], dc=1)
            assert info.status_code == 401, info.text
    # The race is real: most rounds have exactly one winner (a loser that revokes before the
    # winner has written its family can make both refuse, which is allowed).
    assert sum(winners) >= RACES // 2, winners
