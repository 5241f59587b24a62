#!/usr/bin/env bash
# Fetches and generates the reference data model/onnx's tests compare against,
# into .cache/onnx-refs (or $EDGENN_ONNX_REFS). Idempotent: each part is made
# once, marked done, and checked by sha256 against the pins below; run it again
# and it does nothing. Versions are pinned; nothing is committed.
#
#   mnist/                   the ONNX MNIST model (a Go string in
#                            github.com/owulveryck/onnx-go@v0.5.0's
#                            internal/examples/mnist/mnist_binary.go) and its three
#                            reference input/output pairs, from the Go module proxy
#   libonnx-testdata/        the ONNX backend test cases of Debian's libonnx-testdata
#                            1.12.0-2 (the .deb, unpacked; no root): node/ (per-op
#                            conformance), pytorch-converted/, pytorch-operator/, simple/
#   ort/                     ONNX Runtime Web 1.30.0 (wasm, one thread, in Node) run
#                            on the anchors' lenet5 and mobilenet_v1_025_128 ONNX
#                            models at fixed inputs, and (ort/cases/) on the
#                            hand-made models of model/onnx/testdata/ort
#                            (scripts/onnxrefs/ort_ref.js)
#
# Needs: go, node, npm, sha256sum, dpkg-deb, and apt-get or curl.
# Environment: EDGENN_ONNX_REFS (output), NPM_PREFIX (npm --prefix holding
# onnxruntime-web; default .cache/anchors-npm, the Makefile's), ANCHORS
# (shared/anchors with gen_models.js), GO.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$(realpath -m "${EDGENN_ONNX_REFS:-.cache/onnx-refs}")
NPM_PREFIX=$(realpath -m "${NPM_PREFIX:-.cache/anchors-npm}")
GO=${GO:-go}
if [ -z "${ANCHORS:-}" ]; then
  for d in ../shared/anchors /work/shared/anchors; do
    if [ -f "$d/gen_models.js" ]; then ANCHORS=$(realpath "$d"); break; fi
  done
fi
mkdir -p "$OUT"

# check FILE SHA256: the file must exist and have that digest.
check() {
  local got
  got=$(sha256sum "$1" | cut -d' ' -f1)
  if [ "$got" != "$2" ]; then
    echo "fetch_onnx_refs: $1: sha256 $got, want $2" >&2
    exit 1
  fi
}

# ---- 1. MNIST from the Go module proxy ----
ONNXGO=github.com/owulveryck/onnx-go@v0.5.0
ONNXGO_H1='h1:dnSKdTVs8gCbI3MUu91J74YjnYQTDEjoQluN0+/brSg='
declare -A MNIST_SHA=(
  [mnist_binary.go]=c14eaad3c3700bb764fb44cd4afc703f521115a0edb34e0e3d7f15904cbae685
  [test_data_set_0/input_0.pb]=e934e1029a1d31f3471236dd366bd7a7e55c76e6b245a221d55ed9eec600b89e
  [test_data_set_0/output_0.pb]=cb94055e8e7938cc2bbc245ba43b7529384cd45cb6846d0fe51f557e18372aac
  [test_data_set_1/input_0.pb]=2b1cf541630741657ec25ce91db1a94fafd7ef535b0855f868435bbbb7adff32
  [test_data_set_1/output_0.pb]=2fe1d2cfada6c975fb441ea97fb1b38a2568b653d122b0ace0d44e2821ede160
  [test_data_set_2/input_0.pb]=e3aba83f9f764207403d222042f8cfe71aa7f1acbda7fe19db413448fff69765
  [test_data_set_2/output_0.pb]=1970ba79f63e118da0fa4131907ecf0e7f85d30b8445fe40ee2cddd7ac21d604
)
if [ ! -f "$OUT/mnist/.done" ]; then
  # Outside the module, so that go.mod and go.sum stay untouched.
  json=$(cd "${TMPDIR:-/tmp}" && GOFLAGS=-mod=mod "$GO" mod download -json "$ONNXGO")
  dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' <<<"$json")
  sum=$(sed -n 's/^[[:space:]]*"Sum": "\(.*\)",\{0,1\}$/\1/p' <<<"$json")
  if [ "$sum" != "$ONNXGO_H1" ]; then
    echo "fetch_onnx_refs: $ONNXGO: module sum $sum, want $ONNXGO_H1" >&2
    exit 1
  fi
  rm -rf "$OUT/mnist.tmp"
  for f in "${!MNIST_SHA[@]}"; do
    mkdir -p "$OUT/mnist.tmp/$(dirname "$f")"
    cp "$dir/internal/examples/mnist/$f" "$OUT/mnist.tmp/$f"
    chmod u+w "$OUT/mnist.tmp/$f"
    check "$OUT/mnist.tmp/$f" "${MNIST_SHA[$f]}"
  done
  rm -rf "$OUT/mnist" && mv "$OUT/mnist.tmp" "$OUT/mnist"
  echo "$ONNXGO $ONNXGO_H1" >"$OUT/mnist/.done"
fi
for f in "${!MNIST_SHA[@]}"; do check "$OUT/mnist/$f" "${MNIST_SHA[$f]}"; done

# ---- 2. The ONNX node conformance cases from Debian ----
DEB=libonnx-testdata_1.12.0-2_all.deb
DEB_SHA=7dc0912e02f79ece102331411a751b091bc0e191c9fb1287f8cdfbe5530f6027
DEB_URL=https://deb.debian.org/debian/pool/main/o/onnx/$DEB
TESTDATA_DIRS="node pytorch-converted pytorch-operator simple"
if [ "$(cat "$OUT/libonnx-testdata/.done" 2>/dev/null)" != "$DEB $DEB_SHA $TESTDATA_DIRS" ]; then
  mkdir -p "$OUT/deb"
  if [ ! -f "$OUT/deb/$DEB" ]; then
    (cd "$OUT/deb" && apt-get download libonnx-testdata=1.12.0-2 2>/dev/null) ||
      curl -fsSL -o "$OUT/deb/$DEB" "$DEB_URL"
  fi
  check "$OUT/deb/$DEB" "$DEB_SHA"
  rm -rf "$OUT/libonnx-testdata.tmp" && mkdir -p "$OUT/libonnx-testdata.tmp"
  dpkg-deb -x "$OUT/deb/$DEB" "$OUT/libonnx-testdata.tmp/pkg"
  for d in $TESTDATA_DIRS; do
    mv "$OUT/libonnx-testdata.tmp/pkg/usr/share/libonnx-testdata/data/$d" "$OUT/libonnx-testdata.tmp/$d"
  done
  rm -rf "$OUT/libonnx-testdata.tmp/pkg"
  rm -rf "$OUT/libonnx-testdata" && mv "$OUT/libonnx-testdata.tmp" "$OUT/libonnx-testdata"
  echo "$DEB $DEB_SHA $TESTDATA_DIRS" >"$OUT/libonnx-testdata/.done"
fi

# ---- 3. ONNX Runtime's outputs on the anchors' models ----
ORT_PKG=onnxruntime-web@1.30.0
ORT_WASM_SHA=3398c10d07d229bd91b364548e130e0e51a8e5704b88c7c083ebbeb78842dee2
declare -A MODEL_SHA=(
  [lenet5.onnx]=f9d80860d1fdb6e1584b06e950ee26cd55eee6d4fecf7becc5a327b1b75eaa1d
  [lenet5.input_nchw.bin]=c10d9bdf4c7d1ad6f328d97247ad2d0b3a46a2e525b6d04a5db668cd41abfafc
  [mobilenet_v1_025_128.onnx]=14e8972f0344a4a8c1e6a54aec912e698f5f9ce7895251b09105326789817dad
  [mobilenet_v1_025_128.input_nchw.bin]=38ad1f3cb7eb820c17ded78634455a9f47664c1153a00de460a0ff37afd35594
)
# The ONNX Runtime outputs are remade whenever the script or the hand-made
# models of model/onnx/testdata/ort change.
ORT_SCRIPT_SHA=$(cat scripts/onnxrefs/ort_ref.js model/onnx/testdata/ort/* | sha256sum | cut -d' ' -f1)
if [ ! -f "$OUT/ort/.done" ] || [ "$(cat "$OUT/ort/.done")" != "$ORT_PKG $ORT_SCRIPT_SHA" ]; then
  if [ -z "${ANCHORS:-}" ]; then
    echo "fetch_onnx_refs: shared/anchors (gen_models.js) not found beside the clone; set ANCHORS=path" >&2
    exit 1
  fi
  if [ ! -f "$NPM_PREFIX/node_modules/onnxruntime-web/package.json" ] ||
    ! grep -q '"version": "1.30.0"' "$NPM_PREFIX/node_modules/onnxruntime-web/package.json"; then
    mkdir -p "$NPM_PREFIX"
    ONNXRUNTIME_NODE_INSTALL=skip npm install --prefix "$NPM_PREFIX" --no-audit --no-fund --loglevel=error "$ORT_PKG"
  fi
  check "$NPM_PREFIX/node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm" "$ORT_WASM_SHA"
  rm -rf "$OUT/ort.tmp" && mkdir -p "$OUT/ort.tmp/models"
  node "$ANCHORS/gen_models.js" "$OUT/ort.tmp/models" >/dev/null
  for f in "${!MODEL_SHA[@]}"; do check "$OUT/ort.tmp/models/$f" "${MODEL_SHA[$f]}"; done
  NODE_PATH="$NPM_PREFIX/node_modules" node scripts/onnxrefs/ort_ref.js "$OUT/ort.tmp/models" "$OUT/ort.tmp" model/onnx/testdata/ort
  rm -rf "$OUT/ort.tmp/models" "$OUT/ort" && mv "$OUT/ort.tmp" "$OUT/ort"
  echo "$ORT_PKG $ORT_SCRIPT_SHA" >"$OUT/ort/.done"
fi
check "$OUT/ort/lenet5.onnx" "${MODEL_SHA[lenet5.onnx]}"
check "$OUT/ort/mobilenet_v1_025_128.onnx" "${MODEL_SHA[mobilenet_v1_025_128.onnx]}"
echo "onnx references ready in ${OUT#"$ROOT"/}"
