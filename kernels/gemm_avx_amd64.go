//go:build goexperiment.simd && go1.27 && amd64

package kernels

import (
	"math"
	"simd/archsimd"
	"unsafe"
)

// On amd64 the panel kernels work on 256-bit vectors: a panel's 8 columns
// are one Float32x8, and gemmPanel2AVX covers two panels at once, 4 rows by
// 16 columns in 8 accumulators: 64 multiply-adds per step for 2 loads of B
// and 4 broadcasts of A, with the 4 values of A and the 2 of B in registers
// too (14 of the 15 the compiler allocates; 8 rows by 8 columns needed 17
// and spilled). Lanes do not interact, so each element keeps
// gemmPanelScalar's order and bits.
func init() {
	if gemmSIMDOK {
		gemmPanel2 = gemmPanel2AVX
	}
}

// gemmWide is true where Gemm may call gemmPanel2.
const gemmWide = true

// gemmPanel2AVX is gemmPanel2 on AVX: mt tiles of 4 rows, each a call of
// gemm4x16AVX. It checks the extent of a, bp and dst once: bp holds the two
// panels (2*k*8 values, the second at k*8) and row r < 4*mt of dst is
// dst[r*ldd : r*ldd+16].
func gemmPanel2AVX(k, mt int, a []float32, lda int, bp []float32, bias *[2 * gemmNR]float32, lo, hi float32, dst []float32, ldd int) {
	if mt <= 0 {
		return
	}
	checkGemmPanel(k, mt, a, lda, bp, dst, ldd, 2*gemmNR)
	// The bounds go to the tile in memory, as vectors, and whether to
	// apply them as flags: Go's scalar float code is SSE-encoded, and SSE
	// code run while the upper halves of the YMM registers are in use can
	// cost hundreds of cycles (on the EPYC measured, a third of the tile's
	// speed at k = 32), so the tile must contain none.
	var bounds [2 * gemmNR]float32
	for i := range gemmNR {
		bounds[i], bounds[gemmNR+i] = lo, hi
	}
	var clamp uint8
	if lo >= -math.MaxFloat32 { // max(x, -Inf) is x, NaN included
		clamp |= 1
	}
	if hi <= math.MaxFloat32 {
		clamp |= 2
	}
	ab, bb, db := unsafe.Pointer(unsafe.SliceData(a)), unsafe.Pointer(unsafe.SliceData(bp)), unsafe.Pointer(unsafe.SliceData(dst))
	lda4, ldd4 := uintptr(lda)*4, uintptr(ldd)*4
	for t := uintptr(0); t < uintptr(mt); t++ {
		gemm4x16AVX(uintptr(k), unsafe.Add(ab, t*gemmMR*lda4), lda4, bb, unsafe.Add(db, t*gemmMR*ldd4), ldd4, bias, &bounds, clamp)
	}
}

// gemm4x16AVX computes the 4x16 block of C whose rows of A start at a (row
// stride lda4 bytes, n values each) against the two packed panels at pb
// (n steps of 8 each, the second n*32 bytes on), and stores row r of
// clamp(sum + bias) at d+r*ldd4: max with bounds[0:8] if clamp&1, min with
// bounds[8:16] if clamp&2. The caller guarantees all of these are in range.
// Like gemmTileSIMD its loop tests at the bottom, and no pointer moves past
// its row or panel. It clears the upper halves of the YMM registers before
// it returns: the compiler does not, and Go's scalar float code is SSE.
//
//go:noinline
func gemm4x16AVX(n uintptr, a unsafe.Pointer, lda4 uintptr, pb unsafe.Pointer, d unsafe.Pointer, ldd4 uintptr, bias, bounds *[2 * gemmNR]float32, clamp uint8) {
	var c00, c01, c10, c11, c20, c21, c30, c31 archsimd.Float32x8
	a0, a1, a2, a3 := a, unsafe.Add(a, lda4), unsafe.Add(a, 2*lda4), unsafe.Add(a, 3*lda4)
	pb0, pb1 := pb, unsafe.Add(pb, n*32)
	if n > 0 {
		for {
			b0 := archsimd.LoadFloat32x8Array((*[8]float32)(pb0))
			b1 := archsimd.LoadFloat32x8Array((*[8]float32)(pb1))
			x := archsimd.BroadcastFloat32x8(*(*float32)(a0))
			c00 = c00.Add(x.Mul(b0))
			c01 = c01.Add(x.Mul(b1))
			x = archsimd.BroadcastFloat32x8(*(*float32)(a1))
			c10 = c10.Add(x.Mul(b0))
			c11 = c11.Add(x.Mul(b1))
			x = archsimd.BroadcastFloat32x8(*(*float32)(a2))
			c20 = c20.Add(x.Mul(b0))
			c21 = c21.Add(x.Mul(b1))
			x = archsimd.BroadcastFloat32x8(*(*float32)(a3))
			c30 = c30.Add(x.Mul(b0))
			c31 = c31.Add(x.Mul(b1))
			if n--; n == 0 {
				break
			}
			pb0, pb1 = unsafe.Add(pb0, 32), unsafe.Add(pb1, 32)
			a0, a1, a2, a3 = unsafe.Add(a0, 4), unsafe.Add(a1, 4), unsafe.Add(a2, 4), unsafe.Add(a3, 4)
		}
	}
	bv0 := archsimd.LoadFloat32x8Array((*[8]float32)(bias[0:8]))
	bv1 := archsimd.LoadFloat32x8Array((*[8]float32)(bias[8:16]))
	c00, c01, c10, c11 = c00.Add(bv0), c01.Add(bv1), c10.Add(bv0), c11.Add(bv1)
	c20, c21, c30, c31 = c20.Add(bv0), c21.Add(bv1), c30.Add(bv0), c31.Add(bv1)
	if clamp&1 != 0 {
		v := archsimd.LoadFloat32x8Array((*[8]float32)(bounds[0:8]))
		c00, c01, c10, c11 = gemmMax8(c00, v), gemmMax8(c01, v), gemmMax8(c10, v), gemmMax8(c11, v)
		c20, c21, c30, c31 = gemmMax8(c20, v), gemmMax8(c21, v), gemmMax8(c30, v), gemmMax8(c31, v)
	}
	if clamp&2 != 0 {
		v := archsimd.LoadFloat32x8Array((*[8]float32)(bounds[8:16]))
		c00, c01, c10, c11 = gemmMin8(c00, v), gemmMin8(c01, v), gemmMin8(c10, v), gemmMin8(c11, v)
		c20, c21, c30, c31 = gemmMin8(c20, v), gemmMin8(c21, v), gemmMin8(c30, v), gemmMin8(c31, v)
	}
	c00.StoreArray((*[8]float32)(d))
	c01.StoreArray((*[8]float32)(unsafe.Add(d, 32)))
	d = unsafe.Add(d, ldd4)
	c10.StoreArray((*[8]float32)(d))
	c11.StoreArray((*[8]float32)(unsafe.Add(d, 32)))
	d = unsafe.Add(d, ldd4)
	c20.StoreArray((*[8]float32)(d))
	c21.StoreArray((*[8]float32)(unsafe.Add(d, 32)))
	d = unsafe.Add(d, ldd4)
	c30.StoreArray((*[8]float32)(d))
	c31.StoreArray((*[8]float32)(unsafe.Add(d, 32)))
	archsimd.ClearAVXUpperBits()
}

// gemmMax8 and gemmMin8 are gemmMax and gemmMin on 8 lanes.
func gemmMax8(c, v archsimd.Float32x8) archsimd.Float32x8 { return v.IfElse(c.Less(v), c) }

func gemmMin8(c, v archsimd.Float32x8) archsimd.Float32x8 { return v.IfElse(c.Greater(v), c) }
