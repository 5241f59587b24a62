# edgenn — build, test, run and bench. Needs Go >= 1.26 and Node >= 20 on PATH;
# everything else (the Go 1.27.3 toolchain for the SIMD wasm, npm packages for
# the reference runtimes) is fetched from the package registries on first use.

SHELL := /bin/bash
GO ?= go
# The shipped wasm is built with Go 1.27.3's SIMD experiment; the go command
# downloads that toolchain through the module proxy when it is missing.
GO127 := GOTOOLCHAIN=go1.27.3 $(GO)
WASMEXEC = $(shell $(GO127) env GOROOT)/lib/wasm
BUILD := build
CACHE := .cache
# The reference runtimes' scripts (TensorFlow.js, ONNX Runtime Web): shared/ sits
# beside the clone in CI and on developers' machines.
ANCHORS ?= $(abspath $(firstword $(wildcard ../shared/anchors /work/shared/anchors)))
NPM_PREFIX := $(abspath $(CACHE))/anchors-npm
REFDIR := $(abspath $(CACHE))/anchors-models
# The importers run in wasm too, so imported models are checked against
# their runtimes with the wasm engine as well as the native one.
WASM_PKGS := ./kernels/ ./model/ ./engine/ ./data/ ./model/onnx/ ./model/tfjs/ ./engine/peer/ ./internal/msgp/
WASM_BANNED := fmt|reflect|os|os/exec|log|image|image/png|image/jpeg|crypto/sha256|compress/gzip|github.com/vmihailenco/msgpack/v5|github.com/edgenn/edgenn/data

.PHONY: all worker test-workers workers-bench test test-native test-wasm wasm run bench anchors refs clean fuzz zoo-models types dist test-e2e run-models import-refs pipeline-bench hub-bench offload-bench

all: wasm

$(BUILD):
	mkdir -p $(BUILD)

## wasm: the browser module, SIMD (shipped) and scalar builds
wasm: | $(BUILD)
	GOOS=js GOARCH=wasm GOEXPERIMENT=simd $(GO127) build -trimpath -ldflags='-s -w' -o $(BUILD)/edgenn.wasm ./wasm
	GOOS=js GOARCH=wasm $(GO127) build -trimpath -ldflags='-s -w' -o $(BUILD)/edgenn-scalar.wasm ./wasm
	cp "$(WASMEXEC)/wasm_exec.js" $(BUILD)/wasm_exec.js
	@for f in $(BUILD)/edgenn.wasm $(BUILD)/edgenn-scalar.wasm; do \
	  echo "$$f: $$(stat -c %s $$f) bytes, gzip -9 $$(gzip -9 -c $$f | wc -c)"; done

## host tool, native and wasm (the wasm one runs under Node for side-by-side benches)
# The command-line tool and native worker: Go 1.27.3 with SIMD, whose GEMM,
# direct and depthwise kernels run on AVX2 where the CPU has it (scalar
# otherwise, chosen at start); bit-identical to the Go 1.26 scalar build.
$(BUILD)/edgenn: FORCE | $(BUILD)
	GOEXPERIMENT=simd $(GO127) build -o $@ ./host
$(BUILD)/host.wasm: FORCE | $(BUILD)
	GOOS=js GOARCH=wasm GOEXPERIMENT=simd $(GO127) build -trimpath -o $@ ./host
$(BUILD)/host-scalar.wasm: FORCE | $(BUILD)
	GOOS=js GOARCH=wasm $(GO127) build -trimpath -o $@ ./host
FORCE:

## anchors: install the pinned reference runtimes from the npm registry (once).
## Tests need only TensorFlow.js cpu (the numeric reference); bench needs all.
TFJS_PKGS := @tensorflow/tfjs-core@4.22.0 @tensorflow/tfjs-layers@4.22.0 @tensorflow/tfjs-backend-cpu@4.22.0
BENCH_PKGS := $(TFJS_PKGS) @tensorflow/tfjs-backend-wasm@4.22.0 onnxruntime-web@1.30.0 onnxruntime-node@1.30.0
NPM_INSTALL := ONNXRUNTIME_NODE_INSTALL=skip npm install --prefix $(NPM_PREFIX) --no-audit --no-fund --loglevel=error
anchors: $(NPM_PREFIX)/.bench-installed
$(NPM_PREFIX)/.tfjs-installed:
	@test -n "$(ANCHORS)" || { echo "shared/anchors not found beside the clone; set ANCHORS=path"; exit 1; }
	mkdir -p $(NPM_PREFIX)
	$(NPM_INSTALL) $(TFJS_PKGS)
	touch $@
$(NPM_PREFIX)/.bench-installed: $(NPM_PREFIX)/.tfjs-installed
	$(NPM_INSTALL) $(BENCH_PKGS)
	touch $@

## refs: the reference models and TensorFlow.js cpu outputs on them
refs: $(REFDIR)/mobilenet_v1_025_128.ref_output.bin
$(REFDIR)/mobilenet_v1_025_128.ref_output.bin: $(NPM_PREFIX)/.tfjs-installed
	node $(ANCHORS)/gen_models.js $(REFDIR) >/dev/null
	NODE_PATH=$(NPM_PREFIX)/node_modules node $(ANCHORS)/bench_tfjs.js cpu infer $(REFDIR) 1 >/dev/null

# Tests that compare against TensorFlow.js and the anchors' generator must not
# skip under make test.
TEST_ENV := EDGENN_ANCHORS=$(ANCHORS) EDGENN_REFS=$(REFDIR) EDGENN_REQUIRE_ANCHORS=1 EDGENN_CURVE=$(abspath $(BUILD))/loss_curve.txt

## test: every test, native and wasm (scalar and SIMD) under Node, the JS API
## under Node, and the demo app in headless Chromium
test: test-native test-wasm test-e2e test-workers

test-native: refs import-refs run-models | $(BUILD)
	$(TEST_ENV) $(GO) vet ./...
	$(TEST_ENV) scripts/failsummary.sh $(BUILD)/test-native.log $(GO) test -count=1 -skip TestE2E ./...
	@# The kernels and the engine again as build/edgenn is built: native SIMD
	@# (AVX2), held to the same tests; it must be the SIMD path where the CPU has AVX2.
	GOEXPERIMENT=simd $(GO127) vet ./kernels/ ./engine/
	$(TEST_ENV) EDGENN_WANT_SIMD_GEMM=$$(grep -qw avx2 /proc/cpuinfo && echo 1 || echo 0) GOEXPERIMENT=simd \
	  scripts/failsummary.sh $(BUILD)/test-native-simd.log env $(GO127) test -count=1 ./kernels/ ./engine/

# The native pass writes the loss curve the wasm passes must reproduce.
$(BUILD)/loss_curve.txt: | $(BUILD)
	$(TEST_ENV) $(GO) test -count=1 -run TestTrainerLossCurveMatchesNative ./engine/

test-wasm: refs import-refs run-models $(BUILD)/loss_curve.txt
	$(TEST_ENV) GOOS=js GOARCH=wasm scripts/failsummary.sh $(BUILD)/test-wasm.log \
	  env $(GO127) test -count=1 -exec="$(WASMEXEC)/go_js_wasm_exec" $(WASM_PKGS)
	$(TEST_ENV) GOOS=js GOARCH=wasm GOEXPERIMENT=simd scripts/failsummary.sh $(BUILD)/test-wasm-simd.log \
	  env $(GO127) test -count=1 -exec="$(WASMEXEC)/go_js_wasm_exec" $(WASM_PKGS)
	GOOS=js GOARCH=wasm GOEXPERIMENT=simd $(GO127) vet ./host ./wasm
	@# The browser module must not link heavy packages (DESIGN: size budget).
	@if GOOS=js GOARCH=wasm GOEXPERIMENT=simd $(GO127) list -deps ./wasm | grep -xE '$(WASM_BANNED)'; then \
	  echo "edgenn.wasm links the packages above; keep them out of wasm/'s imports"; exit 1; fi
	$(MAKE) --no-print-directory dist zoo-models
	@test $$(gzip -9 -c $(BUILD)/edgenn.wasm | wc -c) -le 1200000 || { echo "edgenn.wasm is over 1.2 MB gzip -9"; exit 1; }
	$(TEST_ENV) node --test wasm/
	$(MAKE) --no-print-directory types

## dist: the npm package web apps install (build/dist: edgenn.js, its types,
## the worker glue, both wasm builds and wasm_exec.js); npm pack it from there
dist: wasm
	rm -rf $(BUILD)/dist && mkdir -p $(BUILD)/dist
	cp www/edgenn.js www/edgenn-worker.js www/edgenn-peer.js www/edgenn.d.ts wasm/dist/package.json $(BUILD)/edgenn.wasm $(BUILD)/edgenn-scalar.wasm $(BUILD)/wasm_exec.js $(BUILD)/dist/
	cp wasm/dist/README.md $(BUILD)/dist/README.md

## test-e2e: the demo app served by the real host, driven in Debian's headless
## Chromium (screenshots in build/screenshots)
test-e2e: wasm zoo-models import-refs run-models
	$(TEST_ENV) $(GO) test -count=1 -run TestE2E -v ./host/ 2>&1 | grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic)|e2e:|_test.go:'; exit $${PIPESTATUS[0]}

## types: type-check www/edgenn.d.ts and edgenn.js's JSDoc against a usage file, and the demo app's modules
TSC := $(CACHE)/ts/node_modules/.bin/tsc
types: $(TSC)
	$(TSC) -p wasm/jsapi
	$(TSC) -p wasm/jsapi/tsconfig.www.json
$(TSC):
	npm install --prefix $(CACHE)/ts --no-audit --no-fund --loglevel=error typescript@5.9.3

## zoo-models: the reference networks as .enn files in build/models
zoo-models: $(BUILD)/edgenn
	@mkdir -p $(BUILD)/models
	@for m in lenet5 mobilenet_v1_025_128; do $(BUILD)/edgenn zoo $$m -o $(BUILD)/models/$$m.enn >/dev/null; done

## worker: the host as a Cloudflare Worker in build/worker: syumai/workers'
## glue, app.wasm (the host's handler, js/wasm -tags cfworker) and the static
## assets it serves (www/, the wasm builds, the run-models) with their
## manifest; cfworker/wrangler.toml runs (wrangler dev) or deploys it
CFW := $(BUILD)/worker
WRANGLER := cfworker/node_modules/.bin/wrangler
CF_GOFLAGS := -tags cfworker
worker: wasm run-models $(WRANGLER)
	rm -rf $(CFW)
	$(GO) run github.com/syumai/workers/cmd/workers-assets-gen -mode=go -o $(CFW)
	GOOS=js GOARCH=wasm $(GO127) build $(CF_GOFLAGS) -trimpath -ldflags='-s -w' -o $(CFW)/app.wasm ./host
	$(GO) run -tags cfworker ./host cfworker-assets --www www --wasm $(BUILD) --models $(RUN_MODELS) -o $(CFW)/assets
	@echo "$(CFW)/app.wasm: $$(stat -c %s $(CFW)/app.wasm) bytes, gzip -9 $$(gzip -9 -c $(CFW)/app.wasm | wc -c)"

# wrangler 4.86.0 (it carries workerd), pinned with its lockfile in cfworker/.
$(WRANGLER): cfworker/package.json cfworker/package-lock.json
	cd cfworker && npm ci --no-audit --no-fund --loglevel=error
	touch $@

## test-workers: the Worker in workerd (wrangler dev --local, no network)
## against the native host: the same bytes, the same refusals, the app in
## headless Chromium, and the upload size from wrangler deploy --dry-run;
## and the peer hub over HTTP with a fresh local D1 (host/cfhub_test.go)
test-workers: worker
	EDGENN_WORKERS=1 $(GO) test -count=1 -run 'TestCFWorker' -v ./host/ 2>&1 | grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic)|cfworker:|_test.go:'; exit $${PIPESTATUS[0]}

## workers-bench: model fetches from the Worker (wrangler dev) beside the
## native host, on loopback: requests/s and p95 latency; and hub messages
## through the Worker and local D1: messages/s and send p95
workers-bench: worker
	EDGENN_WORKERS=1 EDGENN_WORKERS_BENCH=1 $(GO) test -count=1 -run 'TestCFWorkerBench' -v ./host/ 2>&1 | grep -E '^(--- |PASS|FAIL|ok|panic)|cfworker-bench:|_test.go:'; exit $${PIPESTATUS[0]}

## run: the host with the demo app, the wasm builds and the models on
## http://$(ADDR)/ (Ctrl-C stops it), and the peer hub with one room for the
## Offload view (a local demo's token: choose your own with HUB_ROOM=NAME=TOKEN)
ADDR ?= 127.0.0.1:8080
HUB_ROOM ?= demo=edgenn-demo-room
run: wasm $(BUILD)/edgenn run-models
	$(BUILD)/edgenn serve --addr $(ADDR) --models $(RUN_MODELS) --hub-room $(HUB_ROOM)

## run-models: what make run serves: the digits model, the zoo's MobileNet
## (for the Device page) and the face models of @vladmandic/human 3.3.6,
## fetched from the npm registry (pinned, sha256-checked) and converted
RUN_MODELS := $(BUILD)/run-models
HUMAN := $(CACHE)/human-models
BLAZEFACE_POST := postprocess=blazeface input=256 strides=16,32 anchors=2,6 keypoints=6
EMOTION_LABELS := labels=angry,disgust,fear,happy,sad,surprise,neutral
run-models: zoo-models import-refs
	@mkdir -p $(RUN_MODELS)
	cp www/models/digits.enn $(BUILD)/models/mobilenet_v1_025_128.enn $(RUN_MODELS)/
	$(BUILD)/edgenn convert $(HUMAN)/blazeface.json -o $(RUN_MODELS)/blazeface.enn --meta '$(BLAZEFACE_POST)' >/dev/null
	$(BUILD)/edgenn convert $(HUMAN)/emotion.json -o $(RUN_MODELS)/emotion.enn --meta '$(EMOTION_LABELS)' >/dev/null

## import-refs: the real models, photo and reference outputs the importers'
## tests compare against (TensorFlow.js and ONNX Runtime from npm, the ONNX
## MNIST model from the Go module proxy); cached in .cache, fetched once
import-refs:
	scripts/fetch_tfjs_models.sh
	ANCHORS=$(ANCHORS) NPM_PREFIX=$(NPM_PREFIX) scripts/fetch_onnx_refs.sh

## bench: edgenn (wasm SIMD, wasm scalar, native) side by side with the anchors, one run
bench: $(BUILD)/edgenn $(BUILD)/host.wasm $(BUILD)/host-scalar.wasm anchors wasm run-models
	ANCHORS=$(ANCHORS) NPM_PREFIX=$(NPM_PREFIX) REFDIR=$(REFDIR) scripts/bench_table.sh
	$(MAKE) --no-print-directory hub-bench offload-bench

## pipeline-bench: issue 6 (one source, many tasks): edgenn pipeline natively and in
## wasm SIMD under Node (one lane), then edgenn.js's Source on a pool of two workers
## (scripts/source_bench.mjs): closed loop, at 10 fps, and at 60 fps (twice the
## rate three tasks sustain here: the throughput figure); each against naive
## per-task pipelines, medians
pipeline-bench: $(BUILD)/edgenn $(BUILD)/host.wasm run-models wasm
	scripts/pipeline_bench.sh
	node scripts/source_bench.mjs --tasks 1,2,3,4 --mode provider,naive,isolated --repeats 3
	node scripts/source_bench.mjs --fps 10 --tasks 1,3 --mode provider,naive,isolated --repeats 3
	node scripts/source_bench.mjs --fps 60 --frames 180 --tasks 1,3 --mode provider,naive,isolated --repeats 5

## hub-bench: issue 7's hub load figure: a real `edgenn serve --hub-room` on loopback
## holding 1,000 peers, offload requests relayed at 500, 1000 and 2000 a second
hub-bench: $(BUILD)/edgenn
	EDGENN_HUB_LOAD=1 EDGENN_BIN=$(abspath $(BUILD))/edgenn EDGENN_HUB_RATES=500,1000,2000 \
	  $(GO) test -count=1 -run TestHubLoad -v -timeout 20m ./host/

## offload-bench: issue 7's "offload pays" figure: a requester throttled 10x
## runs MobileNetV1 here and offloaded to a native worker over loopback;
## first edgenn.js on the shipped wasm (scripts/offload_bench.mjs), then Go
offload-bench: wasm $(BUILD)/edgenn
	for m in mobilenet_v1_100_224 mobilenet_v1_025_128; do \
	  node --experimental-websocket --no-warnings scripts/offload_bench.mjs --model $$m || exit 1; \
	  EDGENN_OFFLOAD_MEASURE=1 EDGENN_OFFLOAD_MODEL=$$m $(GO) test -count=1 -run TestOffloadMeasure -v ./host/ \
	    | grep -E '^(--- |ok|FAIL)|speedup' || exit 1; done

fuzz:
	$(GO) test ./model/ -run XXX -fuzz FuzzDecode -fuzztime 60s -fuzzminimizetime 5s
	$(GO) test ./engine/ -run XXX -fuzz FuzzSession -fuzztime 60s -fuzzminimizetime 5s
	$(GO) test ./engine/ -run XXX -fuzz FuzzOneOp -fuzztime 60s -fuzzminimizetime 5s
	$(GO) test ./engine/ -run XXX -fuzz FuzzParseDetector -fuzztime 30s -fuzzminimizetime 5s
	$(GO) test ./engine/ -run XXX -fuzz FuzzPrepare -fuzztime 30s -fuzzminimizetime 5s
	$(GO) test ./engine/peer/ -run XXX -fuzz FuzzDecode -fuzztime 60s -fuzzminimizetime 5s
	$(GO) test ./engine/peer/ -run XXX -fuzz FuzzOffload -fuzztime 60s -fuzzminimizetime 5s
	$(GO) test ./model/onnx/ -run XXX -fuzz FuzzImport -fuzztime 60s -fuzzminimizetime 5s
	$(GO) test ./model/tfjs/ -run XXX -fuzz FuzzImport -fuzztime 60s -fuzzminimizetime 5s

clean:
	rm -rf $(BUILD) cfworker/node_modules cfworker/.wrangler
