//go:build js && wasm

package main

import (
	"runtime"
	"syscall/js"
)

// Memory profiling off, as in wasm/main.go: Go 1.27.3's js/wasm runtime can
// crash when a sampled allocation in beforeIdle takes a stack trace.
func init() { runtime.MemProfileRate = 0 }

// wasmMemoryBytes returns the size of this module's WebAssembly linear memory
// when the runner exposes it (scripts/wasm_run.js does), else 0.
func wasmMemoryBytes() int {
	f := js.Global().Get("edgennWasmMemoryBytes")
	if f.Type() != js.TypeFunction {
		return 0
	}
	return f.Invoke().Int()
}
