#!/usr/bin/env bash
# Fetches what the model/tfjs tests compare against, and makes the reference
# outputs with TensorFlow.js cpu in Node:
#   1. @vladmandic/human 3.3.6 from the npm registry (sha256-pinned tarball),
#      of which only models/{emotion,blazeface}.{json,bin} are kept, in
#      .cache/human-models/ (each file sha256-checked as well);
#   2. @tensorflow/tfjs-converter 4.22.0 (and tfjs-core, tfjs-backend-cpu,
#      tfjs-layers 4.22.0 if `make anchors` has not put them there yet) into
#      .cache/anchors-npm with npm;
#   3. node scripts/tfjs_ref.js .cache/human-models .cache/tfjs-refs: inputs
#      and TF.js outputs as raw float32, plus the hand-made graph and layers
#      models it writes there.
# Idempotent: a step whose result is present and checks out is skipped.
# Nothing else is downloaded.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=$ROOT/.cache
HUMAN_URL=https://registry.npmjs.org/@vladmandic/human/-/human-3.3.6.tgz
HUMAN_SHA256=425e9c51dbbca0c8934362b170cb0d54c2529c11c654b3c03092b16e9d6ad3f7
TGZ=$CACHE/npm-tarballs/human-3.3.6.tgz
MODELS=$CACHE/human-models
NPM_PREFIX=$CACHE/anchors-npm
REFS=$CACHE/tfjs-refs
TFJS_VERSION=4.22.0

# The files kept from the tarball (package/models/...) and their sha256.
FILES=(
  "emotion.json 56f7e557eb0c863a8b9ab04ac7ccba756e93bf2c27dce135ef0e8712b80b7ad2"
  "emotion.bin 927ac8224f356ab1e68c2bcfbfa07b0c8567047d1bcf817388ba6e38214c4987"
  "blazeface.json cd7bbfc078270572beb39f9e5ae67aadbd50b5e67cff37e6d4f6b3ea39312e5f"
  "blazeface.bin dc9a97fdc50bc43216554bdd69aa3e7b9361a519ee7bdd996a2f69a98a6f9b72"
)

sha() { sha256sum "$1" | cut -d' ' -f1; }

models_ok() {
  local e
  for e in "${FILES[@]}"; do
    set -- $e
    [[ -f $MODELS/$1 && $(sha "$MODELS/$1") == "$2" ]] || return 1
  done
}

# 1. The models.
if ! models_ok; then
  if [[ ! -f $TGZ || $(sha "$TGZ") != "$HUMAN_SHA256" ]]; then
    mkdir -p "$(dirname "$TGZ")"
    echo "fetch_tfjs_models: downloading $HUMAN_URL" >&2
    curl -fsSL --retry 3 -o "$TGZ.part" "$HUMAN_URL"
    got=$(sha "$TGZ.part")
    if [[ $got != "$HUMAN_SHA256" ]]; then
      rm -f "$TGZ.part"
      echo "fetch_tfjs_models: $HUMAN_URL has sha256 $got, want $HUMAN_SHA256" >&2
      exit 1
    fi
    mv "$TGZ.part" "$TGZ"
  fi
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  members=()
  for e in "${FILES[@]}"; do set -- $e; members+=("package/models/$1"); done
  tar -xzf "$TGZ" -C "$tmp" "${members[@]}"
  mkdir -p "$MODELS"
  for e in "${FILES[@]}"; do
    set -- $e
    got=$(sha "$tmp/package/models/$1")
    if [[ $got != "$2" ]]; then
      echo "fetch_tfjs_models: models/$1 in the tarball has sha256 $got, want $2" >&2
      exit 1
    fi
    mv "$tmp/package/models/$1" "$MODELS/$1"
  done
  echo "fetch_tfjs_models: models in $MODELS" >&2
fi

# 2. TensorFlow.js in Node: converter (graph models), core, cpu backend, layers.
need=()
for p in tfjs-converter tfjs-core tfjs-backend-cpu tfjs-layers; do
  pj=$NPM_PREFIX/node_modules/@tensorflow/$p/package.json
  if [[ ! -f $pj ]] || ! grep -q "\"version\": \"$TFJS_VERSION\"" "$pj"; then
    need+=("@tensorflow/$p@$TFJS_VERSION")
  fi
done
if ((${#need[@]})); then
  mkdir -p "$NPM_PREFIX"
  echo "fetch_tfjs_models: npm install ${need[*]}" >&2
  ONNXRUNTIME_NODE_INSTALL=skip npm install --prefix "$NPM_PREFIX" --no-audit --no-fund --loglevel=error "${need[@]}"
fi

# 3. The references, remade when the script, the models or the photo change.
"$ROOT/scripts/fetch_photos.sh"
PHOTO=$ROOT/.cache/photos/astronaut.png
stamp=$( (sha "$ROOT/scripts/tfjs_ref.js"; sha "$PHOTO"; for e in "${FILES[@]}"; do set -- $e; echo "$2"; done; echo "$TFJS_VERSION") | sha256sum | cut -d' ' -f1)
if [[ ! -f $REFS/STAMP || $(cat "$REFS/STAMP") != "$stamp" ]]; then
  rm -rf "$REFS"
  mkdir -p "$REFS"
  NODE_PATH=$NPM_PREFIX/node_modules node "$ROOT/scripts/tfjs_ref.js" "$MODELS" "$REFS" "$PHOTO"
  echo "$stamp" >"$REFS/STAMP"
  echo "fetch_tfjs_models: references in $REFS" >&2
fi
