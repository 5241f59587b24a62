//go:build goexperiment.simd && go1.27 && amd64

package kernels

import (
	"math"
	"simd/archsimd"
	"unsafe"
)

// dwTile3x3S1SIMD computes g >= 1 groups of 4 consecutive output pixels of
// one block of 4 channels: pixel i of a group at xb+xo+i*c4, its tap (ky,
// kx) at +ky*rs4+kx*c4 with its weight at w+(3*ky+kx)*c4, the bias at b,
// the output at y+i*c4; the next group 4*c4 on. Each input vector is loaded
// once per row of taps and used for every pixel of the group it reaches (6
// loads a row instead of 12). V8 issues a block's loads ahead of its
// arithmetic, and nine weights, four sums and a row's inputs do not fit
// its 15 vector registers: so each tap row loads its own 3 weights and
// ends with a store that no later load may move above. Like gemmTileSIMD
// it is its own function with one loop, no test at its head and its loads
// written out, so that Go schedules it in source order. Each pixel's sum
// runs from zero over the taps in row-major order, as dwRowScalar's.
// amd64 builds run it; wasm builds run its assembly counterpart
// (depthwise_tile_wasm.s), whose notes on V8 come from this version.
//
//go:noinline
func dwTile3x3S1SIMD(g uintptr, xb unsafe.Pointer, xo, rs4, c4 uintptr, w, b, y unsafe.Pointer, lo, hi float32) {
	clampLo, clampHi := lo >= -math.MaxFloat32, hi <= math.MaxFloat32
	p := unsafe.Add(xb, xo)
	for {
		var a0, a1, a2, a3, v, wa, wb, wc archsimd.Float32x4
		var q unsafe.Pointer
		// Tap row 0: its 3 weights, then inputs j = 0..5 of the row, each
		// feeding pixels j-2..j.
		q = w
		wa = archsimd.LoadFloat32x4Array((*[4]float32)(q))
		q = unsafe.Add(q, c4)
		wb = archsimd.LoadFloat32x4Array((*[4]float32)(q))
		q = unsafe.Add(q, c4)
		wc = archsimd.LoadFloat32x4Array((*[4]float32)(q))
		q = p
		v = archsimd.LoadFloat32x4Array((*[4]float32)(q))
		a0 = a0.Add(v.Mul(wa))
		q = unsafe.Add(q, c4)
		v = archsimd.LoadFloat32x4Array((*[4]float32)(q))
		a0 = a0.Add(v.Mul(wb))
		a1 = a1.Add(v.Mul(wa))
		q = unsafe.Add(q, c4)
		v = archsimd.LoadFloat32x4Array((*[4]float32)(q))
		a0 = a0.Add(v.Mul(wc))
		a1 = a1.Add(v.Mul(wb))
		a2 = a2.Add(v.Mul(wa))
		q = unsafe.Add(q, c4)
		v = archsimd.LoadFloat32x4Array((*[4]float32)(q))
		a1 = a1.Add(v.Mul(wc))
		a2 = a2.Add(v.Mul(wb))
		a3 = a3.Add(v.Mul(wa))
		q = unsafe.Add(q, c4)
		v = archsimd.LoadFloat32x4Array((*[4]float32)(q))
		a2 = a2.Add(v.Mul(wc))
		a3 = a3.Add(v.Mul(wb))
		q = unsafe.Add(q, c4)
		v = archsimd.LoadFloat32x4Array((*[4]float32)(q))
		a3 = a3.Add(v.Mul(wc))
		// A store V8 cannot move loads above: it keeps the next row's
		// loads from being hoisted here, which would spill (the final
		// value overwrites it).
		a0.StoreArray((*[4]float32)(y))
		// Tap row 1: its 3 weights, then inputs j = 0..5 of the row, each
		// feeding pixels j-2..j.
		q = unsafe.Add(w, 3*c4)
		wa = archsimd.LoadFloat32x4Array((*[4]float32)(q))
		q = unsafe.Add(q, c4)
		wb = archsimd.LoadFloat32x4Array((*[4]float32)(q))
		q = unsafe.Add(q, c4)
		wc = archsimd.LoadFloat32x4Array((*[4]float32)(q))
		q = unsafe.Add(p, rs4)
		v = archsimd.LoadFloat32x4Array((*[4]float32)(q))
		a0 = a0.Add(v.Mul(wa))
		q = unsafe.Add(q, c4)
		v = archsimd.LoadFloat32x4Array((*[4]float32)(q))
		a0 = a0.Add(v.Mul(wb))
		a1 = a1.Add(v.Mul(wa))
		q = unsafe.Add(q, c4)
		v = archsimd.LoadFloat32x4Array((*[4]float32)(q))
		a0 = a0.Add(v.Mul(wc))
		a1 = a1.Add(v.Mul(wb))
		a2 = a2.Add(v.Mul(wa))
		q = unsafe.Add(q, c4)
		v = archsimd.LoadFloat32x4Array((*[4]float32)(q))
		a1 = a1.Add(v.Mul(wc))
		a2 = a2.Add(v.Mul(wb))
		a3 = a3.Add(v.Mul(wa))
		q = unsafe.Add(q, c4)
		v = archsimd.LoadFloat32x4Array((*[4]float32)(q))
		a2 = a2.Add(v.Mul(wc))
		a3 = a3.Add(v.Mul(wb))
		q = unsafe.Add(q, c4)
		v = archsimd.LoadFloat32x4Array((*[4]float32)(q))
		a3 = a3.Add(v.Mul(wc))
		// A store V8 cannot move loads above: it keeps the next row's
		// loads from being hoisted here, which would spill (the final
		// value overwrites it).
		a0.StoreArray((*[4]float32)(y))
		// Tap row 2: its 3 weights, then inputs j = 0..5 of the row, each
		// feeding pixels j-2..j.
		q = unsafe.Add(w, 6*c4)
		wa = archsimd.LoadFloat32x4Array((*[4]float32)(q))
		q = unsafe.Add(q, c4)
		wb = archsimd.LoadFloat32x4Array((*[4]float32)(q))
		q = unsafe.Add(q, c4)
		wc = archsimd.LoadFloat32x4Array((*[4]float32)(q))
		q = unsafe.Add(p, 2*rs4)
		v = archsimd.LoadFloat32x4Array((*[4]float32)(q))
		a0 = a0.Add(v.Mul(wa))
		q = unsafe.Add(q, c4)
		v = archsimd.LoadFloat32x4Array((*[4]float32)(q))
		a0 = a0.Add(v.Mul(wb))
		a1 = a1.Add(v.Mul(wa))
		q = unsafe.Add(q, c4)
		v = archsimd.LoadFloat32x4Array((*[4]float32)(q))
		a0 = a0.Add(v.Mul(wc))
		a1 = a1.Add(v.Mul(wb))
		a2 = a2.Add(v.Mul(wa))
		q = unsafe.Add(q, c4)
		v = archsimd.LoadFloat32x4Array((*[4]float32)(q))
		a1 = a1.Add(v.Mul(wc))
		a2 = a2.Add(v.Mul(wb))
		a3 = a3.Add(v.Mul(wa))
		q = unsafe.Add(q, c4)
		v = archsimd.LoadFloat32x4Array((*[4]float32)(q))
		a2 = a2.Add(v.Mul(wc))
		a3 = a3.Add(v.Mul(wb))
		q = unsafe.Add(q, c4)
		v = archsimd.LoadFloat32x4Array((*[4]float32)(q))
		a3 = a3.Add(v.Mul(wc))
		bv := archsimd.LoadFloat32x4Array((*[4]float32)(b))
		a0, a1, a2, a3 = a0.Add(bv), a1.Add(bv), a2.Add(bv), a3.Add(bv)
		if clampLo {
			l := archsimd.BroadcastFloat32x4(lo)
			a0, a1, a2, a3 = gemmMax(a0, l), gemmMax(a1, l), gemmMax(a2, l), gemmMax(a3, l)
		}
		if clampHi {
			h := archsimd.BroadcastFloat32x4(hi)
			a0, a1, a2, a3 = gemmMin(a0, h), gemmMin(a1, h), gemmMin(a2, h), gemmMin(a3, h)
		}
		a0.StoreArray((*[4]float32)(y))
		y = unsafe.Add(y, c4)
		a1.StoreArray((*[4]float32)(y))
		y = unsafe.Add(y, c4)
		a2.StoreArray((*[4]float32)(y))
		y = unsafe.Add(y, c4)
		a3.StoreArray((*[4]float32)(y))
		if g--; g == 0 {
			return
		}
		y = unsafe.Add(y, c4)
		p = unsafe.Add(p, 4*c4)
	}
}
