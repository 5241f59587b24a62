#!/usr/bin/env node
// TensorFlow.js cpu reference outputs for the model/tfjs importer tests.
//
//   NODE_PATH=.cache/anchors-npm/node_modules node scripts/tfjs_ref.js MODELS OUT
//
// MODELS holds @vladmandic/human's emotion and blazeface graph models
// (scripts/fetch_tfjs_models.sh puts them in .cache/human-models). Into OUT it
// writes:
//   - emotion_q8.{json,bin}, blazeface_f16.{json,bin}: the same two models with
//     every float32 weight re-stored uint8-quantised (min/scale) and as
//     float16, as the TF.js converter's --quantize_uint8/--quantize_float16 do;
//   - ops.{json,bin}: a hand-made graph model using every TF op the importer
//     maps, weights in float32, float16, uint8 and uint16;
//   - layers_seq/, layers_fn/: a Sequential and a functional tfjs-layers model
//     with random weights, saved as tfjs-layers saves them;
//   - for each case, its inputs and TF.js's outputs as raw little-endian
//     float32, and refs.json listing them: {cases: [{name, kind, dir, model,
//     inputs: [{name, shape, file}], outputs: [{name, shape, file}]}]}, where
//     dir is "models" (MODELS) or "refs" (OUT).
//   - blazeface_photo, emotion_photo: the two models on a real photo
//     (PHOTO, scripts/fetch_photos.sh's astronaut.png), prepared as
//     @vladmandic/human prepares them: the image resized to 256x256 in
//     [-1, 1] for BlazeFace; the face's square crop at 64x64, grey
//     (0.2989 R + 0.587 G + 0.114 B of [0, 1] values), then (g - 0.5) * 2.
// Inputs are deterministic (mulberry32), so reruns give identical files.
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const tfc = require('@tensorflow/tfjs-converter');
const tfl = require('@tensorflow/tfjs-layers');

const [modelsDir, outDir, photo] = process.argv.slice(2);
if (!modelsDir || !outDir || !photo) {
  console.error('usage: tfjs_ref.js MODELS OUT PHOTO.png');
  process.exit(2);
}

// readPNG decodes an 8-bit, non-interlaced RGB or RGBA PNG (Node has no
// image decoder and tfjs-node is not used) into an [h, w, 3] tensor of
// 0..255 values.
function readPNG(file) {
  const b = fs.readFileSync(file);
  let w = 0, h = 0, ct = 0;
  const idat = [];
  for (let o = 8; o < b.length;) {
    const len = b.readUInt32BE(o), type = b.toString('latin1', o + 4, o + 8), d = b.subarray(o + 8, o + 8 + len);
    if (type === 'IHDR') {
      w = d.readUInt32BE(0); h = d.readUInt32BE(4); ct = d[9];
      if (d[8] !== 8 || (ct !== 2 && ct !== 6) || d[12] !== 0) throw new Error(`${file}: only 8-bit RGB/RGBA non-interlaced PNGs`);
    } else if (type === 'IDAT') idat.push(d);
    o += 12 + len;
  }
  const raw = require('zlib').inflateSync(Buffer.concat(idat));
  const bpp = ct === 6 ? 4 : 3, stride = w * bpp;
  const px = new Uint8Array(h * stride);
  for (let y = 0; y < h; y++) {
    const f = raw[y * (stride + 1)], src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? px[y * stride + x - bpp] : 0, up = y > 0 ? px[(y - 1) * stride + x] : 0;
      const c = x >= bpp && y > 0 ? px[(y - 1) * stride + x - bpp] : 0;
      let v = src[x];
      if (f === 1) v += a;
      else if (f === 2) v += up;
      else if (f === 3) v += (a + up) >> 1;
      else if (f === 4) { const p = a + up - c, pa = Math.abs(p - a), pb = Math.abs(p - up), pc = Math.abs(p - c); v += pa <= pb && pa <= pc ? a : pb <= pc ? up : c; }
      px[y * stride + x] = v & 255;
    }
  }
  const rgb = new Float32Array(w * h * 3);
  for (let i = 0; i < w * h; i++) for (let k = 0; k < 3; k++) rgb[i * 3 + k] = px[i * bpp + k];
  return tf.tensor(rgb, [h, w, 3]);
}

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// uniform fills n values in [lo, hi).
function uniform(n, seed, lo = -1, hi = 1) {
  const r = mulberry32(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * r();
  return a;
}

// image makes an NHWC image in [-1, 1]: smooth gradients and blobs plus
// noise, closer to a photo than pure noise.
function image(shape, seed) {
  const [n, h, w, c] = shape;
  const r = mulberry32(seed);
  const a = new Float32Array(n * h * w * c);
  for (let b = 0; b < n; b++) {
    const cx = r() * w, cy = r() * h, rad = (0.2 + 0.3 * r()) * Math.min(h, w);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const d = Math.hypot(x - cx, y - cy) / rad;
        for (let k = 0; k < c; k++) {
          let v = 0.6 * Math.exp(-d * d) + 0.3 * Math.sin((x + 2 * y + 5 * k + 7 * b) / 9) + 0.25 * (r() - 0.5);
          a[((b * h + y) * w + x) * c + k] = Math.max(-1, Math.min(1, v));
        }
      }
    }
  }
  return a;
}

const cases = [];
const safe = (s) => s.replace(/[^A-Za-z0-9_.-]/g, '_');

function writeF32(file, data) {
  const f = Float32Array.from(data);
  fs.writeFileSync(path.join(outDir, file), Buffer.from(f.buffer, f.byteOffset, f.byteLength));
}

function record(name, kind, dir, model, inputs, outputs) {
  const c = { name, kind, dir, model, inputs: [], outputs: [] };
  for (const [n, shape, data] of inputs) {
    const file = `${name}.in.${safe(n)}.bin`;
    writeF32(file, data);
    c.inputs.push({ name: n, shape, file });
  }
  for (const [n, t] of outputs) {
    const file = `${name}.out.${safe(n)}.bin`;
    writeF32(file, t.dataSync());
    c.outputs.push({ name: n, shape: t.shape, file });
  }
  cases.push(c);
}

// artifacts reads a model.json and its shards into tf.io ModelArtifacts.
function artifacts(dir, file) {
  const mj = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
  const specs = [];
  const bufs = [];
  for (const g of mj.weightsManifest) {
    specs.push(...g.weights);
    for (const p of g.paths) bufs.push(fs.readFileSync(path.join(dir, path.dirname(file), p)));
  }
  const all = Buffer.concat(bufs);
  return {
    json: mj,
    art: {
      modelTopology: mj.modelTopology,
      format: mj.format,
      generatedBy: mj.generatedBy,
      convertedBy: mj.convertedBy,
      signature: mj.signature,
      userDefinedMetadata: mj.userDefinedMetadata,
      weightSpecs: specs,
      weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
    },
  };
}

async function runGraph(name, dir, file, inputs, outputNames) {
  const { art } = artifacts(dir === 'models' ? modelsDir : outDir, file);
  const m = await tfc.loadGraphModel(tf.io.fromMemory(art));
  const feed = {};
  for (const [n, shape, data] of inputs) feed[n] = tf.tensor(data, shape);
  let outs = m.execute(feed, outputNames);
  if (!Array.isArray(outs)) outs = [outs];
  record(name, 'graph', dir, file, inputs, outputNames.map((n, i) => [n, outs[i]]));
}

// float16 bits of a float32 value, rounding to nearest even.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function toHalf(v) {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1), half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
  return sign | h;
}

// quantise returns the bytes of values stored as kind ("float32", "float16",
// "uint8", "uint16") and the manifest entry's quantization field.
function quantise(values, kind) {
  if (kind === 'float32') {
    const f = Float32Array.from(values);
    return { bytes: Buffer.from(f.buffer), q: undefined };
  }
  if (kind === 'float16') {
    const h = new Uint16Array(values.length);
    for (let i = 0; i < values.length; i++) h[i] = toHalf(values[i]);
    return { bytes: Buffer.from(h.buffer), q: { dtype: 'float16' } };
  }
  let lo = Infinity, hi = -Infinity;
  for (const v of values) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  const levels = kind === 'uint8' ? 255 : 65535;
  const scale = hi > lo ? (hi - lo) / levels : 1;
  const q = kind === 'uint8' ? new Uint8Array(values.length) : new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) q[i] = Math.round((values[i] - lo) / scale);
  return { bytes: Buffer.from(q.buffer), q: { dtype: kind, min: lo, scale } };
}

// requantise writes a copy of a graph model with its float32 weights stored
// as kind, in one shard.
function requantise(file, kind, outName) {
  const { json, art } = artifacts(modelsDir, file);
  const all = Buffer.from(art.weightData);
  let off = 0;
  const specs = [];
  const parts = [];
  for (const s of art.weightSpecs) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const size = n * 4;
    const raw = all.subarray(off, off + size);
    off += size;
    if (s.dtype !== 'float32' || s.quantization) {
      specs.push(s);
      parts.push(raw);
      continue;
    }
    const vals = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + size));
    const { bytes, q } = quantise(vals, kind);
    specs.push({ ...s, quantization: q });
    parts.push(bytes);
  }
  fs.writeFileSync(path.join(outDir, outName + '.bin'), Buffer.concat(parts));
  const out = { ...json, weightsManifest: [{ paths: [outName + '.bin'], weights: specs }] };
  fs.writeFileSync(path.join(outDir, outName + '.json'), JSON.stringify(out));
}

// The hand-made graph model: NodeDefs as the converter writes them.
function opsModel() {
  const b64 = (s) => Buffer.from(s).toString('base64');
  const nodes = [];
  const weights = [];
  const parts = [];
  let seed = 1000;
  const T = { T: { type: 'DT_FLOAT' } };
  const ints = (a) => ({ list: { i: a.map(String) } });
  const strs = (a) => ({ list: { s: a.map(b64) } });
  const node = (name, op, input, attr = {}) => { nodes.push({ name, op, input, attr: { ...T, ...attr } }); return name; };
  const konst = (name, shape, values, kind = 'float32', dtype = 'float32') => {
    const n = shape.reduce((a, b) => a * b, 1);
    const vals = values || uniform(n, seed++, -0.5, 0.5);
    let bytes, q;
    if (dtype === 'int32') bytes = Buffer.from(Int32Array.from(vals).buffer);
    else ({ bytes, q } = quantise(vals, kind));
    const spec = { name, shape, dtype };
    if (q) spec.quantization = q;
    weights.push(spec);
    parts.push(bytes);
    nodes.push({ name, op: 'Const', attr: { value: { tensor: { dtype: dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT', tensorShape: { dim: shape.map((d) => ({ size: String(d) })) } } }, dtype: { type: dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT' } } });
    return name;
  };
  const i32 = (name, values, shape) => konst(name, shape || [values.length], values, 'float32', 'int32');
  const conv = { data_format: { s: b64('NHWC') }, dilations: ints([1, 1, 1, 1]), explicit_paddings: { list: {} } };
  const strides = (s) => ints([1, s, s, 1]);
  const pad = (p) => ({ s: b64(p) });

  nodes.push({ name: 'x', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: { dim: [{ size: '-1' }, { size: '12' }, { size: '12' }, { size: '3' }] } } } });
  // Fused convolutions: every fusion the converter emits.
  let a = node('conv_a', '_FusedConv2D', ['x', konst('wa', [3, 3, 3, 8], null, 'float16'), konst('ba', [8])],
    { ...conv, strides: strides(1), padding: pad('SAME'), fused_ops: strs(['BiasAdd', 'Relu']), num_args: { i: '1' } });
  a = node('conv_b', '_FusedConv2D', [a, konst('wb', [3, 3, 8, 8], null, 'uint8'), konst('bb', [8])],
    { ...conv, strides: strides(2), padding: pad('EXPLICIT'), explicit_paddings: ints([0, 0, 1, 0, 0, 1, 0, 0]), fused_ops: strs(['BiasAdd', 'Relu6']), num_args: { i: '1' } });
  a = node('conv_c', '_FusedConv2D', [a, konst('wc', [1, 1, 8, 8]), konst('bc', [8])],
    { ...conv, strides: strides(1), padding: pad('VALID'), fused_ops: strs(['BiasAdd', 'LeakyRelu']), num_args: { i: '1' }, leakyrelu_alpha: { f: 0.15 } });
  a = node('conv_d', '_FusedConv2D', [a, konst('wd', [3, 3, 8, 8], null, 'uint16'), konst('bd', [8]), konst('alpha_d', [8])],
    { ...conv, strides: strides(1), dilations: ints([1, 2, 2, 1]), padding: pad('SAME'), fused_ops: strs(['BiasAdd', 'Prelu']), num_args: { i: '2' } });
  a = node('conv_e', '_FusedConv2D', [a, konst('we', [3, 3, 8, 8]), konst('be', [8])],
    { ...conv, strides: strides(1), padding: pad('SAME'), fused_ops: strs(['BiasAdd', 'Elu']), num_args: { i: '1' } });
  a = node('dw_a', 'FusedDepthwiseConv2dNative', [a, konst('wdwa', [3, 3, 8, 2], null, 'uint8'), konst('bdwa', [16])],
    { ...conv, strides: strides(1), padding: pad('SAME'), fused_ops: strs(['BiasAdd', 'Relu']), num_args: { i: '1' } });
  a = node('dw_b', 'DepthwiseConv2dNative', [a, konst('wdwb', [3, 3, 16, 1])], { ...conv, strides: strides(1), padding: pad('VALID') });
  // NCHW convolutions (TF.js honours data_format for Conv2D and _FusedConv2D,
  // not for depthwise convolutions, pools or BiasAdd): in and out of
  // NCHW by Transposes, then back, so the chain stays NHWC.
  const nchwConv = { data_format: { s: b64('NCHW') }, dilations: ints([1, 1, 1, 1]), explicit_paddings: { list: {} } };
  const cs = (s) => ints([1, 1, s, s]);
  let c = node('to_nchw', 'Transpose', [a, i32('perm_nchw', [0, 3, 1, 2])], { Tperm: { type: 'DT_INT32' } });
  c = node('conv_nchw', 'Conv2D', [c, konst('wn', [3, 3, 16, 16], uniform(2304, 501, -0.05, 0.05))], { ...nchwConv, strides: cs(1), padding: pad('SAME') });
  c = node('fconv_nchw', '_FusedConv2D', [c, konst('wn2', [1, 1, 16, 16], uniform(256, 502, -0.1, 0.1)), konst('bn2', [16])],
    { ...nchwConv, strides: cs(1), padding: pad('VALID'), fused_ops: strs(['BiasAdd', 'Relu']), num_args: { i: '1' } });
  c = node('from_nchw', 'Transpose', [c, i32('perm_nhwc', [0, 2, 3, 1])], { Tperm: { type: 'DT_INT32' } });
  a = node('nchw_res', 'AddV2', [a, c]);
  // A constant chain (folded at import): the filter is Reshape(Mul(w, 2)).
  const wg = node('wg', 'Reshape', [node('wg_scaled', 'Mul', [konst('wg_flat', [128]), konst('two', [], [2])]), i32('wg_shape', [1, 1, 16, 8])]);
  a = node('conv_g', 'Conv2D', [a, wg], { ...conv, strides: strides(1), padding: pad('SAME') });
  a = node('bias_g', 'BiasAdd', [a, konst('bg', [8])], { data_format: { s: b64('NHWC') } });
  // N x 4 x 4 x 8 from here. Elementwise ops and their lowerings.
  const elu = node('elu', 'Elu', [a]);
  const relu = node('relu', 'Relu', [a]);
  let e = node('add', 'AddV2', [elu, relu]);
  e = node('sub', 'Sub', [e, konst('sub_c', [8])]);
  e = node('mul', 'Mul', [e, konst('mul_c', [], [1.5])]);
  e = node('div', 'RealDiv', [e, konst('div_c', [8], uniform(8, 77, 0.5, 2))]);
  e = node('add_b', 'Add', [e, node('tanh', 'Tanh', [a])]);
  const mx0 = node('max0', 'Maximum', [e, konst('zero', [], [0])]);
  const r6 = node('min6', 'Minimum', [node('relu_m', 'Relu', [e]), konst('six', [], [6])]);
  const clipLo = node('max_c', 'Maximum', [e, konst('lo', [], [-0.25])]);
  const clipHi = node('min_c', 'Minimum', [clipLo, konst('hi', [], [0.3])]);
  const leak = node('leak_pat', 'Maximum', [e, node('leak_mul', 'Mul', [konst('leak_a', [], [0.3]), e])]);
  let s = node('sum1', 'AddV2', [mx0, r6]);
  s = node('sum2', 'AddV2', [s, clipHi]);
  s = node('sum3', 'AddV2', [s, leak]);
  s = node('sum4', 'AddV2', [s, node('lrelu', 'LeakyRelu', [e], { alpha: { f: 0.1 } })]);
  s = node('sum5', 'AddV2', [s, node('prelu', 'Prelu', [e, konst('prelu_a', [8])])]);
  s = node('sum6', 'AddV2', [s, node('relu6', 'Relu6', [node('mul6', 'Mul', [e, konst('eight', [], [8])])])]);
  s = node('sum7', 'AddV2', [s, node('sigmoid', 'Sigmoid', [e])]);
  s = node('bn', 'FusedBatchNormV3', [s, konst('bn_scale', [8]), konst('bn_offset', [8]), konst('bn_mean', [8]), konst('bn_var', [8], uniform(8, 99, 0.5, 1.5))],
    { epsilon: { f: 0.001 }, data_format: { s: b64('NHWC') }, is_training: { b: false }, U: { type: 'DT_FLOAT' } });
  // Pools, pads, concat, transpose, resizes.
  const mp = node('maxpool', 'MaxPool', [s], { ksize: ints([1, 2, 2, 1]), strides: strides(2), padding: pad('SAME'), data_format: { s: b64('NHWC') } });
  const ap = node('avgpool', 'AvgPool', [s], { ksize: ints([1, 3, 3, 1]), strides: strides(1), padding: pad('SAME'), data_format: { s: b64('NHWC') } });
  const pd = node('pad', 'Pad', [ap, i32('pad_p', [0, 0, 1, 1, 2, 1, 0, 0], [4, 2])], { Tpaddings: { type: 'DT_INT32' } });
  const pd2 = node('padv2', 'PadV2', [ap, i32('pad2_p', [0, 0, 0, 2, 1, 2, 0, 0], [4, 2]), konst('pad2_v', [], [0.5])], { Tpaddings: { type: 'DT_INT32' } });
  const mpd = node('mirrorpad', 'MirrorPad', [ap, i32('mpad_p', [0, 0, 2, 0, 1, 2, 0, 0], [4, 2])], { mode: { s: b64('REFLECT') }, Tpaddings: { type: 'DT_INT32' } });
  const cat = node('concat', 'ConcatV2', [pd, pd2, mpd, i32('concat_axis', [-1], [])], { N: { i: '3' }, Tidx: { type: 'DT_INT32' } }); // N x 6 x 7 x 24
  const tr = node('transpose', 'Transpose', [cat, i32('perm', [0, 2, 1, 3])], { Tperm: { type: 'DT_INT32' } }); // N x 7 x 6 x 24
  const rb = node('resize_hp', 'ResizeBilinear', [tr, i32('size_a', [9, 11])], { align_corners: { b: false }, half_pixel_centers: { b: true } });
  const rb2 = node('resize_ac', 'ResizeBilinear', [tr, i32('size_b', [9, 11])], { align_corners: { b: true }, half_pixel_centers: { b: false } });
  const rn = node('resize_nn', 'ResizeNearestNeighbor', [tr, i32('size_c', [9, 11])], { align_corners: { b: false }, half_pixel_centers: { b: true } });
  const rsum = node('rsum', 'AddV2', [node('rsum0', 'AddV2', [rb, rb2]), rn]);
  // Reductions, reshapes, matmuls, softmax.
  const mean = node('mean', 'Mean', [rsum, i32('mean_axes', [1, 2])], { keep_dims: { b: false }, Tidx: { type: 'DT_INT32' } }); // N x 24
  const mean2 = node('mean_keep', 'Mean', [mp, i32('mean2_axes', [-1])], { keep_dims: { b: true }, Tidx: { type: 'DT_INT32' } }); // N x 2 x 2 x 1
  const sq = node('squeeze', 'Squeeze', [mean2], { squeeze_dims: ints([3]) }); // N x 2 x 2
  const rs = node('reshape', 'Reshape', [sq, i32('rs_shape', [-1, 4])], { Tshape: { type: 'DT_INT32' } }); // N x 4
  const ed = node('expand', 'ExpandDims', [rs, i32('ed_axis', [1], [])], { Tdim: { type: 'DT_INT32' } }); // N x 1 x 4
  const sq2 = node('squeeze_all', 'Squeeze', [ed]); // N x 4 (at batch >= 2)
  const feat = node('feat', 'ConcatV2', [mean, sq2, i32('feat_axis', [1], [])], { N: { i: '2' }, Tidx: { type: 'DT_INT32' } }); // N x 28
  const fm = node('fmm', '_FusedMatMul', [feat, konst('fc1_w', [28, 16], null, 'float16'), konst('fc1_b', [16])],
    { transpose_a: { b: false }, transpose_b: { b: false }, fused_ops: strs(['BiasAdd', 'Relu']), num_args: { i: '1' } });
  const mm = node('mm', 'MatMul', [fm, konst('fc2_w', [10, 16], uniform(160, 503, -0.1, 0.1))], { transpose_a: { b: false }, transpose_b: { b: true } });
  const logits = node('logits', 'BiasAdd', [mm, konst('fc2_b', [10])], { data_format: { s: b64('NHWC') } });
  const prob = node('prob', 'Softmax', [logits]);
  const gram = node('gram', 'MatMul', [fm, fm], { transpose_a: { b: false }, transpose_b: { b: true } });
  node('out_prob', 'Identity', [prob]);
  node('out_logits', 'Identity', [logits]);
  node('out_gram', 'Identity', [gram]);
  node('out_map', 'Identity', [rsum]);
  nodes.push({ name: 'unused_noop', op: 'NoOp', input: ['^out_prob'] });

  const sig = (names) => Object.fromEntries(names.map((n) => [n + ':0', { name: n + ':0', dtype: 'DT_FLOAT' }]));
  const mj = {
    format: 'graph-model',
    generatedBy: 'edgenn scripts/tfjs_ref.js',
    convertedBy: 'hand-made',
    signature: { inputs: sig(['x']), outputs: sig(['out_prob', 'out_logits', 'out_gram', 'out_map']) },
    modelTopology: { node: nodes, library: {}, versions: {} },
    // Two groups (and two shards in the first) to exercise the manifest.
    weightsManifest: [],
  };
  const all = Buffer.concat(parts);
  const cut = (parts.length / 2) | 0;
  const first = Buffer.concat(parts.slice(0, cut));
  const half = (first.length / 2) | 0;
  fs.writeFileSync(path.join(outDir, 'ops.1.bin'), first.subarray(0, half));
  fs.writeFileSync(path.join(outDir, 'ops.2.bin'), first.subarray(half));
  fs.writeFileSync(path.join(outDir, 'ops.3.bin'), all.subarray(first.length));
  mj.weightsManifest.push({ paths: ['ops.1.bin', 'ops.2.bin'], weights: weights.slice(0, cut) });
  mj.weightsManifest.push({ paths: ['ops.3.bin'], weights: weights.slice(cut) });
  fs.writeFileSync(path.join(outDir, 'ops.json'), JSON.stringify(mj, null, 1));
}

// saveLayers saves a tfjs-layers model as tfjs-layers does (model.json with
// modelTopology and weightsManifest, one weights.bin) under OUT/dir.
async function saveLayers(model, dir) {
  fs.mkdirSync(path.join(outDir, dir), { recursive: true });
  await model.save(tf.io.withSaveHandler(async (a) => {
    fs.writeFileSync(path.join(outDir, dir, 'weights.bin'), Buffer.from(a.weightData));
    const mj = {
      modelTopology: a.modelTopology, format: a.format, generatedBy: a.generatedBy, convertedBy: a.convertedBy,
      weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }],
    };
    fs.writeFileSync(path.join(outDir, dir, 'model.json'), JSON.stringify(mj));
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
}

// randomise gives every weight of model seeded random values (variances
// positive), so that BatchNormalization's statistics are not the identity.
function randomise(model, seed) {
  for (const layer of model.layers) {
    const ws = layer.getWeights();
    if (!ws.length) continue;
    layer.setWeights(ws.map((w, i) => {
      const n = w.size;
      const isVar = layer.getClassName() === 'BatchNormalization' && i === 3;
      const v = isVar ? uniform(n, seed++, 0.5, 1.5) : uniform(n, seed++, -0.4, 0.4);
      return tf.tensor(v, w.shape);
    }));
  }
}

async function layersCase(name, model, inputShape, seed) {
  randomise(model, seed);
  await saveLayers(model, name);
  const { art } = artifacts(path.join(outDir, name), 'model.json');
  const loaded = await tfl.loadLayersModel(tf.io.fromMemory(art));
  const x = image(inputShape, seed + 500);
  const y = loaded.predict(tf.tensor(x, inputShape));
  // Names as the saved model has them (a reloaded model renames its inputs).
  const inName = model.inputs[0].name.split('/')[0];
  const outName = model.outputs[0].name.split('/')[0];
  record(name, 'layers', 'refs', name + '/model.json', [[inName, inputShape, x]], [[outName, y]]);
}

async function main() {
  await tf.setBackend('cpu');
  await tf.ready();
  fs.mkdirSync(outDir, { recursive: true });

  // The real models, as shipped and re-quantised.
  const emoIn = [['input_1', [2, 64, 64, 1], image([2, 64, 64, 1], 1)]];
  const emoOut = ['Identity', 'StatefulPartitionedCall/model_1/global_average_pooling2d_1/Mean'];
  await runGraph('emotion', 'models', 'emotion.json', emoIn, emoOut);
  requantise('emotion.json', 'uint8', 'emotion_q8');
  await runGraph('emotion_q8', 'refs', 'emotion_q8.json', emoIn, emoOut);
  const bfIn = [['input', [1, 256, 256, 3], image([1, 256, 256, 3], 2)]];
  const bfOut = ['Identity', 'Identity_1', 'Identity_2', 'Identity_3'];
  await runGraph('blazeface', 'models', 'blazeface.json', bfIn, bfOut);
  requantise('blazeface.json', 'float16', 'blazeface_f16');
  await runGraph('blazeface_f16', 'refs', 'blazeface_f16.json', bfIn, bfOut);

  // A real photo, prepared as Human prepares it. The face box is where
  // BlazeFace finds it on this photo (about x 172..277, y 74..180 of 512),
  // enlarged 1.2x to a square as the demo crops it.
  const img = readPNG(photo);
  const [ph, pw] = img.shape;
  const bfPhoto = tf.tidy(() => tf.sub(tf.div(tf.image.resizeBilinear(tf.expandDims(img, 0), [256, 256]), 127.5), 1));
  await runGraph('blazeface_photo', 'models', 'blazeface.json', [['input', [1, 256, 256, 3], bfPhoto.dataSync()]], bfOut);
  const [cx, cy, side] = [(172 + 277) / 2, (74 + 180) / 2, 1.2 * 106];
  const box = [[(cy - side / 2) / ph, (cx - side / 2) / pw, (cy + side / 2) / ph, (cx + side / 2) / pw]];
  const face = tf.tidy(() => {
    const crop = tf.div(tf.image.cropAndResize(tf.expandDims(img, 0), box, [0], [64, 64]), 255);
    const [r, g, b] = tf.split(crop, 3, 3);
    const grey = tf.addN([tf.mul(r, 0.2989), tf.mul(g, 0.587), tf.mul(b, 0.114)]);
    return tf.mul(tf.sub(grey, 0.5), 2);
  });
  await runGraph('emotion_photo', 'models', 'emotion.json', [['input_1', [1, 64, 64, 1], face.dataSync()]], emoOut);

  // Every mapped TF op.
  opsModel();
  await runGraph('ops', 'refs', 'ops.json', [['x', [2, 12, 12, 3], image([2, 12, 12, 3], 3)]], ['out_prob', 'out_logits', 'out_gram', 'out_map', 'fconv_nchw']);

  // Keras layers: a Sequential and a functional model.
  const L = tfl.layers;
  const seq = tfl.sequential({ name: 'seq' });
  seq.add(L.zeroPadding2d({ inputShape: [10, 10, 3], padding: [[1, 0], [2, 1]] }));
  seq.add(L.conv2d({ filters: 6, kernelSize: 3, padding: 'same', activation: 'relu' }));
  seq.add(L.batchNormalization({ epsilon: 0.01 }));
  seq.add(L.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, strides: 2, padding: 'valid', activation: 'relu6' }));
  seq.add(L.separableConv2d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'tanh' }));
  seq.add(L.reLU({ maxValue: 6 }));
  seq.add(L.leakyReLU({ alpha: 0.2 }));
  seq.add(L.maxPooling2d({ poolSize: 2, strides: 1, padding: 'same' }));
  seq.add(L.averagePooling2d({ poolSize: 2, padding: 'valid' }));
  seq.add(L.activation({ activation: 'sigmoid' }));
  seq.add(L.dropout({ rate: 0.25 }));
  seq.add(L.flatten());
  seq.add(L.dense({ units: 12, activation: 'elu' }));
  seq.add(L.reshape({ targetShape: [3, 4] }));
  seq.add(L.flatten());
  seq.add(L.dense({ units: 5, activation: 'softmax' }));
  await layersCase('layers_seq', seq, [2, 10, 10, 3], 2000);

  const inp = tfl.input({ shape: [9, 9, 4], name: 'image' });
  const c1 = L.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', name: 'c1' }).apply(inp);
  const b1 = L.batchNormalization({ name: 'bn1' }).apply(c1);
  const r1 = L.activation({ activation: 'relu', name: 'act1' }).apply(b1);
  const c2 = L.conv2d({ filters: 8, kernelSize: 1, activation: 'relu6', name: 'c2' }).apply(r1);
  const d2 = L.depthwiseConv2d({ kernelSize: 3, padding: 'same', name: 'dw2', activation: 'linear' }).apply(r1);
  const add = L.add({ name: 'sum' }).apply([c2, d2, r1]);
  const s3 = L.separableConv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'sep3', useBias: false }).apply(add);
  const cat = L.concatenate({ name: 'cat' }).apply([add, s3]);
  const zp = L.zeroPadding2d({ padding: 1, name: 'zp' }).apply(cat);
  const gp = L.globalAveragePooling2d({ name: 'gap' }).apply(zp);
  const dr = L.dropout({ rate: 0.5, name: 'drop' }).apply(gp);
  const fc = L.dense({ units: 6, name: 'fc', activation: 'linear' }).apply(dr);
  const fn = tfl.model({ inputs: inp, outputs: fc, name: 'fn' });
  await layersCase('layers_fn', fn, [3, 9, 9, 4], 3000);

  fs.writeFileSync(path.join(outDir, 'refs.json'), JSON.stringify({
    tfjs_core: tf.version_core, tfjs_converter: tfc.version_converter, tfjs_layers: tfl.version_layers,
    backend: tf.getBackend(), node: process.version, cases,
  }, null, 1));
}

main().catch((e) => { console.error(e); process.exit(1); });
