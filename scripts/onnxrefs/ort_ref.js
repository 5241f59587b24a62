#!/usr/bin/env node
// node scripts/onnxrefs/ort_ref.js MODELS_DIR OUT_DIR [CASES_DIR]
//
// ONNX Runtime Web (wasm, one thread) as the oracle for model/onnx: runs the
// anchors' ONNX models (lenet5, mobilenet_v1_025_128, written by
// shared/anchors/gen_models.js into MODELS_DIR) on fixed inputs and writes, for
// each model NAME, into OUT_DIR:
//   NAME.onnx         the model ORT ran (copied)
//   NAME.logits.onnx  the same graph with the Softmax's input as a second output
//   NAME.input.bin    the inputs, NCHW float32 little-endian, one after another:
//                     the anchors' reference input, then x[i] = 0.5 + 0.5*sin(0.1*i + 1)
//   NAME.output.bin   ORT's "output" for each input, in order
//   NAME.logits.bin   ORT's pre-softmax scores for each input, in order
//   NAME.json         shapes, the logits value's name, the ORT version
// With CASES_DIR (model/onnx/testdata/ort), it also runs every model its
// manifest.json lists on inputs x[i] = 2*sin(0.37*i + 1.3*k) (input k) and
// writes into OUT_DIR/cases, for each model CASE: CASE.in_K.bin, CASE.out_K.bin
// (float32 little-endian) and CASE.json (the files, output names and dims).
// Needs onnxruntime-web@1.30.0 on NODE_PATH.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-web');

const [modelsDir, outDir, casesDir] = process.argv.slice(2);
if (!modelsDir || !outDir) {
  console.error('usage: ort_ref.js MODELS_DIR OUT_DIR');
  process.exit(2);
}

// The protobuf wire format, as much as this script needs.
function fields(buf) {
  const out = [];
  let o = 0;
  const varint = () => {
    let v = 0, m = 1, c;
    do {
      if (o >= buf.length) throw new Error('truncated varint');
      c = buf[o++];
      v += (c & 0x7f) * m;
      m *= 128;
    } while (c & 0x80);
    return v;
  };
  while (o < buf.length) {
    const start = o;
    const key = varint();
    const field = Math.floor(key / 8), wt = key % 8;
    let vs, ve;
    if (wt === 0) { vs = o; varint(); ve = o; }
    else if (wt === 1) { vs = o; o += 8; ve = o; }
    else if (wt === 2) { const n = varint(); vs = o; o += n; ve = o; }
    else if (wt === 5) { vs = o; o += 4; ve = o; }
    else throw new Error('wire type ' + wt);
    out.push({ field, wt, start, end: o, body: buf.subarray(vs, ve) });
  }
  return out;
}
function varintBytes(n) {
  const a = [];
  while (n >= 128) { a.push((n % 128) | 128); n = Math.floor(n / 128); }
  a.push(n);
  return Buffer.from(a);
}
function lenField(field, payload) {
  return Buffer.concat([varintBytes(field * 8 + 2), varintBytes(payload.length), payload]);
}

// withLogitsOutput returns the model with the input of its Softmax node added
// as a graph output (ModelProto.graph = 7, GraphProto.node = 1 / output = 12,
// NodeProto.input = 1 / op_type = 4).
function withLogitsOutput(model) {
  const top = fields(model);
  const g = top.find((f) => f.field === 7);
  let logits = null;
  for (const nf of fields(g.body).filter((f) => f.field === 1)) {
    const nfs = fields(nf.body);
    const op = nfs.find((f) => f.field === 4);
    if (op && op.body.toString() === 'Softmax') logits = nfs.find((f) => f.field === 1).body.toString();
  }
  if (!logits) throw new Error('no Softmax node');
  const tensorType = lenField(1, Buffer.from([0x08, 0x01])); // TypeProto.tensor_type{elem_type: FLOAT}
  const vi = Buffer.concat([lenField(1, Buffer.from(logits)), lenField(2, tensorType)]);
  const graph = Buffer.concat([g.body, lenField(12, vi)]);
  const parts = top.map((f) => (f === g ? lenField(7, graph) : model.subarray(f.start, f.end)));
  return { bytes: Buffer.concat(parts), logits };
}

const f32 = (b) => new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
const bytes = (a) => Buffer.from(Float32Array.from(a).buffer);

async function main() {
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  const version = JSON.parse(fs.readFileSync(path.join(path.dirname(require.resolve('onnxruntime-web')), '..', 'package.json'), 'utf8')).version;
  fs.mkdirSync(outDir, { recursive: true });
  for (const name of ['lenet5', 'mobilenet_v1_025_128']) {
    const spec = JSON.parse(fs.readFileSync(path.join(modelsDir, `${name}.json`), 'utf8'));
    const [, H, W, C] = spec.input_shape;
    const model = fs.readFileSync(path.join(modelsDir, `${name}.onnx`));
    const aug = withLogitsOutput(model);
    const n = C * H * W;
    const wave = new Float32Array(n);
    for (let i = 0; i < n; i++) wave[i] = 0.5 + 0.5 * Math.sin(0.1 * i + 1);
    const inputs = [f32(fs.readFileSync(path.join(modelsDir, `${name}.input_nchw.bin`))), wave];
    const sess = await ort.InferenceSession.create(aug.bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all', logSeverityLevel: 3 });
    const outs = [], logits = [];
    for (const x of inputs) {
      if (x.length !== n) throw new Error(`${name}: input has ${x.length} values, want ${n}`);
      const r = await sess.run({ input: new ort.Tensor('float32', x, [1, C, H, W]) });
      outs.push(...r.output.data);
      logits.push(...r[aug.logits].data);
    }
    await sess.release();
    fs.writeFileSync(path.join(outDir, `${name}.onnx`), model);
    fs.writeFileSync(path.join(outDir, `${name}.logits.onnx`), aug.bytes);
    fs.writeFileSync(path.join(outDir, `${name}.input.bin`), Buffer.concat(inputs.map(bytes)));
    fs.writeFileSync(path.join(outDir, `${name}.output.bin`), bytes(outs));
    fs.writeFileSync(path.join(outDir, `${name}.logits.bin`), bytes(logits));
    fs.writeFileSync(path.join(outDir, `${name}.json`), JSON.stringify({
      model: name, input: 'input', input_shape: [1, C, H, W], samples: inputs.length,
      output: 'output', logits: aug.logits, runtime: 'onnxruntime-web', version, threads: 1,
    }, null, 1) + '\n');
    console.log(`${name}: ${inputs.length} inputs, logits ${aug.logits}`);
  }
  if (casesDir) await runCases(casesDir, path.join(outDir, 'cases'), version);
}

async function runCases(dir, out, version) {
  fs.mkdirSync(out, { recursive: true });
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  for (const c of manifest) {
    const name = c.model.replace(/\.onnx$/, '');
    const sess = await ort.InferenceSession.create(fs.readFileSync(path.join(dir, c.model)), { executionProviders: ['wasm'], graphOptimizationLevel: 'all', logSeverityLevel: 3 });
    const feeds = {}, inputs = [];
    c.inputs.forEach((inp, k) => {
      const n = inp.shape.reduce((a, b) => a * b, 1);
      const x = new Float32Array(n);
      for (let i = 0; i < n; i++) x[i] = 2 * Math.sin(0.37 * i + 1.3 * k);
      feeds[inp.name] = new ort.Tensor('float32', x, inp.shape);
      const file = `${name}.in_${k}.bin`;
      fs.writeFileSync(path.join(out, file), bytes(x));
      inputs.push(file);
    });
    const r = await sess.run(feeds);
    const outputs = sess.outputNames.map((o, k) => {
      const file = `${name}.out_${k}.bin`;
      fs.writeFileSync(path.join(out, file), bytes(r[o].data));
      return { name: o, file, dims: Array.from(r[o].dims) };
    });
    await sess.release();
    fs.writeFileSync(path.join(out, `${name}.json`), JSON.stringify({ model: c.model, inputs, outputs, runtime: 'onnxruntime-web', version }, null, 1) + '\n');
  }
  console.log(`${manifest.length} hand-made cases`);
}
main().catch((e) => { console.error(e.stack || String(e)); process.exit(1); });
