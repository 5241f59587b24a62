// edgenn.js: edgenn's JavaScript API. Models run, and train, in a pool of
// workers, each with its own Go instance of edgenn.wasm; the calling thread
// never runs a model. The same module runs in browsers (module Web Workers)
// and in Node >= 20 (worker_threads). Types: edgenn.d.ts.
//
//   import { EdgeNN } from "./edgenn.js";
//   const enn = await EdgeNN.start({ workers: 2 });
//   const model = await enn.load("/models/digits.enn", { onProgress });
//   const { output } = await model.run(pixels);          // Float32Array
//   const t = model.trainer({ optimizer: "adam", lr: 1e-3, trainable: ["dense_7/"] });
//   await t.fit(xs, ys, { epochs: 5, batchSize: 16, onBatch });
//   const mine = await t.toModel();
//
// Where things live: a model is loaded on every worker, so that concurrent
// runs spread over the pool (each run goes to the worker with the fewest
// calls in flight); the pool keeps the model's bytes to load it again on a
// worker that replaces a crashed one. A trainer lives on one worker.
//
// What crosses to a worker: inputs are copied once by postMessage (a
// Float32Array that is a view into a larger buffer is sliced first, so only
// its own bytes travel); with {transfer: true} a Float32Array that spans its
// whole ArrayBuffer is transferred instead (no copy; the caller's array is
// left empty). Arrays of other types are converted to Float32Array (a copy)
// and that copy is transferred. Inside the worker, each tensor is one bulk
// copy into the wasm memory, and outputs come back as transferred buffers.

/** @typedef {import("./edgenn.d.ts").StartOptions} StartOptions */
/** @typedef {import("./edgenn.d.ts").LoadOptions} LoadOptions */
/** @typedef {import("./edgenn.d.ts").ModelInfo} ModelInfo */
/** @typedef {import("./edgenn.d.ts").Inputs} Inputs */
/** @typedef {import("./edgenn.d.ts").RunOptions} RunOptions */
/** @typedef {import("./edgenn.d.ts").TrainerOptions} TrainerOptions */
/** @typedef {import("./edgenn.d.ts").FitOptions} FitOptions */
/** @typedef {import("./edgenn.d.ts").EpochStats} EpochStats */
/** @typedef {import("./edgenn.d.ts").Scores} Scores */
/** @typedef {import("./edgenn.d.ts").NodeCost} NodeCost */
/** @typedef {import("./edgenn.d.ts").Detection} Detection */
/** @typedef {import("./edgenn.d.ts").PoolInfo} PoolInfo */
/** @typedef {import("./edgenn.d.ts").Examples} Examples */
/** @typedef {import("./edgenn.d.ts").Labels} Labels */
/** @typedef {import("./edgenn.d.ts").SourceOptions} SourceOptions */
/** @typedef {import("./edgenn.d.ts").ViewOptions} ViewOptions */
/** @typedef {import("./edgenn.d.ts").AttachOptions} AttachOptions */
/** @typedef {import("./edgenn.d.ts").TaskResult} TaskResult */
/** @typedef {import("./edgenn.d.ts").SourceMetrics} SourceMetrics */
/** @typedef {import("./edgenn.d.ts").JoinOptions} JoinOptions */
/** @typedef {import("./edgenn.d.ts").CutInfo} CutInfo */
/** @typedef {import("./edgenn.d.ts").OffloadInfo} OffloadInfo */
/** @typedef {import("./edgenn-peer.js").Peers} Peers */

const isNode = !!(/** @type {any} */ (globalThis).process?.versions?.node) &&
  typeof window === "undefined" && !("WorkerGlobalScope" in globalThis);

/** Node's modules, imported on first start in Node only. @type {any} */
let node = null;
async function nodeModules() {
  if (!node) {
    const [wt, fs, url, path, os] = await Promise.all(
      ["node:worker_threads", "node:fs/promises", "node:url", "node:path", "node:os"].map((m) => import(m)));
    node = { Worker: wt.Worker, fs, pathToFileURL: url.pathToFileURL, path, os };
  }
  return node;
}

// A tiny module whose one function returns i8x16.popcnt(i8x16.splat(0)):
// it validates only where the runtime has WebAssembly SIMD128.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);

/** @param {string} msg */
function fail(msg) {
  return new Error("edgenn: " + msg);
}

/**
 * reason is a caught error's message for a new one that names it, without
 * its own "edgenn: " (so that fail(`...: ${reason(e)}`) says it once).
 * @param {unknown} e
 */
function reason(e) {
  return String(e instanceof Error ? e.message : e).replace(/^edgenn: /, "");
}

/** Marks the errors of calls a crashed worker took with it. */
const crashErrors = new WeakSet();

/**
 * toURL resolves a URL, or a string that is a URL or (in Node) a file path,
 * against base. dir makes a path name a folder.
 * @param {string | URL} x
 * @param {boolean} [dir]
 */
function toURL(x, dir = false) {
  if (x instanceof URL) return x;
  if (typeof x !== "string") throw fail(`expected a URL or a path, got ${typeof x}`);
  if (/^[a-z][a-z0-9+.-]+:/i.test(x)) return new URL(x);
  if (isNode) {
    const p = node.path.resolve(x);
    return node.pathToFileURL(dir && !p.endsWith(node.path.sep) ? p + node.path.sep : p);
  }
  return new URL(dir && !x.endsWith("/") ? x + "/" : x, globalThis.location?.href);
}

/**
 * readBytes reads a file: URL (Node) or fetches any other, reporting progress.
 * @param {URL} url
 * @param {((p: {loaded: number, total?: number}) => void)} [onProgress]
 * @returns {Promise<Uint8Array<ArrayBuffer>>}
 */
async function readBytes(url, onProgress) {
  if (url.protocol === "file:" && isNode) {
    const fh = await node.fs.open(url);
    try {
      const total = (await fh.stat()).size;
      const buf = new Uint8Array(total);
      let loaded = 0;
      while (loaded < total) {
        const { bytesRead } = await fh.read(buf, loaded, Math.min(1 << 20, total - loaded), loaded);
        if (bytesRead === 0) break;
        loaded += bytesRead;
        onProgress?.({ loaded, total });
      }
      if (total === 0) onProgress?.({ loaded, total });
      return buf.subarray(0, loaded);
    } finally {
      await fh.close();
    }
  }
  const res = await fetch(url);
  if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`.trim());
  // A compressed response's Content-Length counts the compressed bytes.
  const length = Number(res.headers.get("content-length"));
  const total = length > 0 && !res.headers.get("content-encoding") ? length : undefined;
  if (!onProgress || !res.body) {
    const b = new Uint8Array(await res.arrayBuffer());
    onProgress?.({ loaded: b.length, total: b.length });
    return b;
  }
  const chunks = [];
  let loaded = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    onProgress({ loaded, total });
  }
  const out = new Uint8Array(loaded);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/**
 * compileWasm compiles the module at url. Over HTTP without a progress
 * callback it streams (compileStreaming: the browser compiles while the
 * bytes arrive and can cache the compiled code between visits); a server
 * that does not send application/wasm, a file: URL or a progress callback
 * take the bytes first.
 * @param {URL} url
 * @param {((p: {loaded: number, total?: number}) => void)} [onProgress]
 */
async function compileWasm(url, onProgress) {
  /** @type {Uint8Array | undefined} */
  let bytes;
  try {
    if (url.protocol !== "file:" && !onProgress && typeof WebAssembly.compileStreaming === "function") {
      const res = await fetch(url);
      if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`.trim());
      if ((res.headers.get("content-type") || "").split(";")[0].trim() === "application/wasm") {
        return await WebAssembly.compileStreaming(res);
      }
      bytes = new Uint8Array(await res.arrayBuffer());
    } else {
      bytes = await readBytes(url, onProgress);
    }
    return await WebAssembly.compile(/** @type {Uint8Array<ArrayBuffer>} */ (bytes));
  } catch (e) {
    throw fail(`start: ${url.href}: ${reason(e)}`);
  }
}

/**
 * checkOptions rejects option names it does not know, so that a typo is an
 * error rather than a silently ignored setting.
 * @template T
 * @param {T | undefined} o
 * @param {string[]} allowed
 * @param {string} what
 * @returns {Partial<T>}
 */
function checkOptions(o, allowed, what) {
  if (o == null) return {};
  if (typeof o !== "object") throw fail(`${what} options must be an object`);
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw fail(`${what}: unknown option "${k}" (${allowed.join(", ")})`);
  }
  return o;
}

/**
 * Outgoing tensors and the buffers to transfer with them (see the header
 * comment for when an array is copied and when it is transferred).
 */
class Parcel {
  constructor(transfer = false) {
    this.transferCaller = transfer;
    /** @type {ArrayBuffer[]} */
    this.transfer = [];
  }

  /** @param {ArrayBufferView} a @param {boolean} owned */
  add(a, owned) {
    const whole = a.byteOffset === 0 && a.byteLength === a.buffer.byteLength && a.buffer instanceof ArrayBuffer;
    if (!whole) {
      a = /** @type {any} */ (a).slice();
      owned = true;
    }
    if ((owned || this.transferCaller) && !this.transfer.includes(/** @type {ArrayBuffer} */ (a.buffer))) {
      this.transfer.push(/** @type {ArrayBuffer} */ (a.buffer));
    }
    return a;
  }

  /**
   * floats returns x as a Float32Array: itself, a conversion of another
   * typed array or of an array of numbers, or the concatenation of an array
   * of Float32Arrays (one per example).
   * @param {any} x @param {string} what
   */
  floats(x, what) {
    if (x instanceof Float32Array) return this.add(x, false);
    if (Array.isArray(x) && x.length > 0 && ArrayBuffer.isView(x[0])) {
      const n = x.reduce((s, e) => s + e.length, 0);
      const out = new Float32Array(n);
      let off = 0;
      for (const e of x) {
        out.set(e, off);
        off += e.length;
      }
      return this.add(out, true);
    }
    if ((ArrayBuffer.isView(x) && !(x instanceof DataView)) || Array.isArray(x)) {
      return this.add(Float32Array.from(/** @type {ArrayLike<number>} */ (x)), true);
    }
    throw fail(`${what} must be a Float32Array, a typed array or an array of numbers, got ${describeValue(x)}`);
  }

  /** @param {any} y @param {string} what */
  labels(y, what) {
    if (y instanceof Int32Array) return this.add(y, false);
    if ((ArrayBuffer.isView(y) && !(y instanceof DataView)) || Array.isArray(y)) {
      return this.add(Int32Array.from(/** @type {ArrayLike<number>} */ (y)), true);
    }
    throw fail(`${what} must be an Int32Array or an array of class indices, got ${describeValue(y)}`);
  }
}

/**
 * scheduleSpec checks FitOptions.schedule and returns it as the worker takes
 * it: "" (none), "cosine FLOOR" or "step EVERY GAMMA".
 * @param {any} s
 */
function scheduleSpec(s) {
  if (s == null) return "";
  const bad = () => fail(`fit: schedule must be {type: "cosine", floor?} or {type: "step", every, gamma}, got ${JSON.stringify(s)}`);
  if (typeof s !== "object") throw bad();
  if (s.type === "cosine") {
    const floor = s.floor ?? 0;
    if (Object.keys(s).some((k) => k !== "type" && k !== "floor") || typeof floor !== "number" || !(floor >= 0 && floor <= 1)) throw bad();
    return `cosine ${floor}`;
  }
  if (s.type === "step") {
    if (Object.keys(s).some((k) => !["type", "every", "gamma"].includes(k)) || !Number.isInteger(s.every) || s.every < 1 ||
      typeof s.gamma !== "number" || !(s.gamma > 0 && s.gamma <= 1)) throw bad();
    return `step ${s.every} ${s.gamma}`;
  }
  throw bad();
}

/** @param {any} x */
function describeValue(x) {
  if (x === null) return "null";
  if (typeof x !== "object") return typeof x;
  return x.constructor?.name || "object";
}

/** One worker of the pool: its Go instance and the calls it has in flight. */
class Slot {
  /**
   * @param {Pool} pool
   * @param {number} index
   */
  constructor(pool, index) {
    this.pool = pool;
    this.index = index;
    /** @type {Map<number, {resolve: (v: any) => void, reject: (e: Error) => void, onEvent?: (e: any) => void}>} */
    this.pending = new Map();
    this.dead = false;
    this.ready = false;
    this.completed = 0;
    /** @type {Promise<void>} resolves once a dead worker has stopped */
    this.stopped = Promise.resolve();
    /** @type {string | undefined} */
    this.crashReason = undefined;
    /** @type {((reason: string) => void) | undefined} tells a source its worker died */
    this.onCrash = undefined;
    /** An open source's worker keeps Node running: its results come unasked. */
    this.keepAlive = false;
    /** @type {((m: any) => void) | undefined} a source worker's results */
    this.onSourceResult = undefined;
    this.worker = spawn(pool.workerURL, `edgenn-${index}`, {
      message: (m) => this.receive(m),
      failure: (reason) => this.crash(reason),
    });
  }

  /**
   * call posts one operation and resolves with its result; msg.id is set.
   * @param {any} msg
   * @param {Transferable[]} [transfer]
   * @param {(e: any) => void} [onEvent]
   * @returns {Promise<any>}
   */
  call(msg, transfer = [], onEvent) {
    if (this.dead) return Promise.reject(this.lostError());
    msg.id = this.pool.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(msg.id, { resolve, reject, onEvent });
      if (this.pending.size === 1) this.worker.ref();
      this.worker.post(msg, transfer);
    });
  }

  /** @param {any} m */
  receive(m) {
    if (this.dead) return;
    if (m.crashed !== undefined) {
      this.crash(m.crashed);
      return;
    }
    if (m.sourceResult !== undefined) {
      this.onSourceResult?.(m);
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) return;
    if (m.event !== undefined) {
      p.onEvent?.(m.event);
      return;
    }
    this.pending.delete(m.id);
    if (this.pending.size === 0 && !this.keepAlive) this.worker.unref();
    this.completed++;
    if (m.ok) p.resolve(m.result);
    else p.reject(new Error(m.error.startsWith("edgenn: ") ? m.error : "edgenn: " + m.error));
  }

  lostError() {
    return fail(this.pool.terminated ? "the pool was terminated" : `worker ${this.index} crashed: ${this.crashReason}`);
  }

  /**
   * crash retires this worker: its pending calls reject with the reason, and
   * a fresh worker takes its place with every model loaded again.
   * @param {string} reason
   */
  crash(reason) {
    if (this.dead) return;
    this.dead = true;
    this.crashReason = reason;
    this.stopped = this.worker.terminate();
    for (const p of this.pending.values()) {
      const e = this.lostError();
      crashErrors.add(e);
      p.reject(e);
    }
    this.pending.clear();
    this.onCrash?.(reason);
    if (!this.pool.terminated && this.ready && this.index >= 0) this.pool.replace(this);
  }

  /** @param {WebAssembly.Module} module */
  async init(module) {
    const r = await this.call({ op: "init", module, wasmExecURL: this.pool.wasmExecURL.href });
    this.ready = true;
    return r;
  }
}

/**
 * spawn starts the worker script and adapts Node's and the browser's Worker
 * to one shape.
 * @param {URL} url
 * @param {string} name
 * @param {{message: (m: any) => void, failure: (reason: string) => void}} on
 */
function spawn(url, name, on) {
  if (isNode) {
    const w = new node.Worker(url, { name });
    w.on("message", on.message);
    w.on("error", (/** @type {Error} */ e) => on.failure(e?.message || String(e)));
    w.on("messageerror", (/** @type {Error} */ e) => on.failure("a message could not be read: " + (e?.message || e)));
    w.on("exit", (/** @type {number} */ code) => on.failure(`exited with code ${code}`));
    w.unref();
    return {
      /** @param {any} m @param {Transferable[]} t */
      post: (m, t) => w.postMessage(m, /** @type {any} */ (t)),
      terminate: () => w.terminate().then(() => {}),
      // Idle workers do not keep Node running: a script that forgets
      // terminate() still ends.
      ref: () => w.ref(),
      unref: () => w.unref(),
    };
  }
  const w = new Worker(url, { type: "module", name });
  w.onmessage = (e) => on.message(e.data);
  w.onerror = (e) => {
    e.preventDefault();
    on.failure(e.message || "the worker script failed to load or threw");
  };
  w.onmessageerror = () => on.failure("a message could not be read");
  return {
    /** @param {any} m @param {Transferable[]} t */
    post: (m, t) => w.postMessage(m, t),
    terminate: () => Promise.resolve(w.terminate()),
    ref: () => {},
    unref: () => {},
  };
}

/** The pool of workers behind an EdgeNN. */
class Pool {
  constructor() {
    this.nextId = 1;
    this.nextKey = 1;
    /** @type {Slot[]} */
    this.slots = [];
    /** @type {Set<Model>} */
    this.models = new Set();
    /** @type {Set<Source>} open sources, whose lanes are this pool's workers */
    this.sources = new Set();
    this.terminated = false;
    /** @type {URL} */ this.workerURL = new URL("x:");
    /** @type {URL} */ this.wasmExecURL = new URL("x:");
    /** @type {WebAssembly.Module | null} */ this.module = null;
  }

  live() {
    return this.slots.filter((s) => !s.dead);
  }

  /** pick returns the live worker with the fewest calls in flight. */
  pick() {
    let best = null;
    for (const s of this.slots) {
      if (!s.dead && (!best || s.pending.size < best.pending.size)) best = s;
    }
    if (!best) throw fail(this.terminated ? "the pool was terminated" : "no worker is alive");
    return best;
  }

  /** @param {Slot} old */
  replace(old) {
    const s = new Slot(this, old.index);
    this.slots[old.index] = s;
    const ready = s.init(/** @type {WebAssembly.Module} */ (this.module));
    ready.catch(() => {});
    const loads = [...this.models].map((m) => m._loadOn(s).catch(() => {}));
    Promise.all([ready, ...loads]).then(() => { for (const src of this.sources) src._rewire(s); }, () => {});
  }
}

/** The entry point: a pool of workers running edgenn.wasm. */
export class EdgeNN {
  /** @param {Pool} pool @param {{version: string, simd: boolean}} first @param {URL} wasmURL */
  constructor(pool, first, wasmURL) {
    /** @internal */
    this._pool = pool;
    /** The API version of the wasm module. */
    this.version = first.version;
    /** Whether the workers run the SIMD build. */
    this.simd = first.simd;
    /** The wasm file the workers run. */
    this.wasmURL = wasmURL.href;
    /** @internal @type {Peers | null} the room joined, if any */
    this._peers = null;
  }

  /**
   * join connects to the host's peer hub (a URL such as "/hub" in a page,
   * an absolute ws: or http: URL in Node) and joins a room with its token.
   * The other peers can then take part of this pool's runs
   * (model.run(x, {offload})), and this pool serves theirs: it announces
   * the models it has loaded with what their layers cost here. edgenn-peer.js
   * is loaded on the first join only.
   * @param {string | URL} hubURL @param {JoinOptions} options
   * @returns {Promise<Peers>}
   */
  async join(hubURL, options) {
    const o = checkOptions(options, ["room", "token", "name", "throttle", "direct", "transport", "WebSocket"], "join");
    if (this._pool.terminated) throw fail("the pool was terminated");
    if (this._peers && !this._peers.closed) throw fail(`join: already in room ${this._peers.room} (close it first)`);
    const { join } = await import("./edgenn-peer.js");
    const peers = await join(this, hubURL, /** @type {any} */ (o));
    this._peers = peers;
    return peers;
  }

  /** Whether this runtime supports WebAssembly SIMD128. */
  static simdSupported() {
    return WebAssembly.validate(SIMD_PROBE);
  }

  /**
   * start compiles edgenn.wasm (or edgenn-scalar.wasm where the runtime has
   * no wasm SIMD) once and starts the workers, each instantiating it.
   * @param {StartOptions} [options]
   * @returns {Promise<EdgeNN>}
   */
  static async start(options) {
    const o = checkOptions(options, ["workers", "baseURL", "wasmURL", "wasmExecURL", "workerURL", "simd", "onProgress"], "start");
    if (isNode) await nodeModules();
    const simd = o.simd ?? "auto";
    if (simd !== "auto" && simd !== true && simd !== false) throw fail(`start: simd must be "auto", true or false`);
    const useSIMD = simd === "auto" ? EdgeNN.simdSupported() : simd;
    if (useSIMD && !EdgeNN.simdSupported()) throw fail("start: simd: true, but this runtime has no WebAssembly SIMD");
    const base = o.baseURL !== undefined ? toURL(o.baseURL, true) : new URL("./", import.meta.url);
    const wasmURL = o.wasmURL !== undefined ? toURL(o.wasmURL) : new URL(useSIMD ? "edgenn.wasm" : "edgenn-scalar.wasm", base);
    const n = o.workers ?? defaultWorkers();
    if (!Number.isInteger(n) || n < 1 || n > 64) throw fail(`start: workers must be an integer in [1, 64], got ${n}`);

    const pool = new Pool();
    pool.workerURL = o.workerURL !== undefined ? toURL(o.workerURL) : new URL("./edgenn-worker.js", import.meta.url);
    pool.wasmExecURL = o.wasmExecURL !== undefined ? toURL(o.wasmExecURL) : new URL("wasm_exec.js", base);
    pool.module = await compileWasm(wasmURL, o.onProgress);
    for (let i = 0; i < n; i++) pool.slots.push(new Slot(pool, i));
    try {
      const infos = await Promise.all(pool.slots.map((s) => s.init(/** @type {WebAssembly.Module} */ (pool.module))));
      return new EdgeNN(pool, infos[0], wasmURL);
    } catch (e) {
      pool.terminated = true;
      for (const s of pool.slots) s.crash("start failed");
      throw e;
    }
  }

  /**
   * source makes one input for many tasks: a video, canvas or image (read
   * at options.fps, default 15), an async iterable of frames (ImageBitmap,
   * ImageData or {data, width, height}), or null to push frames by hand.
   * @param {any} input @param {SourceOptions} [options]
   * @returns {Source}
   */
  source(input, options) {
    const o = checkOptions(options, ["fps", "maxFrames", "maxBytes", "onError"], "source");
    if (o.onError !== undefined && typeof o.onError !== "function") throw fail("source: onError must be a function");
    if (this._pool.terminated) throw fail("the pool was terminated");
    return new Source(this, input, o);
  }

  /** The number of workers in the pool. */
  get workers() {
    return this._pool.slots.length;
  }

  /**
   * load fetches a model (a URL, or in Node a file path or file: URL), or
   * takes its bytes, and compiles it on every worker.
   * @param {string | URL | Uint8Array | ArrayBuffer} src
   * @param {LoadOptions} [options]
   * @returns {Promise<Model>}
   */
  async load(src, options) {
    const o = checkOptions(options, ["onProgress", "name"], "load");
    const pool = this._pool;
    if (pool.terminated) throw fail("the pool was terminated");
    let bytes, label;
    if (src instanceof Uint8Array) {
      bytes = src.slice();
      label = "bytes";
    } else if (src instanceof ArrayBuffer) {
      bytes = new Uint8Array(src.slice(0));
      label = "bytes";
    } else {
      const url = toURL(/** @type {string | URL} */ (src));
      label = typeof src === "string" ? src : url.href;
      try {
        bytes = await readBytes(url, o.onProgress);
      } catch (e) {
        throw fail(`load ${label}: ${reason(e)}`);
      }
    }
    const model = new Model(this, pool.nextKey++, bytes);
    pool.models.add(model);
    try {
      // A worker that crashes meanwhile is replaced, and its replacement
      // loads every model in pool.models, this one included.
      const infos = await Promise.all(pool.live().map((s) => model._loadOn(s).catch((e) => {
        if (crashErrors.has(e)) return null;
        throw e;
      })));
      const info = infos.find((i) => i) ?? (await model._loadOn(pool.pick()));
      await model._describe(info, o.name, bytes);
    } catch (e) {
      model.dispose();
      throw fail(`load ${label}: ${reason(e)}`);
    }
    this._peers?._modelsChanged();
    return model;
  }

  /**
   * info reports the pool and each worker's memory.
   * @returns {Promise<PoolInfo>}
   */
  async info() {
    const pool = this._pool;
    const describe = async (/** @type {Slot} */ s) => {
      const base = { index: s.index, alive: !s.dead, pending: s.pending.size, completedCalls: s.completed };
      if (s.dead) return base;
      try {
        return { ...base, ...(await s.call({ op: "info" })) };
      } catch {
        return { ...base, alive: false };
      }
    };
    const workers = await Promise.all(pool.slots.map(describe));
    // Each open source has a worker of its own, outside the pool.
    const sources = await Promise.all([...pool.sources].map((src) => describe(src._slot)));
    return { version: this.version, simd: this.simd, wasmURL: this.wasmURL, models: pool.models.size, workers, sources };
  }

  /** terminate stops every worker; calls in flight reject. */
  async terminate() {
    const pool = this._pool;
    this._peers?.close();
    pool.terminated = true;
    for (const s of pool.slots) s.crash("terminated");
    await Promise.all(pool.slots.map((s) => s.stopped));
  }

  /**
   * A test hook: makes worker index crash ("panic": its Go instance panics;
   * "throw": an uncaught error in the worker; "exit": process.exit, Node
   * only). Resolves with the rejection of the call that crashed it.
   * @param {number} index
   * @param {"panic" | "throw" | "exit"} [how]
   * @returns {Promise<Error>}
   */
  _crashWorker(index, how = "panic") {
    return this._pool.slots[index].call({ op: "crash", how }).then(
      () => fail("the worker did not crash"), (e) => e);
  }
}

function defaultWorkers() {
  const cores = isNode ? node.os.availableParallelism() : globalThis.navigator?.hardwareConcurrency ?? 2;
  return Math.max(1, Math.min(4, cores - 1));
}

/** A model loaded on every worker of the pool. */
export class Model {
  /** @param {EdgeNN} enn @param {number} key @param {Uint8Array} bytes */
  constructor(enn, key, bytes) {
    /** @internal */ this._enn = enn;
    /** @internal */ this._key = key;
    /** @internal */ this._bytes = bytes;
    /** @private */ this._disposed = false;
    /** @type {ModelInfo} */
    this.info = /** @type {any} */ (null);
    /** Where the last run with an offload option ran, and what it cost. @type {OffloadInfo | null} */
    this.lastOffload = null;
  }

  /**
   * _call runs one worker call on this model, on the least busy worker.
   * @internal @param {any} msg @param {Transferable[]} [transfer]
   * @returns {Promise<any>}
   */
  _call(msg, transfer) {
    this._check();
    return this._enn._pool.pick().call({ ...msg, model: this._key }, transfer);
  }

  /** @param {Slot} s @returns {Promise<any>} */
  _loadOn(s) {
    return s.call({ op: "load", model: this._key, bytes: this._bytes });
  }

  /** @param {any} d @param {string | undefined} name @param {Uint8Array<ArrayBuffer>} bytes */
  async _describe(d, name, bytes) {
    let sha256;
    if (globalThis.crypto?.subtle) {
      const h = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
      sha256 = Array.from(h, (b) => b.toString(16).padStart(2, "0")).join("");
    }
    const labels = d.metadata.labels ? String(d.metadata.labels).split(",") : undefined;
    this.info = Object.freeze({ name: name ?? d.name, inputs: d.inputs, outputs: d.outputs, labels, metadata: d.metadata,
      weights: d.weights ?? [], bytes: bytes.length, sha256 });
  }

  /** @internal */
  _check() {
    if (this._disposed) throw fail(`model "${this.info?.name}" is disposed`);
  }

  /**
   * _inputs checks the inputs and orders them as the model takes them.
   * @param {Inputs} x @param {Parcel} parcel
   */
  _inputs(x, parcel) {
    const ins = this.info.inputs;
    if (ArrayBuffer.isView(x) || Array.isArray(x)) {
      if (ins.length !== 1) {
        throw fail(`model "${this.info.name}" takes ${ins.length} inputs (${ins.map((i) => i.name).join(", ")}): pass an object of name to Float32Array`);
      }
      return [parcel.floats(x, `input "${ins[0].name}"`)];
    }
    if (x === null || typeof x !== "object") throw fail(`run takes a Float32Array or an object of input name to Float32Array, got ${describeValue(x)}`);
    for (const k of Object.keys(x)) {
      if (!ins.some((i) => i.name === k)) {
        throw fail(`model "${this.info.name}" has no input "${k}" (inputs: ${ins.map((i) => i.name).join(", ")})`);
      }
    }
    return ins.map((i) => {
      if (!(i.name in x)) throw fail(`missing input "${i.name}" of model "${this.info.name}"`);
      return parcel.floats(/** @type {any} */ (x)[i.name], `input "${i.name}"`);
    });
  }

  /**
   * run runs the whole model once on one worker: a batch of any size, the
   * inputs' lengths a multiple of their per-example sizes.
   * @param {Inputs} inputs
   * @param {RunOptions} [options]
   * @returns {Promise<Record<string, Float32Array>>}
   */
  async run(inputs, options) {
    this._check();
    const o = /** @type {RunOptions} */ (checkOptions(options, ["transfer", "offload", "cut"], "run"));
    const offload = o.offload ?? "never";
    if (typeof offload !== "string" || offload === "") throw fail(`run: offload must be "auto", "never" or a peer's id, got ${describeValue(offload)}`);
    if (o.cut !== undefined && (!Number.isInteger(o.cut) || o.cut < 0)) throw fail(`run: cut must be a cut's position (model.cuts()), got ${o.cut}`);
    const parcel = new Parcel(!!o.transfer);
    const xs = this._inputs(inputs, parcel);
    const peers = this._enn._peers;
    if (offload !== "never" && offload !== "auto" && !peers) throw fail(`run: offload to peer "${offload}", but not in a room (EdgeNN.join first)`);
    /** @type {Float32Array[]} */
    let outs;
    if (offload !== "never" && peers) outs = await peers._run(this, /** @type {Float32Array[]} */ (xs), offload, o.cut);
    else if (peers && peers.throttle > 1) [outs] = await peers._work(() => this._call({ op: "run", inputs: xs }, parcel.transfer));
    else outs = await this._enn._pool.pick().call({ op: "run", model: this._key, inputs: xs }, parcel.transfer);
    /** @type {Record<string, Float32Array>} */
    const res = {};
    this.info.outputs.forEach((v, i) => { res[v.name] = outs[i]; });
    return res;
  }

  /**
   * detect runs a detector model (one whose metadata names its
   * post-processing, e.g. BlazeFace) on one image and resolves to its
   * detections, best first: score in [0, 1], box [xmin, ymin, xmax, ymax] and
   * keypoints [x, y], normalised to the model's input.
   * @param {Inputs} inputs
   * @param {{minScore?: number, iou?: number, maxOut?: number}} [options]
   * @returns {Promise<Detection[]>}
   */
  async detect(inputs, options) {
    this._check();
    const o = checkOptions(options, ["minScore", "iou", "maxOut"], "detect");
    const minScore = o.minScore ?? 0.5, iou = o.iou ?? 0.3, maxOut = o.maxOut ?? 20;
    if (!(minScore >= 0 && minScore <= 1) || !(iou >= 0 && iou <= 1) || !Number.isInteger(maxOut) || maxOut < 1) {
      throw fail("detect: minScore and iou must be in [0, 1] and maxOut a positive integer");
    }
    const parcel = new Parcel();
    const xs = this._inputs(inputs, parcel);
    return this._enn._pool.pick().call({ op: "detect", model: this._key, minScore, iou, maxOut, inputs: xs }, parcel.transfer);
  }

  /**
   * profile times every compiled node of the model on one worker, over runs
   * runs (default 10) of inputs (default: one example of zeros).
   * @param {Inputs} [inputs]
   * @param {{runs?: number}} [options]
   * @returns {Promise<NodeCost[]>}
   */
  async profile(inputs, options) {
    this._check();
    const o = checkOptions(options, ["runs"], "profile");
    const parcel = new Parcel();
    const x = inputs ?? Object.fromEntries(this.info.inputs.map((i) =>
      [i.name, new Float32Array(i.shape.reduce((n, d, j) => (j === 0 && d < 0 ? n : n * d), 1))]));
    const xs = this._inputs(x, parcel);
    return this._enn._pool.pick().call({ op: "profile", model: this._key, runs: o.runs ?? 10, inputs: xs }, parcel.transfer);
  }

  /**
   * evaluate measures a classifier on labelled examples: mean cross-entropy
   * and accuracy.
   * @param {Examples} xs @param {Labels} ys
   * @returns {Promise<Scores>}
   */
  async evaluate(xs, ys) {
    this._check();
    const parcel = new Parcel();
    const msg = { op: "evaluate", model: this._key, xs: parcel.floats(xs, "examples"), ys: parcel.labels(ys, "labels") };
    return this._enn._pool.pick().call(msg, parcel.transfer);
  }

  /**
   * trainer prepares fine-tuning of this model's weights on one worker. The
   * model itself is not changed: save() or toModel() give the trained one.
   * Options are checked at once, on the worker; a bad one rejects the
   * trainer's first call.
   * @param {TrainerOptions} [options]
   * @returns {Trainer}
   */
  trainer(options) {
    this._check();
    const o = checkOptions(options, ["optimizer", "lr", "momentum", "nesterov", "weightDecay", "beta1", "beta2", "epsilon",
      "trainable", "batchSize", "loss", "seed"], "trainer");
    return new Trainer(this, o);
  }

  /**
   * cuts lists the places the model can be split between this device and a
   * peer (the cut points of its compiled graph), each with the time its
   * head takes here, profiled over runs runs (default 5) of one example of
   * zeros. The last keeps the whole model local.
   * @param {{runs?: number}} [options]
   * @returns {Promise<CutInfo[]>}
   */
  async cuts(options) {
    const o = checkOptions(options, ["runs"], "cuts");
    const x = this.info.inputs.map((i) => new Float32Array(i.shape.reduce((n, d) => n * (d < 0 ? 1 : d), 1)));
    return this._call({ op: "cuts", runs: o.runs ?? 5, inputs: x });
  }

  /** dispose frees the model on every worker; later calls reject. */
  dispose() {
    if (this._disposed) return;
    this._disposed = true;
    const pool = this._enn._pool;
    pool.models.delete(this);
    this._enn._peers?._modelsChanged();
    for (const s of pool.live()) s.call({ op: "free", key: this._key }).catch(() => {});
  }
}

/** Fine-tuning of a model on one worker; its calls run one after another. */
export class Trainer {
  /** @param {Model} model @param {TrainerOptions} options */
  constructor(model, options) {
    const pool = model._enn._pool;
    /** @private */ this._model = model;
    /** @private */ this._key = pool.nextKey++;
    /** @private */ this._slot = pool.pick();
    /** @private */ this._disposed = false;
    /** The batch size of fit when it does not name one. */
    this.batchSize = options.batchSize ?? 32;
    /** @private */
    this._created = this._slot.call({ op: "trainer", model: model._key, trainer: this._key, options });
    this._created.catch(() => {}); // its error is every later call's
    /** @private the end of the last call queued; never rejects */
    this._tail = Promise.resolve();
  }

  /**
   * _then runs f after the trainer's creation and earlier calls end.
   * @template T
   * @param {() => Promise<T>} f
   * @returns {Promise<T>}
   */
  _then(f) {
    const r = this._tail.then(() => this._created).then(() => {
      if (this._disposed) throw fail("trainer is disposed");
      if (this._slot.dead) throw fail(`trainer lost: worker ${this._slot.index} crashed: ${this._slot.crashReason}`);
      return f();
    });
    this._tail = r.then(() => {}, () => {});
    return r;
  }

  /**
   * fit trains for a number of epochs over shuffled batches of the examples
   * (a last partial batch is left out; the batch is the number of examples
   * when there are fewer). The data is copied to the worker once. signal
   * stops the fit between two epochs: it then rejects with signal.reason and
   * the weights of the completed epochs are kept.
   * @param {Examples} xs @param {Labels} ys @param {FitOptions} [options]
   * @returns {Promise<EpochStats[]>}
   */
  async fit(xs, ys, options) {
    const o = checkOptions(options, ["epochs", "batchSize", "seed", "schedule", "clipNorm", "validation", "onBatch", "onEpoch", "signal", "transfer"], "fit");
    const parcel = new Parcel(!!o.transfer);
    /** @type {any} */
    const msg = { op: "fit", trainer: this._key, epochs: o.epochs ?? 1, batchSize: o.batchSize ?? this.batchSize, seed: o.seed ?? 0,
      schedule: scheduleSpec(o.schedule), clipNorm: o.clipNorm ?? 0 };
    if (typeof msg.clipNorm !== "number" || !(msg.clipNorm >= 0)) throw fail(`fit: clipNorm must be a number >= 0, got ${msg.clipNorm}`);
    if (!Number.isInteger(msg.epochs) || msg.epochs < 1) throw fail(`fit: epochs must be a positive integer, got ${msg.epochs}`);
    if (!Number.isInteger(msg.batchSize) || msg.batchSize < 1) throw fail(`fit: batchSize must be a positive integer, got ${msg.batchSize}`);
    msg.xs = parcel.floats(xs, "examples");
    msg.ys = parcel.labels(ys, "labels");
    if (o.validation) {
      const [vx, vy] = Array.isArray(o.validation) ? o.validation : [o.validation.xs, o.validation.ys];
      msg.evalXs = parcel.floats(vx, "validation examples");
      msg.evalYs = parcel.labels(vy, "validation labels");
    }
    return this._then(async () => {
      const signal = o.signal;
      signal?.throwIfAborted();
      /** @type {unknown} */
      let stopped;
      const abort = () => this._slot.worker.post({ op: "abort", target: msg.id }, []);
      const onAbort = () => { stopped ??= signal?.reason; abort(); };
      /** @param {any} e */
      const onEvent = (e) => {
        try {
          const { type, ...report } = e;
          if (type === "batch") o.onBatch?.(report);
          else o.onEpoch?.(report);
        } catch (err) {
          stopped ??= err; // a callback that throws stops the fit with its error
          abort();
        }
      };
      signal?.addEventListener("abort", onAbort);
      try {
        const r = await this._slot.call(msg, parcel.transfer, onEvent);
        if (stopped !== undefined || r.aborted) throw stopped ?? signal?.reason;
        return r.history;
      } finally {
        signal?.removeEventListener("abort", onAbort);
      }
    });
  }

  /**
   * step trains on one batch (xs holds the batch's examples concatenated)
   * and resolves with the batch's mean loss before the update.
   * @param {Examples} xs @param {Labels | Float32Array} ys class indices, or targets for loss "mse"
   * @returns {Promise<number>}
   */
  async step(xs, ys) {
    const parcel = new Parcel();
    const msg = { op: "step", trainer: this._key, xs: parcel.floats(xs, "examples"),
      ys: ys instanceof Float32Array ? parcel.floats(ys, "targets") : parcel.labels(ys, "labels") };
    return this._then(() => this._slot.call(msg, parcel.transfer));
  }

  /**
   * evaluate measures the current weights on labelled examples.
   * @param {Examples} xs @param {Labels} ys
   * @returns {Promise<Scores>}
   */
  async evaluate(xs, ys) {
    const parcel = new Parcel();
    const msg = { op: "trainerEvaluate", trainer: this._key, xs: parcel.floats(xs, "examples"), ys: parcel.labels(ys, "labels") };
    return this._then(() => this._slot.call(msg, parcel.transfer));
  }

  /**
   * save returns the trained model as a .enn file; with optimizerState, a
   * checkpoint from which a trainer resumes exactly; metadata entries are
   * set in the file (labels of a personalised model, say).
   * @param {{optimizerState?: boolean, metadata?: Record<string, string>}} [options]
   * @returns {Promise<Uint8Array>}
   */
  async save(options) {
    const o = checkOptions(options, ["optimizerState", "metadata"], "save");
    const metadata = o.metadata ?? {};
    if (typeof metadata !== "object" || Object.values(metadata).some((v) => typeof v !== "string")) {
      throw fail("save: metadata must be an object of strings");
    }
    return this._then(() => this._slot.call({ op: "save", trainer: this._key, optimizerState: !!o.optimizerState, metadata: { ...metadata } }));
  }

  /**
   * toModel loads the trained weights as a new Model on every worker.
   * @param {{name?: string}} [options]
   * @returns {Promise<Model>}
   */
  async toModel(options) {
    const o = checkOptions(options, ["name"], "toModel");
    const bytes = await this.save();
    return this._model._enn.load(bytes, { name: o.name ?? this._model.info.name });
  }

  /** dispose frees the trainer once its calls in flight end. */
  dispose() {
    if (this._disposed) return;
    this._disposed = true;
    const slot = this._slot;
    this._tail.then(() => slot.call({ op: "free", key: this._key, trainer: true })).catch(() => {});
  }
}

/**
 * One input shared by many tasks (enn.source). Frames enter once; a source
 * worker, with its own Go instance, prepares each distinct view of a frame
 * once and schedules the tasks over the pool's workers: priorities, target
 * rates, the newest frame only (stale ones are dropped and counted), chains
 * (a detector's boxes cropped for a second model) and shedding when the
 * device cannot keep up.
 */
export class Source {
  /** @param {EdgeNN} enn @param {any} input @param {SourceOptions} o */
  constructor(enn, input, o) {
    const pool = enn._pool;
    /** @internal */ this._enn = enn;
    /** @internal */ this._key = pool.nextKey++;
    /** @internal */ this._closed = false;
    /** @internal @type {Map<string, {model: Model, callback: (r: TaskResult) => void, boxes?: string, chained: boolean}>} */
    this._tasks = new Map();
    /** @internal */ this._frame = 0;
    /** @internal @type {{msg: any, resolve: (v: boolean) => void, reject: (e: unknown) => void} | undefined} the newest pushed frame, not yet sent */
    this._waiting = undefined;
    /** @internal */ this._pumping = false;
    /** @internal frames a newer push replaced before they were sent */
    this._replaced = 0;
    /** @internal */
    this._onError = o.onError ?? ((/** @type {Error} */ e) => console.error(e));
    /** @internal */ this._slot = new Slot(pool, -1);
    this._slot.onCrash = (/** @type {string} */ reason) => {
      if (!this._closed) this._report(fail(`the source's worker crashed: ${reason}`));
    };
    this._slot.onSourceResult = (/** @type {any} */ m) => this._result(m.result);
    this._slot.keepAlive = true;
    this._slot.worker.ref();
    pool.sources.add(this);
    /** @internal */
    this._ready = this._slot.init(/** @type {WebAssembly.Module} */ (pool.module)).then(async () => {
      const ports = await Promise.all(pool.slots.map((s) => this._lanePort(s)));
      return this._slot.call({ op: "sourceNew", source: this._key, lanes: pool.slots.length, ports,
        options: { maxFrames: o.maxFrames ?? 0, maxBytes: o.maxBytes ?? 0 } }, ports);
    });
    this._ready.catch(() => {});
    /** @internal */ this._timer = undefined;
    if (input != null) this._capture(input, o.fps ?? 15);
  }

  /**
   * attach adds a task: model runs on the view of each frame it is given,
   * and callback gets each result. view names the part of the frame and
   * how it is prepared; where it is silent, the model's input decides
   * (size, channels: 1 means gray, layout). crop: "face" runs the model on
   * each box of the task that produces "face" boxes (a detector), batched.
   * @param {Model} model @param {ViewOptions} view
   * @param {(r: TaskResult) => void} callback @param {AttachOptions} [options]
   * @returns {Promise<void>}
   */
  async attach(model, view, callback, options) {
    if (this._closed) throw fail("the source is closed");
    model._check();
    if (typeof callback !== "function") throw fail("attach: callback must be a function");
    const o = checkOptions(options, ["name", "priority", "rate", "maxBoxes", "maxRuns", "boxes", "minScore", "iou", "maxOut"], "attach");
    const workers = this._enn._pool.slots.length;
    if (o.maxRuns !== undefined && !(Number.isInteger(o.maxRuns) && o.maxRuns >= 0 && o.maxRuns <= workers)) {
      throw fail(`attach: maxRuns must be an integer in 0..${workers} (the pool's workers), got ${o.maxRuns}`);
    }
    const name = o.name ?? model.info.name ?? `task${this._tasks.size + 1}`;
    if (this._tasks.has(name)) throw fail(`attach: a task named "${name}" is already attached (name it with options.name)`);
    const input = model.info.inputs[0];
    if (model.info.inputs.length !== 1) throw fail(`attach: model "${model.info.name}" takes ${model.info.inputs.length} inputs; a source feeds one`);
    const v = viewSpec(view, input.shape);
    /** @type {any} */
    const task = { name, priority: o.priority ?? 0, rate: o.rate ?? 0, maxBoxes: o.maxBoxes ?? 0, maxRuns: o.maxRuns ?? 0, view: v, inputShape: input.shape.slice(1) };
    if (v.crop && v.crop !== "box") {
      const parent = [...this._tasks].find(([, t]) => t.boxes === v.crop);
      if (!parent) throw fail(`attach: view crop "${v.crop}": no attached task produces "${v.crop}" boxes (attach the detector first)`);
      task.from = parent[0];
    }
    const post = model.info.metadata?.postprocess;
    let boxes;
    if (post) {
      boxes = o.boxes ?? (String(post).startsWith("blazeface") ? "face" : name);
      task.detector = { spec: String(post), outputShapes: model.info.outputs.map((x) => x.shape.slice(1)),
        minScore: o.minScore ?? 0.5, iou: o.iou ?? 0.3, maxOut: o.maxOut ?? 8 };
    } else if (o.boxes !== undefined) {
      throw fail(`attach: model "${model.info.name}" is not a detector (its metadata names no postprocess), so it produces no boxes`);
    }
    await this._ready;
    await this._slot.call({ op: "sourceAttach", source: this._key, task, model: model._key });
    this._tasks.set(name, { model, callback, boxes, chained: task.from !== undefined });
  }

  /**
   * push adds a frame by hand (a synthetic source, or Node): RGBA bytes,
   * width x height (copied at once: the caller may reuse them). Resolves
   * once the frame is in (not when tasks finish) with true, or with false
   * when a newer frame replaced it first: one frame goes to the source's
   * worker at a time and at most one waits, the newest, so frames pushed
   * faster than the worker takes them cost nothing there (counted in
   * metrics().provider.replaced).
   * @param {{data: Uint8Array | Uint8ClampedArray, width: number, height: number, time?: number}} frame
   * @returns {Promise<boolean>}
   */
  async push(frame) {
    if (this._closed) throw fail("the source is closed");
    const { data, width, height } = frame;
    if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray)) throw fail("push: data must be RGBA bytes (Uint8Array or Uint8ClampedArray)");
    if (data.length !== width * height * 4) throw fail(`push: a ${width}x${height} frame has ${width * height * 4} RGBA bytes, got ${data.length}`);
    const rgba = data.slice();
    const msg = { op: "sourcePush", source: this._key, frame: ++this._frame, time: frame.time ?? now(), rgba, width, height };
    return new Promise((resolve, reject) => {
      if (this._waiting) {
        this._waiting.resolve(false);
        this._replaced++;
      }
      this._waiting = { msg, resolve, reject };
      if (!this._pumping) this._pump();
    });
  }

  /** _pump sends the waiting frame, one at a time, until none waits. */
  async _pump() {
    this._pumping = true;
    try {
      await this._ready;
    } catch {
      // each waiting push gets the error from its own call below
    }
    while (this._waiting) {
      const w = this._waiting;
      this._waiting = undefined;
      try {
        await this._slot.call(w.msg, [w.msg.rgba.buffer]);
        w.resolve(true);
      } catch (e) {
        w.reject(e);
      }
    }
    this._pumping = false;
  }

  /**
   * metrics reports each task (rate, latency p50/p95, dropped frames,
   * errors, share of compute, its target and current rate) and the
   * provider (frames, views prepared and shared, bytes held).
   * @returns {Promise<SourceMetrics>}
   */
  async metrics() {
    if (this._closed) throw fail("the source is closed");
    await this._ready;
    const m = await this._slot.call({ op: "sourceMetrics", source: this._key });
    m.provider.replaced = this._replaced;
    return m;
  }

  /**
   * close stops capturing and scheduling; results still in flight are
   * dropped. Resolves once the source's worker has stopped.
   * @returns {Promise<void>}
   */
  close() {
    if (!this._closed) {
      this._closed = true;
      this._enn._pool.sources.delete(this);
      clearInterval(this._timer);
      if (this._waiting) {
        this._waiting.reject(fail("the source is closed"));
        this._waiting = undefined;
      }
      this._slot.crash("closed");
    }
    return this._slot.stopped;
  }

  /**
   * _report hands an error that belongs to no call (a frame that could not
   * be read, a callback that threw, a crash) to options.onError.
   * @param {unknown} e
   */
  _report(e) {
    try {
      this._onError(e instanceof Error ? e : new Error(String(e)));
    } catch {
      // an onError that throws has nowhere to go
    }
  }

  /**
   * _capture takes frames from a video, canvas or image (at fps) or from an
   * async iterable of frames (as they come).
   * @param {any} input @param {number} fps
   */
  _capture(input, fps) {
    const send = async (/** @type {any} */ img) => {
      if (this._closed) return;
      await this._ready;
      if (img && img.data && img.width) {
        await this.push(img);
        return;
      }
      const bitmap = await createImageBitmap(img);
      await this._slot.call({ op: "sourcePush", source: this._key, frame: ++this._frame, time: now(), bitmap }, [bitmap]);
    };
    const report = (/** @type {any} */ e) => this._report(e);
    if (typeof input[Symbol.asyncIterator] === "function") {
      (async () => {
        for await (const f of input) {
          if (this._closed) break;
          await send(f).catch(report);
        }
      })().catch(report);
      return;
    }
    if (!(fps > 0 && fps <= 240)) throw fail(`source: fps must be in (0, 240], got ${fps}`);
    let busy = false;
    this._timer = setInterval(() => {
      // A video that has no frame yet, or a capture still in flight, skips a tick.
      if (busy || (input.readyState !== undefined && input.readyState < 2)) return;
      busy = true;
      send(input).catch(report).finally(() => { busy = false; });
    }, 1000 / fps);
  }

  /**
   * _lanePort connects the source's worker to pool worker s: one end of a
   * MessageChannel goes to s, the other is returned for the source's
   * worker, so runs go between the two without passing through the page.
   * @param {Slot} s
   * @returns {Promise<MessagePort>}
   */
  async _lanePort(s) {
    const ch = new MessageChannel();
    await s.call({ op: "lanePort", port: ch.port1 }, [ch.port1]);
    return ch.port2;
  }

  /**
   * _rewire gives lane s.index the port of s, a worker that replaced a
   * crashed one; the runs pending on the old one fail as that task's errors.
   * @param {Slot} s
   */
  async _rewire(s) {
    if (this._closed) return;
    try {
      await this._ready;
      const port = await this._lanePort(s);
      await this._slot.call({ op: "sourceLane", source: this._key, lane: s.index, port }, [port]);
    } catch (e) {
      this._report(e);
    }
  }

  /** @param {any} r a task's result from the source worker */
  _result(r) {
    const t = this._tasks.get(r.task);
    if (!t || this._closed) return;
    /** @type {TaskResult} */
    const res = { task: r.task, frame: r.frame, batch: r.batch, latencyMs: r.latencyMs, computeMs: r.computeMs };
    if (r.error !== undefined) res.error = new Error(r.error);
    else {
      res.outputs = {};
      t.model.info.outputs.forEach((v, i) => { /** @type {any} */ (res.outputs)[v.name] = r.outputs[i]; });
      res.boxes = r.boxes;
      if (r.detections) res.detections = r.detections;
      if (t.chained) {
        // One item per box: its box and its slice of each output.
        res.items = r.boxes.map((/** @type {[number, number, number, number]} */ box, /** @type {number} */ i) => ({ box,
          outputs: Object.fromEntries(Object.entries(/** @type {Record<string, Float32Array>} */ (res.outputs)).map(([k, o]) => {
            const per = o.length / r.batch;
            return [k, o.subarray(i * per, (i + 1) * per)];
          })) }));
      }
    }
    try {
      t.callback(res);
    } catch (e) {
      this._report(e);
    }
  }
}

function now() {
  return globalThis.performance?.now() ?? Date.now();
}

/**
 * viewSpec checks a view's options and fills in what the model's input
 * decides: its size, gray for one channel, NCHW for [N, C, H, W] inputs.
 * @param {ViewOptions} view @param {number[]} shape the model's input shape
 */
function viewSpec(view, shape) {
  const o = checkOptions(view, ["crop", "box", "square", "enlarge", "resize", "fit", "filter", "color", "gray", "mean", "std", "layout"], "view");
  const nchw = o.layout ? o.layout === "nchw" : shape.length === 4 && (shape[1] === 1 || shape[1] === 3) && shape[3] !== 1 && shape[3] !== 3;
  const [h, w, c] = shape.length !== 4 ? [0, 0, 0] : nchw ? [shape[2], shape[3], shape[1]] : [shape[1], shape[2], shape[3]];
  const [width, height] = o.resize ?? [w, h];
  if (!(width > 0 && height > 0)) throw fail(`view: resize must be [width, height] (the model's input ${JSON.stringify(shape)} gives no size)`);
  const color = o.gray ? "gray" : o.color ?? (c === 1 ? "gray" : "rgb");
  /** @type {any} */
  const v = { width, height, color, layout: nchw ? "nchw" : "nhwc", fit: o.fit ?? "stretch", resize: o.filter ?? "bilinear" };
  if (o.crop !== undefined) v.crop = o.crop;
  if (o.box !== undefined) { v.crop = "box"; v.box = o.box; }
  if (o.square) v.square = true;
  if (o.enlarge !== undefined) v.enlarge = o.enlarge;
  if (o.mean !== undefined) v.mean = o.mean;
  if (o.std !== undefined) v.std = o.std;
  return v;
}
