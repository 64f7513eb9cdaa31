// Account settings (the "Account" button): the display name (PATCH /v1/me), the password
// (PUT /v1/me/password: every other session ends, this one stays) and the signed-in devices
// (GET /v1/sessions: where each signed in, with what, since when; end one, or all but this one).
// Three real forms in one dialog, so each has its own labels, errors and Enter.
import { el, when } from "./format.js";
import { newId, save } from "./store.js";

const $ = (selector) => document.querySelector(selector);

const MESSAGES = {
  wrong_password: "The current password is wrong: nothing was changed.",
  invalid_password: null, // the server's message says which rule was broken
};

function explain(error) {
  return MESSAGES[error.code] ?? error.message ?? String(error);
}

export class AccountSettings {
  // app: the shared state (api, session); onName(user) hears a new display name.
  constructor(app, onName) {
    this.app = app;
    this.onName = onName;
    $("#settings-open").onclick = () => this.open();
    $("#settings-close").onclick = () => $("#settings").close();
    $("#name-form").onsubmit = (event) => this.saveName(event);
    $("#password-form").onsubmit = (event) => this.changePassword(event);
    $("#end-others").onclick = () => this.endOthers();
  }

  get api() {
    return this.app.api;
  }

  open() {
    for (const id of ["name-error", "name-done", "password-error", "password-done", "sessions-error"]) {
      $(`#${id}`).textContent = "";
    }
    $("#password-form").reset();
    $("#name-form").display_name.value = this.app.session.user.display_name;
    $("#settings").showModal();
    $("#name-form").display_name.focus();
    this.loadSessions();
  }

  async run(button, errorId, work) {
    button.disabled = true;
    $(`#${errorId}`).textContent = "";
    try {
      await work();
    } catch (error) {
      $(`#${errorId}`).textContent = explain(error);
    } finally {
      button.disabled = false;
    }
  }

  saveName(event) {
    event.preventDefault();
    const form = event.target;
    $("#name-done").textContent = "";
    return this.run(form.querySelector("button"), "name-error", async () => {
      const user = await this.api.request("PATCH", "/v1/me", { display_name: form.display_name.value.trim() });
      this.app.session.user = user;
      save("session", this.app.session);
      this.onName(user);
      $("#name-done").textContent = `Your name is now ${user.display_name}.`;
    });
  }

  changePassword(event) {
    event.preventDefault();
    const form = event.target;
    $("#password-done").textContent = "";
    return this.run(form.querySelector("button"), "password-error", async () => {
      await this.api.request("PUT", "/v1/me/password", {
        current_password: form.current_password.value,
        new_password: form.new_password.value,
        request_id: newId(),
      });
      form.reset();
      $("#password-done").textContent = "Password changed: your other devices are signed out.";
      await this.loadSessions();
    });
  }

  async loadSessions() {
    try {
      const { sessions } = await this.api.request("GET", "/v1/sessions");
      $("#session-list").replaceChildren(...sessions.map((s) => this.row(s)));
      $("#end-others").disabled = sessions.every((s) => s.current);
    } catch (error) {
      $("#sessions-error").textContent = explain(error);
    }
  }

  row(s) {
    const since = when(s.started_at);
    return el(
      "li",
      { class: "session", dataset: { session: s.session_id, current: s.current ? "1" : "" } },
      el(
        "span",
        { class: "session-what" },
        el("span", {}, `${s.dc} · since `, el("time", { datetime: new Date(s.started_at).toISOString() }, since)),
        el("span", { class: "session-client" }, s.client || "unknown client"),
      ),
      s.current
        ? el("span", { class: "this" }, "This device")
        : el(
            "button",
            { type: "button", "aria-label": `Sign out the device signed in on ${s.dc} since ${since}`, onclick: (e) => this.endOne(e.target, s) },
            "Sign out",
          ),
    );
  }

  endOne(button, s) {
    return this.run(button, "sessions-error", async () => {
      await this.api.request("DELETE", `/v1/sessions/${encodeURIComponent(s.session_id)}`);
      await this.loadSessions();
      ($("#end-others").disabled ? $("#settings-close") : $("#end-others")).focus();
    });
  }

  endOthers() {
    return this.run($("#end-others"), "sessions-error", async () => {
      await this.api.request("DELETE", `/v1/sessions?request_id=${newId()}`);
      await this.loadSessions();
    });
  }
}
