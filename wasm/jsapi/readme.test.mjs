// The README's JavaScript example must run as printed: it is extracted,
// placed in build/ (its import rewritten to reach www/ from there) and run
// from the repository root, as the README says to.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { build, root } from "./fixtures.mjs";

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
