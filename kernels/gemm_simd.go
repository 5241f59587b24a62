//go:build goexperiment.simd && go1.27 && wasm

// The SIMD kernels are built for wasm only. archsimd.Float32x4 does compile
// on amd64 with GOEXPERIMENT=simd, but there BroadcastFloat32x4 needs AVX2 at
// run time (so it would need CPU dispatch) and VMAXPS/VMINPS do not follow
// Go's max/min on NaN, which would break the bit-identity with the scalar
// twin; the native build serves the host, where these kernels are not the
// bottleneck, so it keeps the scalar code.

package kernels

import "simd/archsimd"

func init() {
	gemmTile = gemmTileSIMD
	gemmRow = gemmRowSIMD
}

// gemmTileSIMD is the 4x8 register-tiled micro-kernel: 8 accumulators of 4
// lanes, one broadcast of A and two loads of B per k. Its per-element order is
// gemmTileScalar's, so results are bit-identical.
func gemmTileSIMD(k int, a []float32, lda int, bp []float32, bias *[gemmNR]float32, lo, hi float32, dst []float32, ldd int) {
	a0 := a[0:k:k]
	a1 := a[lda : lda+k : lda+k]
	a2 := a[2*lda : 2*lda+k : 2*lda+k]
	a3 := a[3*lda : 3*lda+k : 3*lda+k]
	bp = bp[: k*gemmNR : k*gemmNR]
	var c00, c01, c10, c11, c20, c21, c30, c31 archsimd.Float32x4
	for p := range a0 {
		b := bp[p*gemmNR : p*gemmNR+gemmNR : p*gemmNR+gemmNR]
		b0 := archsimd.LoadFloat32x4Array((*[4]float32)(b[0:4]))
		b1 := archsimd.LoadFloat32x4Array((*[4]float32)(b[4:8]))
		x := archsimd.BroadcastFloat32x4(a0[p])
		c00 = c00.Add(x.Mul(b0))
		c01 = c01.Add(x.Mul(b1))
		x = archsimd.BroadcastFloat32x4(a1[p])
		c10 = c10.Add(x.Mul(b0))
		c11 = c11.Add(x.Mul(b1))
		x = archsimd.BroadcastFloat32x4(a2[p])
		c20 = c20.Add(x.Mul(b0))
		c21 = c21.Add(x.Mul(b1))
		x = archsimd.BroadcastFloat32x4(a3[p])
		c30 = c30.Add(x.Mul(b0))
		c31 = c31.Add(x.Mul(b1))
	}
	bv0 := archsimd.LoadFloat32x4Array((*[4]float32)(bias[0:4]))
	bv1 := archsimd.LoadFloat32x4Array((*[4]float32)(bias[4:8]))
	vlo := archsimd.BroadcastFloat32x4(lo)
	vhi := archsimd.BroadcastFloat32x4(hi)
	gemmStoreSIMD(dst[0:8:8], c00, c01, bv0, bv1, vlo, vhi)
	gemmStoreSIMD(dst[ldd:ldd+8:ldd+8], c10, c11, bv0, bv1, vlo, vhi)
	gemmStoreSIMD(dst[2*ldd:2*ldd+8:2*ldd+8], c20, c21, bv0, bv1, vlo, vhi)
	gemmStoreSIMD(dst[3*ldd:3*ldd+8:3*ldd+8], c30, c31, bv0, bv1, vlo, vhi)
}

// gemmStoreSIMD stores clamp(c0|c1 + bias) into the 8 values of d.
func gemmStoreSIMD(d []float32, c0, c1, bv0, bv1, lo, hi archsimd.Float32x4) {
	c0.Add(bv0).Max(lo).Min(hi).StoreArray((*[4]float32)(d[0:4]))
	c1.Add(bv1).Max(lo).Min(hi).StoreArray((*[4]float32)(d[4:8]))
}

// gemmRowSIMD is one row of gemmTileSIMD.
func gemmRowSIMD(k int, a []float32, bp []float32, bias *[gemmNR]float32, lo, hi float32, dst []float32) {
	a = a[:k:k]
	bp = bp[: k*gemmNR : k*gemmNR]
	var c0, c1 archsimd.Float32x4
	for p, av := range a {
		b := bp[p*gemmNR : p*gemmNR+gemmNR : p*gemmNR+gemmNR]
		x := archsimd.BroadcastFloat32x4(av)
		c0 = c0.Add(x.Mul(archsimd.LoadFloat32x4Array((*[4]float32)(b[0:4]))))
		c1 = c1.Add(x.Mul(archsimd.LoadFloat32x4Array((*[4]float32)(b[4:8]))))
	}
	bv0 := archsimd.LoadFloat32x4Array((*[4]float32)(bias[0:4]))
	bv1 := archsimd.LoadFloat32x4Array((*[4]float32)(bias[4:8]))
	gemmStoreSIMD(dst[0:8:8], c0, c1, bv0, bv1, archsimd.BroadcastFloat32x4(lo), archsimd.BroadcastFloat32x4(hi))
}
