#!/usr/bin/env -S node --experimental-websocket
// offload_bench is issue 7's "offload pays" figure from the browser side: a
// peer running edgenn.js on the shipped wasm (here under Node), throttled
// 10x as a weak device, runs MobileNetV1 itself and offloaded to a native
// `edgenn worker` over loopback through a real `edgenn serve` hub.
//
//   node --experimental-websocket scripts/offload_bench.mjs [--model NAME]
//     [--throttle 10] [--runs 15]
//
// NAME is a zoo model (default mobilenet_v1_100_224); the script writes it
// with `build/edgenn zoo`, starts the host and the worker on a free port,
// waits for the worker's announce, then alternates local and offloaded runs
// (A/B, so the machine's noise hits both alike) after warm-ups. It checks
// that every offloaded output equals the local one and that the runs were
// offloaded, and prints the medians and the speedup (stderr: a line;
// stdout: JSON).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

import { EdgeNN } from "../www/edgenn.js";
import { build, freeAddr, listening, root } from "../wasm/jsapi/fixtures.mjs";

const { values: a } = parseArgs({ options: {
  model: { type: "string", default: "mobilenet_v1_100_224" },
  throttle: { type: "string", default: "10" },
  runs: { type: "string", default: "15" },
} });
const throttle = Number(a.throttle), runs = Number(a.runs);
if (typeof WebSocket === "undefined") throw new Error("run with node --experimental-websocket");

const bin = join(build, "edgenn");
const dir = mkdtempSync(join(tmpdir(), "edgenn-offload-"));
const procs = [];
const stop = () => { for (const p of procs) p.kill(); rmSync(dir, { recursive: true, force: true }); };
process.on("exit", stop);

const file = join(dir, `${a.model}.enn`);
await exec(bin, ["zoo", a.model, "-o", file]);
const addr = await freeAddr();
procs.push(spawn(bin, ["serve", "--addr", addr, "--hub-room", "bench=bench-token-1"], { cwd: root, stdio: "ignore" }));
await listening(addr);
procs.push(spawn(bin, ["worker", "--hub", `ws://${addr}/hub`, "--room", "bench", "--token", "bench-token-1", "--models", dir],
  { cwd: root, stdio: "ignore" }));

const enn = await EdgeNN.start({ workers: 1, baseURL: join(root, "build") + "/" });
const model = await enn.load(file);
const peers = await enn.join(`ws://${addr}/hub`, { room: "bench", token: "bench-token-1", throttle, name: "bench" });
const holds = () => peers.peers.some((p) => p.models.includes(model.info.sha256));
if (!holds()) {
  await new Promise((ok, fail) => {
    const t = setTimeout(() => fail(new Error("the worker announced nothing in 60 s")), 60_000);
    peers.on("announce", () => { if (holds()) { clearTimeout(t); ok(); } });
  });
}

const n = model.info.inputs[0].shape.reduce((m, d) => m * (d < 0 ? 1 : d), 1);
const x = new Float32Array(n);
for (let i = 0; i < n; i++) x[i] = Math.sin(i * 0.37) * 0.5 + 0.5;
const out = model.info.outputs[0].name;
const local = [], remote = [], cuts = new Map();
let ref = null, fallbacks = 0;
for (let i = -2; i < runs; i++) { // two warm-ups of each
  let t = performance.now();
  const h = await model.run(x);
  const lt = performance.now() - t;
  t = performance.now();
  const r = await model.run(x, { offload: "auto" });
  const rt = performance.now() - t;
  const info = model.lastOffload;
  ref ??= h[out];
  let d = 0;
  for (let k = 0; k < ref.length; k++) d = Math.max(d, Math.abs(r[out][k] - ref[k]), Math.abs(h[out][k] - ref[k]));
  if (d > 1e-4) throw new Error(`run ${i}: offloaded output differs from local by ${d}`);
  if (i < 0) continue;
  local.push(lt);
  remote.push(rt);
  if (info.fallback) fallbacks++;
  const where = info.peer ? info.tensor || "(input)" : "local";
  cuts.set(where, (cuts.get(where) ?? 0) + 1);
}
const med = (v) => [...v].sort((p, q) => p - q)[v.length >> 1];
const res = { model: a.model, throttle, runs, localMs: med(local), offloadMs: med(remote), speedup: med(local) / med(remote),
  cuts: Object.fromEntries(cuts), fallbacks };
console.error(`${a.model}, this peer throttled ${throttle}x, ${runs} runs each, alternating (medians): local ${res.localMs.toFixed(1)} ms, ` +
  `offloaded ${res.offloadMs.toFixed(1)} ms: ${res.speedup.toFixed(1)}x; splits ${JSON.stringify(res.cuts)}; fallbacks ${fallbacks}`);
console.log(JSON.stringify(res));
peers.close();
await enn.terminate();
if (!cuts.size || (cuts.get("local") ?? 0) === runs) {
  console.error("no run was offloaded");
  process.exitCode = 1;
}
process.exit();

function exec(cmd, args) {
  return new Promise((ok, fail) => {
    const p = spawn(cmd, args, { cwd: root, stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    p.stderr.on("data", (d) => { err += d; });
    p.on("close", (c) => (c === 0 ? ok() : fail(new Error(`${cmd} ${args.join(" ")}: exit ${c}: ${err}`))));
  });
}

