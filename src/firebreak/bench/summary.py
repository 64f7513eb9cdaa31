"""Medians over repeated runs of one workload (``firebreak bench --repeat N``).

This VM's speed drifts by tens of percent from one minute to the next (docs/PERFORMANCE.md), so
a single run says little: the figures worth recording are medians over several runs, next to
their range and the ratio to the raw engine rate measured in each run.
"""

from __future__ import annotations

import statistics

import msgspec

from firebreak.bench.runner import BenchResult


class RunsSummary(msgspec.Struct, frozen=True):
    runs: int
    per_s_median: float
    per_s_min: float
    per_s_max: float
    deliveries_per_s_median: float
    ratio_to_raw_median: float
    #: the mean of each run's raw pipelined rates before and after its Firebreak phase
    raw_pipelined_median: float
    send_to_ack_p50_ms_median: float | None
    send_to_ack_p99_ms_median: float | None
    send_to_all_delivered_p99_ms_median: float | None
    #: CPU of every process (gateways, nats-servers, load generator) per message
    cpu_ms_per_message_median: float


def summarize(results: list[BenchResult]) -> RunsSummary:
    """Medians over ``results``, runs of one workload (at least one)."""
    if not results:
        raise ValueError("no runs to summarize")
    per_s = [r.firebreak.per_s for r in results]
    raws = [statistics.mean((r.raw[0].per_s, r.raw[-1].per_s)) for r in results if r.raw]
    return RunsSummary(
        runs=len(results),
        per_s_median=round(statistics.median(per_s), 1),
        per_s_min=min(per_s),
        per_s_max=max(per_s),
        deliveries_per_s_median=round(statistics.median(r.firebreak.deliveries_per_s for r in results), 1),
        ratio_to_raw_median=round(statistics.median(r.ratio_to_raw_pipelined for r in results), 3),
        raw_pipelined_median=round(statistics.median(raws), 1) if raws else 0.0,
        send_to_ack_p50_ms_median=_median_ms([r.firebreak.send_to_ack.p50_ms for r in results]),
        send_to_ack_p99_ms_median=_median_ms([r.firebreak.send_to_ack.p99_ms for r in results]),
        send_to_all_delivered_p99_ms_median=_median_ms(
            [r.firebreak.send_to_all_delivered.p99_ms for r in results]
        ),
        cpu_ms_per_message_median=round(
            statistics.median(sum(c.cpu_ms_per_message for c in r.processes.values()) for r in results), 3
        ),
    )


def _median_ms(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 2) if known else None


def summary_line(s: RunsSummary) -> str:
    return (
        f"median of {s.runs} runs: {s.per_s_median:,.1f} sends/s ({s.per_s_min:,.1f}-{s.per_s_max:,.1f}), "
        f"ratio to raw {s.ratio_to_raw_median:.3f} (raw {s.raw_pipelined_median:,.0f}/s), "
        f"send -> all delivered p99 {s.send_to_all_delivered_p99_ms_median} ms, "
        f"CPU {s.cpu_ms_per_message_median:.3f} ms/msg over all processes"
    )
