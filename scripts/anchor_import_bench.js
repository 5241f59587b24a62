#!/usr/bin/env node
// node scripts/anchor_import_bench.js <cpu|wasm-simd> MODELS [runs] [warmup]
// TensorFlow.js running @vladmandic/human's own graph models (emotion,
// blazeface; scripts/fetch_tfjs_models.sh puts them in MODELS) at batch 1:
// the reference figure next to edgenn's `bench` on the same models
// converted by `edgenn convert`. One JSON line per model, the anchors'
// protocol (common.js bench: warm-up runs, then timed runs).
// Needs NODE_PATH to the anchors' npm packages (with tfjs-converter) and
// ANCHORS to shared/anchors.
'use strict';
const fs = require('fs');
const path = require('path');

// loadHumanGraph loads one of human's graph models (NAME.json and its
// weight shards in dir) into TensorFlow.js from memory.
async function loadHumanGraph(tf, tfc, dir, name) {
  const mj = JSON.parse(fs.readFileSync(path.join(dir, name + '.json'), 'utf8'));
  const specs = [], bufs = [];
  for (const g of mj.weightsManifest) {
    specs.push(...g.weights);
    for (const p of g.paths) bufs.push(fs.readFileSync(path.join(dir, p)));
  }
  const all = Buffer.concat(bufs);
  return tfc.loadGraphModel(tf.io.fromMemory({
    modelTopology: mj.modelTopology, weightSpecs: specs,
    weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
  }));
}

const [backend = 'cpu', dir = '.cache/human-models', runsArg = '200', warmArg = '20'] = process.argv.slice(2);

async function main() {
  const { bench } = require(path.join(process.env.ANCHORS, 'common.js'));
  const tf = require('@tensorflow/tfjs-core');
  require('@tensorflow/tfjs-backend-cpu');
  const tfc = require('@tensorflow/tfjs-converter');
  if (backend === 'wasm-simd') {
    require('@tensorflow/tfjs-backend-wasm');
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    await tf.setBackend('wasm');
  } else {
    await tf.setBackend('cpu');
  }
  await tf.ready();
  for (const [name, shape] of [['emotion', [1, 64, 64, 1]], ['blazeface', [1, 256, 256, 3]]]) {
    const m = await loadHumanGraph(tf, tfc, dir, name);
    const x = tf.randomUniform(shape, -1, 1, 'float32', 7);
    const run = () => {
      let y = m.execute(x);
      if (!Array.isArray(y)) y = [y];
      for (const t of y) { t.dataSync(); t.dispose(); }
    };
    const st = await bench(run, Number(warmArg), Number(runsArg));
    console.log(JSON.stringify({ runtime: `tfjs-${backend}`, model: name, mode: 'import_b1', ...st, tensors_live: tf.memory().numTensors }));
  }
}
module.exports = { loadHumanGraph };
if (require.main === module) main().catch((e) => { console.error(e); process.exit(1); });
