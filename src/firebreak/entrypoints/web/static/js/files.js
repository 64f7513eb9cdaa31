// Attachments (docs/FILES.md). The composer's attach button uploads a file in chunks and sends it
// as a message; a bubble shows an image by its thumbnail and any other file by its name, and a
// click saves it. Files need the Authorization header, which an <img src> cannot send, so they
// are fetched with fetch() and shown from blob: URLs that live only in this tab.
import { openDialog } from "./dialog.js";
import { el } from "./format.js";
import { newId } from "./store.js";

const infos = new Map(); // file id -> Promise of its FileView
const blobs = new Map(); // path -> Promise of a blob: URL

// A bytes request at the current DC, moving on to the next one when a DC does not answer or is
// unavailable (a file is the same at every DC).
async function fetchBytes(api, path, init = {}) {
  let last = new Error("no DC answered");
  for (let tries = 0; tries < api.dcs.length; tries++) {
    const index = api.current;
    const dc = api.dcs[index];
    const headers = { ...(init.headers ?? {}), authorization: `Bearer ${api.token}` };
    let resp;
    try {
      resp = await fetch(dc.http_url + path, { ...init, headers, cache: "no-store" });
    } catch {
      last = new Error(`${dc.name} did not answer`);
      api.moveFrom(index, last.message);
      continue;
    }
    if (resp.ok) return resp;
    last = new Error(`${dc.name} answered ${resp.status}`);
    if (resp.status < 500) throw last;
    api.moveFrom(index, last.message);
  }
  throw last;
}

// Uploads `file` into the room: the chunks the log lacks, then completion. Returns the FileView.
export async function uploadFile(api, roomId, file) {
  const body = { client_id: newId(), room_id: roomId, name: file.name, size: file.size };
  const up = await api.request("POST", "/v1/uploads", body);
  const have = new Set(up.received);
  for (let n = 0; n < up.chunks; n++) {
    if (have.has(n)) continue;
    const piece = file.slice(n * up.chunk_bytes, (n + 1) * up.chunk_bytes);
    const headers = { "content-type": "application/octet-stream" };
    await fetchBytes(api, `/v1/uploads/${up.upload_id}/chunks/${n}`, { method: "PUT", body: piece, headers });
  }
  return api.request("POST", `/v1/uploads/${up.upload_id}/complete`);
}

// The attach button: upload the chosen file, then send it as a message of the open room.
export function wireAttach(app) {
  const input = document.querySelector("#file");
  document.querySelector("#attach").onclick = () => input.click();
  input.onchange = async () => {
    const room = app.room.room;
    const file = input.files[0];
    input.value = "";
    if (!room || !file) return;
    try {
      const stored = await uploadFile(app.api, room.id, file);
      const message = { client_id: newId(), text: "", attachments: [stored.file_id] };
      await app.api.request("POST", `/v1/rooms/${room.id}/messages`, message);
      await app.room.catchUp();
    } catch (error) {
      openDialog({ title: "The file was not sent", text: `${file.name}: ${error.message}` });
    }
  };
}

function info(api, id) {
  if (!infos.has(id)) infos.set(id, api.request("GET", `/v1/files/${id}/info`));
  return infos.get(id);
}

function blobUrl(api, path) {
  if (!blobs.has(path)) {
    const made = fetchBytes(api, path).then(async (resp) => URL.createObjectURL(await resp.blob()));
    made.catch(() => blobs.delete(path));
    blobs.set(path, made);
  }
  return blobs.get(path);
}

function sizeText(n) {
  return n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1048576).toFixed(1)} MB`;
}

function fileNode(api, id) {
  const node = el("button", { type: "button", class: "file" }, "…");
  info(api, id)
    .then(async (f) => {
      node.onclick = async () => {
        const link = el("a", { href: await blobUrl(api, f.url), download: f.name });
        link.click();
      };
      if (!f.has_thumb) {
        node.textContent = `📎 ${f.name} (${sizeText(f.size)})`;
        return;
      }
      const img = el("img", { alt: f.name, width: f.width, height: f.height });
      node.replaceChildren(img);
      img.src = await blobUrl(api, f.thumb_url);
    })
    .catch(() => {
      node.textContent = "(file unavailable)";
    });
  return node;
}

// What a bubble shows of its files, or null.
export function attachmentsOf(api, m) {
  if (m.deleted || !m.attachments?.length) return null;
  return el("div", { class: "files" }, ...m.attachments.map((id) => fileNode(api, id)));
}
