// edgenn-worker.js: one worker of edgenn.js's pool. It runs its own Go
// instance of edgenn.wasm and answers the pool's calls one at a time (a Go
// instance is single-threaded). It runs as a module Web Worker in browsers and
// as a worker_threads Worker in Node; edgenn.js starts it, nothing else should.
//
// Protocol (structured-clone messages):
//   pool -> worker  {id, op, ...args}                  one call
//                   {op: "abort", target}              stop a fit between epochs
//   worker -> pool  {id, ok: true, result}             a call's result
//                   {id, ok: false, error}             its failure (the message)
//                   {id, event}                        progress of a fit
//                   {sourceResult, result}             a source task's result
//                   {crashed: reason}                  the Go instance died; the
//                                                      pool terminates the worker
// The first call is {op: "init", module, wasmExecURL}: the compiled
// WebAssembly.Module (compiled once by the pool) and wasm_exec.js's URL.
// A source's worker reaches each pool worker (its lanes) on a MessagePort
// of its own, set up by the page: {call, model, input} one way,
// {call, outputs | error} back, without passing through the page.

const isNode = typeof process === "object" && !!process.versions?.node && typeof WorkerGlobalScope === "undefined";

/** @type {{post(msg: any, transfer?: Transferable[]): void}} */
let port;
/** @type {(handler: (msg: any) => void) => void} */
let listen;
if (isNode) {
  const { parentPort } = await import("node:worker_threads");
  port = { post: (m, t) => parentPort.postMessage(m, t) };
  listen = (h) => parentPort.on("message", h);
} else {
  port = { post: (m, t) => self.postMessage(m, t || []) };
  listen = (h) => { self.onmessage = (e) => h(e.data); };
}

let api = null; // globalThis.edgenn of this worker's Go instance
let go = null;
let memory = null;
let stderrTail = ""; // the Go runtime's last output: a panic's message
const aborted = new Set(); // fit calls asked to stop
let dead = false;

// crashed reports that this Go instance can take no more calls; the pool
// terminates the worker, rejects the calls still queued here and replaces it.
function crashed(reason) {
  if (dead) return;
  dead = true;
  const lines = stderrTail.split("\n").filter((l) => l.trim() !== "");
  const panic = lines.find((l) => /^(panic|fatal error): /.test(l));
  port.post({ crashed: panic ? panic : reason });
}

// call runs one Go API function; a returned Error becomes a throw.
function call(name, ...args) {
  let r;
  try {
    r = api[name](...args);
  } catch (e) {
    // A throw from Go's side means its instance is gone (an exit, a trap).
    crashed(e && e.message ? e.message : String(e));
    throw e;
  }
  if (go.exited) {
    crashed("the Go program exited");
    throw new Error("edgenn: the Go program exited");
  }
  if (r instanceof Error) throw r;
  return r;
}

// nextTask lets queued messages (an abort) in between two epochs without the
// 4 ms clamp of nested setTimeout in browsers.
function nextTask() {
  if (isNode) return new Promise((r) => setImmediate(r));
  return new Promise((r) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => { ch.port1.close(); r(); };
    ch.port2.postMessage(null);
  });
}

async function init({ module, wasmExecURL }) {
  await import(wasmExecURL); // defines globalThis.Go
  const write = globalThis.fs.writeSync;
  const decoder = new TextDecoder();
  globalThis.fs.writeSync = function (fd, buf) {
    stderrTail = (stderrTail + decoder.decode(buf)).slice(-4096);
    return write.call(this, fd, buf);
  };
  go = new globalThis.Go();
  const ready = new Promise((resolve) => { globalThis.edgennReady = resolve; });
  const instance = await WebAssembly.instantiate(module, go.importObject);
  memory = instance.exports.mem;
  go.run(instance).then(() => crashed("the Go program exited"));
  api = await ready;
  return { version: api.version, simd: api.simd };
}

// The pool names models and trainers by its own keys, the same on every
// worker, so that a call can follow a load without waiting for its handle.
const handles = new Map(); // pool key -> Go handle

function handle(key) {
  const h = handles.get(key);
  if (h === undefined) throw new Error(`edgenn: nothing with key ${key} on this worker (disposed?)`);
  return h;
}

/** The pool's operations, by name. Each returns [result, transfer]. */
const ops = {
  init: async (m) => [await init(m)],
  info: () => [{ ...call("info"), memoryBytes: memory.buffer.byteLength }],
  load: (m) => {
    const h = call("load", m.bytes);
    handles.set(m.model, h);
    return [call("describe", h)];
  },
  run: (m) => {
    const outs = call("run", handle(m.model), ...m.inputs);
    return [outs, outs.map((o) => o.buffer)];
  },
  profile: (m) => [call("profile", handle(m.model), m.runs, ...m.inputs)],
  // Split execution, for offloading (edgenn-peer.js).
  cuts: (m) => [call("cuts", handle(m.model), m.runs, ...m.inputs)],
  runHead: (m) => {
    const x = call("runHead", handle(m.model), m.cut, ...m.inputs);
    return [x, [x.buffer]];
  },
  runTail: (m) => {
    const outs = call("runTail", handle(m.model), m.at, m.input);
    return [outs, outs.map((o) => o.buffer)];
  },
  detect: (m) => [call("detect", handle(m.model), m.minScore, m.iou, m.maxOut, ...m.inputs)],
  evaluate: (m) => [call("evaluate", handle(m.model), m.xs, m.ys)],
  free: (m) => {
    const h = handles.get(m.key);
    handles.delete(m.key);
    return [h === undefined ? undefined : call(m.trainer ? "freeTrainer" : m.source ? "sourceClose" : "free", h)];
  },
  trainer: (m) => {
    handles.set(m.trainer, call("trainer", handle(m.model), m.options));
    return [undefined];
  },
  step: (m) => [call("step", handle(m.trainer), m.xs, m.ys)],
  trainerEvaluate: (m) => [call("trainerEvaluate", handle(m.trainer), m.xs, m.ys)],
  save: (m) => {
    const b = call("save", handle(m.trainer), m.optimizerState, m.metadata);
    return [b, [b.buffer]];
  },
  fit: async (m) => {
    const th = handle(m.trainer);
    call("fitBegin", th, m.batchSize, m.xs, m.ys, m.evalXs, m.evalYs, m.epochs, m.seed, m.schedule, m.clipNorm);
    const history = [];
    try {
      const onBatch = (epoch, step, steps, loss) =>
        port.post({ id: m.id, event: { type: "batch", epoch: epoch + 1, step: step + 1, steps, loss } });
      for (let e = 0; e < m.epochs; e++) {
        await nextTask();
        if (aborted.has(m.id) || dead) break;
        const stats = call("fitEpoch", th, e, onBatch);
        history.push(stats);
        port.post({ id: m.id, event: { type: "epoch", ...stats } });
      }
    } finally {
      if (!dead && handles.get(m.trainer) === th) call("fitEnd", th);
    }
    return [{ history, aborted: aborted.delete(m.id) }];
  },
  // A pool worker's end of a source's lane: runs come straight from the
  // source's worker, in turn with this worker's other calls.
  lanePort: (m) => {
    /** @type {MessagePort} */
    const p = m.port;
    p.onmessage = (/** @type {MessageEvent} */ e) => {
      const r = e.data;
      queue = queue.then(() => {
        if (dead) return;
        try {
          const outs = call("run", handle(r.model), r.input);
          p.postMessage({ call: r.call, outputs: outs }, outs.map((/** @type {Float32Array} */ o) => o.buffer));
        } catch (err) {
          if (!dead) p.postMessage({ call: r.call, error: err && err.message ? err.message : String(err) });
        }
      });
    };
    return [undefined];
  },
  // A source: frames in, views prepared once, tasks scheduled over the
  // pool's workers, each reached on its lane port.
  sourceNew: (m) => {
    m.ports.forEach((/** @type {MessagePort} */ p, /** @type {number} */ i) => setLane(i, p));
    const h = call("sourceNew", m.lanes, laneCall, (/** @type {any} */ r) => {
      const transfer = (r.outputs || []).map((/** @type {Float32Array} */ o) => o.buffer);
      port.post({ sourceResult: m.source, result: r }, transfer);
    }, m.options);
    handles.set(m.source, h);
    return [undefined];
  },
  sourceAttach: (m) => {
    call("sourceAttach", handle(m.source), m.task);
    taskModels.set(m.task.name, m.model);
    return [undefined];
  },
  // A pool worker was replaced: its lane gets the new worker's port.
  sourceLane: (m) => {
    setLane(m.lane, m.port);
    return [undefined];
  },
  sourcePush: (m) => {
    let { rgba, width, height } = m;
    if (m.bitmap) {
      // Pixels are read here, in the source's worker, not on the page.
      width = m.bitmap.width;
      height = m.bitmap.height;
      if (!canvas || canvas.width !== width || canvas.height !== height) {
        canvas = new OffscreenCanvas(width, height);
        ctx = canvas.getContext("2d", { willReadFrequently: true });
      }
      ctx.drawImage(m.bitmap, 0, 0);
      m.bitmap.close();
      rgba = ctx.getImageData(0, 0, width, height).data;
    }
    const bytes = new Uint8Array(rgba.buffer, rgba.byteOffset, rgba.byteLength);
    return [call("sourcePush", handle(m.source), m.frame, m.time, width, height, bytes)];
  },
  sourceMetrics: (m) => [call("sourceMetrics", handle(m.source))],
  // A test hook: ways for a worker to die, so that the pool's recovery is tested.
  crash: (m) => {
    if (m.how === "panic") call("_crash");
    else if (m.how === "throw") {
      // Never answers: the uncaught error ends the worker first.
      return new Promise(() => setTimeout(() => { throw new Error("crash requested (test hook)"); }));
    }
    else if (m.how === "exit" && isNode) process.exit(3);
    else throw new Error(`edgenn: unknown crash ${m.how}`);
    return [undefined];
  },
};

// A source's lanes: its Go instance asks for a task to run on pool worker
// lane, which answers on the lane's port.
/** @type {Map<number, {resolve: (v: any) => void, reject: (e: Error) => void, lane: number}>} */
const lanes = new Map();
/** @type {MessagePort[]} */
const lanePorts = [];
/** @type {Map<string, number>} task name -> the pool's key of its model */
const taskModels = new Map();
let nextLaneCall = 1;

/** setLane (re)connects lane i; runs pending on its old worker fail. */
function setLane(i, p) {
  if (lanePorts[i]) {
    lanePorts[i].close();
    for (const [id, c] of lanes) {
      if (c.lane === i) {
        lanes.delete(id);
        c.reject(new Error(`worker ${i} crashed during the run`));
      }
    }
  }
  lanePorts[i] = p;
  p.onmessage = (/** @type {MessageEvent} */ e) => {
    const r = e.data;
    const c = lanes.get(r.call);
    lanes.delete(r.call);
    if (r.error !== undefined) c?.reject(new Error(r.error));
    else c?.resolve(r.outputs);
  };
}
/** @type {OffscreenCanvas | null} */
let canvas = null;
/** @type {any} */
let ctx = null;
function laneCall(lane, task, batch, input) {
  const call = nextLaneCall++;
  return new Promise((resolve, reject) => {
    const p = lanePorts[lane], model = taskModels.get(task);
    if (!p || model === undefined) {
      reject(new Error(`no lane ${lane} or no task "${task}"`));
      return;
    }
    lanes.set(call, { resolve, reject, lane });
    p.postMessage({ call, model, input }, [input.buffer]);
  });
}

let queue = Promise.resolve();
listen((m) => {
  if (m.op === "abort") {
    aborted.add(m.target);
    return;
  }
  // Calls run in arrival order; a fit yields between epochs, letting other
  // calls (and an abort) in.
  const run = async () => {
    if (dead) return;
    try {
      const op = ops[m.op];
      if (!op) throw new Error(`edgenn: unknown worker call ${m.op}`);
      const [result, transfer] = await op(m);
      port.post({ id: m.id, ok: true, result }, transfer);
    } catch (e) {
      if (!dead) port.post({ id: m.id, ok: false, error: e && e.message ? e.message : String(e) });
    }
  };
  if (m.op === "fit") queue.then(run);
  else queue = queue.then(run);
});
