"""A gateway's Prometheus metrics (docs/OPERATIONS.md says what each one means).

One :class:`GatewayMetrics` per gateway, on a registry of its own (never prometheus_client's
global one: tests and tools run several gateways' parts in one process). The hot paths call one
method each (a send answered, a frame written); everything that describes state (connections,
lag, rebuild progress) is read from the gateway only when someone scrapes ``/metrics``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, GCCollector, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

#: Seconds: a send's round trip through the log is milliseconds on one site, tens across sites,
#: seconds while a stream elects a leader.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: One delivered frame in this many is timed (the count covers them all): a histogram observation
#: costs about two counter increments, and frames are a gateway's most frequent work.
DELIVERY_SAMPLE = 8
#: Login sessions remembered for telling a failover from a reconnect; past this the memory starts
#: afresh (a few resumes are then counted as failovers).
MAX_SESSIONS_REMEMBERED = 100_000


@dataclass(frozen=True)
class GatewayState:
    """What a scrape reports about the gateway's state, read at scrape time."""

    dc: str
    ready: bool
    draining: bool
    caught_up: bool
    connections: int
    #: stream -> last applied sequence in the read model
    applied: dict[str, int]
    #: stream -> the highest sequence this gateway knows the log holds
    known_last: dict[str, int]
    #: stream -> where the stream ended when the gateway started (the rebuild's target)
    targets: dict[str, int] = field(default_factory=dict)
    #: frames in the read model's WAL at its last checkpoint (0 before the first)
    wal_frames: int = 0


class _StateCollector(Collector):
    def __init__(self, state: Callable[[], GatewayState]) -> None:
        self._state = state

    def collect(self) -> Iterator[Metric]:
        s = self._state()
        ready = GaugeMetricFamily(
            "firebreak_ready", "1 while the gateway serves (caught up, readers running)"
        )
        ready.add_metric([], float(s.ready))
        draining = GaugeMetricFamily("firebreak_draining", "1 while the gateway drains (planned outage)")
        draining.add_metric([], float(s.draining))
        live = GaugeMetricFamily("firebreak_live_connections", "live WebSocket sessions on this gateway")
        live.add_metric([], float(s.connections))
        applied = GaugeMetricFamily(
            "firebreak_read_model_applied_seq",
            "last log sequence applied to the read model",
            labels=["stream"],
        )
        known = GaugeMetricFamily(
            "firebreak_log_last_seq_known", "highest log sequence this gateway knows of", labels=["stream"]
        )
        lag = GaugeMetricFamily(
            "firebreak_read_model_lag_entries",
            "log entries known to exist that the read model has not applied yet",
            labels=["stream"],
        )
        for stream in sorted(s.applied):
            head, last = s.applied[stream], max(s.known_last.get(stream, 0), s.applied[stream])
            applied.add_metric([stream], float(head))
            known.add_metric([stream], float(last))
            lag.add_metric([stream], float(last - head))
        caught_up = GaugeMetricFamily(
            "firebreak_rebuild_caught_up", "1 once the read model has reached what the log held at start"
        )
        caught_up.add_metric([], float(s.caught_up))
        target = GaugeMetricFamily(
            "firebreak_rebuild_target_entries",
            "log entries (all streams) the log held when the gateway started",
        )
        target.add_metric([], float(sum(s.targets.values())))
        done = GaugeMetricFamily(
            "firebreak_rebuild_applied_entries", "of those, how many the read model has applied"
        )
        done.add_metric([], float(sum(min(s.applied.get(k, 0), v) for k, v in s.targets.items())))
        wal = GaugeMetricFamily(
            "firebreak_read_model_wal_frames",
            "4 KiB frames in the read model's WAL at its last checkpoint: about one checkpoint "
            "interval of writes while the WAL starts over, growing if it does not",
        )
        wal.add_metric([], float(s.wal_frames))
        yield from (ready, draining, live, applied, known, lag, caught_up, target, done, wal)


class _Deliveries(Collector):
    def __init__(self, metrics: GatewayMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "firebreak_deliveries",
            "events written to live WebSockets: live (as they happen) or catch_up (from the read model)",
            labels=["result"],
        )
        family.add_metric(["live"], float(self._metrics.live_events))
        family.add_metric(["catch_up"], float(self._metrics.catch_up_events))
        yield family


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        # python_gc_*: collections per generation and what they found (gc_policy.py).
        GCCollector(registry=registry)
        self._sends = Counter(
            "firebreak_sends", "messages sent through this gateway, by result", ["result"], registry=registry
        )
        self._sent = self._sends.labels("sent")
        self._duplicate = self._sends.labels("duplicate")
        self._send_latency = Histogram(
            "firebreak_send_ack_seconds",
            "a single send's time in the gateway: request in to log acknowledgement",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        # Plain ints, reported by _Deliveries at scrape time: a frame is a gateway's most frequent
        # work, and a prometheus_client Counter takes a lock per increment (one event loop writes
        # these, so no lock is needed).
        self.live_events = 0
        self.catch_up_events = 0
        registry.register(_Deliveries(self))
        self._delivery_latency = Histogram(
            "firebreak_delivery_seconds",
            f"event stamped (its `at`) to its live frame written; one frame in {DELIVERY_SAMPLE} timed",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._frames = 0
        self._ws = Counter(
            "firebreak_ws_connections", "WebSocket sessions opened, fresh or resumed with a cursor", ["kind"],
            registry=registry,
        )  # fmt: skip
        self._ws_fresh = self._ws.labels("fresh")
        self._ws_resume = self._ws.labels("resume")
        self._failovers = Counter(
            "firebreak_client_failovers",
            "resumes by login sessions not live here since this gateway started (they came from another DC)",
            registry=registry,
        )
        self._ended = Counter(
            "firebreak_ws_sessions_ended", "live sessions the server ended, by reason", ["reason"],
            registry=registry,
        )  # fmt: skip
        self._refused = Counter(
            "firebreak_rate_limited", "requests refused with 429, by error code", ["code"], registry=registry
        )
        self._seen: set[str] = set()

    # ---- hot paths: one call each -----------------------------------------------------------

    def sent(self, duplicate: bool, started: float) -> None:
        """A single send acknowledged; ``started`` is its ``time.perf_counter()`` on arrival."""
        (self._duplicate if duplicate else self._sent).inc()
        self._send_latency.observe(time.perf_counter() - started)

    def sent_batch(self, new: int, duplicates: int) -> None:
        self._sent.inc(new)
        self._duplicate.inc(duplicates)

    def send_failed(self, code: str) -> None:
        self._sends.labels(code).inc()

    def batch_failed(self, code: str, messages: int) -> None:
        """A batch refused as a whole: each of its messages counts as refused with ``code``."""
        self._sends.labels(code).inc(messages)

    def delivered(self, events: int, stamped_ms: int) -> None:
        """A live frame of ``events`` written; ``stamped_ms`` is its newest event's ``at``."""
        self.live_events += events
        self._frames += 1
        if self._frames % DELIVERY_SAMPLE == 0 and stamped_ms:
            self._delivery_latency.observe(max(0.0, time.time() - stamped_ms / 1000))

    def caught_up(self, events: int) -> None:
        self.catch_up_events += events

    # ---- rarer events ---------------------------------------------------------------------------

    def ws_opened(self, session_id: str, resumed: bool) -> None:
        """A WebSocket session started. A resume (with a cursor) by a login session that has had no
        live connection here since this gateway started is a failover to this DC."""
        if resumed:
            self._ws_resume.inc()
            if session_id not in self._seen:
                self._failovers.inc()
        else:
            self._ws_fresh.inc()
        if len(self._seen) >= MAX_SESSIONS_REMEMBERED:
            self._seen.clear()
        self._seen.add(session_id)

    def session_ended(self, reason: str) -> None:
        self._ended.labels(reason).inc()

    def refused(self, code: str) -> None:
        self._refused.labels(code).inc()

    # ---- state, read when scraped ---------------------------------------------------------------

    def watch(self, state: Callable[[], GatewayState]) -> None:
        self.registry.register(_StateCollector(state))

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric."""
        return generate_latest(self.registry)
