// The open room: bubbles (mine on one side, others with their names), times and date
// separators, KakaoTalk's unread number on each message kept current from the live stream,
// older pages on scrolling up, a "new messages" marker, jump to newest, and marking read at the
// end. Messages still in the outbox are shown after the room's own as pending or failed.
//
// Unread numbers: each message comes with the number the server computed; then every event that
// moves someone's read position (read_up_to, a message they sent, their leaving) makes the
// messages between their old and new position count one reader fewer. Positions only move
// forward and the room's members' positions are kept, so an event seen twice (a catch-up after a
// reconnect) changes nothing twice.
import { MessageActions, applyChange } from "./changes.js";
import { openDialog } from "./dialog.js";
import { attachmentsOf } from "./files.js";
import { clock, day, el, roomName } from "./format.js";
import { RoomCache } from "./history.js";
import { newId, save } from "./store.js";

const $ = (selector) => document.querySelector(selector);
const PAGE = 50;

export class RoomView {
  constructor(app, me) {
    this.app = app;
    this.me = me;
    this.room = null;
    this.actions = new MessageActions(this);
    this.cache = new RoomCache(me.user_id); // the recent rooms' newest messages, for offline
    const box = $("#messages");
    box.onscroll = () => this.scrolled();
    $("#older").onclick = () => this.loadOlder();
    $("#jump").onclick = () => this.toBottom();
    $("#back").onclick = () => this.close();
    $("#members").onclick = () => this.showMembers();
    $("#rename").onclick = () => this.rename();
    $("#invite").onclick = () => this.invite();
    $("#leave").onclick = () => this.leave();
    document.addEventListener("visibilitychange", () => this.markRead());
  }

  get api() {
    return this.app.api;
  }

  async open(roomId) {
    const known = this.app.list.get(roomId);
    this.room = {
      id: roomId,
      view: known,
      members: new Map(),
      msgs: new Map(),
      more: false,
      readAtOpen: known ? known.read_room_seq : 0,
    };
    const kept = this.cache.get(roomId);
    if (kept) {
      for (const m of kept.msgs) this.room.msgs.set(m.room_seq, m);
      for (const m of kept.members) this.room.members.set(m.user_id, m);
      this.room.view ??= kept.view;
      this.room.more = kept.more;
    }
    save(`open.${this.me.user_id}`, roomId);
    this.app.list.setOpen(roomId);
    $("#chats").dataset.open = "1";
    $("#room-pane").hidden = false;
    $("#room-pane").dataset.loaded = "";
    $("#room-title").textContent = this.room.view ? roomName(this.room.view) : "…";
    this.renderMessages();
    this.app.notes?.render();
    $("#text").focus();
    const room = this.room;
    try {
      await Promise.all([this.loadDetail(), this.loadPage()]);
    } catch (error) {
      if (error.status === 404 && this.room === room) this.close();
      return;
    }
    if (this.room !== room) return; // another room was opened meanwhile
    this.app.notes?.refresh();
    this.renderMessages(true);
    $("#room-pane").dataset.loaded = "1";
    this.markRead();
  }

  close() {
    this.room = null;
    save(`open.${this.me.user_id}`, null);
    $("#chats").dataset.open = "";
    $("#room-pane").hidden = true;
    this.app.list?.setOpen(null);
    this.app.notes?.render();
  }

  async loadDetail() {
    const room = this.room;
    const detail = await this.api.request("GET", `/v1/rooms/${room.id}`);
    if (this.room !== room) return;
    room.view = detail.room;
    for (const m of detail.members) {
      const had = room.members.get(m.user_id);
      room.members.set(m.user_id, { ...m, read_room_seq: Math.max(m.read_room_seq, had?.read_room_seq ?? 0) });
    }
    $("#room-title").textContent = roomName(detail.room);
    $("#room-pane").dataset.kind = detail.room.kind;
  }

  async loadPage(query = "") {
    const room = this.room;
    const page = await this.api.request("GET", `/v1/rooms/${room.id}/messages?limit=${PAGE}${query}`);
    if (this.room !== room) return page;
    if (!query && page.messages.length) this.dropCachedBefore(page.messages[0].room_seq);
    for (const m of page.messages) if (!room.msgs.get(m.room_seq) || room.msgs.get(m.room_seq).cached) room.msgs.set(m.room_seq, m);
    if (!query.includes("after")) room.more = page.more;
    return page;
  }

  // The newest page starts at `first`: kept copies that end before it would leave a gap between
  // them and the page, so they go (scrolling back loads them again).
  dropCachedBefore(first) {
    const msgs = this.room.msgs;
    const below = [...msgs.values()].filter((m) => m.cached && m.room_seq < first);
    if (below.length && !msgs.has(first - 1)) for (const m of below) msgs.delete(m.room_seq);
  }

  hasCached() {
    return [...this.room.msgs.values()].some((m) => m.cached);
  }

  async loadOlder() {
    const room = this.room;
    if (!room || room.loading || !room.more) return;
    room.loading = true;
    try {
      await this.loadPage(`&before=${this.oldest()}`);
      this.renderMessages(false, true);
    } finally {
      room.loading = false;
    }
  }

  // After a reconnect or a gap: every message newer than the newest one shown.
  async catchUp() {
    const room = this.room;
    if (!room) return;
    try {
      await this.loadDetail();
      // Never loaded, or only kept copies: the newest page, not the whole room.
      if (!room.msgs.size || this.hasCached()) await this.loadPage();
      for (let more = true; more && this.room === room; ) more = (await this.loadPage(`&after=${this.newest()}`)).more;
    } catch {
      return;
    }
    if (this.room !== room) return;
    this.renderMessages();
    $("#room-pane").dataset.loaded = "1";
    this.markRead();
  }

  oldest() {
    return Math.min(...this.room.msgs.keys());
  }

  newest() {
    return this.room.msgs.size ? Math.max(...this.room.msgs.keys()) : 0;
  }

  // Live events (any room); only the open room's matter here.
  apply(items) {
    const room = this.room;
    if (!room) return;
    let changed = false;
    let gap = false;
    let reload = false;
    for (const item of items) {
      const e = item.event;
      if (e.room_id !== room.id) continue;
      changed = true;
      if (e.type === "message_sent") {
        if (!room.msgs.has(item.room_seq)) {
          if (room.msgs.size && item.room_seq > this.newest() + 1) gap = true;
          const m = { room_id: e.room_id, room_seq: item.room_seq, sender: e.sender, client_id: e.client_id, text: e.text, at: e.at, unread: item.unread, attachments: e.attachments ?? [] };
          room.msgs.set(item.room_seq, m);
          if (e.sender !== this.me.user_id) this.announce(m);
        }
        this.moveRead(e.sender, item.read_from, item.room_seq - 1, item.room_seq);
      } else if (e.type === "read_up_to") {
        this.moveRead(e.user_id, item.read_from, e.room_seq, e.room_seq);
      } else if (applyChange(room.msgs, e)) {
        // edited, deleted, reacted: changed in place
      } else if (e.type === "member_left") {
        this.moveRead(e.user_id, item.read_from, this.newest(), this.newest());
        room.members.delete(e.user_id);
        reload = true;
      } else {
        reload = true; // renamed, invited, created: the room's name and members
      }
    }
    if (!changed) return;
    const wasAtBottom = this.atBottom();
    this.renderMessages();
    if (!wasAtBottom) $("#jump").hidden = false;
    this.markRead();
    if (gap) this.catchUp();
    else if (reload) this.loadDetail().then(() => this.renderMessages()).catch(() => {});
  }

  // `user` has read up to `to` (was `from`); their position becomes `position`.
  moveRead(user, from, to, position) {
    const member = this.room.members.get(user);
    const start = Math.max(from, member?.read_room_seq ?? 0);
    for (let seq = start + 1; seq <= to; seq++) {
      const m = this.room.msgs.get(seq);
      if (m && m.unread > 0) m.unread -= 1;
    }
    if (member) member.read_room_seq = Math.max(member.read_room_seq, position);
  }

  announce(m) {
    const who = this.room.members.get(m.sender)?.display_name ?? "someone";
    $("#announce").textContent = `${who}: ${m.text}`;
  }

  // An acknowledged send: shown at once, whether or not the live stream has brought it yet.
  // answeredBy: the DC that acknowledged it (on the bubble as data-answered-by).
  sent(message, answeredBy) {
    const room = this.room;
    if (!room || message.room_id !== room.id) return;
    if (!room.msgs.has(message.room_seq)) room.msgs.set(message.room_seq, { ...message });
    room.msgs.get(message.room_seq).answered_by = answeredBy;
    this.renderMessages();
  }

  send(text) {
    if (!this.room) return;
    this.app.outbox.add(this.room.id, text);
    this.renderMessages(true);
  }

  atBottom() {
    const box = $("#messages");
    return box.scrollHeight - box.scrollTop - box.clientHeight < 24;
  }

  toBottom() {
    const box = $("#messages");
    box.scrollTop = box.scrollHeight;
    $("#jump").hidden = true;
    this.markRead();
    $("#text").focus();
  }

  scrolled() {
    if (!this.room) return;
    if ($("#messages").scrollTop < 40) this.loadOlder();
    if (this.atBottom()) {
      $("#jump").hidden = true;
      this.markRead();
    }
  }

  // At the end of an open room, in a visible tab: everything shown is read.
  async markRead() {
    const room = this.room;
    if (!room || !this.atBottom() || document.visibilityState !== "visible") return;
    const me = room.members.get(this.me.user_id);
    const newest = this.newest();
    const mine = me ? me.read_room_seq : (room.view?.read_room_seq ?? 0);
    if (newest <= mine || room.marking >= newest) return;
    room.marking = newest;
    try {
      await this.api.request("POST", `/v1/rooms/${room.id}/read`, { up_to: newest });
      this.app.list.refreshSoon();
    } catch {
      room.marking = 0;
    }
  }

  renderMessages(stick = false, keepFromBottom = false) {
    const room = this.room;
    const list = $("#msg-list");
    if (!room) {
      list.replaceChildren();
      return;
    }
    const box = $("#messages");
    const wasAtBottom = stick || this.atBottom();
    const fromBottom = box.scrollHeight - box.scrollTop;
    const nodes = [];
    let lastDay = null;
    const mineIds = new Set();
    const sorted = [...room.msgs.values()].sort((a, b) => a.room_seq - b.room_seq);
    let marked = false;
    let prev = null;
    for (const m of sorted) {
      if (m.sender === this.me.user_id) mineIds.add(m.client_id);
      const today = day(m.at);
      if (today !== lastDay) nodes.push(el("li", { class: "day" }, today));
      lastDay = today;
      if (!marked && m.room_seq > room.readAtOpen && m.sender !== this.me.user_id && room.readAtOpen > 0) {
        nodes.push(el("li", { class: "new-marker" }, "New messages"));
        marked = true;
      }
      // As KakaoTalk: the name once for a run of one person's messages.
      const sameRun = prev && prev.sender === m.sender && today === day(prev.at) && !nodes.at(-1).classList.contains("new-marker");
      nodes.push(this.bubble(m, !sameRun));
      prev = m;
    }
    for (const item of this.app.outbox.items) {
      if (item.room_id === room.id && !mineIds.has(item.client_id)) nodes.push(this.pending(item));
    }
    list.replaceChildren(...nodes);
    $("#older").hidden = !room.more;
    if (wasAtBottom) box.scrollTop = box.scrollHeight;
    else if (keepFromBottom) box.scrollTop = box.scrollHeight - fromBottom;
    if (room.msgs.size) this.cache.keepSoon(room);
  }

  bubble(m, withName = true) {
    const mine = m.sender === this.me.user_id;
    const who = mine || !withName ? null : (this.room.members.get(m.sender)?.display_name ?? "(left)");
    return el(
      "li",
      { class: mine ? "msg mine" : "msg theirs", dataset: { seq: m.room_seq, state: "sent", client: m.client_id, ...(m.answered_by ? { answeredBy: m.answered_by } : {}) } },
      who ? el("span", { class: "who" }, who) : null,
      el(
        "div",
        { class: "line" },
        m.deleted ? el("p", { class: "bubble deleted" }, "This message was deleted.") : m.text || !m.attachments?.length ? el("p", { class: "bubble" }, m.text) : null,
        attachmentsOf(this.api, m),
        el(
          "span",
          { class: "meta" },
          m.unread > 0 ? el("span", { class: "unread", "aria-label": `${m.unread} unread` }, String(m.unread)) : null,
          m.edited_at && !m.deleted ? el("span", { class: "edited" }, "edited") : null,
          el("time", { datetime: new Date(m.at).toISOString() }, clock(m.at)),
        ),
        this.actions.menuButton(m),
      ),
      this.actions.reactionRow(m),
    );
  }

  pending(item) {
    const failed = item.state === "failed";
    const status = failed ? `Not sent: ${item.reason}` : "Sending…";
    return el(
      "li",
      { class: `msg mine ${item.state}`, dataset: { state: item.state, client: item.client_id } },
      el(
        "div",
        { class: "line" },
        el("p", { class: "bubble" }, item.text),
        el("span", { class: "meta" }, el("span", { class: "sending" }, status)),
      ),
      failed
        ? el(
            "span",
            { class: "fix" },
            el("button", { type: "button", onclick: () => this.editFailed(item) }, "Edit"),
            el("button", { type: "button", onclick: () => this.app.outbox.drop(item.client_id) }, "Drop"),
          )
        : null,
    );
  }

  editFailed(item) {
    openDialog({
      title: "Edit message",
      text: `Not sent: ${item.reason}`,
      fields: [{ name: "text", label: "Message", value: item.text }],
      ok: "Send again",
      submit: async ({ text }) => this.app.outbox.edit(item.client_id, text),
    });
  }

  showMembers() {
    const room = this.room;
    if (!room) return;
    const newest = this.newest();
    const items = [...room.members.values()].map((m) =>
      el(
        "li",
        {},
        `${m.display_name} (@${m.username}) · ${m.read_room_seq >= newest ? "read all" : `read up to #${m.read_room_seq}`}`,
        this.app.notes?.memberStatus(m.user_id) ?? null,
      ),
    );
    openDialog({ title: `Members (${items.length})`, body: el("ul", { class: "members" }, ...items) });
  }

  rename() {
    const room = this.room;
    if (!room) return;
    openDialog({
      title: "Rename group",
      fields: [{ name: "name", label: "Group name", value: room.view?.name ?? "" }],
      ok: "Rename",
      submit: async ({ name }) => {
        await this.api.request("PATCH", `/v1/rooms/${room.id}`, { name, request_id: newId() });
        await this.loadDetail();
        this.app.list.refreshSoon();
      },
    });
  }

  invite() {
    const room = this.room;
    if (!room) return;
    openDialog({
      title: "Invite",
      fields: [{ name: "members", label: "Usernames, separated by commas" }],
      ok: "Invite",
      submit: async ({ members }) => {
        const list = members.split(/[\s,]+/).filter(Boolean);
        await this.api.request("POST", `/v1/rooms/${room.id}/members`, { members: list, request_id: newId() });
        await this.loadDetail();
      },
    });
  }

  leave() {
    const room = this.room;
    if (!room) return;
    openDialog({
      title: "Leave group",
      text: `Leave ${room.view ? roomName(room.view) : "this group"}? Its messages leave your list.`,
      ok: "Leave",
      submit: async () => {
        await this.api.request("POST", `/v1/rooms/${room.id}/leave`, { request_id: newId() });
        this.close();
        this.app.list.refreshSoon();
      },
    });
  }
}
