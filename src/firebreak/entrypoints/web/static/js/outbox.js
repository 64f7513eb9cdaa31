// The outbox: every message typed is kept in storage with its client id until a DC acknowledges
// it, so it survives failures, reloads and a closed browser, and is never lost or doubled (the
// server makes every resend with the same id the same single message, at any DC).
//
//   typed --> PENDING --acknowledged (201, or 200 duplicate)--> SENT (removed from the outbox)
//   PENDING --network error | 429 | 502/503/504--> PENDING (tried again, same id, by itself)
//   PENDING --401--> PENDING (kept; sent after signing in again)
//   PENDING --other 4xx (too long, not a member, ...)--> FAILED(reason)
//   FAILED --edit--> PENDING (a new id: the refused one stored nothing)   FAILED --drop--> gone
//
// Sends go to the room's write hint first (Api.write). One worker sends the oldest pending message first, one at a time, so a room's messages keep
// the order they were typed in. Every change re-reads storage first: another tab of the same
// origin may have added messages (it may also send the same one: same id, one message).
import { load, newId, save, sleep } from "./store.js";

const RETRY_MS = 700;

export class Outbox {
  constructor(userId, api, { onChange, onSent, onSignedOut }) {
    this.key = `outbox.${userId}`;
    this.api = api;
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
        try {
          const answer = {};
          const result = await this.api.write(
            item.room_id,
            "POST",
            `/v1/rooms/${encodeURIComponent(item.room_id)}/messages`,
            { client_id: item.client_id, text: item.text },
            { deadlineMs: 15000, answer },
          );
          this.waiting = null;
          this.mutate((items) => {
            const i = items.findIndex((m) => m.client_id === item.client_id);
            if (i >= 0) items.splice(i, 1);
          });
          this.handlers.onSent(item, result.message, answer.answeredBy);
        } catch (error) {
          if (error.retryable) {
            this.waiting = error.message;
            this.handlers.onChange();
            await sleep(RETRY_MS);
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
}
