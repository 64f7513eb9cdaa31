// The chat app's start: which DCs exist, the session, the live stream, the outbox, the views.
import { AccountSettings } from "./account.js";
import { Api } from "./api.js";
import { ChatList } from "./chatlist.js";
import { attachComposer } from "./composer.js";
import { wireAttach } from "./files.js";
import { openDialog } from "./dialog.js";
import { Live, State } from "./live.js";
import { Notes } from "./notes.js";
import { Outbox } from "./outbox.js";
import { RoomView } from "./room.js";
import { SearchBox } from "./search.js";
import { drop, load, newId, save } from "./store.js";

const $ = (selector) => document.querySelector(selector);
const app = { account: null, api: null, config: null, live: null, notes: null, outbox: null, list: null, room: null, search: null, session: null, origin: null };

// Every DC's addresses: from the serving gateway, else (its DC gone, the page from the service
// worker's cache) from storage, so the app still knows where the others are.
async function loadConfig() {
  let cached = false;
  let config = null;
  try {
    const resp = await fetch("/app/config.json", { cache: "no-store" });
    if (resp.ok) {
      config = await resp.json();
      cached = resp.headers.get("fb-cached") === "1";
    }
  } catch {
    /* this DC is gone and nothing was cached */
  }
  const stored = load("config", null);
  if (!config) config = stored;
  if (!config) throw new Error("cannot reach this DC, and no DC list is stored yet");
  if (!cached) save("config", config);
  const origin = config.dcs.findIndex((d) => d.name === config.dc);
  // From the network: the page's own DC first. From a cache: the DC that last served this tab.
  const last = config.dcs.findIndex((d) => d.name === load("last_dc", null));
  return { config, start: cached && last >= 0 ? last : Math.max(origin, 0), origin: config.dc };
}

function showConnection(text, state) {
  const status = $("#conn");
  status.textContent = text;
  status.dataset.state = state;
  status.dataset.dc = app.api.dc.name;
}

function connectionText(state) {
  const dc = app.api.dc.name;
  const moved = dc !== app.origin ? ` · failed over from ${app.origin}` : "";
  return `${dc} · ${state}${moved}`;
}

function onMove(index, why) {
  save("last_dc", app.api.dcs[index].name);
  showConnection(`${connectionText(State.BACKOFF)} (${why})`, "reconnecting");
}

function show(view) {
  $("#signin").hidden = view !== "signin";
  $("#chats").hidden = view !== "chats";
  $("#account").hidden = view !== "chats";
}

function signInView() {
  show("signin");
  $("#signin-form [name=username]").focus();
}

async function startSession(session) {
  app.session = session;
  app.api.token = session.token;
  const me = session.user;
  const showMe = (user) => {
    $("#me").textContent = `${user.display_name} (@${user.username})`;
  };
  showMe(me);
  app.account ??= new AccountSettings(app, showMe);
  show("chats");
  app.outbox = new Outbox(me.user_id, app.api, {
    onChange: () => app.room.renderMessages(),
    onSent: (item, message, answeredBy) => app.room.sent(message, answeredBy),
    onSignedOut: () => endSession("Your session has ended: sign in again."),
  });
  app.list = new ChatList(app.api, me, (roomId) => app.room.open(roomId));
  app.room = new RoomView(app, me);
  app.notes = new Notes(app, me);
  app.search = new SearchBox(app);
  app.live = new Live(app.api, load(`cursor.${me.user_id}`, null), `cursor.${me.user_id}`, {
    onEvents: (items) => {
      app.room.apply(items);
      app.notes.events(items);
      app.list.refreshSoon();
    },
    onState: (state) => {
      showConnection(connectionText(state), state === State.LIVE ? "live" : state);
      if (state === State.LIVE) {
        // Whatever happened while the stream was away: the list and the open room catch up.
        app.list.refreshSoon();
        app.room.catchUp();
        app.notes.refresh(); // presence changes while away were not sent
        app.outbox.kick();
      }
    },
    onNote: (frame) => app.notes.frame(frame),
    onFatal: () => endSession("Your session has ended: sign in again."),
  }, app.config.heartbeat_s ?? 5);
  app.outbox.live = app.live; // sends go over the live socket while it is connected
  app.list.render();
  app.list.refreshSoon();
  app.live.start();
  app.outbox.kick();
  const opened = load(`open.${me.user_id}`, null);
  if (opened) app.room.open(opened);
}

function endSession(message) {
  if ($("#settings").open) $("#settings").close();
  app.live?.stop();
  app.outbox?.stop();
  app.room?.close();
  app.room?.cache.clear(); // the kept messages go with the session
  drop("session");
  app.api.token = null;
  app.session = null;
  $("#signin-error").textContent = message ?? "";
  signInView();
}

async function signIn(username, password) {
  const session = await app.api.request("POST", "/v1/sessions", { username, password });
  save("session", session);
  await startSession(session);
}

function formError(error) {
  if (error.code === "bad_credentials") return "Wrong username or password.";
  if (error.code === "username_taken") return "This username is taken: choose another.";
  if (error.code === "unreachable") return "No DC answered: check the connection and try again.";
  return error.message || String(error);
}

function wireForms() {
  $("#signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    $("#signin-error").textContent = "";
    try {
      await signIn(form.username.value.trim(), form.password.value);
      form.reset();
    } catch (error) {
      $("#signin-error").textContent = formError(error);
    }
  });
  $("#register-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    $("#register-error").textContent = "";
    const username = form.username.value.trim();
    try {
      await app.api.request("POST", "/v1/accounts", {
        username,
        password: form.password.value,
        display_name: form.display_name.value.trim() || null,
        request_id: newId(),
      });
      await signIn(username, form.password.value);
      form.reset();
    } catch (error) {
      $("#register-error").textContent = formError(error);
    }
  });
  $("#signout").addEventListener("click", async () => {
    try {
      await app.api.request("DELETE", "/v1/sessions/current", undefined, { deadlineMs: 5000 });
    } finally {
      endSession("Signed out.");
    }
  });
  $("#signout-all").addEventListener("click", () =>
    openDialog({
      title: "Sign out everywhere",
      text: "End every session of this account, on every device, this one included?",
      ok: "Sign out everywhere",
      submit: async () => {
        await app.api.request("DELETE", `/v1/sessions?request_id=${newId()}`);
        await app.api.request("DELETE", "/v1/sessions/current");
        endSession("Signed out on every device.");
      },
    }),
  );
  attachComposer($("#text"), (text) => {
    app.notes?.sent(app.room?.room?.id);
    app.room.send(text);
  });
  $("#text").addEventListener("input", () => app.notes?.typed(app.room?.room?.id, $("#text").value));
  wireAttach(app);
}

async function main() {
  const { config, start, origin } = await loadConfig();
  app.origin = origin;
  app.config = config;
  app.api = new Api(config.dcs, start, onMove);
  showConnection(connectionText("signed out"), "idle");
  wireForms();
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker
      .register("/sw.js", { scope: "/" })
      .then(() => navigator.serviceWorker.ready)
      .then(() => {
        document.body.dataset.offlineReady = "1";
      })
      .catch(() => {});
  }
  const session = load("session", null);
  if (session) await startSession(session);
  else signInView();
}

main().catch((error) => {
  document.body.dataset.failed = String(error);
  $("#conn").textContent = `cannot start: ${error.message}`;
});
