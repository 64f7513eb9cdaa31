// Names, times and dates as people read them.
export function roomName(room) {
  if (room.kind === "direct" && room.peer) return room.peer.display_name || room.peer.username;
  return room.name;
}

export function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export function day(ms) {
  return new Date(ms).toLocaleDateString([], { weekday: "long", year: "numeric", month: "long", day: "numeric" });
}

// The list's time: the clock today, the date before.
export function when(ms) {
  const date = new Date(ms);
  return date.toDateString() === new Date().toDateString() ? clock(ms) : date.toLocaleDateString();
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}
