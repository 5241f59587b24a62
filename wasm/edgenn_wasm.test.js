// Node's test runner drives the real browser module (build/edgenn.wasm and
// build/edgenn-scalar.wasm) through its JS API on the reference models, and
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
  const ctx = vm.createContext({ console, performance, crypto: require('crypto'), TextEncoder, TextDecoder, Uint8Array, Float32Array, Error, Array, Object, Promise, WebAssembly, setTimeout, clearTimeout, fs: require('fs'), process });
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
        const ins = api.inputs(h);
        assert.strictEqual(ins.length, 1);
        assert.strictEqual(ins[0].shape[0], -1);
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
