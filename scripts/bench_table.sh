#!/usr/bin/env bash
# Side-by-side benchmark: edgenn (native, wasm SIMD, wasm scalar) and the
# reference runtimes (TensorFlow.js cpu and wasm SIMD, ONNX Runtime Web 1
# thread) on the same two models with the same weights and input, in one run.
# Prints a markdown table (also kept in OUT/summary.md).
#
#   scripts/bench_table.sh           full run (make bench)
#   scripts/bench_table.sh --quick   edgenn only, native and wasm SIMD (make run)
#
# env: ANCHORS (shared/anchors), NPM_PREFIX (installed anchors), RUNS (200),
#      REPEATS (3), GROWTH (10000 runs for the memory-growth check),
#      STEADY_WARMUP (2000 warm-up runs for the steady-state table), OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
QUICK=0; [ "${1:-}" = "--quick" ] && QUICK=1
RUNS="${RUNS:-200}"; REPEATS="${REPEATS:-3}"; GROWTH="${GROWTH:-10000}"; STEADY_WARMUP="${STEADY_WARMUP:-2000}"
OUT="${OUT:-build/bench/$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$OUT/models"
R="$OUT/results.jsonl"; : > "$R"
export WASM_EXEC_DIR="$(GOTOOLCHAIN=go1.27.3 go env GOROOT)/lib/wasm"
HUMAN_MODELS="${HUMAN_MODELS:-.cache/human-models}"
RUN_MODELS="${RUN_MODELS:-build/run-models}"
WEXEC=scripts/wasm_run.js  # wasm_exec_node.js, plus the module's linear-memory size
log() { echo "[$(date +%T)] $*" >&2; }
MODELS="lenet5 mobilenet_v1_025_128"

for m in $MODELS; do build/edgenn zoo "$m" -o "$OUT/models/$m.enn" >/dev/null; done

if [ "$QUICK" = 1 ]; then
  for m in $MODELS; do
    build/edgenn bench "$OUT/models/$m.enn" --runs 100 --json --name "$m" >> "$R"
    node "$WEXEC" build/host.wasm bench "$OUT/models/$m.enn" --runs 100 --json --name "$m" >> "$R"
  done
  node scripts/bench_summary.js "$OUT" | tee "$OUT/summary.md"
  exit 0
fi

export NODE_PATH="$NPM_PREFIX/node_modules"
{ echo "date $(date -u +%FT%TZ)"; echo "node $(node --version)"; go version; GOTOOLCHAIN=go1.27.3 go version;
  echo "cpus $(nproc)"; grep -m1 'model name' /proc/cpuinfo; uptime; } > "$OUT/env.txt"
node "$ANCHORS/gen_models.js" "$OUT/models" >&2

edgenn_rows() { # $1 rep, $2 growth runs, $3 warm-up runs
  for m in $MODELS; do
    local a=("$OUT/models/$m.enn" --runs "$RUNS" --warmup "$3" --json --name "$m" --input "$OUT/models/$m.input.bin" --ref "$OUT/models/$m.ref_output.bin" --growth "$2")
    log "edgenn native $m rep $1";      build/edgenn bench "${a[@]}" | sed "s/^{/{\"rep\":$1,/" >> "$R"
    log "edgenn wasm simd $m rep $1";   node "$WEXEC" build/host.wasm bench "${a[@]}" | sed "s/^{/{\"rep\":$1,/" >> "$R"
    # The scalar build is ~10x slower: a tenth of the growth runs.
    a[${#a[@]}-1]=$(( $2 / 10 ))
    log "edgenn wasm scalar $m rep $1"; node "$WEXEC" build/host-scalar.wasm bench "${a[@]}" | sed "s/^{/{\"rep\":$1,/" >> "$R"
  done
}
for rep in $(seq 1 "$REPEATS"); do
  for b in cpu wasm-simd; do  # cpu first: it writes the reference outputs
    log "tfjs-$b rep $rep"; node "$ANCHORS/bench_tfjs.js" "$b" infer "$OUT/models" "$RUNS" 2>/dev/null | grep '^{' | sed "s/^{/{\"rep\":$rep,/" >> "$R"
  done
  log "onnxruntime-web-1t rep $rep"; node "$ANCHORS/bench_ort.js" web-1t "$OUT/models" "$RUNS" 2>/dev/null | grep '^{' | sed "s/^{/{\"rep\":$rep,/" >> "$R"
  g=0; [ "$rep" = 1 ] && g="$GROWTH"
  edgenn_rows "$rep" "$g" 20
done

# Steady state: V8 compiles wasm first with its baseline compiler and moves hot
# functions to the optimising one only after enough calls; 20 warm-up runs do
# not get there for small models. Every wasm runtime again, warmed up longer.
export ANCHORS
for rep in 1 2; do
  for w in ort-web-1t tfjs-wasm-simd; do
    log "steady $w rep $rep"; node scripts/anchors_steady.js "$w" "$OUT/models" "$RUNS" "$STEADY_WARMUP" 2>/dev/null | grep '^{' | sed "s/^{/{\"rep\":$rep,/" >> "$R"
  done
  edgenn_rows "$rep" 0 "$STEADY_WARMUP"
done

# Training: one batch-32 SGD step of LeNet-5, full and head-only (dense layers),
# next to TensorFlow.js cpu and wasm SIMD (whose wasm backend cannot train the
# convolutions: its full rows report the error).
for b in cpu wasm-simd; do
  log "tfjs-$b train"; node "$ANCHORS/bench_tfjs.js" "$b" train "$OUT/models" 50 2>/dev/null | grep '^{' >> "$R"
done
for v in "" "--trainable dense_"; do
  t=(bench "$OUT/models/lenet5.enn" --train --batch 32 --runs 50 --warmup 4 --json --name lenet5 $v)
  log "edgenn train native $v"; build/edgenn "${t[@]}" >> "$R"
  log "edgenn train wasm simd $v"; node "$WEXEC" build/host.wasm "${t[@]}" >> "$R"
done

# Imported models: @vladmandic/human's emotion and BlazeFace graph models, in
# TF.js as shipped and in edgenn as `edgenn convert` makes them (make
# run-models), batch 1, 20 warm-up + RUNS runs; each twice as a free process
# and twice pinned to one CPU (taskset), since processes that the scheduler
# moves between this VM's two CPUs run up to 1.7x slower, for every runtime.
for pin in free pinned; do
  pre=(); [ "$pin" = pinned ] && pre=(taskset -c 1)
  for rep in 1 2; do
    for b in cpu wasm-simd; do
      [ "$b" = cpu ] && [ "$rep" = 2 ] && continue  # TF.js cpu takes 0.6 s a BlazeFace run
      log "tfjs-$b imported models $pin rep $rep"
      "${pre[@]}" node scripts/anchor_import_bench.js "$b" "$HUMAN_MODELS" "$RUNS" 20 2>/dev/null | grep '^{' | sed "s/^{/{\"rep\":$rep,\"pin\":\"$pin\",/" >> "$R"
    done
    for m in emotion blazeface; do
      a=(bench "$RUN_MODELS/$m.enn" --runs "$RUNS" --warmup 20 --json --name "$m")
      log "edgenn imported $m $pin rep $rep"
      "${pre[@]}" build/edgenn "${a[@]}" | sed "s/^{/{\"rep\":$rep,\"pin\":\"$pin\",/; s/\"mode\":\"infer_b1\"/\"mode\":\"import_b1\"/" >> "$R"
      "${pre[@]}" node "$WEXEC" build/host.wasm "${a[@]}" | sed "s/^{/{\"rep\":$rep,\"pin\":\"$pin\",/; s/\"mode\":\"infer_b1\"/\"mode\":\"import_b1\"/" >> "$R"
    done
  done
done

# Fine-tuning MobileNetV1-0.25-128 end to end: one batch-8 SGD step, every
# layer trained (TF.js cpu takes ~19 s a step, so it runs 3; its wasm backend
# cannot train convolutions at all).
for b in cpu wasm-simd; do
  log "tfjs-$b train mobilenet"; NODE_PATH="$NPM_PREFIX/node_modules" node scripts/anchor_train_mobilenet.js "$b" "$OUT/models" 8 3 2>/dev/null | grep '^{' >> "$R"
done
t=(bench "$OUT/models/mobilenet_v1_025_128.enn" --train --batch 8 --runs 20 --warmup 3 --json --name mobilenet_v1_025_128)
log "edgenn train mobilenet native"; build/edgenn "${t[@]}" >> "$R"
log "edgenn train mobilenet wasm simd"; node "$WEXEC" build/host.wasm "${t[@]}" >> "$R"
log "edgenn train mobilenet wasm scalar"; node "$WEXEC" build/host-scalar.wasm "${t[@]}" >> "$R"

# GEMM micro-kernel throughput in wasm (Go benchmarks under Node).
W="$(GOTOOLCHAIN=go1.27.3 go env GOROOT)/lib/wasm/go_js_wasm_exec"
for v in simd scalar; do
  exp=""; [ "$v" = simd ] && exp="simd"
  log "GEMM benchmarks wasm $v"
  GOEXPERIMENT="$exp" GOTOOLCHAIN=go1.27.3 GOOS=js GOARCH=wasm go test -exec="$W" -run XXX -bench 'BenchmarkGemm' ./kernels/ 2>&1 \
    | sed -n "s/^\(BenchmarkGemm[^ ]*\).* \([0-9.]*\) GFLOP\/s.*/{\"gemm\":\"\1\",\"build\":\"wasm-$v\",\"gflops\":\2}/p" >> "$R" || true
done

# Download sizes of the shipped module.
for f in build/edgenn.wasm build/edgenn-scalar.wasm; do
  node -e 'const fs=require("fs"),z=require("zlib");const b=fs.readFileSync(process.argv[1]);
    console.log(JSON.stringify({size:process.argv[1].split("/").pop(),raw:b.length,gzip9:z.gzipSync(b,{level:9}).length,
    brotli:z.brotliCompressSync(b,{params:{[z.constants.BROTLI_PARAM_QUALITY]:11}}).length}))' "$f" >> "$R"
done
# The demo in headless Chromium against the real host: page load to the first
# prediction, and the page's own median time of one prediction.
for rep in 1 2 3; do
  log "e2e cold start rep $rep"
  go test -count=1 -run 'TestE2EDigits$' -v ./host/ 2>/dev/null \
    | sed -n 's/.*e2e: cold start \([0-9.]*\) ms, prediction median \([0-9.]*\) ms.*/{"e2e":"digits","rep":'"$rep"',"cold_start_ms":\1,"predict_median_ms":\2}/p' >> "$R"
done
# What the browser downloads on a first visit: every file the service worker
# caches, as the host sends it (gzip at its default level where that pays).
node -e 'const fs=require("fs"),z=require("zlib"),p=require("path");
  const sw=fs.readFileSync("www/sw.js","utf8"); const shell=JSON.parse(sw.match(/const SHELL = (\[[^\]]*\])/)[1].replace(/,\s*\]/,"]"));
  const files=shell.filter((f)=>f!=="./").map((f)=>["edgenn.wasm","edgenn-scalar.wasm","wasm_exec.js"].includes(f)?p.join("build",f):p.join("www",f));
  for (const m of fs.readdirSync("www/models").filter((f)=>f.endsWith(".enn"))) files.push(p.join("www/models",m));
  for (const f of files){const b=fs.readFileSync(f);const g=z.gzipSync(b).length;const comp=/\.(js|html|css|webmanifest|svg|wasm)$/.test(f)&&g<b.length*0.9;
    console.log(JSON.stringify({download:f,raw:b.length,sent:comp?g:b.length}))}' >> "$R"
uptime >> "$OUT/env.txt"
node scripts/bench_summary.js "$OUT" | tee "$OUT/summary.md"
log "done: $OUT"
