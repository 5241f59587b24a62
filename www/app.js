// app.js: the edgenn demo, a single-page app of six views (#digits,
// #personalise, #faces, #watch, #offload, #device) over one pool of edgenn workers. It registers the
// service worker (sw.js) that keeps it working offline.
//
// The page exposes its state to tests and curious users as
// window.__edgenn_demo (see Demo below) and as data- attributes on the
// elements that show results.

import { EdgeNN } from "./edgenn.js";
import * as store from "./store.js";
import { $, formatBytes } from "./ui.js";
import { mountDigits } from "./digits.js";
import { mountPersonalise } from "./personalise.js";
import { mountDevice } from "./device.js";
import { mountFaces } from "./faces.js";
import { mountWatch } from "./watch.js";
import { mountOffload } from "./offload.js";

/** @typedef {import("./edgenn.d.ts").Model} Model */

/**
 * What the Personalise view keeps in IndexedDB under "personal".
 * @typedef {{bytes: Uint8Array, names: string[], savedAt: number, before?: number, after?: number}} PersonalRecord
 */

/** The digits model, served by the host beside the app. */
const DIGITS_URL = "models/digits.enn";

/**
 * The app's shared state: the pool, the digits model, and the personalised
 * model when there is one. Views listen for "model" to follow changes.
 */
/**
 * One model of the host's index (host/serve_models.go).
 * @typedef {{name: string, file: string, size: number, sha256: string, inputs: {name: string, shape: number[]}[],
 *   labels?: string[], metadata?: Record<string, string>}} IndexEntry
 */

export class App extends EventTarget {
  constructor() {
    super();
    /** @type {EdgeNN} */ this.enn = /** @type {any} */ (null);
    /** @type {Model} the digits model as served */ this.base = /** @type {any} */ (null);
    /** @type {Model | null} the user's fine-tuned digits model */ this.personal = null;
    /** @type {PersonalRecord | null} */ this.personalRecord = null;
    /** @type {Promise<void>} resolves once the pool and the digits model are ready */
    this.ready = new Promise((resolve, reject) => { this.setReady = resolve; this.failReady = reject; });
    this.ready.catch(() => {});
  }

  /**
   * modelIndex fetches the host's index of the models it serves (/models).
   * @returns {Promise<IndexEntry[]>}
   */
  async modelIndex() {
    const res = await fetch("models");
    if (!res.ok) throw new Error(`listing the models: HTTP ${res.status} ${res.statusText}`);
    return res.json();
  }

  /** The model the Digits view runs: the personalised one if any. */
  get model() {
    return this.personal ?? this.base;
  }

  /** The class names of the model the Digits view runs. */
  get labels() {
    if (this.personalRecord) return this.personalRecord.names;
    return this.base.info.labels ?? Array.from({ length: 10 }, (_, i) => String(i));
  }

  /**
   * setPersonal makes a fine-tuned model (or none) the one the Digits view
   * runs, and keeps it in IndexedDB.
   * @param {PersonalRecord | null} record
   */
  async setPersonal(record) {
    const old = this.personal;
    if (record) {
      this.personal = await this.enn.load(record.bytes, { name: "digits (personalised)" });
      await store.put("personal", record);
    } else {
      this.personal = null;
      await store.remove("personal");
    }
    this.personalRecord = record;
    old?.dispose();
    this.dispatchEvent(new Event("model"));
  }

  /**
   * showError shows a failure in the page (not only in the console).
   * @param {unknown} e
   */
  showError(e) {
    const msg = e instanceof Error ? e.message : String(e);
    console.error(e);
    $("error-text").textContent = msg;
    $("error").hidden = false;
    demo.errors.push(msg);
  }
}

/**
 * The page's state as tests read it.
 * @type {{app: App, ready: boolean, coldStartMs: number | null, errors: string[], [view: string]: any}}
 */
const demo = { app: new App(), ready: false, coldStartMs: null, errors: [] };
/** @type {any} */ (window).__edgenn_demo = demo;
const app = demo.app;

window.addEventListener("error", (e) => app.showError(e.error ?? e.message));
window.addEventListener("unhandledrejection", (e) => app.showError(e.reason));
$("error-close").addEventListener("click", () => { $("error").hidden = true; });

// Views and routes.
const views = {
  digits: mountDigits(app, demo),
  personalise: mountPersonalise(app, demo),
  faces: mountFaces(app, demo),
  watch: mountWatch(app, demo),
  offload: mountOffload(app, demo),
  device: mountDevice(app, demo),
};

function route() {
  const name = /** @type {keyof views} */ (location.hash.slice(1));
  const current = name in views ? name : "digits";
  for (const [v, view] of Object.entries(views)) {
    const on = v === current;
    $(`view-${v}`).hidden = !on;
    const link = document.querySelector(`nav a[data-view="${v}"]`);
    if (on) link?.setAttribute("aria-current", "page");
    else link?.removeAttribute("aria-current");
    if (on) view.show();
  }
  document.title = `edgenn · ${current[0].toUpperCase()}${current.slice(1)}`;
}
window.addEventListener("hashchange", route);
route();

// The service worker's install downloads everything again: it waits until
// the app has started, so as not to slow the first prediction.
start().finally(registerServiceWorker);

async function start() {
  const text = $("loading-text"), bar = $("loading-bar");
  try {
    const workers = Number(new URLSearchParams(location.search).get("workers")) || undefined;
    text.textContent = "Starting edgenn: downloading and compiling the WebAssembly module…";
    app.enn = await EdgeNN.start({ workers });
    performance.mark("edgenn:started");
    text.textContent = "Loading the digits model…";
    app.base = await app.enn.load(DIGITS_URL, {
      name: "digits",
      onProgress: ({ loaded, total }) => {
        if (total) {
          bar.max = total;
          bar.value = loaded;
        }
        text.textContent = `Loading the digits model… ${formatBytes(loaded)}${total ? ` of ${formatBytes(total)}` : ""}`;
      },
    });
    performance.mark("edgenn:loaded");
    /** @type {PersonalRecord | undefined} */
    let saved;
    try {
      saved = await store.get("personal");
    } catch (e) {
      app.showError(e); // no IndexedDB (a private window): carry on without it
    }
    if (saved) {
      try {
        await app.setPersonal(saved);
      } catch (e) {
        app.showError(new Error(`the personalised model saved in this browser could not be loaded, so the original is used: ${/** @type {Error} */ (e).message}`));
      }
    }
    // The first prediction: it warms the worker, and its time from the
    // navigation is the page's cold start.
    await app.model.run(new Float32Array(28 * 28));
    demo.coldStartMs = performance.now();
    $("foot-runtime").textContent = `edgenn ${app.enn.version} · ${app.enn.simd ? "wasm SIMD" : "wasm scalar"} · ${app.enn.workers} worker${app.enn.workers > 1 ? "s" : ""}`;
    $("loading").hidden = true;
    demo.ready = true;
    document.body.dataset.ready = "1";
    app.setReady();
  } catch (e) {
    text.textContent = "edgenn could not start.";
    bar.hidden = true;
    app.showError(e);
    app.failReady(e);
  }
}

function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) return;
  const sw = navigator.serviceWorker;
  const hadController = !!sw.controller;
  const offline = () => { $("offline").hidden = !sw.controller; };
  offline();
  sw.addEventListener("controllerchange", () => {
    offline();
    if (hadController) {
      $("foot-runtime").textContent = "A new version of the app is installed: reload the page to use it.";
    }
  });
  sw.register("sw.js").catch((e) => app.showError(new Error(`offline use is unavailable: the service worker failed to register: ${e.message}`)));
}
