// device.js: the Device view. For any model the host lists at models (its
// JSON index), it times every layer on this device with Model.profile, and
// shows the work (the engine's FLOP count per compiled node), the throughput, and the pool's memory.

import { $, formatBytes, formatMs, median } from "./ui.js";

/** @typedef {import("./app.js").App} App */
/** @typedef {import("./edgenn.d.ts").Model} Model */
/** @typedef {import("./app.js").IndexEntry} IndexEntry */

/**
 * @param {App} app
 * @param {Record<string, any>} demo the page's test-facing state
 */
export function mountDevice(app, demo) {
  const summary = $("device-summary");
  /** @type {IndexEntry[]} */
  let index = [];
  /** @type {{name: string, model: Model} | null} the last model profiled, other than the digits one */
  let loaded = null;
  let listed = false;
  const state = (demo.device = { last: /** @type {any} */ (null) });

  $("device-profile").addEventListener("click", () => profile().catch((e) => {
    summary.dataset.state = "failed";
    app.showError(e);
  }));

  async function list() {
    index = await app.modelIndex();
    const select = $("device-model");
    select.replaceChildren(...index.map((m) => new Option(`${m.name} (${formatBytes(m.size)})`, m.name, false, m.name === "digits")));
    if (index.length === 0) select.replaceChildren(new Option("no models served", ""));
    listed = true;
  }

  async function profile() {
    await app.ready;
    if (!listed) await list();
    const entry = index.find((m) => m.name === $("device-model").value);
    if (!entry) throw new Error("pick a model to profile");
    const runs = Number($("device-runs").value);
    if (!Number.isInteger(runs) || runs < 1) throw new Error("runs must be a whole number, 1 or more");
    summary.dataset.state = "running";
    $("device-profile").disabled = true;
    const bar = $("device-progress");
    bar.hidden = false;
    try {
      // After the first visit the file comes from the service worker's cache.
      const bytes = await download(`models/${entry.file}`, bar);
      const model = await modelFor(entry, bytes);
      bar.removeAttribute("value");
      // Browsers coarsen timers (to 0.1 ms on a page that is not
      // cross-origin isolated), which is longer than a small model's layers
      // take: such a model is timed on a batch large enough to measure, and
      // the times are given per example.
      let batch = 1;
      let costs = await model.profile(undefined, { runs });
      let totalMs = costs.reduce((s, c) => s + c.medianMs, 0);
      if (totalMs < MEASURABLE_MS) {
        batch = Math.min(MAX_BATCH, 2 ** Math.ceil(Math.log2(MEASURABLE_MS / Math.max(totalMs, 0.01))));
        costs = (await model.profile(zeros(model, batch), { runs })).map((c) =>
          ({ ...c, medianMs: c.medianMs / batch, minMs: c.minMs / batch, meanMs: c.meanMs / batch, flops: c.flops / batch }));
        totalMs = costs.reduce((s, c) => s + c.medianMs, 0);
      }
      // The work per layer, as the engine counts it for the compiled graph.
      const flops = { total: costs.reduce((s, c) => s + c.flops, 0), byNode: new Map(costs.map((c) => [c.name, c.flops])) };
      const one = zeros(model, 1);
      const times = [];
      for (let i = 0; i < runs; i++) {
        const t0 = performance.now();
        await model.run(one);
        times.push(performance.now() - t0);
      }
      const gflops = totalMs > 0 ? flops.total / (totalMs * 1e6) : null;
      render(costs, flops, totalMs);
      $("device-total").textContent = `${formatMs(totalMs)}${batch > 1 ? " per example (batch " + batch + ")" : ""}, ${costs.length} layers, ${runs} runs`;
      $("device-run").textContent = `${formatMs(median(times))} median`;
      $("device-flops").textContent = `${(flops.total / 1e6).toFixed(2)} MFLOP per run`;
      $("device-gflops").textContent = gflops !== null ? `${gflops.toFixed(2)} GFLOP/s` : "–";
      state.last = { model: entry.name, flops: flops.total, totalMs, runMs: median(times), gflops, batch, layers: costs };
      Object.assign(summary.dataset, {
        state: "done", model: entry.name, flops: String(flops.total), totalMs: String(totalMs),
        gflops: String(gflops ?? ""), layers: String(costs.length), batch: String(batch),
      });
      await showRuntime();
    } finally {
      $("device-profile").disabled = false;
      bar.hidden = true;
    }
  }

  /** @param {IndexEntry} entry @param {Uint8Array} bytes */
  async function modelFor(entry, bytes) {
    if (entry.name === "digits") return app.base;
    if (loaded?.name === entry.name) return loaded.model;
    loaded?.model.dispose();
    loaded = null;
    const model = await app.enn.load(bytes, { name: entry.name });
    loaded = { name: entry.name, model };
    return model;
  }

  /**
   * @param {import("./edgenn.d.ts").NodeCost[]} costs
   * @param {{total: number, byNode: Map<string, number>} | null} flops
   * @param {number} totalMs
   */
  function render(costs, flops, totalMs) {
    const body = /** @type {HTMLTableSectionElement} */ ($("device-layers").tBodies[0]);
    const worst = Math.max(...costs.map((c) => c.medianMs), 1e-9);
    body.replaceChildren(...costs.map((c) => {
      const f = flops?.byNode.get(c.name);
      const tr = document.createElement("tr");
      const cells = [
        c.name, c.op, c.medianMs.toFixed(3), c.minMs.toFixed(3),
        f ? (f / 1e6).toFixed(3) : "", f && c.medianMs > 0 ? (f / (c.medianMs * 1e6)).toFixed(2) : "",
      ];
      cells.forEach((v, i) => {
        const td = tr.insertCell();
        td.textContent = v;
        td.className = [i >= 2 ? "num" : "", [1, 3, 4].includes(i) ? "wide" : ""].join(" ").trim();
      });
      const share = tr.insertCell();
      share.className = "share";
      const barEl = document.createElement("div");
      barEl.style.width = `${(c.medianMs / worst) * 100}%`;
      barEl.title = `${((c.medianMs / totalMs) * 100).toFixed(1)}% of the run`;
      share.append(barEl);
      return tr;
    }));
  }

  async function showRuntime() {
    const info = await app.enn.info();
    const nav = /** @type {any} */ (navigator);
    const rows = [
      ["WebAssembly SIMD", info.simd ? "on (edgenn.wasm)" : "off (edgenn-scalar.wasm)"],
      ["Workers", `${info.workers.length} (this device reports ${navigator.hardwareConcurrency ?? "?"} cores)`],
      ["edgenn", info.version],
      ["Models loaded", String(info.models)],
    ];
    if (nav.deviceMemory) rows.push(["Device memory", `about ${nav.deviceMemory} GB`]);
    $("device-info").replaceChildren(...rows.flatMap(([k, v]) => {
      const dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = k;
      dd.textContent = v;
      return [dt, dd];
    }));
    $("device-info").dataset.simd = String(info.simd);
    $("device-info").dataset.workers = String(info.workers.length);
    const body = /** @type {HTMLTableSectionElement} */ ($("device-workers").tBodies[0]);
    body.replaceChildren(...info.workers.map((w) => {
      const tr = document.createElement("tr");
      const cells = [
        `${w.index}${w.alive ? "" : " (down)"}`,
        w.heapBytes !== undefined ? formatBytes(w.heapBytes) : "–",
        w.sysBytes !== undefined ? formatBytes(w.sysBytes) : "–",
        w.memoryBytes !== undefined ? formatBytes(w.memoryBytes) : "–",
        String(w.models ?? "–"), String(w.completedCalls),
      ];
      cells.forEach((v, i) => {
        const td = tr.insertCell();
        td.textContent = v;
        td.className = [i > 0 ? "num" : "", [2, 4].includes(i) ? "wide" : ""].join(" ").trim();
      });
      return tr;
    }));
  }

  return {
    show() {
      app.ready.then(async () => {
        if (!listed) await list();
        await showRuntime();
      }).catch((e) => app.showError(e));
    },
  };
}

/** A profile shorter than this in total is redone on a batch (so that most layers take several timer ticks). */
const MEASURABLE_MS = 40;
const MAX_BATCH = 256;

/**
 * zeros returns inputs of zeros for a batch of n examples.
 * @param {Model} model @param {number} n
 * @returns {Record<string, Float32Array>}
 */
function zeros(model, n) {
  return Object.fromEntries(model.info.inputs.map((v) => [v.name, new Float32Array(n * v.shape.slice(1).reduce((a, b) => a * b, 1))]));
}

/**
 * download fetches a file, showing progress on bar.
 * @param {string} url @param {HTMLProgressElement} bar
 */
async function download(url, bar) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${res.statusText}`);
  const total = res.headers.get("content-encoding") ? 0 : Number(res.headers.get("content-length"));
  if (!res.body || !total) return new Uint8Array(await res.arrayBuffer());
  bar.max = total;
  const out = new Uint8Array(total);
  let loaded = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    out.set(value.subarray(0, Math.max(0, total - loaded)), loaded);
    loaded += value.length;
    bar.value = loaded;
  }
  if (loaded !== total) throw new Error(`${url}: got ${loaded} bytes, expected ${total}`);
  return out;
}
