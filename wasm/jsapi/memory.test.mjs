// Memory that does not grow: each tensor handed to a worker's Go instance is
// a JS reference that Go's GC must release, and a Go heap that allocates
// nothing per run is rarely collected. Hundreds of runs with large inputs
// must leave the process's memory where it was (before the fix, 700
// BlazeFace runs grew it by 480 MB).
import assert from "node:assert/strict";
import { test } from "node:test";

import { EdgeNN } from "../../www/edgenn.js";
import { build, digits } from "./fixtures.mjs";

test("memory stays flat over many runs with large inputs", async () => {
  const enn = await EdgeNN.start({ workers: 1, baseURL: build });
  try {
    const m = await enn.load(digits);
    const x = new Float32Array(256 * 28 * 28); // a batch of 256: 0.8 MB a run
    const rss = () => process.memoryUsage().rss;
    for (let i = 0; i < 50; i++) await m.run(x);
    const before = rss();
    const runs = 400; // 320 MB of inputs
    for (let i = 0; i < runs; i++) await m.run(x);
    const grown = rss() - before;
    assert.ok(grown < 96e6, `the process grew by ${(grown / 1e6).toFixed(0)} MB over ${runs} runs of 0.8 MB inputs`);
    const [w] = (await enn.info()).workers;
    assert.ok(w.memoryBytes < 64e6, `the worker's wasm memory is ${(w.memoryBytes / 1e6).toFixed(0)} MB`);
  } finally {
    await enn.terminate();
  }
});
