// sketchpad.js: a canvas to draw on with a mouse, a finger or a pen (pointer
// events), and the MNIST preprocessing that turns a drawing into the 28x28
// input of a digits model.

/** The side of a model input, and of the box the drawing is scaled into, as in MNIST. */
export const SIDE = 28;
const BOX = 20;

/**
 * A drawing surface: white strokes on black. It dispatches "input" (at most
 * once an animation frame while a stroke is drawn) and "change" (when a
 * stroke ends or the pad is cleared).
 */
export class Sketchpad extends EventTarget {
  /** @param {HTMLCanvasElement} canvas */
  constructor(canvas) {
    super();
    this.canvas = canvas;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    if (!ctx) throw new Error("this browser has no 2D canvas");
    this.ctx = ctx;
    /** Whether anything has been drawn since the last clear. */
    this.empty = true;
    /** @type {number | null} the pointer drawing the current stroke */
    this.pointer = null;
    this.last = { x: 0, y: 0 };
    this.frame = 0;
    canvas.addEventListener("pointerdown", (e) => this.down(e));
    canvas.addEventListener("pointermove", (e) => this.move(e));
    canvas.addEventListener("pointerup", (e) => this.up(e));
    canvas.addEventListener("pointercancel", (e) => this.up(e));
    this.clear();
  }

  clear() {
    const { ctx, canvas } = this;
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    this.empty = true;
    this.dispatchEvent(new Event("change"));
  }

  /** @param {PointerEvent} e */
  at(e) {
    const r = this.canvas.getBoundingClientRect();
    return { x: ((e.clientX - r.left) / r.width) * this.canvas.width, y: ((e.clientY - r.top) / r.height) * this.canvas.height };
  }

  /** @param {PointerEvent} e */
  down(e) {
    if (this.pointer !== null || (e.pointerType === "mouse" && e.button !== 0)) return;
    e.preventDefault();
    this.pointer = e.pointerId;
    this.canvas.setPointerCapture(e.pointerId);
    this.last = this.at(e);
    this.segment(this.last, e.pressure);
  }

  /** @param {PointerEvent} e */
  move(e) {
    if (e.pointerId !== this.pointer) return;
    e.preventDefault();
    const events = typeof e.getCoalescedEvents === "function" ? e.getCoalescedEvents() : [];
    for (const c of events.length ? events : [e]) this.segment(this.at(c), c.pressure);
    if (!this.frame) {
      this.frame = requestAnimationFrame(() => {
        this.frame = 0;
        this.dispatchEvent(new Event("input"));
      });
    }
  }

  /** @param {PointerEvent} e */
  up(e) {
    if (e.pointerId !== this.pointer) return;
    this.pointer = null;
    this.dispatchEvent(new Event("change"));
  }

  /**
   * segment draws from the last point to p. A pen's pressure thickens the
   * line a little; a mouse or finger reports 0.5 and draws the base width.
   * @param {{x: number, y: number}} p @param {number} pressure
   */
  segment(p, pressure) {
    const { ctx } = this;
    const base = this.canvas.width / 11; // about MNIST's stroke once scaled into its 20 px box
    const pen = pressure > 0 && pressure !== 0.5 ? 0.7 + 0.6 * pressure : 1;
    ctx.strokeStyle = "#fff";
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.lineWidth = base * pen;
    ctx.beginPath();
    ctx.moveTo(this.last.x, this.last.y);
    ctx.lineTo(p.x + 0.01, p.y);
    ctx.stroke();
    this.last = p;
    this.empty = false;
  }

  /**
   * pixels returns the drawing as a model input (see toMNIST), or null when
   * nothing is drawn.
   */
  pixels() {
    if (this.empty) return null;
    const { width, height } = this.canvas;
    return toMNIST(this.ctx.getImageData(0, 0, width, height));
  }
}

/**
 * toMNIST preprocesses a drawing (white on black) as MNIST's digits were: the
 * drawing's bounding box is scaled, keeping its aspect, so that its longer
 * side is 20 px (averaging the pixels each output pixel covers), and placed in
 * a 28x28 image so that its centre of mass is the image's centre. Returns the
 * 784 intensities in [0,1], row-major, or null for an empty drawing.
 * @param {ImageData} img
 * @returns {Float32Array | null}
 */
export function toMNIST(img) {
  const { width: w, height: h, data } = img;
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (data[(y * w + x) * 4] > 12) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  if (x1 < 0) return null;
  const bw = x1 - x0 + 1, bh = y1 - y0 + 1;
  const scale = BOX / Math.max(bw, bh);
  const tw = Math.max(1, Math.round(bw * scale)), th = Math.max(1, Math.round(bh * scale));
  const small = new Float32Array(tw * th);
  if (scale <= 1) {
    // Shrinking: each output pixel is the mean of the source pixels it covers.
    const count = new Float32Array(tw * th);
    for (let y = 0; y < bh; y++) {
      const ty = Math.min(th - 1, Math.floor((y * th) / bh));
      for (let x = 0; x < bw; x++) {
        const tx = Math.min(tw - 1, Math.floor((x * tw) / bw));
        small[ty * tw + tx] += data[((y0 + y) * w + x0 + x) * 4];
        count[ty * tw + tx]++;
      }
    }
    for (let i = 0; i < small.length; i++) small[i] /= 255 * count[i];
  } else {
    // Growing a tiny drawing: nearest source pixel.
    for (let ty = 0; ty < th; ty++) {
      const y = y0 + Math.min(bh - 1, Math.floor((ty + 0.5) / scale));
      for (let tx = 0; tx < tw; tx++) {
        const x = x0 + Math.min(bw - 1, Math.floor((tx + 0.5) / scale));
        small[ty * tw + tx] = data[(y * w + x) * 4] / 255;
      }
    }
  }
  let mass = 0, cx = 0, cy = 0;
  for (let y = 0; y < th; y++) {
    for (let x = 0; x < tw; x++) {
      const v = small[y * tw + x];
      mass += v;
      cx += v * (x + 0.5);
      cy += v * (y + 0.5);
    }
  }
  const ox = Math.round(SIDE / 2 - cx / mass), oy = Math.round(SIDE / 2 - cy / mass);
  const out = new Float32Array(SIDE * SIDE);
  for (let y = 0; y < th; y++) {
    const Y = y + oy;
    if (Y < 0 || Y >= SIDE) continue;
    for (let x = 0; x < tw; x++) {
      const X = x + ox;
      if (X >= 0 && X < SIDE) out[Y * SIDE + X] = small[y * tw + x];
    }
  }
  return out;
}

/**
 * drawPixels paints a 28x28 input (values in [0,1]) on a canvas of that
 * size; null paints it black.
 * @param {HTMLCanvasElement} canvas @param {Float32Array | null} pixels
 */
export function drawPixels(canvas, pixels) {
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
  const img = ctx.createImageData(SIDE, SIDE);
  for (let i = 0; i < SIDE * SIDE; i++) {
    const v = pixels ? Math.round(Math.min(1, Math.max(0, pixels[i])) * 255) : 0;
    img.data[i * 4] = img.data[i * 4 + 1] = img.data[i * 4 + 2] = v;
    img.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

/**
 * shifted returns pixels moved by (dx, dy) whole pixels, filling with black.
 * @param {Float32Array} pixels @param {number} dx @param {number} dy
 */
export function shifted(pixels, dx, dy) {
  const out = new Float32Array(SIDE * SIDE);
  for (let y = 0; y < SIDE; y++) {
    const sy = y - dy;
    if (sy < 0 || sy >= SIDE) continue;
    for (let x = 0; x < SIDE; x++) {
      const sx = x - dx;
      if (sx >= 0 && sx < SIDE) out[y * SIDE + x] = pixels[sy * SIDE + sx];
    }
  }
  return out;
}
