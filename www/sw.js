// sw.js: the demo's service worker. On install it caches the app shell,
// edgenn.js and its worker, Go's wasm_exec.js, both wasm builds, the models
// index and every model the index lists; it then answers from that cache
// first and from the network when a file is not cached, so that after the
// first visit the app works with no host at all.
//
// Updates: the host (edgenn serve) replaces VERSION's placeholder with a
// digest of every file cached here, so any change to the app, the wasm or a
// model changes this script. The browser checks sw.js on each navigation; a
// new VERSION installs a fresh cache beside the old one, and activation
// deletes every older edgenn-demo cache. (Served by another server, the
// placeholder stays and updates need a new VERSION by hand.)
// All paths are relative to this script, so the app works under any prefix.

const VERSION = "__EDGENN_VERSION__";
const CACHE = `edgenn-demo-v${VERSION}`;
const PREFIX = "edgenn-demo-";

/** The app shell and the runtime. */
const SHELL = [
  "./", "index.html", "app.css", "app.js", "ui.js", "store.js", "sketchpad.js", "chart.js",
  "digits.js", "personalise.js", "device.js", "faces.js", "faceprep.js", "watch.js", "offload.js", "manifest.webmanifest",
  "icons/icon.svg", "icons/icon-192.png", "icons/icon-512.png", "icons/icon-maskable-512.png",
  "edgenn.js", "edgenn-worker.js", "edgenn-peer.js", "wasm_exec.js", "edgenn.wasm", "edgenn-scalar.wasm",
];
/** The models index; its entries are cached too. Network first: models come and go. */
const INDEX = "models";

const sw = /** @type {ServiceWorkerGlobalScope} */ (/** @type {unknown} */ (self));

sw.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    // no-cache: revalidate with the host, so that a new version never
    // caches an older file from the HTTP cache.
    await cache.addAll(SHELL.map((p) => new Request(p, { cache: "no-cache" })));
    const res = await fetch(new Request(INDEX, { cache: "no-cache" }));
    if (!res.ok) throw new Error(`sw: ${INDEX}: HTTP ${res.status}`);
    /** @type {{file: string}[]} */
    const models = await res.clone().json();
    await cache.addAll(models.map((m) => new Request(`models/${m.file}`, { cache: "no-cache" })));
    await cache.put(INDEX, res);
    await sw.skipWaiting();
  })());
});

sw.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith(PREFIX) && name !== CACHE) await caches.delete(name);
    }
    await sw.clients.claim();
  })());
});

sw.addEventListener("fetch", (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== "GET" || url.origin !== location.origin) return;
  if (url.href === new URL(INDEX, location.href).href) {
    event.respondWith(networkFirst(req));
  } else {
    event.respondWith(cacheFirst(req));
  }
});

/** @param {Request} req */
async function cacheFirst(req) {
  const cache = await caches.open(CACHE);
  const hit = await cache.match(req, { ignoreSearch: req.mode === "navigate" });
  if (hit) return hit;
  try {
    const res = await fetch(req);
    // A model first fetched after install (added to the host later) is
    // kept as well.
    if (res.ok && new URL(req.url).pathname.endsWith(".enn")) await cache.put(req, res.clone());
    return res;
  } catch (e) {
    // Offline and not cached: a navigation gets the app, anything else fails.
    if (req.mode === "navigate") {
      const app = await cache.match("index.html");
      if (app) return app;
    }
    throw e;
  }
}

/** @param {Request} req */
async function networkFirst(req) {
  const cache = await caches.open(CACHE);
  try {
    const res = await fetch(req);
    if (res.ok) await cache.put(req, res.clone());
    return res;
  } catch (e) {
    const hit = await cache.match(req);
    if (hit) return hit;
    throw e;
  }
}
