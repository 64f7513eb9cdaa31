// The newest messages of the rooms opened last, kept in storage (fb.history.<user id>) so that a
// reload with no DC reachable still shows them. Bounded: ROOMS rooms, MESSAGES messages each
// (the oldest-opened room is dropped first; if storage is full, the whole cache goes: it is only
// a copy). Dropped on sign-out. What a DC answers later replaces the copies (room.js merges by
// room_seq, so nothing shows twice).
import { drop, load, save } from "./store.js";

export const ROOMS = 8;
export const MESSAGES = 50;
const SAVE_AFTER_MS = 300;

export class RoomCache {
  constructor(userId) {
    this.key = `history.${userId}`;
    this.timer = null;
    this.pending = new Map(); // room id -> the room to keep
  }

  // The room's kept copy: {view, members, msgs, more}, each message marked `cached`; or null.
  get(roomId) {
    const kept = load(this.key, {})[roomId];
    if (!kept) return null;
    return { ...kept, msgs: kept.msgs.map((m) => ({ ...m, cached: true })) };
  }

  // Keeps the room's newest messages soon (one write per room for a burst of changes).
  keepSoon(room) {
    this.pending.set(room.id, room);
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      const rooms = [...this.pending.values()];
      this.pending.clear();
      for (const r of rooms) this.keep(r);
    }, SAVE_AFTER_MS);
  }

  keep(room) {
    const sorted = [...room.msgs.values()].sort((a, b) => a.room_seq - b.room_seq);
    const msgs = sorted.slice(-MESSAGES).map(({ cached, answered_by, ...m }) => m);
    const entry = {
      at: Date.now(),
      view: room.view,
      members: [...room.members.values()],
      msgs,
      more: room.more || sorted.length > MESSAGES,
    };
    const all = load(this.key, {});
    all[room.id] = entry;
    const newest = Object.entries(all)
      .sort(([, a], [, b]) => b.at - a.at)
      .slice(0, ROOMS);
    try {
      save(this.key, Object.fromEntries(newest));
    } catch {
      drop(this.key); // storage full: the outbox and the session matter more than this copy
    }
  }

  clear() {
    clearTimeout(this.timer);
    this.timer = null;
    this.pending.clear();
    drop(this.key);
  }
}
