// One modal dialog for every small form (new chat, new group, rename, invite, leave, members).
// submit(values) may throw an ApiError: its message is shown and the dialog stays open.
const $ = (selector) => document.querySelector(selector);

export function openDialog({ title, text = "", fields = [], ok = "OK", submit = null, body = null }) {
  const dialog = $("#dialog");
  $("#dialog-title").textContent = title;
  $("#dialog-text").textContent = text;
  $("#dialog-error").textContent = "";
  const holder = $("#dialog-fields");
  holder.replaceChildren();
  if (body) holder.append(body);
  for (const field of fields) {
    const label = document.createElement("label");
    label.textContent = field.label;
    const input = document.createElement("input");
    input.name = field.name;
    input.value = field.value ?? "";
    input.required = field.required ?? true;
    input.autocomplete = "off";
    label.append(input);
    holder.append(label);
  }
  const okButton = $("#dialog-ok");
  okButton.textContent = ok;
  okButton.hidden = submit === null;
  $("#dialog-cancel").textContent = submit === null ? "Close" : "Cancel";
  const form = $("#dialog-form");
  form.onsubmit = async (event) => {
    event.preventDefault();
    const values = Object.fromEntries(fields.map((f) => [f.name, form.elements[f.name].value.trim()]));
    okButton.disabled = true;
    try {
      await submit(values);
      dialog.close();
    } catch (error) {
      $("#dialog-error").textContent = error.message || String(error);
    } finally {
      okButton.disabled = false;
    }
  };
  $("#dialog-cancel").onclick = () => dialog.close();
  dialog.showModal();
  (holder.querySelector("input") ?? $("#dialog-cancel")).focus();
}
