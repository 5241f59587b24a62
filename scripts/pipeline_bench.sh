#!/usr/bin/env bash
# scripts/pipeline_bench.sh: `edgenn pipeline` (issue 6: one input, many
# tasks) natively and as host.wasm (SIMD) under Node, REPEATS times each,
# interleaved, then the medians per (runtime, mode, tasks, fps).
#
#   1. --fps 0: a frame is pushed when every task has finished the one
#      before: throughput, 1 to 4 tasks, provider against the naive modes (naive, naive-tfjs, isolated).
#   2. --fps FPS_WASM / FPS_NATIVE: frames at a camera's pace, near the
#      lanes' capacity, so tasks compete: the top task's p95 against solo.
#
# Needs make run-models and scripts/fetch_photos.sh; build/edgenn and
# build/host.wasm (make build/edgenn build/host.wasm), or point EDGENN and
# HOST_WASM elsewhere. Raw JSON lines and stderr tables go to OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
EDGENN=${EDGENN:-build/edgenn}
HOST_WASM=${HOST_WASM:-build/host.wasm}
OUT=${OUT:-build/pipeline}
REPEATS=${REPEATS:-3}
FRAMES=${FRAMES:-120}
NATIVE_FRAMES=${NATIVE_FRAMES:-$FRAMES}
MODES=${MODES:-all}
FPS_WASM=${FPS_WASM:-8}
FPS_NATIVE=${FPS_NATIVE:-3}
mkdir -p "$OUT"
: >"$OUT/runs.jsonl"
: >"$OUT/tables.txt"

run() { # label, then the command
  local label=$1
  shift
  echo "== $label: $*" >>"$OUT/tables.txt"
  "$@" 2>>"$OUT/tables.txt" | sed "s/^{/{\"label\":\"$label\",/" >>"$OUT/runs.jsonl"
}

for r in $(seq "$REPEATS"); do
  echo "pipeline_bench: repeat $r of $REPEATS" >&2
  run throughput node scripts/wasm_run.js "$HOST_WASM" pipeline --frames "$FRAMES" --mode "$MODES" --tasks 1,2,3,4
  run throughput "$EDGENN" pipeline --frames "$NATIVE_FRAMES" --mode "$MODES" --tasks 1,2,3,4
  run paced node scripts/wasm_run.js "$HOST_WASM" pipeline --frames "$FRAMES" --mode "$MODES" --tasks 1,3,4 --fps "$FPS_WASM"
  run paced "$EDGENN" pipeline --frames "$NATIVE_FRAMES" --mode "$MODES" --tasks 1,3,4 --fps "$FPS_NATIVE"
done

node - "$OUT/runs.jsonl" <<'EOF'
const fs = require('fs');
const rows = fs.readFileSync(process.argv[2], 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]; };
const groups = new Map();
for (const r of rows) {
  const k = [r.label, r.runtime, r.fps, r.tasks, r.mode].join('|');
  if (!groups.has(k)) groups.set(k, []);
  groups.get(k).push(r);
}
const f = (x, d = 1) => (x === undefined ? '-' : x.toFixed(d));
console.log('| run | runtime | fps | tasks | mode | n | results/s | frames/s | views/frame | face p50 ms | face p95 ms | face p95 / solo | dropped (all tasks) | heap in use MiB | wasm MiB |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
const naive = new Map();
for (const [k, g] of groups) {
  const r0 = g[0];
  const face = (r) => r.per_task[0];
  const line = {
    rps: med(g.map((r) => r.results_per_sec)), fps: med(g.map((r) => r.frames_complete_per_sec)),
    p95: med(g.map((r) => face(r).p95_ms)),
  };
  if (r0.mode !== "provider") naive.set([r0.label, r0.runtime, r0.fps, r0.tasks, r0.mode].join('|'), line);
  console.log(`| ${r0.label} | ${r0.runtime} | ${r0.fps} | ${r0.tasks} | ${r0.mode} | ${g.length} | ${f(line.rps)} | ${f(line.fps, 2)} | ${f(r0.views_prepared_per_frame, 2)} | ` +
    `${f(med(g.map((r) => face(r).p50_ms)))} | ${f(line.p95)} | ${r0.tasks > 1 ? f(med(g.map((r) => r.top_p95_vs_solo)), 2) : '-'} | ` +
    `${med(g.map((r) => r.per_task.reduce((a, t) => a + t.dropped, 0)))} | ${f(med(g.map((r) => r.memory.heap_inuse_bytes / 2 ** 20)))} | ` +
    `${r0.memory.wasm_memory_bytes ? f(med(g.map((r) => r.memory.wasm_memory_bytes / 2 ** 20))) : '-'} |`);
}
console.log('\nprovider throughput (results/s) over each naive mode, medians:');
for (const [k, g] of groups) {
  const r0 = g[0];
  if (r0.mode !== 'provider') continue;
  const p = med(g.map((r) => r.results_per_sec));
  const parts = ['naive', 'naive-tfjs', 'isolated'].map((m) => {
    const n = naive.get([r0.label, r0.runtime, r0.fps, r0.tasks, m].join('|'));
    return n ? `${m} ${(p / n.rps).toFixed(2)}x` : '';
  }).filter(Boolean);
  console.log(`  ${r0.label} ${r0.runtime} fps ${r0.fps} tasks ${r0.tasks}: ${parts.join(', ')}`);
}
EOF
