// Two pools offload through the Cloudflare Worker's HTTP hub (host/cfhub.go),
// run in workerd by host/cfhub_peers_test.go (TestCFWorkerPeers):
//
//   node --experimental-websocket wasm/jsapi/cfhub_peers.mjs HUB_URL ROOM TOKEN
//
// A joins and serves the zoo models it loads; B (throttle 10) runs them
// with an explicit peer and cut: the outputs equal the local run's and
// model.lastOffload names A. With offload "auto" B runs MobileNet here (the
// relay is slower than B), and W (throttle 1000) offloads it to A or B. A pool C
// takes a run and leaves mid-way: it finishes at B, delivered once. A wrong token
// is refused with the hub's reason, as the WebSocket hub's. Both "auto"
// joins must pick HTTP. Needs make wasm and make zoo-models (build/models).
// Prints what it checked; exits non-zero on the first failure.
import assert from "node:assert/strict";

import { EdgeNN } from "../../www/edgenn.js";
import { build, maxAbsDiff, zooModel } from "./fixtures.mjs";

const [hub, room, token] = process.argv.slice(2);
if (!hub || !room || !token) {
  console.error("usage: node --experimental-websocket cfhub_peers.mjs HUB_URL ROOM TOKEN");
  process.exit(2);
}

const log = [];
const pools = [];
/** @param {string} what */
const t0 = performance.now();
const step = (what) => console.log(`cfhub-peers: [${((performance.now() - t0) / 1000).toFixed(1)} s] ${what}`);
const until = async (cond, what, ms = 20000) => {
  for (const t0 = Date.now(); !cond(); await new Promise((r) => setTimeout(r, 20))) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
  }
};

async function start(name, { throttle = 1, hold = ["lenet5", "mobilenet_v1_025_128"] } = {}) {
  const enn = await EdgeNN.start({ workers: 1, baseURL: build });
  pools.push(enn);
  const models = {};
  for (const m of hold) models[m] = await enn.load(zooModel(m));
  const t0 = performance.now();
  const peers = await enn.join(hub, { room, token, name, throttle });
  step(`${name} joined room ${room} as ${peers.id} over ${peers.hubTransport} in ${Math.round(performance.now() - t0)} ms`);
  peers.on("error", (e) => log.push(`${name}: ${e.message}`));
  return { enn, models, peers };
}

async function main() {
  // A wrong token and an unknown room: refused with the hub's reason, as the WebSocket hub's.
  const stranger = await EdgeNN.start({ workers: 1, baseURL: build });
  pools.push(stranger);
  for (const transport of ["http", "auto"]) {
    await assert.rejects(stranger.join(hub, { room, token: "not-the-token", transport }),
      new RegExp(`^Error: edgenn: join room ${room}: bad-token: wrong token for room "${room}"$`));
  }
  await assert.rejects(stranger.join(hub, { room: "nowhere", token, transport: "http" }), /^Error: edgenn: join room nowhere: unknown-room: no room "nowhere"/);
  await assert.rejects(stranger.join(hub, { room, token, transport: "poll" }), /transport must be "auto", "websocket" or "http"/);
  step("a wrong token and an unknown room are refused with the hub's reason");

  const a = await start("a");
  const b = await start("b", { throttle: 10 });
  assert.equal(a.peers.hubTransport, "http");
  assert.equal(b.peers.hubTransport, "http");
  const holds = (p, q, sha) => p.peers.find((i) => i.id === q.id)?.models.includes(sha);
  await until(() => Object.values(b.models).every((m) => holds(b.peers, a.peers, m.info.sha256)), "a's announce at b");
  await until(() => holds(a.peers, b.peers, b.models.lenet5.info.sha256), "b's announce at a");
  step("each sees the other and the models it announced");
  assert.equal(await a.peers.fingerprint(b.peers.id), await b.peers.fingerprint(a.peers.id));

  const x = new Float32Array(128 * 128 * 3).map((_, i) => Math.sin(i * 0.01));
  const inputs = { lenet5: x.subarray(0, 28 * 28), mobilenet_v1_025_128: x };

  // An explicit peer and cut: every cut of lenet5, a few of MobileNet's.
  for (const name of ["lenet5", "mobilenet_v1_025_128"]) {
    const m = b.models[name];
    const want = (await m.run(inputs[name])).output;
    const cuts = await m.cuts();
    const at = name === "lenet5" ? cuts.slice(0, -1).map((_, i) => i) : [0, (cuts.length >> 1), cuts.length - 2];
    const ms = [];
    for (const i of at) {
      const got = (await m.run(inputs[name], { offload: a.peers.id, cut: i })).output;
      const info = m.lastOffload;
      assert.equal(info.fallback, undefined, `${name} cut ${i}: ${info.fallback}`);
      assert.deepEqual([info.peer, info.cut, info.tensor, info.transport], [a.peers.id, i, cuts[i].tensor, "relay"]);
      assert.ok(maxAbsDiff(got, want) <= 1e-6, `${name} cut ${i}: max abs diff ${maxAbsDiff(got, want)}`);
      ms.push(Math.round(info.totalMs));
    }
    step(`${name}: offloaded to a at cuts ${at.join(", ")}, the outputs equal the local run's (total ms ${ms.join(", ")})`);
  }

  // auto. Through the Worker's hub a relayed run takes hundreds of ms on
  // loopback (D1 writes, long polls), more than MobileNet takes b even
  // slowed 10 times: b's planner keeps it here. A far weaker pool, w,
  // offloads, and the hub matches its offer request to a or b.
  const auto = async (who, name) => {
    const m = who.models.mobilenet_v1_025_128;
    // The reference is a's run: a joined pool's own runs are slowed by its throttle.
    const want = (await a.models.mobilenet_v1_025_128.run(x)).output;
    const seen = [];
    for (let k = 0; k < 4; k++) {
      const got = (await m.run(x, { offload: "auto" })).output;
      assert.ok(maxAbsDiff(got, want) <= 1e-6, `${name}: auto run ${k}: max abs diff ${maxAbsDiff(got, want)}`);
      const info = m.lastOffload;
      // The first request to a peer is cold (it compiles the tail, slowed
      // by its throttle) and may outlast the timeout: it may finish here.
      if (k > 0) assert.equal(info.fallback, undefined, `${name}: auto run ${k}: ${info.fallback}`);
      assert.ok(info.predictedMs > 0 && Number.isFinite(info.predictedMs), JSON.stringify(info));
      seen.push(`${{ [a.peers.id]: "a", [b.peers.id]: "b" }[info.peer] ?? info.peer ?? "here"} at cut ${info.cut}, predicted ${Math.round(info.predictedMs)} ms, took ${Math.round(info.totalMs)} ms` +
        (info.fallback ? ` (${info.fallback})` : ""));
    }
    step(`auto, ${name}: ${seen.join("; ")}`);
    return m.lastOffload;
  };
  assert.equal((await auto(b, "b (throttle 10)")).peer, null, "b offloaded, though its local run is faster than the relay");
  const w = await start("w", { throttle: 1000, hold: ["mobilenet_v1_025_128"] });
  await until(() => holds(w.peers, a.peers, w.models.mobilenet_v1_025_128.info.sha256), "a's announce at w");
  // The hub matches the least loaded of the peers that hold the model: a or b.
  const wi = await auto(w, "w (throttle 1000)");
  assert.ok([a.peers.id, b.peers.id].includes(wi.peer), `w ran at ${wi.peer}`);
  w.peers.close();

  // A peer leaving mid-run: the run finishes at b, delivered once.
  {
    const c = await start("c", { throttle: 300, hold: ["mobilenet_v1_025_128"] });
    const m = b.models.mobilenet_v1_025_128;
    const want = (await m.run(x)).output;
    await until(() => holds(b.peers, c.peers, m.info.sha256), "c's announce at b");
    let settled = 0;
    const run = m.run(x, { offload: c.peers.id, cut: 0 }).finally(() => settled++);
    await until(() => c.peers._queue > 0, "c to take the request");
    const left = new Promise((r) => b.peers.on("peer-left", (p) => p.id === c.peers.id && r(p)));
    c.peers.close();
    assert.equal((await left).id, c.peers.id);
    const got = (await run).output;
    assert.equal(settled, 1);
    assert.match(m.lastOffload.fallback ?? "", /left/);
    assert.equal(m.lastOffload.peer, c.peers.id);
    assert.ok(maxAbsDiff(got, want) <= 1e-6);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(settled, 1);
    assert.deepEqual(b.peers.peers.map((p) => p.id), [a.peers.id]);
    step(`c left mid-run: the run finished at b, once (${m.lastOffload.fallback})`);
  }

  a.peers.close();
  b.peers.close();
  assert.deepEqual(log, [], "errors reported by the peers");
}

let code = 0;
try {
  await main();
  step("done");
  console.log("cfhub-peers: ok");
} catch (e) {
  console.error(`cfhub-peers: FAIL: ${e.stack ?? e}`);
  if (log.length) console.error(`cfhub-peers: the peers reported:\n${log.join("\n")}`);
  code = 1;
}
// Leaves and their answers in flight get a moment before the pools stop.
await new Promise((r) => setTimeout(r, 300));
for (const p of pools) await p.terminate().catch(() => {});
process.exit(code);
