// The live stream, as client/live.py: one WebSocket, resumed from its cursor at any DC.
//
//   CONNECTING --open--> CATCHING_UP --"ready"--> LIVE
//       ^                    |                     |
//       |                    +------ lost ---------+--> BACKOFF --(next DC)--> CONNECTING
//       +-----------------------------------------------------+
//   any state --stop() or session refused--> CLOSED
//
// Every event frame carries the cursor just past it; the newest one is kept (also in storage, so
// a reload resumes from it), and a reconnect to any DC passes it: that DC first sends everything
// after it, then "ready". Cursors mean the same in every DC.
//
// "Lost" includes silence: the server sends a "heartbeat" frame every heartbeat_s on every
// live socket, so SILENT_BEATS of them without any frame means the DC stopped answering even though
// its TCP connection may still look open (a frozen or partitioned DC: the browser would not notice
// until TCP gives up, and a page cannot send WebSocket pings). Each DC states its interval in its
// "ready" frame (DCs may be configured differently); until then the page's config.json says.
//
// While LIVE, messages go over this socket too (send(): a "send" command answered by an "ack"
// frame with the HTTP answer's status, result or error; docs/API.md). A command whose socket is
// lost before its ack fails as retryable: the outbox sends it again, with the same id.
import { ApiError } from "./api.js";
import { save } from "./store.js";

export const State = {
  CONNECTING: "connecting",
  CATCHING_UP: "catching up",
  LIVE: "connected",
  BACKOFF: "reconnecting",
  CLOSED: "closed",
};

const FATAL = new Set(["invalid_token", "token_expired", "session_revoked", "missing_token"]);
const OPEN_TIMEOUT_MS = 4000;
const SILENT_BEATS = 3;
const MAX_TIMER_MS = 2 ** 31 - 1; // setTimeout fires at once beyond this
const ACK_TIMEOUT_MS = 15000;

export class Live {
  // api: the shared Api (its current DC is where this connects); cursorKey: where the cursor is kept.
  // heartbeatS: how often a DC sends a heartbeat until its "ready" says (config.json).
  // onNote(frame): the ephemeral "typing" and "presence" frames (js/notes.js).
  constructor(api, cursor, cursorKey, { onEvents, onState, onFatal, onNote }, heartbeatS = 5) {
    this.defaultSilenceMs = SILENT_BEATS * heartbeatS * 1000;
    this.silenceMs = this.defaultSilenceMs;
    this.api = api;
    this.cursor = cursor;
    this.cursorKey = cursorKey;
    this.handlers = { onEvents, onState, onFatal, onNote };
    this.state = State.CLOSED;
    this.ws = null;
    this.delay = 50;
    this.stopped = false;
    this.acks = new Map(); // ref -> { resolve, reject, timer } of commands sent on this.ws
    this.refs = 0;
  }

  // True while a command sent now would go out on an open, caught-up socket.
  canSend() {
    return this.state === State.LIVE && this.ws?.readyState === WebSocket.OPEN;
  }

  // Sends `command` (without its ref) on the socket; resolves with the ack's result, or rejects
  // with an ApiError as the same HTTP request would (status 0, retryable, if the socket is lost).
  send(command) {
    const ref = `w${++this.refs}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.unanswered(ref, "no acknowledgement in time"), ACK_TIMEOUT_MS);
      this.acks.set(ref, { resolve, reject, timer, dc: this.api.dcs[this.api.current]?.name });
      try {
        this.ws.send(JSON.stringify({ ...command, ref }));
      } catch {
        this.unanswered(ref, "live connection lost");
      }
    });
  }

  acked(frame) {
    const waiting = this.acks.get(frame.ref);
    if (!waiting) return;
    this.acks.delete(frame.ref);
    clearTimeout(waiting.timer);
    if (frame.status < 300) {
      waiting.resolve({ result: frame.result, answeredBy: waiting.dc, writeUrl: frame.write_url });
    } else {
      waiting.reject(new ApiError(frame.status, frame.code, frame.message, frame.retry_after_s ?? null));
    }
  }

  unanswered(ref, why) {
    const waiting = this.acks.get(ref);
    if (!waiting) return;
    this.acks.delete(ref);
    clearTimeout(waiting.timer);
    waiting.reject(new ApiError(0, "unreachable", why));
  }

  // The socket is gone: every command on it is unanswered (the outbox sends them again).
  dropAcks(why) {
    for (const ref of [...this.acks.keys()]) this.unanswered(ref, why);
  }

  set(state) {
    this.state = state;
    this.handlers.onState(state, this.api.current);
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    this.dropAcks("stopped");
    clearTimeout(this.timer);
    clearTimeout(this.silence);
    if (this.ws) this.ws.close(1000);
    this.ws = null;
    this.set(State.CLOSED);
  }

  connect() {
    if (this.stopped) return;
    const index = this.api.current;
    const dc = this.api.dcs[index];
    this.set(State.CONNECTING);
    this.silenceMs = this.defaultSilenceMs;
    const query = new URLSearchParams({ token: this.api.token ?? "" });
    if (this.cursor) query.set("cursor", this.cursor);
    let ws;
    try {
      ws = new WebSocket(`${dc.ws_url}?${query}`);
    } catch {
      this.lost(index, null);
      return;
    }
    this.ws = ws;
    let fatal = false;
    const opening = setTimeout(() => ws.close(), OPEN_TIMEOUT_MS);
    // Any frame shows the DC is there; none for silenceMs: gone, whatever the socket says.
    const heard = () => {
      clearTimeout(this.silence);
      this.silence = setTimeout(() => {
        if (this.ws !== ws || this.stopped) return;
        this.ws = null; // its close event, whenever it comes, changes nothing
        ws.close();
        this.lost(index, "silent");
      }, this.silenceMs);
    };
    ws.onopen = () => {
      clearTimeout(opening);
      heard();
      this.set(State.CATCHING_UP);
    };
    ws.onmessage = (message) => {
      if (this.ws !== ws) return;
      const frame = JSON.parse(message.data);
      if (frame.kind === "ready" && Number.isFinite(frame.heartbeat_s) && frame.heartbeat_s > 0) {
        // This DC's interval counts from now on (within what a browser timer can wait).
        this.silenceMs = Math.min(SILENT_BEATS * frame.heartbeat_s * 1000, MAX_TIMER_MS);
      }
      heard();
      if (frame.kind === "event" || frame.kind === "events") {
        this.keep(frame.cursor);
        this.handlers.onEvents(frame.kind === "event" ? [frame.data] : frame.data);
      } else if (frame.kind === "ready") {
        this.keep(frame.cursor);
        this.delay = 50;
        this.set(State.LIVE);
      } else if (frame.kind === "ack") {
        this.acked(frame);
      } else if (frame.kind === "typing" || frame.kind === "presence") {
        this.handlers.onNote?.(frame);
      } else if (frame.kind === "error" && FATAL.has(frame.code)) {
        fatal = true;
        this.stopped = true;
        this.set(State.CLOSED);
        this.handlers.onFatal(frame.code, frame.message);
      } else if (frame.kind === "error" && frame.code === "invalid_cursor") {
        this.keep(null); // start afresh: the app reloads what it shows when live again
      }
    };
    ws.onclose = (event) => {
      clearTimeout(opening);
      if (this.ws !== ws || this.stopped || fatal) return;
      clearTimeout(this.silence);
      if (event.code === 4401) {
        this.stopped = true;
        this.set(State.CLOSED);
        this.handlers.onFatal("session_revoked", event.reason);
        return;
      }
      this.lost(index, event.code);
    };
  }

  keep(cursor) {
    this.cursor = cursor;
    save(this.cursorKey, cursor);
  }

  // Lost (or never reached) DC `index`: the next one, with the same cursor.
  lost(index, code) {
    this.ws = null;
    this.dropAcks("live connection lost");
    this.set(State.BACKOFF);
    this.api.moveFrom(index, `live connection lost${code ? ` (${code})` : ""}`);
    this.timer = setTimeout(() => this.connect(), this.delay);
    this.delay = Math.min(this.delay * 2, 1000);
  }
}
