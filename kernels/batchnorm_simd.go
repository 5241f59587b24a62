//go:build goexperiment.simd && go1.27 && wasm

// Built for wasm only, like gemm_simd.go: on amd64 archsimd.Float32x4 compiles
// but needs AVX/AVX2 at run time (CPU dispatch we do not need on the host)
// and VMAXPS/VMINPS do not follow Go's max/min on NaN and signed zeros.

package kernels

import "simd/archsimd"

func init() {
	hot.batchNorm, hotSIMD.batchNorm = batchNormSIMD, batchNormSIMD
	haveSIMD = true
}

// batchNormSIMD is batchNormScalar four channels at a time (sub, mul, add:
// no FMA, as in the scalar twin), so the two agree bit for bit.
func batchNormSIMD(x, y []float32, c int, scale, bias, mean, variance []float32, eps float32) {
	var a [bnChunk]float32
	rows := len(x) / c
	x, y = x[:rows*c], y[:rows*c]
	for c0 := 0; c0 < c; c0 += bnChunk {
		cn := min(bnChunk, c-c0)
		bnFactors(a[:cn], scale[c0:], variance[c0:], eps)
		bnChunkSIMD(x, y, c, c0, mean[c0:c0+cn], a[:cn], bias[c0:c0+cn])
	}
}

// bnChunkSIMD applies channels [c0, c0+len(a)) of every row. It walks down
// the rows for each group of four channels so that the mean, factor and bias
// vectors stay in registers, in row blocks of about 16 KB that stay in the
// L1 cache, and calls nothing (see hotKernels).
func bnChunkSIMD(x, y []float32, c, c0 int, m, a, b []float32) {
	cn := len(a)
	m, b = m[:cn], b[:cn]
	rb := max(1, 4096/c) * c
	for r0 := 0; r0 < len(x); r0 += rb {
		xb, yb := x[r0:min(r0+rb, len(x))], y[r0:min(r0+rb, len(x))]
		j := 0
		for ; j <= cn-4; j += 4 {
			vm, va, vb := archsimd.LoadFloat32x4(m[j:]), archsimd.LoadFloat32x4(a[j:]), archsimd.LoadFloat32x4(b[j:])
			for o := c0 + j; o <= len(xb)-4; o += c {
				archsimd.LoadFloat32x4(xb[o:]).Sub(vm).Mul(va).Add(vb).Store(yb[o:])
			}
		}
		for ; j < cn; j++ {
			for o := c0 + j; o < len(xb); o += c {
				yb[o] = float32((xb[o]-m[j])*a[j]) + b[j]
			}
		}
	}
}
