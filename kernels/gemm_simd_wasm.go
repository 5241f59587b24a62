//go:build goexperiment.simd && go1.27 && wasm

package kernels

import "simd/archsimd"

// gemmSIMDOK reports whether the GEMM, direct and depthwise convolution
// micro-kernels may run their SIMD versions: always in wasm, where SIMD128 is part of the
// build target and the engine that loads the module checks for it.
const gemmSIMDOK = true

// gemmMax returns max(c, v) lane by lane as Go's max gives it for the sums
// the micro-kernels clamp (never -0): wasm's f32x4.max propagates NaN and
// orders -0 below +0, as Go does.
func gemmMax(c, v archsimd.Float32x4) archsimd.Float32x4 { return c.Max(v) }

// gemmMin returns min(c, v) lane by lane; see gemmMax.
func gemmMin(c, v archsimd.Float32x4) archsimd.Float32x4 { return c.Min(v) }
