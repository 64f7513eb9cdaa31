// Typing and presence (docs/API.md, "Typing and presence frames"): ephemeral notes, never in the
// log, so nothing here is kept in storage or survives a reconnect (presence is asked again).
//
// Typing, sent: the first keystroke in a room sends the note, then at most one every RENEW_MS
// while typing goes on (the server keeps each for ttl_ms, 5 s, and allows 2 a second). Emptying
// the composer by hand sends `typing: false`; sending the message sends nothing, since the
// message itself ends the indicator at the others.
//
// Typing, shown: per room and typist, "Alice is typing…" under the messages (a polite live
// region) until ttl_ms from receipt, a `typing: false` note, or that person's message.
//
// Presence: each user's {online, last_seen} as last told (GET .../presence when a room opens and
// after each reconnect, then `presence` frames); a DM's header shows the other person's, a
// group's header how many are online, and the member list each member's.
import { el, when } from "./format.js";

const $ = (selector) => document.querySelector(selector);
const RENEW_MS = 3000;
const NOTE_DEADLINE_MS = 2000; // a late note is useless: give up rather than queue behind it

export class Notes {
  constructor(app, me) {
    this.app = app;
    this.me = me;
    this.sentAt = new Map(); // room id -> when this tab last said it is typing there
    this.typists = new Map(); // room id -> Map(user id -> expiry timer)
    this.presence = new Map(); // user id -> {online, last_seen}
  }

  get room() {
    return this.app.room?.room ?? null;
  }

  // The composer changed by hand (an `input` event) in room `roomId`.
  typed(roomId, text) {
    if (!roomId) return;
    const last = this.sentAt.get(roomId);
    if (!text.trim()) {
      if (last === undefined) return;
      this.sentAt.delete(roomId);
      this.note(roomId, false);
      return;
    }
    const now = Date.now();
    if (last !== undefined && now - last < RENEW_MS) return;
    this.sentAt.set(roomId, now);
    this.note(roomId, true);
  }

  // The composer's text went out as a message: the next keystroke is a new note at once.
  sent(roomId) {
    this.sentAt.delete(roomId);
  }

  note(roomId, typing) {
    this.app.api
      .request("POST", `/v1/rooms/${roomId}/typing`, { typing }, { deadlineMs: NOTE_DEADLINE_MS })
      .catch(() => {}); // a lost note only shortens what the others see
  }

  // A live frame of kind "typing" or "presence".
  frame(frame) {
    if (frame.kind === "typing" && frame.typing) this.typingNote(frame.typing);
    else if (frame.kind === "presence" && frame.presence) {
      for (const p of frame.presence) this.presence.set(p.user_id, p);
      this.renderPresence();
    }
  }

  typingNote(note) {
    if (note.user_id === this.me.user_id) return;
    if (!note.typing) {
      this.stop(note.room_id, note.user_id);
      return;
    }
    let room = this.typists.get(note.room_id);
    if (!room) this.typists.set(note.room_id, (room = new Map()));
    clearTimeout(room.get(note.user_id));
    room.set(
      note.user_id,
      setTimeout(() => this.stop(note.room_id, note.user_id), note.ttl_ms),
    );
    this.renderTyping();
  }

  stop(roomId, userId) {
    const room = this.typists.get(roomId);
    if (!room?.has(userId)) return;
    clearTimeout(room.get(userId));
    room.delete(userId);
    if (!room.size) this.typists.delete(roomId);
    this.renderTyping();
  }

  // Live events: a message ends its sender's indicator in that room.
  events(items) {
    for (const item of items) {
      const e = item.event;
      if (e.type === "message_sent") this.stop(e.room_id, e.sender);
    }
  }

  // What the open room (or none) shows, from what is known now.
  render() {
    this.renderTyping();
    this.renderPresence();
  }

  // A room was opened, or the stream is live again: everything shown is asked afresh.
  async refresh() {
    const room = this.room;
    this.render();
    if (!room) return;
    try {
      const answer = await this.app.api.request("GET", `/v1/rooms/${room.id}/presence`);
      for (const p of answer.members) this.presence.set(p.user_id, p);
    } catch {
      return; // shown as last known; the next reconnect asks again
    }
    this.renderPresence();
  }

  // What to say about one user: "online", "last seen 14:02", or "offline".
  status(userId) {
    const p = this.presence.get(userId);
    if (!p) return null;
    if (p.online) return "online";
    return p.last_seen ? `last seen ${when(p.last_seen)}` : "offline";
  }

  // The member list's entry for a member: its presence, as an element.
  memberStatus(userId) {
    const text = this.status(userId);
    if (!text) return null;
    return el("span", { class: "presence" }, ` · ${text}`);
  }

  renderTyping() {
    const box = $("#typing");
    const room = this.room;
    const ids = room ? [...(this.typists.get(room.id)?.keys() ?? [])] : [];
    const names = ids.map((id) => room.members.get(id)?.display_name ?? "someone");
    box.textContent = typingText(names);
    box.dataset.typists = ids.join(" ");
  }

  renderPresence() {
    const line = $("#room-presence");
    const room = this.room;
    line.replaceChildren();
    line.dataset.online = "";
    if (!room) return;
    const others = [...room.members.keys()].filter((id) => id !== this.me.user_id);
    if (room.view?.kind === "direct") {
      const peer = room.view.peer?.user_id ?? others[0];
      const text = peer ? this.status(peer) : null;
      if (!text) return;
      line.dataset.online = text === "online" ? "1" : "";
      line.textContent = text;
    } else if (others.length) {
      const online = others.filter((id) => this.presence.get(id)?.online).length;
      line.dataset.online = online ? "1" : "";
      line.textContent = `${online + 1} of ${others.length + 1} online`; // this tab's person is online
    }
  }
}

function typingText(names) {
  if (!names.length) return "";
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return `${names.slice(0, -1).join(", ")} and ${names.at(-1)} are typing…`;
}
