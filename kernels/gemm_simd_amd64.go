//go:build goexperiment.simd && go1.27 && amd64

package kernels

import "simd/archsimd"

// gemmSIMDOK reports whether the GEMM, direct and depthwise convolution
// micro-kernels may run their SIMD versions: on amd64 only when the CPU has AVX2, which
// archsimd's Float32x4 broadcast needs (its arithmetic needs AVX, which AVX2
// implies). Read once, before the init functions choose the kernels.
var gemmSIMDOK = archsimd.X86.AVX2()

// gemmMax returns max(c, v) lane by lane, with Go's max on the values the
// micro-kernels clamp: c a sum, never -0 (sums start from +0 and round to
// nearest, so a zero sum is +0), and v a bound that is not NaN (gemmClamp
// leaves those to Activate). It is a compare and a blend, not VMAXPS:
// VMAXPS returns its second operand when a lane is NaN or both are zeros,
// and the compiler treats it as commutative, free to swap the operands.
// Here a NaN sum passes through unchanged, as Go's max returns it, and
// max(+0, -0) is +0.
func gemmMax(c, v archsimd.Float32x4) archsimd.Float32x4 { return v.IfElse(c.Less(v), c) }

// gemmMin returns min(c, v) lane by lane, like gemmMax: c, the result of
// gemmMax, may be -0 (when the lower bound is -0), and min(-0, +0) is -0
// as in Go. Only min(+0, -0) differs (Go gives -0), so gemmClamp leaves an
// upper bound of -0 to Activate.
func gemmMin(c, v archsimd.Float32x4) archsimd.Float32x4 { return v.IfElse(c.Greater(v), c) }
