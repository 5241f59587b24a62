// enn.source under Node: one input, many tasks, on the real models
// (make run-models) and the real photo. A face detector, per-face emotion
// chained on its boxes and two classifiers sharing one view, scheduled over
// a pool of two workers; what the provider prepares is counted; bad views
// and failing tasks report errors while the others go on.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import { EdgeNN } from "../../www/edgenn.js";
import { build, digits, photo, readPNG } from "./fixtures.mjs";

const runModels = join(build, "run-models");
const emotions = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"];
const unit = { mean: 127.5, std: 127.5 }; // x / 127.5 - 1, as Human feeds both models

/** results collects a task's results and resolves waiters for a frame. */
class Results {
  constructor() {
    /** @type {any[]} */ this.all = [];
    /** @type {((r: any) => void)[]} */ this.waiters = [];
  }
  add = (r) => {
    this.all.push(r);
    for (const w of this.waiters.splice(0)) w(r);
  };
  /** next resolves with the first result for frame f or later. */
  next(f) {
    const got = this.all.find((r) => r.frame >= f);
    if (got) return Promise.resolve(got);
    return new Promise((resolve) => {
      const wait = (r) => (r.frame >= f ? resolve(r) : this.waiters.push(wait));
      this.waiters.push(wait);
    });
  }
}

describe("a source shared by four tasks", { skip: !existsSync(join(runModels, "blazeface.enn")) && "make run-models first" }, () => {
  /** @type {EdgeNN} */
  let enn;
  let blazeface, emotion, digitsModel;
  const frame = readPNG(photo);
  before(async () => {
    enn = await EdgeNN.start({ workers: 2, baseURL: build });
    blazeface = await enn.load(join(runModels, "blazeface.enn"));
    emotion = await enn.load(join(runModels, "emotion.enn"));
    digitsModel = await enn.load(digits);
  });
  after(() => enn.terminate());

  test("faces, their emotion and two classifiers on one shared view, each view prepared once a frame", async () => {
    const src = enn.source(null);
    const faces = new Results(), moods = new Results(), d1 = new Results(), d2 = new Results();
    await src.attach(blazeface, { resize: [256, 256], fit: "letterbox", filter: "area", ...unit }, faces.add, { priority: 2, minScore: 0.5 });
    await src.attach(emotion, { crop: "face", square: true, enlarge: 1.2, filter: "area", ...unit }, moods.add, { priority: 1 });
    const centre = { box: [128, 128, 384, 384], filter: "area", std: 255 }; // gray 28x28 from the model's input shape
    await src.attach(digitsModel, centre, d1.add, { name: "digits-a" });
    await src.attach(digitsModel, centre, d2.add, { name: "digits-b" });

    const frames = 3;
    for (let f = 1; f <= frames; f++) {
      await src.push(frame);
      await Promise.all([faces.next(f), moods.next(f), d1.next(f), d2.next(f)]);
    }
    for (const r of [...faces.all, ...moods.all, ...d1.all, ...d2.all]) assert.equal(r.error, undefined, r.error?.message);

    // The astronaut's face, where the Faces page finds it (e2e_faces_test.go).
    const det = faces.all.at(-1).detections;
    assert.equal(det.length, 1, JSON.stringify(det));
    const [x0, y0, x1, y1] = det[0].box;
    assert.ok(x0 > 150 && x0 < 200 && y0 > 40 && y0 < 110 && x1 > 250 && x1 < 300 && y1 > 160 && y1 < 220, `face box ${det[0].box}`);
    assert.ok(det[0].score > 0.8, `score ${det[0].score}`);
    assert.equal(det[0].keypoints.length, 6);

    // Her emotion, from the chained task: one box, batch 1, happy.
    const mood = moods.all.at(-1);
    assert.equal(mood.batch, 1);
    assert.deepEqual(mood.boxes, faces.all.find((r) => r.frame === mood.frame).boxes);
    const p = mood.outputs[emotion.info.outputs[0].name];
    assert.equal(p.length, 7);
    assert.equal(mood.items.length, 1);
    assert.deepEqual(mood.items[0].box, mood.boxes[0]);
    assert.deepEqual(mood.items[0].outputs[emotion.info.outputs[0].name], p);
    const top = p.indexOf(Math.max(...p));
    assert.equal(emotions[top], "happy", `probabilities ${Array.from(p)}`);

    // The two classifiers got the same input, so the same outputs.
    assert.deepEqual(d1.all[0].outputs, d2.all.find((r) => r.frame === d1.all[0].frame).outputs);

    // Per frame: the detector's view, one face crop and the shared centre
    // view: 3 prepared for 4 runs.
    const m = await src.metrics();
    assert.equal(m.provider.frames, frames);
    assert.equal(m.provider.prepared, 3 * frames, JSON.stringify(m.provider));
    assert.ok(m.provider.shared >= frames, JSON.stringify(m.provider));
    assert.deepEqual(m.tasks.map((t) => [t.name, t.runs, t.errors]).sort(),
      [["blazeface", frames, 0], ["digits-a", frames, 0], ["digits-b", frames, 0], ["emotion", frames, 0]]);
    for (const t of m.tasks) assert.ok(t.p95Ms >= t.p50Ms && t.p50Ms > 0 && t.share > 0, JSON.stringify(t));
    const info = await enn.info();
    assert.equal(info.sources.length, 1);
    assert.ok(info.sources[0].alive && info.sources[0].memoryBytes > 1e6, JSON.stringify(info.sources));
    src.close();
    await assert.rejects(src.metrics(), /source is closed/);
  });

  test("frames faster than the tasks: the newest frame wins and drops are counted", async () => {
    const src = enn.source(null, { maxFrames: 2 });
    const faces = new Results();
    await src.attach(blazeface, { resize: [256, 256], fit: "letterbox", ...unit }, faces.add);
    for (let f = 1; f <= 12; f++) await src.push(frame);
    await faces.next(12);
    const m = await src.metrics();
    const t = m.tasks[0];
    assert.ok(t.runs < 12 && t.dropped > 0 && t.runs + t.dropped === 12, JSON.stringify(t));
    assert.ok(m.provider.agedOut >= 10 && m.provider.bytes <= 2 * (512 * 512 * 4 + 256 * 256 * 3 * 4), JSON.stringify(m.provider));
    src.close();
  });

  test("frames pushed faster than the source's worker takes them: only the newest waits, the rest are replaced and counted", async () => {
    const src = enn.source(null);
    const faces = new Results();
    await src.attach(blazeface, { resize: [256, 256], fit: "letterbox", ...unit }, faces.add);
    // Twelve pushes in one go: each replaces the one still waiting, so
    // the worker gets the twelfth alone.
    const pushes = [];
    for (let f = 1; f <= 12; f++) pushes.push(src.push(frame));
    assert.deepEqual(await Promise.all(pushes), [...Array(11).fill(false), true]);
    assert.equal((await faces.next(12)).frame, 12);
    // Pushed one at a time, each goes in.
    for (let f = 13; f <= 15; f++) assert.equal(await src.push(frame), true);
    await faces.next(15);
    const m = await src.metrics();
    assert.equal(m.provider.replaced, 11, JSON.stringify(m.provider));
    assert.equal(m.provider.frames, 4, JSON.stringify(m.provider));
    assert.ok(faces.all.every((r) => r.frame === 12 || r.frame >= 13), JSON.stringify(faces.all.map((r) => r.frame)));
    // A push still waiting when the source closes is refused, not lost quietly.
    const last = src.push(frame);
    src.close();
    await assert.rejects(last, /source is closed/);
  });

  test("frames far faster than the tasks (every 8 ms for 3 s): latency stays bounded, memory flat, the chain keeps its frames", async (t) => {
    const src = enn.source(null);
    const faces = new Results(), moods = new Results(), d1 = new Results();
    await src.attach(blazeface, { resize: [256, 256], fit: "letterbox", ...unit }, faces.add, { priority: 2, minScore: 0.5 });
    await src.attach(emotion, { crop: "face", square: true, enlarge: 1.2, ...unit }, moods.add, { priority: 1 });
    await src.attach(digitsModel, { box: [128, 128, 384, 384], std: 255 }, d1.add);
    const memory = async () => (await enn.info()).sources.find((s) => s.alive)?.memoryBytes ?? 0;
    const t0 = performance.now();
    let mem1 = 0, pushes = 0;
    while (performance.now() - t0 < 3000) {
      src.push(frame).catch(() => {});
      pushes++;
      if (!mem1 && performance.now() - t0 > 1000) mem1 = await memory();
      await new Promise((r) => setTimeout(r, 8));
    }
    await src.push(frame);
    await Promise.all([faces.next(pushes + 1), moods.next(pushes + 1)]);
    const mem2 = await memory();
    const m = await src.metrics();
    const by = Object.fromEntries(m.tasks.map((t) => [t.name, t]));
    for (const r of [...faces.all, ...moods.all, ...d1.all]) assert.equal(r.error, undefined, r.error?.message);
    // A queue would keep every frame: results would fall seconds behind.
    // Latest-frame semantics keep the last results' latency near the first ones'.
    const p95 = (rs) => { const l = rs.map((r) => r.latencyMs).sort((a, b) => a - b); return l[Math.floor(0.95 * (l.length - 1))]; };
    for (const [name, rs] of [["face", faces.all], ["emotion", moods.all], ["digits", d1.all]]) {
      const third = Math.floor(rs.length / 3);
      assert.ok(third >= 3, `${name}: ${rs.length} results in 3 s`);
      const first = p95(rs.slice(0, third)), last = p95(rs.slice(-third));
      t.diagnostic(`${name}: ${rs.length} results, p95 ${first.toFixed(0)} ms in the first third, ${last.toFixed(0)} ms in the last`);
      assert.ok(last <= 2 * first + 100, `${name}: p95 latency ${first.toFixed(0)} ms in the first third, ${last.toFixed(0)} ms in the last`);
    }
    // Every detection's crop was run: the chain held its frame while newer ones came.
    assert.equal(by.emotion.dropped, 0, JSON.stringify(by.emotion));
    assert.ok(by.emotion.runs >= by.blazeface.runs - 1, `emotion ${by.emotion.runs} runs for ${by.blazeface.runs} detections`);
    assert.ok(by.blazeface.dropped > 0 || m.provider.replaced > 0, "the frames came faster than the detector");
    // The source's wasm memory (it only grows) stays near where it was after
    // the first second: Go's heap settles a few MiB higher (29 MiB after 10 s,
    // flat to 30 s in a longer run), while a frame kept a push would add 300 MiB.
    t.diagnostic(`${pushes + 1} pushes, ${m.provider.replaced} replaced; source worker memory ${mem1} -> ${mem2} bytes`);
    assert.ok(mem1 > 0 && mem2 <= mem1 + (8 << 20), `source worker memory ${mem1} -> ${mem2} bytes`);
    src.close();
  });

  test("a detector with maxRuns 2 runs on both workers at once; results in frame order, each with its own detections", async () => {
    const src = enn.source(null, { maxFrames: 4 });
    await assert.rejects(src.attach(blazeface, { resize: [256, 256], fit: "letterbox", ...unit }, () => {}, { maxRuns: 3 }),
      /maxRuns must be an integer in 0\.\.2 \(the pool's workers\), got 3/);
    const faces = new Results();
    await src.attach(blazeface, { resize: [256, 256], fit: "letterbox", ...unit }, faces.add, { maxRuns: 2, minScore: 0.5 });
    const frames = 12;
    for (let f = 1; f <= frames; f++) await src.push(frame);
    await faces.next(frames);
    const got = faces.all.map((r) => r.frame);
    assert.ok(got.every((f, i) => i === 0 || f > got[i - 1]), `frames delivered ${got}`);
    for (const r of faces.all) {
      assert.equal(r.error, undefined, r.error?.message);
      assert.equal(r.detections.length, 1, JSON.stringify(r.detections));
      assert.deepEqual(r.detections.map((d) => d.box), r.boxes);
    }
    // A run of an older frame may still be going on the other worker when
    // frame 12's result comes; it is counted as dropped when it ends.
    let t;
    for (let i = 0; i < 100; i++) {
      t = (await src.metrics()).tasks[0];
      if (t.runs + t.dropped === frames) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(t.laneRuns[0] > 0 && t.laneRuns[1] > 0, `runs per worker ${t.laneRuns}`);
    assert.equal(t.runs + t.dropped, frames, JSON.stringify(t));
    src.close();
  });

  test("a pool worker that crashes is replaced and the source's runs go to the new one", async () => {
    const src = enn.source(null);
    const got = new Results();
    await src.attach(digitsModel, {}, got.add);
    await src.push(frame);
    const first = await got.next(1);
    assert.equal(first.error, undefined);
    await enn._crashWorker(0, "panic");
    await enn._crashWorker(1, "panic");
    // The replacements load the models, then the source's lanes reconnect.
    let ok = null;
    for (let f = 2; f < 60 && !ok; f++) {
      await new Promise((r) => setTimeout(r, 100));
      await src.push(frame);
      const r = await got.next(f);
      if (!r.error) ok = r;
    }
    assert.ok(ok, "no result came after both workers were replaced");
    assert.deepEqual(ok.outputs.output, first.outputs.output);
    await src.close();
  });

  test("bad views and failing tasks: an error naming the problem, the others go on", async () => {
    const reported = [];
    const src = enn.source(null, { onError: (e) => reported.push(e.message) });
    assert.throws(() => enn.source(null, { onError: 1 }), /onError must be a function/);
    await assert.rejects(src.attach(digitsModel, { resize: [30, 30], gray: true }, () => {}), /input \[28,28,1\] does not fit the view's \[30,30,1\]/);
    await assert.rejects(src.attach(emotion, { crop: "face" }, () => {}), /no attached task produces "face" boxes/);
    await assert.rejects(src.attach(digitsModel, { filter: "cubic" }, () => {}), /unknown resize "cubic"/);
    await assert.rejects(src.attach(digitsModel, {}, () => {}, { speed: 2 }), /unknown option "speed"/);
    await assert.rejects(src.attach(digitsModel, { mean: [1, 2, 3] }, () => {}), /mean needs 1 values/);
    const bad = new Results(), good = new Results();
    await src.attach(digitsModel, { box: [600, 600, 700, 700] }, bad.add, { name: "outside" });
    await src.attach(digitsModel, {}, good.add, { name: "whole" });
    const thrown = new Results();
    await src.attach(digitsModel, {}, (r) => { thrown.add(r); throw new Error("callback broke"); }, { name: "thrower" });
    await assert.rejects(src.attach(digitsModel, {}, () => {}, { name: "whole" }), /already attached/);
    await src.push(frame);
    const [b, g] = await Promise.all([bad.next(1), good.next(1), thrown.next(1)]);
    assert.deepEqual(reported, ["callback broke"]);
    assert.match(b.error?.message ?? "", /task "outside".*lies outside the 512x512 frame/);
    assert.equal(g.error, undefined);
    assert.equal(g.outputs.output.length, 10);
    await assert.rejects(src.push({ data: new Uint8Array(10), width: 4, height: 4 }), /has 64 RGBA bytes, got 10/);
    const m = await src.metrics();
    assert.deepEqual(m.tasks.map((t) => [t.name, t.errors]).sort(), [["outside", 1], ["thrower", 0], ["whole", 0]]);
    await src.close();
    await assert.rejects(src.push(frame), /source is closed/);
  });
});
