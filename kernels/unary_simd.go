//go:build goexperiment.simd && go1.27 && wasm

// Built for wasm only, like gemm_simd.go: on amd64 archsimd.Float32x4 compiles
// but needs AVX/AVX2 at run time (CPU dispatch we do not need on the host)
// and VMAXPS/VMINPS do not follow Go's max/min on NaN and signed zeros.

package kernels

import "simd/archsimd"

func init() {
	hot.activate, hotSIMD.activate = activateSIMD, activateSIMD
	haveSIMD = true
}

// activateSIMD is Activate four lanes at a time for the piecewise-linear
// activations and HardSwish, with the same operations in the same order;
// the rest, and the tail, go to Activate.
func activateSIMD(x []float32, ep Epilogue) {
	if i := activateSIMD4(x, ep); i < len(x) {
		Activate(x[i:], ep)
	}
}

// activateSIMD4 runs the whole groups of four lanes it has a SIMD loop for
// and returns how many elements it did. It calls nothing: a call inside the
// loop's function slows the loop down in Go's wasm port.
func activateSIMD4(x []float32, ep Epilogue) int {
	n := len(x)
	i := 0
	zero := archsimd.BroadcastFloat32x4(0)
	switch ep.Act {
	case ActReLU:
		for ; i <= n-4; i += 4 {
			archsimd.LoadFloat32x4(x[i:]).Max(zero).Store(x[i:])
		}
	case ActReLU6:
		six := archsimd.BroadcastFloat32x4(6)
		for ; i <= n-4; i += 4 {
			archsimd.LoadFloat32x4(x[i:]).Max(zero).Min(six).Store(x[i:])
		}
	case ActClip:
		lo, hi := archsimd.BroadcastFloat32x4(ep.Lo), archsimd.BroadcastFloat32x4(ep.Hi)
		for ; i <= n-4; i += 4 {
			archsimd.LoadFloat32x4(x[i:]).Max(lo).Min(hi).Store(x[i:])
		}
	case ActLeakyReLU:
		alpha := archsimd.BroadcastFloat32x4(ep.Alpha)
		for ; i <= n-4; i += 4 {
			v := archsimd.LoadFloat32x4(x[i:])
			v.Mul(alpha).IfElse(v.Less(zero), v).Store(x[i:])
		}
	case ActHardSwish:
		three, six := archsimd.BroadcastFloat32x4(3), archsimd.BroadcastFloat32x4(6)
		for ; i <= n-4; i += 4 {
			v := archsimd.LoadFloat32x4(x[i:])
			v.Mul(v.Add(three).Max(zero).Min(six)).Div(six).Store(x[i:])
		}
	}
	return i
}
