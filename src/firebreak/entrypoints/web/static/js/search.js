// The search box over the chat list: GET /v1/search, the hits in a dialog (room, time, the
// snippet with the hits marked), a hit opens its room. Snippets are plain text: the marks are
// made from the answer's highlight offsets (code points), never from HTML.
import { openDialog } from "./dialog.js";
import { el, roomName, when } from "./format.js";

const $ = (selector) => document.querySelector(selector);

export class SearchBox {
  constructor(app) {
    this.app = app;
    $("#search-form").onsubmit = (event) => {
      event.preventDefault();
      const q = $("#search").value.trim();
      if (q) this.run(q);
    };
  }

  async run(q, cursor = null, shown = []) {
    let page;
    try {
      const params = new URLSearchParams({ q });
      if (cursor) params.set("cursor", cursor);
      page = await this.app.api.request("GET", `/v1/search?${params}`);
    } catch (error) {
      openDialog({ title: `Search: ${q}`, text: error.message || String(error) });
      return;
    }
    const hits = [...shown, ...page.hits];
    const items = hits.map((h) => this.hit(h));
    const more = page.next_cursor
      ? el("button", { type: "button", id: "search-more", onclick: () => this.run(q, page.next_cursor, hits) }, "More results")
      : null;
    const body = el("div", {}, el("ol", { class: "search-hits", "aria-label": "Search results" }, ...items), more);
    openDialog({ title: `Search: ${q}`, text: hits.length ? "" : "Nothing found.", body });
  }

  hit(h) {
    const room = this.app.list.get(h.room_id);
    const open = () => {
      $("#dialog").close();
      this.app.room.open(h.room_id);
    };
    return el(
      "li",
      {},
      el(
        "button",
        { type: "button", class: "search-hit", onclick: open },
        el("span", { class: "hit-room" }, room ? roomName(room) : "a chat"),
        el("time", { datetime: new Date(h.at).toISOString() }, when(h.at)),
        el("span", { class: "snippet" }, ...marked(h.snippet, h.highlights)),
      ),
    );
  }
}

// The snippet as text nodes, with <mark> around each highlighted range.
export function marked(snippet, highlights) {
  const chars = Array.from(snippet); // offsets count code points, as the server's
  const out = [];
  let at = 0;
  for (const [start, end] of highlights) {
    if (start > at) out.push(chars.slice(at, start).join(""));
    out.push(el("mark", {}, chars.slice(start, end).join("")));
    at = end;
  }
  if (at < chars.length) out.push(chars.slice(at).join(""));
  return out;
}
