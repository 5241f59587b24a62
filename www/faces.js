// faces.js: the Faces view. A photo (chosen or dropped) or the camera's
// frames go through two models the host serves: a face detector (BlazeFace,
// found in the models index by its "postprocess" metadata) finds the faces,
// and an emotion classifier (the model named "emotion") reads each face,
// cropped square and grey. The view draws the boxes, the keypoints and each
// face's top emotion over the image, and lists every face's probabilities
// and the timings. Nothing leaves the page: the camera's frames and the
// photos are read in this tab and analysed in its workers.
//
// Tests read the last result as window.__edgenn_demo.faces.last and as
// data- attributes of #faces-result and its items.

import { letterbox, toImage, square, greyCrop, drawGrey } from "./faceprep.js";
import { $, formatMs } from "./ui.js";

/** @typedef {import("./app.js").App} App */
/** @typedef {import("./edgenn.d.ts").Model} Model */
/** @typedef {import("./faceprep.js").Frame} Frame */
/** @typedef {import("./faceprep.js").Face} Face */
/** @typedef {import("./app.js").IndexEntry} IndexEntry */
/** @typedef {Face & {emotion: string, prob: number, probs: number[], crop: [number, number, number]}} Result */

/** The detector's options: its score threshold, overlap suppression and most faces. */
const DETECT = { minScore: 0.5, iou: 0.3, maxOut: 10 };
/** The emotion crop: a square of the detector box's longer side times this. */
const ENLARGE = 1.2;
/** The classes of Human's emotion model, when its file names none. */
const EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"];
/** The camera is analysed at most this often, one frame at a time. */
const FRAME_MS = 100;
/** Larger photos are scaled down to this side first. */
const MAX_SIDE = 2048;

/**
 * @param {App} app
 * @param {Record<string, any>} demo the page's test-facing state
 */
export function mountFaces(app, demo) {
  const result = $("faces-result");
  const stage = $("faces-stage");
  const photo = /** @type {HTMLCanvasElement} */ ($("faces-photo"));
  const video = /** @type {HTMLVideoElement} */ ($("faces-video"));
  const overlay = /** @type {HTMLCanvasElement} */ ($("faces-overlay"));
  /** @type {{detector: Model, emotion: Model, labels: string[]} | null} */
  let models = null;
  /** @type {Promise<boolean> | null} resolves to whether both models are there */
  let loading = null;
  /** Bumped whenever the source changes: a result of an older one is not shown. */
  let generation = 0;
  /** Analyses run one after another on this chain, never two at once. */
  let queue = Promise.resolve();
  /** @type {{stream: MediaStream, frame: number, timer: number, last: number} | null} */
  let camera = null;

  const state = (demo.faces = {
    /** The last analysis shown: the image size, the faces in image pixels and the timings. */
    last: /** @type {any} */ (null),
    /** The inputs of the last analysis, for tests to check against a reference. */
    inputs: /** @type {{detector: Float32Array, emotion: Float32Array[]} | null} */ (null),
    runs: 0,
  });

  $("faces-file").addEventListener("change", (/** @type {Event} */ e) => {
    const input = /** @type {HTMLInputElement} */ (e.target);
    const file = input.files?.[0];
    if (file) openPhoto(file);
    input.value = ""; // choosing the same file again analyses it again
  });
  stage.addEventListener("dragover", (/** @type {DragEvent} */ e) => {
    e.preventDefault();
    stage.classList.add("drop");
  });
  stage.addEventListener("dragleave", () => stage.classList.remove("drop"));
  stage.addEventListener("drop", (/** @type {DragEvent} */ e) => {
    e.preventDefault();
    stage.classList.remove("drop");
    const file = [...(e.dataTransfer?.files ?? [])].find((f) => f.type.startsWith("image/"));
    if (file) openPhoto(file);
    else app.showError(new Error("drop an image file (a photo) to find its faces"));
  });
  $("faces-camera").addEventListener("click", () => startCamera().catch((e) => {
    stopCamera();
    app.showError(new Error(`the camera is not available: ${e instanceof Error ? e.message : e}`));
  }));
  $("faces-stop").addEventListener("click", stopCamera);
  // The camera stays on only while the view is shown.
  window.addEventListener("hashchange", () => { if (location.hash !== "#faces") stopCamera(); });
  document.addEventListener("visibilitychange", () => { if (document.hidden) stopCamera(); });

  /**
   * load finds the two models in the host's index and loads them once, and
   * resolves to whether it could. A missing model is not an error of the
   * page: the view says what to do and the other views carry on; a failure
   * is shown, and the next call tries again.
   * @returns {Promise<boolean>}
   */
  function load() {
    loading ??= (async () => {
      await app.ready;
      setState("loading");
      const index = await app.modelIndex();
      const det = index.find((m) => m.metadata?.postprocess);
      const emo = index.find((m) => m.name === "emotion");
      const missing = [!det && "a face detector (a model with \"postprocess\" metadata)", !emo && "the emotion classifier (emotion.enn)"].filter(Boolean);
      if (!det || !emo) {
        const note = $("faces-missing");
        note.textContent = `This host does not serve ${missing.join(" or ")}. Run \`make run\`, which fetches and converts the face models, then reload this page.`;
        $("faces-models").textContent = "missing";
        note.hidden = false;
        setButtons(false);
        setState("missing");
        return false;
      }
      const [detector, emotion] = await Promise.all([
        app.enn.load(`models/${det.file}`, { name: det.name }),
        app.enn.load(`models/${emo.file}`, { name: emo.name }),
      ]);
      const labels = emotion.info.labels ?? emo.labels ?? EMOTIONS;
      models = { detector, emotion, labels };
      $("faces-models").textContent = `${det.name} (${detector.info.metadata.postprocess}) and ${emo.name} (${labels.length} classes)`;
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

  /** @param {boolean} on */
  function setButtons(on) {
    $("faces-camera").disabled = !on;
    $("faces-file").disabled = !on;
  }

  /** @param {string} s */
  function setState(s) {
    result.dataset.state = s;
  }

  /** @param {File} file */
  function openPhoto(file) {
    stopCamera();
    const gen = ++generation;
    run(async () => {
      if (!(await load())) return;
      const bitmap = await createImageBitmap(file).catch(() => {
        throw new Error(`${file.name} is not an image this browser can read`);
      });
      if (gen !== generation) return;
      // A large photo is scaled down once: the detector sees 256 pixels a
      // side and the crops are small, so its full size only costs time.
      const k = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
      const width = Math.round(bitmap.width * k), height = Math.round(bitmap.height * k);
      photo.width = width;
      photo.height = height;
      const ctx = /** @type {CanvasRenderingContext2D} */ (photo.getContext("2d"));
      ctx.drawImage(bitmap, 0, 0, width, height);
      bitmap.close();
      showSource("photo", file.name);
      await analyse({ source: photo, width, height }, gen);
    });
  }

  async function startCamera() {
    if (camera) return;
    if (!navigator.mediaDevices?.getUserMedia) throw new Error("this browser gives no camera to pages (it needs https or localhost)");
    if (!(await load())) return;
    const button = $("faces-camera");
    button.disabled = true; // until the user has answered the browser's question
    /** @type {MediaStream} */
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: "user", width: { ideal: 640 }, height: { ideal: 480 } }, audio: false,
      });
    } finally {
      button.disabled = false;
    }
    const gen = ++generation;
    camera = { stream, frame: 0, timer: 0, last: 0 };
    video.srcObject = stream;
    await video.play();
    if (gen !== generation) return; // stopped meanwhile
    showSource("camera", "camera");
    $("faces-camera").hidden = true;
    $("faces-stop").hidden = false;
    schedule(gen);
  }

  /**
   * schedule analyses the camera's next frame, no sooner than FRAME_MS after
   * the last one started, and only once the last one is done.
   * @param {number} gen
   */
  function schedule(gen) {
    if (!camera || gen !== generation) return;
    const next = () => run(async () => {
      if (!camera || gen !== generation) return;
      const wait = camera.last + FRAME_MS - performance.now();
      if (wait > 0) {
        camera.timer = window.setTimeout(() => schedule(gen), wait);
        return;
      }
      camera.last = performance.now();
      // A still of the frame: the crops must come from the frame the
      // detector saw, and the video moves on meanwhile.
      const still = document.createElement("canvas");
      still.width = video.videoWidth;
      still.height = video.videoHeight;
      /** @type {CanvasRenderingContext2D} */ (still.getContext("2d")).drawImage(video, 0, 0);
      await analyse({ source: still, width: still.width, height: still.height }, gen);
      schedule(gen);
    }, stopCamera);
    if ("requestVideoFrameCallback" in video) camera.frame = video.requestVideoFrameCallback(next);
    else camera.timer = window.setTimeout(next, FRAME_MS);
  }

  function stopCamera() {
    if (!camera) return;
    generation++;
    if (camera.frame && "cancelVideoFrameCallback" in video) video.cancelVideoFrameCallback(camera.frame);
    clearTimeout(camera.timer);
    for (const t of camera.stream.getTracks()) t.stop();
    camera = null;
    video.srcObject = null;
    $("faces-camera").hidden = false;
    $("faces-stop").hidden = true;
    if (result.dataset.source === "camera") {
      showSource("none", "");
      showFaces(null);
    }
    setState("ready"); // a frame in flight is dropped
  }

  /**
   * run queues a step after the others; a failure is shown, and onError
   * (if any) runs.
   * @param {() => Promise<void>} step @param {() => void} [onError]
   */
  function run(step, onError) {
    queue = queue.then(step).catch((e) => {
      onError?.();
      setState("failed");
      app.showError(e);
    });
  }

  /**
   * showSource shows the photo canvas or the video under the overlay.
   * @param {"photo" | "camera" | "none"} kind @param {string} name
   */
  function showSource(kind, name) {
    photo.hidden = kind !== "photo";
    video.hidden = kind !== "camera";
    overlay.hidden = kind === "none";
    $("faces-empty").hidden = kind !== "none";
    result.dataset.source = kind;
    $("faces-source").textContent = name || "–";
  }

  /**
   * analyse finds the faces in one frame and reads their emotions, then
   * shows the result unless the source changed meanwhile.
   * @param {Frame} frame @param {number} gen
   */
  async function analyse(frame, gen) {
    const m = /** @type {NonNullable<typeof models>} */ (models);
    setState("running");
    const t0 = performance.now();
    const side = m.detector.info.inputs[0].shape[1];
    const { input, fit } = letterbox(frame, side);
    const t1 = performance.now();
    const dets = await m.detector.detect(input, DETECT);
    const t2 = performance.now();
    const faces = dets.map((d) => toImage(d, fit, frame));
    const crops = faces.map((f) => square(f.box, ENLARGE));
    const cropSide = m.emotion.info.inputs[0].shape[1];
    const greys = crops.map((c) => greyCrop(frame, c, cropSide));
    const t3 = performance.now();
    const probs = await classify(m.emotion, greys);
    const t4 = performance.now();
    if (gen !== generation) return;
    /** @type {Result[]} */
    const results = faces.map((f, i) => {
      const p = Array.from(probs[i]);
      const top = p.indexOf(Math.max(...p));
      return { ...f, crop: crops[i], probs: p, emotion: m.labels[top] ?? String(top), prob: p[top] };
    });
    state.inputs = { detector: input, emotion: greys };
    state.last = {
      width: frame.width, height: frame.height, fit, faces: results, labels: m.labels,
      detectMs: t2 - t1, emotionMs: t4 - t3, prepMs: (t1 - t0) + (t3 - t2), totalMs: t4 - t0,
    };
    state.runs++;
    draw(frame, results);
    showFaces(state.last, greys);
    setState("done");
  }

  /**
   * classify runs the emotion model on the faces' crops: one batch when the
   * model's batch size is free, else one run each.
   * @param {Model} model @param {Float32Array[]} greys
   * @returns {Promise<Float32Array[]>}
   */
  async function classify(model, greys) {
    if (greys.length === 0) return [];
    const per = greys[0].length;
    const out = model.info.outputs[0].name;
    if (model.info.inputs[0].shape[0] === -1) {
      const batch = new Float32Array(per * greys.length);
      greys.forEach((g, i) => batch.set(g, i * per));
      const p = (await model.run(batch, { transfer: true }))[out];
      const n = p.length / greys.length;
      return greys.map((_, i) => p.subarray(i * n, (i + 1) * n));
    }
    const res = [];
    for (const g of greys) res.push((await model.run(g))[out]);
    return res;
  }

  /**
   * draw paints the boxes, keypoints and labels on the overlay, in image pixels.
   * @param {Frame} frame @param {Result[]} faces
   */
  function draw(frame, faces) {
    overlay.width = frame.width;
    overlay.height = frame.height;
    const ctx = /** @type {CanvasRenderingContext2D} */ (overlay.getContext("2d"));
    ctx.clearRect(0, 0, overlay.width, overlay.height);
    const lw = Math.max(2, Math.round(Math.max(frame.width, frame.height) / 250));
    const font = Math.max(12, Math.round(Math.max(frame.width, frame.height) / 32));
    ctx.font = `600 ${font}px system-ui, sans-serif`;
    ctx.textBaseline = "bottom";
    faces.forEach((f, i) => {
      const [x0, y0, x1, y1] = f.box;
      ctx.lineWidth = lw;
      ctx.strokeStyle = "#2dd4bf";
      ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
      // The square the classifier read, dashed.
      ctx.setLineDash([lw * 2, lw * 2]);
      ctx.strokeStyle = "rgba(255, 255, 255, 0.7)";
      ctx.lineWidth = Math.max(1, lw / 2);
      ctx.strokeRect(f.crop[0], f.crop[1], f.crop[2], f.crop[2]);
      ctx.setLineDash([]);
      ctx.fillStyle = "#f59e0b";
      for (const [x, y] of f.keypoints) {
        ctx.beginPath();
        ctx.arc(x, y, lw * 1.2, 0, 2 * Math.PI);
        ctx.fill();
      }
      const text = `${i + 1}. ${f.emotion} ${(f.prob * 100).toFixed(0)}%`;
      const tw = ctx.measureText(text).width;
      const ty = y0 - lw > font + 4 ? y0 - lw : y1 + font + 4 + lw; // above the box, or below it at the top
      ctx.fillStyle = "rgba(15, 23, 42, 0.8)";
      ctx.fillRect(x0 - lw / 2, ty - font - 4, tw + 10, font + 6);
      ctx.fillStyle = "#fff";
      ctx.fillText(text, x0 + 5 - lw / 2, ty);
    });
  }

  /**
   * showFaces lists the faces with all their probabilities, and the timings.
   * @param {any} last @param {Float32Array[]} [greys]
   */
  function showFaces(last, greys = []) {
    const list = $("faces-list");
    /** @type {Result[]} */
    const faces = last?.faces ?? [];
    if (!last) {
      list.innerHTML = `<li class="empty">Choose a photo or start the camera to find faces.</li>`;
    } else if (faces.length === 0) {
      list.innerHTML = `<li class="empty">No face found (the detector's threshold is a score of ${DETECT.minScore}).</li>`;
    } else {
      list.replaceChildren(...faces.map((f, i) => faceItem(f, i, last.labels, greys[i])));
    }
    const best = faces[0];
    Object.assign(result.dataset, {
      faces: String(faces.length),
      topEmotion: best?.emotion ?? "",
      topProb: best ? best.prob.toFixed(4) : "",
      box: best ? best.box.map((v) => v.toFixed(1)).join(",") : "",
      width: String(last?.width ?? ""), height: String(last?.height ?? ""),
      seq: String(state.runs),
    });
    $("faces-count").textContent = last ? String(faces.length) : "–";
    $("faces-detect-ms").textContent = last ? formatMs(last.detectMs) : "–";
    $("faces-emotion-ms").textContent = last ? (faces.length ? `${formatMs(last.emotionMs)} for ${faces.length} face${faces.length > 1 ? "s" : ""}` : "none to read") : "–";
    $("faces-total-ms").textContent = last ? `${formatMs(last.totalMs)} (of which pixel work ${formatMs(last.prepMs)})` : "–";
  }

  /**
   * @param {Result} f @param {number} i @param {string[]} labels @param {Float32Array} [grey]
   */
  function faceItem(f, i, labels, grey) {
    const li = document.createElement("li");
    li.className = "face";
    Object.assign(li.dataset, {
      emotion: f.emotion, prob: f.prob.toFixed(4), score: f.score.toFixed(4),
      box: f.box.map((v) => v.toFixed(1)).join(","),
    });
    const head = document.createElement("div");
    head.className = "face-head";
    const seen = document.createElement("canvas");
    seen.width = seen.height = Math.round(Math.sqrt(grey?.length ?? 0)) || 64;
    seen.setAttribute("aria-label", "The crop the emotion model reads");
    if (grey) drawGrey(seen, grey);
    const title = document.createElement("div");
    const [x0, y0, x1, y1] = f.box.map(Math.round);
    title.innerHTML = `<strong></strong><span class="hint"></span>`;
    /** @type {HTMLElement} */ (title.firstElementChild).textContent = `Face ${i + 1}: ${f.emotion}`;
    /** @type {HTMLElement} */ (title.lastElementChild).textContent =
      `face score ${(f.score * 100).toFixed(1)}%, at (${x0}, ${y0})–(${x1}, ${y1}), ${x1 - x0}×${y1 - y0} px`;
    head.append(seen, title);
    const bars = document.createElement("ol");
    bars.className = "bars emotions";
    const order = f.probs.map((_, k) => k).sort((a, b) => f.probs[b] - f.probs[a]);
    bars.replaceChildren(...order.map((k) => {
      const row = document.createElement("li");
      row.innerHTML = `<span class="label"></span><span class="track"><span class="fill"></span></span><span class="p"></span>`;
      /** @type {HTMLElement} */ (row.querySelector(".label")).textContent = labels[k] ?? String(k);
      /** @type {HTMLElement} */ (row.querySelector(".fill")).style.width = `${Math.max(0.5, f.probs[k] * 100)}%`;
      /** @type {HTMLElement} */ (row.querySelector(".p")).textContent = `${(f.probs[k] * 100).toFixed(1)}%`;
      return row;
    }));
    li.append(head, bars);
    return li;
  }

  showSource("none", "");
  showFaces(null);
  setButtons(false);
  return {
    show() {
      load();
    },
  };
}
