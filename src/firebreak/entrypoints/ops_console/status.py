"""The public status page (``/status``, no login): each DC up or down, and what that means for
people, in plain words.

The serving gateway asks every other DC's ``/healthz`` itself, with a short timeout, so the page
works from any surviving DC while others are down (a browser could not ask a dead DC anything);
where a DC runs several gateway processes it asks each at its own port (:func:`dc_health`).
It says nothing that is not public: no positions, no counts, no addresses.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import time
from collections.abc import Callable
from typing import Any, Literal

import httpx
import msgspec

from firebreak.config import Config, DCConfig

#: How long the page waits for another DC's /healthz before calling it down.
HEALTH_TIMEOUT_S = 1.0

State = Literal["up", "down", "starting", "recovering", "maintenance"]

_WORDS: dict[State, str] = {
    "up": "working normally.",
    "down": "not answering. People it served are moved to the other sites automatically, within seconds; "
    "nothing already sent is lost (every message is kept at every site).",
    "starting": "starting up. Its users are served by the other sites until it is ready.",
    "recovering": "recovering: it is rebuilding its copy of the messages from the other sites and takes "
    "no users until it has all of them. Its users are served by the other sites meanwhile.",
    "maintenance": "under planned maintenance. Its users are being moved to the other sites.",
}


class DCState(msgspec.Struct, frozen=True):
    name: str
    state: State
    #: What it means for people, in one sentence.
    words: str


class StatusReport(msgspec.Struct, frozen=True):
    #: One sentence on the whole service.
    overall: str
    #: The services that do not work now (empty when everything works).
    affected: list[str]
    dcs: list[DCState]
    #: Seconds since the epoch.
    checked_at: float


def _state(health: dict[str, Any] | None) -> State:
    if health is None:
        return "down"
    # Before ready: a draining gateway's read model is still ready, but it sends people away.
    if health.get("draining"):
        return "maintenance"
    if health.get("ready"):
        return "up"
    if "starting" in health:
        return "starting"
    return "recovering"


def summarize(healths: dict[str, dict[str, Any] | None], now: float) -> StatusReport:
    """The report for each DC's /healthz answer (None: no answer)."""
    dcs = [
        DCState(name, s, f"{name} is {_WORDS[s]}") for name, s in ((n, _state(h)) for n, h in healths.items())
    ]
    up = [d.name for d in dcs if d.state == "up"]
    others = [d.name for d in dcs if d.state != "up"]
    affected: list[str] = []
    if not others:
        overall = "All systems are working normally."
    elif len(up) > len(dcs) // 2:
        overall = (
            f"Firebreak is working: sending, reading and live updates work through {_join(up)}. "
            f"{_join(others)} {'is' if len(others) == 1 else 'are'} not serving; its users are moved "
            "to the other sites automatically."
        )
        affected = [
            f"people connected to {name} reconnect to another site (a few seconds)" for name in others
        ]
    elif up:
        overall = (
            f"Only {_join(up)} is serving. Reading messages works there; sending messages, signing up "
            "and signing in may fail until a second site is back, because every message is stored at "
            "two sites at least before it counts as sent."
        )
        affected = ["sending messages", "signing up and signing in", "creating rooms"]
    else:
        overall = "No site is serving right now: Firebreak is unavailable."
        affected = ["everything"]
    return StatusReport(overall, affected, dcs, now)


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def dc_health(answers: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """One DC's health from its gateway processes' answers (None: no answer), as ``dc status``
    takes it: no answer from any, down; maintenance when any drains (a client that reaches that
    process is sent elsewhere); up only when every answering process is ready. A silent process
    among answering ones does not make the DC down: the kernel gives its share of new connections
    to the others once its socket is gone."""
    answered = [a for a in answers if a is not None]
    if not answered:
        return None
    merged: dict[str, Any] = {
        "ready": all(a.get("ready") for a in answered),
        "draining": any(a.get("draining") for a in answered),
    }
    if any("starting" in a for a in answered):
        merged["starting"] = True
    return merged


async def gather(
    config: Config,
    own: str,
    own_process: int,
    own_health: Callable[[], dict[str, Any]],
    http: httpx.AsyncClient | None = None,
) -> StatusReport:
    """Every DC's health: each of its gateway processes asked at its own port where it has them
    (``process_ports``; else the DC's port), this process's own from memory."""

    async def ask(http: httpx.AsyncClient, dc: str, process: int, url: str) -> dict[str, Any] | None:
        if dc == own and process == own_process:
            return own_health()
        try:
            answer = (await http.get(url + "/healthz")).json()
        except (httpx.HTTPError, ValueError):
            return None
        return answer if isinstance(answer, dict) else None

    def targets(dc: DCConfig) -> list[tuple[int, str]]:
        urls = dc.process_urls()
        # This DC without a port per process: the shared port may reach this very process.
        return [(own_process, dc.http_url)] if dc.name == own and not dc.process_ports else urls

    async def ask_dc(http: httpx.AsyncClient, dc: DCConfig) -> dict[str, Any] | None:
        return dc_health(list(await asyncio.gather(*(ask(http, dc.name, k, url) for k, url in targets(dc)))))

    async with contextlib.AsyncExitStack() as stack:
        if http is None:
            http = await stack.enter_async_context(httpx.AsyncClient(timeout=HEALTH_TIMEOUT_S))
        answers = await asyncio.gather(*(ask_dc(http, dc) for dc in config.dcs))
    return summarize({dc.name: a for dc, a in zip(config.dcs, answers, strict=True)}, time.time())


_COLOURS: dict[State, str] = {
    "up": "#15803d",
    "down": "#b91c1c",
    "starting": "#b45309",
    "recovering": "#b45309",
    "maintenance": "#1d4ed8",
}


def render(report: StatusReport) -> str:
    rows = "\n".join(
        f'<li class="dc" data-dc="{html.escape(d.name)}" data-state="{d.state}">'
        f'<span class="badge" style="background:{_COLOURS[d.state]}">{d.state}</span> '
        f"{html.escape(d.words)}</li>"
        for d in report.dcs
    )
    affected = (
        '<h2>Affected</h2><ul id="affected">'
        + "".join(f"<li>{html.escape(a)}</li>" for a in report.affected)
        + "</ul>"
        if report.affected
        else ""
    )
    checked = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(report.checked_at))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="10">
<title>Firebreak status</title>
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; }}
.badge {{ color: #fff; border-radius: 4px; padding: 0 .4rem; font-size: .85rem; text-transform: uppercase; }}
ul {{ padding-left: 1.2rem; }} li {{ margin: .4rem 0; }} small {{ color: #555; }}
</style></head>
<body><main>
<h1>Firebreak status</h1>
<p id="overall">{html.escape(report.overall)}</p>
<h2>Sites</h2>
<ul id="dcs">
{rows}
</ul>
{affected}
<p><small>Checked {checked}; this page refreshes every 10 seconds.
Machine-readable: <a href="/status.json">/status.json</a>.</small></p>
</main></body></html>
"""
