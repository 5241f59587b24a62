// digits.js: the Digits view. Draw a digit; the digits model (or the user's
// personalised one) reads it as the drawing grows, and the view shows the top
// three classes and the run time as the page measures it.

import { Sketchpad, drawPixels } from "./sketchpad.js";
import { $, formatMs, median } from "./ui.js";

/** @typedef {import("./app.js").App} App */

/** How many recent run times the median is taken over. */
const RECENT = 20;

/**
 * @param {App} app
 * @param {Record<string, any>} demo the page's test-facing state
 */
export function mountDigits(app, demo) {
  const pad = new Sketchpad($("digits-pad"));
  const list = $("digits-top");
  /** @type {number[]} */
  const recent = [];
  let version = 0; // of the drawing: bumped by every stroke update and clear
  let predicted = 0; // the version the shown prediction is of
  let busy = false;

  const state = (demo.digits = {
    /** Whether the prediction shown is of the drawing as it is now. */
    settled: () => !busy && predicted === version,
    /** The top class's label, or null. */
    top: /** @type {string | null} */ (null),
    runs: 0,
    bench,
  });

  pad.addEventListener("input", () => { version++; predict(); });
  pad.addEventListener("change", () => { version++; predict(); });
  $("digits-clear").addEventListener("click", () => pad.clear());
  app.addEventListener("model", () => { version++; showModel(); predict(); });

  /** predict runs the model on the drawing; calls made while one runs coalesce into one more run. */
  async function predict() {
    if (busy) return;
    busy = true;
    try {
      while (predicted !== version) {
        const v = version;
        const x = pad.pixels();
        drawPixels($("digits-input"), x);
        if (!x) {
          showNone();
        } else {
          await app.ready;
          const t0 = performance.now();
          const { output } = await app.model.run(x);
          record(performance.now() - t0);
          showTop(output);
        }
        predicted = v;
      }
    } catch (e) {
      predicted = version;
      app.showError(e);
    } finally {
      busy = false;
    }
  }

  /** @param {number} ms */
  function record(ms) {
    recent.push(ms);
    if (recent.length > RECENT) recent.shift();
    state.runs++;
    $("digits-time").textContent = formatMs(ms);
    $("digits-median").textContent = `${formatMs(median(recent))} (${recent.length} run${recent.length > 1 ? "s" : ""})`;
  }

  /** @param {Float32Array} probs */
  function showTop(probs) {
    const labels = app.labels;
    const order = Array.from(probs.keys()).sort((a, b) => probs[b] - probs[a]).slice(0, 3);
    list.replaceChildren(...order.map((i) => {
      const li = document.createElement("li");
      const pct = (probs[i] * 100).toFixed(1);
      li.innerHTML = `<span class="label"></span><span class="track"><span class="fill"></span></span><span class="p">${pct}%</span>`;
      /** @type {HTMLElement} */ (li.firstElementChild).textContent = labels[i] ?? String(i);
      /** @type {HTMLElement} */ (li.querySelector(".fill")).style.width = `${Math.max(0.5, probs[i] * 100)}%`;
      return li;
    }));
    state.top = labels[order[0]] ?? String(order[0]);
    list.dataset.top = state.top;
    list.dataset.index = String(order[0]);
    list.dataset.prob = probs[order[0]].toFixed(4);
    list.dataset.seq = String(Number(list.dataset.seq) + 1);
  }

  function showNone() {
    list.innerHTML = `<li class="empty">Draw something to see what the network reads.</li>`;
    state.top = null;
    list.dataset.top = "";
  }

  function showModel() {
    const note = $("digits-model");
    note.hidden = !app.personal;
    note.textContent = "Using your personalised model, kept in this browser. Reset it on the Personalise page.";
  }

  /**
   * bench runs the model on the current drawing (or a blank input) n times,
   * one after another, and resolves with the page-timed median and minimum.
   * @param {number} n
   */
  async function bench(n = 30) {
    await app.ready;
    const x = pad.pixels() ?? new Float32Array(28 * 28);
    const times = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await app.model.run(x);
      times.push(performance.now() - t0);
    }
    times.forEach(record);
    return { medianMs: median(times), minMs: Math.min(...times) };
  }

  return {
    show() {
      app.ready.then(showModel, () => {});
    },
  };
}
