"""/metrics on every gateway: Prometheus text that prometheus_client's own parser reads, with
counters that move when messages are sent and delivered, and gauges that match the gateway's
state (docs/OPERATIONS.md)."""

from __future__ import annotations

import asyncio
import json
import urllib.parse

import httpx
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from firebreak.adapters.metrics import DELIVERY_SAMPLE, GatewayMetrics, GatewayState
from firebreak.localcluster import LocalCluster
from firebreak.service.log_positions import LogPositions
from tests.helpers import ClientFactory, eventually, live_socket, settled, user

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def scrape(cluster: LocalCluster, dc: int) -> Samples:
    async with httpx.AsyncClient(timeout=5) as http:
        resp = await http.get(
            cluster.config.dcs[dc].http_url + "/metrics",
            headers={"x-ops-token": cluster.config.secrets.ops_token},
        )
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    return parse(resp.text)


# ---- without a cluster ---------------------------------------------------------------------------


def test_state_gauges_lag_and_rebuild_progress() -> None:
    metrics = GatewayMetrics(CollectorRegistry())
    metrics.watch(
        lambda: GatewayState(
            dc="dc1",
            ready=False,
            draining=False,
            caught_up=False,
            connections=4,
            applied={"A": 5, "B": 9},
            known_last={"A": 8, "B": 7},
            targets={"A": 10, "B": 6},
            wal_frames=1234,
        )
    )
    s = parse(metrics.exposition().decode())
    assert value(s, "firebreak_read_model_wal_frames") == 1234
    assert value(s, "firebreak_read_model_lag_entries", stream="A") == 3
    assert value(s, "firebreak_read_model_lag_entries", stream="B") == 0, "never negative"
    assert value(s, "firebreak_live_connections") == 4
    assert value(s, "firebreak_rebuild_target_entries") == 16
    assert value(s, "firebreak_rebuild_applied_entries") == 5 + 6, "applied counts up to each target"
    assert value(s, "firebreak_ready") == 0 and value(s, "firebreak_rebuild_caught_up") == 0
    assert ("python_gc_collections_total", (("generation", "2"),)) in s, "the collector's work is shown"


def test_failovers_and_sampled_delivery_latency() -> None:
    metrics = GatewayMetrics(CollectorRegistry())
    metrics.ws_opened("s1", resumed=False)
    metrics.ws_opened("s1", resumed=True)  # a reconnect to the same DC: not a failover
    metrics.ws_opened("s2", resumed=True)  # resumed here, never live here before: came from elsewhere
    for _ in range(2 * DELIVERY_SAMPLE):
        metrics.delivered(3, stamped_ms=1)
    s = parse(metrics.exposition().decode())
    assert value(s, "firebreak_client_failovers_total") == 1
    assert value(s, "firebreak_ws_connections_total", kind="resume") == 2
    assert value(s, "firebreak_ws_connections_total", kind="fresh") == 1
    assert value(s, "firebreak_deliveries_total", result="live") == 6 * DELIVERY_SAMPLE
    assert value(s, "firebreak_delivery_seconds_count") == 2


async def test_known_positions_take_the_highest_of_every_source() -> None:
    asked: list[str] = []

    async def last_seq(stream: str) -> int:
        asked.append(stream)
        if stream == "B":
            raise TimeoutError("no leader")  # an election: B keeps what the others say
        return 7

    positions = LogPositions(last_seq, ["A", "B"], every_s=60)
    task = asyncio.create_task(positions.run())
    await eventually(lambda: _true(asked == ["A", "B"]), what="one round of asking")
    task.cancel()
    known = positions.known({"A": 5, "B": 3}, {"B": 4})
    assert known == {"A": 7, "B": 4}


async def _true(value: bool) -> bool:
    return value


# ---- a real cluster --------------------------------------------------------------------------------


async def test_metrics_need_the_ops_token(cluster: LocalCluster) -> None:
    url = cluster.config.dcs[0].http_url + "/metrics"
    async with httpx.AsyncClient(timeout=5) as http:
        assert (await http.get(url)).status_code == 403
        assert (await http.get(url, headers={"x-ops-token": "wrong"})).status_code == 403
        bearer = {"authorization": f"Bearer {cluster.config.secrets.ops_token}"}
        assert (await http.get(url, headers=bearer)).status_code == 200, "Prometheus sends a bearer token"


async def test_counters_move_with_sends_and_deliveries(
    cluster: LocalCluster, make_client: ClientFactory
) -> None:
    alice, bob = await user(make_client, 0, "alice"), await user(make_client, 0, "bob")
    assert bob.user is not None and bob.token is not None and alice.token is not None
    room = await alice.open_direct(bob.user.username)
    before = await scrape(cluster, 0)
    ws = await live_socket(cluster.config.dcs[0].ws_url, bob.token)
    try:
        base = cluster.config.dcs[0].http_url
        headers = {"authorization": f"Bearer {alice.token}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=20) as http:
            for i in range(3):
                body = {"client_id": f"m{i}", "text": f"hello {i}"}
                assert (await http.post(f"/v1/rooms/{room.room_id}/messages", json=body)).status_code == 201
            again = await http.post(
                f"/v1/rooms/{room.room_id}/messages", json={"client_id": "m0", "text": "x"}
            )
            assert again.status_code == 200
            # More than the shared cluster's burst in one batch: refused at once with 429.
            batch = {"messages": [{"client_id": f"b{i}", "text": "x"} for i in range(61)]}
            assert (
                await http.post(f"/v1/rooms/{room.room_id}/messages/batch", json=batch)
            ).status_code == 429

        async def moved() -> Samples | None:
            after = await scrape(cluster, 0)
            live = value(after, "firebreak_deliveries_total", result="live")
            return after if live >= value(before, "firebreak_deliveries_total", result="live") + 3 else None

        after = await eventually(moved, what="bob's three deliveries counted")
        assert value(after, "firebreak_live_connections") == value(before, "firebreak_live_connections") + 1
    finally:
        await ws.close()

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("firebreak_sends_total", result="sent") == 3
    assert delta("firebreak_sends_total", result="duplicate") == 1
    assert delta("firebreak_send_ack_seconds_count") == 4
    assert delta("firebreak_rate_limited_total", code="rate_limited") == 1
    assert delta("firebreak_sends_total", result="rate_limited") == 61, "the refused batch's messages"
    assert delta("firebreak_ws_connections_total", kind="fresh") == 1

    async def closed() -> bool:
        now = await scrape(cluster, 0)
        return value(now, "firebreak_live_connections") == value(before, "firebreak_live_connections")

    await eventually(closed, what="the closed socket to leave the live-connections gauge")


async def test_a_resume_from_another_dc_is_a_failover(
    cluster: LocalCluster, make_client: ClientFactory
) -> None:
    carol = await user(make_client, 0, "carol")
    assert carol.token is not None
    first = await live_socket(cluster.config.dcs[0].ws_url, carol.token)
    await first.close()
    async with httpx.AsyncClient(timeout=5) as http:
        cursor = (await http.get(cluster.config.dcs[0].http_url + "/healthz")).json()["cursor"]
    before = await scrape(cluster, 1)
    query = urllib.parse.urlencode({"token": carol.token, "cursor": cursor})
    for _ in range(2):  # the second resume at dc2 is a reconnect, not another failover
        async with connect(f"{cluster.config.dcs[1].ws_url}?{query}") as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), 20))["kind"] == "ready"
    after = await scrape(cluster, 1)
    assert (
        value(after, "firebreak_client_failovers_total")
        == value(before, "firebreak_client_failovers_total") + 1
    )
    resumes = value(after, "firebreak_ws_connections_total", kind="resume")
    assert resumes == value(before, "firebreak_ws_connections_total", kind="resume") + 2


async def test_lag_gauges_match_the_log(cluster: LocalCluster) -> None:
    await settled(cluster)
    async with httpx.AsyncClient(timeout=20) as http:
        ops = {"x-ops-token": cluster.config.secrets.ops_token}
        log_last = (await http.get(cluster.config.dcs[0].http_url + "/internal/dcs", headers=ops)).json()[
            "log_last"
        ]
        heads = [(await http.get(dc.http_url + "/healthz")).json()["head"] for dc in cluster.config.dcs]
    for dc, head in enumerate(heads):

        async def current(dc: int = dc, head: dict[str, int] = head) -> bool:
            s = await scrape(cluster, dc)
            for stream, seq in head.items():
                assert value(s, "firebreak_read_model_applied_seq", stream=stream) >= seq
                assert value(s, "firebreak_log_last_seq_known", stream=stream) >= log_last[stream]
                assert value(s, "firebreak_read_model_lag_entries", stream=stream) == 0
            return True

        await eventually(current, what=f"dc{dc + 1}'s lag gauges to match the log")
