//go:build js && wasm

package main

import "syscall/js"

// wasmMemoryBytes returns the size of this module's WebAssembly linear memory
// when the runner exposes it (scripts/wasm_run.js does), else 0.
func wasmMemoryBytes() int {
	f := js.Global().Get("edgennWasmMemoryBytes")
	if f.Type() != js.TypeFunction {
		return 0
	}
	return f.Invoke().Int()
}
