// Peers (www/edgenn-peer.js) against the real host's hub: pools in this
// process join a room of `edgenn serve --hub-room` on 127.0.0.1 and offload
// to one another through the hub's relay. Offloaded outputs must equal local
// ones at every cut; a peer that leaves mid-request, or fails it, leaves the
// run to finish here, delivered once; a large input relayed to a peer on a
// slow link is paced past the hub's busy refusals; a wrong token is refused
// with the hub's reason; the frame sealing matches seal.go's test vectors byte for
// byte; transport "auto" picks HTTP only where the hub says it speaks it. Needs make wasm and build/edgenn (make zoo-models builds both).
//
// Node 20 has a WebSocket only under --experimental-websocket: without one,
// this file runs itself again in a child process with the flag.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:http";
import { connect, createServer as createNetServer } from "node:net";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

import { EdgeNN } from "../../www/edgenn.js";
import { Channel, decode, encode, encodeMessage, decodeMessage, fingerprint, hex, hubTransport, importKey, readFrame, unhex } from "../../www/edgenn-peer.js";
import { build, maxAbsDiff, root, zooModel } from "./fixtures.mjs";

const room = "lab", token = "lab-token-1234";
const vectors = join(root, "engine", "peer", "testdata", "seal_vectors.json");

if (typeof WebSocket === "undefined") {
  test("peer tests, run again under --experimental-websocket", () => {
    // NODE_TEST_CONTEXT would make the child report to this runner instead of running.
    const env = { ...process.env, NODE_OPTIONS: "" };
    delete env.NODE_TEST_CONTEXT;
    const r = spawnSync(process.execPath, ["--experimental-websocket", "--no-warnings", "--test", "--test-reporter=spec",
      fileURLToPath(import.meta.url)], { encoding: "utf8", env });
    if (r.status !== 0) assert.fail(`the child run failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
    console.log(r.stdout.split("\n").filter((l) => /^\s*(✔|✖|﹣|ℹ (tests|pass|fail|skipped))/.test(l)).join("\n"));
  });
} else {
  describe("sealing, as seal.go", () => {
    test("opens and re-seals seal.go's test vectors byte for byte", { skip: !existsSync(vectors) && "no engine/peer/testdata/seal_vectors.json" }, async () => {
      const v = JSON.parse(readFileSync(vectors, "utf8"));
      const a = await importKey(unhex(v.a_priv), unhex(v.a_pub));
      const b = await importKey(unhex(v.b_priv), unhex(v.b_pub));
      const ab = await Channel.create(a, b.pub), ba = await Channel.create(b, a.pub);
      assert.equal(await fingerprint(a.pub, b.pub), v.fingerprint);
      assert.equal(await fingerprint(b.pub, a.pub), v.fingerprint);
      assert.ok(v.frames.length >= 2);
      for (const [i, f] of v.frames.entries()) {
        const [sender, receiver] = f.from === "a" ? [ab, ba] : [ba, ab];
        const aad = unhex(f.aad);
        assert.equal(hex(await receiver.open(unhex(f.sealed), aad)), f.plain, `frame ${i}: open`);
        assert.equal(hex(await sender.seal(unhex(f.plain), aad)), f.sealed, `frame ${i}: seal`);
      }
      // What Open refuses: a replay, a tampered frame, another pair's aad.
      const f = v.frames.find((x) => x.from === "a");
      await assert.rejects(ba.open(unhex(f.sealed), unhex(f.aad)), /replayed or out of order/);
      const fresh = await Channel.create(b, a.pub);
      const bad = unhex(f.sealed);
      bad[bad.length - 1] ^= 1;
      await assert.rejects(fresh.open(bad, unhex(f.aad)), /does not authenticate/);
      await assert.rejects(fresh.open(unhex(f.sealed), new Uint8Array(3)), /does not authenticate/);
      await assert.rejects(Channel.create(a, a.pub), /our own/);
    });
  });

  test("msgpack: the hub messages and frames this side writes, in Go's canonical forms", () => {
    // Bytes as internal/msgp's Writer writes them: shortest forms, float32 for costs.
    const ping = encodeMessage("ping", { seq: 300 });
    assert.equal(hex(ping), "83a176" + "01" + "a174" + "a470696e67" + "a3736571" + "cd012c");
    const ann = encodeMessage("announce", { seq: 1, models: [{ sha256: new Uint8Array(32), cuts: [0, 1.5] }], load: 0 });
    const m = decodeMessage(ann);
    assert.deepEqual([m.t, m.models[0].cuts, m.load], ["announce", [0, 1.5], 0]);
    assert.ok(hex(ann).includes("a463757473" + "92" + "ca00000000" + "ca3fc00000"), hex(ann));
    assert.throws(() => decodeMessage(encode({ v: 2, t: "ping", seq: 1 })), /unknown version 2/);
    assert.throws(() => decodeMessage(encode({ t: "ping", v: 1, seq: 1 })), /starting with "v" and "t"/);
    const run = encode({ t: "run", id: 1, model: new Uint8Array(32), at: "x", shape: [1, 2], total: 8, off: 0, data: new Uint8Array(8) });
    assert.equal(readFrame(run).at, "x");
    assert.throws(() => readFrame(encode({ t: "run", id: 1, model: new Uint8Array(32), at: "x", shape: [1, 2], total: 12, off: 0, data: new Uint8Array(8) })), /total 12/);
    assert.throws(() => readFrame(encode({ t: "cancel", id: 1, extra: 1 })), /unknown key "extra"/);
    assert.throws(() => decode(new Uint8Array([0x92, 0x01])), /truncated/);
  });

  test("transport auto: HTTP where a GET of the hub says Edgenn-Hub-Transport: http, else the WebSocket", async () => {
    // As the Worker's hub (200 and the header) and the native host's (an error, no header) answer.
    const srv = createServer((req, res) => {
      if (req.url === "/worker/hub") res.writeHead(200, { "Edgenn-Hub-Transport": "http" }).end("edgenn peer hub over HTTP\n");
      else if (req.url === "/native/hub") res.writeHead(426, { "Content-Type": "text/plain" }).end("WebSocket protocol violation\n");
      else res.writeHead(404).end();
    });
    await new Promise((r) => srv.listen(0, "127.0.0.1", r));
    const base = `http://127.0.0.1:${srv.address().port}`;
    try {
      assert.equal(await hubTransport(new URL(base + "/worker/hub")), "http");
      assert.equal(await hubTransport(new URL(base + "/native/hub")), "websocket");
      assert.equal(await hubTransport(new URL(base + "/elsewhere")), "websocket");
    } finally {
      srv.close();
    }
    assert.equal(await hubTransport(new URL(base + "/worker/hub")), "websocket", "nothing listening");
    const enn = { workers: 1 };
    const { join } = await import("../../www/edgenn-peer.js");
    await assert.rejects(join(enn, base + "/hub", { room, token, transport: "poll" }), /transport must be "auto", "websocket" or "http", got "poll"/);
  });

  test("the HTTP transport against a stand-in hub: repeats dropped, a lost answer retried, refusals as the hub's errors, a drop ends the room", async () => {
    const queue = []; // what the hub has for the peer, by seq
    const sent = []; // what it got, in order of arrival
    let lose = 0, drop = false;
    const read = (req) => new Promise((r) => { const b = []; req.on("data", (d) => b.push(d)); req.on("end", () => r(Buffer.concat(b))); });
    const frame = (ms) => Buffer.from(encode(ms.map((m) => encodeMessage(m.t, m.f))));
    const srv = createServer(async (req, res) => {
      const u = new URL(req.url, "http://x");
      const body = await read(req);
      const refuse = (status, code, text) => res.writeHead(status, { "Edgenn-Hub-Error": code }).end(`${code}: ${text}\n`);
      if (u.pathname === "/hub/join") {
        res.writeHead(200, { "Edgenn-Hub-Peer": "p1", "Edgenn-Hub-Secret": "s".repeat(64), "Content-Type": "application/msgpack" });
        res.end(frame([{ t: "welcome", f: { seq: 1, id: "p1", room, peers: [] } }]));
        return;
      }
      if (req.headers["edgenn-hub-peer"] !== "p1" || req.headers["edgenn-hub-secret"] !== "s".repeat(64)) return refuse(401, "forbidden", "no peer");
      if (drop) return refuse(410, "timeout", "peer p1 sent nothing and did not poll for 30s, and was dropped; join again");
      if (u.pathname === "/hub/poll") {
        const after = Number(u.searchParams.get("after"));
        // Each answer repeats the last message acknowledged, as an answer lost on its way would.
        for (let i = 0; i < 10 && !queue.some((m) => m.f.seq > after) && !drop; i++) await new Promise((r) => setTimeout(r, 20));
        res.writeHead(200, { "Content-Type": "application/msgpack" }).end(frame(queue.filter((m) => m.f.seq >= after)));
        return;
      }
      const m = decodeMessage(body);
      const again = sent.some((s) => s.seq === m.seq);
      sent.push(m);
      if (m.t === "signal" && lose++ === 0) return req.socket.destroy(); // taken, but the answer is lost
      if (again) return refuse(409, "out-of-order", `seq ${m.seq} is not above the last seq ${m.seq}`);
      if (m.t === "offer-request") return refuse(404, "no-peer", `no other peer in room ${room} holds model 0000000000000000 with cut 0`);
      res.writeHead(204).end();
    });
    await new Promise((r) => srv.listen(0, "127.0.0.1", r));
    const { join } = await import("../../www/edgenn-peer.js");
    const enn = { workers: 1, _pool: { models: new Set() }, _peers: null };
    try {
      const p = await join(enn, `http://127.0.0.1:${srv.address().port}/hub`, { room, token, transport: "http" });
      const errors = [], joined = [];
      p.on("error", (e) => errors.push(e.message)).on("peer-joined", (i) => joined.push(i.id));
      assert.deepEqual([p.id, p.hubTransport], ["p1", "http"]);
      queue.push({ t: "peer-joined", f: { seq: 2, peer: { id: "p2", name: "b", caps: { workers: 1 } } } });
      await assert.rejects(p._request("offer-request", { model: new Uint8Array(32) }), /^Error: edgenn: hub: no-peer: no other peer in room lab holds model/);
      p._send("signal", { to: "p2", data: encode({ t: "key", pub: new Uint8Array(32) }) });
      p._send("ping", {});
      await new Promise((r) => setTimeout(r, 600));
      assert.deepEqual(joined, ["p2"], "a repeated message is delivered once");
      const signals = sent.filter((m) => m.t === "signal");
      assert.equal(signals.length, 2, "the send whose answer was lost is sent again");
      assert.deepEqual(sent.map((m) => m.seq), [...sent.map((m) => m.seq)].sort((x, y) => x - y), "sends go one at a time, in seq order");
      assert.deepEqual(errors, []);
      drop = true;
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(p.closed, true);
      assert.match(errors.join("\n"), /^edgenn: hub: timeout: peer p1 sent nothing/);
    } finally {
      srv.close();
      srv.closeAllConnections();
    }
  });

  describe("peers in a room of the real hub", () => {
    /** @type {import("node:child_process").ChildProcess} */
    let host;
    let hub = "";
    const log = [];
    const pools = {};
    const peers = {};
    const models = {};
    const x = new Float32Array(128 * 128 * 3).map((_, i) => Math.sin(i * 0.01));
    let local;

    const start = async (name, { throttle = 1, hold = ["mobilenet_v1_025_128", "lenet5"] } = {}) => {
      pools[name] = await EdgeNN.start({ workers: 1, baseURL: build });
      models[name] = {};
      for (const m of hold) models[name][m] = await pools[name].load(zooModel(m));
      peers[name] = await pools[name].join(hub, { room, token, name, throttle });
      peers[name].on("error", (e) => log.push(`${name}: ${e.message}`));
    };
    // until waits for cond, polling.
    const until = async (cond, what, ms = 5000) => {
      for (const t0 = Date.now(); !cond(); await new Promise((r) => setTimeout(r, 20))) {
        if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
      }
    };
    const holds = (p, q, m) => p.peers.find((i) => i.id === q.id)?.models.includes(models.a[m].info.sha256);
    // joinC starts a third pool, c, that reaches the hub through a TCP proxy:
    // toC(d, up, down) passes each chunk the hub sends towards c (write it to
    // down; pause up to slow or stall the link). dropC undoes it, c gone
    // from a's and b's lists before the next tests count frames between them.
    /** @type {{sockets: import("node:net").Socket[], server: import("node:net").Server} | undefined} */
    let cProxy;
    const joinC = async (/** @type {(d: Buffer, up: any, down: any) => void} */ toC) => {
      const hubAddr = new URL(hub);
      const sockets = [];
      const server = createNetServer((down) => {
        const up = connect(Number(hubAddr.port), hubAddr.hostname);
        sockets.push(up, down);
        down.pipe(up);
        up.on("data", (d) => toC(d, up, down));
        const end = () => { up.destroy(); down.destroy(); };
        up.on("error", end).on("close", end);
        down.on("error", end).on("close", end);
      });
      cProxy = { sockets, server };
      await new Promise((r) => server.listen(0, "127.0.0.1", r));
      const viaProxy = `http://127.0.0.1:${/** @type {any} */ (server.address()).port}${hubAddr.pathname}`;
      pools.c = await EdgeNN.start({ workers: 1, baseURL: build });
      models.c = { mobilenet_v1_025_128: await pools.c.load(zooModel("mobilenet_v1_025_128")) };
      peers.c = await pools.c.join(viaProxy, { room, token, name: "c" });
      peers.c.on("error", (e) => log.push(`c: ${e.message}`));
      await until(() => holds(peers.a, peers.c, "mobilenet_v1_025_128"), "c's announce");
    };
    const dropC = async () => {
      const cid = peers.c?.id;
      peers.c?.close();
      await pools.c?.terminate();
      delete pools.c;
      delete peers.c;
      // A stalled connection would keep the hub writing to c: cut it.
      for (const so of cProxy?.sockets ?? []) so.destroy();
      cProxy?.server.close();
      cProxy = undefined;
      if (cid) await until(() => ![peers.a, peers.b].some((q) => q.peers.some((x) => x.id === cid)), "c to be gone");
    };
    // bigToC runs n examples of MobileNet from a at cut 0 offloaded to c,
    // and here for reference; busy counts the parts the hub refused as busy.
    const bigToC = async (/** @type {number} */ n) => {
      const m = models.a.mobilenet_v1_025_128;
      const big = new Float32Array(n * x.length);
      for (let k = 0; k < n; k++) big.set(x.map((v) => v * (1 + k / n)), k * x.length);
      const want = (await m.run(big)).output;
      const busy0 = peers.a._busy;
      const t0 = performance.now();
      const got = (await m.run(big, { offload: peers.c.id, cut: 0 })).output;
      return { bytes: big.byteLength, diff: maxAbsDiff(got, want), ms: performance.now() - t0, info: m.lastOffload, busy: peers.a._busy - busy0 };
    };

    before(async () => {
      const bin = join(build, "edgenn");
      assert.ok(existsSync(bin), "build/edgenn is missing: make zoo-models");
      host = spawn(bin, ["serve", "--addr", "127.0.0.1:0", "--hub-room", `${room}=${token}`, "--models", join(build, "models")], { cwd: root });
      host.stderr.on("data", (d) => log.push(String(d)));
      const addr = await new Promise((resolve, reject) => {
        host.on("exit", (c) => reject(new Error(`edgenn serve exited with ${c}: ${log.join("")}`)));
        host.stdout.on("data", (d) => {
          const m = /serving http:\/\/(\S+?)\//.exec(String(d));
          if (m) resolve(m[1]);
        });
      });
      hub = `http://${addr}/hub`;
      await start("a");
      await start("b");
      await until(() => holds(peers.a, peers.b, "mobilenet_v1_025_128") && holds(peers.a, peers.b, "lenet5"), "b's announce");
      local = (await models.a.mobilenet_v1_025_128.run(x)).output;
    });
    after(async () => {
      for (const p of Object.values(pools)) await p.terminate();
      host?.kill();
    });

    test("a wrong token and an unknown room are refused with the hub's reason", async () => {
      const enn = await EdgeNN.start({ workers: 1, baseURL: build });
      pools.stranger = enn;
      await assert.rejects(enn.join(hub, { room, token: "not-the-token" }), /^Error: edgenn: join room lab: bad-token: wrong token for room "lab"$/);
      await assert.rejects(enn.join(hub, { room: "nowhere", token }), /unknown-room: no room "nowhere"/);
      await assert.rejects(enn.join(hub, { room }), /token must be a string/);
      await assert.rejects(pools.b.join(hub, { room, token }), /already in room lab/);
      assert.equal(peers.a.closed, false);
    });

    test("each sees the other, its name and the models it announced", async () => {
      const [b] = peers.a.peers;
      assert.deepEqual([peers.a.peers.length, b.id, b.name, b.caps.workers, b.caps.native], [1, peers.b.id, "b", 1, false]);
      // Node has no RTCPeerConnection: the relay carries every frame.
      assert.deepEqual([b.transport, peers.a.direct], ["relay", false]);
      // transport "auto": the native host's hub answers a plain GET with an error, so the WebSocket.
      assert.equal(peers.a.hubTransport, "websocket");
      assert.deepEqual(new Set(b.models), new Set(Object.values(models.a).map((m) => m.info.sha256)));
      assert.equal(await peers.a.fingerprint(peers.b.id), await peers.b.fingerprint(peers.a.id));
      assert.match(await peers.a.fingerprint(peers.b.id), /^\d{6}$/);
    });

    for (const name of ["mobilenet_v1_025_128", "lenet5"]) {
      test(`${name}: offloaded at every cut, the outputs equal the local run's`, async () => {
        const m = models.a[name];
        const cuts = await m.cuts();
        assert.equal(cuts.at(-1).index > 0 && cuts[0].index, 0);
        const input = name === "lenet5" ? x.subarray(0, 28 * 28) : x;
        const want = (await m.run(input)).output;
        for (let i = 0; i < cuts.length - 1; i++) {
          const got = (await m.run(input, { offload: peers.b.id, cut: i })).output;
          const info = m.lastOffload;
          assert.equal(info.fallback, undefined, `cut ${i}: ${info.fallback}`);
          assert.deepEqual([info.peer, info.cut, info.tensor, info.transport], [peers.b.id, i, cuts[i].tensor, "relay"]);
          assert.equal(info.upBytes, cuts[i].bytes);
          assert.equal(info.downBytes, cuts.at(-1).bytes);
          assert.ok(maxAbsDiff(got, want) <= 1e-6, `cut ${i} (${cuts[i].tensor}): max abs diff ${maxAbsDiff(got, want)}`);
        }
      });
    }

    test("a batch, and requests in flight together, each get their own answer", async () => {
      const m = models.a.mobilenet_v1_025_128;
      const xs = [1, 2, 3].map((k) => x.map((v) => v * k));
      const want = await Promise.all(xs.map((xk) => m.run(xk)));
      const got = await Promise.all(xs.map((xk, k) => m.run(xk, { offload: peers.b.id, cut: 3 + k })));
      got.forEach((g, k) => assert.ok(maxAbsDiff(g.output, want[k].output) <= 1e-6, `request ${k}`));
      const batch = new Float32Array(2 * x.length);
      batch.set(xs[0]);
      batch.set(xs[1], x.length);
      const two = (await m.run(batch, { offload: peers.b.id, cut: 7 })).output;
      assert.equal(m.lastOffload.fallback, undefined);
      assert.ok(maxAbsDiff(two, new Float32Array([...want[0].output, ...want[1].output])) <= 1e-6);
      // Six examples at cut 0 are 1.2 MB: the input goes in two parts.
      const six = new Float32Array(6 * x.length);
      for (let k = 0; k < 6; k++) six.set(xs[k % 3], k * x.length);
      const sixOut = (await m.run(six, { offload: peers.b.id, cut: 0 })).output;
      assert.equal(m.lastOffload.fallback, undefined);
      assert.equal(m.lastOffload.upBytes, six.byteLength);
      assert.ok(maxAbsDiff(sixOut, (await m.run(six)).output) <= 1e-6);
    });

    test("a 6.75 MiB input relayed to a peer on a slow link is paced: the parts the hub refuses as busy go again, the run is offloaded", async () => {
      // c reaches the hub through a proxy that passes 8 MB/s towards it, so
      // the hub's queue for c (4 MiB, busy past half) fills faster than it
      // drains: a sender that does not pace has parts refused as busy.
      try {
        await joinC((d, up, down) => {
          down.write(d);
          up.pause();
          setTimeout(() => up.resume(), d.length / 8000); // 8000 bytes per ms
        });
        // 36 examples at cut 0: 7 parts, over three times the half of c's queue.
        const { bytes, diff, ms, info, busy } = await bigToC(36);
        assert.ok(bytes >= 6 << 20);
        assert.equal(info.fallback, undefined, info.fallback);
        assert.deepEqual([info.peer, info.transport, info.upBytes], [peers.c.id, "relay", bytes]);
        assert.ok(diff <= 1e-6, `max abs diff ${diff}`);
        assert.ok(busy > 0, "no part was refused as busy: the link is not slow enough to test pacing");
        console.log(`# relayed ${(bytes / 2 ** 20).toFixed(2)} MiB at cut 0 to a peer on an 8 MB/s link: ` +
          `${ms.toFixed(0)} ms, ${busy} parts refused as busy and sent again`);
      } finally {
        await dropC();
      }
    });

    test("a peer that stops reading: the hub refuses the parts as busy, the sender gives up after 5 s and runs locally", async () => {
      // c's proxy stops passing anything towards c once c has joined: the
      // hub's queue for c fills and stays full.
      let stalled = false;
      try {
        await joinC((d, up, down) => {
          if (stalled) up.pause(); // never resumed: the kernel's buffers, then the hub's queue, fill
          else down.write(d);
        });
        // One run first, so that a and c have agreed their key.
        const m = models.a.mobilenet_v1_025_128;
        await m.run(x, { offload: peers.c.id, cut: 3 });
        assert.equal(m.lastOffload.fallback, undefined, m.lastOffload.fallback);
        stalled = true;
        // 72 examples at cut 0: 13.5 MiB, more than the socket buffers and
        // the hub's queue for c hold.
        const { diff, ms, info, busy } = await bigToC(72);
        assert.ok(diff <= 1e-6, `max abs diff ${diff}`);
        assert.match(String(info.fallback), /refused as busy for 5000 ms/);
        assert.doesNotMatch(String(info.fallback), /edgenn: /, "the reason repeats the prefix");
        assert.ok(busy > 0 && ms >= 5000, `${busy} refusals, ${ms.toFixed(0)} ms`);
        console.log(`# a stalled peer: gave up after ${ms.toFixed(0)} ms and ${busy} busy refusals, ran locally (${info.fallback})`);
      } finally {
        await dropC();
      }
    });

    test("frames that overtake others (a direct channel opening) are opened in order; a gap is waited for, then skipped", async () => {
      await peers.a.fingerprint(peers.b.id); // paired
      const p = peers.a._peers.get(peers.b.id), q = peers.b._peers.get(peers.a.id);
      const aad = peers.b._aad(peers.b.id, peers.a.id);
      const seal = () => q.channel.seal(encode({ t: "cancel", id: 999 }), aad);
      await q.outbox; // nothing else being sent to a meanwhile
      const errors = log.length;
      const [f1, f2, f3] = [await seal(), await seal(), await seal()];
      const n1 = p.channel.received + 1;
      peers.a._arrive(p, f2, "direct");
      peers.a._arrive(p, f3, "direct");
      await p.inbox;
      assert.equal(p.channel.received, n1 - 1, "f2 and f3 wait for f1");
      peers.a._arrive(p, f1, "relay");
      await p.inbox;
      assert.equal(p.channel.received, n1 + 2);
      // f4 never comes: f5 is opened after GAP_WAIT.
      await seal();
      const f5 = await seal();
      peers.a._arrive(p, f5, "direct");
      await new Promise((r) => setTimeout(r, 1200));
      await p.inbox;
      assert.equal(p.channel.received, n1 + 4);
      assert.equal(log.length, errors, log.slice(errors).join("\n"));
      // Signals for a data channel are checked, then ignored where there is no WebRTC.
      await assert.rejects(peers.a._signal(p, encode({ t: "sdp", type: "pranswer", sdp: "" })), /sdp signal: bad type/);
      await assert.rejects(peers.a._signal(p, encode({ t: "ice", candidate: "c", mid: "0", mline: 0, x: 1 })), /unknown key "x"/);
      await peers.a._signal(p, encode({ t: "sdp", type: "offer", sdp: "v=0" }));
      assert.equal(p.pc, null);
      p.cancelled.delete(999);
    });

    test("a peer's refusal (a cut it does not have) runs the tail here", async () => {
      const m = models.a.mobilenet_v1_025_128;
      const p = peers.a._peers.get(peers.b.id);
      const info = { upBytes: 0, downBytes: 0 };
      await assert.rejects(peers.a._remote(p, m, { tensor: "no-such-value" }, [1, 4], new Float32Array(4), 5000, info), /bad-cut/);
      await assert.rejects(peers.a._remote(p, m, { tensor: "conv2d_0" }, [1, 4], new Float32Array(4), 5000, info), /bad-input/);
    });

    test("the peer leaving mid-request: the run finishes here, delivered once", async () => {
      await start("slow", { throttle: 300, hold: ["mobilenet_v1_025_128"] });
      await until(() => holds(peers.a, peers.slow, "mobilenet_v1_025_128"), "slow's announce");
      const m = models.a.mobilenet_v1_025_128;
      let settled = 0;
      const run = m.run(x, { offload: peers.slow.id, cut: 0 }).finally(() => settled++);
      await until(() => peers.slow._queue > 0, "the slow peer to take the request");
      const left = new Promise((r) => peers.a.on("peer-left", r));
      peers.slow.close();
      assert.equal((await left).id, peers.slow.id);
      const got = (await run).output;
      assert.equal(settled, 1);
      assert.match(m.lastOffload.fallback, /left/);
      assert.equal(m.lastOffload.peer, peers.slow.id);
      assert.ok(maxAbsDiff(got, local) <= 1e-6);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(settled, 1);
      assert.deepEqual(peers.a.peers.map((p) => p.id), [peers.b.id]);
      await assert.rejects(m.run(x, { offload: peers.slow.id }), /no peer "p[0-9a-f]+" in room lab/);
    });

    test("auto: a throttled tab offloads where that is faster, through the hub's match", async () => {
      await start("weak", { throttle: 40, hold: ["mobilenet_v1_025_128"] });
      const m = models.weak.mobilenet_v1_025_128;
      await until(() => peers.weak.peers.filter((p) => p.models.includes(m.info.sha256)).length === 2, "a's and b's announces to weak");
      for (let i = 0; i < 3; i++) {
        const got = (await m.run(x, { offload: "auto" })).output;
        assert.ok(maxAbsDiff(got, local) <= 1e-6);
      }
      const info = m.lastOffload;
      assert.equal(info.fallback, undefined);
      // The hub matches the least loaded of the peers that hold the model: a or b.
      assert.ok([peers.a.id, peers.b.id].includes(info.peer), JSON.stringify(info));
      // The plan prices every cut of every holder and the local run; its prediction is finite.
      assert.ok(info.predictedMs > 0 && Number.isFinite(info.predictedMs) && info.remoteMs > 0, JSON.stringify(info));
    });

    test("a run never offloads without a room, and close ends offloading", async () => {
      const m = models.weak.mobilenet_v1_025_128;
      peers.weak.close();
      assert.equal(peers.weak.closed, true);
      const got = (await m.run(x, { offload: "auto" })).output;
      assert.ok(maxAbsDiff(got, local) <= 1e-6);
      await assert.rejects(m.run(x, { offload: peers.b.id }), /not in a room/);
      await assert.rejects(m.run(x, { offload: 3 }), /offload must be "auto", "never" or a peer's id/);
    });

    // The Go side of OFFLOAD.md (host/worker.go, engine/peer/offload.go), implemented independently.
    const hasWorker = existsSync(join(build, "edgenn")) &&
      /-hub/.test(spawnSync(join(build, "edgenn"), ["worker"], { encoding: "utf8" }).stderr ?? "");
    test("a native edgenn worker serves the tails: its outputs equal the local run's at every cut",
      { skip: !hasWorker && "build/edgenn has no worker command (make zoo-models rebuilds it)" }, async () => {
        const worker = spawn(join(build, "edgenn"), ["worker", "--hub", hub.replace(/^http/, "ws"), "--room", room, "--token", token,
          "--models", join(build, "models"), "--name", "native", "--profile-runs", "2"], { cwd: root });
        worker.stderr.on("data", (d) => log.push(String(d)));
        try {
          const m = models.a.mobilenet_v1_025_128;
          await until(() => peers.a.peers.some((p) => p.caps.native && p.models.includes(m.info.sha256)), "the native worker's announce", 20000);
          const native = peers.a.peers.find((p) => p.caps.native);
          assert.equal(native.name, "native");
          const cuts = await m.cuts();
          for (let i = 0; i < cuts.length - 1; i++) {
            const got = (await m.run(x, { offload: native.id, cut: i })).output;
            assert.equal(m.lastOffload.fallback, undefined, `cut ${i}: ${m.lastOffload.fallback}`);
            assert.equal(m.lastOffload.peer, native.id);
            assert.ok(maxAbsDiff(got, local) <= 1e-5, `cut ${i} (${cuts[i].tensor}): max abs diff ${maxAbsDiff(got, local)}`);
          }
          const l = models.a.lenet5;
          const small = x.subarray(0, 28 * 28);
          const got = (await l.run(small, { offload: native.id, cut: 1 })).output;
          assert.equal(l.lastOffload.fallback, undefined);
          assert.ok(maxAbsDiff(got, (await l.run(small)).output) <= 1e-5);
          // The worker leaving: the next request to it is refused at once, not sent.
          const left = new Promise((r) => peers.a.on("peer-left", (p) => p.id === native.id && r(p)));
          worker.kill("SIGTERM");
          await left;
          await assert.rejects(m.run(x, { offload: native.id }), /no peer/);
        } finally {
          worker.kill("SIGKILL");
        }
      });
  });
}
