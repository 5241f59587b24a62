// chart.js: a live line chart of training loss on a canvas: one point per
// step, epoch boundaries as faint lines, redrawn at most once a frame.

export class LossChart {
  /** @param {HTMLCanvasElement} canvas */
  constructor(canvas) {
    this.canvas = canvas;
    /** @type {number[]} */ this.points = [];
    /** @type {number[]} steps at which an epoch ended */ this.epochs = [];
    this.totalSteps = 0;
    this.frame = 0;
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  /** reset clears the chart for a run of totalSteps steps. @param {number} totalSteps */
  reset(totalSteps) {
    this.points = [];
    this.epochs = [];
    this.totalSteps = totalSteps;
    this.schedule();
  }

  /** @param {number} loss */
  add(loss) {
    this.points.push(loss);
    this.schedule();
  }

  endEpoch() {
    this.epochs.push(this.points.length);
    this.schedule();
  }

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => { this.frame = 0; this.draw(); });
  }

  draw() {
    const pts = this.points;
    const n = Math.max(this.totalSteps, pts.length, 2);
    const { ctx, W, H, pad, x, y } = frame(this.canvas, { l: 44, r: 12, t: 12, b: 26 }, n, Math.max(...pts.filter(Number.isFinite), 0.1), (v) => v.toPrecision(2));
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    ctx.fillText(pts.length ? `step ${pts.length} of ${this.totalSteps}` : "loss per step appears here while training", (pad.l + W - pad.r) / 2, H - pad.b + 8);
    ctx.strokeStyle = "#cbd5e1";
    ctx.setLineDash([3, 4]);
    for (const e of this.epochs.slice(0, -1)) {
      ctx.beginPath();
      ctx.moveTo(x(e - 0.5), pad.t);
      ctx.lineTo(x(e - 0.5), H - pad.b);
      ctx.stroke();
    }
    ctx.setLineDash([]);
    if (pts.length === 0) return;
    ctx.strokeStyle = "#0d9488";
    ctx.lineWidth = 2;
    ctx.lineJoin = "round";
    ctx.beginPath();
    pts.forEach((v, i) => (i ? ctx.lineTo(x(i), y(v)) : ctx.moveTo(x(i), y(v))));
    ctx.stroke();
    ctx.fillStyle = "#0d9488";
    ctx.beginPath();
    ctx.arc(x(pts.length - 1), y(pts[pts.length - 1]), 3, 0, 2 * Math.PI);
    ctx.fill();
  }
}

/**
 * frame sizes the canvas to its CSS box at the device's pixel ratio, clears
 * it and draws the horizontal grid with its value ticks on the left, from 0
 * to max rounded up. x maps a point index (of n across the plot) and y a
 * value to canvas coordinates.
 * @param {HTMLCanvasElement} c
 * @param {{l: number, r: number, t: number, b: number}} pad
 * @param {number} n @param {number} max
 * @param {(v: number) => string} label
 */
export function frame(c, pad, n, max, label) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(c.clientWidth * dpr)), h = Math.max(1, Math.round(c.clientHeight * dpr));
  if (c.width !== w || c.height !== h) {
    c.width = w;
    c.height = h;
  }
  const ctx = /** @type {CanvasRenderingContext2D} */ (c.getContext("2d"));
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  const W = w / dpr, H = h / dpr;
  ctx.clearRect(0, 0, W, H);
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = "#64748b";
  const top = niceCeil(max);
  const x = (/** @type {number} */ i) => pad.l + (i / (n - 1)) * (W - pad.l - pad.r);
  const y = (/** @type {number} */ v) => pad.t + (1 - Math.min(v, top) / top) * (H - pad.t - pad.b);
  ctx.strokeStyle = "#e2e8f0";
  ctx.lineWidth = 1;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (let k = 0; k <= 4; k++) {
    const v = (top * k) / 4;
    ctx.beginPath();
    ctx.moveTo(pad.l, y(v));
    ctx.lineTo(W - pad.r, y(v));
    ctx.stroke();
    ctx.fillText(label(v), pad.l - 6, y(v));
  }
  return { ctx, W, H, pad, x, y };
}

/** niceCeil rounds v up to 1, 2 or 5 times a power of ten. @param {number} v */
function niceCeil(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}
