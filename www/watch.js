// watch.js: the Watch view. One camera (or a video file), three tasks on one
// edgenn source (enn.source): a face detector (BlazeFace, found in the
// models index by its "postprocess" metadata) finds the faces, the emotion
// classifier reads each face (chained on the detector's boxes, batched) and
// a classifier (MobileNet, when the host serves it) reads the whole frame at
// a lower rate. Frames enter the source once; the source prepares each
// task's view, schedules the tasks by priority and rate, and reports each
// task's figures, which the view shows as a table and a chart.
//
// Tests read the state as data- attributes of #view-watch (state, camera,
// frames, faces, top-emotion, top-class, prepared, shared, runs-<task>) and
// as window.__edgenn_demo.watch.

import { LossChart, frame } from "./chart.js";
import { $, formatBytes, formatMs } from "./ui.js";

/** @typedef {import("./app.js").App} App */
/** @typedef {import("./edgenn.d.ts").Model} Model */
/** @typedef {import("./edgenn.d.ts").Source} Source */
/** @typedef {import("./edgenn.d.ts").TaskResult} TaskResult */
/** @typedef {import("./edgenn.d.ts").TaskMetrics} TaskMetrics */
/** @typedef {import("./edgenn.d.ts").SourceMetrics} SourceMetrics */
/** @typedef {import("./edgenn.d.ts").Detection} Detection */
/** @typedef {import("./app.js").IndexEntry} IndexEntry */
/** @typedef {{box: [number, number, number, number], emotion: string, prob: number}} Mood */

/** Frames a second the source reads from the video. */
const FPS = 15;
/** The classifier's target rate: the whole frame changes slowly. */
const CLASSIFIER_RATE = 5;
/** The table and the chart are refreshed this often. */
const REFRESH_MS = 500;
/** The chart shows this many refreshes (a minute). */
const HISTORY = 120;
/** The classes of Human's emotion model, when its file names none. */
const EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"];
/** Pixels in [0, 255] to [-1, 1], as Human feeds BlazeFace and emotion, and as MobileNet expects. */
const UNIT = { mean: 127.5, std: 127.5 };
/** Each task's colour in the chart and the table. */
const COLOURS = { faces: "#0d9488", emotion: "#f59e0b", classifier: "#6366f1" };

/**
 * @param {App} app
 * @param {Record<string, any>} demo the page's test-facing state
 */
export function mountWatch(app, demo) {
  const section = $("view-watch");
  const video = /** @type {HTMLVideoElement} */ ($("watch-video"));
  const overlay = /** @type {HTMLCanvasElement} */ ($("watch-overlay"));
  const note = $("watch-note");
  const chart = new RateChart($("watch-chart"));
  /** @type {{detector: Model, emotion: Model, classifier: Model | null, emotions: string[], classes: string[] | null} | null} */
  let models = null;
  /** @type {Promise<boolean> | null} resolves to whether the face models are there */
  let loading = null;
  /**
   * The running source and what feeds it; null when stopped.
   * @type {{source: Source, stream: MediaStream | null, url: string, timer: number, gen: number} | null}
   */
  let live = null;
  /** Bumped on every start and stop: results of an older source are not shown. */
  let generation = 0;

  const state = (demo.watch = {
    /** The latest faces and their emotions, in frame pixels. */
    faces: /** @type {Detection[]} */ ([]),
    moods: /** @type {Mood[]} */ ([]),
    /** The classifier's top class on the latest frame it read. */
    top: /** @type {{index: number, label: string, prob: number} | null} */ (null),
    /** The latest figures of source.metrics(). */
    metrics: /** @type {SourceMetrics | null} */ (null),
    /** Task results that came with an error. */
    errors: 0,
  });

  $("watch-camera").addEventListener("click", () => start("camera"));
  $("watch-file").addEventListener("change", (/** @type {Event} */ e) => {
    const input = /** @type {HTMLInputElement} */ (e.target);
    const file = input.files?.[0];
    if (file) start("file", file);
    input.value = ""; // choosing the same file again plays it again
  });
  $("watch-stop").addEventListener("click", stop);
  // The camera stays on only while the view is shown.
  window.addEventListener("hashchange", () => { if (location.hash !== "#watch") stop(); });
  document.addEventListener("visibilitychange", () => { if (document.hidden) stop(); });

  /**
   * load finds the models in the host's index and loads them once. The face
   * models are needed; the classifier is optional. A missing model is said
   * in the view; a failure is shown, and the next call tries again.
   * @returns {Promise<boolean>}
   */
  function load() {
    loading ??= (async () => {
      await app.ready;
      setState("loading");
      const index = await app.modelIndex();
      const det = index.find((m) => m.metadata?.postprocess?.startsWith("blazeface"));
      const emo = index.find((m) => m.name === "emotion");
      const cls = index.find((m) => m.name.startsWith("mobilenet"));
      if (!det || !emo) {
        const missing = [!det && "a face detector (BlazeFace: a model with \"postprocess\" metadata)", !emo && "the emotion classifier (emotion.enn)"].filter(Boolean);
        say(`This host does not serve ${missing.join(" or ")}. Run \`make run\`, which fetches and converts the face models, then reload this page.`);
        $("watch-models").textContent = "missing";
        setState("missing");
        return false;
      }
      const [detector, emotion, classifier] = await Promise.all([
        app.enn.load(`models/${det.file}`, { name: det.name }),
        app.enn.load(`models/${emo.file}`, { name: emo.name }),
        cls ? app.enn.load(`models/${cls.file}`, { name: cls.name }) : null,
      ]);
      models = {
        detector, emotion, classifier,
        emotions: emotion.info.labels ?? emo.labels ?? EMOTIONS,
        classes: classifier?.info.labels ?? cls?.labels ?? null,
      };
      $("watch-models").textContent = [det.name, emo.name, cls ? cls.name : "no classifier (the host serves no MobileNet)"].join(", ");
      if (!cls) say("This host serves no MobileNet (mobilenet_v1_025_128.enn, from `make zoo-models`): the view runs the two face tasks only.");
      setButtons(true);
      setState("ready");
      return true;
    })().catch((e) => {
      loading = null; // a later visit tries again
      setState("failed");
      app.showError(e);
      return false;
    });
    return loading;
  }

  /**
   * start opens the camera or plays a video file, and runs the tasks on it.
   * @param {"camera" | "file"} kind @param {File} [file]
   */
  async function start(kind, file) {
    stop();
    const gen = ++generation;
    if (!(await load()) || gen !== generation) return;
    const m = /** @type {NonNullable<typeof models>} */ (models);
    /** @type {MediaStream | null} */
    let stream = null;
    let url = "";
    setButtons(false); // until the user has answered the browser's question
    try {
      if (kind === "camera") {
        if (!navigator.mediaDevices?.getUserMedia) throw new Error("this browser gives no camera to pages (it needs https or localhost)");
        stream = await navigator.mediaDevices.getUserMedia({
          video: { facingMode: "user", width: { ideal: 640 }, height: { ideal: 480 } }, audio: false,
        });
        video.srcObject = stream;
        video.loop = false;
      } else {
        url = URL.createObjectURL(/** @type {File} */ (file));
        video.src = url;
        video.loop = true;
      }
      await video.play();
    } catch (e) {
      for (const t of stream?.getTracks() ?? []) t.stop();
      video.srcObject = null;
      video.removeAttribute("src");
      if (url) URL.revokeObjectURL(url);
      setButtons(true);
      if (gen !== generation) return;
      const err = /** @type {Error} */ (e);
      say(kind === "camera"
        ? (err.name === "NotAllowedError"
          ? "The camera was refused. Allow it in the browser's site settings (the icon left of the address) and start again, or choose a video file."
          : `The camera is not available: ${err.message}. Choose a video file instead.`)
        : `${file?.name ?? "the file"} is not a video this browser can play: ${err.message}`);
      setState("ready");
      return;
    }
    if (gen !== generation) return;
    say("");
    const source = app.enn.source(video, { fps: FPS });
    live = { source, stream, url, timer: 0, gen };
    state.faces = [];
    state.moods = [];
    state.top = null;
    state.metrics = null;
    state.errors = 0;
    chart.reset(m.classifier ? ["faces", "emotion", "classifier"] : ["faces", "emotion"]);
    showSource(kind === "camera" ? "camera" : file?.name ?? "");
    section.dataset.camera = kind === "camera" ? "on" : "off";
    $("watch-stop").hidden = false;
    try {
      await source.attach(m.detector, { resize: [256, 256], fit: "letterbox", filter: "area", ...UNIT },
        (r) => result(gen, r), { name: "faces", priority: 2, minScore: 0.5, iou: 0.3, maxOut: 10 });
      await source.attach(m.emotion, { crop: "face", square: true, enlarge: 1.2, filter: "area", ...UNIT },
        (r) => result(gen, r), { name: "emotion", priority: 1 });
      if (m.classifier) {
        await source.attach(m.classifier, { filter: "area", ...UNIT },
          (r) => result(gen, r), { name: "classifier", priority: 0, rate: CLASSIFIER_RATE });
      }
    } catch (e) {
      if (gen !== generation) return; // stopped meanwhile: the source is closed
      stop();
      app.showError(e);
      return;
    }
    if (gen !== generation) return;
    live.timer = window.setInterval(() => refresh(gen), REFRESH_MS);
    setState("running");
  }

  /** stop closes the source and stops the camera or the video. */
  function stop() {
    generation++;
    if (!live) return;
    clearInterval(live.timer);
    live.source.close();
    for (const t of live.stream?.getTracks() ?? []) t.stop();
    if (live.url) URL.revokeObjectURL(live.url);
    live = null;
    video.pause();
    video.srcObject = null;
    video.removeAttribute("src");
    video.load();
    section.dataset.camera = "off";
    $("watch-stop").hidden = true;
    showSource("");
    setButtons(true);
    setState("stopped");
  }

  /**
   * result keeps a task's latest result and redraws the overlay.
   * @param {number} gen @param {TaskResult} r
   */
  function result(gen, r) {
    if (gen !== generation || !models) return;
    if (r.error) {
      state.errors++;
      say(`task ${r.task}, frame ${r.frame}: ${r.error.message}`);
      return;
    }
    const outs = /** @type {Record<string, Float32Array>} */ (r.outputs);
    if (r.task === "faces") {
      state.faces = r.detections ?? [];
      section.dataset.faces = String(state.faces.length);
    } else if (r.task === "emotion") {
      const name = models.emotion.info.outputs[0].name;
      state.moods = (r.items ?? []).map(({ box, outputs }) => {
        const { index, prob } = argmax(outputs[name]);
        return { box, emotion: models?.emotions[index] ?? String(index), prob };
      });
      section.dataset.topEmotion = state.moods[0]?.emotion ?? "";
    } else if (r.task === "classifier" && models.classifier) {
      const { index, prob } = argmax(outs[models.classifier.info.outputs[0].name]);
      state.top = { index, prob, label: models.classes?.[index] ?? `class ${index}` };
      section.dataset.topClass = String(index);
      $("watch-class").textContent = `${state.top.label} (${(prob * 100).toFixed(1)}%)`;
    }
    scheduleDraw();
  }

  let drawing = 0;
  function scheduleDraw() {
    drawing ||= requestAnimationFrame(() => { drawing = 0; draw(); });
  }

  /** draw paints the faces' boxes, keypoints and emotions over the video, in frame pixels. */
  function draw() {
    if (!live) return;
    const w = video.videoWidth, h = video.videoHeight;
    if (overlay.width !== w || overlay.height !== h) {
      overlay.width = w;
      overlay.height = h;
    }
    const ctx = /** @type {CanvasRenderingContext2D} */ (overlay.getContext("2d"));
    ctx.clearRect(0, 0, w, h);
    const lw = Math.max(2, Math.round(Math.max(w, h) / 250));
    const font = Math.max(12, Math.round(Math.max(w, h) / 32));
    ctx.font = `600 ${font}px system-ui, sans-serif`;
    ctx.textBaseline = "bottom";
    for (const d of state.faces) {
      const [x0, y0, x1, y1] = d.box;
      ctx.lineWidth = lw;
      ctx.strokeStyle = COLOURS.faces;
      ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
      ctx.fillStyle = COLOURS.emotion;
      for (const [x, y] of d.keypoints ?? []) {
        ctx.beginPath();
        ctx.arc(x, y, lw * 1.2, 0, 2 * Math.PI);
        ctx.fill();
      }
    }
    // The emotions come from the frame the emotion task last read, which may
    // be a frame or two behind the boxes: each label sits on its own box.
    for (const m of state.moods) {
      const [x0, y0, , y1] = m.box;
      const text = `${m.emotion} ${(m.prob * 100).toFixed(0)}%`;
      const tw = ctx.measureText(text).width;
      const ty = y0 - lw > font + 4 ? y0 - lw : y1 + font + 4 + lw;
      ctx.fillStyle = "rgba(15, 23, 42, 0.8)";
      ctx.fillRect(x0 - lw / 2, ty - font - 4, tw + 10, font + 6);
      ctx.fillStyle = "#fff";
      ctx.fillText(text, x0 + 5 - lw / 2, ty);
    }
  }

  /**
   * refresh reads the source's figures and shows them.
   * @param {number} gen
   */
  async function refresh(gen) {
    const src = live?.source;
    if (!src || gen !== generation) return;
    /** @type {SourceMetrics} */
    let m;
    try {
      m = await src.metrics();
    } catch (e) {
      if (gen === generation) {
        stop();
        app.showError(e);
      }
      return;
    }
    if (gen !== generation) return;
    state.metrics = m;
    showMetrics(m);
    chart.add(m.tasks);
  }

  /** @param {SourceMetrics} m */
  function showMetrics(m) {
    const body = /** @type {HTMLTableSectionElement} */ ($("watch-tasks").tBodies[0]);
    body.replaceChildren(...m.tasks.map((t) => {
      const tr = document.createElement("tr");
      tr.dataset.task = t.name;
      tr.dataset.runs = String(t.runs);
      const name = tr.insertCell();
      const dot = document.createElement("span");
      dot.className = "dot";
      dot.style.background = COLOURS[/** @type {keyof typeof COLOURS} */ (t.name)] ?? "#64748b";
      name.append(dot, t.name);
      const cells = [
        String(t.runs), String(t.dropped), String(t.errors),
        t.rate.toFixed(1),
        `${t.effectiveRate > 0 ? t.effectiveRate.toFixed(1) : "any"} / ${t.targetRate > 0 ? t.targetRate.toFixed(1) : "any"}`,
        t.runs ? formatMs(t.p50Ms) : "–", t.runs ? formatMs(t.p95Ms) : "–",
      ];
      cells.forEach((text, i) => {
        const td = tr.insertCell();
        td.className = i === 2 || i === 4 ? "num wide" : "num";
        td.textContent = text;
      });
      const share = tr.insertCell();
      share.className = "share";
      const bar = document.createElement("div");
      bar.style.width = `${Math.max(0.5, t.share * 100)}%`;
      bar.title = `${(t.share * 100).toFixed(1)}% of the workers' busy time`;
      share.append(bar);
      section.dataset[`runs${t.name[0].toUpperCase()}${t.name.slice(1)}`] = String(t.runs);
      return tr;
    }));
    const p = m.provider;
    Object.assign(section.dataset, { frames: String(p.frames), prepared: String(p.prepared), shared: String(p.shared) });
    $("watch-frames").textContent = `${p.frames} (${p.agedOut} aged out)`;
    $("watch-views").textContent = `${p.prepared} prepared, ${p.shared} shared`;
    $("watch-bytes").textContent = formatBytes(p.bytes);
  }

  /** @param {boolean} on */
  function setButtons(on) {
    $("watch-camera").disabled = !on;
    $("watch-file").disabled = !on;
  }

  /** @param {string} s */
  function setState(s) {
    section.dataset.state = s;
  }

  /** say shows a message in the view (or hides it, for ""). @param {string} text */
  function say(text) {
    note.textContent = text;
    note.hidden = !text;
  }

  /** @param {string} name what plays: "camera", a file's name, or "" for nothing */
  function showSource(name) {
    video.hidden = overlay.hidden = !name;
    $("watch-empty").hidden = !!name;
    section.dataset.source = name ? (name === "camera" ? "camera" : "file") : "none";
    $("watch-source").textContent = name || "–";
    if (!name) {
      const ctx = /** @type {CanvasRenderingContext2D} */ (overlay.getContext("2d"));
      ctx.clearRect(0, 0, overlay.width, overlay.height);
    }
  }

  Object.assign(section.dataset, { state: "idle", camera: "off", source: "none", frames: "0", faces: "0", topEmotion: "", topClass: "" });
  showSource("");
  setButtons(false);
  return {
    show() {
      load();
    },
  };
}

/** @param {ArrayLike<number>} p @returns {{index: number, prob: number}} */
function argmax(p) {
  let index = 0;
  for (let i = 1; i < p.length; i++) if (p[i] > p[index]) index = i;
  return { index, prob: p[index] ?? 0 };
}

/**
 * RateChart is chart.js's canvas chart with one line per task: each task's
 * runs a second over the last minute. It keeps LossChart's sizing and its
 * redraw at most once a frame, and draws its own series.
 */
class RateChart extends LossChart {
  /** Each task's rates, oldest first. @type {Map<string, number[]>} */
  series = new Map();

  /** reset clears the chart for these tasks. @param {string[] | number} names */
  reset(names) {
    this.series = new Map(Array.isArray(names) ? names.map((n) => [n, []]) : []);
    super.reset(HISTORY);
  }

  /** add appends each task's current rate. @param {TaskMetrics[] | number} tasks */
  add(tasks) {
    if (!Array.isArray(tasks)) return;
    for (const t of tasks) {
      const s = this.series.get(t.name) ?? [];
      s.push(t.rate);
      if (s.length > HISTORY) s.shift();
      this.series.set(t.name, s);
    }
    this.schedule();
  }

  draw() {
    const all = [...this.series.values()].flat();
    const { ctx, H, pad, x, y } = frame(this.canvas, { l: 36, r: 12, t: 12, b: 26 }, HISTORY, Math.max(...all, FPS), (v) => String(+v.toPrecision(2)));
    // The legend below doubles as the x axis' caption.
    ctx.textAlign = "left";
    ctx.textBaseline = "top";
    let lx = pad.l;
    const names = [...this.series.keys()];
    const caption = names.length ? "runs a second, last minute:" : "each task's runs a second appear here while it runs";
    ctx.fillText(caption, lx, H - pad.b + 8);
    lx += ctx.measureText(caption).width + 10;
    for (const name of names) {
      ctx.fillStyle = COLOURS[/** @type {keyof typeof COLOURS} */ (name)] ?? "#64748b";
      ctx.fillRect(lx, H - pad.b + 11, 10, 3);
      ctx.fillStyle = "#64748b";
      ctx.fillText(name, lx + 14, H - pad.b + 8);
      lx += 14 + ctx.measureText(name).width + 12;
    }
    ctx.lineWidth = 2;
    ctx.lineJoin = "round";
    for (const [name, pts] of this.series) {
      if (pts.length === 0) continue;
      const off = HISTORY - pts.length; // the newest point at the right edge
      ctx.strokeStyle = COLOURS[/** @type {keyof typeof COLOURS} */ (name)] ?? "#64748b";
      ctx.beginPath();
      pts.forEach((v, i) => (i ? ctx.lineTo(x(off + i), y(v)) : ctx.moveTo(x(off + i), y(v))));
      ctx.stroke();
    }
  }
}

