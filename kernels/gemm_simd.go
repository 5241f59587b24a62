//go:build goexperiment.simd && go1.27 && wasm

// The SIMD kernels are built for wasm only. archsimd.Float32x4 does compile
// on amd64 with GOEXPERIMENT=simd, but there BroadcastFloat32x4 needs AVX2 at
// run time (so it would need CPU dispatch) and VMAXPS/VMINPS do not follow
// Go's max/min on NaN, which would break the bit-identity with the scalar
// twin; the native build serves the host, where these kernels are not the
// bottleneck, so it keeps the scalar code.

package kernels

import (
	"simd/archsimd"
	"unsafe"
)

func init() {
	gemmPanel = gemmPanelSIMD
	gemmRow = gemmRowSIMD
	gemmRow4 = gemmRow4SIMD
}

// gemmLoad loads the 4 float32s at p.
func gemmLoad(p unsafe.Pointer) archsimd.Float32x4 {
	return archsimd.LoadFloat32x4Array((*[4]float32)(p))
}

// gemmSplat broadcasts the float32 at p to 4 lanes.
func gemmSplat(p unsafe.Pointer) archsimd.Float32x4 {
	return archsimd.BroadcastFloat32x4(*(*float32)(p))
}

// gemmPanelSIMD is the 4x8 register-tiled micro-kernel swept over mt tiles
// of 4 rows: 8 accumulators of 4 lanes, one broadcast of A and two loads of B
// per k, k unrolled by 4. Its per-element order is gemmPanelScalar's, so
// results are bit-identical. It checks the extent of a, bp and dst once, then
// addresses them with unsafe.Add: slicing per step cost more than the
// arithmetic in wasm.
func gemmPanelSIMD(k, mt int, a []float32, lda int, bp []float32, bias *[gemmNR]float32, lo, hi float32, dst []float32, ldd int) {
	if mt <= 0 {
		return
	}
	rows := mt * gemmMR
	// Invariant for the unsafe addressing below: row r < rows of A is
	// a[r*lda : r*lda+k], bp holds k*8 values and row r of dst is
	// dst[r*ldd : r*ldd+8]; every pointer formed stays within these (or one
	// past the end of a row, never dereferenced).
	if k < 0 || lda < k || ldd < gemmNR || len(a) < (rows-1)*lda+k || len(bp) < k*gemmNR || len(dst) < (rows-1)*ldd+gemmNR {
		panic("kernels: gemm panel out of bounds")
	}
	bv0 := archsimd.LoadFloat32x4Array((*[4]float32)(bias[0:4]))
	bv1 := archsimd.LoadFloat32x4Array((*[4]float32)(bias[4:8]))
	vlo, vhi := archsimd.BroadcastFloat32x4(lo), archsimd.BroadcastFloat32x4(hi)
	ab, bb, db := unsafe.Pointer(unsafe.SliceData(a)), unsafe.Pointer(unsafe.SliceData(bp)), unsafe.Pointer(unsafe.SliceData(dst))
	lda4, ldd4 := uintptr(lda)*4, uintptr(ldd)*4
	k4 := k &^ 3
	for t := 0; t < mt; t++ {
		p0 := unsafe.Add(ab, uintptr(t)*gemmMR*lda4)
		p1 := unsafe.Add(p0, lda4)
		p2 := unsafe.Add(p1, lda4)
		p3 := unsafe.Add(p2, lda4)
		pb := bb
		var c00, c01, c10, c11, c20, c21, c30, c31 archsimd.Float32x4
		for p := 0; p < k4; p += 4 {
			b0, b1 := gemmLoad(pb), gemmLoad(unsafe.Add(pb, 16))
			x := gemmSplat(p0)
			c00 = c00.Add(x.Mul(b0))
			c01 = c01.Add(x.Mul(b1))
			x = gemmSplat(p1)
			c10 = c10.Add(x.Mul(b0))
			c11 = c11.Add(x.Mul(b1))
			x = gemmSplat(p2)
			c20 = c20.Add(x.Mul(b0))
			c21 = c21.Add(x.Mul(b1))
			x = gemmSplat(p3)
			c30 = c30.Add(x.Mul(b0))
			c31 = c31.Add(x.Mul(b1))
			b0, b1 = gemmLoad(unsafe.Add(pb, 32)), gemmLoad(unsafe.Add(pb, 48))
			x = gemmSplat(unsafe.Add(p0, 4))
			c00 = c00.Add(x.Mul(b0))
			c01 = c01.Add(x.Mul(b1))
			x = gemmSplat(unsafe.Add(p1, 4))
			c10 = c10.Add(x.Mul(b0))
			c11 = c11.Add(x.Mul(b1))
			x = gemmSplat(unsafe.Add(p2, 4))
			c20 = c20.Add(x.Mul(b0))
			c21 = c21.Add(x.Mul(b1))
			x = gemmSplat(unsafe.Add(p3, 4))
			c30 = c30.Add(x.Mul(b0))
			c31 = c31.Add(x.Mul(b1))
			b0, b1 = gemmLoad(unsafe.Add(pb, 64)), gemmLoad(unsafe.Add(pb, 80))
			x = gemmSplat(unsafe.Add(p0, 8))
			c00 = c00.Add(x.Mul(b0))
			c01 = c01.Add(x.Mul(b1))
			x = gemmSplat(unsafe.Add(p1, 8))
			c10 = c10.Add(x.Mul(b0))
			c11 = c11.Add(x.Mul(b1))
			x = gemmSplat(unsafe.Add(p2, 8))
			c20 = c20.Add(x.Mul(b0))
			c21 = c21.Add(x.Mul(b1))
			x = gemmSplat(unsafe.Add(p3, 8))
			c30 = c30.Add(x.Mul(b0))
			c31 = c31.Add(x.Mul(b1))
			b0, b1 = gemmLoad(unsafe.Add(pb, 96)), gemmLoad(unsafe.Add(pb, 112))
			x = gemmSplat(unsafe.Add(p0, 12))
			c00 = c00.Add(x.Mul(b0))
			c01 = c01.Add(x.Mul(b1))
			x = gemmSplat(unsafe.Add(p1, 12))
			c10 = c10.Add(x.Mul(b0))
			c11 = c11.Add(x.Mul(b1))
			x = gemmSplat(unsafe.Add(p2, 12))
			c20 = c20.Add(x.Mul(b0))
			c21 = c21.Add(x.Mul(b1))
			x = gemmSplat(unsafe.Add(p3, 12))
			c30 = c30.Add(x.Mul(b0))
			c31 = c31.Add(x.Mul(b1))
			pb = unsafe.Add(pb, 128)
			p0, p1, p2, p3 = unsafe.Add(p0, 16), unsafe.Add(p1, 16), unsafe.Add(p2, 16), unsafe.Add(p3, 16)
		}
		for p := k4; p < k; p++ {
			b0, b1 := gemmLoad(pb), gemmLoad(unsafe.Add(pb, 16))
			x := gemmSplat(p0)
			c00 = c00.Add(x.Mul(b0))
			c01 = c01.Add(x.Mul(b1))
			x = gemmSplat(p1)
			c10 = c10.Add(x.Mul(b0))
			c11 = c11.Add(x.Mul(b1))
			x = gemmSplat(p2)
			c20 = c20.Add(x.Mul(b0))
			c21 = c21.Add(x.Mul(b1))
			x = gemmSplat(p3)
			c30 = c30.Add(x.Mul(b0))
			c31 = c31.Add(x.Mul(b1))
			pb = unsafe.Add(pb, 32)
			p0, p1, p2, p3 = unsafe.Add(p0, 4), unsafe.Add(p1, 4), unsafe.Add(p2, 4), unsafe.Add(p3, 4)
		}
		d := unsafe.Add(db, uintptr(t)*gemmMR*ldd4)
		gemmStoreSIMD(d, c00, c01, bv0, bv1, vlo, vhi)
		d = unsafe.Add(d, ldd4)
		gemmStoreSIMD(d, c10, c11, bv0, bv1, vlo, vhi)
		d = unsafe.Add(d, ldd4)
		gemmStoreSIMD(d, c20, c21, bv0, bv1, vlo, vhi)
		d = unsafe.Add(d, ldd4)
		gemmStoreSIMD(d, c30, c31, bv0, bv1, vlo, vhi)
	}
}

// gemmStoreSIMD stores clamp(c0|c1 + bias) into the 8 float32s at d.
func gemmStoreSIMD(d unsafe.Pointer, c0, c1, bv0, bv1, lo, hi archsimd.Float32x4) {
	c0.Add(bv0).Max(lo).Min(hi).StoreArray((*[4]float32)(d))
	c1.Add(bv1).Max(lo).Min(hi).StoreArray((*[4]float32)(unsafe.Add(d, 16)))
}

// gemmRowSIMD is one row of gemmPanelSIMD.
func gemmRowSIMD(k int, a []float32, bp []float32, bias *[gemmNR]float32, lo, hi float32, dst []float32) {
	// Invariant for the unsafe addressing: a holds k values, bp k*8, dst 8.
	if k < 0 || len(a) < k || len(bp) < k*gemmNR || len(dst) < gemmNR {
		panic("kernels: gemm row out of bounds")
	}
	pa, pb := unsafe.Pointer(unsafe.SliceData(a)), unsafe.Pointer(unsafe.SliceData(bp))
	var c0, c1 archsimd.Float32x4
	for range k {
		x := gemmSplat(pa)
		c0 = c0.Add(x.Mul(gemmLoad(pb)))
		c1 = c1.Add(x.Mul(gemmLoad(unsafe.Add(pb, 16))))
		pa, pb = unsafe.Add(pa, 4), unsafe.Add(pb, 32)
	}
	bv0 := archsimd.LoadFloat32x4Array((*[4]float32)(bias[0:4]))
	bv1 := archsimd.LoadFloat32x4Array((*[4]float32)(bias[4:8]))
	gemmStoreSIMD(unsafe.Pointer(unsafe.SliceData(dst)), c0, c1, bv0, bv1, archsimd.BroadcastFloat32x4(lo), archsimd.BroadcastFloat32x4(hi))
}

// gemmRow4SIMD is gemmRowSIMD against 4 consecutive panels at once: 8
// independent accumulators instead of 2 dependent chains, for batch-1 dense
// layers and the rows left over after the last full tile.
func gemmRow4SIMD(k int, a []float32, bp []float32, bias *[gemmRowPanels * gemmNR]float32, lo, hi float32, dst []float32) {
	const w = gemmRowPanels * gemmNR
	// Invariant for the unsafe addressing: a holds k values, bp the 4 panels
	// (4*k*8 values, panel q at q*k*8), dst 32.
	if k < 0 || len(a) < k || len(bp) < gemmRowPanels*k*gemmNR || len(dst) < w {
		panic("kernels: gemm row out of bounds")
	}
	pa, pb0 := unsafe.Pointer(unsafe.SliceData(a)), unsafe.Pointer(unsafe.SliceData(bp))
	ps := uintptr(k) * gemmNR * 4 // bytes between panels
	pb1 := unsafe.Add(pb0, ps)
	pb2 := unsafe.Add(pb1, ps)
	pb3 := unsafe.Add(pb2, ps)
	var c0, c1, c2, c3, c4, c5, c6, c7 archsimd.Float32x4
	for range k {
		x := gemmSplat(pa)
		c0 = c0.Add(x.Mul(gemmLoad(pb0)))
		c1 = c1.Add(x.Mul(gemmLoad(unsafe.Add(pb0, 16))))
		c2 = c2.Add(x.Mul(gemmLoad(pb1)))
		c3 = c3.Add(x.Mul(gemmLoad(unsafe.Add(pb1, 16))))
		c4 = c4.Add(x.Mul(gemmLoad(pb2)))
		c5 = c5.Add(x.Mul(gemmLoad(unsafe.Add(pb2, 16))))
		c6 = c6.Add(x.Mul(gemmLoad(pb3)))
		c7 = c7.Add(x.Mul(gemmLoad(unsafe.Add(pb3, 16))))
		pa = unsafe.Add(pa, 4)
		pb0, pb1, pb2, pb3 = unsafe.Add(pb0, 32), unsafe.Add(pb1, 32), unsafe.Add(pb2, 32), unsafe.Add(pb3, 32)
	}
	vlo, vhi := archsimd.BroadcastFloat32x4(lo), archsimd.BroadcastFloat32x4(hi)
	pbias, d := unsafe.Pointer(bias), unsafe.Pointer(unsafe.SliceData(dst))
	gemmStoreSIMD(d, c0, c1, gemmLoad(pbias), gemmLoad(unsafe.Add(pbias, 16)), vlo, vhi)
	gemmStoreSIMD(unsafe.Add(d, 32), c2, c3, gemmLoad(unsafe.Add(pbias, 32)), gemmLoad(unsafe.Add(pbias, 48)), vlo, vhi)
	gemmStoreSIMD(unsafe.Add(d, 64), c4, c5, gemmLoad(unsafe.Add(pbias, 64)), gemmLoad(unsafe.Add(pbias, 80)), vlo, vhi)
	gemmStoreSIMD(unsafe.Add(d, 96), c6, c7, gemmLoad(unsafe.Add(pbias, 96)), gemmLoad(unsafe.Add(pbias, 112)), vlo, vhi)
}
