"""Drill reports: ``report.json`` for machines, ``report.html`` (self-contained) for people."""

from __future__ import annotations

import html
from pathlib import Path

import msgspec

from firebreak.drill.findings import Findings, Percentiles, Phase, Verdict
from firebreak.drill.plan import DrillOptions
from firebreak.drill.record import Mark
from firebreak.drill.runner import DrillResult

_COLORS = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#0891b2"]

#: (field, what it means) for the verdict table; every one must be zero.
_CHECKS: list[tuple[str, str]] = [
    ("lost", "acknowledged messages missing from a serving DC"),
    ("duplicated", "messages stored more than once"),
    ("out_of_order", "deliveries out of room order"),
    ("never_sent", "messages stored or received that nobody sent"),
    ("sender_order_broken", "a sender's messages out of send order"),
    ("order_mismatch_rooms", "rooms whose order differs between DCs"),
    ("missing_deliveries", "messages a member's device never received"),
    ("duplicate_deliveries", "messages a device received twice"),
    ("wrong_position", "acknowledged position differs from the stored one"),
    ("files_lost", "acknowledged files a DC could not serve"),
    ("files_differing", "acknowledged files a DC served with other bytes"),
]


def phase_lines(phases: list[Phase]) -> str:
    """Write latency per phase of the drill (between its marks), one line each."""
    lines = ["send -> ack by phase (p50 / p99 / max, s):"]
    for p in phases:
        a = p.send_to_ack
        lines.append(
            f"  {p.label:30} {p.start:6.1f}-{p.end:6.1f}s  {a.count:5} sends  {a.p50} / {a.p99} / {a.max}"
        )
    return "\n".join(lines)


def summary(result: DrillResult) -> str:
    """One line a person can read at a glance."""
    v = result.findings.verdict
    parts = []
    for mark in result.marks:
        parts.append(f"{mark.label} at {mark.at:.1f} s")
    stalled = [r for r in result.findings.rooms if r.longest_wait_s > 1.0]
    total = len(result.findings.rooms)
    if stalled:
        parts.append(
            f"{len(stalled)}/{total} rooms could not write for up to {stalled[0].longest_wait_s:.1f} s"
        )
    else:
        parts.append(f"no room waited more than 1 s to write (of {total})")
    faults = sum(int(getattr(v, name)) for name, _ in _CHECKS)
    parts.append("nothing was lost" if v.lost == 0 else f"{v.lost} acknowledged messages LOST")
    if faults - v.lost:
        parts.append(f"{faults - v.lost} other faults")
    if v.failed:
        parts.append(f"{v.failed} sends failed cleanly (never acknowledged)")
    if v.files_acked or v.files_failed:
        bad = v.files_lost + v.files_differing
        where = f"at {len(v.files_dcs_checked)} DCs"
        parts.append(
            f"{v.files_acked} files acknowledged, every one identical {where}"
            if not bad
            else f"{v.files_lost} files LOST and {v.files_differing} DIFFERING of {v.files_acked} {where}"
        )
    if v.read_probes:
        ok = v.read_probes - v.read_failures
        parts.append(
            f"reads kept working on serving DCs ({ok}/{v.read_probes})"
            if not v.read_failures
            else f"{v.read_failures} READS FAILED on serving DCs"
        )
    for dc, at in sorted(result.back_at.items(), key=lambda kv: kv[1]):
        parts.append(f"{dc} was back at {at:.1f} s")
    return "; ".join(parts) + ("." if v.passed else ". FAILED.")


class Report(msgspec.Struct):
    verdict: Verdict
    summary: str
    command: str
    seed: int
    started_at: str
    elapsed_s: float
    dcs: list[str]
    marks: list[Mark]
    back_at: dict[str, float]
    findings: Findings
    options: DrillOptions


def write(result: DrillResult, directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    doc = Report(
        verdict=result.findings.verdict,
        summary=summary(result),
        command=result.command,
        seed=result.options.seed,
        started_at=result.started_at,
        elapsed_s=result.elapsed_s,
        dcs=result.dcs,
        marks=list(result.marks),
        back_at=result.back_at,
        findings=result.findings,
        options=result.options,
    )
    json_path = directory / "report.json"
    json_path.write_bytes(msgspec.json.format(msgspec.json.encode(doc), indent=2))
    html_path = directory / "report.html"
    html_path.write_text(render_html(result))
    return json_path, html_path


def _chart(title: str, series: dict[str, list[float | None]], result: DrillResult, unit: str) -> str:
    width, height, pad = 760, 180, 36
    n = max((len(v) for v in series.values()), default=1)
    top = max((x for v in series.values() for x in v if x is not None), default=1.0) or 1.0
    sx = (width - 2 * pad) / max(1, n - 1)

    def y(v: float) -> float:
        return height - pad - (height - 2 * pad) * v / top

    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(title)}">']
    parts.append(
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#999"/>'
    )
    parts.append(f'<text x="{pad}" y="{pad - 8}" class="axis">{top:.3g} {html.escape(unit)}</text>')
    for mark in result.marks:
        x = pad + mark.at * sx
        parts.append(f'<line x1="{x:.1f}" y1="{pad - 4}" x2="{x:.1f}" y2="{height - pad}" class="mark"/>')
        parts.append(
            f'<text x="{x + 3:.1f}" y="{pad + 6}" class="marklabel">{html.escape(mark.label)}</text>'
        )
    for dc, at in result.back_at.items():
        x = pad + at * sx
        parts.append(f'<line x1="{x:.1f}" y1="{pad - 4}" x2="{x:.1f}" y2="{height - pad}" class="back"/>')
        parts.append(f'<text x="{x + 3:.1f}" y="{pad + 18}" class="marklabel">{html.escape(dc)} back</text>')
    legend = []
    for i, (name, values) in enumerate(series.items()):
        color = _COLORS[i % len(_COLORS)]
        # A second without data (None) breaks the line instead of bridging the gap.
        runs: list[list[str]] = [[]]
        for t, v in enumerate(values):
            if v is None:
                runs.append([])
            else:
                runs[-1].append(f"{pad + t * sx:.1f},{y(v):.1f}")
        for run in runs:
            if len(run) == 1:
                x0, y0 = run[0].split(",")
                parts.append(f'<circle cx="{x0}" cy="{y0}" r="2" fill="{color}"/>')
            elif run:
                parts.append(
                    f'<polyline fill="none" stroke="{color}" stroke-width="1.8" points="{" ".join(run)}"/>'
                )
        legend.append(f'<span style="color:{color}">&#9632; {html.escape(name)}</span>')
    parts.append(
        f'<text x="{width - pad}" y="{height - 8}" text-anchor="end" class="axis">seconds</text></svg>'
    )
    return f'<figure><figcaption>{html.escape(title)}</figcaption>{"".join(parts)}<div class="legend">{" ".join(legend)}</div></figure>'


def _pct(p: Percentiles) -> str:
    def f(v: float | None) -> str:
        return "-" if v is None else f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2f} s"

    return f"<td>{p.count}</td><td>{f(p.p50)}</td><td>{f(p.p95)}</td><td>{f(p.p99)}</td><td>{f(p.max)}</td>"


def render_html(result: DrillResult) -> str:
    f = result.findings
    v = f.verdict
    e = html.escape
    timeline = f.timeline
    series: dict[str, list[float | None]] = {
        f"acks/s {dc}": [float(s.acks_by_dc.get(dc, 0)) for s in timeline] for dc in result.dcs
    }
    series["errors/s"] = [float(s.errors) for s in timeline]
    rows = "".join(
        f'<tr class="{"bad" if getattr(v, name) else "ok"}"><td>{e(what)}</td><td>{getattr(v, name)}</td></tr>'
        for name, what in _CHECKS
    )
    rows += (
        f'<tr class="{"ok" if v.read_models_identical else "bad"}"><td>read models of serving DCs identical '
        f"({e(', '.join(v.dcs_compared))})</td><td>{'yes' if v.read_models_identical else 'NO'}</td></tr>"
    )
    limit = "" if v.max_outage_limit_s is None else f" (limit {v.max_outage_limit_s} s)"
    rooms = "".join(
        f"<tr><td><code>{e(r.room_id)}</code></td><td>{r.longest_wait_s:.2f} s</td><td>{r.failed}</td></tr>"
        for r in f.rooms[:12]
    )
    phases = "".join(
        f"<tr><td>{e(p.label)}</td><td>{p.start:.1f}-{p.end:.1f} s</td>{_pct(p.send_to_ack)}{_pct(p.send_to_all_delivered)}</tr>"
        for p in f.phases
    )
    examples = "".join(
        f"<li><b>{e(kind)}</b>: {e('; '.join(items))}</li>" for kind, items in sorted(f.examples.items())
    )
    status = "PASSED" if v.passed else "FAILED"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Firebreak drill: {status}</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 860px; color: #111; }}
h1 span.passed {{ color: #15803d; }} h1 span.failed {{ color: #b91c1c; }}
p.summary {{ font-size: 17px; background: #f3f4f6; padding: .8em 1em; border-radius: 6px; }}
table {{ border-collapse: collapse; margin: .5em 0 1.5em; }} td, th {{ border: 1px solid #ddd; padding: 3px 8px; }}
tr.bad td {{ background: #fee2e2; }} tr.ok td:last-child {{ color: #15803d; }}
svg {{ width: 100%; height: auto; }} .axis {{ font-size: 11px; fill: #444; }}
.mark {{ stroke: #b91c1c; stroke-dasharray: 4 3; }} .back {{ stroke: #15803d; stroke-dasharray: 4 3; }}
.marklabel {{ font-size: 11px; fill: #b91c1c; }} .legend {{ font-size: 12px; }} .legend span {{ margin-right: 1.2em; }} figure {{ margin: 0 0 1.5em; }} code {{ font-size: 12px; }}
</style></head><body>
<h1>Fire drill <span class="{status.lower()}">{status}</span></h1>
<p class="summary" id="summary">{e(summary(result))}</p>
<h2>Timeline</h2>
{_chart("Acknowledged sends per second, by the DC that acknowledged them, and errors", series, result, "/s")}
{_chart("p99 send-to-acknowledgement latency per second", {"p99": [s.p99_ack_s for s in timeline]}, result, "s")}
<h2>Verdict</h2>
<table id="verdict"><tr><th>check</th><th>count</th></tr>{rows}</table>
<p>{v.acked} sends acknowledged, {v.failed} failed cleanly, {v.not_attempted} never attempted;
{v.unacked_but_present} unacknowledged send(s) in the log anyway (allowed: the client was told it failed, not that it was lost);
{v.read_probes - v.read_failures} of {v.read_probes} reads against serving DCs answered;
{v.files_acked} file uploads acknowledged ({v.files_failed} given up), each read back at {e(", ".join(v.files_dcs_checked)) or "no DC"}.</p>
<h2>Outage seen by clients</h2>
<table><tr><th></th><th>clients</th><th>p50</th><th>p95</th><th>p99</th><th>max</th></tr>
<tr><td>longest wait for one send</td>{_pct(f.send_outage)}</tr>
<tr><td>longest wait for one delivery</td>{_pct(f.delivery_outage)}</tr></table>
<p>Longest wait for any client: {v.max_outage_s:.2f} s{e(limit)}.</p>
<h2>Rooms that could not write</h2>
<table><tr><th>room</th><th>longest send wait</th><th>failed sends</th></tr>{rooms}</table>
<h2>Latency by phase</h2>
<table><tr><th>phase</th><th>time</th><th colspan="5">send to acknowledgement (n, p50, p95, p99, max)</th>
<th colspan="5">send to delivery at every member device</th></tr>{phases}</table>
{"<h2>Examples of faults</h2><ul>" + examples + "</ul>" if examples else ""}
<h2>Repeat it</h2>
<pre>{e(result.command)}</pre>
<p>Seed {result.options.seed}; started {e(result.started_at)}; took {result.elapsed_s:.0f} s; DCs {e(", ".join(result.dcs))}.</p>
</body></html>
"""
