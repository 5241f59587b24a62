#!/usr/bin/env node
// node scripts/anchor_train_mobilenet.js <cpu|wasm-simd> <modelsdir> [batch] [steps]
// One SGD step (trainOnBatch, every layer trained) of MobileNetV1-0.25-128
// in TensorFlow.js, on the anchors' weights: the reference figure next to
// edgenn's `bench mobilenet_v1_025_128.enn --train`. Prints one JSON line.
// Needs NODE_PATH to the anchors' npm packages and ANCHORS to shared/anchors.
'use strict';
const path = require('path');
const { loadModel, bench } = require(path.join(process.env.ANCHORS, 'common.js'));

const [backend = 'cpu', dir = '.cache/anchors-models', batchArg = '8', stepsArg = '10'] = process.argv.slice(2);
const B = parseInt(batchArg, 10), STEPS = parseInt(stepsArg, 10);

async function main() {
  const tf = require('@tensorflow/tfjs-core');
  const tfl = require('@tensorflow/tfjs-layers');
  require('@tensorflow/tfjs-backend-cpu');
  if (backend === 'wasm-simd') {
    require('@tensorflow/tfjs-backend-wasm');
    await tf.setBackend('wasm');
  } else {
    await tf.setBackend('cpu');
  }
  await tf.ready();
  const { spec, T, input } = loadModel(dir, 'mobilenet_v1_025_128');
  const m = tfl.sequential();
  spec.layers.forEach((l, i) => {
    const inp = i === 0 ? { inputShape: spec.input_shape.slice(1) } : {};
    const mk = {
      conv2d: () => tfl.layers.conv2d({ ...inp, filters: l.filters, kernelSize: l.kernel, strides: l.stride, padding: l.padding, activation: l.activation }),
      depthwise2d: () => tfl.layers.depthwiseConv2d({ ...inp, kernelSize: l.kernel, strides: l.stride, padding: l.padding, activation: l.activation }),
      globalavgpool: () => tfl.layers.globalAveragePooling2d(inp),
      flatten: () => tfl.layers.flatten(inp),
      dense: () => tfl.layers.dense({ ...inp, units: l.units, activation: l.activation }),
    }[l.type];
    if (!mk) throw new Error('unknown layer ' + l.type);
    const layer = mk();
    m.add(layer);
    if (l.weights) layer.setWeights(l.weights.map((n) => tf.tensor(T[n].data, T[n].shape)));
  });
  m.compile({ optimizer: tf.train.sgd(0.01), loss: 'categoricalCrossentropy' });
  const item = input.length;
  const xs = new Float32Array(B * item);
  for (let b = 0; b < B; b++) xs.set(input, b * item);
  const x = tf.tensor(xs, [B, ...spec.input_shape.slice(1)]);
  const classes = m.outputs[0].shape[1];
  const y = tf.oneHot(tf.tensor1d(Array.from({ length: B }, (_, i) => i % classes), 'int32'), classes).cast('float32');
  const meta = { runtime: `tfjs-${backend}`, model: 'mobilenet_v1_025_128', mode: `train_sgd_b${B}_full_trainOnBatch` };
  try {
    const st = await bench(async () => { await m.trainOnBatch(x, y); }, 2, STEPS);
    console.log(JSON.stringify({ ...meta, ...st }));
  } catch (e) {
    console.log(JSON.stringify({ ...meta, error: String(e.message || e).slice(0, 200) }));
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
