// Command wasm is edgenn's browser module, edgenn.wasm; it builds for
// GOOS=js GOARCH=wasm. For now it is a thin layer over engine (the full JS API
// comes later): it sets globalThis.edgenn to an object with
//
//	load(bytes: Uint8Array) -> handle: number     compile a .enn model
//	inputs(handle), outputs(handle) -> [{name, shape}]
//	run(handle, ...inputs: Float32Array[]) -> Float32Array[]
//	free(handle)
//	simd: boolean, version: string
//
// Every function that fails returns an Error whose message names the cause,
// instead of throwing across the Go/JS boundary. Tensors cross as bulk copies,
// never element by element; one call runs a whole graph.
package main
