"""Password guessing and registration floods against a real three-DC cluster, over real HTTP.

The cluster counts attempts in one replicated counter stream, so guesses spread over the three DCs
share one allowance; a client beyond it gets 429 with Retry-After before any hashing. The hashing
queue is bounded (503 ``busy``), and an unknown username costs a hash like a wrong password.

Each test connects from its own loopback address (127.0.0.x), which the gateways see as the
client's address: one test's attempts never count against another's.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import httpx
import nats.errors
import nats.js.errors
import pytest
from nats.js import JetStreamContext
from nats.js.api import PubAck, RawStreamMsg

from firebreak.adapters.counters import StreamCounters
from firebreak.adapters.nats_connect import connect
from firebreak.client.client import ApiError, Client
from firebreak.limits import Limits
from firebreak.localcluster import LocalCluster
from tests.helpers import cluster_config, local_cluster

PER_ACCOUNT = 4
PER_ADDRESS = 13
REGISTRATIONS = 6
QUEUE = 2
PASSWORD = "the right password"
#: A day: no window boundary falls inside a test run (in all likelihood).
WINDOW_S = 24 * 3600
LIMITS = Limits(
    login_failures_per_account=PER_ACCOUNT,
    login_failures_per_address=PER_ADDRESS,
    login_window_s=WINDOW_S,
    registrations_per_address=REGISTRATIONS,
    register_window_s=WINDOW_S,
    password_queue_max=QUEUE,
)


@pytest.fixture(scope="module")
async def throttled(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalCluster]:
    local = local_cluster(cluster_config(tmp_path_factory.mktemp("throttle") / "data", LIMITS))
    try:
        await local.start()
        yield local
    finally:
        local.stop()


class From:
    """HTTP clients to every DC, all connecting from one loopback address."""

    def __init__(self, cluster: LocalCluster, address: str) -> None:
        self.urls = [dc.http_url for dc in cluster.config.dcs]
        self.address = address
        self._clients: list[httpx.AsyncClient] = []

    def dc(self, i: int) -> httpx.AsyncClient:
        transport = httpx.AsyncHTTPTransport(local_address=self.address)
        client = httpx.AsyncClient(base_url=self.urls[i % 3], transport=transport, timeout=60)
        self._clients.append(client)
        return client

    async def login(self, i: int, username: str, password: str) -> httpx.Response:
        return await self.dc(i).post("/v1/sessions", json={"username": username, "password": password})

    async def register(self, i: int, username: str) -> httpx.Response:
        body = {"username": username, "password": PASSWORD, "request_id": f"r-{username}"}
        return await self.dc(i).post("/v1/accounts", json=body)

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()


MakeFrom = Callable[[str], From]


@pytest.fixture
async def make_from(throttled: LocalCluster) -> AsyncIterator[MakeFrom]:
    made: list[From] = []

    def make(address: str) -> From:
        made.append(From(throttled, address))
        return made[-1]

    yield make
    for f in made:
        await f.aclose()


def assert_throttled(resp: httpx.Response, code: str) -> None:
    assert resp.status_code == 429, resp.text
    assert resp.json()["error"]["code"] == code
    assert 0 < int(resp.headers["retry-after"]) <= WINDOW_S


async def test_guesses_over_three_dcs_share_one_allowance(make_from: MakeFrom) -> None:
    setup, attacker, elsewhere = make_from("127.0.0.2"), make_from("127.0.0.3"), make_from("127.0.0.4")
    for name in ("victim", "neighbour"):
        assert (await setup.register(0, name)).status_code == 201
    for i in range(PER_ACCOUNT):  # one DC after the other: each DC alone would allow them all
        resp = await attacker.login(i, "victim", f"guess number {i}")
        assert resp.status_code == 401, resp.text
    for i in range(3):  # the next guess, on any DC, and even the right password: refused unhashed
        assert_throttled(
            await attacker.login(i, "victim", f"guess number {PER_ACCOUNT + i}"), "too_many_attempts"
        )
        assert_throttled(await attacker.login(i, "victim", PASSWORD), "too_many_attempts")
    # The account is locked for everyone until the window ends; from elsewhere too.
    assert_throttled(await elsewhere.login(1, "victim", PASSWORD), "too_many_attempts")

    # Another account from the same address still logs in, until the address's own limit:
    # 10 attempts so far from the attacker's address (4 failures, 6 refused), the success not kept.
    assert (await attacker.login(2, "neighbour", PASSWORD)).status_code == 201
    for i in range(PER_ADDRESS - 10):
        assert (await attacker.login(i, "neighbour", "not it")).status_code == 401
    assert_throttled(await attacker.login(0, "neighbour", "not it either"), "too_many_attempts")
    assert_throttled(await attacker.login(1, "neighbour", PASSWORD), "too_many_attempts")
    # The neighbour's own account is not locked: from another address it logs in.
    assert (await elsewhere.login(2, "neighbour", PASSWORD)).status_code == 201


async def test_the_client_library_reports_a_lock_at_once(make_from: MakeFrom) -> None:
    """A locked account's 429 says to come back in minutes: the client raises it instead of
    retrying until its deadline (each retry would be one more failed attempt)."""
    setup = make_from("127.0.0.8")
    assert (await setup.register(0, "locked")).status_code == 201
    for i in range(PER_ACCOUNT):
        assert (await setup.login(i, "locked", "wrong")).status_code == 401
    client = Client(setup.urls, retry_deadline=30.0)
    started = time.monotonic()
    try:
        with pytest.raises(ApiError) as refused:
            await client.login("locked", PASSWORD)
    finally:
        await client.aclose()
    assert refused.value.code == "too_many_attempts"
    assert time.monotonic() - started < 10


async def test_registrations_per_address_cluster_wide(make_from: MakeFrom) -> None:
    flood, other = make_from("127.0.0.5"), make_from("127.0.0.6")
    for i in range(REGISTRATIONS):
        assert (await flood.register(i, f"flood_{i}")).status_code == 201
    for i in range(3):
        assert_throttled(await flood.register(i, f"flood_more_{i}"), "too_many_registrations")
    assert (await other.register(0, "not_a_flood")).status_code == 201


async def test_a_flood_of_logins_is_shed_not_queued(make_from: MakeFrom) -> None:
    """Unknown usernames from many addresses: nothing throttles them, but each costs a hash, and a
    gateway queues at most QUEUE hashes behind its two running ones: the rest get 503 at once."""
    senders = [make_from(f"127.0.1.{i}") for i in range(1, 13)]
    started = time.monotonic()
    answers = await asyncio.gather(
        *(s.login(0, f"nobody_{i}", "some password") for i, s in enumerate(senders))
    )
    statuses = sorted(a.status_code for a in answers)
    assert set(statuses) == {401, 503}, statuses
    assert statuses.count(401) <= 2 + QUEUE + 2, statuses  # two running, QUEUE waiting (+ a race)
    for answer in answers:
        if answer.status_code == 503:
            assert answer.json()["error"]["code"] == "busy"
            assert int(answer.headers["retry-after"]) >= 1
    assert time.monotonic() - started < 30


async def test_an_unknown_username_takes_as_long_as_a_wrong_password(make_from: MakeFrom) -> None:
    prober = make_from("127.0.0.7")
    assert (await prober.register(1, "timed")).status_code == 201
    known: list[float] = []
    unknown: list[float] = []
    for i in range(3):  # alternated, so a busy moment of the machine hits both kinds alike
        for username, into in (("timed", known), (f"ghost_{i}", unknown)):
            started = time.perf_counter()
            assert (await prober.login(1, username, "a wrong password")).status_code == 401
            into.append(time.perf_counter() - started)
    assert statistics.median(unknown) >= 0.5 * statistics.median(known), (unknown, known)


async def test_concurrent_additions_to_one_counter_each_see_their_own_total(throttled: LocalCluster) -> None:
    """Many logins from one address at once (a carrier's NAT) add to one counter from every DC:
    each addition is counted once and answers a total of its own, none is lost to another."""
    config = throttled.config
    conns = [await connect(config, dc.name, f"counters-{dc.name}") for dc in config.dcs]
    try:
        # Patient tries: a try whose answer is merely late is not tried again (and counted once
        # anyway, by its message id, which the next test checks).
        counters = [StreamCounters(nc.jetstream(), attempt_s=10.0) for nc in conns]
        n = 48
        ups = await asyncio.gather(*(counters[i % 3].add("test.one_address", 1) for i in range(n)))
        assert sorted(ups) == list(range(1, n + 1))
        downs = await asyncio.gather(*(counters[i % 3].add("test.one_address", -1) for i in range(n)))
        assert sorted(downs) == list(range(n))
    finally:
        for nc in conns:
            await nc.close()


class _LosesFirstAnswer:
    """A JetStream context whose first publish reaches the stream but whose answer is lost."""

    def __init__(self, js: JetStreamContext) -> None:
        self._js = js
        self.lost = 0

    async def publish(self, *args: Any, **kwargs: Any) -> PubAck:
        ack = await self._js.publish(*args, **kwargs)
        if not self.lost:
            self.lost += 1
            raise nats.errors.TimeoutError
        return ack

    async def get_last_msg(self, *args: Any, **kwargs: Any) -> RawStreamMsg:
        return await self._js.get_last_msg(*args, **kwargs)


async def test_an_addition_whose_answer_was_lost_counts_once(throttled: LocalCluster) -> None:
    """A login's attempt taken back, whose acknowledgement is lost and which is tried again, is
    taken back once: the retry carries the same message id and the stream answers a duplicate."""
    nc = await connect(throttled.config, "dc1", "counters-lost")
    try:
        js = nc.jetstream()
        lossy = _LosesFirstAnswer(js)
        counters = StreamCounters(cast(JetStreamContext, lossy))
        assert await StreamCounters(js).add("test.lost_answer", 2) == 2
        assert await counters.add("test.lost_answer", -1) == 1
        assert lossy.lost == 1
        assert await StreamCounters(js).add("test.lost_answer", 0) == 1
    finally:
        await nc.close()


class _AnswersStillCommitting(_LosesFirstAnswer):
    """As :class:`_LosesFirstAnswer`, and its second try is answered as nats-server answers a try
    made while the first is still being committed (seen under load: a 500 at login)."""

    def __init__(self, js: JetStreamContext) -> None:
        super().__init__(js)
        self.still_committing = 0

    async def publish(self, *args: Any, **kwargs: Any) -> PubAck:
        if self.lost and not self.still_committing:
            self.still_committing += 1
            raise nats.js.errors.APIError(
                code=409, err_code=10158, description="duplicate message id is in process"
            )
        return await super().publish(*args, **kwargs)


async def test_an_addition_tried_again_while_still_committing_counts_once(throttled: LocalCluster) -> None:
    nc = await connect(throttled.config, "dc1", "counters-in-process")
    try:
        js = nc.jetstream()
        slow = _AnswersStillCommitting(js)
        assert await StreamCounters(js).add("test.still_committing", 2) == 2
        assert await StreamCounters(cast(JetStreamContext, slow)).add("test.still_committing", -1) == 1
        assert (slow.lost, slow.still_committing) == (1, 1)
        assert await StreamCounters(js).add("test.still_committing", 0) == 1
    finally:
        await nc.close()


async def test_without_quorum_logins_fail_closed(throttled: LocalCluster, make_from: MakeFrom) -> None:
    """Two DCs down: the attempt counters cannot be written, so a login is neither counted nor
    checked (503 with Retry-After), although the surviving DC's read model could check it: at
    first because the counters cannot be reached, then because the survivor knows it is cut off
    from the log and refuses every write. Last in this module: it leaves the cluster without two
    of its DCs."""
    survivor = make_from("127.0.0.9")
    assert (await survivor.register(0, "stranded")).status_code == 201
    for name in ("dc2", "dc3"):
        throttled.kill(name, burn=False)
    for resp in (await survivor.login(0, "stranded", PASSWORD), await survivor.register(0, "newcomer")):
        assert resp.status_code == 503, resp.text
        assert resp.json()["error"]["code"] in ("log_unavailable", "dc_cut_off")
        assert int(resp.headers["retry-after"]) >= 1
