//go:build goexperiment.simd && go1.27 && (wasm || amd64)

package kernels

import (
	"runtime"
	"simd/archsimd"
	"testing"
)

// TestGemmSIMDChosen checks the run-time choice in a build that has the
// SIMD micro-kernels: always in wasm, on amd64 exactly when the CPU has
// AVX2 (GODEBUG=cpu.avx2=off runs the scalar twins).
func TestGemmSIMDChosen(t *testing.T) {
	want := runtime.GOARCH == "wasm" || archsimd.X86.AVX2()
	if GemmSIMD() != want {
		t.Fatalf("GemmSIMD() = %v on %s (AVX2 %v), want %v", GemmSIMD(), runtime.GOARCH, archsimd.X86.AVX2(), want)
	}
}
