#!/usr/bin/env node
// source_bench measures enn.source (one input, many tasks) against the
// pipeline a user writes without it, in Node on a pool of workers (issue 6).
//
//   node scripts/source_bench.mjs [--frames N] [--fps F] [--tasks 1,2,3,4]
//     [--mode provider,naive,isolated] [--workers 2] [--repeats R]
//     [--max-runs K]
//
// The input is a recorded sequence of 640x480 RGBA frames, made before any
// timing from the astronaut photo: a 4:3 window shrinking from 512 to 384
// pixels wide while drifting toward her face, scaled bilinearly. The tasks,
// in order (--tasks 3 means the first three):
//   1 face      BlazeFace, priority 2, 256x256 letterbox of the frame, x/127.5-1
//   2 emotion   on each face, priority 1, square crop x1.2, 64x64 gray, x/127.5-1
//   3 classify  MobileNet 0.25/128, priority 0, whole frame stretched, x/255
//   4 classify2 the same MobileNet under a second name, the same view
// provider: one Source, the tasks attached with those views (bilinear); the
// face detector may run on --max-runs workers at once (successive frames).
// naive: each task prepares its own input in plain JS from the RGBA frame,
// same geometry, then model.detect / model.run on the pool; the emotion
// task crops the faces the face task found on the frame and runs them as
// one batch. isolated: as naive, but each task a pipeline of its own that
// shares nothing: the emotion task runs the face detector on its own view
// of the frame first (face-api.js's detectAllFaces().withFaceExpressions()).
// Closed loop (--fps 0, default): the next frame goes in once
// every task has answered the current one. Paced (--fps F): frames come on
// a timer regardless; a busy task takes the newest frame when it is free
// (the older ones count as dropped).
//
// Output: one JSON line per (mode, tasks, fps) on stdout (medians over the
// repeats, which run interleaved), a table on stderr. The run checks that
// the face is found and that she is happy (emotion class 3), and exits 1 if
// not, so that a broken run is not reported as a fast one.
import { loadavg } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { EdgeNN } from "../www/edgenn.js";
import { photo, readPNG, root } from "../wasm/jsapi/fixtures.mjs";

const FW = 640, FH = 480;
/** The run's settings (main sets them from the command line). */
const cfg = { fps: 0, waitMs: 5000, maxRuns: 1 };
const HAPPY = 3;
const now = () => performance.now();

// ---- the recorded frames ----------------------------------------------

/** recordFrames makes the pan/zoom sequence from the photo. */
function recordFrames(img, n) {
  const frames = [];
  for (let f = 0; f < n; f++) {
    const t = n > 1 ? f / (n - 1) : 0;
    const w = 512 - 128 * t, h = (w * 3) / 4;
    const cx = 256 + (225 - 256) * t, cy = 256 + (127 - 256) * t;
    const x0 = Math.min(Math.max(cx - w / 2, 0), img.width - w), y0 = Math.min(Math.max(cy - h / 2, 0), img.height - h);
    const out = new Uint8Array(FW * FH * 4), src = img.data, iw = img.width, ih = img.height;
    for (let oy = 0; oy < FH; oy++) {
      const v = y0 + ((oy + 0.5) * h) / FH - 0.5, j = Math.floor(v), fy = v - j;
      const j0 = Math.max(0, Math.min(ih - 1, j)), j1 = Math.max(0, Math.min(ih - 1, j + 1));
      for (let ox = 0; ox < FW; ox++) {
        const u = x0 + ((ox + 0.5) * w) / FW - 0.5, i = Math.floor(u), fx = u - i;
        const i0 = Math.max(0, Math.min(iw - 1, i)), i1 = Math.max(0, Math.min(iw - 1, i + 1));
        const a = (j0 * iw + i0) * 4, b = (j0 * iw + i1) * 4, c = (j1 * iw + i0) * 4, d = (j1 * iw + i1) * 4;
        for (let k = 0; k < 3; k++) {
          const top = src[a + k] + (src[b + k] - src[a + k]) * fx, bot = src[c + k] + (src[d + k] - src[c + k]) * fx;
          out[(oy * FW + ox) * 4 + k] = Math.round(top + (bot - top) * fy);
        }
        out[(oy * FW + ox) * 4 + 3] = 255;
      }
    }
    frames.push({ data: out, width: FW, height: FH });
  }
  return frames;
}

// ---- the naive pipeline's preparation ----------------------------------

/**
 * prepareView is what a user writes without the provider: a bilinear
 * resample (half-pixel centres) of the crop [x, y, w, h] of an RGBA frame
 * into a W x H view, stretched or letterboxed (black around), RGB or gray
 * (BT.601), normalised (p - mean) / std, NHWC. Outside the frame is black.
 */
function prepareView(frame, [x, y, w, h], W, H, { gray = false, letterbox = false, mean = 0, std = 1 }) {
  let sx = W / w, sy = H / h, dx = 0, dy = 0;
  if (letterbox) {
    const k = Math.min(sx, sy);
    sx = sy = k;
    dx = (W - w * k) / 2;
    dy = (H - h * k) / 2;
  }
  const C = gray ? 1 : 3, out = new Float32Array(W * H * C), d = frame.data, fw = frame.width, fh = frame.height;
  const black = (0 - mean) / std;
  for (let oy = 0; oy < H; oy++) {
    const cy = oy + 0.5, v = y + (cy - dy) / sy;
    const rowIn = cy >= dy && cy < dy + h * sy && v >= 0 && v < fh;
    const p = v - 0.5, j = Math.floor(p), fy = p - j;
    const r0 = Math.max(0, Math.min(fh - 1, j)) * fw, r1 = Math.max(0, Math.min(fh - 1, j + 1)) * fw;
    for (let ox = 0; ox < W; ox++) {
      const o = (oy * W + ox) * C;
      const cx = ox + 0.5, u = x + (cx - dx) / sx;
      if (!rowIn || cx < dx || cx >= dx + w * sx || u < 0 || u >= fw) {
        for (let c = 0; c < C; c++) out[o + c] = black;
        continue;
      }
      const q = u - 0.5, i = Math.floor(q), fx = q - i;
      const c0 = Math.max(0, Math.min(fw - 1, i)), c1 = Math.max(0, Math.min(fw - 1, i + 1));
      const a = (r0 + c0) * 4, b = (r0 + c1) * 4, e = (r1 + c0) * 4, g = (r1 + c1) * 4;
      const px = (k) => {
        const top = d[a + k] + (d[b + k] - d[a + k]) * fx, bot = d[e + k] + (d[g + k] - d[e + k]) * fx;
        return top + (bot - top) * fy;
      };
      if (gray) out[o] = (0.2989 * px(0) + 0.587 * px(1) + 0.114 * px(2) - mean) / std;
      else for (let c = 0; c < 3; c++) out[o + c] = (px(c) - mean) / std;
    }
  }
  return out;
}

/** squareCrop is the square around a box, its side the longer side x enlarge. */
function squareCrop([x0, y0, x1, y1], enlarge) {
  const w = x1 - x0, h = y1 - y0, side = Math.max(w, h) * enlarge;
  return [x0 + (w - side) / 2, y0 + (h - side) / 2, side, side];
}

// ---- recording results --------------------------------------------------

function percentile(xs, p) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil(p * s.length) - 1)];
}

/** Record collects one task's results and resolves waiters for a frame. */
class Record {
  constructor(name, priority) {
    this.name = name;
    this.priority = priority;
    this.runs = 0;
    this.dropped = 0;
    this.errors = 0;
    /** @type {string[]} */ this.errorTexts = [];
    /** @type {number[]} */ this.lat = [];
    /** @type {number[]} */ this.srcLat = [];
    this.last = 0; // the newest frame answered
    this.lastTime = 0;
    /** @type {Set<number>} */ this.done = new Set();
    /** @type {any} */ this.lastResult = null;
    /** @type {{f: number, resolve: () => void}[]} */ this.waiters = [];
  }

  add(frame, latency, result) {
    this.runs++;
    this.lat.push(latency);
    if (result?.error) {
      this.errors++;
      if (this.errorTexts.length < 3) this.errorTexts.push(result.error.message ?? String(result.error));
    }
    if (result?.latencyMs !== undefined) this.srcLat.push(result.latencyMs);
    this.answer(frame, result);
  }

  /** answer marks frame answered (a result, or nothing to do on it). */
  answer(frame, result) {
    this.done.add(frame);
    if (frame >= this.last) {
      this.last = frame;
      if (result && !result.error) this.lastResult = result;
    }
    this.lastTime = now();
    this.waiters = this.waiters.filter((w) => (w.f <= this.last ? (w.resolve(), false) : true));
  }

  /** next resolves once a frame >= f is answered, or after ms (false). */
  next(f, ms) {
    if (this.last >= f) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.waiters = this.waiters.filter((w) => w !== entry); resolve(false); }, ms);
      const entry = { f, resolve: () => { clearTimeout(timer); resolve(true); } };
      this.waiters.push(entry);
    });
  }
}

/** Agent runs fn on the newest item offered; an item replaced while it waits is dropped. */
class Agent {
  constructor(rec, fn) {
    this.rec = rec;
    this.fn = fn;
    this.pending = null;
    this.busy = false;
  }
  offer(item) {
    if (this.pending) this.rec.dropped++;
    this.pending = item;
    if (!this.busy) this.loop();
  }
  async loop() {
    this.busy = true;
    while (this.pending) {
      const it = this.pending;
      this.pending = null;
      try {
        await this.fn(it);
      } catch (e) {
        this.rec.add(it.f, now() - it.t0, { error: e });
      }
    }
    this.busy = false;
  }
}

// ---- the two modes -------------------------------------------------------

const TASKS = [
  { name: "face", priority: 2 },
  { name: "emotion", priority: 1, chained: true },
  { name: "classify", priority: 0 },
  { name: "classify2", priority: 0 },
];
const unit = { mean: 127.5, std: 127.5 };

/**
 * drive feeds the frames, closed loop or paced, and waits for the answers.
 * feed(f) hands frame f (1-based) in; t0s[f] is its time. Returns the wall
 * time, first frame to last answer, and the waits that timed out.
 */
async function drive(frames, recs, feed, t0s) {
  const start = now();
  let timeouts = 0;
  const fps = cfg.fps, waitMs = cfg.waitMs;
  if (fps <= 0) {
    for (let f = 1; f <= frames.length; f++) {
      t0s[f] = now();
      feed(f);
      const ok = await Promise.all(recs.map((r) => r.next(f, waitMs)));
      timeouts += ok.filter((x) => !x).length;
    }
  } else {
    const period = 1000 / fps;
    await new Promise((resolve) => {
      let f = 0;
      const tick = () => {
        f++;
        t0s[f] = now();
        feed(f);
        if (f === frames.length) return resolve();
        setTimeout(tick, Math.max(0, start + f * period - now()));
      };
      tick();
    });
    const ok = await Promise.all(recs.map((r) => r.next(frames.length, waitMs)));
    timeouts += ok.filter((x) => !x).length;
  }
  const end = Math.max(...recs.map((r) => r.lastTime));
  return { wallMs: end - start, timeouts };
}

async function runProvider(ctx, nTasks, frames) {
  const { enn, models } = ctx;
  const recs = TASKS.slice(0, nTasks).map((t) => new Record(t.name, t.priority));
  const t0s = [];
  const src = enn.source(null, { onError: (e) => { ctx.sourceErrors.push(e.message); } });
  const cb = (rec) => (r) => rec.add(r.frame, now() - t0s[r.frame], r);
  const views = [
    () => src.attach(models.blazeface, { resize: [256, 256], fit: "letterbox", filter: "bilinear", ...unit }, cb(recs[0]),
      { name: "face", priority: 2, minScore: 0.5, maxRuns: cfg.maxRuns }),
    () => src.attach(models.emotion, { crop: "face", square: true, enlarge: 1.2, filter: "bilinear", ...unit }, cb(recs[1]),
      { name: "emotion", priority: 1 }),
    () => src.attach(models.mobilenet, { filter: "bilinear", std: 255 }, cb(recs[2]), { name: "classify", priority: 0 }),
    () => src.attach(models.mobilenet, { filter: "bilinear", std: 255 }, cb(recs[3]), { name: "classify2", priority: 0 }),
  ];
  for (let i = 0; i < nTasks; i++) await views[i]();
  const pushes = [];
  const { wallMs, timeouts } = await drive(frames, recs, (f) => {
    pushes.push(src.push(frames[f - 1]).catch((e) => ctx.sourceErrors.push(e.message)));
  }, t0s);
  await Promise.all(pushes);
  const m = await src.metrics();
  let sourceWorkerBytes;
  try {
    // The source's own worker is not in enn.info(); ask it directly.
    sourceWorkerBytes = (await src._slot.call({ op: "info" })).memoryBytes;
  } catch {
    sourceWorkerBytes = undefined;
  }
  await src.close();
  for (const [i, r] of recs.entries()) {
    const t = m.tasks.find((x) => x.name === r.name);
    r.metrics = t;
    // A frame a newer push replaced before the source's worker took it
    // never reached the tasks: each task reading frames dropped it.
    r.dropped = (t?.dropped ?? 0) + (TASKS[i].chained ? 0 : m.provider.replaced);
  }
  return { recs, wallMs, timeouts, prepared: m.provider.prepared, shared: m.provider.shared, replaced: m.provider.replaced,
    providerFrames: m.provider.frames, sourceWorkerBytes };
}

async function runNaive(ctx, nTasks, frames, isolated = false) {
  const { models } = ctx;
  const recs = TASKS.slice(0, nTasks).map((t) => new Record(t.name, t.priority));
  const t0s = [];
  let prepared = 0;
  const emoName = models.emotion.info.outputs[0].name, batchFree = models.emotion.info.inputs[0].shape[0] < 0;
  const mobName = models.mobilenet.info.outputs[0].name;
  // The face view, the detector and its boxes in frame pixels: the face
  // task's work, and in isolated mode the emotion task's first step too.
  const findFaces = async (frame) => {
    const input = prepareView(frame, [0, 0, FW, FH], 256, 256, { letterbox: true, ...unit });
    prepared++;
    const dets = await models.blazeface.detect(input, { minScore: 0.5, iou: 0.3, maxOut: 8 });
    // Back to frame pixels: the letterbox scale and offset.
    const k = Math.min(256 / FW, 256 / FH), dx = (256 - FW * k) / 2, dy = (256 - FH * k) / 2;
    const boxes = dets.map((d) => [(d.box[0] * 256 - dx) / k, (d.box[1] * 256 - dy) / k, (d.box[2] * 256 - dx) / k, (d.box[3] * 256 - dy) / k]);
    return { dets, boxes };
  };
  const emotionAgent = nTasks >= 2 && new Agent(recs[1], async ({ f, t0, boxes }) => {
    if (isolated) boxes = (await findFaces(frames[f - 1])).boxes;
    if (boxes.length === 0) return recs[1].answer(f, null);
    const crops = boxes.map((b) => { prepared++; return prepareView(frames[f - 1], squareCrop(b, 1.2), 64, 64, { gray: true, ...unit }); });
    let probs;
    if (batchFree) probs = (await models.emotion.run(crops))[emoName];
    else {
      const outs = await Promise.all(crops.map((c) => models.emotion.run(c)));
      probs = new Float32Array(outs.flatMap((o) => Array.from(o[emoName])));
    }
    recs[1].add(f, now() - t0, { frame: f, boxes, outputs: { [emoName]: probs }, batch: boxes.length });
  });
  const faceAgent = new Agent(recs[0], async ({ f, t0 }) => {
    const { dets, boxes } = await findFaces(frames[f - 1]);
    recs[0].add(f, now() - t0, { frame: f, detections: dets.map((d, i) => ({ ...d, box: boxes[i] })), boxes });
    if (emotionAgent && !isolated) emotionAgent.offer({ f, t0, boxes });
  });
  const classifier = (rec) => new Agent(rec, async ({ f, t0 }) => {
    const input = prepareView(frames[f - 1], [0, 0, FW, FH], 128, 128, { std: 255 });
    prepared++;
    const out = await models.mobilenet.run(input);
    rec.add(f, now() - t0, { frame: f, outputs: { [mobName]: out[mobName] } });
  });
  const roots = [faceAgent];
  if (isolated && emotionAgent) roots.push(emotionAgent);
  if (nTasks >= 3) roots.push(classifier(recs[2]));
  if (nTasks >= 4) roots.push(classifier(recs[3]));
  const { wallMs, timeouts } = await drive(frames, recs, (f) => {
    for (const a of roots) a.offer({ f, t0: t0s[f] });
  }, t0s);
  // An emotion run dropped because a newer face result came counts as dropped;
  // so does a frame the face task never ran on.
  return { recs, wallMs, timeouts, prepared };
}

// ---- one measured run ----------------------------------------------------

async function measure(ctx, mode, nTasks, frames) {
  const load0 = loadavg()[0];
  const r = mode === "provider" ? await runProvider(ctx, nTasks, frames) : await runNaive(ctx, nTasks, frames, mode === "isolated");
  const info = await ctx.enn.info();
  const n = frames.length;
  const results = r.recs.reduce((s, x) => s + x.runs, 0);
  let complete = 0;
  for (let f = 1; f <= n; f++) if (r.recs.every((x) => x.done.has(f))) complete++;
  return {
    mode, tasks: nTasks, fps: cfg.fps,
    resultsPerSec: (results / r.wallMs) * 1000,
    framesPerSec: (complete / r.wallMs) * 1000,
    framesComplete: complete,
    wallMs: r.wallMs,
    timeouts: r.timeouts,
    viewsPerFrame: r.prepared / n,
    ...(r.shared !== undefined ? { viewsShared: r.shared, framesReplaced: r.replaced } : {}),
    perTask: r.recs.map((x) => ({
      name: x.name, priority: x.priority, runs: x.runs, dropped: x.dropped, errors: x.errors,
      p50Ms: percentile(x.lat, 0.5), p95Ms: percentile(x.lat, 0.95),
      ...(x.metrics ? { srcP50Ms: x.metrics.p50Ms, srcP95Ms: x.metrics.p95Ms, laneMs: x.metrics.computeMs, share: x.metrics.share, shed: x.metrics.shed } : {}),
    })),
    rssMB: process.memoryUsage().rss / 2 ** 20,
    workerMB: info.workers.reduce((s, w) => s + (w.memoryBytes ?? 0), 0) / 2 ** 20,
    ...(r.sourceWorkerBytes !== undefined ? { sourceWorkerMB: r.sourceWorkerBytes / 2 ** 20 } : {}),
    load1: (load0 + loadavg()[0]) / 2,
    _recs: r.recs,
  };
}

/** check returns what is wrong with a run's answers (empty when fine). */
function check(res) {
  const bad = [];
  const [face, emo] = res._recs;
  for (const x of res._recs) if (x.errors) bad.push(`${x.name}: ${x.errors} errors: ${x.errorTexts.join("; ")}`);
  const dets = face.lastResult?.detections ?? [];
  if (dets.length < 1) bad.push(`face: no face on frame ${face.last}`);
  else {
    const [x0, y0, x1, y1] = dets[0].box;
    if (!(x0 >= 0 && y0 >= -20 && x1 <= FW && y1 <= FH && x1 - x0 > 60)) bad.push(`face: box ${dets[0].box.map(Math.round)} is not her face`);
  }
  if (emo) {
    const p = emo.lastResult?.outputs && Object.values(emo.lastResult.outputs)[0];
    const top = p ? p.indexOf(Math.max(...p.subarray(0, 7))) : -1;
    if (top !== HAPPY) bad.push(`emotion: top class ${top} on frame ${emo.last}, not happy (${HAPPY})`);
  }
  return bad;
}

// ---- medians and the table -------------------------------------------------

/** medianOf merges runs of the same shape: each number its median. */
function medianOf(xs) {
  const first = xs[0];
  if (typeof first === "number") return median(xs);
  if (Array.isArray(first)) return first.map((_, i) => medianOf(xs.map((x) => x[i])));
  if (first && typeof first === "object") {
    return Object.fromEntries(Object.keys(first).filter((k) => k !== "_recs").map((k) => [k, medianOf(xs.map((x) => x[k]))]));
  }
  return first;
}

function median(xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const round = (x, d = 1) => (Number.isFinite(x) ? Number(x.toFixed(d)) : x);
function rounded(o) {
  if (typeof o === "number") return round(o, Math.abs(o) >= 100 ? 0 : 2);
  if (Array.isArray(o)) return o.map(rounded);
  if (o && typeof o === "object") return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, rounded(v)]));
  return o;
}

function table(lines) {
  const rows = [["mode", "tasks", "fps", "res/s", "frm/s", "vs naive", "vs isolated", "views/frm", "face p50/p95", "p95/solo", "other p95 (ms)", "dropped", "rss/wrk MB", "load"]];
  for (const l of lines) {
    const top = l.perTask[0];
    rows.push([l.mode, String(l.tasks), String(l.fps), round(l.resultsPerSec).toString(), round(l.framesPerSec).toString(),
      l.throughputVsNaive !== undefined ? round(l.throughputVsNaive, 2) + "x" : "",
      l.throughputVsIsolated !== undefined ? round(l.throughputVsIsolated, 2) + "x" : "",
      round(l.viewsPerFrame, 2).toString(), `${round(top.p50Ms, 0)}/${round(top.p95Ms, 0)}`,
      l.topP95VsSolo !== undefined ? round(l.topP95VsSolo, 2) + "x" : "",
      l.perTask.slice(1).map((t) => `${t.name} ${round(t.p95Ms, 0)}`).join(", "),
      l.perTask.map((t) => t.dropped).join("/"),
      `${round(l.rssMB, 0)}/${round(l.workerMB + (l.sourceWorkerMB ?? 0), 0)}`, round(l.load1, 2).toString()]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join("  ")).join("\n");
}

// ---- main ------------------------------------------------------------------

async function main() {
  const { values: args } = parseArgs({
    options: {
      frames: { type: "string", default: "60" },
      fps: { type: "string", default: "0" },
      tasks: { type: "string", default: "1,2,3,4" },
      mode: { type: "string", default: "provider,naive" },
      workers: { type: "string", default: "2" },
      repeats: { type: "string", default: "1" },
      timeout: { type: "string", default: "5000" },
      "max-runs": { type: "string", default: "1" },
    },
  });
  const nFrames = Number(args.frames), fps = Number(args.fps), nWorkers = Number(args.workers);
  const repeats = Number(args.repeats), waitMs = Number(args.timeout);
  const taskCounts = args.tasks.split(",").map(Number);
  const modes = args.mode.split(",");
  if (!(nFrames >= 1) || !(fps >= 0) || taskCounts.some((n) => !(n >= 1 && n <= 4)) ||
    modes.some((m) => !["provider", "naive", "isolated"].includes(m)) || !(repeats >= 1)) {
    console.error("usage: node scripts/source_bench.mjs [--frames N] [--fps F] [--tasks 1,2,3,4] [--mode provider,naive,isolated] [--workers 2] [--repeats R] [--max-runs K]");
    process.exit(2);
  }
  cfg.fps = fps;
  cfg.waitMs = waitMs;
  cfg.maxRuns = Number(args["max-runs"]);
  const img = readPNG(photo);
  const frames = recordFrames(img, nFrames);
  const enn = await EdgeNN.start({ workers: nWorkers, baseURL: process.env.EDGENN_BUILD ?? join(root, "build") });
  const runModels = join(root, "build", "run-models");
  const models = {
    blazeface: await enn.load(join(runModels, "blazeface.enn")),
    emotion: await enn.load(join(runModels, "emotion.enn")),
    mobilenet: await enn.load(join(runModels, "mobilenet_v1_025_128.enn")),
  };
  const ctx = { enn, models, sourceErrors: /** @type {string[]} */ ([]) };

  // Warm-up, unmeasured: V8 tiers the wasm up in the background over the
  // first seconds, and the JS preparation needs optimising too.
  const warm = frames.slice(0, Math.min(frames.length, 30));
  const maxTasks = Math.max(...taskCounts);
  for (const mode of modes) await measure(ctx, mode, maxTasks, warm);

  const problems = [];
  /** @type {Map<string, any[]>} */
  const byKey = new Map();
  const lastBoxes = new Map();
  for (let rep = 0; rep < repeats; rep++) {
    const solo = {};
    for (const nTasks of taskCounts) {
      for (const mode of (rep % 2 ? [...modes].reverse() : modes)) {
        const res = await measure(ctx, mode, nTasks, frames);
        for (const p of check(res)) problems.push(`${mode} tasks=${nTasks} repeat ${rep + 1}: ${p}`);
        if (fps <= 0) lastBoxes.set(mode, res._recs[0].lastResult?.detections?.[0]?.box);
        if (nTasks === 1) solo[mode] = res.perTask[0].p95Ms;
        if (solo[mode] !== undefined) res.topP95VsSolo = res.perTask[0].p95Ms / solo[mode];
        const key = `${mode} ${nTasks}`;
        if (!byKey.has(key)) byKey.set(key, []);
        byKey.get(key).push(res);
        process.stderr.write(`  repeat ${rep + 1} ${mode} tasks=${nTasks}: ${round(res.resultsPerSec)} results/s, face p95 ${round(res.perTask[0].p95Ms)} ms\n`);
      }
    }
  }
  // Closed loop, both modes answered the same last frame: their face boxes agree.
  const [bp, bn] = [lastBoxes.get("provider"), lastBoxes.get("naive")];
  if (bp && bn && bp.some((v, i) => Math.abs(v - bn[i]) > 8)) problems.push(`face boxes differ: provider ${bp.map(Math.round)}, naive ${bn.map(Math.round)}`);
  if (ctx.sourceErrors.length) problems.push(`source errors: ${ctx.sourceErrors.slice(0, 3).join("; ")}`);

  const lines = [];
  for (const nTasks of taskCounts) {
    for (const mode of modes) {
      const runs = byKey.get(`${mode} ${nTasks}`);
      const m = medianOf(runs);
      m.repeats = runs.length;
      m.frames = nFrames;
      m.workers = nWorkers;
      lines.push(m);
    }
  }
  for (const l of lines) {
    if (l.mode !== "provider") continue;
    const naive = lines.find((x) => x.mode === "naive" && x.tasks === l.tasks);
    if (naive) l.throughputVsNaive = l.resultsPerSec / naive.resultsPerSec;
    const iso = lines.find((x) => x.mode === "isolated" && x.tasks === l.tasks);
    if (iso) l.throughputVsIsolated = l.resultsPerSec / iso.resultsPerSec;
  }
  for (const l of lines) console.log(JSON.stringify(rounded(l)));
  console.error(`\n${nFrames} frames ${FW}x${FH}, ${fps > 0 ? fps + " fps paced" : "closed loop"}, ${nWorkers} workers, medians of ${repeats}, load ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
  console.error(table(lines));
  await enn.terminate();
  if (problems.length) {
    console.error("\nFAILED:\n  " + problems.join("\n  "));
    process.exit(1);
  }
}

export { recordFrames, prepareView, squareCrop, runProvider, runNaive, TASKS };

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
