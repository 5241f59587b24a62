// Type-checks edgenn.d.ts against the way the API is used (not run):
//   tsc -p wasm/jsapi (make types)
import { EdgeNN, Model, Trainer, type CutInfo, type EpochStats, type NodeCost, type OffloadInfo, type HubTransport, type PeerInfo, type Peers, type Transport,
  type PoolInfo, type Scores } from "../../www/edgenn.js";

export async function usage(pixels: Float32Array, labels: Int32Array): Promise<void> {
  const enn: EdgeNN = await EdgeNN.start({ workers: 2, baseURL: "build/", simd: "auto" });
  const simd: boolean = EdgeNN.simdSupported() && enn.simd;
  const model: Model = await enn.load("/models/digits.enn", {
    onProgress: ({ loaded, total }) => console.log(loaded, total ?? "?", simd),
  });
  const fromBytes = await enn.load(new Uint8Array(16), { name: "mine" });
  const { inputs, outputs, labels: names, metadata, sha256 } = model.info;
  console.log(inputs[0].shape, outputs[0].name, names?.[0], metadata["licence"], sha256?.length);

  const out: Record<string, Float32Array> = await model.run(pixels);
  const byName = await model.run({ input: pixels }, { transfer: true });
  const fromNumbers = await model.run([0, 0.5, 1]);
  console.log(out.output[0], byName.output.length, fromNumbers);

  const costs: NodeCost[] = await model.profile(undefined, { runs: 5 });
  console.log(costs.map((c) => `${c.op} ${c.name} ${c.medianMs}`));
  const before: Scores = await model.evaluate(pixels, labels);

  const t: Trainer = model.trainer({ optimizer: "adamw", lr: 1e-3, weightDecay: 0.01, trainable: ["dense_7/"], batchSize: 16 });
  const ctl = new AbortController();
  const history: EpochStats[] = await t.fit([pixels, pixels], [1, 2], {
    epochs: 3,
    schedule: { type: "cosine", floor: 0.1 },
    clipNorm: 5,
    seed: 1,
    validation: { xs: pixels, ys: labels },
    signal: ctl.signal,
    onBatch: ({ epoch, step, steps, loss }) => console.log(epoch, step, steps, loss),
    onEpoch: (e) => console.log(e.evalAccuracy?.toFixed(3)),
  });
  const loss: number = await t.step(pixels, labels);
  const mse: number = await model.trainer({ loss: "mse" }).step(pixels, new Float32Array(10));
  const after: Scores = await t.evaluate(pixels, labels);
  const file: Uint8Array = await t.save({ optimizerState: true });
  const mine: Model = await t.toModel({ name: "personal" });
  console.log(history.length, loss, mse, before.accuracy, after.accuracy, file.length, mine.info.name, t.batchSize);

  const info: PoolInfo = await enn.info();
  console.log(info.workers.map((w) => [w.index, w.alive, w.memoryBytes ?? 0]));
  t.dispose();
  mine.dispose();
  fromBytes.dispose();
  await enn.terminate();
}

// What must not type-check.
export async function misuse(enn: EdgeNN, model: Model): Promise<void> {
  // @ts-expect-error: simd is "auto" or a boolean
  await EdgeNN.start({ simd: "yes" });
  // @ts-expect-error: an unknown optimizer
  model.trainer({ optimizer: "rmsprop" });
  // @ts-expect-error: run takes tensors, not strings
  await model.run("pixels");
  // @ts-expect-error: the constructor is private; EdgeNN.start makes one
  new EdgeNN();
  // @ts-expect-error: info is read-only
  model.info.name = "x";
  console.log(enn.workers);
}

// One input, many tasks.
export async function watch(enn: EdgeNN, detector: Model, emotion: Model, video: HTMLVideoElement): Promise<void> {
  const src = enn.source(video, { fps: 15 });
  await src.attach(detector, { resize: [256, 256], fit: "letterbox", filter: "area", mean: 127.5, std: 127.5 },
    (r) => r.detections?.forEach((d) => console.log(d.score, d.box)), { priority: 2 });
  await src.attach(emotion, { crop: "face", square: true, enlarge: 1.2, gray: true, mean: [127.5], std: [127.5] },
    (r) => console.log(r.task, r.batch, r.latencyMs, r.outputs?.["output"], r.error?.message), { priority: 1, rate: 5 });
  const m = await src.metrics();
  console.log(m.tasks.map((t) => [t.name, t.p95Ms, t.dropped, t.share]), m.provider.prepared);
  const manual = enn.source(null);
  await manual.push({ data: new Uint8ClampedArray(4 * 2 * 2), width: 2, height: 2 });
  // @ts-expect-error: filter is bilinear, nearest or area
  await manual.attach(emotion, { filter: "cubic" }, () => {});
  src.close();
  manual.close();
}

// Nearby peers: offload part of a run.
export async function offload(enn: EdgeNN, model: Model, pixels: Float32Array): Promise<void> {
  const room: Peers = await enn.join("/hub", { room: "lab", token: "lab-token-1234", name: "phone", throttle: 4 });
  room.on("peer-joined", (p: PeerInfo) => console.log(p.id, p.name, p.caps.native, p.models.length));
  room.on("peer-left", ({ id, reason }) => console.log(id, reason));
  room.on("error", (e: Error) => console.error(e.message));
  const cuts: CutInfo[] = await model.cuts({ runs: 3 });
  console.log(cuts.map((c) => `${c.index} ${c.tensor} ${c.bytes} ${c.headMs}`));
  const auto = await model.run(pixels, { offload: "auto" });
  const info: OffloadInfo | null = model.lastOffload;
  console.log(auto.output, info?.peer ?? "local", info?.predictedMs, info?.fallback);
  room.on("transport", ({ id, transport, reason }) => console.log(id, transport, reason ?? ""));
  const direct: boolean = room.direct;
  room.direct = !direct;
  const how: Transport | undefined = info?.transport;
  console.log(how, room.peers.map((p) => p.transport));
  const other = room.peers[0];
  if (other) {
    console.log(await room.fingerprint(other.id));
    await model.run(pixels, { offload: other.id, cut: 2 });
  }
  await model.run(pixels, { offload: "never" });
  room.close();
  // @ts-expect-error: a room and a token are required
  await enn.join("/hub", { name: "x" });
  const worker: Peers = await enn.join("https://edgenn.example.workers.dev/hub", { room: "lab", token: "lab-token-1234", transport: "http" });
  const hub: HubTransport = worker.hubTransport;
  console.log(hub, (await enn.join("/hub", { room: "lab", token: "lab-token-1234", transport: "auto" })).hubTransport);
  // @ts-expect-error: transport is auto, websocket or http
  await enn.join("/hub", { room: "lab", token: "lab-token-1234", transport: "poll" });
  // @ts-expect-error: lastOffload is read-only
  model.lastOffload = null;
}
