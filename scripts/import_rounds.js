#!/usr/bin/env node
// node scripts/import_rounds.js [--rounds R] [--runs N] [--warmup W] [--pin CPU]
//                               [--host NAME=FILE.wasm ...] [--js NAME=DIR ...]
//
// Issue 5's comparison in interleaved rounds: each round runs TensorFlow.js's
// wasm SIMD backend on the @vladmandic/human emotion and BlazeFace graph
// models (scripts/anchor_import_bench.js), then every edgenn build named by
// --host (the CLI's bench, through scripts/wasm_run.js) and by --js (edgenn.js
// with one worker, scripts/import_bench_js.mjs, on DIR's edgenn.wasm), all
// with the anchors' protocol: W warm-up runs, then N timed. On a noisy VM a
// single pair of figures says little: rounds interleave the runtimes so that
// each sees the same stretches of load, and the summary gives the median of
// the rounds' medians, the best min, and the ratio TF.js / edgenn (> 1:
// edgenn faster), with the load average around each round.
//
// Defaults: 3 rounds of 200 runs after 20 warm-ups, pinned to CPU 1 (--pin
// none runs free), --host edgenn=build/host.wasm. Needs ANCHORS and NODE_PATH
// as scripts/anchor_import_bench.js does. One JSON line per measurement on
// stdout as it comes ({round, runtime, model, median_ms, min_ms, load}), then
// the summary as a markdown table.
'use strict';
const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.join(__dirname, '..');
const opt = { rounds: 3, runs: 200, warmup: 20, pin: '1', host: [], js: [] };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const k = argv[i].replace(/^--/, ''), v = argv[++i];
  if (!(k in opt) || v === undefined) { console.error(`unknown or incomplete option ${argv[i - 1]}`); process.exit(2); }
  if (Array.isArray(opt[k])) opt[k].push(v); else opt[k] = v;
}
if (!opt.host.length && !opt.js.length) opt.host.push('edgenn=' + path.join(root, 'build/host.wasm'));
const named = (s) => { const i = s.indexOf('='); return i < 0 ? [path.basename(s), s] : [s.slice(0, i), s.slice(i + 1)]; };

function run(args) {
  const cmd = opt.pin === 'none' ? args : ['taskset', '-c', String(opt.pin), ...args];
  const out = execFileSync(cmd[0], cmd.slice(1), { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 26 });
  return out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
}

const rows = [];
function record(round, runtime, r) {
  const row = { round, runtime, model: r.model, median_ms: +r.median_ms.toFixed(3), min_ms: +r.min_ms.toFixed(3), load: +os.loadavg()[0].toFixed(2) };
  rows.push(row);
  console.log(JSON.stringify(row));
}

const models = ['emotion', 'blazeface'];
for (let round = 1; round <= +opt.rounds; round++) {
  for (const r of run(['node', 'scripts/anchor_import_bench.js', 'wasm-simd', '.cache/human-models', String(opt.runs), String(opt.warmup)])) {
    record(round, 'tfjs-wasm-simd', r);
  }
  for (const h of opt.host) {
    const [name, file] = named(h);
    for (const m of models) {
      for (const r of run(['node', 'scripts/wasm_run.js', file, 'bench', `build/run-models/${m}.enn`, '--runs', String(opt.runs), '--warmup', String(opt.warmup), '--json'])) {
        record(round, `${name} (host.wasm)`, r);
      }
    }
  }
  for (const j of opt.js) {
    const [name, dir] = named(j);
    for (const r of run(['node', 'scripts/import_bench_js.mjs', String(opt.runs), String(opt.warmup), '--build', dir])) {
      record(round, `${name} (edgenn.js)`, r);
    }
  }
}

const median = (a) => { const s = [...a].sort((x, y) => x - y); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const f = (x) => (x >= 10 ? x.toFixed(1) : x.toFixed(2));
const stat = (rt, m) => {
  const rs = rows.filter((r) => r.runtime === rt && r.model === m);
  return rs.length ? { med: median(rs.map((r) => r.median_ms)), min: Math.min(...rs.map((r) => r.min_ms)), all: rs.map((r) => r.median_ms) } : null;
};
const loads = rows.map((r) => r.load);
console.log(`\n${opt.rounds} rounds, ${opt.warmup} warm-ups + ${opt.runs} runs, ${opt.pin === 'none' ? 'free' : 'pinned to CPU ' + opt.pin}, load average ${Math.min(...loads)}-${Math.max(...loads)}; median of the rounds' medians [best min] {each round's median}, ms; ratio TF.js / edgenn (> 1: edgenn faster)\n`);
console.log('| runtime | ' + models.map((m) => `${m} | ratio`).join(' | ') + ' |');
console.log('|---|' + models.map(() => '---|---').join('|') + '|');
const tf = Object.fromEntries(models.map((m) => [m, stat('tfjs-wasm-simd', m)]));
for (const rt of [...new Set(rows.map((r) => r.runtime))]) {
  const cells = models.map((m) => {
    const s = stat(rt, m);
    if (!s) return 'n/a | -';
    const ratio = rt === 'tfjs-wasm-simd' || !tf[m] ? '-' : (tf[m].med / s.med).toFixed(2) + ' [' + (tf[m].min / s.min).toFixed(2) + ']';
    return `${f(s.med)} [${f(s.min)}] {${s.all.map(f).join(', ')}} | ${ratio}`;
  });
  console.log(`| ${rt} | ${cells.join(' | ')} |`);
}
if (fs.existsSync('/proc/loadavg')) console.log(`\nload average at the end: ${fs.readFileSync('/proc/loadavg', 'utf8').trim()}`);
