//go:build !(js && wasm)

package main

// wasmMemoryBytes is 0 outside WebAssembly.
func wasmMemoryBytes() int { return 0 }
