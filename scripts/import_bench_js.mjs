#!/usr/bin/env node
// import_bench_js times the imported models as a user runs them: edgenn.js
// with one worker on the shipped build/edgenn.wasm (not the CLI's host.wasm),
// each run a model.run round trip from the calling thread, with the anchors'
// protocol (W warm-up runs, then N timed). One JSON line per model, the same
// fields as scripts/anchor_import_bench.js, so the two can be read side by side.
//
//   node scripts/import_bench_js.mjs [N] [W] [--series] [--build DIR]   (defaults 200 20)
//
// --series adds each timed run's milliseconds, in order, as "series_ms";
// --build takes edgenn.wasm and wasm_exec.js from DIR instead of build/ (to
// time another build without replacing the shipped one).
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { EdgeNN } from "../www/edgenn.js";

const root = fileURLToPath(new URL("../", import.meta.url));
const argv = process.argv.slice(2);
const series = argv.includes("--series");
const bi = argv.indexOf("--build");
const buildDir = bi >= 0 ? argv[bi + 1] : join(root, "build/");
const args = argv.filter((a, i) => a !== "--series" && (bi < 0 || (i !== bi && i !== bi + 1)));
const runs = Number(args[0] ?? 200), warmup = Number(args[1] ?? 20);
const enn = await EdgeNN.start({ workers: 1, baseURL: buildDir.endsWith("/") ? buildDir : buildDir + "/" });
for (const name of ["emotion", "blazeface"]) {
  const m = await enn.load(join(root, "build/run-models", name + ".enn"));
  const shape = m.info.inputs[0].shape.slice(1);
  const x = new Float32Array(shape.reduce((a, b) => a * b, 1)).map((_, i) => ((i * 7919) % 255) / 127.5 - 1);
  for (let i = 0; i < warmup; i++) await m.run(x);
  const t = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await m.run(x);
    t.push(performance.now() - t0);
  }
  const series_ms = series ? t.map((v) => +v.toFixed(3)) : undefined;
  t.sort((a, b) => a - b);
  const median_ms = t[Math.floor(t.length / 2)], min_ms = t[0];
  console.log(JSON.stringify({ runtime: "edgenn-js-wasm-simd", model: name, mode: "import_b1", runs, warmup, median_ms, min_ms, series_ms }));
  m.dispose();
}
await enn.terminate();
