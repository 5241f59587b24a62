// faceprep.js: the pixel work of the Faces view, done with a canvas's
// drawImage and getImageData only. It makes the face detector's input (the
// image letterboxed into the model's square, RGB in [-1, 1]), maps the
// detector's boxes back to image pixels, and makes each face's input to the
// emotion classifier (a square crop around the face, grey, in [-1, 1]).
//
// The value ranges are those the models were trained with, as
// @vladmandic/human 3.3.6 feeds them: BlazeFace takes x / 127.5 - 1 of each
// channel; the emotion model takes (g - 0.5) * 2 of the grey level
// g = 0.2989 R + 0.587 G + 0.114 B, with R, G, B in [0, 1].

/**
 * An image to analyse: anything a canvas draws, with its size in pixels.
 * @typedef {{source: CanvasImageSource, width: number, height: number}} Frame
 */

/**
 * Where the image sits in the detector's square input: scaled by scale and
 * moved by (dx, dy) input pixels; the rest is black.
 * @typedef {{size: number, scale: number, dx: number, dy: number}} Fit
 */

/**
 * A face in image pixels.
 * @typedef {{score: number, box: [number, number, number, number], keypoints: [number, number][]}} Face
 */

/** Grey levels from R, G, B (ITU-R BT.601 luma, as Human's emotion module weighs them). */
const LUMA = [0.2989, 0.587, 0.114];

/**
 * A scratch canvas for reading pixels back.
 * @param {number} width @param {number} height
 */
function scratch(width, height) {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  if (!ctx) throw new Error("this browser has no 2D canvas");
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = "high"; // downscaling: average, do not alias
  return ctx;
}

/**
 * letterbox scales the image to fit a size x size square, keeping its aspect
 * ratio, centres it on black and returns the detector's input (1 x size x
 * size x 3, NHWC, each channel x / 127.5 - 1) and where the image went.
 * Black is -1, as Human pads.
 * @param {Frame} frame @param {number} size
 * @returns {{input: Float32Array, fit: Fit}}
 */
export function letterbox(frame, size) {
  const scale = size / Math.max(frame.width, frame.height);
  const w = frame.width * scale, h = frame.height * scale;
  const fit = { size, scale, dx: (size - w) / 2, dy: (size - h) / 2 };
  const ctx = scratch(size, size);
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, size, size);
  ctx.drawImage(frame.source, fit.dx, fit.dy, w, h);
  const rgba = ctx.getImageData(0, 0, size, size).data;
  const input = new Float32Array(size * size * 3);
  for (let p = 0, q = 0; p < rgba.length; p += 4, q += 3) {
    input[q] = rgba[p] / 127.5 - 1;
    input[q + 1] = rgba[p + 1] / 127.5 - 1;
    input[q + 2] = rgba[p + 2] / 127.5 - 1;
  }
  return { input, fit };
}

/**
 * toImage maps a detection (normalised to the detector's input) back to
 * image pixels, clamping the box to the image.
 * @param {import("./edgenn.d.ts").Detection} det @param {Fit} fit @param {Frame} frame
 * @returns {Face}
 */
export function toImage(det, fit, frame) {
  const x = (/** @type {number} */ v) => (v * fit.size - fit.dx) / fit.scale;
  const y = (/** @type {number} */ v) => (v * fit.size - fit.dy) / fit.scale;
  const cx = (/** @type {number} */ v) => Math.min(Math.max(v, 0), frame.width);
  const cy = (/** @type {number} */ v) => Math.min(Math.max(v, 0), frame.height);
  const [x0, y0, x1, y1] = det.box;
  return {
    score: det.score,
    box: [cx(x(x0)), cy(y(y0)), cx(x(x1)), cy(y(y1))],
    keypoints: det.keypoints.map(([u, v]) => /** @type {[number, number]} */ ([x(u), y(v)])),
  };
}

/**
 * square returns the square around a box, its side the box's longer side
 * times enlarge, centred on the box: [x, y, side] in image pixels (it may
 * reach past the image's edges).
 * @param {[number, number, number, number]} box @param {number} enlarge
 * @returns {[number, number, number]}
 */
export function square(box, enlarge) {
  const [x0, y0, x1, y1] = box;
  const side = Math.max(x1 - x0, y1 - y0) * enlarge;
  return [(x0 + x1 - side) / 2, (y0 + y1 - side) / 2, side];
}

/**
 * greyCrop cuts the square [x, y, side] out of the image, scales it to
 * size x size and returns the emotion classifier's input (size x size x 1,
 * (grey - 0.5) * 2). What lies outside the image is black, as Human crops.
 * @param {Frame} frame @param {[number, number, number]} sq @param {number} size
 */
export function greyCrop(frame, sq, size) {
  const [x, y, side] = sq;
  const ctx = scratch(size, size);
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, size, size);
  // drawImage clips a source rectangle that reaches past the image and
  // draws the part inside where it belongs.
  const k = size / side;
  const sx = Math.max(0, x), sy = Math.max(0, y);
  const sw = Math.min(frame.width, x + side) - sx, sh = Math.min(frame.height, y + side) - sy;
  if (sw > 0 && sh > 0) ctx.drawImage(frame.source, sx, sy, sw, sh, (sx - x) * k, (sy - y) * k, sw * k, sh * k);
  const rgba = ctx.getImageData(0, 0, size, size).data;
  const out = new Float32Array(size * size);
  for (let p = 0, q = 0; q < out.length; p += 4, q++) {
    const g = (LUMA[0] * rgba[p] + LUMA[1] * rgba[p + 1] + LUMA[2] * rgba[p + 2]) / 255;
    out[q] = (g - 0.5) * 2;
  }
  return out;
}

/**
 * drawGrey shows a classifier input (values in [-1, 1]) on a canvas of its size.
 * @param {HTMLCanvasElement} canvas @param {Float32Array} grey
 */
export function drawGrey(canvas, grey) {
  const ctx = canvas.getContext("2d");
  if (!ctx) return;
  const img = ctx.createImageData(canvas.width, canvas.height);
  for (let q = 0; q < grey.length && q * 4 < img.data.length; q++) {
    const v = Math.round((grey[q] / 2 + 0.5) * 255);
    img.data[q * 4] = img.data[q * 4 + 1] = img.data[q * 4 + 2] = v;
    img.data[q * 4 + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}
