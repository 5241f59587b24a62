//go:build goexperiment.simd && go1.27 && amd64

package kernels

import (
	"math"
	"simd/archsimd"
	"unsafe"
)

// gemmPanelSIMD is the 4x8 register-tiled micro-kernel (gemmTileSIMD)
// swept over mt tiles of 4 rows. It checks the extent of a, bp and dst once;
// the tiles then address them with unsafe.Add.
func gemmPanelSIMD(k, mt int, a []float32, lda int, bp []float32, bias *[gemmNR]float32, lo, hi float32, dst []float32, ldd int) {
	if mt <= 0 {
		return
	}
	// Invariant for the unsafe addressing in gemmTileSIMD: row r < 4*mt of
	// A is a[r*lda : r*lda+k], bp holds k*8 values and row r of dst is
	// dst[r*ldd : r*ldd+8]; every pointer formed stays within these (or one
	// past the end of a row, never dereferenced).
	checkGemmPanel(k, mt, a, lda, bp, dst, ldd, gemmNR)
	ab, bb, db := unsafe.Pointer(unsafe.SliceData(a)), unsafe.Pointer(unsafe.SliceData(bp)), unsafe.Pointer(unsafe.SliceData(dst))
	lda4, ldd4 := uintptr(lda)*4, uintptr(ldd)*4
	for t := uintptr(0); t < uintptr(mt); t++ {
		o := t * gemmMR * lda4
		gemmTileSIMD(uintptr(k), ab, o, o+lda4, o+2*lda4, o+3*lda4, bb, nil, nil, unsafe.Add(db, t*gemmMR*ldd4), ldd4, bias, lo, hi)
	}
}

// gemmAcc is a 4x8 tile of accumulators: rows r, halves h at [2*r+h].
type gemmAcc [2 * gemmMR]archsimd.Float32x4

// gemmTileSIMD computes one 4x8 tile of C in 8 accumulators of 4 lanes, in
// gemmPanelScalar's per-element order (so with the same bits): row r of A is
// the n values at xb+o_r, B the packed panel at pb (n steps of 8). The sums
// start from *in, or from zero when in is nil. With out non-nil it stores
// the sums there and returns (a direct convolution sums one patch row per
// call); otherwise row r of clamp(sum + bias, lo, hi) goes to d+r*ldd4. The
// caller guarantees all of these are in range. Each k step is one broadcast
// of A per row and two loads of B.
//
// amd64 builds run it; wasm builds run gemmTileWasm, its assembly
// counterpart (gemm_tile_wasm.s). Its shape is what Go's wasm backend and V8
// kept in registers when wasm ran it (the 4-way unrolled loop it replaced
// spilled):
//   - one call per tile, so that its loop is the only loop of its function
//     and V8 has the general registers for its pointers (with a second,
//     outer loop over patch rows here, V8 spilled them);
//   - no test at the loop's head (do-while), so that the body is the block
//     holding the accumulators' phis: Go's scheduler then keeps each
//     multiply next to its add, where it would otherwise issue all eight
//     multiplies first and spill an accumulator to memory every step;
//   - loads written out in the body, not through gemmLoad/gemmSplat: the
//     scheduler orders by source line, and an inlined helper's line
//     hoisted every load (and its pointer) to the top;
//   - not unrolled: unrolled by 2 or 4 it measured slower;
//   - row pointers formed by unsafe.Add from xb, which Go knows are not
//     nil, so the loop has no nil check.
//
//go:noinline
func gemmTileSIMD(n uintptr, xb unsafe.Pointer, o0, o1, o2, o3 uintptr, pb unsafe.Pointer, in, out *gemmAcc, d unsafe.Pointer, ldd4 uintptr, bias *[gemmNR]float32, lo, hi float32) {
	var c00, c01, c10, c11, c20, c21, c30, c31 archsimd.Float32x4
	if in != nil {
		c00, c01, c10, c11, c20, c21, c30, c31 = in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7]
	}
	p0, p1, p2, p3 := unsafe.Add(xb, o0), unsafe.Add(xb, o1), unsafe.Add(xb, o2), unsafe.Add(xb, o3)
	if n > 0 {
		for {
			b0 := archsimd.LoadFloat32x4Array((*[4]float32)(pb))
			b1 := archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(pb, 16)))
			x := archsimd.BroadcastFloat32x4(*(*float32)(p0))
			c00 = c00.Add(x.Mul(b0))
			c01 = c01.Add(x.Mul(b1))
			x = archsimd.BroadcastFloat32x4(*(*float32)(p1))
			c10 = c10.Add(x.Mul(b0))
			c11 = c11.Add(x.Mul(b1))
			x = archsimd.BroadcastFloat32x4(*(*float32)(p2))
			c20 = c20.Add(x.Mul(b0))
			c21 = c21.Add(x.Mul(b1))
			x = archsimd.BroadcastFloat32x4(*(*float32)(p3))
			c30 = c30.Add(x.Mul(b0))
			c31 = c31.Add(x.Mul(b1))
			if n--; n == 0 {
				break
			}
			// Advanced after the test, so that no pointer goes past its row.
			pb = unsafe.Add(pb, 32)
			p0, p1, p2, p3 = unsafe.Add(p0, 4), unsafe.Add(p1, 4), unsafe.Add(p2, 4), unsafe.Add(p3, 4)
		}
	}
	if out != nil {
		out[0], out[1], out[2], out[3], out[4], out[5], out[6], out[7] = c00, c01, c10, c11, c20, c21, c30, c31
		return
	}
	bv0 := archsimd.LoadFloat32x4Array((*[4]float32)(bias[0:4]))
	bv1 := archsimd.LoadFloat32x4Array((*[4]float32)(bias[4:8]))
	c00, c01 = c00.Add(bv0), c01.Add(bv1)
	c10, c11 = c10.Add(bv0), c11.Add(bv1)
	c20, c21 = c20.Add(bv0), c21.Add(bv1)
	c30, c31 = c30.Add(bv0), c31.Add(bv1)
	// max(x, -Inf) and min(x, +Inf) are x, NaN included: skip them (V8
	// lowers each wasm f32x4.max or min to about 8 instructions).
	if lo >= -math.MaxFloat32 {
		vlo := archsimd.BroadcastFloat32x4(lo)
		c00, c01 = gemmMax(c00, vlo), gemmMax(c01, vlo)
		c10, c11 = gemmMax(c10, vlo), gemmMax(c11, vlo)
		c20, c21 = gemmMax(c20, vlo), gemmMax(c21, vlo)
		c30, c31 = gemmMax(c30, vlo), gemmMax(c31, vlo)
	}
	if hi <= math.MaxFloat32 {
		vhi := archsimd.BroadcastFloat32x4(hi)
		c00, c01 = gemmMin(c00, vhi), gemmMin(c01, vhi)
		c10, c11 = gemmMin(c10, vhi), gemmMin(c11, vhi)
		c20, c21 = gemmMin(c20, vhi), gemmMin(c21, vhi)
		c30, c31 = gemmMin(c30, vhi), gemmMin(c31, vhi)
	}
	c00.StoreArray((*[4]float32)(d))
	c01.StoreArray((*[4]float32)(unsafe.Add(d, 16)))
	d = unsafe.Add(d, ldd4)
	c10.StoreArray((*[4]float32)(d))
	c11.StoreArray((*[4]float32)(unsafe.Add(d, 16)))
	d = unsafe.Add(d, ldd4)
	c20.StoreArray((*[4]float32)(d))
	c21.StoreArray((*[4]float32)(unsafe.Add(d, 16)))
	d = unsafe.Add(d, ldd4)
	c30.StoreArray((*[4]float32)(d))
	c31.StoreArray((*[4]float32)(unsafe.Add(d, 16)))
}
