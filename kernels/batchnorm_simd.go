//go:build goexperiment.simd && go1.27

package kernels

import "simd/archsimd"

func init() {
	hot.batchNorm, hotSIMD.batchNorm = batchNormSIMD, batchNormSIMD
	haveSIMD = true
}

// batchNormSIMD is batchNormScalar four channels at a time (sub, mul, add:
// no FMA, as in the scalar twin).
func batchNormSIMD(x, y []float32, c int, scale, bias, mean, variance []float32, eps float32) {
	var a [bnChunk]float32
	for c0 := 0; c0 < c; c0 += bnChunk {
		cn := min(bnChunk, c-c0)
		bnFactors(a[:cn], scale[c0:], variance[c0:], eps)
		m, b := mean[c0:c0+cn], bias[c0:c0+cn]
		c4 := cn &^ 3
		for o := c0; o+cn <= len(x); o += c {
			xr, yr := x[o:o+cn], y[o:o+cn]
			j := 0
			for ; j < c4; j += 4 {
				v := archsimd.LoadFloat32x4(xr[j:]).Sub(archsimd.LoadFloat32x4(m[j:]))
				v.Mul(archsimd.LoadFloat32x4(a[j:])).Add(archsimd.LoadFloat32x4(b[j:])).Store(yr[j:])
			}
			for ; j < cn; j++ {
				yr[j] = float32((xr[j]-m[j])*a[j]) + b[j]
			}
		}
	}
}
