// The service worker: keeps the app's files so that a reload works while this page's DC is
// gone (the app then talks to another DC, whose address it has in storage). Network first, so a
// new version is used as soon as the DC serves it; the cache only when the network fails.
const CACHE = "firebreak-app-v6";
const SHELL = [
  "/",
  "/app/app.css",
  "/app/config.json",
  "/app/js/main.js",
  "/app/js/account.js",
  "/app/js/api.js",
  "/app/js/changes.js",
  "/app/js/chatlist.js",
  "/app/js/composer.js",
  "/app/js/dialog.js",
  "/app/js/files.js",
  "/app/js/format.js",
  "/app/js/history.js",
  "/app/js/live.js",
  "/app/js/notes.js",
  "/app/js/outbox.js",
  "/app/js/room.js",
  "/app/js/search.js",
  "/app/js/store.js",
];
const NETWORK_TIMEOUT_MS = 4000;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname !== "/" && !url.pathname.startsWith("/app/")) return; // the API is never cached
  event.respondWith(networkFirst(event.request, url));
});

async function networkFirst(request, url) {
  const cache = await caches.open(CACHE);
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), NETWORK_TIMEOUT_MS);
  try {
    const response = await fetch(request, { signal: abort.signal, cache: "no-store" });
    if (response.ok) await cache.put(url.pathname, response.clone());
    return response;
  } catch (error) {
    const hit = await cache.match(url.pathname);
    if (!hit) throw error;
    // Marked, so the app knows this DC did not answer (and starts with the DC it used last).
    const headers = new Headers(hit.headers);
    headers.set("fb-cached", "1");
    return new Response(await hit.blob(), { status: hit.status, headers });
  } finally {
    clearTimeout(timer);
  }
}
