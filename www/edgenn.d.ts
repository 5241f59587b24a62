// Type declarations for edgenn.js, edgenn's JavaScript API (browsers with
// module Web Workers, and Node >= 20 with worker_threads). Every promise
// rejects with an Error whose message starts "edgenn: " and names the cause.

/** Options of EdgeNN.start. */
export interface StartOptions {
  /** Workers in the pool, each with its own Go instance. Default: the cores less one, in [1, 4]. */
  workers?: number;
  /**
   * Where edgenn.wasm, edgenn-scalar.wasm and wasm_exec.js are: a URL, or in
   * Node a folder path. Default: edgenn.js's own folder.
   */
  baseURL?: string | URL;
  /** The wasm file itself, overriding baseURL and simd. */
  wasmURL?: string | URL;
  /** wasm_exec.js (Go's JS glue), overriding baseURL. */
  wasmExecURL?: string | URL;
  /** The worker script. Default: edgenn-worker.js beside edgenn.js. */
  workerURL?: string | URL;
  /**
   * "auto" (default) runs edgenn.wasm where the runtime has WebAssembly
   * SIMD128 and edgenn-scalar.wasm elsewhere; true or false forces one
   * (true rejects where SIMD is missing).
   */
  simd?: "auto" | boolean;
  /**
   * Called as the wasm's bytes arrive (about 1 MB compressed). Without it,
   * browsers compile while downloading and may reuse the compiled code on
   * later visits (WebAssembly.compileStreaming).
   */
  onProgress?: (p: Progress) => void;
}

/** Download progress of a model, in bytes. */
export interface Progress {
  loaded: number;
  /** Unknown when the server sends no length or compresses the response. */
  total?: number;
}

/** Options of EdgeNN.load. */
export interface LoadOptions {
  /** Called as the model's bytes arrive. */
  onProgress?: (p: Progress) => void;
  /** The model's name in info and errors; default: the name in the file. */
  name?: string;
}

/** A model input or output. shape[0] is -1 where the batch size is free. */
export interface ValueInfo {
  name: string;
  shape: number[];
}

/** What a loaded model is. */
export interface ModelInfo {
  readonly name: string;
  readonly inputs: ValueInfo[];
  readonly outputs: ValueInfo[];
  /** Class names, from the metadata's comma-separated "labels". */
  readonly labels?: string[];
  /** The file's free-form metadata (labels, preprocessing, source, licence). */
  readonly metadata: Record<string, string>;
  /** The model's float32 weight tensors in graph order: what a trainer's `trainable` name prefixes select from. */
  readonly weights: { name: string; shape: number[] }[];
  /** Size of the .enn file. */
  readonly bytes: number;
  /** Hex SHA-256 of the file (its content address); absent where WebCrypto is not (insecure origins). */
  readonly sha256?: string;
}

/**
 * Inputs of Model.run: an object of input name to values, or for a model
 * with one input the values alone. Values are a Float32Array (other typed
 * arrays and arrays of numbers are converted: a copy) holding a batch of
 * examples, NHWC, concatenated.
 */
export type Tensor = Float32Array | ArrayLike<number>;
export type Inputs = Tensor | Record<string, Tensor>;

/** Options of Model.run. */
export interface RunOptions {
  /**
   * Transfer each input Float32Array's buffer to the worker instead of
   * copying it, where the array spans its whole ArrayBuffer: the caller's
   * array is then left empty (detached).
   */
  transfer?: boolean;
  /**
   * Offload (after EdgeNN.join): "never" (default) runs here; "auto" runs
   * where the planner predicts the result soonest: here, or the head here
   * and the tail on the peer the hub matches, at the best cut; a peer's id
   * offloads to that peer at its best cut. Offload is never the only path:
   * if the peer fails, times out or leaves, the rest runs here, and the
   * result is delivered once. model.lastOffload tells what happened.
   */
  offload?: "auto" | "never" | (string & {});
  /** With offload: split at this cut (a position in model.cuts()) instead of the planner's. */
  cut?: number;
}

/** A place a model can be split between this device and a peer (Model.cuts). */
export interface CutInfo {
  /** Nodes of the compiled graph before the cut (the head). */
  index: number;
  /** The value crossing the cut; the last cut (everything local) names the output. */
  tensor: string;
  /** Its shape, shape[0] -1 for the free batch dimension. */
  shape: number[];
  /** Its bytes per example. */
  bytes: number;
  /** Profiled time of the head here, cumulative (the last cut: the whole model). */
  headMs: number;
}

/** Where a run with an offload option ran, and what it cost (Model.lastOffload). */
export interface OffloadInfo {
  /** The peer that ran the tail, or null if the run stayed here. */
  peer: string | null;
  /** The chosen cut's position in model.cuts() (-1 if the planner had no costs yet). */
  cut: number;
  /** The value sent to the peer ("" for a local run). */
  tensor: string;
  /** The planner's predicted latency of the chosen plan. */
  predictedMs: number;
  /** Time spent computing here (head, or the whole model, or a fallback tail). */
  localMs: number;
  /** From sending the request to the last result part (0 if none). */
  remoteMs: number;
  upBytes: number;
  downBytes: number;
  totalMs: number;
  /** Why the peer's part ran here after all (a fail, a timeout, the peer leaving). */
  fallback?: string;
  /** The model's sha256 when a peer was asked. */
  model?: string;
  /**
   * How the request and its results travelled, when the peer answered:
   * "direct" (a WebRTC data channel, every frame) or "relay" (some or all
   * through the hub's relay).
   */
  transport?: Transport;
}

/** How frames reach a peer: a direct WebRTC data channel, or the hub's relay. */
export type Transport = "direct" | "relay";

/** Options of EdgeNN.join. */
export interface JoinOptions {
  /** The room, as configured on the host (serve --hub-room NAME=TOKEN). */
  room: string;
  token: string;
  /** This peer's name as the others see it. */
  name?: string;
  /**
   * A factor >= 1 by which this tab's measured costs are scaled, and its
   * runs slowed, to demonstrate a weak device (default 1).
   */
  throttle?: number;
  /**
   * Whether frames may go over direct WebRTC data channels where one opens
   * (default true where RTCPeerConnection exists); false keeps them on the
   * hub's relay (Peers.direct can change it later).
   */
  direct?: boolean;
  /**
   * How to reach the hub (default "auto"): "websocket" (the native host's
   * hub, `edgenn serve --hub-room`), "http" (the Cloudflare Worker's: a
   * POST per message and a long poll), or "auto": a GET of the hub's URL
   * answers with the header Edgenn-Hub-Transport: http where the hub speaks
   * HTTP, and otherwise the WebSocket is used.
   */
  transport?: "auto" | HubTransport;
  /** A WebSocket constructor, where the runtime has no global one. */
  WebSocket?: unknown;
}

/** How a peer reaches the hub: a WebSocket, or HTTP requests and a long poll. */
export type HubTransport = "websocket" | "http";

/** Another peer of the room. */
export interface PeerInfo {
  id: string;
  name: string;
  caps: { workers: number; native: boolean; gflops: number };
  /** Milliseconds of work queued on it, as it announced. */
  load: number;
  /** The sha256 (hex) of the models it announced. */
  models: string[];
  /** How frames reach it now. */
  transport: Transport;
  /** Whether keys are agreed with it (Peers.fingerprint then answers at once). */
  paired: boolean;
}

/** The room a pool joined (EdgeNN.join). */
export declare class Peers {
  private constructor();
  /** This peer's id in the room. */
  readonly id: string;
  readonly room: string;
  readonly name: string;
  readonly throttle: number;
  /** Whether the page left, or the hub connection was lost. */
  readonly closed: boolean;
  /** How this peer reaches the hub (JoinOptions.transport, "auto" resolved). */
  readonly hubTransport: HubTransport;
  /** The other peers of the room. */
  readonly peers: PeerInfo[];
  /**
   * Whether frames may go over direct WebRTC data channels (default: where
   * the runtime has RTCPeerConnection, not in Node). Setting it false closes
   * them: everything then goes through the hub's relay.
   */
  direct: boolean;
  on(type: "peer-joined", fn: (p: PeerInfo) => void): this;
  on(type: "peer-left", fn: (p: { id: string; reason: string }) => void): this;
  on(type: "announce", fn: (p: { id: string; models: string[]; load: number }) => void): this;
  /** A direct channel to a peer opened ("direct"), or closed (back to "relay", reason says why). */
  on(type: "transport", fn: (p: { id: string; transport: Transport; reason?: string }) => void): this;
  /** Errors that belong to no call (a malformed message, the hub connection lost). */
  on(type: "error", fn: (e: Error) => void): this;
  off(type: string, fn: Function): this;
  /**
   * Six digits of this side's and the peer's public keys, the same on both
   * devices: compare them to be sure the hub did not swap the keys.
   */
  fingerprint(peerId: string): Promise<string>;
  /** Leaves the room; requests in flight to peers finish here. */
  close(): void;
}

/**
 * Examples for training and evaluation: one Float32Array (or array of
 * numbers) with the examples concatenated, or an array of one Float32Array
 * per example.
 */
export type Examples = Tensor | Float32Array[];
/** Class indices, one per example. */
export type Labels = Int32Array | ArrayLike<number>;

/** Classification scores. */
export interface Scores {
  /** Mean cross-entropy of the model's probabilities. */
  loss: number;
  /** Fraction of examples whose most probable class is the label. */
  accuracy: number;
}

/** The measured cost of one compiled node. */
/** One object a detector found, in coordinates normalised to the model's input (0..1). */
export interface Detection {
  score: number;
  /** xmin, ymin, xmax, ymax */
  box: [number, number, number, number];
  keypoints: [number, number][];
}

export interface NodeCost {
  name: string;
  op: string;
  /** Wall time per run: median, minimum and mean over the profiled runs. The mean resolves layers shorter than the browser's timer tick (0.1 ms on pages that are not cross-origin isolated). */
  medianMs: number;
  minMs: number;
  meanMs: number;
  /** Floating-point operations of one run of this compiled node at the profiled batch size (two per multiply-add), as `edgenn inspect` counts them. */
  flops: number;
}

/** Options of Model.trainer. */
export interface TrainerOptions {
  /** Default "sgd". "adamw" is Adam with decoupled weight decay. */
  optimizer?: "sgd" | "adam" | "adamw";
  /** Learning rate; default 0.01 for SGD, 0.001 for Adam and AdamW. */
  lr?: number;
  /** SGD momentum in [0, 1); default 0. */
  momentum?: number;
  /** SGD Nesterov momentum (needs momentum). */
  nesterov?: boolean;
  /** L2 weight decay (default 0; 0.01 for AdamW). */
  weightDecay?: number;
  /** Adam's moment decays and epsilon; defaults 0.9, 0.999, 1e-7. */
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  /**
   * Name prefixes of the weight tensors to train (e.g. ["dense_7/"] for a
   * head); default: every weight and bias. A prefix that matches nothing is
   * an error.
   */
  trainable?: string[];
  /** fit's batch size when it does not name one; default 32. */
  batchSize?: number;
  /** "crossentropy" (default; integer labels) or "mse" (Float32Array targets, step only). */
  loss?: "crossentropy" | "mse";
  /** Seeds Dropout's masks. */
  seed?: number;
}

/** One training step's report to FitOptions.onBatch. */
export interface BatchReport {
  /** From 1. */
  epoch: number;
  /** From 1 to steps. */
  step: number;
  steps: number;
  /** The batch's mean loss before the update. */
  loss: number;
}

/** One epoch's summary. */
export interface EpochStats {
  /** From 1. */
  epoch: number;
  /** Mean training loss over the epoch's steps. */
  loss: number;
  /** On the validation examples, when given. */
  evalLoss?: number;
  evalAccuracy?: number;
}

/** Options of Trainer.fit. */
export interface FitOptions {
  /** Default 1. */
  epochs?: number;
  /** Default: the trainer's batchSize. Fewer examples than that make one batch of them all. */
  batchSize?: number;
  /** Shuffling: the same seed gives the same batches here and in `edgenn train --seed`. Default 0. */
  seed?: number;
  /**
   * The learning rate's schedule over the whole fit (all epochs' steps), as
   * a factor on the optimiser's lr: cosine decay from 1 to floor (default 0),
   * or a step decay multiplying by gamma every `every` steps. Default: none.
   */
  schedule?: { type: "cosine"; floor?: number } | { type: "step"; every: number; gamma: number };
  /** When positive, gradients are scaled so that their global L2 norm is at most clipNorm. */
  clipNorm?: number;
  /** Held-out examples, scored after every epoch. */
  validation?: [Examples, Labels] | { xs: Examples; ys: Labels };
  /** Called after every step. A callback that throws stops the fit with its error. */
  onBatch?: (b: BatchReport) => void;
  /** Called after every epoch. */
  onEpoch?: (e: EpochStats) => void;
  /**
   * Stops the fit between two epochs: it then rejects with signal.reason,
   * and the trainer keeps the weights of the completed epochs.
   */
  signal?: AbortSignal;
  /** As RunOptions.transfer, for the examples and labels. */
  transfer?: boolean;
}

/** One worker's state in PoolInfo. */
export interface WorkerInfo {
  index: number;
  alive: boolean;
  /** Calls in flight. */
  pending: number;
  /** Calls answered since the worker started. */
  completedCalls: number;
  version?: string;
  simd?: boolean;
  /** Go heap in use, and memory obtained from the wasm memory by Go's runtime. */
  heapBytes?: number;
  sysBytes?: number;
  /** Size of the worker's wasm linear memory. */
  memoryBytes?: number;
  models?: number;
  trainers?: number;
}

/** What EdgeNN.info reports. */
export interface PoolInfo {
  version: string;
  simd: boolean;
  wasmURL: string;
  models: number;
  workers: WorkerInfo[];
  /** The workers of the open sources (EdgeNN.source), outside the pool (index -1). */
  sources: WorkerInfo[];
}

/** A pool of workers running edgenn.wasm. */
export declare class EdgeNN {
  private constructor();
  /** Starts the pool: compiles the wasm once and starts the workers. */
  static start(options?: StartOptions): Promise<EdgeNN>;
  /** Whether this runtime supports WebAssembly SIMD128. */
  static simdSupported(): boolean;
  /** The wasm module's API version. */
  readonly version: string;
  /** Whether the workers run the SIMD build. */
  readonly simd: boolean;
  /** The wasm file the workers run. */
  readonly wasmURL: string;
  /** The number of workers. */
  readonly workers: number;
  /**
   * Loads a model on every worker (so that runs spread over the pool): from
   * a URL, in Node also a file path or file: URL, or from the .enn bytes
   * (copied). A worker that crashes is replaced and loads every model again.
   */
  load(src: string | URL | Uint8Array | ArrayBuffer, options?: LoadOptions): Promise<Model>;
  /**
   * One input for many tasks: a video, canvas or image read at options.fps,
   * an async iterable of frames, or null to push frames by hand.
   */
  source(input: SourceInput | null, options?: SourceOptions): Source;
  /** The pool and each worker's memory. */
  info(): Promise<PoolInfo>;
  /**
   * Joins a room of the host's peer hub ("/hub" in a page; an absolute URL
   * in Node). Rejects with the hub's reason (bad-token, unknown-room, ...).
   */
  join(hubURL: string | URL, options: JoinOptions): Promise<Peers>;
  /** Stops every worker; calls in flight reject. */
  terminate(): Promise<void>;
}

/** A model loaded on every worker of the pool. */
export declare class Model {
  private constructor();
  readonly info: ModelInfo;
  /** Where the last run with an offload option ran, and what it cost; null before one. */
  readonly lastOffload: OffloadInfo | null;
  /**
   * The places the model can be split with a peer, each with its head's
   * time here (profiled over runs runs, default 5); the last keeps it local.
   */
  cuts(options?: { runs?: number }): Promise<CutInfo[]>;
  /**
   * Runs the whole model once, on the least busy worker, on a batch of any
   * size; resolves with one Float32Array per output, by name. Rejects on an
   * unknown or missing input name, a length that is not a whole number of
   * examples, or a disposed model.
   */
  run(inputs: Inputs, options?: RunOptions): Promise<Record<string, Float32Array>>;
  /** Times every compiled node over runs runs (default 10) of inputs (default: one example of zeros). */
  profile(inputs?: Inputs, options?: { runs?: number }): Promise<NodeCost[]>;
  /** Scores a classifier on labelled examples. */
  evaluate(xs: Examples, ys: Labels): Promise<Scores>;
  /**
   * Runs a detector model (its metadata names the post-processing, e.g.
   * BlazeFace: "postprocess": "blazeface input=256 ...") on one image; the
   * detections come best first, overlaps suppressed. Defaults: minScore 0.5,
   * iou 0.3, maxOut 20.
   */
  detect(inputs: Inputs, options?: { minScore?: number; iou?: number; maxOut?: number }): Promise<Detection[]>;
  /**
   * A trainer of this model's weights, on one worker. The model itself does
   * not change; a bad option rejects the trainer's first call.
   */
  trainer(options?: TrainerOptions): Trainer;
  /** Frees the model on every worker; later calls reject. */
  dispose(): void;
}

/**
 * Fine-tuning on one worker; its calls run one after another. If its worker
 * crashes, its calls reject ("trainer lost"): start a new one.
 */
export declare class Trainer {
  private constructor();
  /** fit's batch size when it does not name one. */
  readonly batchSize: number;
  /**
   * Trains for some epochs over shuffled batches (a last partial batch is
   * left out) and resolves with each epoch's stats. The data is copied to
   * the worker once per call.
   */
  fit(xs: Examples, ys: Labels, options?: FitOptions): Promise<EpochStats[]>;
  /** Trains on one batch; resolves with its mean loss before the update. ys are targets for loss "mse". */
  step(xs: Examples, ys: Labels | Float32Array): Promise<number>;
  /** Scores the current weights. */
  evaluate(xs: Examples, ys: Labels): Promise<Scores>;
  /** The trained model as a .enn file; with optimizerState, a checkpoint to resume from. */
  save(options?: {
    optimizerState?: boolean;
    /** Entries set in the file's metadata (e.g. labels: "0,1,2,3,4,5,6,7,8,☺"); others are kept. */
    metadata?: Record<string, string>;
  }): Promise<Uint8Array>;
  /** Loads the trained weights as a new Model on every worker. */
  toModel(options?: { name?: string }): Promise<Model>;
  /** Frees the trainer once its calls in flight end. */
  dispose(): void;
}

/** What a source reads frames from. */
export type SourceInput =
  | CanvasImageSource
  | AsyncIterable<ImageBitmap | ImageData | RGBAFrame>;

/** A frame as RGBA bytes, row by row. */
export interface RGBAFrame {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  /** Capture time in milliseconds (default: performance.now()). */
  time?: number;
}

/** Options of EdgeNN.source. */
export interface SourceOptions {
  /** Frames a second read from a video, canvas or image (default 15). */
  fps?: number;
  /** Frames kept with their views (default 4); older ones age out. */
  maxFrames?: number;
  /** Bytes of frames and views kept (default 64 MiB). */
  maxBytes?: number;
  /**
   * Errors that belong to no call: a frame that could not be read, a
   * callback that threw, the source's worker crashing (default: console.error).
   */
  onError?: (e: Error) => void;
}

/**
 * The input a task makes from a frame. Where it is silent, the model's
 * input decides: its size, gray for one channel, NCHW for [N, C, H, W].
 */
export interface ViewOptions {
  /** "face" (or another box set): each box a detector task produces, batched. */
  crop?: string;
  /** A fixed box [x0, y0, x1, y1] in frame pixels. */
  box?: [number, number, number, number];
  /** Crop the square around the box, its side the longer side times enlarge. */
  square?: boolean;
  enlarge?: number;
  /** The view's [width, height]. */
  resize?: [number, number];
  /** "stretch" (default) or "letterbox" (kept aspect ratio, black around). */
  fit?: "stretch" | "letterbox";
  /** "bilinear" (default), "nearest" or "area" (averaging; best for shrinking). */
  filter?: "bilinear" | "nearest" | "area";
  color?: "rgb" | "bgr" | "gray";
  /** Shorthand for color: "gray". */
  gray?: boolean;
  /** Each value is (pixel - mean) / std, pixels in [0, 255]; per channel or one for all. */
  mean?: number | number[];
  std?: number | number[];
  layout?: "nhwc" | "nchw";
}

/** Options of Source.attach. */
export interface AttachOptions {
  /** The task's name (default: the model's). */
  name?: string;
  /** Higher runs first and is shed last (default 0). */
  priority?: number;
  /** Target runs a second (default 0: as often as frames come). */
  rate?: number;
  /** A chained task takes at most this many boxes a frame (default 8). */
  maxBoxes?: number;
  /**
   * How many of the pool's workers may run the task at once, each on a
   * newer frame (default 1). A task slower than the frames (a detector)
   * then keeps up over several workers instead of one; results still come
   * one at a time in frame order, and a run overtaken by a newer frame's
   * result is dropped (counted).
   */
  maxRuns?: number;
  /** The box set a detector produces (default "face" for BlazeFace). */
  boxes?: string;
  /** A detector's decoding: minimum score, NMS overlap, most detections. */
  minScore?: number;
  iou?: number;
  maxOut?: number;
}

/** One result of a task. */
export interface TaskResult {
  task: string;
  /** The frame's number in this source. */
  frame: number;
  /** Items run: 1, or the boxes of a chained task. */
  batch: number;
  /** From the frame's arrival to this result. */
  latencyMs: number;
  /** The model run itself. */
  computeMs: number;
  /** The model's outputs (batch items concatenated). */
  outputs?: Record<string, Float32Array>;
  /** A detector's boxes, or a chained task's input boxes, in frame pixels. */
  boxes?: [number, number, number, number][];
  /** A detector's detections in frame pixels. */
  detections?: Detection[];
  /** A chained task's result per box: the box and its slice of each output. */
  items?: { box: [number, number, number, number]; outputs: Record<string, Float32Array> }[];
  error?: Error;
}

/** One task's figures. */
export interface TaskMetrics {
  name: string;
  priority: number;
  runs: number;
  /** Frames the task wanted but a newer one came first (or the frame aged out). */
  dropped: number;
  /** Frames passed over to keep to the task's rate. */
  skipped: number;
  errors: number;
  /** Whether overload shedding has lowered the task's rate. */
  shed: boolean;
  /** A run's lane time, moving average. */
  computeMs: number;
  /** Runs a second, recently. */
  rate: number;
  targetRate: number;
  /** The rate the scheduler allows now, below target when shedding; 0: no limit. */
  effectiveRate: number;
  p50Ms: number;
  p95Ms: number;
  /** Fraction of the workers' busy time. */
  share: number;
  /** Runs on each of the pool's workers (runs overtaken by a newer frame's result included). */
  laneRuns: number[];
}

/** Source.metrics(). */
export interface SourceMetrics {
  tasks: TaskMetrics[];
  /** replaced: frames pushed by hand that a newer push replaced before the source's worker took them. */
  provider: { frames: number; agedOut: number; prepared: number; shared: number; bytes: number; replaced: number };
}

/** One input shared by many tasks; see EdgeNN.source. */
export declare class Source {
  private constructor();
  /** Adds a task: model runs on view of the frames, callback gets each result. */
  attach(model: Model, view: ViewOptions, callback: (r: TaskResult) => void, options?: AttachOptions): Promise<void>;
  /** Adds a frame by hand; false when a newer push replaced it before the source's worker took it. */
  push(frame: RGBAFrame): Promise<boolean>;
  /** Each task's figures and the provider's counters. */
  metrics(): Promise<SourceMetrics>;
  /** Stops capturing and scheduling; resolves once its worker has stopped. */
  close(): Promise<void>;
}
