// The npm package (make dist): packed with npm pack, installed from the
// tarball into a scratch app, imported there by its name and run on a
// model, whose outputs must equal TensorFlow.js cpu's on the same weights
// within the tolerance of the API tests.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { build, refs, zooModel } from "./fixtures.mjs";

test("the packed package installs and runs a model", () => {
  const dist = join(build, "dist");
  const pkg = JSON.parse(readFileSync(join(dist, "package.json"), "utf8"));
  const app = mkdtempSync(join(tmpdir(), "edgenn-app-"));
  try {
    const tgz = execFileSync("npm", ["pack", dist, "--pack-destination", app, "--silent"], { encoding: "utf8" }).trim().split("\n").pop();
    assert.equal(tgz, `edgenn-${pkg.version}.tgz`);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "scratch-app", private: true, type: "module" }));
    execFileSync("npm", ["install", "--no-audit", "--no-fund", "--offline", "--loglevel=error", join(app, tgz)], { cwd: app });
    const files = execFileSync("tar", ["-tzf", join(app, tgz)], { encoding: "utf8" }).split("\n").filter(Boolean).sort();
    assert.deepEqual(files, ["README.md", "edgenn-peer.js", "edgenn-scalar.wasm", "edgenn-worker.js", "edgenn.d.ts", "edgenn.js", "edgenn.wasm", "package.json", "wasm_exec.js"].map((f) => "package/" + f));
    writeFileSync(join(app, "main.mjs"), `
      import { EdgeNN } from "edgenn";
      import { readFileSync } from "node:fs";
      const enn = await EdgeNN.start({ workers: 1 });
      const info = await enn.info();
      const model = await enn.load(process.argv[2]);
      const b = readFileSync(process.argv[3]);
      const x = new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
      const out = await model.run(x);
      console.log(JSON.stringify({ version: info.version, simd: info.simd, out: Array.from(Object.values(out)[0]) }));
      await enn.terminate();
    `);
    const r = JSON.parse(execFileSync("node", ["main.mjs", zooModel("lenet5"), join(refs, "lenet5.input.bin")], { cwd: app, encoding: "utf8" }));
    assert.equal(r.version, pkg.version, "package.json and the wasm disagree on the version");
    assert.equal(r.simd, true, "Node 20 has wasm SIMD: the SIMD build should run");
    const b = readFileSync(join(refs, "lenet5.ref_output.bin"));
    const want = new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
    assert.equal(r.out.length, want.length);
    const diff = Math.max(...r.out.map((v, i) => Math.abs(v - want[i])));
    assert.ok(diff < 1e-5, `max |edgenn - TF.js| = ${diff}`);
  } finally {
    rmSync(app, { recursive: true, force: true });
  }
});
