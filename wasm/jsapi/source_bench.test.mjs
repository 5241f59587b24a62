// scripts/source_bench.mjs compares enn.source against a plain-JS pipeline;
// the comparison is fair only if the JS preparation makes the inputs the
// provider makes. Here both run on one recorded frame and the models'
// outputs must agree: the provider's results against model.run on the
// bench's own views (same geometry: letterbox, square face crop, stretch).
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import { EdgeNN } from "../../www/edgenn.js";
import { recordFrames, prepareView, squareCrop } from "../../scripts/source_bench.mjs";
import { build, maxAbsDiff, photo, readPNG } from "./fixtures.mjs";

const runModels = join(build, "run-models");
const unit = { mean: 127.5, std: 127.5 };

describe("the bench's plain-JS views", { skip: !existsSync(join(runModels, "blazeface.enn")) && "make run-models first" }, () => {
  let enn, blazeface, emotion, mobilenet;
  before(async () => {
    enn = await EdgeNN.start({ workers: 2, baseURL: build });
    blazeface = await enn.load(join(runModels, "blazeface.enn"));
    emotion = await enn.load(join(runModels, "emotion.enn"));
    mobilenet = await enn.load(join(runModels, "mobilenet_v1_025_128.enn"));
  });
  after(() => enn.terminate());

  test("give the models the provider's inputs", async () => {
    const [, frame] = recordFrames(readPNG(photo), 5); // the second frame: mid-pan, not a plain downscale
    const src = enn.source(null);
    const got = {};
    let all;
    const done = new Promise((resolve) => (all = resolve));
    const cb = (r) => { got[r.task] = r; if (Object.keys(got).length === 3) all(); };
    await src.attach(blazeface, { resize: [256, 256], fit: "letterbox", filter: "bilinear", ...unit }, cb, { name: "face", priority: 2 });
    await src.attach(emotion, { crop: "face", square: true, enlarge: 1.2, filter: "bilinear", ...unit }, cb, { name: "emotion", priority: 1 });
    await src.attach(mobilenet, { filter: "bilinear", std: 255 }, cb, { name: "classify" });
    await src.push(frame);
    await done;
    await src.close();
    for (const r of Object.values(got)) assert.equal(r.error, undefined, r.error?.message);

    const face = await blazeface.run(prepareView(frame, [0, 0, 640, 480], 256, 256, { letterbox: true, ...unit }));
    for (const [k, v] of Object.entries(face)) {
      // Raw scores reach the hundreds: a relative bound.
      const d = maxAbsDiff(v, got.face.outputs[k]), scale = Math.max(1, ...v.map(Math.abs));
      assert.ok(d <= 1e-6 * scale, `blazeface output ${k}: max |diff| ${d} at scale ${scale}`);
    }
    const cls = await mobilenet.run(prepareView(frame, [0, 0, 640, 480], 128, 128, { std: 255 }));
    const dc = maxAbsDiff(cls.output, got.classify.outputs.output);
    assert.ok(dc < 1e-4, `mobilenet: max |diff| ${dc}`);

    assert.equal(got.emotion.boxes.length, 1);
    const crop = prepareView(frame, squareCrop(got.emotion.boxes[0], 1.2), 64, 64, { gray: true, ...unit });
    const name = emotion.info.outputs[0].name;
    const de = maxAbsDiff((await emotion.run(crop))[name], got.emotion.outputs[name]);
    assert.ok(de < 1e-4, `emotion: max |diff| ${de}`);
  });
});
