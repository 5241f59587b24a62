// Node's test runner drives the real browser module (build/edgenn.wasm and
// build/edgenn-scalar.wasm) through its raw globalThis.edgenn API on the reference models, and
// compares with TensorFlow.js cpu's outputs on the same weights.
// Run by make test (node --test wasm/) after make wasm; needs EDGENN_REFS and
// the zoo models in build/models.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const path = require('path');
const vm = require('vm');

const root = path.join(__dirname, '..');
const refs = process.env.EDGENN_REFS;

function readF32(p) {
  const b = fs.readFileSync(p);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

// start instantiates one Go wasm module in its own context and resolves with
// its globalThis.edgenn API.
function start(file) {
  const ctx = vm.createContext({ console, performance, crypto: require('crypto'), TextEncoder, TextDecoder, Uint8Array, Float32Array, Int32Array, Error, Array, Object, Promise, WebAssembly, setTimeout, clearTimeout, fs: require('fs'), process });
  ctx.globalThis = ctx;
  vm.runInContext(fs.readFileSync(path.join(root, 'build', 'wasm_exec.js'), 'utf8'), ctx);
  return new Promise((resolve, reject) => {
    ctx.edgennReady = resolve;
    const go = new ctx.Go();
    WebAssembly.instantiate(fs.readFileSync(path.join(root, 'build', file)), go.importObject)
      .then((r) => { go.run(r.instance); }).catch(reject);
  });
}

for (const [file, simd] of [['edgenn.wasm', true], ['edgenn-scalar.wasm', false]]) {
  test(file, async (t) => {
    assert.ok(refs, 'EDGENN_REFS must name the TensorFlow.js reference outputs (make refs)');
    const api = await start(file);
    assert.strictEqual(api.simd, simd);

    for (const name of ['lenet5', 'mobilenet_v1_025_128']) {
      await t.test(name + ' matches TensorFlow.js cpu', () => {
        const bytes = new Uint8Array(fs.readFileSync(path.join(root, 'build', 'models', name + '.enn')));
        const h = api.load(bytes);
        assert.strictEqual(typeof h, 'number', String(h));
        const info = api.describe(h);
        assert.strictEqual(info.name, name);
        assert.deepStrictEqual(info.inputs.map((i) => i.name), ['input']);
        assert.strictEqual(info.inputs[0].shape[0], -1);
        assert.deepStrictEqual(info.outputs.map((o) => o.name), ['output']);
        const x = readF32(path.join(refs, name + '.input.bin'));
        const ref = readF32(path.join(refs, name + '.ref_output.bin'));
        const out = api.run(h, x);
        assert.ok(Array.isArray(out), String(out));
        assert.ok(out[0] instanceof Float32Array);
        assert.strictEqual(out[0].length, ref.length);
        let d = 0;
        for (let i = 0; i < ref.length; i++) d = Math.max(d, Math.abs(out[0][i] - ref[i]));
        assert.ok(d <= 1e-5, `max abs diff ${d}`);
        // A batch of two in one call gives the same item twice.
        const x2 = new Float32Array(2 * x.length); x2.set(x); x2.set(x, x.length);
        const o2 = api.run(h, x2)[0];
        assert.strictEqual(o2.length, 2 * ref.length);
        for (let i = 0; i < ref.length; i++) assert.strictEqual(o2[i + ref.length], o2[i]);
        api.free(h);
      });
    }

    await t.test('a trainer steps, saves and frees', () => {
      const h = api.load(new Uint8Array(fs.readFileSync(path.join(root, 'www', 'models', 'digits.enn'))));
      const x = readF32(path.join(refs, 'lenet5.input.bin'));
      const tr = api.trainer(h, { optimizer: 'sgd', lr: 0.1, trainable: ['dense_7/'], batchSize: 1 });
      assert.strictEqual(typeof tr, 'number', String(tr));
      const labels = new Int32Array([3]);
      const losses = [0, 1, 2].map(() => api.step(tr, x, labels));
      assert.ok(losses[0] > losses[1] && losses[1] > losses[2], String(losses));
      const m = api.load(api.save(tr, false));
      const p = api.run(m, x)[0];
      // After three steps toward class 3, the saved model's loss is below the last step's.
      assert.ok(-Math.log(p[3]) < losses[2], `${-Math.log(p[3])} vs ${losses[2]}`);
      assert.match(api.step(tr, x, new Int32Array([10])).message, /label 10/);
      assert.match(api.trainer(h, { optimizer: 'rmsprop' }).message, /unknown optimizer "rmsprop"/);
      assert.strictEqual(api.info().trainers, 1);
      api.freeTrainer(tr);
      assert.match(api.step(tr, x, labels).message, /no trainer with handle/);
      api.free(h);
      api.free(m);
    });

    await t.test('errors name their cause', () => {
      const bad = api.load(new Uint8Array([0x82, 0xa6, 0x66, 0x6f, 0x72, 0x6d, 0x61, 0x74, 0xa3, 0x78, 0x79, 0x7a]));
      assert.ok(bad instanceof Error && /edgenn: .*format/.test(bad.message), String(bad));
      assert.match(String(api.load('not bytes')), /Uint8Array/);
      const h = api.load(new Uint8Array(fs.readFileSync(path.join(root, 'build', 'models', 'lenet5.enn'))));
      assert.match(api.run(h, new Float32Array(100)).message, /input "input".*multiple of 784/);
      assert.match(api.run(h, [1, 2, 3]).message, /not a Float32Array/);
      assert.match(api.run(h).message, /run got 0 inputs/);
      api.free(h);
      assert.match(api.run(h, new Float32Array(784)).message, /no model with handle/);
    });
  });
}
