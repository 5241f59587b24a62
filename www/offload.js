// offload.js: the Offload view. The page joins a room of the host's peer hub
// (EdgeNN.join) with a model from the host's index loaded, so that it serves
// that model's tails to the others; it can also run the model itself, here
// only (offload "never") and where the planner predicts the result soonest
// (offload "auto": the head here, the tail on a peer, or all of it here).
// A slow mode (a throttle) makes this tab a weak device: its runs are
// slowed, and the costs it measures and announces scaled, by that factor.
//
// The view shows the room's peers as they join and leave, how frames reach
// each (a direct WebRTC data channel, or the hub's relay), the fingerprint
// of the keys agreed with the peer it offloads to, the split the planner
// chose, local against offloaded latency (medians over a few runs each
// way), the bandwidth the runs saw, and a log of the runs that fell back to
// running here (the peer failed, timed out or left).
//
// Tests read the state as data- attributes of #view-offload (state, peers,
// transport, cut, tensor, cut-bytes, local-ms, offload-ms, max-diff, runs,
// fallbacks, fingerprint) and as window.__edgenn_demo.offload.

import { $, formatBytes, formatMs, median } from "./ui.js";

/** @typedef {import("./app.js").App} App */
/** @typedef {import("./app.js").IndexEntry} IndexEntry */
/** @typedef {import("./edgenn.d.ts").Model} Model */
/** @typedef {import("./edgenn.d.ts").Peers} Peers */
/** @typedef {import("./edgenn.d.ts").PeerInfo} PeerInfo */
/** @typedef {import("./edgenn.d.ts").OffloadInfo} OffloadInfo */
/** @typedef {import("./edgenn.d.ts").CutInfo} CutInfo */

/** Log lines kept. */
const LOG_LINES = 100;

/**
 * @param {App} app
 * @param {Record<string, any>} demo the page's test-facing state
 */
export function mountOffload(app, demo) {
  const section = $("view-offload");
  const note = $("offload-note");
  /** @type {IndexEntry[]} */
  let index = [];
  let listed = false;
  /** The model loaded for the room, and its index entry. @type {{entry: IndexEntry, model: Model} | null} */
  let loaded = null;
  /** @type {Float32Array | null} the input the runs share */
  let input = null;

  const state = (demo.offload = {
    /** The room joined, or null. @type {Peers | null} */
    peers: /** @type {Peers | null} */ (null),
    /** The room's other peers, as last shown. */
    list: /** @type {PeerInfo[]} */ ([]),
    /** The model's cuts as this tab profiled them. */
    cuts: /** @type {CutInfo[]} */ ([]),
    /** Each run's time here only, and offloaded (ms), of the last comparison. */
    localMs: /** @type {number[]} */ ([]),
    offloadMs: /** @type {number[]} */ ([]),
    /** Bytes a millisecond each offloaded run moved (up and down over the remote time). */
    bandwidth: /** @type {number[]} */ ([]),
    /** model.lastOffload after the last offloaded run, and after each of the last comparison's. */
    last: /** @type {OffloadInfo | null} */ (null),
    infos: /** @type {OffloadInfo[]} */ ([]),
    /** The largest difference between an offloaded output and the local one. */
    maxDiff: /** @type {number | null} */ (null),
    /** Offloaded runs completed (each counted once, when its result is delivered). */
    runs: 0,
    /** Why runs fell back to running here. */
    fallbacks: /** @type {string[]} */ ([]),
    log: /** @type {string[]} */ ([]),
    compare,
    once,
  });

  $("offload-name").value ||= `tab-${Math.random().toString(36).slice(2, 6)}`;
  $("offload-join").addEventListener("click", () => join().catch(failed));
  $("offload-leave").addEventListener("click", leave);
  $("offload-compare").addEventListener("click", () => compare(Number($("offload-runs").value)).catch(failed));
  $("offload-once").addEventListener("click", () => once().catch(failed));
  $("offload-direct").addEventListener("change", () => {
    if (state.peers) state.peers.direct = $("offload-direct").checked;
    showPeers();
  });

  /** @param {unknown} e */
  function failed(e) {
    setBusy(false);
    if (!state.peers) setState("failed");
    app.showError(e);
  }

  /** list fills the model picker from the host's index, MobileNet first. */
  async function list() {
    if (listed) return;
    index = await app.modelIndex();
    const pick = index.find((m) => m.name.startsWith("mobilenet")) ?? index[0];
    $("offload-model").replaceChildren(...index.map((m) => new Option(`${m.name} (${formatBytes(m.size)})`, m.name, false, m === pick)));
    if (index.length === 0) $("offload-model").replaceChildren(new Option("no models served", ""));
    listed = true;
  }

  /** join loads the chosen model and joins the room with it. */
  async function join() {
    await app.ready;
    await list();
    const entry = index.find((m) => m.name === $("offload-model").value);
    if (!entry) throw new Error("pick a model: the host lists none");
    const room = $("offload-room").value.trim(), token = $("offload-token").value;
    const throttle = Number($("offload-throttle").value);
    setState("joining");
    setForm(false);
    say("");
    if (loaded?.entry.name !== entry.name) {
      loaded?.model.dispose();
      loaded = null;
      state.cuts = [];
      loaded = { entry, model: await app.enn.load(`models/${entry.file}`, { name: entry.name }) };
      input = pattern(loaded.model);
    }
    /** @type {Peers} */
    let peers;
    try {
      // "hub" beside the page: the app works under any prefix.
      peers = await app.enn.join("hub", { room, token, name: $("offload-name").value.trim(), throttle });
    } catch (e) {
      setForm(true);
      setState("idle");
      const msg = /** @type {Error} */ (e).message;
      say(/unknown-room|connection/.test(msg)
        ? `${msg}. The host needs the room: \`edgenn serve --hub-room ${room || "demo"}=TOKEN\` (make run configures demo=edgenn-demo-room).`
        : msg);
      return;
    }
    peers.direct = $("offload-direct").checked;
    state.peers = peers;
    peers.on("peer-joined", (p) => { log(`${p.name || p.id} joined`); showPeers(); });
    peers.on("peer-left", (p) => { log(`${nameOf(p.id)} left${p.reason ? ` (${p.reason})` : ""}`); showPeers(); });
    peers.on("announce", () => showPeers());
    peers.on("transport", (t) => {
      log(`${nameOf(t.id)}: frames go ${t.transport === "direct" ? "over a direct data channel" : "through the hub's relay"}${t.reason ? ` (${t.reason})` : ""}`);
      showPeers();
    });
    peers.on("error", (e) => {
      log(`error: ${e.message}`);
      if (peers.closed && state.peers === peers) ended("the hub connection was lost");
    });
    log(`joined room ${peers.room} as ${peers.name || peers.id} (${peers.id}), slow mode ${throttle}x, holding ${entry.name}`);
    $("offload-self").textContent = `${peers.name || "(no name)"} · ${peers.id} · ${throttle}x`;
    state.cuts = await loaded.model.cuts({ runs: 3 });
    showPeers();
    setState("joined");
    setBusy(false);
  }

  function leave() {
    const peers = state.peers;
    if (!peers) return;
    peers.close();
    ended("left the room");
  }

  /** @param {string} why */
  function ended(why) {
    state.peers = null;
    log(why);
    showPeers();
    setForm(true);
    setState("left");
  }

  /**
   * runLocal runs the model here only, slowed as the room's runs are in
   * slow mode (it waits (throttle - 1) times the run's time), and resolves
   * with the output and the time.
   * @param {Model} model @param {Float32Array} x
   */
  async function runLocal(model, x) {
    const throttle = Number(state.peers?.throttle ?? $("offload-throttle").value);
    const t0 = performance.now();
    const out = await model.run(x, { offload: "never" });
    if (throttle > 1) await new Promise((r) => setTimeout(r, (throttle - 1) * (performance.now() - t0)));
    return { out: firstOutput(model, out), ms: performance.now() - t0 };
  }

  /**
   * runAuto runs the model with offload "auto" (or to the peer given),
   * counts the run once and logs its fallback, if any.
   * @param {Model} model @param {Float32Array} x @param {string} [to]
   */
  async function runAuto(model, x, to = "auto") {
    const t0 = performance.now();
    const out = await model.run(x, { offload: to });
    const ms = performance.now() - t0;
    const info = /** @type {OffloadInfo} */ (model.lastOffload);
    state.last = info;
    state.runs++;
    if (info.fallback) {
      state.fallbacks.push(info.fallback);
      log(`run ${state.runs}: fell back to running here: ${info.fallback}`, "fallback");
    }
    showLast(info);
    return { out: firstOutput(model, out), ms, info };
  }

  /**
   * compare runs the model n times here only and n times with offload
   * "auto", and shows the medians, the split and the bandwidth.
   * @param {number} n
   */
  async function compare(n) {
    if (!Number.isInteger(n) || n < 1 || n > 100) throw new Error("runs must be a whole number from 1 to 100");
    const { model, x } = ready();
    setBusy(true);
    try {
      const local = [];
      let want = /** @type {Float32Array | null} */ (null);
      for (let i = 0; i < n; i++) {
        const r = await runLocal(model, x);
        want = r.out;
        local.push(r.ms);
      }
      const off = [], bw = [];
      let diff = 0;
      state.infos = [];
      for (let i = 0; i < n; i++) {
        const r = await runAuto(model, x);
        state.infos.push(r.info);
        off.push(r.ms);
        if (r.info.remoteMs > 0 && !r.info.fallback) bw.push((r.info.upBytes + r.info.downBytes) / r.info.remoteMs);
        diff = Math.max(diff, maxAbsDiff(r.out, /** @type {Float32Array} */ (want)));
      }
      Object.assign(state, { localMs: local, offloadMs: off, bandwidth: bw, maxDiff: diff });
      const l = median(local), o = median(off);
      $("offload-local").textContent = `${formatMs(l)} median of ${n}`;
      $("offload-remote").textContent = `${formatMs(o)} median of ${n}`;
      $("offload-speedup").textContent = `${(l / o).toFixed(2)}x`;
      $("offload-bandwidth").textContent = bw.length ? `${(median(bw) / 1000).toFixed(1)} MB/s (bytes over the remote time)` : "– (no run was offloaded)";
      $("offload-diff").textContent = diff.toExponential(1);
      Object.assign(section.dataset, { localMs: l.toFixed(3), offloadMs: o.toFixed(3), maxDiff: String(diff) });
      log(`compared ${n} runs each way: here ${formatMs(l)}, offload auto ${formatMs(o)}, outputs within ${diff.toExponential(1)}`);
    } finally {
      setBusy(false);
    }
  }

  /**
   * once runs the model once offloaded: to the peer of the last offloaded
   * run if it is still there, else to a peer that holds the model (at the
   * planner's best cut for it), else with offload "auto".
   */
  async function once() {
    const { model, x } = ready();
    const holders = (state.peers?.peers ?? []).filter((p) => p.models.includes(model.info.sha256 ?? ""));
    const to = holders.find((p) => p.id === state.last?.peer)?.id ?? holders[0]?.id ?? "auto";
    setBusy(true);
    try {
      const r = await runAuto(model, x, to);
      const want = (await model.run(x, { offload: "never" }));
      state.maxDiff = maxAbsDiff(r.out, firstOutput(model, want));
      section.dataset.maxDiff = String(state.maxDiff);
      log(`run ${state.runs}: ${r.info.peer && !r.info.fallback ? `offloaded to ${nameOf(r.info.peer)} (${r.info.transport})` : "ran here"}, ${formatMs(r.ms)}`);
      return r.info;
    } finally {
      setBusy(false);
    }
  }

  function ready() {
    if (!state.peers || !loaded || !input) throw new Error("join a room first");
    return { model: loaded.model, x: input };
  }

  /** @param {OffloadInfo} info */
  function showLast(info) {
    const c = info.cut >= 0 ? state.cuts[info.cut] : undefined;
    const local = !info.peer || info.cut === state.cuts.length - 1;
    $("offload-split").textContent = local
      ? "all here (the planner predicts no peer is faster)"
      : `cut ${info.cut} of ${state.cuts.length - 1}: ${info.tensor}${c ? `, ${formatBytes(c.bytes)} an example` : ""} to ${nameOf(info.peer ?? "")}`;
    $("offload-predicted").textContent = formatMs(info.predictedMs);
    $("offload-transport").textContent = info.transport ?? (info.fallback ? "– (fell back)" : "–");
    Object.assign(section.dataset, {
      cut: String(info.cut), tensor: info.tensor, cutBytes: String(c?.bytes ?? 0), transport: info.transport ?? "",
      runs: String(state.runs), fallbacks: String(state.fallbacks.length), peer: info.peer ?? "",
    });
    if (info.peer && !info.fallback) fingerprint(info.peer);
  }

  /** fingerprint shows the six digits of the keys agreed with a peer. @param {string} id */
  function fingerprint(id) {
    state.peers?.fingerprint(id).then((f) => {
      $("offload-fingerprint").textContent = `${f} with ${nameOf(id)}`;
      section.dataset.fingerprint = f;
    }, () => {});
  }

  /** showPeers lists the room's other peers. */
  function showPeers() {
    const peers = state.peers;
    state.list = peers ? peers.peers : [];
    const sha = loaded?.model.info.sha256;
    const ul = $("offload-peers");
    ul.replaceChildren(...state.list.map((p) => {
      const li = document.createElement("li");
      Object.assign(li.dataset, { id: p.id, transport: p.transport, holds: String(!!sha && p.models.includes(sha)) });
      const name = document.createElement("strong");
      name.textContent = p.name || "(no name)";
      const what = document.createElement("span");
      what.className = "hint";
      what.textContent = ` ${p.id} · ${p.caps.native ? "native worker" : "browser"} · ` +
        `${sha && p.models.includes(sha) ? `holds ${loaded?.entry.name}` : "does not hold the model"} · ` +
        `${p.transport === "direct" ? "direct channel" : "relay"} · load ${formatMs(p.load)}`;
      li.append(name, what);
      return li;
    }));
    if (state.list.length === 0) {
      const li = document.createElement("li");
      li.className = "hint";
      li.textContent = peers ? "No one else yet: open this page in another tab or on another device, and join the same room." : "Not in a room.";
      ul.append(li);
    }
    section.dataset.peers = String(state.list.length);
    // The server's side of a pairing learns the fingerprint once the requester has paired.
    const paired = state.list.find((p) => p.paired && p.id === (state.last?.peer ?? p.id));
    if (paired && !section.dataset.fingerprint) fingerprint(paired.id);
  }

  /** @param {string} id */
  function nameOf(id) {
    const p = state.list.find((q) => q.id === id) ?? state.peers?.peers.find((q) => q.id === id);
    return p?.name ? `${p.name} (${id})` : id;
  }

  /** log adds a line to the view's log. @param {string} text @param {string} [kind] */
  function log(text, kind = "event") {
    const line = `${new Date().toLocaleTimeString()} ${text}`;
    state.log.push(line);
    if (state.log.length > LOG_LINES) state.log.shift();
    const li = document.createElement("li");
    li.dataset.kind = kind;
    li.textContent = line;
    const ol = $("offload-log");
    ol.prepend(li);
    while (ol.children.length > LOG_LINES) ol.lastElementChild?.remove();
  }

  /** @param {boolean} on whether the form may be changed (not in a room) */
  function setForm(on) {
    for (const id of ["offload-room", "offload-token", "offload-name", "offload-throttle", "offload-model", "offload-join"]) $(id).disabled = !on;
    $("offload-leave").disabled = on;
    if (on) setBusy(true); // no runs outside a room
  }

  /** @param {boolean} busy */
  function setBusy(busy) {
    const none = busy || !state.peers;
    $("offload-compare").disabled = none;
    $("offload-once").disabled = none;
    section.dataset.busy = busy ? "1" : "0";
  }

  /** @param {string} s */
  function setState(s) {
    section.dataset.state = s;
  }

  /** @param {string} text */
  function say(text) {
    note.textContent = text;
    note.hidden = !text;
  }

  Object.assign(section.dataset, { state: "idle", peers: "0", runs: "0", fallbacks: "0", transport: "", fingerprint: "", busy: "0" });
  setForm(true);
  showPeers();
  return {
    show() {
      app.ready.then(list).catch((e) => app.showError(e));
    },
  };
}

/**
 * pattern is the input the runs share: one example of the model's first
 * input, a smooth pattern in [-1, 1] (any input will do to time a run and
 * compare outputs).
 * @param {Model} model
 */
function pattern(model) {
  const n = model.info.inputs[0].shape.reduce((a, d) => a * (d < 0 ? 1 : d), 1);
  return new Float32Array(n).map((_, i) => Math.sin(i * 0.01));
}

/** @param {Model} model @param {Record<string, Float32Array>} out */
function firstOutput(model, out) {
  return out[model.info.outputs[0].name];
}

/** @param {Float32Array} a @param {Float32Array} b */
function maxAbsDiff(a, b) {
  if (a.length !== b.length) return Infinity;
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}
