// The outbox: every message typed is kept in storage with its client id until a DC acknowledges
// it, so it survives failures, reloads and a closed browser, and is never lost or doubled (the
// server makes every resend with the same id the same single message, at any DC).
//
//   typed --> PENDING --acknowledged (201, or 200 duplicate)--> SENT (removed from the outbox)
//   PENDING --network error | 429 | 502/503/504--> PENDING (tried again, same id, by itself)
//   PENDING --409 earlier_send_failed on the socket--> PENDING (tried again over HTTP at once)
//   PENDING --401--> PENDING (kept; sent after signing in again)
//   PENDING --other 4xx (too long, not a member, ...)--> FAILED(reason)
//   FAILED --edit--> PENDING (a new id: the refused one stored nothing)   FAILED --drop--> gone
//
// A send goes over the live socket when it is connected and the room's writes belong at its DC
// (Live.send: a "send" command, same answers as HTTP; its ack names the DC for the room's writes
// as an HTTP answer does); otherwise, and after a retryable failure on the socket, it is an HTTP
// request to the room's write hint (Api.write), whose failover finds a DC that takes writes. One worker
// sends the oldest pending message first, one at a time, so a room's messages keep the order
// they were typed in. Every change re-reads storage first: another tab of the same
// origin may have added messages (it may also send the same one: same id, one message).
import { load, newId, save, sleep } from "./store.js";

const RETRY_MS = 700;

export class Outbox {
  // live: the Live stream (sends go over its socket while it is connected), or null.
  constructor(userId, api, { onChange, onSent, onSignedOut }, live = null) {
    this.key = `outbox.${userId}`;
    this.api = api;
    this.live = live;
    this.viaHttp = false; // the next attempt goes over HTTP (after a retryable socket failure)
    this.handlers = { onChange, onSent, onSignedOut };
    this.running = false;
    this.stopped = false;
    this.waiting = null; // why the head is waiting, while it is
  }

  get items() {
    return load(this.key, []);
  }

  mutate(change) {
    const items = this.items;
    change(items);
    save(this.key, items);
    this.handlers.onChange();
  }

  add(roomId, text) {
    const item = { client_id: newId(), room_id: roomId, text, state: "pending", reason: null, at: Date.now() };
    this.mutate((items) => items.push(item));
    this.kick();
    return item;
  }

  edit(clientId, text) {
    this.mutate((items) => {
      const i = items.findIndex((m) => m.client_id === clientId);
      if (i >= 0) items[i] = { ...items[i], client_id: newId(), text, state: "pending", reason: null };
    });
    this.kick();
  }

  drop(clientId) {
    this.mutate((items) => {
      const i = items.findIndex((m) => m.client_id === clientId);
      if (i >= 0) items.splice(i, 1);
    });
  }

  stop() {
    this.stopped = true;
  }

  kick() {
    if (!this.running && !this.stopped) this.run();
  }

  async run() {
    this.running = true;
    try {
      while (!this.stopped) {
        const item = this.items.find((m) => m.state === "pending");
        if (!item) return;
        const overSocket = !this.viaHttp && this.live?.canSend() && this.api.writesHere(item.room_id);
        try {
          const { result, answeredBy } = await this.deliver(item, overSocket);
          this.viaHttp = false;
          this.waiting = null;
          this.mutate((items) => {
            const i = items.findIndex((m) => m.client_id === item.client_id);
            if (i >= 0) items.splice(i, 1);
          });
          this.handlers.onSent(item, result.message, answeredBy);
        } catch (error) {
          // earlier_send_failed: the last message went over HTTP to another DC, which the socket's
          // DC has not applied yet (this outbox sends one at a time: all earlier ones are answered).
          const held = overSocket && error.code === "earlier_send_failed";
          if ((error.retryable || held) && overSocket && error.status !== 429) {
            this.viaHttp = true; // at once, over HTTP: it fails over to a DC that takes writes
          } else if (error.retryable) {
            // A 429 (over either path) says when to ask again; HTTP would only be refused too.
            this.waiting = error.message;
            this.handlers.onChange();
            await sleep(error.status === 429 ? Math.max(RETRY_MS, (error.retryAfterS ?? 1) * 1000) : RETRY_MS);
          } else if (error.status === 401) {
            this.stopped = true;
            this.handlers.onSignedOut(error);
          } else {
            this.mutate((items) => {
              const found = items.find((m) => m.client_id === item.client_id);
              if (found) Object.assign(found, { state: "failed", reason: error.message || error.code });
            });
          }
        }
      }
    } finally {
      this.running = false;
    }
  }

  async deliver(item, overSocket) {
    const body = { client_id: item.client_id, text: item.text };
    if (overSocket) {
      const acked = await this.live.send({ kind: "send", room_id: item.room_id, ...body });
      this.api.noteWriteUrl(item.room_id, acked.writeUrl);
      return acked;
    }
    const answer = {};
    const path = `/v1/rooms/${encodeURIComponent(item.room_id)}/messages`;
    const result = await this.api.write(item.room_id, "POST", path, body, { deadlineMs: 15000, answer });
    return { result, answeredBy: answer.answeredBy };
  }
}
