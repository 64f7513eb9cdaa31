// Edits, deletes and reactions in the open room. Live events change the shown messages in place
// (message_edited, message_deleted, reaction_added, reaction_removed); each message has a "⋯"
// button for reactions and, on one's own message, edit and delete (the server refuses them past
// its windows, and the dialog shows its message).
import { openDialog } from "./dialog.js";
import { el } from "./format.js";
import { newId } from "./store.js";

// KakaoTalk's six, exactly the server's set (domain/reactions.py).
export const REACTIONS = ["\u2764\ufe0f", "\u{1f44d}", "\u2714\ufe0f", "\u{1f606}", "\u{1f62e}", "\u{1f622}"];

// Applies a change event to the shown messages; returns whether it was one.
export function applyChange(msgs, e) {
  const m = msgs.get(e.room_seq);
  if (e.type === "message_edited") {
    if (m) Object.assign(m, { text: e.text, edited_at: e.at });
  } else if (e.type === "message_deleted") {
    if (m) Object.assign(m, { text: "", deleted: true, reactions: [] });
  } else if (e.type === "reaction_added" || e.type === "reaction_removed") {
    if (m) m.reactions = withReaction(m.reactions ?? [], e.emoji, e.user_id, e.type === "reaction_added");
  } else {
    return false;
  }
  return true;
}

function withReaction(list, emoji, user, on) {
  const users = new Map(list.map((r) => [r.emoji, r.users.filter((u) => u !== user || r.emoji !== emoji)]));
  if (on) users.set(emoji, [...(users.get(emoji) ?? []), user]);
  return REACTIONS.filter((x) => users.get(x)?.length).map((x) => ({ emoji: x, count: users.get(x).length, users: users.get(x) }));
}

export class MessageActions {
  constructor(view) {
    this.view = view; // the RoomView: its api, room, me, and renderMessages()
  }

  path(m) {
    return `/v1/rooms/${m.room_id}/messages/${m.room_seq}`;
  }

  // The server's answer is the message as it is now.
  update(answer) {
    const room = this.view.room;
    if (!room || room.id !== answer.room_id) return;
    room.msgs.set(answer.room_seq, { ...room.msgs.get(answer.room_seq), ...answer });
    this.view.renderMessages();
  }

  async toggle(m, emoji) {
    const on = !(m.reactions ?? []).some((r) => r.emoji === emoji && r.users.includes(this.view.me.user_id));
    const body = { emoji, on, request_id: newId() };
    this.update(await this.view.api.request("POST", `${this.path(m)}/reactions`, body));
  }

  // What a bubble shows under it: its reactions, each a button that adds or takes back one's own.
  reactionRow(m) {
    if (m.deleted || !m.reactions?.length) return null;
    const me = this.view.me.user_id;
    return el(
      "span",
      { class: "reactions" },
      ...m.reactions.map((r) =>
        el(
          "button",
          {
            type: "button",
            class: r.users.includes(me) ? "reaction mine" : "reaction",
            "aria-label": `${r.emoji} ${r.count}`,
            onclick: () => this.toggle(m, r.emoji).catch(() => {}),
          },
          `${r.emoji} ${r.count}`,
        ),
      ),
    );
  }

  menuButton(m) {
    if (m.deleted) return null;
    return el("button", { type: "button", class: "msg-menu", "aria-label": "Message actions", onclick: () => this.menu(m) }, "⋯");
  }

  menu(m) {
    const mine = m.sender === this.view.me.user_id;
    const close = () => document.querySelector("#dialog").close();
    const act = (fn) => async () => {
      close();
      try {
        await fn();
      } catch (error) {
        openDialog({ title: "Not done", text: error.message || String(error) });
      }
    };
    const body = el(
      "div",
      { class: "msg-actions" },
      el("div", { class: "reaction-picker" }, ...REACTIONS.map((x) => el("button", { type: "button", "aria-label": `React ${x}`, onclick: act(() => this.toggle(m, x)) }, x))),
      // The dialog is reused: closed before it opens again with the next step.
      mine ? el("button", { type: "button", onclick: () => (close(), this.edit(m)) }, "Edit") : null,
      mine ? el("button", { type: "button", onclick: () => (close(), this.remove(m)) }, "Delete for everyone") : null,
    );
    openDialog({ title: "Message", body });
  }

  edit(m) {
    openDialog({
      title: "Edit message",
      fields: [{ name: "text", label: "Message", value: m.text }],
      ok: "Save",
      submit: async ({ text }) => this.update(await this.view.api.request("PATCH", this.path(m), { client_id: newId(), text })),
    });
  }

  remove(m) {
    openDialog({
      title: "Delete for everyone",
      text: "Delete this message for everyone in the room?",
      ok: "Delete",
      submit: async () => this.update(await this.view.api.request("DELETE", this.path(m))),
    });
  }
}
