"""The client's failover between DCs and a server's Retry-After (client/transport.py), against
answers made up per DC (httpx's MockTransport: the rule is the client's, not the network's)."""

from __future__ import annotations

import httpx

from firebreak.client.transport import Transport

DCS = ["http://dc1.test", "http://dc2.test", "http://dc3.test"]


def cut_off() -> httpx.Response:
    body = {"error": {"code": "dc_cut_off", "message": "dc1 is cut off from the log"}}
    return httpx.Response(503, headers={"retry-after": "3"}, json=body)


def slow_down() -> httpx.Response:
    body = {"error": {"code": "rate_limited", "message": "too many sends"}}
    return httpx.Response(429, headers={"retry-after": "2"}, json=body)


def ok() -> httpx.Response:
    return httpx.Response(200, json={"ok": True})


class Dcs:
    """Each DC's answers, in turn; remembers which DC was asked."""

    def __init__(self, **answers: list[httpx.Response]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def transport(self, dcs: list[str]) -> Transport:
        def answer(request: httpx.Request) -> httpx.Response:
            dc = request.url.host.removesuffix(".test")
            self.asked.append(dc)
            return self.answers[dc].pop(0)

        http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
        return Transport(dcs, http=http, retry_deadline=30)


async def test_a_dc_that_cannot_serve_is_left_at_once_whatever_its_retry_after(slept: list[float]) -> None:
    """Retry-After on a 503 says when to ask that DC again; the next DC is asked without it."""
    dcs = Dcs(dc1=[cut_off()], dc2=[ok()])
    transport = dcs.transport(DCS)
    assert await transport.request("GET", "/v1/me", type=dict) == {"ok": True}
    assert dcs.asked == ["dc1", "dc2"] and transport.base_url == DCS[1]
    assert len(slept) == 1 and slept[0] < 1, slept


async def test_with_one_dc_its_retry_after_is_honoured(slept: list[float]) -> None:
    dcs = Dcs(dc1=[cut_off(), ok()])
    assert await dcs.transport(DCS[:1]).request("GET", "/v1/me", type=dict) == {"ok": True}
    assert dcs.asked == ["dc1", "dc1"] and slept == [3.0]


async def test_a_429_waits_its_retry_after_at_the_same_dc(slept: list[float]) -> None:
    dcs = Dcs(dc1=[slow_down(), ok()])
    assert await dcs.transport(DCS).request("GET", "/v1/me", type=dict) == {"ok": True}
    assert dcs.asked == ["dc1", "dc1"] and slept == [2.0]
