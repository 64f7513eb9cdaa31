// The composer's one rule for Enter: Enter sends, Shift+Enter is a new line, and an Enter that
// belongs to an input method (IME) never sends.
//
// An IME's Enter arrives as a keydown with isComposing true (keyCode 229 in every browser; Safari
// sends it just after compositionend with isComposing false but still keyCode 229):
// - Japanese/Chinese: the Enter that confirms a conversion is the IME's: it must not send. The
//   next Enter (no composition) sends.
// - Korean: the Enter after the last syllable first ends the composition (the syllable is
//   committed to the text), then the browser delivers the same Enter again as a plain key
//   (isComposing false, keyCode 13): that one sends the whole text, last syllable included, once.
// So: never act on a composing Enter (neither sending nor suppressing later keys), and send on a
// plain one, reading the text at that moment.
export function attachComposer(textarea, onSend) {
  let composing = false;
  textarea.addEventListener("compositionstart", () => {
    composing = true;
  });
  textarea.addEventListener("compositionend", () => {
    composing = false;
  });
  textarea.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.shiftKey || event.altKey) return;
    if (event.isComposing || composing || event.keyCode === 229) return; // the IME's Enter
    event.preventDefault();
    const text = textarea.value;
    if (!text.trim()) return;
    textarea.value = "";
    onSend(text);
  });
}
