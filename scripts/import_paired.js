#!/usr/bin/env node
// node scripts/import_paired.js [MODEL] [N] [W] [--wasm FILE] [--hog CPU] [--series]
//
// TensorFlow.js's wasm SIMD backend and edgenn.wasm (a Go instance on this
// thread, called through its JS API as edgenn.js's worker calls it) in one
// process on one imported model (emotion or blazeface, default emotion):
// W warm-up runs of each, then N pairs, one edgenn run and one TF.js run
// each. Both see the same stretches of machine load, so the paired ratio
// holds on a VM where separate processes' medians swing.
//
// For each run it reads the thread's run-queue wait from
// /proc/self/task/PID/schedstat: a slow run with no wait was slowed on the
// CPU itself. --hog CPU adds the experiment that showed what that is: every
// other block of 40 pairs a busy loop runs pinned to CPU (run this script
// pinned to another, e.g. taskset -c 1 ... --hog 0), and the summary
// compares the blocks with and without it. On the 2-vCPU VM of issue 5 the
// two vCPUs share a physical core: a busy loop on one slows the other.
//
// Prints a summary line per phase (median of each side's no-wait runs, and
// TF.js / edgenn, > 1: edgenn faster); --series also prints every pair:
// "i edgenn_ms tfjs_ms edgenn_wait_ms tfjs_wait_ms phase". Needs NODE_PATH
// to the anchors' npm packages (with tfjs-converter), as
// scripts/anchor_import_bench.js does; default --wasm build/edgenn.wasm.
'use strict';
const fs = require('fs');
const path = require('path');
const { spawn, execFileSync } = require('child_process');

const root = path.join(__dirname, '..');
const argv = process.argv.slice(2);
const flag = (name) => { const i = argv.indexOf(name); if (i < 0) return undefined; const v = argv[i + 1]; argv.splice(i, 2); return v; };
const wasmPath = flag('--wasm') || path.join(root, 'build/edgenn.wasm');
const hogCPU = flag('--hog');
const series = argv.includes('--series');
const [name = 'emotion', N = '300', W = '20'] = argv.filter((a) => a !== '--series');
const shape = { emotion: [1, 64, 64, 1], blazeface: [1, 256, 256, 3] }[name];
if (!shape) { console.error(`unknown model ${name} (emotion or blazeface)`); process.exit(2); }

const schedstat = `/proc/self/task/${process.pid}/schedstat`;
const waitMs = () => +fs.readFileSync(schedstat, 'utf8').split(' ')[1] / 1e6;

async function tfjsRun() {
  const tf = require('@tensorflow/tfjs-core');
  require('@tensorflow/tfjs-backend-cpu');
  const tfc = require('@tensorflow/tfjs-converter');
  require('@tensorflow/tfjs-backend-wasm');
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  await tf.setBackend('wasm');
  await tf.ready();
  const m = await require('./anchor_import_bench.js').loadHumanGraph(tf, tfc, path.join(root, '.cache/human-models'), name);
  const x = tf.randomUniform(shape, -1, 1, 'float32', 7);
  return () => {
    let y = m.execute(x);
    if (!Array.isArray(y)) y = [y];
    for (const t of y) { t.dataSync(); t.dispose(); }
  };
}

async function edgennRun() {
  globalThis.require = require;
  globalThis.fs = fs;
  globalThis.path = path;
  const goroot = execFileSync('go', ['env', 'GOROOT'], { env: { ...process.env, GOTOOLCHAIN: 'go1.27.3' } }).toString().trim();
  require(path.join(goroot, 'lib/wasm/wasm_exec.js'));
  const go = new Go();
  const ready = new Promise((resolve) => { globalThis.edgennReady = resolve; });
  const { instance } = await WebAssembly.instantiate(fs.readFileSync(wasmPath), go.importObject);
  go.run(instance);
  const api = await ready;
  const h = api.load(new Uint8Array(fs.readFileSync(path.join(root, 'build/run-models', name + '.enn'))));
  if (h instanceof Error) throw h;
  const x = new Float32Array(shape.reduce((a, b) => a * b, 1)).map((_, i) => ((i * 7919) % 255) / 127.5 - 1);
  return () => { const r = api.run(h, x); if (r instanceof Error) throw r; };
}

async function main() {
  const runT = await tfjsRun();
  const runE = await edgennRun();
  const time = (f) => {
    const w0 = waitMs(), t0 = process.hrtime.bigint();
    f();
    return [Number(process.hrtime.bigint() - t0) / 1e6, waitMs() - w0];
  };
  for (let i = 0; i < +W; i++) { runE(); runT(); }
  let hog = null, phase = 'none';
  const rows = [];
  for (let i = 0; i < +N; i++) {
    if (hogCPU !== undefined && i % 40 === 0) {
      if (hog) { hog.kill(); hog = null; }
      phase = (i / 40) % 2 === 1 ? 'hog' : 'none';
      if (phase === 'hog') {
        hog = spawn('taskset', ['-c', hogCPU, process.execPath, '-e', 'let x = 0; for (;;) x = (x * 1664525 + 1013904223) | 0;'], { stdio: 'ignore' });
        const until = Date.now() + 300; // let it start
        while (Date.now() < until);
      }
    }
    const [e, we] = time(runE);
    const [t, wt] = time(runT);
    rows.push({ e, t, we, wt, phase });
    if (series) console.log(i, e.toFixed(3), t.toFixed(3), we.toFixed(3), wt.toFixed(3), phase);
  }
  if (hog) hog.kill();
  const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
  for (const ph of [...new Set(rows.map((r) => r.phase))]) {
    const rs = rows.filter((r) => r.phase === ph && r.we < 0.2 && r.wt < 0.2);
    if (!rs.length) continue;
    const e = median(rs.map((r) => r.e)), t = median(rs.map((r) => r.t));
    console.log(JSON.stringify({ model: name, phase: ph, pairs_without_wait: rs.length, edgenn_median_ms: +e.toFixed(3), tfjs_median_ms: +t.toFixed(3), tfjs_over_edgenn: +(t / e).toFixed(3) }));
  }
  process.exit(0);
}
main().catch((e) => { console.error(e); process.exit(1); });
