//go:build goexperiment.simd && go1.27 && wasm

// Built for wasm only, like the forward SIMD kernels (see gemm_simd.go).

package kernels

import "simd/archsimd"

func init() {
	gradHot.reluGrad, gradHotSIMD.reluGrad = reluGradSIMD, reluGradSIMD
	haveGradSIMD = true
}

// reluGradSIMD is reluGradScalar four lanes at a time: dy kept where the
// comparisons hold (false for NaN, as in the scalar twin), else +0; the
// tail goes to the scalar loop.
func reluGradSIMD(six bool, x, dy, dx []float32) {
	if i := reluGradSIMD4(six, x, dy, dx); i < len(dy) {
		reluGradScalar(six, x[i:], dy[i:], dx[i:])
	}
}

// reluGradSIMD4 runs the whole groups of four lanes and returns how many
// elements it did. It calls nothing inside its loops (a call in the loop's
// function slows the loop down in Go's wasm port).
func reluGradSIMD4(six bool, x, dy, dx []float32) int {
	n := len(dy)
	x, dx = x[:n], dx[:n]
	zero := archsimd.BroadcastFloat32x4(0)
	i := 0
	if six {
		hi := archsimd.BroadcastFloat32x4(6)
		for ; i <= n-4; i += 4 {
			v := archsimd.LoadFloat32x4(x[i:])
			archsimd.LoadFloat32x4(dy[i:]).Masked(v.Greater(zero).And(v.Less(hi))).Store(dx[i:])
		}
		return i
	}
	for ; i <= n-4; i += 4 {
		archsimd.LoadFloat32x4(dy[i:]).Masked(archsimd.LoadFloat32x4(x[i:]).Greater(zero)).Store(dx[i:])
	}
	return i
}
