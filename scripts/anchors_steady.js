#!/usr/bin/env node
// node scripts/anchors_steady.js <tfjs-wasm-simd|ort-web-1t> MODELDIR RUNS WARMUP
// The anchors' inference measurement (same models, weights, input and checks,
// through shared/anchors/common.js) with a configurable warm-up, so that every
// runtime can also be compared in steady state, after V8 has moved the hot
// wasm functions from its baseline compiler to its optimising one. The
// anchors' own scripts warm up with 20 runs. Needs NODE_PATH with the pinned
// packages and ANCHORS naming shared/anchors.
'use strict';
const fs = require('fs');
const path = require('path');
const { loadModel, bench, checkRef } = require(path.join(process.env.ANCHORS, 'common.js'));
const [which, dir, runsArg = '200', warmArg = '2000'] = process.argv.slice(2);
const RUNS = parseInt(runsArg, 10), WARMUP = parseInt(warmArg, 10);
const models = ['lenet5', 'mobilenet_v1_025_128'];

// tfjsModel builds the anchors' layer stack with tfjs-layers, as bench_tfjs.js does.
function tfjsModel(tf, tfl, spec, T) {
  const m = tfl.sequential();
  spec.layers.forEach((l, i) => {
    const inp = i === 0 ? { inputShape: spec.input_shape.slice(1) } : {};
    const layer = {
      conv2d: () => tfl.layers.conv2d({ ...inp, filters: l.filters, kernelSize: l.kernel, strides: l.stride, padding: l.padding, activation: l.activation }),
      depthwise2d: () => tfl.layers.depthwiseConv2d({ ...inp, kernelSize: l.kernel, strides: l.stride, padding: l.padding, depthMultiplier: 1, activation: l.activation }),
      maxpool2d: () => tfl.layers.maxPooling2d({ ...inp, poolSize: l.pool, strides: l.stride }),
      flatten: () => tfl.layers.flatten(inp),
      globalavgpool: () => tfl.layers.globalAveragePooling2d(inp),
      dense: () => tfl.layers.dense({ ...inp, units: l.units, activation: l.activation }),
    }[l.type]();
    m.add(layer);
    if (l.weights) layer.setWeights(l.weights.map((n) => tf.tensor(T[n].data, T[n].shape)));
  });
  return m;
}

async function main() {
  for (const name of models) {
    const { spec, T, input, inputNCHW } = loadModel(dir, name);
    let run;
    if (which === 'tfjs-wasm-simd') {
      const tf = require('@tensorflow/tfjs-core');
      const tfl = require('@tensorflow/tfjs-layers');
      require('@tensorflow/tfjs-backend-wasm');
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      await tf.setBackend('wasm');
      await tf.ready();
      const model = tfjsModel(tf, tfl, spec, T);
      const x = tf.tensor(input, spec.input_shape);
      run = () => { const y = model.predict(x); const d = y.dataSync(); y.dispose(); return d; };
    } else if (which === 'ort-web-1t') {
      const ort = require('onnxruntime-web');
      ort.env.wasm.numThreads = 1;
      ort.env.wasm.proxy = false;
      const [, H, W, C] = spec.input_shape;
      const sess = await ort.InferenceSession.create(fs.readFileSync(path.join(dir, spec.onnx_file)),
        { executionProviders: ['wasm'], graphOptimizationLevel: 'all', logSeverityLevel: 3 });
      const x = new ort.Tensor('float32', inputNCHW, [1, C, H, W]);
      run = async () => (await sess.run({ input: x })).output.data;
    } else {
      throw new Error('unknown runtime ' + which);
    }
    const out = await run();
    const chk = checkRef(dir, name, out, false);
    const st = await bench(run, WARMUP, RUNS);
    const runtime = which === 'ort-web-1t' ? 'onnxruntime-web-1t' : which.replace('tfjs-', 'tfjs-');
    console.log(JSON.stringify({ runtime, model: name, mode: 'infer_b1', warmup: WARMUP, ...st, check: chk }));
  }
}
main().catch((e) => { console.log(JSON.stringify({ runtime: which, fatal: String(e.stack || e).slice(0, 500) })); process.exit(1); });
