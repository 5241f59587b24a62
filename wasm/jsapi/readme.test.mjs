// The README's JavaScript examples must run as printed: each is extracted,
// placed in build/ (its import rewritten to reach www/ from there) and run
// from the repository root, as the README says to; the offload example with
// the host and the native worker the README starts beside it.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { build, freeAddr, listening, root } from "./fixtures.mjs";

test("the README's JavaScript example runs", () => {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const m = readme.match(/```js\n([\s\S]*?)```/);
  assert.ok(m, "README.md has no ```js block");
  assert.ok(m[1].includes('from "./www/edgenn.js"'), "the example no longer imports ./www/edgenn.js");
  const file = join(build, "readme_example.mjs");
  writeFileSync(file, m[1].replace('from "./www/edgenn.js"', 'from "../www/edgenn.js"'));
  const out = execFileSync("node", [file], { cwd: root, encoding: "utf8" });
  assert.match(out, /^class 1$/m, out);
  const losses = [...out.matchAll(/^loss ([0-9.e+-]+)$/gm)].map((l) => Number(l[1]));
  assert.equal(losses.length, 4, out); // 2 epochs of 2 batches
  assert.ok(losses.every(Number.isFinite), out);
});

test("the README's source example runs", () => {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((b) => b[1]);
  const src = blocks.find((b) => b.includes("enn.source("));
  assert.ok(src, "README.md has no example of enn.source");
  const file = join(build, "readme_source_example.mjs");
  writeFileSync(file, src.replace('from "./www/edgenn.js"', 'from "../www/edgenn.js"'));
  const out = execFileSync("node", [file], { cwd: root, encoding: "utf8" });
  assert.match(out, /^left class 1 in [0-9.]+ ms$/m, out);
  assert.match(out, /^right class 1 in [0-9.]+ ms$/m, out);
  assert.match(out, /^left: 1 run\(s\), right: 1 run\(s\) \| views prepared: 2$/m, out);
});

test("the README's offload example runs", async () => {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((b) => b[1]);
  const src = blocks.find((b) => b.includes("enn.join("));
  assert.ok(src, "README.md has no example of enn.join");
  // The host and the native worker the README starts, on a free port.
  const addr = await freeAddr();
  const bin = join(build, "edgenn");
  const procs = [];
  try {
    procs.push(spawn(bin, ["serve", "--addr", addr, "--hub-room", "lab=a-long-token"], { cwd: root, stdio: "ignore" }));
    await listening(addr);
    procs.push(spawn(bin, ["worker", "--hub", `ws://${addr}/hub`, "--room", "lab", "--token", "a-long-token",
      "--models", join(build, "run-models")], { cwd: root, stdio: "ignore" }));
    const file = join(build, "readme_offload_example.mjs");
    assert.ok(src.includes("ws://127.0.0.1:8080/hub"), "the example no longer joins ws://127.0.0.1:8080/hub");
    writeFileSync(file, src.replace('from "./www/edgenn.js"', 'from "../www/edgenn.js"').replace("127.0.0.1:8080", addr));
    const out = await run(process.execPath, ["--experimental-websocket", "--no-warnings", file]);
    assert.match(out, /^tail on \S+ from \S+ \| [0-9.]+ ms here, [0-9.]+ ms remote, [0-9.]+ ms in all$/m, out);
    assert.match(out, /^same answer: true$/m, out);
  } finally {
    for (const p of procs) p.kill();
  }
});


/** Runs a command from the repository root and resolves to its stdout; rejects with its output if it fails. */
function run(cmd, args) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd: root });
    let out = "", err = "";
    p.stdout.on("data", (d) => { out += d; });
    p.stderr.on("data", (d) => { err += d; });
    const timer = setTimeout(() => p.kill(), 60_000);
    p.on("close", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(" ")} exited ${code}:\n${out}\n${err}`));
    });
  });
}
