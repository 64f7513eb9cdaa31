// Firebreak operations console: plain JS, no build, nothing from a CDN (docs/OPERATIONS.md).
// Polls the ops API (/internal/dcs) of the DC that served the page, or of another DC when that
// one stops answering, and each DC's /metrics; shows every DC, a live timeline and drill reports.
"use strict";

const TOKEN_KEY = "firebreak.opsToken";
const DCS_KEY = "firebreak.opsDcs";
const params = new URLSearchParams(location.search);
// ?poll=MS: how often to ask (default 2 s).
const POLL_MS = Math.max(250, Number(params.get("poll")) || 2000);
const BUSY_POLL_MS = 250;
const FETCH_TIMEOUT_MS = 8000;
const METRICS_TIMEOUT_MS = 1500;

const $ = (sel) => document.querySelector(sel);
let token = sessionStorage.getItem(TOKEN_KEY);
// Every DC's {name, http_url}: from the last /internal/dcs answer (kept for fallback).
let dcs = JSON.parse(sessionStorage.getItem(DCS_KEY) || "[]");
// The origin whose ops API answered last.
let servedBy = location.origin;
const previous = {}; // "<process URL>:<counter>" -> {t, value}
const lastState = {}; // dc -> state shown
let timer = null;

class HttpError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function call(origin, path, options = {}, timeoutMs = FETCH_TIMEOUT_MS) {
  const ctl = new AbortController();
  const t = setTimeout(() => ctl.abort(), timeoutMs);
  try {
    const resp = await fetch(origin + path, {
      ...options,
      headers: { "x-ops-token": token || "", ...(options.headers || {}) },
      signal: ctl.signal,
      cache: "no-store",
    });
    if (!resp.ok) {
      let code = "http_" + resp.status, message = resp.statusText;
      try { const body = await resp.json(); code = body.error.code; message = body.error.message; } catch (e) { /* not JSON */ }
      throw new HttpError(resp.status, code, message);
    }
    return resp;
  } finally {
    clearTimeout(t);
  }
}

// The origins to ask, the one that answered last first, then this page's, then every other DC's.
function origins() {
  const all = [servedBy, location.origin, ...dcs.map((d) => d.http_url)];
  return [...new Set(all)];
}

// Asks the ops API at the first DC that answers; an HTTP error (403, 4xx) is an answer.
async function opsCall(path, options) {
  let lastError = null;
  for (const origin of origins()) {
    try {
      const resp = await call(origin, path, options);
      servedBy = origin;
      return resp;
    } catch (e) {
      if (e instanceof HttpError && e.status < 500) throw e;
      lastError = e;
    }
  }
  throw lastError || new Error("no DC answered");
}

// ---- Prometheus text: just what the cards need -------------------------------------------------

function parseMetrics(text) {
  const out = {};
  for (const line of text.split("\n")) {
    if (!line || line[0] === "#") continue;
    const m = line.match(/^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    for (const l of (m[2] || "").slice(1, -1).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    (out[m[1]] = out[m[1]] || []).push({ labels, value: Number(m[3]) });
  }
  return out;
}

const sum = (samples, keep = () => true) =>
  (samples || []).filter((s) => keep(s.labels)).reduce((a, s) => a + s.value, 0);

function readMetrics(m) {
  const ok = (l) => l.result === "sent" || l.result === "duplicate";
  return {
    sends: sum(m.firebreak_sends_total, ok),
    deliveries: sum(m.firebreak_deliveries_total),
    errors: sum(m.firebreak_sends_total, (l) => !ok(l)),
    limited: sum(m.firebreak_rate_limited_total),
    caughtUp: sum(m.firebreak_rebuild_caught_up) === 1,
    target: sum(m.firebreak_rebuild_target_entries),
    applied: sum(m.firebreak_rebuild_applied_entries),
    failovers: sum(m.firebreak_client_failovers_total),
  };
}

// A DC's figures from every one of its gateway processes, each at its own URL (the shared port
// would reach a different process at each poll, and its counters would jump between them).
// Counts are summed over the processes that answered; a rebuild's progress is the slowest
// answering process's. A process that does not answer (one still starting binds no port) leaves
// the others' figures shown; "starting" only when none answered and one said dc_starting.
async function dcMetrics(dc) {
  const urls = (dc.gateways || []).map((g) => g.url);
  const asked = urls.length ? urls : [dc.http_url];
  const settled = await Promise.allSettled(asked.map(async (url) => {
    const resp = await call(url, "/metrics", {}, METRICS_TIMEOUT_MS);
    return { url, ...readMetrics(parseMetrics(await resp.text())) };
  }));
  const each = settled.filter((r) => r.status === "fulfilled").map((r) => r.value);
  const failed = settled.filter((r) => r.status === "rejected").map((r) => r.reason);
  if (!each.length) {
    const starting = failed.some((e) => e instanceof HttpError && e.code === "dc_starting");
    return { ok: false, starting, error: failed.map((e) => e.message).join("; "), each: [] };
  }
  const total = (k) => each.reduce((a, m) => a + m[k], 0);
  const slowest = each.reduce((a, m) => (m.target - m.applied > a.target - a.applied ? m : a));
  return {
    ok: true,
    each,
    sends: total("sends"),
    deliveries: total("deliveries"),
    errors: total("errors"),
    limited: total("limited"),
    failovers: total("failovers"),
    caughtUp: each.every((m) => m.caughtUp),
    target: slowest.target,
    applied: slowest.applied,
  };
}

// ---- rendering -------------------------------------------------------------------------------

function stateOf(dc, metrics) {
  if (!dc.answering) return "down";
  if (dc.draining) return "draining";
  if (dc.ready) return "ready";
  if (!metrics.ok && metrics.starting) return "starting";
  return "catching up";
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k.startsWith("data-")) e.setAttribute(k, v); else e[k] = v;
  }
  for (const c of children) e.append(c);
  return e;
}

// Per second since the last poll, summed over a DC's processes, each against its own last value:
// a process that went away or restarted (its counter went down) adds nothing until the next poll,
// and the others' rates still show.
function rate(metrics, kind, now) {
  let sum = 0;
  let known = false;
  for (const m of metrics.each) {
    const p = previous[`${m.url}:${kind}`];
    if (!p || now <= p.t || m[kind] < p.value) continue;
    sum += (m[kind] - p.value) / ((now - p.t) / 1000);
    known = true;
  }
  return known ? sum.toFixed(1) : "–";
}

function card(dc, metrics, state, now) {
  const fmt = (v) => (v === null || v === undefined ? "–" : String(v));
  const applied = Object.entries(dc.applied || {}).map(([s, n]) => `${s}:${n}`).join(" ") || "–";
  let progress = "";
  if (state === "catching up" && metrics.ok && metrics.target) {
    progress = `applied ${metrics.applied} of ${metrics.target} log entries`;
  }
  const rows = [
    ["state", state + (progress ? ` (${progress})` : "")],
    ["clients", fmt(dc.clients)],
    ["lag", dc.lag === null ? "–" : `${dc.lag} entries`],
    ["leads", (dc.leads || []).join(", ") || "none"],
    ["applied", applied],
    ["sends/s", metrics.ok ? rate(metrics, "sends", now) : "–"],
    ["deliveries/s", metrics.ok ? rate(metrics, "deliveries", now) : "–"],
    ["errors", metrics.ok ? `${metrics.errors} failed sends, ${metrics.limited} rate-limited` : "–"],
    ["failovers in", metrics.ok ? fmt(metrics.failovers) : "–"],
  ];
  const gateways = dc.gateways || [];
  if (gateways.length > 1) {
    const one = (g) => `#${g.process} ${!g.answering ? "silent" : g.draining ? "draining" : g.ready ? "ready" : "not ready"}`
      + (g.clients === null || g.clients === undefined ? "" : ` (${g.clients} clients)`);
    rows.splice(1, 0, ["processes", gateways.map(one).join(", ")]);
  }
  const dl = el("dl");
  for (const [k, v] of rows) dl.append(el("dt", {}, k), el("dd", { "data-field": k }, v));
  const actions = el("div", { class: "actions" });
  for (const [action, label, danger] of [
    ["evacuate", "Evacuate", false], ["burn", "Burn", true], ["start", "Start", false], ["rebuild", "Rebuild", false],
  ]) {
    const b = el("button", { type: "button", class: danger ? "danger" : "", "data-action": action }, label);
    b.addEventListener("click", () => act(dc.name, action));
    actions.append(b);
  }
  const cls = state.replace(" ", "-");
  return el("article", { class: "card", "data-dc": dc.name, "data-state": state },
    el("h3", {}, dc.name, el("span", { class: `state ${cls}` }, state)), dl, actions);
}

function note(text, kind = "", dc = "", state = "") {
  const time = new Date().toISOString().slice(11, 19);
  const attrs = { class: kind };
  if (dc) attrs["data-dc"] = dc;
  if (state) attrs["data-state"] = state; // only observed states: what the tests read
  const li = el("li", attrs, `${time} ${text}`);
  $("#timeline").prepend(li);
}

// ---- polling -----------------------------------------------------------------------------------

async function poll() {
  try {
    const answer = await (await opsCall("/internal/dcs")).json();
    dcs = answer.dcs.map((d) => ({ name: d.name, http_url: d.http_url }));
    sessionStorage.setItem(DCS_KEY, JSON.stringify(dcs));
    const metrics = await Promise.all(answer.dcs.map(dcMetrics));
    const now = Date.now();
    const cards = answer.dcs.map((dc, i) => {
      const state = stateOf(dc, metrics[i]);
      const was = lastState[dc.name];
      if (state === "ready" && (was === "down" || was === "starting") && metrics[i].ok && metrics[i].target) {
        // A small rebuild can start and end between two polls: its gauges still tell that it
        // happened, so the timeline shows the catching up it did not see.
        const m = metrics[i];
        note(`${dc.name} was catching up: applied ${m.applied} of ${m.target} log entries (between two polls)`,
          "", dc.name, "catching up");
      }
      if (was !== state) {
        const kind = state === "ready" ? "good" : state === "down" ? "bad" : "";
        note(`${dc.name} is ${state}`, kind, dc.name, state);
        lastState[dc.name] = state;
      }
      const c = card(dc, metrics[i], state, now);
      for (const m of metrics[i].each) {
        previous[`${m.url}:sends`] = { t: now, value: m.sends };
        previous[`${m.url}:deliveries`] = { t: now, value: m.deliveries };
      }
      return c;
    });
    $("#dcs").replaceChildren(...cards);
    const served = dcs.find((d) => d.http_url === servedBy);
    $("#served").textContent = `ops API from ${served ? served.name : servedBy}; updated ${new Date().toLocaleTimeString()}`;
    $("#cluster-note").textContent = answer.log_error
      ? `The log did not answer: ${answer.log_error}`
      : answer.supervised ? "A local supervisor runs these DCs." : "No local supervisor: burn, start and rebuild are refused (501).";
  } catch (e) {
    if (e instanceof HttpError && e.status === 403) { signOut("The ops token was refused."); return; }
    $("#served").textContent = `no DC answered (${e.message}); retrying`;
  }
  // While a DC is on its way back, look more often: its catching up is worth seeing.
  const busy = Object.values(lastState).some((st) => st === "starting" || st === "catching up");
  timer = setTimeout(poll, busy ? Math.min(POLL_MS, BUSY_POLL_MS) : POLL_MS);
}

// ---- actions -----------------------------------------------------------------------------------

const WARNINGS = {
  evacuate: "drains its gateway (clients move to other DCs) and moves its stream leaders away.",
  burn: "kills its processes and DELETES its data (local cluster only).",
  start: "starts its processes (reusing its data).",
  rebuild: "starts it again from an empty data folder: it copies the log from the other DCs.",
  rebalance: "spreads the stream leaders over the DCs that serve.",
};

function confirmAction(text) {
  return new Promise((resolve) => {
    const dialog = $("#confirm");
    $("#confirm-text").textContent = text;
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}

async function act(dc, action) {
  const what = dc ? `${action} ${dc}` : action;
  if (!(await confirmAction(`${what[0].toUpperCase() + what.slice(1)}? This ${WARNINGS[action]}`))) return;
  note(`asked: ${what}`, "", dc);
  const path = dc ? `/internal/dcs/${encodeURIComponent(dc)}/${action}` : "/internal/leaders/rebalance";
  try {
    const body = await (await opsCall(path, { method: "POST" })).json();
    const said = body.leaders
      ? "leaders " + Object.entries(body.leaders).map(([s, l]) => `${s}→${l || "none"}`).join(", ")
      : Object.entries(body).filter(([k]) => k !== "dc").map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(", ");
    note(`${what}: done (${said})`, "good", dc);
  } catch (e) {
    note(`${what}: refused: ${e.code || ""} ${e.message}`, "bad", dc);
  }
}

// ---- drill reports -------------------------------------------------------------------------------

async function loadDrills() {
  const list = $("#drills");
  try {
    const answer = await (await opsCall("/ops/api/drills")).json();
    if (!answer.reports.length) {
      list.replaceChildren(el("li", {}, `No reports in ${answer.directory}.`));
      return;
    }
    list.replaceChildren(...answer.reports.map((r) => {
      const li = el("li", { "data-report": r.name },
        el("span", { class: r.passed ? "passed" : "failed" }, r.passed ? "PASSED" : "FAILED"),
        ` ${r.name} (${r.started_at || "?"}): ${r.summary} `);
      if (r.html) {
        const b = el("button", { type: "button" }, "Open report");
        b.addEventListener("click", () => openReport(r.name));
        li.append(b);
      }
      return li;
    }));
  } catch (e) {
    list.replaceChildren(el("li", { class: "error" }, `Could not list drill reports: ${e.message}`));
  }
}

// ---- the console's own short drill ------------------------------------------------------------

let drillTimer = null;

function showDrill(run) {
  const state = $("#drill-state");
  state.dataset.state = run.state;
  const words = {
    idle: "",
    running: `running ${run.name} (${run.elapsed_s ?? 0} s)${run.last_line ? ": " + run.last_line : ""}`,
    passed: `${run.name} PASSED in ${run.took_s} s`,
    failed: `${run.name} FAILED in ${run.took_s} s`,
    error: `${run.name} could not run: ${run.message || run.last_line || "see its log"}`,
  };
  state.textContent = words[run.state] ?? run.state;
  $("#run-drill").disabled = run.state === "running";
}

// Follows the drill while it runs; when it ends, its report joins the list.
async function watchDrill() {
  clearTimeout(drillTimer);
  try {
    const run = await (await opsCall("/ops/api/drills/run")).json();
    showDrill(run);
    if (run.state === "running") {
      drillTimer = setTimeout(watchDrill, POLL_MS);
      return;
    }
    if (run.state !== "idle") {
      note(`drill ${run.name}: ${run.state}`, run.state === "passed" ? "good" : "bad");
      loadDrills();
    }
  } catch (e) {
    $("#drill-state").textContent = `drill state unknown: ${e.message}`;
    drillTimer = setTimeout(watchDrill, POLL_MS);
  }
}

async function runDrill() {
  const text = "Run a short fire drill? It starts a throwaway three-DC cluster on this machine, " +
    "burns one of its DCs under a small load and checks that nothing was lost (about a minute).";
  if (!(await confirmAction(text))) return;
  try {
    showDrill(await (await opsCall("/ops/api/drills/run", { method: "POST" })).json());
    note("asked: a short drill");
    drillTimer = setTimeout(watchDrill, POLL_MS);
  } catch (e) {
    $("#drill-state").textContent = `refused: ${e.message}`;
    $("#drill-state").dataset.state = "refused";
  }
}

async function openReport(name) {
  const html = await (await opsCall(`/ops/api/drills/${encodeURIComponent(name)}`)).text();
  window.open(URL.createObjectURL(new Blob([html], { type: "text/html" })), "_blank");
}

// ---- sign in / out -------------------------------------------------------------------------------

function signOut(message = "") {
  clearTimeout(drillTimer);
  clearTimeout(timer);
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  $("#console").hidden = true;
  $("#logout").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = message;
}

function start() {
  $("#login").hidden = true;
  $("#console").hidden = false;
  $("#logout").hidden = false;
  poll();
  loadDrills();
  watchDrill();
}

$("#login").addEventListener("submit", async (event) => {
  event.preventDefault();
  token = $("#token").value.trim();
  try {
    await call(location.origin, "/internal/dcs");
    sessionStorage.setItem(TOKEN_KEY, token);
    $("#token").value = "";
    start();
  } catch (e) {
    signOut(e instanceof HttpError && e.status === 403 ? "That is not the ops token." : `No answer: ${e.message}`);
  }
});
$("#logout").addEventListener("click", () => signOut());
$("#rebalance").addEventListener("click", () => act("", "rebalance"));
$("#run-drill").addEventListener("click", runDrill);
if (token) start();
