"""How ``dc status`` makes a DC's row of its gateway processes' answers (entrypoints/dcops.py),
without a cluster: one process as before, several summed and taken at their slowest, a silent or
malformed one costing only its own row."""

from __future__ import annotations

import httpx

from firebreak.config import DCConfig
from firebreak.entrypoints.dcops import DCStatus, GatewayState, ask_gateway, dc_status, furthest_applied

ONE = DCConfig(name="dc1")
TWO = DCConfig(name="dc1", gateways=2, process_ports=(8002, 8003))


def gw(process: int, *, ready: bool = True, draining: bool = False, clients: int | None = 3,
       applied: dict[str, int] | None = None, answering: bool = True) -> GatewayState:  # fmt: skip
    applied = {"rooms-0": 10, "rooms-1": 7} if applied is None else applied
    return GatewayState(
        process, f"http://127.0.0.1:{8001 + process}", answering, ready, draining, clients, applied
    )


def row(dc: DCConfig, gateways: list[GatewayState], log_last: dict[str, int] | None = None) -> DCStatus:
    last = {"rooms-0": 12, "rooms-1": 7} if log_last is None else log_last
    leaders: dict[str, str | None] = {"rooms-0": "dc1", "rooms-1": "dc2"}
    return dc_status(dc, gateways, log_last=last, furthest=furthest_applied([gateways]), leaders=leaders)


def test_one_process_is_the_dc() -> None:
    d = row(ONE, [gw(1)])
    assert (d.answering, d.ready, d.draining, d.clients) == (True, True, False, 3)
    assert d.applied == {"rooms-0": 10, "rooms-1": 7} and d.lag == 2 and d.leads == ["rooms-0"]


def test_several_processes_sum_their_clients_and_count_the_slowest() -> None:
    d = row(TWO, [gw(1, clients=4), gw(2, clients=5, applied={"rooms-0": 12, "rooms-1": 5})])
    assert (d.ready, d.clients) == (True, 9)
    assert d.applied == {"rooms-0": 10, "rooms-1": 5} and d.lag == 2 + 2
    # A stream one process has not applied yet counts as 0 for the DC.
    d = row(TWO, [gw(1), gw(2, applied={"rooms-0": 10})])
    assert d.applied == {"rooms-0": 10, "rooms-1": 0} and d.lag == 2 + 7


def test_one_silent_process_makes_the_dc_not_ready_but_not_silent() -> None:
    d = row(TWO, [gw(1, clients=4), gw(2, answering=False, applied={}, clients=None)])
    assert (d.answering, d.ready, d.clients, d.applied["rooms-0"]) == (True, False, 4, 10)
    d = row(TWO, [gw(1, answering=False, applied={}), gw(2, answering=False, applied={})])
    assert (d.answering, d.ready, d.clients, d.lag, d.applied) == (False, False, None, None, {})


def test_one_draining_process_makes_the_dc_draining() -> None:
    d = row(TWO, [gw(1), gw(2, ready=False, draining=True)])
    assert (d.draining, d.ready) == (True, False)


def test_without_the_log_the_lag_is_against_the_dc_furthest_ahead() -> None:
    ahead, behind = [gw(1, applied={"rooms-0": 20})], [gw(1, applied={"rooms-0": 15})]
    d = dc_status(ONE, behind, log_last={}, furthest=furthest_applied([ahead, behind]), leaders={})
    assert d.lag == 5


async def test_a_malformed_or_missing_health_costs_only_that_process() -> None:
    answers = {
        8002: httpx.Response(200, json={"process": 1, "ready": True, "connections": 2, "head": {"r": 4}}),
        8003: httpx.Response(200, json={"process": "two", "head": ["not", "a", "map"]}),
        8004: httpx.Response(200, content=b"<html>"),
    }

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.port not in answers:
            raise httpx.ConnectError("refused", request=request)
        return answers[request.url.port]

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        good = await ask_gateway(http, 1, "http://127.0.0.1:8002")
        assert (good.answering, good.ready, good.clients, good.applied) == (True, True, 2, {"r": 4})
        for port in (8003, 8004, 8005):
            bad = await ask_gateway(http, 2, f"http://127.0.0.1:{port}")
            assert (bad.process, bad.answering, bad.url) == (2, False, f"http://127.0.0.1:{port}"), port
