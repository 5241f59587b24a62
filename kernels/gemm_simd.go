//go:build goexperiment.simd && go1.27 && (wasm || amd64)

// The GEMM micro-kernels (and, built under the same condition, the direct
// and depthwise convolution ones in conv2d_simd.go and depthwise_simd.go) are
// built for wasm (SIMD128) and for amd64, where archsimd.Float32x4 is AVX and
// its broadcast needs AVX2 at run time: there the init functions install them
// only when the CPU has it (gemmSIMDOK). They clamp through gemmMax and
// gemmMin, which give Go's max and min on the values these kernels clamp
// (sums, never -0) on both targets. The other SIMD kernels (activations,
// pooling) stay wasm-only: they apply max and min to arbitrary inputs, where
// amd64's VMAXPS and VMINPS do not follow Go on NaN and signed zeros.

package kernels

import (
	"math"
	"simd/archsimd"
	"unsafe"
)

func init() {
	if !gemmSIMDOK {
		return
	}
	gemmSIMD = true
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

// gemmPanelSIMD is the 4x8 register-tiled micro-kernel (gemmTileSIMD)
// swept over mt tiles of 4 rows. It checks the extent of a, bp and dst once;
// the tiles then address them with unsafe.Add.
func gemmPanelSIMD(k, mt int, a []float32, lda int, bp []float32, bias *[gemmNR]float32, lo, hi float32, dst []float32, ldd int) {
	if mt <= 0 {
		return
	}
	rows := mt * gemmMR
	// Invariant for the unsafe addressing in gemmTileSIMD: row r < rows of
	// A is a[r*lda : r*lda+k], bp holds k*8 values and row r of dst is
	// dst[r*ldd : r*ldd+8]; every pointer formed stays within these (or one
	// past the end of a row, never dereferenced).
	if k < 0 || lda < k || ldd < gemmNR || len(a) < (rows-1)*lda+k || len(bp) < k*gemmNR || len(dst) < (rows-1)*ldd+gemmNR {
		panic("kernels: gemm panel out of bounds")
	}
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
// Its shape is what Go's wasm backend and V8 keep in registers (the 4-way
// unrolled loop it replaced spilled):
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

// gemmStoreSIMD stores clamp(c0|c1 + bias) into the 8 float32s at d.
func gemmStoreSIMD(d unsafe.Pointer, c0, c1, bv0, bv1, lo, hi archsimd.Float32x4) {
	gemmMin(gemmMax(c0.Add(bv0), lo), hi).StoreArray((*[4]float32)(d))
	gemmMin(gemmMax(c1.Add(bv1), lo), hi).StoreArray((*[4]float32)(unsafe.Add(d, 16)))
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
