// The chat list: every room, newest activity first, with its last message, time and unread
// badge. Refreshed from GET /v1/rooms shortly after any live event (one call for a burst), and
// kept in storage so that a reload with no DC reachable still shows the rooms.
import { openDialog } from "./dialog.js";
import { el, roomName, when } from "./format.js";
import { load, newId, save } from "./store.js";

const $ = (selector) => document.querySelector(selector);

export class ChatList {
  constructor(api, me, onOpen) {
    this.api = api;
    this.me = me;
    this.onOpen = onOpen;
    this.key = `rooms.${me.user_id}`;
    this.rooms = load(this.key, []);
    this.openId = null;
    this.timer = null;
    $("#new-dm").onclick = () => this.newDirect();
    $("#new-group").onclick = () => this.newGroup();
  }

  refreshSoon() {
    if (this.timer) return;
    this.timer = setTimeout(async () => {
      this.timer = null;
      try {
        this.rooms = (await this.api.request("GET", "/v1/rooms")).rooms;
        save(this.key, this.rooms);
        this.render();
      } catch {
        /* the live stream's next "ready" asks again */
      }
    }, 150);
  }

  get(roomId) {
    return this.rooms.find((r) => r.room_id === roomId) ?? null;
  }

  render() {
    const items = this.rooms.map((room) => {
      const last = room.last_message;
      const unread = room.room_id === this.openId ? 0 : room.unread;
      return el(
        "li",
        { class: room.room_id === this.openId ? "room current" : "room" },
        el(
          "button",
          { type: "button", dataset: { room: room.room_id }, onclick: () => this.onOpen(room.room_id) },
          el("span", { class: "room-name" }, roomName(room)),
          el("span", { class: "room-time" }, last ? when(last.at) : ""),
          el("span", { class: "room-preview" }, last ? last.text.split("\n")[0] : "No messages yet"),
          unread
            ? el("span", { class: "badge" }, String(unread > 999 ? "999+" : unread), el("span", { class: "sr-only" }, " unread"))
            : null,
        ),
      );
    });
    $("#rooms").replaceChildren(...items);
    $("#no-rooms").hidden = this.rooms.length > 0;
  }

  setOpen(roomId) {
    this.openId = roomId;
    this.render();
  }

  newDirect() {
    openDialog({
      title: "New chat",
      fields: [{ name: "username", label: "Username" }],
      ok: "Start chat",
      submit: async ({ username }) => {
        const room = await this.api.request("POST", "/v1/rooms/direct", { username });
        this.refreshSoon();
        this.onOpen(room.room_id);
      },
    });
  }

  newGroup() {
    openDialog({
      title: "New group",
      fields: [
        { name: "name", label: "Group name" },
        { name: "members", label: "Members (usernames, separated by commas)" },
      ],
      ok: "Create group",
      submit: async ({ name, members }) => {
        const list = members.split(/[\s,]+/).filter(Boolean);
        const room = await this.api.request("POST", "/v1/rooms", { name, members: list, request_id: newId() });
        this.refreshSoon();
        this.onOpen(room.room_id);
      },
    });
  }
}
