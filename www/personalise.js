// personalise.js: the Personalise view. The user draws labelled examples,
// some held out; the head of the digits model is fine-tuned on them in a
// worker, with a live loss curve, and scored on the held-out ones before and
// after. The result is kept in IndexedDB and offered as a .enn download.
//
// Privacy: the examples stay in this page and in this browser's IndexedDB;
// this module makes no network request at all.
//
// A new symbol: the trainer fine-tunes an existing graph, and the digits
// model has ten outputs, so a symbol takes over one digit's class slot (its
// name replaces the digit's in the labels shown).

import { LossChart } from "./chart.js";
import { Sketchpad, drawPixels, shifted, SIDE } from "./sketchpad.js";
import * as store from "./store.js";
import { $, formatBytes } from "./ui.js";

/** @typedef {import("./app.js").App} App */
/** @typedef {{label: number, pixels: Float32Array}} Example */

/** Training shifts: each example also trains moved by one pixel each way. */
const SHIFTS = [[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1]];

/**
 * @param {App} app
 * @param {Record<string, any>} demo the page's test-facing state
 */
export function mountPersonalise(app, demo) {
  const pad = new Sketchpad($("personal-pad"));
  const chart = new LossChart($("train-chart"));
  const result = $("train-result");
  /** @type {{train: Example[], held: Example[], names: string[]}} */
  const data = { train: [], held: [], names: digitNames() };
  let label = 0;
  /** @type {AbortController | null} */
  let running = null;

  const state = (demo.personalise = {
    /** Batch losses of the last fine-tuning, in order. */
    batchLosses: /** @type {number[]} */ ([]),
    /** Mean loss of each epoch of the last fine-tuning. */
    epochLosses: /** @type {number[]} */ ([]),
    before: /** @type {number | null} */ (null),
    after: /** @type {number | null} */ (null),
    counts: () => ({ train: data.train.length, held: data.held.length }),
  });

  app.ready.then(restore, () => {});
  app.ready.then(() => app.base && offerLayers(app.base.info.weights), () => {});

  /**
   * offerLayers lists the model's dense layers (2-D weights) as the choices
   * of what to fine-tune: the last one, the last two, all of them.
   * @param {{name: string, shape: number[]}[]} weights
   */
  function offerLayers(weights) {
    const dense = [...new Set(weights.filter((w) => w.shape.length === 2 && w.name.includes("/"))
      .map((w) => w.name.slice(0, w.name.lastIndexOf("/") + 1)))];
    if (dense.length === 0) return; // keep the page's defaults
    const pick = (/** @type {number} */ n, /** @type {string} */ what) => {
      const layers = dense.slice(-n);
      const o = document.createElement("option");
      o.value = layers.join(",");
      o.textContent = `${what} (${layers.map((l) => l.slice(0, -1)).join(", ")})`;
      return o;
    };
    const opts = [pick(1, "last")];
    if (dense.length > 1) opts.push(pick(2, "last two"));
    if (dense.length > 2) opts.push(pick(dense.length, "the whole head"));
    opts[Math.min(1, opts.length - 1)].selected = true;
    $("train-layers").replaceChildren(...opts);
  }
  app.addEventListener("model", showSaved);

  $("personal-add").addEventListener("click", () => add(data.train));
  $("personal-add-held").addEventListener("click", () => add(data.held));
  $("personal-clear").addEventListener("click", () => pad.clear());
  $("symbol-set").addEventListener("click", () => {
    const name = $("symbol-name").value.replace(/,/g, " ").trim(); // labels are stored comma-separated
    if (!name) return app.showError(new Error("type the new symbol (or a short name) first"));
    data.names = digitNames();
    data.names[Number($("symbol-slot").value)] = name;
    label = Number($("symbol-slot").value);
    changed();
  });
  $("symbol-reset").addEventListener("click", () => { data.names = digitNames(); changed(); });
  $("train-start").addEventListener("click", () => train().catch((e) => app.showError(e)));
  $("train-stop").addEventListener("click", () => running?.abort(new Error("stopped")));
  $("personal-download").addEventListener("click", download);
  $("personal-reset").addEventListener("click", () => {
    app.setPersonal(null).catch((e) => app.showError(e));
  });
  $("personal-forget").addEventListener("click", () => {
    data.train = [];
    data.held = [];
    changed();
  });

  function digitNames() {
    return app.base?.info.labels?.slice() ?? Array.from({ length: 10 }, (_, i) => String(i));
  }

  async function restore() {
    try {
      const saved = await store.get("examples");
      if (saved) Object.assign(data, saved);
    } catch {
      // No IndexedDB: the examples live as long as the page.
    }
    render();
    showSaved();
  }

  /** @param {Example[]} set */
  function add(set) {
    const pixels = pad.pixels();
    if (!pixels) return app.showError(new Error("draw an example on the pad first"));
    set.push({ label, pixels });
    pad.clear();
    changed();
  }

  function changed() {
    render();
    store.put("examples", data).catch(() => {});
  }

  function render() {
    // Label buttons: one per class slot, showing the slot's current name.
    const labels = $("personal-labels");
    labels.replaceChildren(...data.names.map((name, i) => {
      const b = document.createElement("button");
      b.type = "button";
      b.setAttribute("role", "radio");
      b.setAttribute("aria-checked", String(i === label));
      b.dataset.label = String(i);
      b.textContent = name === String(i) ? name : `${name} (${i})`;
      b.addEventListener("click", () => { label = i; render(); });
      return b;
    }));
    const slot = $("symbol-slot");
    if (slot.options.length !== data.names.length) {
      slot.replaceChildren(...data.names.map((_, i) => new Option(`class ${i}`, String(i), false, i === 9)));
    }
    thumbs($("personal-train"), data.train);
    thumbs($("personal-held"), data.held);
    const n = data.train.length, h = data.held.length;
    $("personal-counts").textContent = n + h === 0
      ? "None yet. Add a few of each label; keep about one in four as held-out."
      : `${n} training, ${h} held-out. Labels: ${summary(data.train.concat(data.held))}.`;
  }

  /** @param {HTMLElement} el @param {Example[]} set */
  function thumbs(el, set) {
    el.replaceChildren(...set.map((ex, i) => {
      const b = document.createElement("button");
      b.type = "button";
      b.title = `${data.names[ex.label]}: click to remove`;
      const c = document.createElement("canvas");
      c.width = c.height = SIDE;
      drawPixels(c, ex.pixels);
      const tag = document.createElement("span");
      tag.textContent = data.names[ex.label];
      b.append(c, tag);
      b.addEventListener("click", () => { set.splice(i, 1); changed(); });
      return b;
    }));
  }

  /** @param {Example[]} set */
  function summary(set) {
    const counts = new Map();
    for (const ex of set) counts.set(ex.label, (counts.get(ex.label) ?? 0) + 1);
    return [...counts].sort((a, b) => a[0] - b[0]).map(([l, c]) => `${data.names[l]} ×${c}`).join(", ");
  }

  async function train() {
    await app.ready;
    if (data.train.length < 2) throw new Error("add at least two training examples first");
    const epochs = Number($("train-epochs").value), lr = Number($("train-lr").value);
    if (!Number.isInteger(epochs) || epochs < 1) throw new Error("epochs must be a whole number, 1 or more");
    if (!(lr > 0)) throw new Error("the learning rate must be a positive number");
    const trainable = String($("train-layers").value).split(",");

    const xs = data.train.flatMap((ex) => SHIFTS.map(([dx, dy]) => shifted(ex.pixels, dx, dy)));
    const ys = data.train.flatMap((ex) => SHIFTS.map(() => ex.label));
    const hx = data.held.map((ex) => ex.pixels), hy = data.held.map((ex) => ex.label);
    const batchSize = Math.min(8, xs.length);
    const steps = Math.floor(xs.length / batchSize);

    state.batchLosses = [];
    state.epochLosses = [];
    state.before = state.after = null;
    result.dataset.state = "training";
    $("train-loss").textContent = "–";
    $("train-after").textContent = "–";
    $("train-before").textContent = hx.length ? "…" : "no held-out examples";
    chart.reset(epochs * steps);
    busy(true);
    running = new AbortController();
    const trainer = app.base.trainer({ optimizer: "adam", lr, trainable, seed: 1 });
    try {
      if (hx.length) {
        state.before = (await app.base.evaluate(hx, hy)).accuracy;
        $("train-before").textContent = percent(state.before);
      }
      try {
        await trainer.fit(xs, ys, {
          epochs, batchSize, seed: 1, signal: running.signal,
          onBatch: (b) => {
            state.batchLosses.push(b.loss);
            chart.add(b.loss);
            $("train-loss").textContent = `${b.loss.toFixed(4)} (epoch ${b.epoch} of ${epochs})`;
          },
          onEpoch: (e) => {
            state.epochLosses.push(e.loss);
            chart.endEpoch();
          },
        });
      } catch (e) {
        // Stopping keeps the epochs done so far; anything else is a failure.
        if (!running.signal.aborted || state.epochLosses.length === 0) throw e;
      }
      const first = state.epochLosses[0], last = state.epochLosses[state.epochLosses.length - 1];
      $("train-loss").textContent = `${first.toFixed(4)} → ${last.toFixed(4)} over ${state.epochLosses.length} epoch${state.epochLosses.length > 1 ? "s" : ""}`;
      if (hx.length) {
        state.after = (await trainer.evaluate(hx, hy)).accuracy;
        $("train-after").textContent = percent(state.after);
      }
      // The file carries its class names, so that a download keeps the new symbol.
      const bytes = await trainer.save({ metadata: { labels: data.names.join(",") } });
      await app.setPersonal({
        bytes, names: data.names.slice(), savedAt: Date.now(),
        before: state.before ?? undefined, after: state.after ?? undefined,
      });
      Object.assign(result.dataset, { state: "done", firstLoss: String(first), lastLoss: String(last) });
    } catch (e) {
      result.dataset.state = "failed";
      throw e;
    } finally {
      trainer.dispose();
      running = null;
      busy(false);
    }
  }

  /** @param {boolean} on */
  function busy(on) {
    $("train-start").disabled = on;
    $("train-stop").hidden = !on;
  }

  function showSaved() {
    const r = app.personalRecord;
    $("personal-download").disabled = !r;
    $("personal-reset").disabled = !r;
    const note = $("personal-state");
    note.hidden = !r;
    if (r) {
      const acc = r.before !== undefined && r.after !== undefined ? `; held-out accuracy ${percent(r.before)} → ${percent(r.after)}` : "";
      note.textContent = `Your personalised model (${formatBytes(r.bytes.length)}, saved ${new Date(r.savedAt).toLocaleString()}${acc}) is in use on the Digits page.`;
    }
    note.dataset.personal = r ? "1" : "0";
  }

  function download() {
    const r = app.personalRecord;
    if (!r) return;
    const url = URL.createObjectURL(new Blob([/** @type {Uint8Array<ArrayBuffer>} */ (r.bytes)], { type: "application/octet-stream" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = "digits-personalised.enn";
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }

  return {
    show() {
      render();
      chart.draw();
    },
  };
}

/** @param {number} x */
function percent(x) {
  return `${(x * 100).toFixed(0)}%`;
}
