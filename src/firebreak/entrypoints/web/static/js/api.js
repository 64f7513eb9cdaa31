// HTTP with failover, as client/client.py: every call goes to the current DC; on a network failure
// or 502/503/504 (that DC cannot serve now) the same call goes to the next DC, which becomes the
// current one; a 429 waits its Retry-After at the same DC; any other 4xx is an answer (ApiError).
//
//   TRY(dc) --2xx--> done
//   TRY(dc) --network error | 502/503/504--> MOVE(dc+1) --backoff--> TRY(dc+1)
//   TRY(dc) --429--> WAIT(Retry-After) --> TRY(dc)
//   TRY(dc) --other 4xx--> refused (ApiError, not retryable)
//   any --deadline passed--> the last error (retryable)
//
// A room's writes (write()) go first to the DC its last answer named in Firebreak-Write-Url (the
// DC whose log node leads the room's stream, docs/API.md), as client/transport.py does. Only a
// preference: if that DC fails, the call goes on at the current DC, which stays where it was.
import { sleep } from "./store.js";

const RETRY_ELSEWHERE = new Set([502, 503, 504]);
const CALL_TIMEOUT_MS = 10000;

export class ApiError extends Error {
  constructor(status, code, message, retryAfterS = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfterS = retryAfterS;
  }

  // True when the same call may succeed later (here or at another DC).
  get retryable() {
    return this.status === 0 || this.status === 429 || RETRY_ELSEWHERE.has(this.status);
  }

  static async from(resp) {
    let code = "http_error";
    let message = `HTTP ${resp.status}`;
    try {
      const body = await resp.json();
      code = body.error?.code ?? code;
      message = body.error?.message ?? message;
    } catch {
      /* not JSON: keep the status */
    }
    const wait = Number.parseInt(resp.headers.get("retry-after") ?? "", 10);
    return new ApiError(resp.status, code, message, Number.isFinite(wait) ? wait : null);
  }
}

export class Api {
  // dcs: [{name, http_url, ws_url}]; onMove(index, why) hears every change of DC.
  constructor(dcs, current, onMove) {
    this.dcs = dcs;
    this.current = current;
    this.token = null;
    this.onMove = onMove;
    this.moves = 0;
    this.writeDc = new Map(); // room id -> index of the DC named for its writes
  }

  get dc() {
    return this.dcs[this.current];
  }

  // Leaves DC `index` for the next one, unless another call has moved on already.
  moveFrom(index, why) {
    if (index !== this.current) return;
    this.current = (index + 1) % this.dcs.length;
    this.moves += 1;
    this.onMove(this.current, why);
  }

  // A write to room `roomId` (see above); `answer` as for request().
  async write(roomId, method, path, body, { deadlineMs = 30000, answer = {} } = {}) {
    try {
      return await this.request(method, path, body, { deadlineMs, answer, dc: this.writeDc.get(roomId) });
    } finally {
      this.noteWriteUrl(roomId, answer.writeUrl);
    }
  }

  // A write's answer named `url` (Firebreak-Write-Url, or an ack's write_url) for room `roomId`.
  noteWriteUrl(roomId, url) {
    const hint = (url ?? "").replace(/\/+$/, "");
    const named = this.dcs.findIndex((d) => d.http_url.replace(/\/+$/, "") === hint);
    if (named >= 0) this.writeDc.set(roomId, named);
    else this.writeDc.delete(roomId);
  }

  // True unless the last write to `roomId` named a DC other than the current one.
  writesHere(roomId) {
    const named = this.writeDc.get(roomId);
    return named === undefined || named === this.current;
  }

  // A failed try at DC `index`: a hinted DC is just left behind; the current one is moved from.
  leave(index, hinted, why) {
    if (hinted === null) this.moveFrom(index, why);
  }

  // answer: filled with the answering DC's name (answeredBy) and its Firebreak-Write-Url (writeUrl).
  // dc: the DC to try first (a write hint); after a failure there, the current DC.
  async request(method, path, body = undefined, { deadlineMs = 30000, answer = {}, dc: first = null } = {}) {
    const end = Date.now() + deadlineMs;
    let delay = 50;
    let hinted = first;
    for (;;) {
      const index = hinted ?? this.current;
      const dc = this.dcs[index];
      let error;
      let wait = delay;
      try {
        const resp = await fetchWithTimeout(dc.http_url + path, {
          method,
          headers: {
            ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
            ...(body === undefined ? {} : { "content-type": "application/json" }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        if (resp.ok) {
          answer.answeredBy = dc.name;
          answer.writeUrl = resp.headers.get("firebreak-write-url");
          return await resp.json();
        }
        error = await ApiError.from(resp);
        if (RETRY_ELSEWHERE.has(resp.status)) this.leave(index, hinted, `${dc.name}: ${error.code}`);
        else if (resp.status === 429) wait = Math.max(delay, (error.retryAfterS ?? 1) * 1000);
        else throw error;
      } catch (exc) {
        if (exc instanceof ApiError && !exc.retryable) throw exc;
        if (!(exc instanceof ApiError)) {
          error = new ApiError(0, "unreachable", `${dc.name} did not answer`);
          this.leave(index, hinted, `${dc.name} unreachable`);
        }
      }
      hinted = null; // a hint is tried once; then the usual way
      if (Date.now() + wait > end) throw error;
      await sleep(wait);
      delay = Math.min(delay * 2, 1000);
    }
  }
}

async function fetchWithTimeout(url, init) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), CALL_TIMEOUT_MS);
  try {
    return await fetch(url, { ...init, signal: abort.signal, cache: "no-store" });
  } finally {
    clearTimeout(timer);
  }
}
