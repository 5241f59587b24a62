//go:build js && wasm

package engine

import "runtime"

// Memory profiling off in the wasm test binary (which links the profiler):
// Go 1.27.3's js/wasm runtime can crash with "invalid runtime symbol table"
// when an allocation sampled in beforeIdle (the scheduler going idle to
// wait for JS events) takes a stack trace; these tests hit it 2 runs in 52
// with sampling on (wasm/main.go does the same for the shipped module).
func init() { runtime.MemProfileRate = 0 }
