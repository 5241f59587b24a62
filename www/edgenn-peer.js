// edgenn-peer.js: nearby peers for edgenn.js (EdgeNN.join). Loaded by
// edgenn.js only when a page joins a room, so that apps that never offload
// download nothing of it.
//
// It speaks the host hub's protocol (engine/peer/message.go: msgpack
// messages numbered by seq, bounded and validated) over a WebSocket to the
// native host's hub, or over HTTP requests and a long poll to the
// Cloudflare Worker's (host/cfhub.go; join's transport option), seals
// the frames two peers exchange end to end as engine/peer/seal.go does
// (X25519, HKDF-SHA256, AES-256-GCM, with WebCrypto) and carries inside them
// the offload messages of engine/peer/OFFLOAD.md: run, result, fail, cancel.
// A tab is both a requester (Model.run with {offload}) and a server (it runs
// the tails of the models it has loaded for the others, and announces what
// they cost here).
//
// Frames go over a direct WebRTC data channel where one opens (OFFLOAD.md's
// "sdp"/"ice" signals, no STUN or TURN: host candidates on a LAN or
// loopback), else through the hub's relay. The peer that sent the pairing
// key offers the channel once keys are agreed; until it is open (at most
// DIRECT_TIMEOUT), or once it closes, frames take the relay. The frames are
// sealed the same way on either transport, so the data channel's own DTLS
// is not relied on. Where the runtime has no RTCPeerConnection (Node), or
// Peers.direct is false, the relay carries everything.

/** @typedef {import("./edgenn.d.ts").PeerInfo} PeerInfo */
/** @typedef {import("./edgenn.d.ts").OffloadInfo} OffloadInfo */
/** @typedef {import("./edgenn.d.ts").CutInfo} CutInfo */

// Protocol limits (engine/peer/message.go, seal.go, OFFLOAD.md).
const VERSION = 1;
const MAX_FRAME = 1 << 20;
const SEAL_OVERHEAD = 24;
const MAX_PLAIN = MAX_FRAME - SEAL_OVERHEAD;
const MAX_MESSAGE = MAX_FRAME + (4 << 10);
const MAX_SIGNAL = 16 << 10;
const MAX_NAME = 64;
const MAX_TOKEN = 256;
const MAX_MODELS = 16;
const MAX_CUTS = 512;
const MAX_TENSOR = 64 << 20;
/** Tensor bytes in one run or result part: a frame less room for its keys. */
const PART_BYTES = MAX_PLAIN - 1024;
const INFO = new TextEncoder().encode("edgenn peer frame v1");
/**
 * The largest data channel message sent: Chromium advertises, and accepts,
 * SCTP messages of at most 256 KiB (a=max-message-size:262144), under the
 * 1 MiB a relayed frame may take; tensor parts sent direct are cut to fit.
 */
const DIRECT_MAX_MESSAGE = 256 << 10;
/** Bytes queued on a data channel beyond which sending waits for it to drain. */
const DIRECT_BUFFER = 4 << 20;

// Timings (milliseconds).
const KEY_TIMEOUT = 5000; // a peer that does not answer our key
const MATCH_TIMEOUT = 3000; // the hub's answer to an offer request
const PING_EVERY = 1000; // our own pings, to measure the hub's round trip
const HUB_SILENCE = 6000; // nothing from the hub for this long: the connection is dead
const ANNOUNCE_GAP = 300; // the hub takes one announce per 200 ms
const SERVE_QUEUE = 8; // run requests a tab queues before answering busy
const DIRECT_TIMEOUT = 5000; // a data channel not open by then: the relay carries the frames
// Frames switch transport mid-stream (relay to direct when the channel
// opens): one that overtakes an earlier frame still on the other transport
// waits this long for it, so that frames are opened in their order.
const GAP_WAIT = 1000;
const HELD_BYTES = 16 << 20; // frames held back for one gap, at most
// Pacing through the relay (host/peerclient.go's, OFFLOAD.md): the hub
// refuses a frame for a peer with half its queue waiting as busy and says
// nothing of one it takes, but answers a refusal before the pong of a ping
// sent after it. So each relayed frame is followed by a ping and the next
// waits for the pong; a frame refused as busy is sent again after a wait
// that doubles from BUSY_FIRST_WAIT to BUSY_MAX_WAIT, for at most
// BUSY_PATIENCE (a peer that drains nothing for that long is stuck).
const BUSY_FIRST_WAIT = 2;
const BUSY_MAX_WAIT = 64;
const BUSY_PATIENCE = 5000;
const TAKEN_TIMEOUT = 10000; // the hub's answer to a relayed frame (peerClientWriteTimeout)

// The planner's estimates of a link start from these until measured.
// Through the hub's relay, two hops of a 100 Mbit/s local network: 6 MB/s
// (the native requester assumes 12.5 MB/s, host/offload.go). Too low a guess
// is never corrected: a planner that prices the link too dear never offloads,
// so never measures it.
const PRIOR_BYTES_PER_MS = 6000;
// A direct channel made of host candidates only joins two devices of one
// LAN (or one machine): 10 MB/s, a slow Wi-Fi's, until measured.
const DIRECT_PRIOR_BYTES_PER_MS = 10000;
const EWMA = 0.25;

/** @param {string} msg */
function fail(msg) {
  return new Error("edgenn: " + msg);
}

/**
 * reason is a caught error's message for a new one that names it, without
 * its own "edgenn: " (so that fail(`...: ${reason(e)}`) says it once).
 * @param {unknown} e
 */
function reason(e) {
  return String(e instanceof Error ? e.message : e).replace(/^edgenn: /, "");
}

function now() {
  return globalThis.performance?.now() ?? Date.now();
}

/** @param {number} ms */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** @param {Uint8Array} b */
export function hex(b) {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** @param {string} s */
export function unhex(s) {
  const b = new Uint8Array(s.length >> 1);
  for (let i = 0; i < b.length; i++) b[i] = parseInt(s.substr(2 * i, 2), 16);
  return b;
}

// ---------------------------------------------------------------------------
// msgpack: the part the protocol uses, each value in its shortest form as
// internal/msgp's Writer writes it, so that encodings are byte-identical.

/** A float32 to encode as such (msgpack 0xca), not as an integer. */
class F32 {
  /** @param {number} v */
  constructor(v) {
    this.v = v;
  }
}
/** @param {number} v */
export const f32 = (v) => new F32(v);

class Writer {
  constructor(size = 256) {
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
    this.n = 0;
  }

  /** @param {number} k */
  room(k) {
    if (this.n + k <= this.buf.length) return;
    const b = new Uint8Array(Math.max(2 * this.buf.length, this.n + k));
    b.set(this.buf.subarray(0, this.n));
    this.buf = b;
    this.view = new DataView(b.buffer);
  }

  /** @param {number[]} bytes */
  put(...bytes) {
    this.room(bytes.length);
    for (const x of bytes) this.buf[this.n++] = x;
  }

  /** @param {number} c @param {number} v */
  put16(c, v) {
    this.room(3);
    this.buf[this.n] = c;
    this.view.setUint16(this.n + 1, v);
    this.n += 3;
  }

  /** @param {number} c @param {number} v */
  put32(c, v) {
    this.room(5);
    this.buf[this.n] = c;
    this.view.setUint32(this.n + 1, v);
    this.n += 5;
  }

  /** @param {number} n @param {number} fix @param {number} fixMax @param {number} c8 @param {number} c16 @param {number} c32 */
  header(n, fix, fixMax, c8, c16, c32) {
    if (n <= fixMax) this.put(fix | n);
    else if (n <= 0xff && c8) this.put(c8, n);
    else if (n <= 0xffff) this.put16(c16, n);
    else this.put32(c32, n);
  }

  /** @param {number} v a non-negative integer */
  uint(v) {
    if (!Number.isSafeInteger(v) || v < 0) throw fail(`msgpack: ${v} is not a non-negative integer`);
    if (v <= 0x7f) this.put(v);
    else if (v <= 0xff) this.put(0xcc, v);
    else if (v <= 0xffff) this.put16(0xcd, v);
    else if (v <= 0xffffffff) this.put32(0xce, v);
    else {
      this.put32(0xcf, Math.floor(v / 2 ** 32));
      this.room(4);
      this.view.setUint32(this.n, v >>> 0);
      this.n += 4;
    }
  }

  /** @param {number} v an integer */
  int(v) {
    if (!Number.isSafeInteger(v)) throw fail(`msgpack: ${v} is not an integer`);
    if (v >= 0) this.uint(v);
    else if (v >= -32) this.put(v & 0xff);
    else if (v >= -128) this.put(0xd0, v & 0xff);
    else if (v >= -32768) this.put16(0xd1, v & 0xffff);
    else if (v >= -(2 ** 31)) this.put32(0xd2, v >>> 0);
    else throw fail(`msgpack: ${v} is out of range`);
  }

  /** @param {string} s */
  str(s) {
    const b = new TextEncoder().encode(s);
    this.header(b.length, 0xa0, 31, 0xd9, 0xda, 0xdb);
    this.raw(b);
  }

  /** @param {Uint8Array} b */
  bin(b) {
    this.header(b.length, 0, -1, 0xc4, 0xc5, 0xc6);
    this.raw(b);
  }

  /** @param {Uint8Array} b */
  raw(b) {
    this.room(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
  }

  /** @param {number} v */
  f32(v) {
    this.room(5);
    this.buf[this.n] = 0xca;
    this.view.setFloat32(this.n + 1, v);
    this.n += 5;
  }

  /** @param {number} n */
  map(n) {
    this.header(n, 0x80, 15, 0, 0xde, 0xdf);
  }

  /** @param {number} n */
  array(n) {
    this.header(n, 0x90, 15, 0, 0xdc, 0xdd);
  }

  /**
   * value writes a JS value: string (str), Uint8Array (bin), F32, integer
   * (int), boolean, array, or a plain object (map, keys in insertion order;
   * undefined members left out).
   * @param {any} v
   */
  value(v) {
    if (typeof v === "string") this.str(v);
    else if (v instanceof Uint8Array) this.bin(v);
    else if (v instanceof F32) this.f32(v.v);
    else if (typeof v === "number") this.int(v);
    else if (typeof v === "boolean") this.put(v ? 0xc3 : 0xc2);
    else if (Array.isArray(v)) {
      this.array(v.length);
      for (const x of v) this.value(x);
    } else if (v && typeof v === "object") {
      const keys = Object.keys(v).filter((k) => v[k] !== undefined);
      this.map(keys.length);
      for (const k of keys) {
        this.str(k);
        this.value(v[k]);
      }
    } else throw fail(`msgpack: cannot encode ${v}`);
  }

  bytes() {
    return this.buf.subarray(0, this.n);
  }
}

/** @param {any} v @returns {Uint8Array} */
export function encode(v) {
  const w = new Writer();
  w.value(v);
  return w.bytes();
}

/**
 * decode reads one msgpack value that fills b: maps become objects (a
 * duplicate key is refused), bin a Uint8Array viewing b, ints and floats
 * numbers. Ext types, nesting deeper than 8 and trailing bytes are refused.
 * @param {Uint8Array} b
 * @returns {any}
 */
export function decode(b) {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let off = 0;
  const need = (/** @type {number} */ n) => {
    if (off + n > b.length) throw new Error("truncated message");
  };
  const u = (/** @type {number} */ n) => {
    need(n);
    const at = off;
    off += n;
    if (n === 1) return view.getUint8(at);
    if (n === 2) return view.getUint16(at);
    if (n === 4) return view.getUint32(at);
    return view.getUint32(at) * 2 ** 32 + view.getUint32(at + 4);
  };
  const td = new TextDecoder("utf-8", { fatal: true });
  /** @param {number} depth @returns {any} */
  const value = (depth) => {
    if (depth > 8) throw new Error("nested too deep");
    const c = u(1);
    const bytes = (/** @type {number} */ n) => {
      need(n);
      off += n;
      return b.subarray(off - n, off);
    };
    const arr = (/** @type {number} */ n) => {
      if (n > b.length - off) throw new Error("truncated message");
      const a = new Array(n);
      for (let i = 0; i < n; i++) a[i] = value(depth + 1);
      return a;
    };
    const map = (/** @type {number} */ n) => {
      if (2 * n > b.length - off) throw new Error("truncated message");
      /** @type {Record<string, any>} */
      const o = {};
      for (let i = 0; i < n; i++) {
        const k = value(depth + 1);
        if (typeof k !== "string") throw new Error("a map key that is not a string");
        if (Object.hasOwn(o, k)) throw new Error(`duplicate field "${k}"`);
        o[k] = value(depth + 1);
      }
      return o;
    };
    if (c <= 0x7f) return c;
    if (c >= 0xe0) return c - 256;
    if (c < 0x90) return map(c & 15);
    if (c < 0xa0) return arr(c & 15);
    if (c < 0xc0) return td.decode(bytes(c & 31));
    switch (c) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return bytes(u(1));
      case 0xc5: return bytes(u(2));
      case 0xc6: return bytes(u(4));
      case 0xca: need(4); off += 4; return view.getFloat32(off - 4);
      case 0xcb: need(8); off += 8; return view.getFloat64(off - 8);
      case 0xcc: return u(1);
      case 0xcd: return u(2);
      case 0xce: return u(4);
      case 0xcf: return u(8);
      case 0xd0: need(1); off += 1; return view.getInt8(off - 1);
      case 0xd1: need(2); off += 2; return view.getInt16(off - 2);
      case 0xd2: need(4); off += 4; return view.getInt32(off - 4);
      case 0xd3: need(8); off += 8; return Number(view.getBigInt64(off - 8));
      case 0xd9: return td.decode(bytes(u(1)));
      case 0xda: return td.decode(bytes(u(2)));
      case 0xdb: return td.decode(bytes(u(4)));
      case 0xdc: return arr(u(2));
      case 0xdd: return arr(u(4));
      case 0xde: return map(u(2));
      case 0xdf: return map(u(4));
    }
    throw new Error(`unsupported msgpack type 0x${c.toString(16)}`);
  };
  const v = value(0);
  if (off !== b.length) throw new Error(`${b.length - off} trailing bytes`);
  return v;
}

// ---------------------------------------------------------------------------
// Hub messages (engine/peer/message.go). Fields go in the order Go's Encode
// writes them, so that the bytes are the same.

const FIELD_ORDER = ["seq", "re", "from", "to", "room", "token", "name", "id", "caps", "peers", "peer",
  "models", "load", "model", "cut", "data", "code", "msg", "reason"];

/**
 * encodeMessage encodes a hub message of type t. Fields are given as JS
 * values: load and gflops as numbers (written as float32), models as
 * [{sha256: Uint8Array, cuts: number[]}].
 * @param {string} t @param {Record<string, any>} fields
 */
export function encodeMessage(t, fields) {
  /** @type {Record<string, any>} */
  const m = { v: VERSION, t };
  for (const k of FIELD_ORDER) {
    const v = fields[k];
    if (v === undefined) continue;
    if (k === "load") m[k] = f32(v);
    else if (k === "caps") m[k] = { workers: v.workers ?? 0, native: !!v.native, gflops: f32(v.gflops ?? 0) };
    else if (k === "models") m[k] = v.map((/** @type {any} */ mc) => ({ sha256: mc.sha256, cuts: mc.cuts.map(f32) }));
    else m[k] = v;
  }
  for (const k of Object.keys(fields)) {
    if (!FIELD_ORDER.includes(k)) throw fail(`hub message ${t}: unknown field "${k}"`);
  }
  const b = encode(m);
  if (b.length > MAX_MESSAGE) throw fail(`hub message ${t} of ${b.length} bytes, more than the limit ${MAX_MESSAGE}`);
  return b;
}

/**
 * decodeMessage reads a hub message and checks what this side relies on:
 * the version, the type and the types of the fields it reads.
 * @param {Uint8Array} b
 * @returns {Record<string, any>}
 */
export function decodeMessage(b) {
  if (b.length > MAX_MESSAGE) throw new Error(`message of ${b.length} bytes, more than the limit ${MAX_MESSAGE}`);
  const m = decode(b);
  if (!m || typeof m !== "object" || Array.isArray(m) || Object.keys(m)[0] !== "v" || Object.keys(m)[1] !== "t") {
    throw new Error("message is not a map starting with \"v\" and \"t\"");
  }
  if (m.v !== VERSION) throw new Error(`unknown version ${m.v} (this side speaks version ${VERSION})`);
  const str = (/** @type {string} */ k, max = MAX_NAME) => {
    if (m[k] !== undefined && (typeof m[k] !== "string" || m[k].length > max)) throw new Error(`${m.t}: field "${k}" is not a string of at most ${max} bytes`);
  };
  const int = (/** @type {string} */ k) => {
    if (m[k] !== undefined && !(Number.isSafeInteger(m[k]) && m[k] >= 0)) throw new Error(`${m.t}: field "${k}" is not a non-negative integer`);
  };
  for (const k of ["from", "to", "room", "name", "id", "code"]) str(k);
  for (const k of ["msg", "reason"]) str(k, 512);
  for (const k of ["seq", "re", "cut"]) int(k);
  if (!(m.seq >= 1)) throw new Error(`${m.t}: seq must be at least 1`);
  if (m.data !== undefined && !(m.data instanceof Uint8Array)) throw new Error(`${m.t}: data is not bytes`);
  if (m.model !== undefined && !(m.model instanceof Uint8Array && m.model.length === 32)) throw new Error(`${m.t}: model is not a sha256`);
  if (m.load !== undefined && !(typeof m.load === "number" && m.load >= 0 && Number.isFinite(m.load))) throw new Error(`${m.t}: bad load`);
  const peerInfo = (/** @type {any} */ p) => {
    if (!p || typeof p.id !== "string" || !p.id) throw new Error(`${m.t}: a peer without an id`);
    return { id: p.id, name: typeof p.name === "string" ? p.name : "", caps: { workers: p.caps?.workers ?? 0, native: !!p.caps?.native,
      gflops: p.caps?.gflops ?? 0 }, load: typeof p.load === "number" ? p.load : 0 };
  };
  if (m.peers !== undefined) {
    if (!Array.isArray(m.peers)) throw new Error(`${m.t}: peers is not an array`);
    m.peers = m.peers.map(peerInfo);
  }
  if (m.peer !== undefined) m.peer = peerInfo(m.peer);
  if (m.models !== undefined) {
    if (!Array.isArray(m.models) || m.models.length > MAX_MODELS) throw new Error(`${m.t}: models is not an array of at most ${MAX_MODELS}`);
    for (const mc of m.models) {
      if (!(mc?.sha256 instanceof Uint8Array && mc.sha256.length === 32) || !Array.isArray(mc.cuts) || mc.cuts.length < 1 || mc.cuts.length > MAX_CUTS ||
        mc.cuts.some((/** @type {any} */ c, /** @type {number} */ i) => typeof c !== "number" || !(c >= 0) || (i > 0 && c < mc.cuts[i - 1]))) {
        throw new Error(`${m.t}: a model without a sha256 or with bad cut costs`);
      }
    }
  }
  return m;
}

// ---------------------------------------------------------------------------
// Sealing (engine/peer/seal.go): X25519, HKDF-SHA256 with salt = sender's
// public key || receiver's and info "edgenn peer frame v1", AES-256-GCM; a
// frame is an 8-byte big-endian counter || ciphertext || tag, the nonce 4
// zero bytes || the counter.

/** @returns {SubtleCrypto} */
function subtle() {
  const s = globalThis.crypto?.subtle;
  if (!s) throw fail("peers need WebCrypto (crypto.subtle), which browsers give secure (https or localhost) pages only");
  return s;
}

/** A fresh X25519 key pair: {priv: CryptoKey, pub: Uint8Array(32)}. */
export async function newKey() {
  const k = /** @type {CryptoKeyPair} */ (await subtle().generateKey({ name: "X25519" }, true, ["deriveBits"]));
  return { priv: k.privateKey, pub: new Uint8Array(await subtle().exportKey("raw", k.publicKey)) };
}

/** @param {Uint8Array} b */
function b64url(b) {
  return btoa(String.fromCharCode(...b)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/**
 * importKey makes a key pair from raw X25519 private and public keys (for
 * test vectors).
 * @param {Uint8Array} priv @param {Uint8Array} pub
 */
export async function importKey(priv, pub) {
  const key = await subtle().importKey("jwk", { kty: "OKP", crv: "X25519", d: b64url(priv), x: b64url(pub) },
    { name: "X25519" }, false, ["deriveBits"]);
  return { priv: key, pub };
}

/**
 * fingerprint is seal.go's Fingerprint: six digits from the sha256 of the
 * two public keys in byte order, the same on both devices.
 * @param {Uint8Array} a @param {Uint8Array} b
 */
export async function fingerprint(a, b) {
  let c = 0;
  for (let i = 0; i < Math.min(a.length, b.length) && c === 0; i++) c = a[i] - b[i];
  if (c === 0) c = a.length - b.length;
  const both = new Uint8Array(a.length + b.length);
  both.set(c > 0 ? b : a);
  both.set(c > 0 ? a : b, a.length);
  const sum = new DataView(await subtle().digest("SHA-256", both));
  return String(sum.getUint32(0) % 1000000).padStart(6, "0");
}

/** @param {number} n */
function nonce(n) {
  const b = new Uint8Array(12);
  const v = new DataView(b.buffer);
  v.setUint32(4, Math.floor(n / 2 ** 32));
  v.setUint32(8, n >>> 0);
  return b;
}

/**
 * Channel seals the frames this peer sends another and opens those it
 * receives. Seal numbers frames as it is called; callers send them in that
 * order. Open must be called one frame at a time, in order.
 */
export class Channel {
  /**
   * @param {CryptoKey} send @param {CryptoKey} recv
   * @param {Uint8Array} mine @param {Uint8Array} theirs
   */
  constructor(send, recv, mine, theirs) {
    this.sendKey = send;
    this.recvKey = recv;
    this.mine = mine;
    this.theirs = theirs;
    this.sent = 0;
    this.received = 0;
  }

  /**
   * create agrees keys between own (this side's pair) and their public key.
   * @param {{priv: CryptoKey, pub: Uint8Array}} own @param {Uint8Array} their
   */
  static async create(own, their) {
    if (!(their instanceof Uint8Array) || their.length !== 32) throw fail("peer: their public key is not 32 bytes");
    if (hex(their) === hex(own.pub)) throw fail("peer: their public key is our own");
    const s = subtle();
    let shared;
    try {
      const pub = await s.importKey("raw", /** @type {Uint8Array<ArrayBuffer>} */ (their.slice()), { name: "X25519" }, false, []);
      shared = await s.deriveBits({ name: "X25519", public: pub }, own.priv, 256);
    } catch (e) {
      throw fail("peer: key agreement: " + reason(e));
    }
    const ikm = await s.importKey("raw", shared, "HKDF", false, ["deriveBits"]);
    const key = async (/** @type {Uint8Array} */ from, /** @type {Uint8Array} */ to) => {
      const salt = new Uint8Array(64);
      salt.set(from);
      salt.set(to, 32);
      const raw = await s.deriveBits({ name: "HKDF", hash: "SHA-256", salt, info: INFO }, ikm, 256);
      return s.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
    };
    return new Channel(await key(own.pub, their), await key(their, own.pub), own.pub, their.slice());
  }

  /** @param {Uint8Array} plain @param {Uint8Array} aad @returns {Promise<Uint8Array>} */
  async seal(plain, aad) {
    if (plain.length > MAX_PLAIN) throw fail(`peer: seal: ${plain.length} bytes, more than a frame holds (${MAX_PLAIN})`);
    const n = ++this.sent;
    const iv = nonce(n);
    const ct = new Uint8Array(await subtle().encrypt({ name: "AES-GCM", iv, additionalData: /** @type {Uint8Array<ArrayBuffer>} */ (aad),
      tagLength: 128 }, this.sendKey, /** @type {Uint8Array<ArrayBuffer>} */ (plain)));
    const out = new Uint8Array(8 + ct.length);
    out.set(iv.subarray(4));
    out.set(ct, 8);
    return out;
  }

  /** @param {Uint8Array} frame @param {Uint8Array} aad @returns {Promise<Uint8Array>} */
  async open(frame, aad) {
    if (frame.length < SEAL_OVERHEAD) throw fail(`peer: open: frame of ${frame.length} bytes is shorter than a sealed empty frame`);
    const v = new DataView(frame.buffer, frame.byteOffset, 8);
    const n = v.getUint32(0) * 2 ** 32 + v.getUint32(4);
    if (n <= this.received) throw fail(`peer: open: frame ${n} replayed or out of order (last opened ${this.received})`);
    let plain;
    try {
      plain = await subtle().decrypt({ name: "AES-GCM", iv: nonce(n), additionalData: /** @type {Uint8Array<ArrayBuffer>} */ (aad), tagLength: 128 },
        this.recvKey, /** @type {Uint8Array<ArrayBuffer>} */ (frame.subarray(8)));
    } catch {
      throw fail(`peer: open: frame ${n} does not authenticate (tampered, or sealed under another key)`);
    }
    this.received = n;
    return new Uint8Array(plain);
  }
}

// ---------------------------------------------------------------------------
// Offload frames (OFFLOAD.md), checked key by key: unknown keys are refused.

const FRAME_KEYS = {
  run: ["t", "id", "model", "at", "shape", "total", "off", "data"],
  result: ["t", "id", "out", "outs", "shape", "total", "off", "data"],
  fail: ["t", "id", "code", "text"],
  cancel: ["t", "id"],
};

/**
 * readFrame decodes and checks one offload frame's plaintext.
 * @param {Uint8Array} plain
 */
export function readFrame(plain) {
  const f = decode(plain);
  if (!f || typeof f !== "object" || Array.isArray(f)) throw new Error("a frame is not a map");
  const keys = /** @type {Record<string, string[]>} */ (FRAME_KEYS)[f.t];
  if (!keys) throw new Error(`unknown frame type ${JSON.stringify(f.t)}`);
  for (const k of Object.keys(f)) if (!keys.includes(k)) throw new Error(`${f.t}: unknown key "${k}"`);
  for (const k of keys) if (f[k] === undefined) throw new Error(`${f.t}: missing key "${k}"`);
  const uint = (/** @type {string} */ k) => {
    if (f[k] !== undefined && !(Number.isSafeInteger(f[k]) && f[k] >= 0)) throw new Error(`${f.t}: ${k} is not a non-negative integer`);
  };
  ["id", "total", "off", "out", "outs"].forEach(uint);
  if (f.shape !== undefined) {
    if (!Array.isArray(f.shape) || f.shape.length < 1 || f.shape.length > 8 || f.shape.some((/** @type {any} */ d) => !Number.isSafeInteger(d) || d < 1)) {
      throw new Error(`${f.t}: shape is not a list of sizes`);
    }
    const want = 4 * f.shape.reduce((/** @type {number} */ a, /** @type {number} */ d) => a * d, 1);
    if (f.total !== want || f.total > MAX_TENSOR) throw new Error(`${f.t}: total ${f.total} bytes, want 4 x the shape's ${want / 4} values, at most ${MAX_TENSOR}`);
    if (!(f.data instanceof Uint8Array) || f.data.length === 0 || f.off + f.data.length > f.total) throw new Error(`${f.t}: a part past the tensor's end`);
  }
  if (f.t === "result" && !(f.out < f.outs)) throw new Error(`result: out ${f.out} of ${f.outs}`);
  if (f.t === "run" && !(f.model instanceof Uint8Array && f.model.length === 32 && typeof f.at === "string")) throw new Error("run: bad model or at");
  if (f.t === "fail" && (typeof f.code !== "string" || typeof f.text !== "string")) throw new Error("fail: bad code or text");
  return f;
}

/**
 * A tensor to send in parts, each repeating head's keys; _sendFrames cuts
 * it as it sends, each part to fit the transport it takes.
 * @typedef {{head: Record<string, any>, shape: number[], x: Float32Array}} OutTensor
 */

/**
 * tensorPart encodes the part of t from byte off, of at most size bytes (a
 * multiple of 4).
 * @param {OutTensor} t @param {number} off @param {number} size
 */
function tensorPart(t, off, size) {
  const bytes = new Uint8Array(t.x.buffer, t.x.byteOffset, t.x.byteLength);
  return encode({ ...t.head, shape: t.shape, total: bytes.length, off, data: bytes.subarray(off, Math.min(off + size, bytes.length)) });
}

/**
 * drained resolves once dc's send buffer runs low, or it closes.
 * @param {RTCDataChannel} dc
 */
function drained(dc) {
  return new Promise((resolve) => {
    const done = () => {
      dc.removeEventListener("bufferedamountlow", done);
      dc.removeEventListener("close", done);
      resolve(undefined);
    };
    dc.addEventListener("bufferedamountlow", done);
    dc.addEventListener("close", done);
  });
}

/** The counter of a sealed frame (its first 8 bytes, big-endian). @param {Uint8Array} sealed */
function counterOf(sealed) {
  const v = new DataView(sealed.buffer, sealed.byteOffset, 8);
  return v.getUint32(0) * 2 ** 32 + v.getUint32(4);
}

/** Reassembles one tensor from its parts. */
class Incoming {
  /** @param {any} f the first part */
  constructor(f) {
    this.f = f;
    this.buf = new Uint8Array(f.total);
    this.got = 0;
  }

  /** add takes the next part; it reports whether the part continues the tensor. @param {any} f */
  add(f) {
    if (f.id !== this.f.id || f.off !== this.got || f.total !== this.f.total || f.out !== this.f.out ||
      f.shape.join() !== this.f.shape.join()) return false;
    this.buf.set(f.data, f.off);
    this.got += f.data.length;
    return true;
  }

  get done() {
    return this.got === this.f.total;
  }

  floats() {
    return new Float32Array(this.buf.buffer, 0, this.f.total / 4);
  }
}

// ---------------------------------------------------------------------------
// Hub transports: how hub messages reach the hub and come back. The native
// host's hub holds a WebSocket per peer (host/hub.go); the Cloudflare
// Worker's (host/cfhub.go) speaks the same messages over plain HTTP, since
// a Go Worker cannot hold a socket: a join POST, a POST per message and a
// long poll for what it queued. Peers sees neither: it hands a transport
// encoded messages and gets decoded ones back, a refusal of the HTTP hub as
// the error message the WebSocket hub would have sent.

/**
 * What a transport tells Peers: a message (decoded), a sign of life, one it
 * cannot read, a connection that failed before it opened, one that closed.
 * @typedef {{message: (m: Record<string, any>) => void, heard: () => void, warn: (e: Error) => void,
 *   failed: (why: string) => void, closed: (why: string) => void}} HubEvents
 */

/** The WebSocket hub of `edgenn serve --hub-room`. */
class WebSocketTransport {
  /** @param {string} url a ws: or wss: URL @param {any} WS a WebSocket constructor */
  constructor(url, WS) {
    this.url = url;
    this.WS = WS;
    /** @type {"websocket"} */
    this.name = "websocket";
    /** @type {WebSocket | null} */
    this.ws = null;
    this.pingEvery = PING_EVERY;
    this.silence = HUB_SILENCE;
  }

  get open() {
    return this.ws?.readyState === 1;
  }

  /** start connects and sends join once open. @param {Uint8Array} join @param {HubEvents} ev */
  start(join, ev) {
    const ws = new this.WS(this.url);
    this.ws = ws;
    ws.binaryType = "arraybuffer";
    ws.onopen = () => ws.send(join);
    ws.onerror = () => ev.failed("the connection failed");
    ws.onclose = (/** @type {CloseEvent} */ e) => ev.closed(`the hub closed the connection (${e.code}${e.reason ? " " + e.reason : ""})`);
    ws.onmessage = (/** @type {MessageEvent} */ e) => {
      ev.heard();
      if (!(e.data instanceof ArrayBuffer)) {
        ev.warn(fail("hub: a text message; the protocol is msgpack in binary messages"));
        return;
      }
      let m;
      try {
        m = decodeMessage(new Uint8Array(e.data));
      } catch (err) {
        ev.warn(fail(`hub: a message this side cannot read: ${reason(err)}`));
        return;
      }
      ev.message(m);
    };
  }

  /** @param {Uint8Array} b @param {number} _seq @param {string} _t */
  send(b, _seq, _t) {
    /** @type {WebSocket} */ (this.ws).send(/** @type {Uint8Array<ArrayBuffer>} */ (b));
  }

  close() {
    try {
      this.ws?.close(1000);
    } catch {
      // closing a socket that failed to open
    }
  }
}

// The HTTP hub's headers (host/cfhub.go).
const HUB_PEER = "Edgenn-Hub-Peer";
const HUB_SECRET = "Edgenn-Hub-Secret";
const HUB_ERROR = "Edgenn-Hub-Error";
const HUB_TRANSPORT = "Edgenn-Hub-Transport";
const HTTP_POLL_WAIT = 10; // seconds a poll may wait for a message (the hub caps it, at 15 s by default)
// A poll waiting on the hub checks for messages on a backoff that grows to
// 250 ms (host/cfhub.go), so a message that comes late in a long poll waits
// up to that long. While the peer is busy (it sent or got something other
// than a ping lately) its polls are short, each starting over at the
// shortest backoff; an idle peer polls long, which costs the hub less.
const HTTP_BUSY_POLL_WAIT = 1;
const HTTP_BUSY = 5000;
// A poll answers at least every HTTP_POLL_WAIT: nothing heard for this long,
// the hub is taken for dead. The hub drops a peer that stops polling, so the
// poll is the heartbeat; pings only measure the round trip.
const HTTP_SILENCE = HTTP_POLL_WAIT * 1000 + 15000;
const HTTP_PING_EVERY = 5000;
const HTTP_SEND_TIMEOUT = 30000; // one send request, at most
const HTTP_RETRY_MAX = 2000; // the longest wait between retries

/** @param {number} retry how many came before @returns {number} ms to wait */
const backoff = (retry) => Math.min(HTTP_RETRY_MAX, 100 * 2 ** retry) * (0.5 + Math.random() / 2);

/**
 * refusal reads an HTTP hub's refusal: the protocol's code (Edgenn-Hub-Error,
 * "" for a storage failure or a request it does not serve) and the reason,
 * without the code the body starts with.
 * @param {Response} res @returns {Promise<{code: string, msg: string}>}
 */
async function refusal(res) {
  const code = res.headers.get(HUB_ERROR) ?? "";
  let text = "";
  try {
    text = (await res.text()).trim();
  } catch {
    // the body was cut off: the status says enough
  }
  if (code && text.startsWith(code + ": ")) text = text.slice(code.length + 2);
  return { code, msg: (text || `${res.status} ${res.statusText}`).slice(0, 512) };
}

/**
 * The HTTP hub of the Cloudflare Worker (host/cfhub.go): POST /hub/join
 * answers with the welcome and the peer's id and secret; each message is
 * one POST /hub/send, in seq order (the hub refuses a seq below the last
 * one, so they go one at a time); GET /hub/poll?after=N long-polls for what
 * the hub queued after seq N, acknowledging what came before. A request
 * that fails on the way is retried with backoff (a send the hub had taken
 * comes back out-of-order, and counts as sent); a refusal comes to Peers as
 * the error message the WebSocket hub sends; the hub dropping the peer
 * (410) closes the transport.
 */
class HTTPTransport {
  /** @param {string} url the hub's http: or https: URL (".../hub") @param {typeof fetch} f */
  constructor(url, f) {
    this.url = url.replace(/\/+$/, "");
    this.fetch = f;
    /** @type {"http"} */
    this.name = "http";
    this.pingEvery = HTTP_PING_EVERY;
    this.silence = HTTP_SILENCE;
    this.id = "";
    this.secret = "";
    /** the last seq received from the hub */
    this.after = 0;
    this.closing = false;
    this.dead = false;
    /** @type {Promise<void>} sends, one at a time in seq order */
    this.sends = Promise.resolve();
    this.poller = new AbortController();
    /** @type {HubEvents} */
    this.ev = /** @type {any} */ (null);
    /** until when polls are short (see HTTP_BUSY_POLL_WAIT) */
    this.busyUntil = 0;
    /** the seq of the last announce queued, and when the hub last answered one */
    this.announceSeq = 0;
    this.announced = -1e9;
  }

  get open() {
    return this.id !== "" && !this.closing;
  }

  /** @param {string} t a message's type: pings and pongs do not make the peer busy */
  _active(t) {
    if (t !== "ping" && t !== "pong") this.busyUntil = now() + HTTP_BUSY;
  }

  /**
   * _do makes one request to the hub (path under its URL), aborted after
   * ms or when signal aborts.
   * @param {string} path @param {RequestInit} init @param {number} ms @param {AbortSignal} [signal]
   */
  async _do(path, init, ms, signal) {
    const ac = new AbortController();
    const stop = () => ac.abort();
    signal?.addEventListener("abort", stop);
    const timer = setTimeout(stop, ms);
    /** @type {Record<string, string>} */
    const headers = { ...(/** @type {any} */ (init.headers) ?? {}) };
    if (this.id) Object.assign(headers, { [HUB_PEER]: this.id, [HUB_SECRET]: this.secret });
    if (init.body) headers["Content-Type"] = "application/msgpack";
    try {
      const res = await this.fetch(this.url + path, { cache: "no-store", ...init, headers, signal: ac.signal });
      // The body, or the refusal, is read under the same deadline.
      if (!res.ok) return { res, body: null, refused: await refusal(res) };
      return { res, body: new Uint8Array(await res.arrayBuffer()), refused: { code: "", msg: "" } };
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", stop);
    }
  }

  /** start joins, then polls. @param {Uint8Array} join @param {HubEvents} ev */
  async start(join, ev) {
    this.ev = ev;
    let a;
    try {
      a = await this._do("/join", { method: "POST", body: /** @type {Uint8Array<ArrayBuffer>} */ (join) }, HTTP_SEND_TIMEOUT);
    } catch (e) {
      this._die(`the connection failed: ${reason(e)}`);
      return;
    }
    if (!a.res.ok) {
      const r = a.refused;
      if (r.code) ev.message({ v: VERSION, t: "error", seq: 1, re: 1, code: r.code, msg: r.msg });
      this._die(r.code ? `${r.code}: ${r.msg}` : `the hub answered ${a.res.status}: ${r.msg}`);
      return;
    }
    this.id = a.res.headers.get(HUB_PEER) ?? "";
    this.secret = a.res.headers.get(HUB_SECRET) ?? "";
    if (!this.id || !this.secret) {
      this._die(`the hub's answer to join has no ${HUB_PEER} and ${HUB_SECRET} headers`);
      return;
    }
    if (!this._deliver(/** @type {Uint8Array} */ (a.body))) return;
    this._poll();
  }

  /**
   * _deliver passes a poll's messages on in order, skipping those seen
   * (an answer lost on its way is polled again); it reports whether the
   * answer could be read.
   * @param {Uint8Array} body
   */
  _deliver(body) {
    let list;
    try {
      list = decode(body);
      if (!Array.isArray(list) || list.some((b) => !(b instanceof Uint8Array))) throw new Error("not an array of bin");
    } catch (e) {
      this._die(`a poll answer this side cannot read: ${reason(e)}`);
      return false;
    }
    this.ev.heard();
    for (const b of list) {
      if (this.closing) return true;
      let m;
      try {
        m = decodeMessage(b);
      } catch (e) {
        // Acknowledged all the same, so that it does not come again.
        try {
          const seq = decode(b)?.seq;
          if (Number.isSafeInteger(seq) && seq > this.after) this.after = seq;
        } catch {
          // unreadable through and through
        }
        this.ev.warn(fail(`hub: a message this side cannot read: ${reason(e)}`));
        continue;
      }
      if (m.seq <= this.after) continue;
      this.after = m.seq;
      this._active(m.t);
      this.ev.message(m);
    }
    return true;
  }

  /** _poll long-polls until the transport closes. */
  async _poll() {
    let retry = 0;
    let since = now();
    while (!this.closing) {
      const wait = now() < this.busyUntil ? HTTP_BUSY_POLL_WAIT : HTTP_POLL_WAIT;
      /** @type {string} */
      let why;
      try {
        const a = await this._do(`/poll?after=${this.after}&wait=${wait}`, { method: "GET" }, wait * 1000 + 15000, this.poller.signal);
        if (a.res.ok) {
          if (!this._deliver(/** @type {Uint8Array} */ (a.body))) return;
          retry = 0;
          since = now();
          continue;
        }
        const r = a.refused;
        // Storage failing, or too many requests: try again. Anything else
        // (dropped, or the hub does not know this peer) ends the connection.
        if (a.res.status !== 503 && a.res.status !== 429 && !(a.res.status >= 500 && !r.code)) {
          this._die(r.code ? `${r.code}: ${r.msg}` : `the hub answered ${a.res.status}: ${r.msg}`);
          return;
        }
        why = r.msg;
      } catch (e) {
        if (this.closing) return;
        why = reason(e);
      }
      if (now() - since > this.silence) {
        this._die(`the hub did not answer a poll for ${Math.round((now() - since) / 1000)} s (${why})`);
        return;
      }
      await sleep(backoff(retry++));
    }
  }

  /**
   * send queues b (message seq, of type t) behind the sends before it.
   * @param {Uint8Array} b @param {number} seq @param {string} t
   */
  send(b, seq, t) {
    this._active(t);
    if (t === "announce") this.announceSeq = seq;
    this.sends = this.sends.then(() => this._post(b, seq, t));
  }

  /** @param {Uint8Array} b @param {number} seq @param {string} t */
  async _post(b, seq, t) {
    if (t === "announce") {
      // Sends queue up behind one another here, so announces queued
      // ANNOUNCE_GAP apart can reach the hub closer than it takes them
      // (too-often): one that a later one supersedes is skipped (the hub
      // wants seqs rising, not consecutive), and the gap is kept here.
      if (seq !== this.announceSeq) return;
      const wait = this.announced + ANNOUNCE_GAP - now();
      if (wait > 0) await sleep(wait);
    }
    try {
      await this._postOnce(b, seq);
    } finally {
      if (t === "announce") this.announced = now();
    }
  }

  /** @param {Uint8Array} b @param {number} seq */
  async _postOnce(b, seq) {
    const t0 = now();
    for (let retry = 0; !this.dead; retry++) {
      /** @type {string} */
      let why;
      try {
        const a = await this._do("/send", { method: "POST", body: /** @type {Uint8Array<ArrayBuffer>} */ (b) }, HTTP_SEND_TIMEOUT);
        if (a.res.ok) return;
        const r = a.refused;
        // A retry of a send the hub had taken (its answer was lost).
        if (retry > 0 && r.code === "out-of-order") return;
        if (a.res.status === 410 || a.res.status === 401) {
          this._die(`${r.code || a.res.status}: ${r.msg}`);
          return;
        }
        if (r.code) {
          // The hub's refusal of this message, as the WebSocket hub says it.
          this.ev.message({ v: VERSION, t: "error", seq: 1, re: seq, code: r.code, msg: r.msg });
          return;
        }
        why = `${a.res.status}: ${r.msg}`; // storage failing: nothing was changed
      } catch (e) {
        why = reason(e);
      }
      if (this.closing || now() - t0 > this.silence) {
        if (!this.closing) this._die(`sending to the hub failed for ${Math.round((now() - t0) / 1000)} s (${why})`);
        return;
      }
      await sleep(backoff(retry));
    }
  }

  /** @param {string} why */
  _die(why) {
    if (this.dead) return;
    this.dead = true;
    this.closing = true;
    this.poller.abort();
    this.ev.closed(why);
  }

  /** close stops polling; the sends queued (a leave) still go. */
  close() {
    this.closing = true;
    this.poller.abort();
  }
}

/**
 * hubTransport picks the transport the hub at u offers: a GET of the hub's
 * URL answers with Edgenn-Hub-Transport: http on the Worker's hub, and with
 * an error and no such header on the native host's (which wants a
 * WebSocket upgrade), as it does when the GET fails.
 * @param {URL} u the hub's http(s) URL @returns {Promise<"websocket" | "http">}
 */
export async function hubTransport(u) {
  if (typeof globalThis.fetch !== "function") return "websocket";
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), 10000);
  try {
    const res = await fetch(u.href, { cache: "no-store", signal: ac.signal });
    res.body?.cancel().catch(() => {});
    const offered = (res.headers.get(HUB_TRANSPORT) ?? "").split(",").map((s) => s.trim().toLowerCase());
    return res.ok && offered.includes("http") ? "http" : "websocket";
  } catch {
    return "websocket";
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------
// Peers.

/** @param {number} old @param {number} obs */
const ewma = (old, obs) => (1 - EWMA) * old + EWMA * obs;

/** @param {number[]} s */
const prod = (s) => s.reduce((a, d) => a * d, 1);

/**
 * One other peer of the room: what it announced, the sealed channel to it,
 * the link estimates and the requests in flight both ways.
 */
class Peer {
  /** @param {PeerInfo} info */
  constructor(info) {
    this.info = info;
    /** @type {Map<string, number[]>} model sha256 (hex) -> announced cumulative costs */
    this.models = new Map();
    this.load = info.load;
    /** @type {Channel | null} */
    this.channel = null;
    /** @type {{priv: CryptoKey, pub: Uint8Array} | null} the key we sent, waiting for theirs */
    this.ownKey = null;
    /** @type {{promise: Promise<void>, resolve: () => void, reject: (e: Error) => void, sent: number} | null} */
    this.keyWait = null;
    /** Messages from the peer are handled one at a time, in order. */
    this.inbox = Promise.resolve();
    /** Frames to the peer are sealed and sent in order. */
    this.outbox = Promise.resolve();
    // Link estimates (OFFLOAD planner): round trip in ms, bytes per ms, the
    // peer's slowdown over its announced costs.
    this.rtt = -1;
    this.bw = PRIOR_BYTES_PER_MS;
    this.slowdown = 1;
    this.nextId = 1;
    /** @type {Map<number, any>} our requests to the peer, by id */
    this.requests = new Map();
    /** @type {Incoming | null} a result being received */
    this.inResult = null;
    /** @type {Incoming | null} a run request being received */
    this.inRun = null;
    /** @type {Set<number>} its requests it cancelled */
    this.cancelled = new Set();
    this.gone = false;
    // The direct channel: the connection being made or made, its data
    // channel once open, and the largest message it takes.
    /** @type {RTCPeerConnection | null} */
    this.pc = null;
    /** @type {RTCDataChannel | null} */
    this.dc = null;
    this.dcMax = 0;
    /** @type {any} */
    this.directTimer = null;
    /** @type {"direct" | "relay"} */
    this.transport = "relay";
    // Frames received: the next counter expected, and those that came early.
    this.rxNext = 1;
    /** @type {Map<number, [Uint8Array, "direct" | "relay"]>} */
    this.held = new Map();
    this.heldBytes = 0;
    /** @type {any} */
    this.heldTimer = null;
  }
}

/**
 * The room a page joined (EdgeNN.join): the other peers, offload of this
 * tab's runs to them and the serving of theirs.
 */
export class Peers {
  /**
   * @param {any} enn the EdgeNN
   * @param {{room: string, name: string, throttle: number}} o
   */
  constructor(enn, o) {
    /** @internal */ this._enn = enn;
    /** This peer's id in the room (set once joined). */
    this.id = "";
    this.room = o.room;
    this.name = o.name;
    /** The factor by which this tab's measured costs are scaled, and its runs slowed (1: none). */
    this.throttle = o.throttle;
    this.closed = false;
    /** @internal @type {Map<string, Peer>} */ this._peers = new Map();
    /** @internal @type {Map<string, Set<Function>>} */ this._on = new Map();
    /** @internal */ this._seq = 0;
    /** @internal @type {Map<number, {resolve: (m: any) => void, reject: (e: Error) => void}>} hub answers awaited by seq */
    this._awaiting = new Map();
    /** @internal */ this._busy = 0; // relayed frames the hub refused as busy, sent again
    /** @internal */ this._hubRtt = -1;
    /** @internal */ this._lastHeard = now();
    /** @internal @type {Map<number, number>} our pings' send times by seq */
    this._pings = new Map();
    /** @internal @type {Map<any, Promise<any>>} model -> its cuts, profiled here */
    this._cuts = new Map();
    /** @internal */ this._queue = 0; // runs served or waiting here
    /** @internal */ this._queuedMs = 0;
    /** @internal */ this._announceTimer = /** @type {any} */ (null);
    /** @internal */ this._lastAnnounce = -1e9;
    /** @internal */ this._timer = /** @type {any} */ (null);
    /** @internal */ this._localScale = 1; // this device's speed now over its profile
    /** @internal @type {WeakMap<object, Map<string, number>>} runs of each half, by model or peer */
    this._seen = new WeakMap();
    /** @internal @type {WebSocketTransport | HTTPTransport} the connection to the hub */
    this._transport = /** @type {any} */ (null);
    /** @internal */ this._lastPing = -1e9;
    /** @internal */ this._direct = typeof globalThis.RTCPeerConnection === "function";
  }

  /**
   * Whether frames may go over direct WebRTC data channels (default: where
   * the runtime has RTCPeerConnection). Set to false, the open channels
   * close and everything takes the hub's relay.
   */
  get direct() {
    return this._direct;
  }

  set direct(on) {
    this._direct = !!on && typeof globalThis.RTCPeerConnection === "function";
    if (!this._direct) for (const p of this._peers.values()) this._closeDirect(p, "direct channels were turned off");
  }

  /** How this peer reaches the hub: "websocket" or "http". */
  get hubTransport() {
    return this._transport?.name ?? "websocket";
  }

  /** The other peers of the room. @returns {PeerInfo[]} */
  get peers() {
    return [...this._peers.values()].map((p) => ({ ...p.info, load: p.load, models: [...p.models.keys()], transport: p.transport,
      paired: !!p.channel }));
  }

  /**
   * on adds a listener: "peer-joined" and "peer-left" get the peer's info
   * (peer-left: {id, reason}), "error" an Error that belongs to no call.
   * @param {string} type @param {Function} fn
   */
  on(type, fn) {
    if (!["peer-joined", "peer-left", "error", "announce", "transport"].includes(type)) throw fail(`peers: unknown event "${type}"`);
    if (!this._on.has(type)) this._on.set(type, new Set());
    /** @type {Set<Function>} */ (this._on.get(type)).add(fn);
    return this;
  }

  /** @param {string} type @param {Function} fn */
  off(type, fn) {
    this._on.get(type)?.delete(fn);
    return this;
  }

  /** @internal @param {string} type @param {any} v */
  _emit(type, v) {
    const fns = this._on.get(type);
    if (type === "error" && !fns?.size) {
      console.error(v);
      return;
    }
    for (const fn of fns ?? []) {
      try {
        fn(v);
      } catch (e) {
        console.error(e);
      }
    }
  }

  /**
   * fingerprint returns six digits of this side's and the peer's public
   * keys, the same on both devices; comparing them shows that no one (the
   * hub) swapped the keys. It pairs with the peer first if need be.
   * @param {string} peerId @returns {Promise<string>}
   */
  async fingerprint(peerId) {
    const p = this._peer(peerId);
    await this._pair(p);
    const ch = /** @type {Channel} */ (p.channel);
    return fingerprint(ch.mine, ch.theirs);
  }

  /** close leaves the room; requests in flight to peers run locally. */
  close() {
    if (this.closed) return;
    try {
      this._send("leave", { reason: "closed" });
    } catch {
      // the socket may be gone already
    }
    this._end("the page left the room");
  }

  /** @internal @param {string} why */
  _end(why) {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this._timer);
    clearTimeout(this._announceTimer);
    if (this._enn._peers === this) this._enn._peers = null;
    for (const a of this._awaiting.values()) a.reject(fail(`hub: ${why}`));
    this._awaiting.clear();
    for (const p of this._peers.values()) this._lost(p, why);
    this._transport?.close();
  }

  /** @internal @param {string} id */
  _peer(id) {
    const p = this._peers.get(id);
    if (!p) throw fail(`no peer "${id}" in room ${this.room} (peers: ${[...this._peers.keys()].join(", ") || "none"})`);
    return p;
  }

  // --- the hub connection

  /**
   * _connect joins the room through transport t (url names the hub in
   * errors) and resolves once welcomed.
   * @internal
   * @param {string} url @param {string} token @param {WebSocketTransport | HTTPTransport} t
   */
  _connect(url, token, t) {
    return new Promise((resolve, reject) => {
      let welcomed = false;
      const refuse = (/** @type {Error} */ e) => {
        if (!welcomed) {
          welcomed = true;
          this.closed = true;
          t.close();
          reject(e);
        }
      };
      this._transport = t;
      const seq = ++this._seq;
      const join = encodeMessage("join", { seq, room: this.room, token, name: this.name || undefined,
        caps: { workers: this._enn.workers, native: false, gflops: 0 } });
      /** @type {HubEvents} */
      const ev = {
        heard: () => {
          this._lastHeard = now();
        },
        warn: (e) => this._emit("error", e),
        failed: (why) => refuse(fail(`join ${url}: ${why}`)),
        closed: (why) => {
          refuse(fail(`join ${url}: ${why}`));
          if (!this.closed) {
            this._emit("error", fail(`hub: ${why}`));
            this._end(why);
          }
        },
        message: (m) => {
          this._lastHeard = now();
          if (!welcomed) {
            if (m.t === "error") {
              refuse(fail(`join room ${this.room}: ${m.code}: ${m.msg}`));
              return;
            }
            if (m.t !== "welcome") return;
            welcomed = true;
            this.id = m.id;
            for (const p of m.peers) this._peers.set(p.id, new Peer(p));
            this._timer = setInterval(() => this._tick(), PING_EVERY);
            resolve(this);
            return;
          }
          try {
            this._handle(m);
          } catch (err) {
            this._emit("error", err);
          }
        },
      };
      try {
        t.start(join, ev);
      } catch (e) {
        reject(fail(`join ${url}: ${reason(e)}`));
      }
    });
  }

  /**
   * _send numbers and sends a hub message; it returns its seq.
   * @internal @param {string} t @param {Record<string, any>} fields
   */
  _send(t, fields) {
    if (!this._transport?.open) throw fail("hub: the connection is closed");
    const seq = ++this._seq;
    this._transport.send(encodeMessage(t, { seq, ...fields }), seq, t);
    return seq;
  }

  /** @internal */
  _tick() {
    if (this.closed) return;
    const silence = this._transport.silence;
    if (now() - this._lastHeard > silence) {
      this._emit("error", fail(`hub: nothing heard for ${silence} ms; the connection is taken for dead`));
      this._end("the hub fell silent");
      return;
    }
    if (now() - this._lastPing < this._transport.pingEvery - 50) return;
    try {
      const seq = this._send("ping", {});
      this._pings.set(seq, now());
      this._lastPing = now();
    } catch {
      // closing
    }
  }

  /** @internal @param {Record<string, any>} m */
  _handle(m) {
    switch (m.t) {
      case "ping":
        this._send("pong", { re: m.seq });
        return;
      case "pong": {
        const t0 = this._pings.get(m.re);
        this._pings.delete(m.re);
        if (t0 !== undefined) this._hubRtt = this._hubRtt < 0 ? now() - t0 : ewma(this._hubRtt, now() - t0);
        const a = this._awaiting.get(m.re); // a relayed frame's ping: the hub took the frame
        this._awaiting.delete(m.re);
        a?.resolve(m);
        return;
      }
      case "peer-joined": {
        this._peers.set(m.peer.id, new Peer(m.peer));
        this._emit("peer-joined", { ...m.peer, models: [], transport: "relay", paired: false });
        return;
      }
      case "peer-left": {
        const p = this._peers.get(m.id);
        if (!p) return;
        this._peers.delete(m.id);
        this._lost(p, `peer ${m.id} left${m.reason ? ": " + m.reason : ""}`);
        this._emit("peer-left", { id: m.id, reason: m.reason ?? "" });
        return;
      }
      case "announce": {
        const p = this._peers.get(m.from);
        if (!p) return;
        p.models = new Map(m.models.map((/** @type {any} */ mc) => [hex(mc.sha256), mc.cuts]));
        p.load = m.load;
        this._emit("announce", { id: p.info.id, models: [...p.models.keys()], load: p.load });
        return;
      }
      case "signal": {
        const p = this._peers.get(m.from);
        if (!p) return;
        // A key starts a new channel, whose frames count from 1 again.
        try {
          if (m.data.length <= MAX_SIGNAL && decode(m.data)?.t === "key") this._resetReceive(p);
        } catch {
          // refused when handled
        }
        this._enqueue(p, () => this._signal(p, m.data));
        return;
      }
      case "frame": {
        const p = this._peers.get(m.from);
        if (p) this._arrive(p, m.data, "relay");
        return;
      }
      case "match": {
        const a = this._awaiting.get(m.re);
        this._awaiting.delete(m.re);
        a?.resolve(m);
        return;
      }
      case "error": {
        const e = Object.assign(fail(`hub: ${m.code}: ${m.msg}`), { code: m.code });
        const a = this._awaiting.get(m.re);
        if (a) {
          this._awaiting.delete(m.re);
          a.reject(e);
          return;
        }
        this._emit("error", e);
        return;
      }
    }
  }

  /**
   * _request sends a hub message and resolves with the answer to it (the
   * message whose re is its seq), or rejects with the hub's error.
   * @internal @param {string} t @param {Record<string, any>} fields
   * @returns {Promise<any>}
   */
  _request(t, fields) {
    return new Promise((resolve, reject) => {
      const seq = this._send(t, fields);
      const timer = setTimeout(() => {
        this._awaiting.delete(seq);
        reject(fail(`hub: no answer to ${t} within ${MATCH_TIMEOUT} ms`));
      }, MATCH_TIMEOUT);
      this._awaiting.set(seq, {
        resolve: (m) => { clearTimeout(timer); resolve(m); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
    });
  }

  // --- pairing and frames

  /**
   * _pair makes sure a sealed channel to p exists, sending our key if need be.
   * @internal @param {Peer} p
   */
  async _pair(p) {
    if (p.channel) return;
    if (!p.keyWait) {
      /** @type {any} */
      const w = { sent: now() };
      w.promise = new Promise((resolve, reject) => {
        w.resolve = resolve;
        w.reject = reject;
      });
      w.promise.catch(() => {});
      p.keyWait = w;
      p.ownKey = null;
      const timer = setTimeout(() => w.reject(fail(`peer ${p.info.id} did not answer our key within ${KEY_TIMEOUT} ms`)), KEY_TIMEOUT);
      w.promise.finally(() => {
        clearTimeout(timer);
        if (p.keyWait === w) p.keyWait = null;
      }).catch(() => {});
      try {
        p.ownKey = await newKey();
        this._send("signal", { to: p.info.id, data: encode({ t: "key", pub: p.ownKey.pub }) });
      } catch (e) {
        w.reject(e);
      }
    }
    await /** @type {any} */ (p.keyWait).promise;
  }

  /** @internal @param {Peer} p @param {Uint8Array} data */
  async _signal(p, data) {
    if (data.length > MAX_SIGNAL) throw fail("a signal larger than the limit");
    const s = decode(data);
    if (s?.t === "sdp" || s?.t === "ice") return this._directSignal(p, s);
    if (s?.t !== "key") throw fail(`a signal of unknown type ${JSON.stringify(s?.t)}`);
    if (Object.keys(s).some((k) => k !== "t" && k !== "pub")) throw fail("key signal: unknown key");
    if (!(s.pub instanceof Uint8Array) || s.pub.length !== 32) throw fail("key signal: pub is not 32 bytes");
    const w = p.keyWait;
    if (w && p.ownKey && !p.channel) {
      // The answer to our key (or their key crossing ours: both sides build the same channel).
      p.channel = await Channel.create(p.ownKey, s.pub);
      const rtt = now() - w.sent;
      p.rtt = p.rtt < 0 ? rtt : ewma(p.rtt, rtt);
      w.resolve();
      // We sent the key: we offer the direct channel.
      this._openDirect(p);
      return;
    }
    // Their new key: a first contact, or the peer restarted. What was in
    // flight on the old channel cannot be opened any more.
    if (p.channel) this._lost(p, `peer ${p.info.id} agreed a new key`, true);
    this._closeDirect(p, "");
    const own = await newKey();
    p.ownKey = own;
    this._send("signal", { to: p.info.id, data: encode({ t: "key", pub: own.pub }) });
    p.channel = await Channel.create(own, s.pub);
  }

  /** @internal @param {string} from @param {string} to */
  _aad(from, to) {
    return new TextEncoder().encode(from + "\0" + to);
  }

  /**
   * _sendFrames seals and sends frames to p in order, each on the direct
   * channel when it is open and the frame fits a message there, else
   * through the relay, paced (_relayPaced); a tensor is cut into parts as
   * it goes, each to fit the transport it takes. It rejects if a frame
   * cannot be sent (the hub refused it, or kept refusing it as busy). id is
   * the request they belong to, to record the transports it used.
   * @internal @param {Peer} p @param {(Uint8Array | OutTensor)[]} items @param {number} id
   */
  _sendFrames(p, items, id) {
    const ch = p.channel;
    if (!ch) return Promise.reject(fail(`no channel to peer ${p.info.id}`));
    const aad = this._aad(this.id, p.info.id);
    const one = async (/** @type {Uint8Array} */ plain) => {
      if (p.gone || p.channel !== ch) throw fail(`peer ${p.info.id} is gone`);
      const sealed = await ch.seal(plain, aad);
      const dc = p.dc;
      if (dc && dc.readyState === "open" && sealed.length <= p.dcMax) {
        if (dc.bufferedAmount > DIRECT_BUFFER) await drained(dc);
        if (dc.readyState === "open" && p.dc === dc) {
          try {
            dc.send(/** @type {Uint8Array<ArrayBuffer>} */ (sealed));
            return;
          } catch {
            // closing under us: the relay takes it
          }
        }
      }
      const r = p.requests.get(id);
      if (r) r.relayed = true;
      await this._relayPaced(p, ch, sealed);
    };
    const sent = p.outbox.then(async () => {
      for (const item of items) {
        if (item instanceof Uint8Array) {
          await one(item);
          continue;
        }
        const total = item.x.byteLength;
        for (let off = 0; off === 0 || off < total;) {
          // A part sized for the transport it will take now.
          const size = p.dc ? Math.max(4, (p.dcMax - 1024 - SEAL_OVERHEAD) & ~3) : PART_BYTES;
          await one(tensorPart(item, off, size));
          off += Math.min(size, total - off) || 1;
        }
      }
    });
    p.outbox = sent.catch(() => {});
    return sent;
  }

  /**
   * _relayPaced sends a sealed frame to p through the hub's relay and
   * resolves once the hub has taken it; while the hub refuses it as busy it
   * is sent again, after a backoff, for at most BUSY_PATIENCE. The same
   * sealed bytes go again: the refused frame never reached p, and every
   * frame to p is sealed in p.outbox's order, so none was sealed since.
   * @internal @param {Peer} p @param {Channel} ch the channel it was sealed on @param {Uint8Array} sealed
   */
  async _relayPaced(p, ch, sealed) {
    let wait = BUSY_FIRST_WAIT, refusedSince = -1;
    for (;;) {
      try {
        await this._relayTaken(p, sealed);
        return;
      } catch (e) {
        if (/** @type {any} */ (e).code !== "busy") throw e;
        this._busy++;
        if (refusedSince < 0) refusedSince = now();
        else if (now() - refusedSince > BUSY_PATIENCE) {
          throw fail(`frame to ${p.info.id}: refused as busy for ${BUSY_PATIENCE} ms: ${reason(e)}`);
        }
      }
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(2 * wait, BUSY_MAX_WAIT);
      if (p.gone || p.channel !== ch) throw fail(`peer ${p.info.id} is gone`);
    }
  }

  /**
   * _relayTaken sends one sealed frame to p through the hub, then a ping,
   * and resolves on the pong (the hub took the frame); it rejects with the
   * hub's refusal of the frame, its code as the error's code.
   * @internal @param {Peer} p @param {Uint8Array} sealed
   * @returns {Promise<void>}
   */
  _relayTaken(p, sealed) {
    return new Promise((resolve, reject) => {
      const fseq = this._send("frame", { to: p.info.id, data: sealed });
      let pseq = 0;
      const done = () => {
        clearTimeout(timer);
        this._awaiting.delete(fseq);
        this._awaiting.delete(pseq);
      };
      const timer = setTimeout(() => {
        done();
        reject(fail(`frame to ${p.info.id}: no answer from the hub within ${TAKEN_TIMEOUT} ms`));
      }, TAKEN_TIMEOUT);
      const w = {
        resolve: () => { done(); resolve(); },
        reject: (/** @type {Error} */ e) => { done(); reject(e); },
      };
      this._awaiting.set(fseq, w); // its refusal (the error case of _handle: code in the message)
      try {
        pseq = this._send("ping", {});
      } catch (e) {
        w.reject(/** @type {Error} */ (e));
        return;
      }
      this._awaiting.set(pseq, w);
    });
  }

  /** @internal @param {Peer} p @param {() => Promise<void>} f a step of p's inbox */
  _enqueue(p, f) {
    p.inbox = p.inbox.then(f).catch((e) => {
      this._emit("error", fail(`peer ${p.info.id}: ${reason(e)}`));
    });
  }

  /**
   * _arrive takes a sealed frame from p off either transport and queues it
   * to be opened in its counter's order: a frame that overtook earlier ones
   * still on the other transport (the relay, when the direct channel has
   * just opened) waits for them, at most GAP_WAIT. A gap no direct channel
   * explains (the hub dropped a frame) is not waited for.
   * @internal @param {Peer} p @param {Uint8Array} sealed @param {"direct" | "relay"} via
   */
  _arrive(p, sealed, via) {
    const open = (/** @type {Uint8Array} */ b, /** @type {"direct" | "relay"} */ v) => this._enqueue(p, () => this._frame(p, b, v));
    if (sealed.length < SEAL_OVERHEAD) return open(sealed, via); // refused when opened
    const n = counterOf(sealed);
    if (n < p.rxNext || (n > p.rxNext && !p.pc && via === "relay" && p.held.size === 0)) {
      if (n >= p.rxNext) p.rxNext = n + 1;
      return open(sealed, via); // a replay (refused when opened), or a gap not to wait for
    }
    if (n > p.rxNext) {
      if (p.held.has(n)) return open(sealed, via);
      p.held.set(n, [sealed, via]);
      p.heldBytes += sealed.length;
      if (p.heldBytes > HELD_BYTES) this._flushHeld(p);
      else p.heldTimer ??= setTimeout(() => this._flushHeld(p), GAP_WAIT);
      return;
    }
    open(sealed, via);
    p.rxNext = n + 1;
    for (let next; (next = p.held.get(p.rxNext));) {
      p.held.delete(p.rxNext);
      p.heldBytes -= next[0].length;
      open(...next);
      p.rxNext++;
    }
    if (p.held.size === 0) {
      clearTimeout(p.heldTimer);
      p.heldTimer = null;
    }
  }

  /** _flushHeld gives up waiting for a gap: the frames held are opened in order. @internal @param {Peer} p */
  _flushHeld(p) {
    clearTimeout(p.heldTimer);
    p.heldTimer = null;
    for (const n of [...p.held.keys()].sort((a, b) => a - b)) {
      const [b, v] = /** @type {[Uint8Array, "direct" | "relay"]} */ (p.held.get(n));
      this._enqueue(p, () => this._frame(p, b, v));
      p.rxNext = n + 1;
    }
    p.held.clear();
    p.heldBytes = 0;
  }

  /** @internal @param {Peer} p a new channel: its frames count from 1 */
  _resetReceive(p) {
    this._flushHeld(p);
    p.rxNext = 1;
  }

  // --- the direct channel (WebRTC)

  /**
   * _openDirect offers p a data channel: an RTCPeerConnection with no ICE
   * servers (host candidates only) and one ordered, reliable channel. If it
   * is not open within DIRECT_TIMEOUT the relay keeps carrying the frames.
   * @internal @param {Peer} p
   */
  _openDirect(p) {
    const RTC = globalThis.RTCPeerConnection;
    if (!this._direct || typeof RTC !== "function" || p.info.caps.native || p.gone || this.closed) return;
    this._closeDirect(p, "");
    const pc = new RTC({ iceServers: [] });
    p.pc = pc;
    this._wireDirect(p, pc, pc.createDataChannel("edgenn-frames", { ordered: true }));
    (async () => {
      await pc.setLocalDescription(await pc.createOffer());
      if (p.pc !== pc) return;
      this._send("signal", { to: p.info.id, data: encode({ t: "sdp", type: "offer", sdp: pc.localDescription?.sdp ?? "" }) });
    })().catch((e) => p.pc === pc && this._closeDirect(p, `direct channel to peer ${p.info.id}: ${e.message}`));
  }

  /**
   * _directSignal takes an sdp or ice signal from p. An offer is answered
   * (replacing any connection there was, except when both offered at once:
   * the peer with the smaller id keeps its own); without RTCPeerConnection,
   * or with direct channels off, it is ignored and the offerer times out
   * to the relay.
   * @internal @param {Peer} p @param {Record<string, any>} s
   */
  async _directSignal(p, s) {
    const keys = s.t === "sdp" ? ["t", "type", "sdp"] : ["t", "candidate", "mid", "mline"];
    for (const k of Object.keys(s)) if (!keys.includes(k)) throw fail(`${s.t} signal: unknown key "${k}"`);
    if (s.t === "sdp" && (typeof s.sdp !== "string" || (s.type !== "offer" && s.type !== "answer"))) throw fail("sdp signal: bad type or sdp");
    if (s.t === "ice" && (typeof s.candidate !== "string" || typeof s.mid !== "string" || !Number.isSafeInteger(s.mline) || s.mline < 0)) {
      throw fail("ice signal: bad candidate, mid or mline");
    }
    const RTC = globalThis.RTCPeerConnection;
    if (!this._direct || typeof RTC !== "function" || p.gone) return;
    if (s.t === "ice") {
      if (p.pc && s.candidate) await p.pc.addIceCandidate({ candidate: s.candidate, sdpMid: s.mid, sdpMLineIndex: s.mline }).catch(() => {});
      return;
    }
    if (s.type === "answer") {
      if (p.pc?.signalingState === "have-local-offer") await p.pc.setRemoteDescription({ type: "answer", sdp: s.sdp });
      return;
    }
    if (p.pc?.signalingState === "have-local-offer" && this.id < p.info.id) return; // both offered: ours stands
    this._closeDirect(p, "");
    const pc = new RTC({ iceServers: [] });
    p.pc = pc;
    pc.ondatachannel = (e) => this._wireDirect(p, pc, e.channel);
    this._watchDirect(p, pc);
    await pc.setRemoteDescription({ type: "offer", sdp: s.sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    if (p.pc === pc) this._send("signal", { to: p.info.id, data: encode({ t: "sdp", type: "answer", sdp: pc.localDescription?.sdp ?? "" }) });
  }

  /**
   * _watchDirect sends pc's ICE candidates to p and gives the connection
   * DIRECT_TIMEOUT to open its channel.
   * @internal @param {Peer} p @param {RTCPeerConnection} pc
   */
  _watchDirect(p, pc) {
    pc.onicecandidate = (e) => {
      const c = e.candidate;
      if (!c?.candidate || p.pc !== pc) return;
      try {
        this._send("signal", { to: p.info.id, data: encode({ t: "ice", candidate: c.candidate, mid: c.sdpMid ?? "", mline: c.sdpMLineIndex ?? 0 }) });
      } catch {
        // the hub connection is closing
      }
    };
    pc.onconnectionstatechange = () => {
      if (p.pc === pc && (pc.connectionState === "failed" || pc.connectionState === "closed")) {
        this._closeDirect(p, `the direct channel to peer ${p.info.id} ${pc.connectionState === "failed" ? "failed" : "closed"}`);
      }
    };
    clearTimeout(p.directTimer);
    p.directTimer = setTimeout(() => {
      if (p.pc === pc && !p.dc) this._closeDirect(p, "");
    }, DIRECT_TIMEOUT);
  }

  /** @internal @param {Peer} p @param {RTCPeerConnection} pc @param {RTCDataChannel} dc */
  _wireDirect(p, pc, dc) {
    if (!dc.ordered || dc.maxRetransmits !== null || dc.maxPacketLifeTime !== null) {
      dc.close(); // frames need an ordered, reliable channel
      return;
    }
    if (!pc.onicecandidate) this._watchDirect(p, pc);
    dc.binaryType = "arraybuffer";
    dc.bufferedAmountLowThreshold = DIRECT_BUFFER >> 2;
    dc.onopen = () => {
      if (p.pc !== pc) return;
      clearTimeout(p.directTimer);
      const max = pc.sctp?.maxMessageSize;
      p.dcMax = Math.min(max && Number.isFinite(max) ? max : 64 << 10, DIRECT_MAX_MESSAGE);
      p.dc = dc;
      p.transport = "direct";
      p.bw = Math.max(p.bw, DIRECT_PRIOR_BYTES_PER_MS);
      this._emit("transport", { id: p.info.id, transport: "direct" });
    };
    dc.onclose = () => {
      if (p.pc === pc) this._closeDirect(p, `the direct channel to peer ${p.info.id} closed`);
    };
    dc.onmessage = (e) => {
      if (p.pc !== pc || !(e.data instanceof ArrayBuffer)) return;
      if (e.data.byteLength > MAX_FRAME) {
        this._emit("error", fail(`peer ${p.info.id}: a direct message of ${e.data.byteLength} bytes, more than a frame (${MAX_FRAME})`));
        return;
      }
      this._arrive(p, new Uint8Array(e.data), "direct");
    };
  }

  /**
   * _closeDirect closes p's direct channel, if any: frames take the relay
   * again. Our requests in flight to p run here (why says why), as results
   * on their way over the channel are lost with it; why "" is a quiet close
   * (a new channel replaces it, or it never opened).
   * @internal @param {Peer} p @param {string} why
   */
  _closeDirect(p, why) {
    const pc = p.pc;
    if (!pc) return;
    const wasOpen = !!p.dc;
    p.pc = null;
    p.dc = null;
    clearTimeout(p.directTimer);
    try {
      pc.close();
    } catch {
      // closed already
    }
    if (!wasOpen) return;
    p.transport = "relay";
    p.bw = Math.min(p.bw, PRIOR_BYTES_PER_MS); // what was measured was the direct channel
    this._emit("transport", { id: p.info.id, transport: "relay", reason: why });
    if (why) for (const r of [...p.requests.values()]) r.fallback(why);
  }

  /** @internal @param {Peer} p @param {Uint8Array} sealed @param {"direct" | "relay"} [via] */
  async _frame(p, sealed, via = "relay") {
    if (!p.channel) throw fail("a frame before any key was agreed");
    const plain = await p.channel.open(sealed, this._aad(p.info.id, this.id));
    let f;
    try {
      f = readFrame(plain);
    } catch (e) {
      const id = (() => { try { return decode(plain)?.id; } catch { return undefined; } })();
      if (Number.isSafeInteger(id)) this._failTo(p, id, "bad-input", reason(e));
      throw fail(`a malformed frame: ${reason(e)}`);
    }
    switch (f.t) {
      case "run": return this._runPart(p, f);
      case "cancel":
        p.cancelled.add(f.id);
        return;
      case "result": return this._resultPart(p, f, via);
      case "fail": {
        const r = p.requests.get(f.id);
        r?.fallback(`peer ${p.info.id} failed the request: ${f.code}: ${f.text}`);
        return;
      }
    }
  }

  /**
   * _lost gives up what was in flight with p: our requests run locally,
   * its requests are dropped.
   * @internal @param {Peer} p @param {string} why @param {boolean} [rekey]
   */
  _lost(p, why, rekey = false) {
    if (!rekey) p.gone = true;
    if (!rekey) this._closeDirect(p, "");
    p.channel = null;
    p.inResult = p.inRun = null;
    p.keyWait?.reject(fail(why));
    for (const r of [...p.requests.values()]) r.fallback(why);
  }

  // --- serving other peers' runs

  /** @internal @param {Peer} p @param {number} id @param {string} code @param {string} text */
  _failTo(p, id, code, text) {
    this._sendFrames(p, [encode({ t: "fail", id, code, text: text.slice(0, 512) })], 0).catch(() => {});
  }

  /** @internal @param {Peer} p @param {any} f */
  _runPart(p, f) {
    if (f.off === 0) {
      if (p.inRun && !p.inRun.done) this._failTo(p, p.inRun.f.id, "bad-input", "a tensor cut short by another");
      p.inRun = new Incoming(f);
    }
    const inc = p.inRun;
    if (!inc || !inc.add(f)) {
      this._failTo(p, f.id, "bad-input", `a part at byte ${f.off} that does not continue the tensor being received`);
      p.inRun = null;
      return;
    }
    if (!inc.done) return;
    p.inRun = null;
    this._serve(p, inc.f, inc.floats()).catch((e) => this._emit("error", e));
  }

  /**
   * _serve runs the tail of a request from p and sends the results.
   * @internal @param {Peer} p @param {any} f @param {Float32Array} x
   */
  async _serve(p, f, x) {
    const digest = hex(f.model);
    const model = [...this._enn._pool.models].find((m) => m.info.sha256 === digest);
    if (!model) return this._failTo(p, f.id, "no-model", `this peer does not hold model ${digest.slice(0, 16)}`);
    if (this._queue >= SERVE_QUEUE) return this._failTo(p, f.id, "busy", `${this._queue} runs queued`);
    let cuts;
    try {
      cuts = await this._cutsOf(model);
    } catch (e) {
      return this._failTo(p, f.id, "error", reason(e));
    }
    const at = cuts.findIndex((c) => c.tensor === f.at && c.index < cuts[cuts.length - 1].index);
    if (at < 0) return this._failTo(p, f.id, "bad-cut", `model ${model.info.name} has no cut at ${JSON.stringify(f.at)}`);
    const want = cuts[at].shape;
    if (f.shape.length !== want.length || f.shape.some((/** @type {number} */ d, /** @type {number} */ i) => i > 0 && d !== want[i]) ||
      (want[0] >= 0 && f.shape[0] !== want[0])) {
      return this._failTo(p, f.id, "bad-input", `shape [${f.shape}] does not fit the cut's [${want}]`);
    }
    const batch = f.shape[0];
    const cost = (cuts[cuts.length - 1].headMs - cuts[at].headMs) * Math.max(batch, 1);
    this._queue++;
    this._queuedMs += cost;
    this._announceSoon();
    let outs;
    try {
      if (p.cancelled.delete(f.id) || p.gone) return;
      [outs] = await this._work(() => model._call({ op: "runTail", at: f.at, input: x }, [x.buffer]));
    } catch (e) {
      return this._failTo(p, f.id, "error", reason(e));
    } finally {
      this._queue--;
      this._queuedMs = Math.max(0, this._queuedMs - cost);
      this._announceSoon();
    }
    /** @type {OutTensor[]} */
    const frames = [];
    outs.forEach((/** @type {Float32Array} */ o, /** @type {number} */ k) => {
      const shape = [batch, ...model.info.outputs[k].shape.slice(1)];
      if (prod(shape) !== o.length) shape.splice(0, shape.length, o.length);
      frames.push({ head: { t: "result", id: f.id, out: k, outs: outs.length }, shape, x: o });
    });
    await this._sendFrames(p, frames, 0).catch(() => {});
  }

  /**
   * _work runs a call on this tab's workers, then waits as long again
   * (throttle - 1) times, so that a throttled tab is as slow as it claims.
   * It resolves with the result and the time taken.
   * @internal @template T @param {() => Promise<T>} f @returns {Promise<[T, number]>}
   */
  async _work(f) {
    const t0 = now();
    const r = await f();
    if (this.throttle > 1) await sleep((this.throttle - 1) * (now() - t0));
    return [r, now() - t0];
  }

  // --- what this tab holds

  /**
   * _cutsOf profiles model's cuts here once: [{index, tensor, shape, bytes,
   * headMs}], headMs scaled by the throttle.
   * @internal @param {any} model @returns {Promise<CutInfo[]>}
   */
  _cutsOf(model) {
    const have = this._cuts.get(model);
    if (have) return have;
    const x = model.info.inputs.map((/** @type {any} */ i) => new Float32Array(prod(i.shape.map((/** @type {number} */ d) => (d < 0 ? 1 : d)))));
    /** @type {Promise<CutInfo[]>} */
    const c = model._call({ op: "cuts", runs: 5, inputs: x }).then((/** @type {CutInfo[]} */ cuts) =>
      cuts.map((k) => ({ ...k, headMs: k.headMs * this.throttle })));
    c.catch(() => this._cuts.delete(model));
    this._cuts.set(model, c);
    return c;
  }

  /** @internal a model was loaded or disposed: announce again */
  _modelsChanged() {
    for (const m of this._cuts.keys()) if (!this._enn._pool.models.has(m)) this._cuts.delete(m);
    this._announceSoon();
  }

  /** @internal */
  _announceSoon() {
    if (this.closed || this._announceTimer) return;
    const wait = Math.max(0, this._lastAnnounce + ANNOUNCE_GAP - now());
    this._announceTimer = setTimeout(() => {
      this._announceTimer = null;
      this._announce().catch((e) => this._emit("error", e));
    }, wait);
  }

  /** @internal */
  async _announce() {
    const models = [...this._enn._pool.models].filter((m) => m.info?.sha256).slice(0, MAX_MODELS);
    const list = [];
    for (const m of models) {
      try {
        const cuts = await this._cutsOf(m);
        list.push({ sha256: unhex(m.info.sha256), cuts: cuts.map((c) => c.headMs) });
      } catch {
        // a model that cannot be profiled is not offered
      }
    }
    if (this.closed) return;
    this._lastAnnounce = now();
    this._send("announce", { models: list, load: this._queuedMs });
  }

  // --- requesting

  /**
   * plan predicts, for model on a batch, the latency of running it here and
   * of each peer and cut that can take it, and returns them best first.
   * T(p) = local head + RTT + D_p/B_up + slowdown·remote tail + queued +
   * D_out/B_down, the link measured per peer.
   * @param {any} model @param {number} batch @param {{peer?: string, cut?: number}} [only]
   * @returns {Promise<{peer: Peer | null, at: number, ms: number, cuts: CutInfo[]}[]>}
   */
  async _plan(model, batch, only = {}) {
    const cuts = await this._cutsOf(model);
    const last = cuts.length - 1;
    const local = (/** @type {number} */ i) => this._localScale * cuts[i].headMs * batch;
    const outBytes = cuts[last].bytes * batch;
    const plans = [];
    if (only.peer === undefined) plans.push({ peer: null, at: last, ms: local(last), cuts });
    for (const p of this._peers.values()) {
      if (only.peer !== undefined && p.info.id !== only.peer) continue;
      const costs = p.models.get(model.info.sha256);
      if (!costs || costs.length !== cuts.length) continue;
      const rtt = p.rtt >= 0 ? p.rtt : this._hubRtt >= 0 ? 2 * this._hubRtt : 10;
      for (let i = 0; i < last; i++) {
        if (only.cut !== undefined && i !== only.cut) continue;
        const remote = (costs[last] - costs[i]) * batch;
        const ms = local(i) + rtt + (cuts[i].bytes * batch) / p.bw + p.slowdown * remote + p.load + outBytes / p.bw;
        plans.push({ peer: p, at: i, ms, cuts });
      }
    }
    return plans.sort((a, b) => a.ms - b.ms);
  }

  /**
   * _run runs model on xs (its inputs in order) with offload: "auto", or a
   * peer's id. It resolves once, with the outputs in order.
   * @internal @param {any} model @param {Float32Array[]} xs @param {string} offload @param {number | undefined} cut
   * @returns {Promise<Float32Array[]>}
   */
  async _run(model, xs, offload, cut) {
    const t0 = now();
    const per = prod(model.info.inputs[0].shape.slice(1));
    const batch = Math.max(1, Math.round(xs[0].length / per));
    if (offload !== "auto") this._peer(offload);
    /** @type {{peer: Peer | null, at: number, ms: number, cuts: CutInfo[]}[]} */
    let plans = [];
    try {
      plans = await this._plan(model, batch, { peer: offload === "auto" ? undefined : offload, cut });
    } catch (e) {
      if (offload !== "auto") throw e;
    }
    if (offload !== "auto" && plans.length === 0) {
      throw fail(`peer ${offload} has not announced model ${model.info.name}` + (cut !== undefined ? ` with cut ${cut}` : ""));
    }
    let best = plans[0];
    /** @type {OffloadInfo} */
    const info = { peer: null, cut: -1, tensor: "", predictedMs: best?.ms ?? 0, localMs: 0, remoteMs: 0, upBytes: 0, downBytes: 0, totalMs: 0 };
    if (!best || !best.peer) return this._runLocal(model, xs, info, t0, best?.cuts);
    const cuts = best.cuts;
    if (offload === "auto") {
      // The hub spreads requests over the peers that hold the model.
      try {
        const m = await this._request("offer-request", { model: unhex(model.info.sha256), cut: best.at || undefined });
        const p = this._peers.get(m.id);
        if (!p) throw fail(`the hub matched unknown peer ${m.id}`);
        if (p !== best.peer) best = (await this._plan(model, batch, { peer: p.info.id, cut: best.at }))[0] ?? best;
      } catch (e) {
        info.fallback = reason(e);
        return this._runLocal(model, xs, info, t0, cuts);
      }
    }
    const p = /** @type {Peer} */ (best.peer);
    const c = cuts[best.at];
    Object.assign(info, { peer: p.info.id, cut: best.at, tensor: c.tensor });
    // The head, here.
    let mid = xs[0];
    if (c.index > 0) {
      const [h, ms] = await this._work(() => model._call({ op: "runHead", cut: best.at, inputs: xs }));
      mid = h;
      info.localMs = ms;
      if (this._warm(model, "head", best.at)) this._observeLocal(ms, c.headMs * batch);
    }
    const midShape = [batch, ...c.shape.slice(1)];
    if (prod(midShape) !== mid.length) midShape.splice(0, midShape.length, mid.length);
    const remotePredicted = best.ms - this._localScale * c.headMs * batch;
    let outs;
    try {
      if (p.gone) throw fail(`peer ${p.info.id} left`);
      await this._pair(p);
      const r0 = now();
      outs = await this._remote(p, model, c, midShape, mid, Math.max(3 * remotePredicted, 2000), info);
      info.remoteMs = now() - r0;
      // A peer compiles a cut's tail on its first request there: that one does not price the link.
      if (this._warm(p, model.info.sha256, best.at)) this._observeRemote(p, info, best, batch);
    } catch (e) {
      // Offload is never the only path: the tail runs here.
      info.fallback = reason(e);
      const [o, ms] = await this._work(() => model._call({ op: "runTail", at: c.tensor, input: mid }));
      info.localMs += ms;
      outs = o;
    }
    info.totalMs = now() - t0;
    model.lastOffload = Object.freeze(info);
    return outs;
  }

  /** @internal @param {any} model @param {Float32Array[]} xs @param {OffloadInfo} info @param {number} t0 @param {CutInfo[]} [cuts] */
  async _runLocal(model, xs, info, t0, cuts) {
    const [outs, ms] = await this._work(() => model._call({ op: "run", inputs: xs }));
    if (cuts) {
      const batch = Math.max(1, Math.round(xs[0].length / prod(model.info.inputs[0].shape.slice(1))));
      this._observeLocal(ms, cuts[cuts.length - 1].headMs * batch);
      info.cut = cuts.length - 1;
    }
    info.localMs = ms;
    info.totalMs = now() - t0;
    model.lastOffload = Object.freeze(info);
    return outs;
  }

  /**
   * _warm reports whether a cut's half has run before where it runs now
   * (once on each of the pool's workers, for our own halves): the first
   * run of a half compiles it, and its time says nothing of the device's
   * speed or the link's.
   * @internal @param {any} owner a model (our halves) or a Peer @param {string} what @param {number} cut
   */
  _warm(owner, what, cut) {
    let seen = this._seen.get(owner);
    if (!seen) this._seen.set(owner, (seen = new Map()));
    const key = what + " " + cut;
    const n = (seen.get(key) ?? 0) + 1;
    seen.set(key, n);
    return n > (owner instanceof Peer ? 1 : this._enn.workers);
  }

  /** @internal @param {number} ms @param {number} predicted */
  _observeLocal(ms, predicted) {
    if (predicted > 0.05) this._localScale = Math.min(100, Math.max(0.01, ewma(this._localScale, ms / predicted)));
  }

  /**
   * _observeRemote refreshes p's link estimates from a request that took
   * info.remoteMs: the time beyond the round trip and the predicted compute
   * prices the bytes (when there were enough to measure), and the time
   * beyond the round trip and the transfer the peer's slowdown.
   * @internal @param {Peer} p @param {OffloadInfo} info @param {{at: number, cuts: CutInfo[]}} plan @param {number} batch
   */
  _observeRemote(p, info, plan, batch) {
    const costs = p.models.get(/** @type {string} */ (info.model));
    const last = plan.cuts.length - 1;
    const remote = costs ? (costs[last] - costs[plan.at]) * batch : 0;
    const rtt = p.rtt >= 0 ? p.rtt : 0;
    const bytes = info.upBytes + info.downBytes;
    if (bytes >= 32 << 10) {
      const t = info.remoteMs - rtt - p.slowdown * remote - p.load;
      if (t > 0.1) p.bw = ewma(p.bw, bytes / t);
    }
    if (remote >= 1) {
      const t = info.remoteMs - rtt - bytes / p.bw - p.load;
      p.slowdown = Math.min(50, Math.max(0.2, ewma(p.slowdown, t / remote)));
    }
  }

  /**
   * _remote sends one run request to p and resolves with the outputs; it
   * rejects on a fail, a timeout, the peer leaving or a result that does
   * not fit the model, and a result that comes after is dropped.
   * @internal
   * @param {Peer} p @param {any} model @param {CutInfo} c @param {number[]} shape @param {Float32Array} x
   * @param {number} timeoutMs @param {OffloadInfo} info
   * @returns {Promise<Float32Array[]>}
   */
  async _remote(p, model, c, shape, x, timeoutMs, info) {
    if (p.gone || !p.channel) throw fail(`peer ${p.info.id} left`);
    const id = p.nextId++;
    info.model = model.info.sha256;
    return new Promise((resolve, reject) => {
      /** @type {Float32Array[]} */
      const outs = [];
      const settle = (/** @type {Error | null} */ err) => {
        if (!p.requests.has(id)) return;
        p.requests.delete(id);
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(outs);
      };
      const timer = setTimeout(() => {
        this._sendFrames(p, [encode({ t: "cancel", id })], 0).catch(() => {});
        settle(fail(`peer ${p.info.id}: no result within ${Math.round(timeoutMs)} ms`));
      }, timeoutMs);
      p.requests.set(id, {
        fallback: (/** @type {string} */ why) => settle(fail(why)),
        relayed: false,
        /** @param {number} k @param {number} n @param {number[]} shape @param {Float32Array} o */
        result: (k, n, shape, o) => {
          const want = model.info.outputs;
          const wshape = want[k] && [shape[0], ...want[k].shape.slice(1)];
          if (n !== want.length || !wshape || wshape.join() !== shape.join() || outs.length !== k) {
            settle(fail(`peer ${p.info.id}: result ${k} of ${n} with shape [${shape}] does not fit the model's outputs`));
            return;
          }
          outs.push(o);
          info.downBytes += o.byteLength;
          if (outs.length === n) {
            info.transport = p.requests.get(id)?.relayed ? "relay" : "direct";
            settle(null);
          }
        },
      });
      const frames = [{ head: { t: "run", id, model: unhex(model.info.sha256), at: c.tensor }, shape, x }];
      info.upBytes = x.byteLength;
      this._sendFrames(p, frames, id).catch((e) => settle(e));
    });
  }

  /** @internal @param {Peer} p @param {any} f @param {"direct" | "relay"} via */
  _resultPart(p, f, via) {
    const r = p.requests.get(f.id);
    if (r && via === "relay") r.relayed = true;
    if (f.off === 0) p.inResult = new Incoming(f);
    const inc = p.inResult;
    if (!inc || !inc.add(f)) {
      p.inResult = null;
      r?.fallback(`peer ${p.info.id}: a result part that does not continue the tensor`);
      return;
    }
    if (!inc.done) return;
    p.inResult = null;
    r?.result(f.out, f.outs, f.shape, inc.floats()); // a late result (its request ran here) is dropped
  }
}

/**
 * join connects enn to the hub at url and joins a room, over the transport
 * asked for: "websocket" (the native host's hub), "http" (the Cloudflare
 * Worker's) or "auto" (default), which asks the hub which it speaks.
 * @param {any} enn @param {string | URL} url
 * @param {{room: string, token: string, name?: string, throttle?: number, direct?: boolean, transport?: string, WebSocket?: any}} o
 * @returns {Promise<Peers>}
 */
export async function join(enn, url, o) {
  if (typeof o.room !== "string" || !o.room || new TextEncoder().encode(o.room).length > MAX_NAME) {
    throw fail(`join: room must be a name of 1 to ${MAX_NAME} bytes`);
  }
  if (typeof o.token !== "string" || !o.token || o.token.length > MAX_TOKEN) throw fail(`join: token must be a string of 1 to ${MAX_TOKEN} bytes`);
  const name = o.name ?? "";
  if (typeof name !== "string" || new TextEncoder().encode(name).length > MAX_NAME) throw fail(`join: name must be at most ${MAX_NAME} bytes`);
  const throttle = o.throttle ?? 1;
  if (typeof throttle !== "number" || !(throttle >= 1 && throttle <= 1000)) throw fail(`join: throttle must be a number in [1, 1000], got ${throttle}`);
  const transport = o.transport ?? "auto";
  if (transport !== "auto" && transport !== "websocket" && transport !== "http") {
    throw fail(`join: transport must be "auto", "websocket" or "http", got ${JSON.stringify(transport)}`);
  }
  if (o.direct !== undefined && typeof o.direct !== "boolean") throw fail(`join: direct must be true or false, got ${o.direct}`);
  subtle();
  const u = new URL(url, globalThis.location?.href);
  if (!["http:", "https:", "ws:", "wss:"].includes(u.protocol)) throw fail(`join: ${u.href} is not an http(s) or ws(s) URL`);
  // The same hub, in both schemes.
  const web = new URL(u.href.replace(/^ws/, "http"));
  const ws = new URL(web.href.replace(/^http/, "ws"));
  const kind = transport === "auto" ? await hubTransport(web) : transport;
  let t;
  if (kind === "http") {
    if (typeof globalThis.fetch !== "function") throw fail("join: this runtime has no fetch, which the HTTP hub needs");
    t = new HTTPTransport(web.href, globalThis.fetch.bind(globalThis));
  } else {
    const WS = o.WebSocket ?? globalThis.WebSocket;
    if (typeof WS !== "function") throw fail("join: this runtime has no WebSocket (Node 20: run with --experimental-websocket, or pass options.WebSocket)");
    t = new WebSocketTransport(ws.href, WS);
  }
  const peers = new Peers(enn, { room: o.room, name, throttle });
  if (o.direct === false) peers.direct = false;
  await peers._connect(kind === "http" ? web.href : ws.href, o.token, t);
  peers._announceSoon();
  return peers;
}
