#!/usr/bin/env node
// node scripts/bench_summary.js OUT -> markdown tables from OUT/results.jsonl
'use strict';
const fs = require('fs'), path = require('path');
const dir = process.argv[2];
const rows = fs.readFileSync(path.join(dir, 'results.jsonl'), 'utf8').split('\n').filter(Boolean)
  .map((l) => { try { return JSON.parse(l); } catch { return null; } }).filter(Boolean);
const f = (x) => x == null ? '-' : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3);
const models = ['lenet5', 'mobilenet_v1_025_128'];
const out = [];
const env = path.join(dir, 'env.txt');
if (fs.existsSync(env)) out.push('```\n' + fs.readFileSync(env, 'utf8').trim() + '\n```\n');
const best = {};
function inferenceTable(title, inf, key) {
  const rts = [...new Set(inf.map((r) => r.runtime))];
  out.push(title);
  out.push('| runtime | ' + models.join(' | ') + ' | max abs diff vs tfjs-cpu, argmax |');
  out.push('|---|' + models.map(() => '---').join('|') + '|---|');
  for (const rt of rts) {
    const cells = models.map((m) => {
      const rs = inf.filter((r) => r.runtime === rt && r.model === m);
      if (!rs.length) return 'n/a';
      const b = rs.reduce((p, q) => (q.median_ms < p.median_ms ? q : p));
      best[key + '|' + rt + '|' + m] = b.median_ms;
      return `${f(b.median_ms)} / ${f(b.p90_ms)} (${f(Math.min(...rs.map((r) => r.min_ms)))}) [${rs.map((r) => f(r.median_ms)).join(', ')}]`;
    });
    const chk = models.map((m) => {
      const r = inf.find((r) => r.runtime === rt && r.model === m);
      const c = r && r.check; if (!c) return '-';
      if (c.ref === 'written') return 'ref';
      return `${(c.max_abs_diff_vs_ref || 0).toExponential(1)} ${c.argmax === c.ref_argmax ? 'ok' : 'ARGMAX MISMATCH'}`;
    }).join('; ');
    out.push(`| ${rt} | ${cells.join(' | ')} | ${chk} |`);
  }
  const others = rts.filter((r) => r !== 'edgenn-wasm-simd');
  if (rts.includes('edgenn-wasm-simd') && others.some((r) => !r.startsWith('edgenn'))) {
    out.push('\nSpeed-up of edgenn wasm SIMD over each runtime (ratio of best medians, > 1 = edgenn faster):\n');
    out.push('| runtime | ' + models.join(' | ') + ' |'); out.push('|---|' + models.map(() => '---').join('|') + '|');
    const ratio = (rt, m) => { const a = best[key + '|edgenn-wasm-simd|' + m], b = best[key + '|' + rt + '|' + m]; return a && b ? (b / a).toFixed(2) + 'x' : '-'; };
    for (const rt of others) out.push(`| ${rt} | ${models.map((m) => ratio(rt, m)).join(' | ')} |`);
  }
}
const infer = rows.filter((r) => r.mode === 'infer_b1' && r.median_ms != null);
inferenceTable('## Inference, batch 1, 20 warm-up runs (the anchors\' protocol), ms: median of the repeat with the lowest median / its p90 (min over repeats) [every repeat\'s median]',
  infer.filter((r) => (r.warmup ?? 20) <= 20), 'std');
const steady = infer.filter((r) => (r.warmup ?? 20) > 20);
if (steady.length) inferenceTable(`\n## Inference, batch 1, steady state (${steady[0].warmup} warm-up runs), ms: same columns`, steady, 'steady');
const imp = rows.filter((r) => r.mode === 'import_b1' && r.median_ms != null);
if (imp.length) {
  out.push('\n## Imported models (@vladmandic/human 3.3.6, TF.js graph models; edgenn: converted by `edgenn convert`), batch 1, 20 warm-up runs, ms: best median over repeats [every repeat\'s median]');
  const ms = ['emotion', 'blazeface'];
  out.push('| runtime | process | ' + ms.join(' | ') + ' |'); out.push('|---|---|' + ms.map(() => '---').join('|') + '|');
  const keys = [...new Set(imp.map((r) => r.runtime + '|' + (r.pin || 'free')))];
  for (const k of keys) {
    const [rt, pin] = k.split('|');
    const cells = ms.map((m) => {
      const rs = imp.filter((r) => r.runtime === rt && (r.pin || 'free') === pin && r.model === m);
      return rs.length ? `${f(Math.min(...rs.map((r) => r.median_ms)))} [${rs.map((r) => f(r.median_ms)).join(', ')}]` : '-';
    });
    out.push(`| ${rt} | ${pin === 'pinned' ? 'pinned to one CPU' : 'free'} | ${cells.join(' | ')} |`);
  }
}
const mem = rows.filter((r) => r.memory && r.memory.growth_runs > 0);
if (mem.length) {
  out.push('\n## Memory: activation arena; wasm linear memory (only grows, so its size is the peak) and Go heap Sys after timing, then after N more runs');
  out.push('| runtime | model | arena bytes | wasm memory | Go heap Sys | N more runs | wasm memory after | Go heap Sys after | mallocs per run |');
  out.push('|---|---|---|---|---|---|---|---|---|');
  for (const r of mem) { const m = r.memory; out.push(`| ${r.runtime} | ${r.model} | ${r.arena_bytes} | ${m.wasm_memory_bytes_after_timing || '-'} | ${m.sys_bytes_after_timing} | ${m.growth_runs} | ${m.wasm_memory_bytes_after_growth_runs || '-'} | ${m.sys_bytes_after_growth_runs} | ${m.mallocs_per_run} |`); }
}
const train = rows.filter((r) => r.mode && r.mode.startsWith('train_sgd_b'));
if (train.length) {
  out.push('\n## Training: one SGD step, ms (median / p90 (min)); LeNet-5 batch 32 (edgenn: 4 warm-up + 50 steps, TF.js: the anchors\' script), MobileNetV1-0.25-128 batch 8 (edgenn: 3 + 20, TF.js: scripts/anchor_train_mobilenet.js, 2 + 3)');
  out.push('| model | runtime | batch | variant | median / p90 (min) | samples/s | notes |'); out.push('|---|---|---|---|---|---|---|');
  for (const r of train) {
    const [, batch, rest] = r.mode.match(/^train_sgd_b(\d+)_?(.*)$/);
    const variant = rest.replace(/_trainOnBatch$|_optimizer\.minimize$/, (m) => ' ' + m.slice(1)) || 'full';
    const sps = r.median_ms ? ((v) => v.toFixed(v < 10 ? 2 : 0))(Number(batch) * 1000 / r.median_ms) : '-';
    out.push(`| ${r.model} | ${r.runtime} | ${batch} | ${variant} | ${r.error ? 'FAILED' : `${f(r.median_ms)} / ${f(r.p90_ms)} (${f(r.min_ms)})`} | ${r.error ? '-' : sps} | ${r.error || (r.loss_first != null ? `loss ${r.loss_first.toFixed(3)} -> ${r.loss_last.toFixed(3)}` : '')} |`);
  }
}
const gemm = rows.filter((r) => r.gemm);
if (gemm.length) {
  out.push('\n## GEMM in wasm (Go benchmarks under Node), GFLOP/s');
  const names = [...new Set(gemm.map((r) => r.gemm))];
  out.push('| benchmark | wasm SIMD | wasm scalar |'); out.push('|---|---|---|');
  for (const n of names) {
    const g = (b) => { const r = gemm.find((x) => x.gemm === n && x.build === b); return r ? r.gflops.toFixed(2) : '-'; };
    out.push(`| ${n} | ${g('wasm-simd')} | ${g('wasm-scalar')} |`);
  }
}
const e2e = rows.filter((r) => r.e2e);
if (e2e.length) {
  const med = (v) => { const s = [...v].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
  out.push('\n## The demo in headless Chromium (go test -run TestE2EDigits, real host on 127.0.0.1), ms');
  out.push('| measure | runs | median | all |'); out.push('|---|---|---|---|');
  for (const [k, name] of [['cold_start_ms', 'page load to first prediction (cold: new profile, no cache)'], ['predict_median_ms', 'one prediction, the page\'s own timer (median of its runs)']]) {
    const v = e2e.map((r) => r[k]);
    out.push(`| ${name} | ${v.length} | ${f(med(v))} | ${v.map(f).join(', ')} |`);
  }
}
const dl = rows.filter((r) => r.download);
if (dl.length) {
  out.push('\n## First visit downloads: every file the service worker caches, bytes as the host sends them');
  out.push('| file | raw | sent |'); out.push('|---|---|---|');
  for (const r of dl) out.push(`| ${r.download} | ${r.raw} | ${r.sent} |`);
  const sum = (k) => dl.reduce((s, r) => s + r[k], 0);
  const scalar = dl.find((r) => r.download.endsWith('edgenn-scalar.wasm'));
  out.push(`| total | ${sum('raw')} | ${sum('sent')} |`);
  if (scalar) out.push(`| total without edgenn-scalar.wasm (a browser with wasm SIMD runs edgenn.wasm) | - | ${sum('sent') - scalar.sent} |`);
}
const sizes = rows.filter((r) => r.size);
if (sizes.length) {
  out.push('\n## Download size, bytes');
  out.push('| file | raw | gzip -9 | brotli 11 |'); out.push('|---|---|---|---|');
  for (const r of sizes) out.push(`| ${r.size} | ${r.raw} | ${r.gzip9} | ${r.brotli} |`);
}
for (const r of rows.filter((r) => r.fatal || r.error)) out.push(`\nFAILED: ${r.runtime} ${r.mode || ''}: ${String(r.fatal || r.error).split('\n')[0]}`);
console.log(out.join('\n'));
