// Training through edgenn.js under Node: fine-tuning the head of the digits
// model (www/models/digits.enn, LeNet-5 trained on MNIST) on real MNIST test
// images with a personal labelling (each digit d called (d+1) mod 10), so
// that the model starts confidently wrong and must learn.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { EdgeNN } from "../../www/edgenn.js";
import { build, digits, mnist, zooModel } from "./fixtures.mjs";

const size = 28 * 28;
const head = { optimizer: "adam", lr: 0.01, trainable: ["dense_7/"] };

describe("fine-tuning digits.enn in a pool of two workers", () => {
  /** @type {EdgeNN} */
  let enn;
  let model, train, held, heldDigits;
  before(async () => {
    enn = await EdgeNN.start({ workers: 2, baseURL: build });
    model = await enn.load(digits);
    const data = mnist(768);
    const relabel = (ys) => ys.map((y) => (y + 1) % 10);
    train = { xs: data.xs.slice(0, 512 * size), ys: relabel(data.ys.slice(0, 512)) };
    held = { xs: data.xs.slice(512 * size), ys: relabel(data.ys.slice(512)) };
    heldDigits = data.ys.slice(512);
  });
  after(() => enn.terminate());

  test("info lists the weights a trainer can pick by prefix", async () => {
    const names = model.info.weights.map((w) => w.name);
    assert.equal(names.length, 10); // LeNet-5: 5 layers, weights and biases
    assert.deepEqual(model.info.weights.find((w) => w.name === "dense_7/kernel")?.shape, [84, 10]);
    assert.ok(names.some((n) => n.startsWith(head.trainable[0])), names.join(","));
  });

  test("evaluate scores the model on real MNIST digits", async () => {
    const s = await model.evaluate(held.xs, heldDigits);
    assert.ok(s.accuracy >= 0.97, `accuracy ${s.accuracy}`); // 99.03% on the whole test split
    assert.ok(s.loss > 0 && s.loss < 0.15, `loss ${s.loss}`);
    const wrong = await model.evaluate(held.xs, held.ys);
    assert.ok(wrong.accuracy <= 0.03 && wrong.loss > 5, JSON.stringify(wrong));
  });

  test("fit learns the new labelling: the loss falls, held-out accuracy rises; the model itself is unchanged", async () => {
    const before = await model.evaluate(held.xs, held.ys);
    const t = model.trainer(head);
    const batches = [];
    const epochs = [];
    const history = await t.fit(train.xs, train.ys, {
      epochs: 4, batchSize: 32, seed: 7, validation: [held.xs, held.ys],
      onBatch: (b) => batches.push(b), onEpoch: (e) => epochs.push(e),
    });
    assert.equal(batches.length, 4 * 16);
    assert.deepEqual(batches.slice(0, 2).map((b) => [b.epoch, b.step, b.steps]), [[1, 1, 16], [1, 2, 16]]);
    assert.deepEqual(batches.at(-1).epoch, 4);
    assert.deepEqual(epochs, history);
    assert.deepEqual(history.map((h) => h.epoch), [1, 2, 3, 4]);
    assert.ok(batches[0].loss > 5, `first batch loss ${batches[0].loss}`);
    assert.ok(history[3].loss < 0.1 * history[0].loss, `epoch losses ${history.map((h) => h.loss)}`);
    assert.ok(history[3].evalAccuracy >= 0.9, `held-out accuracy ${history[3].evalAccuracy}`);
    // The batch mean of the epoch's steps is the epoch's loss.
    const last = batches.filter((b) => b.epoch === 4);
    assert.ok(Math.abs(last.reduce((s, b) => s + b.loss, 0) / last.length - history[3].loss) < 1e-9);
    // The trainer's own evaluation agrees with the last epoch's.
    assert.deepEqual(await t.evaluate(held.xs, held.ys), { loss: history[3].evalLoss, accuracy: history[3].evalAccuracy });
    assert.deepEqual(await model.evaluate(held.xs, held.ys), before);
    t.dispose();
  });

  test("the same seed trains the same on both workers", async () => {
    const a = model.trainer(head);
    const b = model.trainer(head);
    assert.notEqual(a._slot.index, b._slot.index); // private fields: tests only
    const opts = { epochs: 2, batchSize: 64, seed: 3 };
    const [ha, hb] = await Promise.all([a.fit(train.xs, train.ys, opts), b.fit(train.xs, train.ys, opts)]);
    assert.deepEqual(ha, hb);
    const other = await model.trainer(head).fit(train.xs, train.ys, { ...opts, seed: 4 });
    assert.notDeepEqual(other, ha);
  });

  test("save round-trips through load, toModel gives the same model, a checkpoint resumes exactly", async () => {
    const t = model.trainer(head);
    await t.fit(train.xs, train.ys, { epochs: 2, seed: 1 });
    const scores = await t.evaluate(held.xs, held.ys);
    const bytes = await t.save();
    assert.ok(bytes instanceof Uint8Array && bytes.length > 200e3);
    const saved = await enn.load(bytes);
    const mine = await t.toModel({ name: "my digits" });
    assert.equal(mine.info.name, "my digits");
    assert.equal(saved.info.sha256, mine.info.sha256); // Encode is deterministic
    assert.deepEqual(saved.info.labels, model.info.labels);
    assert.deepEqual(await saved.evaluate(held.xs, held.ys), scores);
    const x = held.xs.subarray(0, 16 * size);
    const out = (await saved.run(x)).output;
    assert.deepEqual((await mine.run(x)).output, out);
    assert.notDeepEqual((await model.run(x)).output, out);
    const relabelled = await enn.load(await t.save({ metadata: { labels: "1,2,3,4,5,6,7,8,9,0", note: "mine" } }));
    assert.deepEqual(relabelled.info.labels, "1234567890".split(""));
    assert.equal(relabelled.info.metadata.note, "mine");
    assert.equal(relabelled.info.metadata.preprocessing, model.info.metadata.preprocessing); // the rest is kept
    await assert.rejects(t.save({ metadata: { labels: 7 } }), /metadata must be an object of strings/);

    const checkpoint = await t.save({ optimizerState: true });
    assert.ok(checkpoint.length > bytes.length); // Adam's two moments of the head
    const resumedModel = await enn.load(checkpoint);
    assert.deepEqual((await resumedModel.run(x)).output, out); // a Session ignores the optimiser state
    const resumed = resumedModel.trainer(head);
    for (let i = 0; i < 3; i++) {
      const bx = train.xs.subarray(i * 8 * size, (i + 1) * 8 * size);
      const by = train.ys.subarray(i * 8, (i + 1) * 8);
      // A batch of 8 after fitting with 32: the trainer rebuilds itself, optimiser state kept.
      assert.equal(await resumed.step(bx, by), await t.step(bx, by));
    }
    for (const m of [saved, mine, resumedModel]) m.dispose();
  });

  test("step trains on one batch; loss mse takes targets", async () => {
    const t = model.trainer({ ...head, batchSize: 8 });
    const bx = train.xs.subarray(0, 8 * size);
    const by = train.ys.subarray(0, 8);
    const losses = [];
    for (let i = 0; i < 5; i++) losses.push(await t.step(bx, by));
    assert.ok(losses.every((l, i) => i === 0 || l < losses[i - 1]), `losses ${losses}`);
    // mse on the untrained zoo LeNet-5 (the trained one's softmax is saturated).
    const zoo = await enn.load(zooModel("lenet5"));
    const m = zoo.trainer({ loss: "mse", optimizer: "sgd", lr: 0.5 });
    const targets = new Float32Array(8 * 10);
    by.forEach((y, i) => { targets[i * 10 + y] = 1; });
    const first = await m.step(bx, targets);
    let last = first;
    for (let i = 0; i < 5; i++) last = await m.step(bx, targets);
    assert.ok(first > 0.05 && last < 0.8 * first, `mse ${first} -> ${last}`);
    zoo.dispose();
  });

  test("schedule and clipNorm shape the fit over all its epochs", async () => {
    const opts = { epochs: 2, batchSize: 64, seed: 5 };
    const fit = async (extra) => {
      const t = model.trainer(head);
      const h = await t.fit(train.xs, train.ys, { ...opts, ...extra });
      t.dispose();
      return h;
    };
    const plain = await fit({});
    // Schedules whose factor stays 1, and a clip norm never reached, change nothing.
    assert.deepEqual(await fit({ schedule: { type: "cosine", floor: 1 } }), plain);
    assert.deepEqual(await fit({ schedule: { type: "step", every: 1000, gamma: 0.5 } }), plain);
    assert.deepEqual(await fit({ clipNorm: 1e30 }), plain);
    // A real schedule spans both epochs: a rate halved every step leaves the
    // second epoch nearly where the first ended, unlike the plain fit.
    const halved = await fit({ schedule: { type: "step", every: 1, gamma: 0.5 } });
    assert.equal(halved[0].loss === plain[0].loss, false);
    assert.ok(Math.abs(halved[1].loss - halved[0].loss) < Math.abs(plain[1].loss - plain[0].loss), JSON.stringify({ halved, plain }));
    const clipped = await fit({ clipNorm: 1e-3 });
    assert.ok(clipped[1].loss > plain[1].loss, JSON.stringify({ clipped, plain })); // tiny steps learn less
    const t = model.trainer(head);
    await assert.rejects(t.fit(train.xs, train.ys, { schedule: { type: "linear" } }), /schedule must be/);
    await assert.rejects(t.fit(train.xs, train.ys, { schedule: { type: "step", every: 0, gamma: 0.5 } }), /schedule must be/);
    await assert.rejects(t.fit(train.xs, train.ys, { clipNorm: -1 }), /clipNorm must be/);
    t.dispose();
  });

  test("an abort stops fit between epochs; the weights of the completed epochs stay", async () => {
    const t = model.trainer(head);
    const ctl = new AbortController();
    const seen = [];
    const fit = t.fit(train.xs, train.ys, {
      epochs: 50, validation: { xs: held.xs, ys: held.ys }, signal: ctl.signal,
      onEpoch: (e) => { seen.push(e); ctl.abort(); },
    });
    await assert.rejects(fit, { name: "AbortError" });
    assert.ok(seen.length >= 1 && seen.length < 50, `${seen.length} epochs`);
    const lastEpoch = seen.at(-1);
    assert.deepEqual(await t.evaluate(held.xs, held.ys), { loss: lastEpoch.evalLoss, accuracy: lastEpoch.evalAccuracy });
    await assert.rejects(t.fit(train.xs, train.ys, { signal: AbortSignal.abort() }), { name: "AbortError" });
    // A callback that throws stops the fit with its error.
    const boom = new Error("stop here");
    await assert.rejects(t.fit(train.xs, train.ys, { epochs: 3, onBatch: () => { throw boom; } }), boom);
  });

  test("training errors name their cause", async () => {
    const bad = new Int32Array(train.ys);
    bad[5] = 12;
    const t = model.trainer(head);
    const cases = [
      [() => t.fit(train.xs, bad), /^edgenn: engine: example 5 has label 12, outside the model's 10 classes$/],
      [() => t.fit(train.xs, train.ys.subarray(0, 10)), /^edgenn: 10 labels need 7840 example values \(784 per example\), got 401408$/],
      [() => t.fit(train.xs, train.ys, { validation: [held.xs, held.ys.subarray(1)] }), /^edgenn: validation: 255 labels need/],
      [() => t.fit(train.xs, train.ys, { epochs: 0 }), /^edgenn: fit: epochs must be a positive integer, got 0$/],
      [() => t.fit(train.xs, train.ys, { epoch: 2 }), /^edgenn: fit: unknown option "epoch"/],
      [() => t.fit("pixels", train.ys), /^edgenn: examples must be a Float32Array, .* got string$/],
      [() => t.step(train.xs.subarray(0, 100), [1]), /^edgenn: step got 100 example values, not a whole number of examples of 784$/],
      [() => model.trainer({ trainable: ["dense_9/"] }).save(), /^edgenn: engine: trainable prefix "dense_9\/" matches no weight tensor$/],
      [() => model.trainer({ optimizer: "rmsprop" }).step(train.xs.subarray(0, size), [1]), /^edgenn: unknown optimizer "rmsprop" \(sgd, adam or adamw\)$/],
      [() => model.trainer({ lr: "fast" }).evaluate(held.xs, held.ys), /^edgenn: trainer option lr must be a number$/],
    ];
    for (const [f, message] of cases) await assert.rejects(f(), { message });
    assert.throws(() => model.trainer({ learningRate: 0.1 }), { message: /^edgenn: trainer: unknown option "learningRate"/ });
  });

  test("dispose frees a trainer on its worker", async () => {
    const count = async () => (await enn.info()).workers.reduce((n, w) => n + w.trainers, 0);
    const before = await count();
    const t = model.trainer(head);
    await t.evaluate(held.xs, held.ys);
    assert.equal(await count(), before + 1);
    t.dispose();
    await assert.rejects(t.evaluate(held.xs, held.ys), { message: "edgenn: trainer is disposed" });
    assert.equal(await count(), before);
  });
});
