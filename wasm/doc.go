// Command wasm is edgenn's browser module, edgenn.wasm; it builds for
// GOOS=js GOARCH=wasm. It sets globalThis.edgenn to the raw API over engine
// that www/edgenn-worker.js calls, one Go instance per worker (the public JS
// API is www/edgenn.js):
//
//	version: string, simd: boolean
//	info() -> {version, simd, heapBytes, sysBytes, models, trainers}
//	load(bytes: Uint8Array) -> handle           decode and compile a .enn model
//	describe(handle) -> {name, inputs, outputs: [{name, shape}], metadata}
//	run(handle, ...inputs: Float32Array[]) -> Float32Array[]
//	profile(handle, runs, ...inputs) -> [{name, op, medianMs, minMs}]
//	evaluate(handle, xs: Float32Array, labels: Int32Array) -> {loss, accuracy}
//	cuts(handle, runs, ...inputs) -> [{index, tensor, shape, bytes, headMs}]
//	        the compiled graph's cut points (engine.Cuts), headMs the profiled
//	        time of the nodes before each (cumulative; the last is the whole model)
//	runHead(handle, cut, ...inputs) -> Float32Array   the value crossing cut
//	        (a position in cuts' list)
//	runTail(handle, at: string, x: Float32Array) -> Float32Array[]   the
//	        outputs, run from the value at (engine.CutAt); halves are compiled
//	        once per cut
//	free(handle)
//	trainer(handle, {optimizer, lr, momentum, nesterov, weightDecay, beta1,
//	        beta2, epsilon, trainable, batchSize, loss, seed}) -> trainer handle
//	step(trainer, xs, labels: Int32Array | targets: Float32Array) -> loss
//	fitBegin(trainer, batchSize, xs, labels[, evalXs, evalLabels]) -> batch size
//	fitEpoch(trainer, epoch, seed, onBatch(epoch, step, steps, loss)) ->
//	        {epoch, loss[, evalLoss, evalAccuracy]}
//	fitEnd(trainer)
//	trainerEvaluate(trainer, xs, labels) -> {loss, accuracy}
//	save(trainer, optimizerState: boolean) -> Uint8Array (.enn)
//	freeTrainer(trainer)
//
// Every function that fails returns an Error whose message names the cause,
// instead of throwing across the Go/JS boundary. Tensors cross as one bulk
// copy each, never element by element; one call runs a whole graph or a
// whole training epoch.
package main
