// edgenn.js under Node: a pool of two workers on the wasm builds in build/
// (make wasm zoo-models refs), held to TensorFlow.js cpu's outputs on the
// reference models; errors, transfers, the spread of runs and worker crashes.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { pathToFileURL } from "node:url";

import { EdgeNN } from "../../www/edgenn.js";
import { build, digits, maxAbsDiff, readF32, refs, zooModel } from "./fixtures.mjs";

const tolerance = 1e-5; // as wasm/edgenn_wasm.test.js
const names = ["lenet5", "mobilenet_v1_025_128"];
const ref = (name) => ({ x: readF32(join(refs, name + ".input.bin")), y: readF32(join(refs, name + ".ref_output.bin")) });

describe("a pool of two workers", () => {
  /** @type {EdgeNN} */
  let enn;
  const models = {};
  before(async () => {
    enn = await EdgeNN.start({ workers: 2, baseURL: build });
    for (const n of names) models[n] = await enn.load(zooModel(n));
  });
  after(() => enn.terminate());

  test("start picks the SIMD build where wasm SIMD validates, and reports the workers", async () => {
    assert.equal(EdgeNN.simdSupported(), true); // Node 20 has wasm SIMD
    assert.equal(enn.simd, true);
    assert.equal(enn.wasmURL, pathToFileURL(join(build, "edgenn.wasm")).href);
    assert.equal(enn.workers, 2);
    const info = await enn.info();
    assert.equal(info.version, enn.version);
    assert.equal(info.models, names.length);
    assert.deepEqual(info.workers.map((w) => [w.index, w.alive, w.simd, w.models]), [[0, true, true, 2], [1, true, true, 2]]);
    for (const w of info.workers) {
      assert.ok(w.memoryBytes >= w.sysBytes && w.sysBytes >= w.heapBytes && w.heapBytes > 100e3, JSON.stringify(w));
    }
  });

  for (const name of names) {
    test(`${name} matches TensorFlow.js cpu, with a bare array or a map`, async () => {
      const m = models[name];
      const { x, y } = ref(name);
      assert.deepEqual(m.info.inputs.map((i) => i.name), ["input"]);
      assert.equal(m.info.inputs[0].shape[0], -1);
      const bare = await m.run(x);
      assert.deepEqual(Object.keys(bare), ["output"]);
      assert.ok(bare.output instanceof Float32Array);
      assert.ok(maxAbsDiff(bare.output, y) <= tolerance, `max abs diff ${maxAbsDiff(bare.output, y)}`);
      const mapped = await m.run({ input: Array.from(x) }); // converted from numbers
      assert.deepEqual(mapped.output, bare.output);
      // A batch of two in one call: the same item twice.
      const x2 = new Float32Array(2 * x.length);
      x2.set(x);
      x2.set(x, x.length);
      const o2 = (await m.run(x2)).output;
      assert.deepEqual(o2.subarray(0, y.length), bare.output);
      assert.deepEqual(o2.subarray(y.length), bare.output);
    });
  }

  test("concurrent runs spread over the workers and each gets its own answer", async () => {
    const m = models.mobilenet_v1_025_128;
    const { x, y } = ref("mobilenet_v1_025_128");
    const before = (await enn.info()).workers.map((w) => w.completedCalls);
    // Eight different inputs: item k is the reference input scaled by k/8.
    const xs = Array.from({ length: 8 }, (_, k) => x.map((v) => (v * (k + 1)) / 8));
    const outs = await Promise.all(xs.map((xk) => m.run(xk)));
    const singles = [];
    for (const xk of xs) singles.push((await m.run(xk)).output);
    outs.forEach((o, k) => assert.deepEqual(o.output, singles[k]));
    assert.ok(maxAbsDiff(outs[7].output, y) <= tolerance);
    const after = (await enn.info()).workers.map((w) => w.completedCalls);
    // 16 runs and one info call each: both workers took a share of the runs.
    const took = after.map((a, i) => a - before[i] - 1);
    assert.equal(took[0] + took[1], 16);
    assert.ok(took[0] >= 4 && took[1] >= 4, `runs per worker ${took}`);
  });

  test("inputs are copied, or transferred with transfer: true; views send their own bytes", async () => {
    const m = models.lenet5;
    const { x, y } = ref("lenet5");
    const copy = x.slice();
    await m.run(copy);
    assert.equal(copy.length, x.length); // still the caller's
    const moved = x.slice();
    const out = await m.run(moved, { transfer: true });
    assert.equal(moved.length, 0); // detached: it went to the worker
    assert.ok(maxAbsDiff(out.output, y) <= tolerance);
    const big = new Float32Array(3 * x.length);
    big.set(x, x.length);
    const view = big.subarray(x.length, 2 * x.length);
    assert.deepEqual((await m.run(view, { transfer: true })).output, out.output);
    assert.equal(big.length, 3 * x.length); // a view is sliced, never its whole buffer moved
  });

  test("load reports progress from a file, a file: URL, bytes and HTTP with streaming", async () => {
    const want = readFileSync(digits);
    const sha = createHash("sha256").update(want).digest("hex");
    const seen = [];
    const m = await enn.load(digits, { onProgress: (p) => seen.push(p) });
    assert.deepEqual(seen.at(-1), { loaded: want.length, total: want.length });
    assert.equal(m.info.sha256, sha);
    assert.equal(m.info.bytes, want.length);
    assert.deepEqual(m.info.labels, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    assert.match(m.info.metadata.preprocessing, /28x28x1/);
    const x = new Float32Array(784).fill(0.25);
    const o = (await m.run(x)).output;

    const fromURL = await enn.load(pathToFileURL(digits));
    const fromBytes = await enn.load(new Uint8Array(want), { name: "mine" });
    const fromBuffer = await enn.load(want.buffer.slice(want.byteOffset, want.byteOffset + want.length));
    assert.equal(fromBytes.info.name, "mine");
    for (const other of [fromURL, fromBytes, fromBuffer]) assert.deepEqual((await other.run(x)).output, o);

    // HTTP in 4 KB chunks: progress at every chunk, total from Content-Length.
    const server = createServer((req, res) => {
      if (req.url !== "/digits.enn") return res.writeHead(404).end();
      res.writeHead(200, { "content-length": want.length, "content-type": "application/octet-stream" });
      let off = 0;
      const more = () => {
        if (off >= want.length) return res.end();
        res.write(want.subarray(off, off + 4096));
        off += 4096;
        setImmediate(more);
      };
      more();
    });
    await new Promise((r) => server.listen(0, "127.0.0.1", r));
    try {
      const base = `http://127.0.0.1:${server.address().port}`;
      const steps = [];
      const fromHTTP = await enn.load(base + "/digits.enn", { onProgress: (p) => steps.push(p) });
      assert.ok(steps.length >= 10, `${steps.length} progress calls`);
      assert.ok(steps.every((p, i) => p.total === want.length && (i === 0 || p.loaded > steps[i - 1].loaded)));
      assert.equal(steps.at(-1).loaded, want.length);
      assert.deepEqual((await fromHTTP.run(x)).output, o);
      fromHTTP.dispose();
      await assert.rejects(enn.load(base + "/missing.enn"), { message: `edgenn: load ${base}/missing.enn: HTTP 404 Not Found` });
    } finally {
      server.close();
    }
    for (const mm of [m, fromURL, fromBytes, fromBuffer]) mm.dispose();
  });

  test("profile times every compiled node", async () => {
    const costs = await models.lenet5.profile(undefined, { runs: 5 });
    // Flatten is folded away at compile time.
    assert.deepEqual(costs.map((c) => c.op), ["Conv2D", "MaxPool", "Conv2D", "MaxPool", "Dense", "Dense", "Dense", "Softmax"]);
    assert.equal(costs[0].name, "conv2d_0");
    for (const c of costs) assert.ok(c.medianMs >= c.minMs && c.meanMs >= c.minMs && c.minMs >= 0, JSON.stringify(c));
    const conv = costs.filter((c) => c.op === "Conv2D").reduce((s, c) => s + c.medianMs, 0);
    assert.ok(conv > 0, "convolutions take measurable time");
    // LeNet-5's arithmetic as `edgenn inspect` counts it: 839,354 FLOPs per example.
    assert.equal(costs.reduce((s, c) => s + c.flops, 0), 839354);
    assert.equal(costs[0].flops, 2 * 28 * 28 * 6 * 5 * 5); // conv1: 5x5 SAME, 6 filters, two FLOPs a multiply-add
  });

  test("errors name their cause", async () => {
    const m = models.lenet5;
    const cases = [
      [() => m.run(new Float32Array(100)), /^edgenn: engine: input "input" of shape \[-1,28,28,1\] needs a multiple of 784 float32s, got 100$/],
      [() => m.run({ image: new Float32Array(784) }), /^edgenn: model "lenet5" has no input "image" \(inputs: input\)$/],
      [() => m.run({}), /^edgenn: missing input "input" of model "lenet5"$/],
      [() => m.run("pixels"), /^edgenn: run takes a Float32Array or an object .* got string$/],
      [() => m.run({ input: "pixels" }), /^edgenn: input "input" must be a Float32Array, .* got string$/],
      [() => m.run(new Float32Array(784), { transfers: true }), /^edgenn: run: unknown option "transfers" \(transfer, offload, cut\)$/],
      [() => enn.load(new Uint8Array([0x82, 0xa6, 0x66, 0x6f, 0x72, 0x6d, 0x61, 0x74, 0xa3, 0x78, 0x79, 0x7a])),
        /^edgenn: load bytes: enn: not an edgenn file: format tag "xyz", want "edgenn"$/],
      [() => enn.load(join(build, "models", "nothing.enn")), /^edgenn: load .*nothing\.enn: ENOENT: no such file/],
      [() => enn.load(42), /^edgenn: expected a URL or a path, got number$/],
    ];
    for (const [f, message] of cases) await assert.rejects(f(), { message });
    // A model that failed to load is not left on any worker.
    const info = await enn.info();
    assert.deepEqual(info.workers.map((w) => w.models), [2, 2]);
  });

  test("a disposed model rejects, others are unharmed", async () => {
    const m = await enn.load(zooModel("lenet5"));
    const pending = m.run(ref("lenet5").x); // already sent: it completes
    m.dispose();
    assert.ok(maxAbsDiff((await pending).output, ref("lenet5").y) <= tolerance);
    await assert.rejects(m.run(new Float32Array(784)), { message: 'edgenn: model "lenet5" is disposed' });
    assert.throws(() => m.trainer(), { message: 'edgenn: model "lenet5" is disposed' });
    assert.ok(maxAbsDiff((await models.lenet5.run(ref("lenet5").x)).output, ref("lenet5").y) <= tolerance);
  });

  for (const how of ["panic", "exit", "throw"]) {
    test(`a worker that crashes (${how}) is replaced; its pending calls reject, the others succeed`, async () => {
      const m = models.mobilenet_v1_025_128;
      const { x, y } = ref("mobilenet_v1_025_128");
      const trainer = models.lenet5.trainer({ trainable: ["dense_7/"] });
      await trainer.evaluate(ref("lenet5").x, [3]);
      const w = trainer._slot.index; // crash the trainer's worker (a private field: tests only)
      // The crash call goes to worker w first; the runs then alternate
      // between the workers, and those queued behind the crash are lost.
      const crash = enn._crashWorker(w, how);
      const runs = Array.from({ length: 6 }, () => m.run(x));
      const settled = await Promise.allSettled(runs);
      const reason = { panic: "panic: edgenn: crash requested (test hook)", exit: "exited with code 3", throw: "crash requested (test hook)" }[how];
      assert.match((await crash).message, new RegExp(`^edgenn: worker ${w} crashed: .*${reason.replace(/[()]/g, "\\$&")}`));
      const rejected = settled.filter((s) => s.status === "rejected");
      const fulfilled = settled.filter((s) => s.status === "fulfilled");
      assert.ok(rejected.length >= 1 && fulfilled.length >= 3, `${rejected.length} rejected, ${fulfilled.length} fulfilled`);
      for (const r of rejected) assert.equal(r.reason.message, (await crash).message);
      for (const f of fulfilled) assert.ok(maxAbsDiff(f.value.output, y) <= tolerance);
      await assert.rejects(trainer.step(ref("lenet5").x, [3]), { message: `edgenn: trainer lost: ${(await crash).message.slice(8)}` });
      // Later calls all succeed, on both workers: the replacement loaded every model.
      const calls = async () => (await enn.info()).workers[w].completedCalls;
      const before = await calls();
      const later = await Promise.all(Array.from({ length: 8 }, () => m.run(x)));
      for (const o of later) assert.ok(maxAbsDiff(o.output, y) <= tolerance);
      assert.ok((await calls()) - before - 1 >= 3, "the replacement took its share of the runs");
      const info = await enn.info();
      assert.deepEqual(info.workers.map((i) => [i.alive, i.models]), [[true, 2], [true, 2]]);
    });
  }

  test("terminate rejects calls in flight and every call after", async () => {
    const own = await EdgeNN.start({ workers: 1, baseURL: build });
    const m = await own.load(zooModel("mobilenet_v1_025_128"));
    const inFlight = assert.rejects(m.run(ref("mobilenet_v1_025_128").x), { message: "edgenn: the pool was terminated" });
    await own.terminate();
    await inFlight;
    await assert.rejects(m.run(ref("mobilenet_v1_025_128").x), { message: "edgenn: the pool was terminated" });
    await assert.rejects(own.load(digits), { message: "edgenn: the pool was terminated" });
  });
});

test("simd: false runs the scalar build, held to the same references", async () => {
  const enn = await EdgeNN.start({ workers: 1, baseURL: build, simd: false });
  try {
    assert.equal(enn.simd, false);
    assert.match(enn.wasmURL, /edgenn-scalar\.wasm$/);
    for (const name of names) {
      const { x, y } = ref(name);
      const m = await enn.load(zooModel(name));
      assert.ok(maxAbsDiff((await m.run(x)).output, y) <= tolerance);
    }
  } finally {
    await enn.terminate();
  }
});

test("start fails with the cause", async () => {
  await assert.rejects(EdgeNN.start({ workers: 1, baseURL: join(build, "nowhere") }), { message: /^edgenn: start: file:.*nowhere\/edgenn\.wasm: ENOENT/ });
  await assert.rejects(EdgeNN.start({ workers: 0, baseURL: build }), { message: /^edgenn: start: workers must be an integer in \[1, 64\], got 0$/ });
  await assert.rejects(EdgeNN.start({ worker: 2 }), { message: /^edgenn: start: unknown option "worker"/ });
  await assert.rejects(EdgeNN.start({ workers: 1, baseURL: build, wasmExecURL: join(build, "missing.js") }), { message: /^edgenn: .*missing\.js/ });
});
