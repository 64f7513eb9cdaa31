"""A user's sessions across DCs: listing them, log out everywhere, password change (docs/API.md,
docs/SECURITY.md), on a real three-DC cluster."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from firebreak.client import Client
from firebreak.client.client import ApiError
from firebreak.entrypoints.gateway.hot import WS_UNAUTHORIZED
from firebreak.localcluster import LocalCluster
from firebreak.wire.views import SessionList
from tests.conftest import SHARED_LIMITS
from tests.helpers import ClientFactory, eventually, live_socket, uname, until_closed

PASSWORD = "a long password"
NEW_PASSWORD = "another long password"


async def signed_in(make: ClientFactory, dc: int, username: str) -> Client:
    client = make(dc)
    await client.login(username, PASSWORD)
    return client


async def refused_everywhere(cluster: LocalCluster, token: str, code: str) -> None:
    """Every DC answers the token with 401 ``code`` (each within the polling time)."""
    async with httpx.AsyncClient(timeout=10) as http:
        for dc in cluster.config.dcs:

            async def refused(url: str = dc.http_url) -> bool:
                r = await http.get(f"{url}/v1/me", headers={"authorization": f"Bearer {token}"})
                return r.status_code == 401 and r.json()["error"]["code"] == code

            await eventually(refused, 10, f"{dc.name} refusing the token with {code}")


async def test_sessions_are_listed_at_every_dc(cluster: LocalCluster, make_client: ClientFactory) -> None:
    name = uname("lister")
    await make_client(0).register(name, PASSWORD)
    phone = await signed_in(make_client, 0, name)
    long_agent = "Phone/1.0 " + "x" * 1000
    async with httpx.AsyncClient(timeout=10, headers={"user-agent": long_agent}) as http:
        r = await http.post(
            f"{cluster.config.dcs[1].http_url}/v1/sessions", json={"username": name, "password": PASSWORD}
        )
        assert r.status_code == 201
        laptop_id, laptop_token = r.json()["session_id"], r.json()["token"]
    assert phone.token is not None
    for i, dc in enumerate(cluster.config.dcs):
        phone.move_to(i)

        async def both() -> SessionList | None:
            listed = await phone.list_sessions()
            return listed if len(listed.sessions) == 2 else None

        listed = await eventually(both, 10, f"both sessions listed at {dc.name}")
        newest, oldest = listed.sessions
        assert newest.session_id == laptop_id and newest.dc == cluster.config.dcs[1].name
        assert newest.client == ("Phone/1.0 " + "x" * 1000)[: SHARED_LIMITS.max_client_chars]
        assert not newest.current and oldest.current and oldest.dc == cluster.config.dcs[0].name
        assert oldest.started_at <= newest.started_at and newest.expires_at > newest.started_at // 1000
    async with httpx.AsyncClient(timeout=10) as http:
        r = await http.get(
            f"{cluster.config.dcs[2].http_url}/v1/sessions",
            headers={"authorization": f"Bearer {phone.token}"},
        )
        raw = r.text
    assert phone.token not in raw and all("token" not in s for s in json.loads(raw)["sessions"])

    stranger = await signed_in(
        make_client, 2, (await make_client(2).register(uname("other"), PASSWORD)).username
    )
    for unknown in (laptop_id.replace(laptop_id[0], "z"), "0" * 24, laptop_id):
        with pytest.raises(ApiError) as missing:
            await stranger.end_session(unknown)  # nobody ends another user's session
        assert (missing.value.status, missing.value.code) == (404, "unknown_session")
    phone.move_to(2)
    await phone.end_session(laptop_id)  # another device's session, ended from dc3
    await phone.end_session(laptop_id)  # again: a retry is fine
    await refused_everywhere(cluster, laptop_token, "session_revoked")
    assert [s.current for s in (await phone.list_sessions()).sessions] == [True]


async def test_log_out_everywhere_ends_the_other_sessions_and_their_sockets_in_every_dc(
    cluster: LocalCluster, make_client: ClientFactory
) -> None:
    """Sessions at dc1, dc2, dc3 with sockets at every DC; log out everywhere from dc1: the other
    tokens get 401 session_revoked at every DC, their sockets close within a second (4401), and
    the caller's session and socket go on."""
    name = uname("everywhere")
    await make_client(0).register(name, PASSWORD)
    me, second, third = [await signed_in(make_client, i, name) for i in (0, 1, 2)]
    assert me.token and second.token and third.token
    urls = [dc.ws_url for dc in cluster.config.dcs]
    doomed = [
        await live_socket(urls[i], t) for i, t in ((0, second.token), (1, second.token), (2, third.token))
    ]
    kept = await live_socket(urls[1], me.token)
    try:
        left = await me.logout_everywhere()
        assert [s.current for s in left.sessions] == [True], "the caller's session is all that is left"
        ends = await asyncio.gather(*(until_closed(ws, within_s=1.0) for ws in doomed))
        for ws, frames in zip(doomed, ends, strict=True):
            assert ws.close_code == WS_UNAUTHORIZED and ws.close_reason == "logged out"
            assert frames and frames[-1]["code"] == "session_revoked"
        for token in (second.token, third.token):
            await refused_everywhere(cluster, token, "session_revoked")
        for i in range(3):
            me.move_to(i)
            assert [s.current for s in (await me.list_sessions()).sessions] == [True]
        assert kept.close_code is None, "the caller's own socket stays open"
        later = await signed_in(make_client, 2, name)  # a login after it is a new session
        assert (await later.me()).username == name
    finally:
        for ws in [*doomed, kept]:
            await ws.close()


async def test_password_change_at_one_dc_holds_at_another(
    cluster: LocalCluster, make_client: ClientFactory
) -> None:
    """A wrong current password changes nothing; the change ends every other session (sockets
    included) and keeps the caller's; another DC then takes only the new password."""
    name = uname("passwd")
    await make_client(0).register(name, PASSWORD)
    me, other = await signed_in(make_client, 0, name), await signed_in(make_client, 1, name)
    assert me.token and other.token

    with pytest.raises(ApiError) as wrong:
        await me.change_password("not the password", NEW_PASSWORD)
    assert (wrong.value.status, wrong.value.code) == (403, "wrong_password")
    assert (await other.me()).username == name, "a wrong current password ends nothing"
    assert (await signed_in(make_client, 2, name)).token, "the old password still works"

    ws = await live_socket(cluster.config.dcs[1].ws_url, other.token)
    try:
        await me.change_password(PASSWORD, NEW_PASSWORD, request_id="pw-1")
        await until_closed(ws, within_s=1.0)
        assert ws.close_code == WS_UNAUTHORIZED and ws.close_reason == "logged out"
    finally:
        await ws.close()
    await refused_everywhere(cluster, other.token, "session_revoked")
    for i in range(3):
        me.move_to(i)
        assert (await me.me()).username == name, "the session that changed it stays"

    at_dc3 = make_client(2)
    with pytest.raises(ApiError) as old:
        await at_dc3.login(name, PASSWORD)
    assert (old.value.status, old.value.code) == (401, "bad_credentials")
    assert (await at_dc3.login(name, NEW_PASSWORD)).user.username == name

    me.move_to(1)
    await me.change_password(PASSWORD, NEW_PASSWORD, request_id="pw-1")  # a retry: the same answer
    with pytest.raises(ApiError) as reused:
        await me.change_password(NEW_PASSWORD, "a third long password", request_id="pw-1")
    assert (reused.value.status, reused.value.code) == (409, "request_id_reused")
    assert (await at_dc3.me()).username == name, "a retry ends no session started since"
