//go:build goexperiment.simd && go1.27 && (wasm || amd64)

// Built where gemm_simd.go is, and chosen when its kernels are (gemmSIMDOK):
// like them it clamps only sums (never -0), through gemmMax and gemmMin.

package kernels

import (
	"simd/archsimd"
	"unsafe"
)

func init() {
	if gemmSIMDOK {
		dwRow = dwRowSIMD
	}
}

// dwRowSIMD is the depthwise micro-kernel, 4 channels per vector; see
// dwRowScalar for what it computes. Its per-element order is the scalar
// twin's, so results are bit-identical.
func dwRowSIMD(x, w, bias []float32, t dwTaps, npix int, y []float32) {
	if t.nky == 3 && t.nkx == 3 && t.c >= 4 && t.cs == t.c && t.xstep == t.c && npix >= 4 {
		dwRow3x3S1SIMD(x, w, bias, t, npix, y)
		return
	}
	if t.nky == 3 && t.nkx == 3 && t.c >= 4 {
		dwRow3x3SIMD(x, w, bias, t, npix, y)
		return
	}
	if t.nky > 0 && t.nkx > 0 && t.c >= 4 && npix >= 4 {
		dwRowKxKSIMD(x, w, bias, t, npix, y)
		return
	}
	C, nky, nkx, rs, cs, wrs := t.c, t.nky, t.nkx, t.rs, t.cs, t.wrs
	vlo, vhi := archsimd.BroadcastFloat32x4(t.lo), archsimd.BroadcastFloat32x4(t.hi)
	cv := C &^ 3
	for i := 0; i < npix; i++ {
		xp := x[i*t.xstep:]
		yp := y[i*C : (i+1)*C]
		for ch := 0; ch < cv; ch += 4 {
			var acc archsimd.Float32x4
			for ky := 0; ky < nky; ky++ {
				xr, wr := xp[ky*rs+ch:], w[ky*wrs+ch:]
				for kx := 0; kx < nkx; kx++ {
					xv := archsimd.LoadFloat32x4Array((*[4]float32)(xr[kx*cs:]))
					wv := archsimd.LoadFloat32x4Array((*[4]float32)(wr[kx*C:]))
					acc = acc.Add(xv.Mul(wv))
				}
			}
			bv := archsimd.LoadFloat32x4Array((*[4]float32)(bias[ch:]))
			gemmMin(gemmMax(acc.Add(bv), vlo), vhi).StoreArray((*[4]float32)(yp[ch:]))
		}
	}
	if cv < C {
		dwRowScalarFrom(x, w, bias, t, npix, y, cv)
	}
}

// dwRow3x3S1SIMD is dwRowSIMD for a full 3x3 window at stride 1 and
// dilation 1 (BlazeFace's and Xception's depthwise layers) on runs of at
// least 4 pixels: per block of 4 channels, dwTile3x3S1SIMD sweeps the run 4
// pixels at a time, the pixels left over as one more group that overlaps
// the previous one (a pixel computed twice gets the same bits); the scalar
// twin takes the channels past the last whole vector. Same order, same bits.
func dwRow3x3S1SIMD(x, w, bias []float32, t dwTaps, npix int, y []float32) {
	C, rs := t.c, t.rs
	cv := C &^ 3
	// Invariant for dwTile3x3S1SIMD's unsafe addressing: for pixel i <
	// npix, tap (ky, kx) and ch < cv, x[(i+kx)*C+ky*rs+ch : +4] and
	// y[i*C+ch : +4] are in range; w holds the 9 taps of C channels.
	if len(x) < (npix-1)*C+2*rs+2*C+C || len(w) < 9*C || len(bias) < C || len(y) < npix*C {
		panic("kernels: depthwise 3x3 row out of bounds")
	}
	g := npix / 4
	xb, yb := unsafe.Pointer(unsafe.SliceData(x)), unsafe.Pointer(unsafe.SliceData(y))
	wb, bb := unsafe.Pointer(unsafe.SliceData(w)), unsafe.Pointer(unsafe.SliceData(bias))
	c4, rs4 := uintptr(C)*4, uintptr(rs)*4
	last := uintptr(npix-4) * c4 // the last 4 pixels, when 4 does not divide npix
	for ch := uintptr(0); ch < uintptr(cv)*4; ch += 16 {
		dwTile3x3S1SIMD(uintptr(g), xb, ch, rs4, c4, unsafe.Add(wb, ch), unsafe.Add(bb, ch), unsafe.Add(yb, ch), t.lo, t.hi)
		if npix%4 != 0 {
			dwTile3x3S1SIMD(1, xb, last+ch, rs4, c4, unsafe.Add(wb, ch), unsafe.Add(bb, ch), unsafe.Add(yb, last+ch), t.lo, t.hi)
		}
	}
	if cv < C {
		dwRowScalarFrom(x, w, bias, t, npix, y, cv)
	}
}

// dwRow3x3SIMD is dwRowSIMD for a full 3x3 window, every pixel of
// MobileNet's (padded) depthwise layers: channel block outer, so the nine
// weight vectors stay in registers while it sweeps the pixels, 4 at a time
// (one 9-add chain alone leaves the adder idle); taps unrolled. It checks the
// extent of x, w, bias and y once, then addresses them with unsafe.Add:
// slicing per tap cost three times the arithmetic in wasm. Invariant: for
// pixel i < npix and tap (ky, kx), x[i*xstep+ky*rs+kx*cs+ch : +4] and
// y[i*C+ch : +4] are in range for ch < cv; px and py never move past pixel
// npix-1.
func dwRow3x3SIMD(x, w, bias []float32, t dwTaps, npix int, y []float32) {
	C, rs, cs, wrs, xstep := t.c, t.rs, t.cs, t.wrs, t.xstep
	if npix <= 0 {
		return
	}
	cv := C &^ 3
	if len(x) < (npix-1)*xstep+2*rs+2*cs+C || len(w) < 2*wrs+3*C || len(bias) < C || len(y) < npix*C {
		panic("kernels: depthwise 3x3 row out of bounds")
	}
	vlo, vhi := archsimd.BroadcastFloat32x4(t.lo), archsimd.BroadcastFloat32x4(t.hi)
	xb, yb := unsafe.Pointer(unsafe.SliceData(x)), unsafe.Pointer(unsafe.SliceData(y))
	rs4, cs4 := uintptr(rs)*4, uintptr(cs)*4
	xs4, ys4 := uintptr(xstep)*4, uintptr(C)*4
	for ch := 0; ch < cv; ch += 4 {
		w0 := archsimd.LoadFloat32x4Array((*[4]float32)(w[ch:]))
		w1 := archsimd.LoadFloat32x4Array((*[4]float32)(w[C+ch:]))
		w2 := archsimd.LoadFloat32x4Array((*[4]float32)(w[2*C+ch:]))
		w3 := archsimd.LoadFloat32x4Array((*[4]float32)(w[wrs+ch:]))
		w4 := archsimd.LoadFloat32x4Array((*[4]float32)(w[wrs+C+ch:]))
		w5 := archsimd.LoadFloat32x4Array((*[4]float32)(w[wrs+2*C+ch:]))
		w6 := archsimd.LoadFloat32x4Array((*[4]float32)(w[2*wrs+ch:]))
		w7 := archsimd.LoadFloat32x4Array((*[4]float32)(w[2*wrs+C+ch:]))
		w8 := archsimd.LoadFloat32x4Array((*[4]float32)(w[2*wrs+2*C+ch:]))
		bv := archsimd.LoadFloat32x4Array((*[4]float32)(bias[ch:]))
		px := unsafe.Add(xb, ch*4)
		py := unsafe.Add(yb, ch*4)
		i := 0
		// 4 pixels at a time: 4 independent add chains instead of one.
		for ; i+4 <= npix; i += 4 {
			r1_0 := unsafe.Add(px, rs4)
			r2_0 := unsafe.Add(r1_0, rs4)
			q1 := unsafe.Add(px, 1*xs4)
			r1_1 := unsafe.Add(q1, rs4)
			r2_1 := unsafe.Add(r1_1, rs4)
			q2 := unsafe.Add(px, 2*xs4)
			r1_2 := unsafe.Add(q2, rs4)
			r2_2 := unsafe.Add(r1_2, rs4)
			q3 := unsafe.Add(px, 3*xs4)
			r1_3 := unsafe.Add(q3, rs4)
			r2_3 := unsafe.Add(r1_3, rs4)
			var acc0 archsimd.Float32x4
			var acc1 archsimd.Float32x4
			var acc2 archsimd.Float32x4
			var acc3 archsimd.Float32x4
			acc0 = acc0.Add(archsimd.LoadFloat32x4Array((*[4]float32)(px)).Mul(w0))
			acc1 = acc1.Add(archsimd.LoadFloat32x4Array((*[4]float32)(q1)).Mul(w0))
			acc2 = acc2.Add(archsimd.LoadFloat32x4Array((*[4]float32)(q2)).Mul(w0))
			acc3 = acc3.Add(archsimd.LoadFloat32x4Array((*[4]float32)(q3)).Mul(w0))
			acc0 = acc0.Add(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(px, cs4))).Mul(w1))
			acc1 = acc1.Add(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(q1, cs4))).Mul(w1))
			acc2 = acc2.Add(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(q2, cs4))).Mul(w1))
			acc3 = acc3.Add(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(q3, cs4))).Mul(w1))
			acc0 = acc0.Add(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(px, 2*cs4))).Mul(w2))
			acc1 = acc1.Add(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(q1, 2*cs4))).Mul(w2))
			acc2 = acc2.Add(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(q2, 2*cs4))).Mul(w2))
			acc3 = acc3.Add(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(q3, 2*cs4))).Mul(w2))
			acc0 = acc0.Add(archsimd.LoadFloat32x4Array((*[4]float32)(r1_0)).Mul(w3))
			acc1 = acc1.Add(archsimd.LoadFloat32x4Array((*[4]float32)(r1_1)).Mul(w3))
			acc2 = acc2.Add(archsimd.LoadFloat32x4Array((*[4]float32)(r1_2)).Mul(w3))
			acc3 = acc3.Add(archsimd.LoadFloat32x4Array((*[4]float32)(r1_3)).Mul(w3))
			acc0 = acc0.Add(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(r1_0, cs4))).Mul(w4))
			acc1 = acc1.Add(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(r1_1, cs4))).Mul(w4))
			acc2 = acc2.Add(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(r1_2, cs4))).Mul(w4))
			acc3 = acc3.Add(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(r1_3, cs4))).Mul(w4))
			acc0 = acc0.Add(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(r1_0, 2*cs4))).Mul(w5))
			acc1 = acc1.Add(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(r1_1, 2*cs4))).Mul(w5))
			acc2 = acc2.Add(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(r1_2, 2*cs4))).Mul(w5))
			acc3 = acc3.Add(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(r1_3, 2*cs4))).Mul(w5))
			acc0 = acc0.Add(archsimd.LoadFloat32x4Array((*[4]float32)(r2_0)).Mul(w6))
			acc1 = acc1.Add(archsimd.LoadFloat32x4Array((*[4]float32)(r2_1)).Mul(w6))
			acc2 = acc2.Add(archsimd.LoadFloat32x4Array((*[4]float32)(r2_2)).Mul(w6))
			acc3 = acc3.Add(archsimd.LoadFloat32x4Array((*[4]float32)(r2_3)).Mul(w6))
			acc0 = acc0.Add(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(r2_0, cs4))).Mul(w7))
			acc1 = acc1.Add(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(r2_1, cs4))).Mul(w7))
			acc2 = acc2.Add(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(r2_2, cs4))).Mul(w7))
			acc3 = acc3.Add(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(r2_3, cs4))).Mul(w7))
			acc0 = acc0.Add(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(r2_0, 2*cs4))).Mul(w8))
			acc1 = acc1.Add(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(r2_1, 2*cs4))).Mul(w8))
			acc2 = acc2.Add(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(r2_2, 2*cs4))).Mul(w8))
			acc3 = acc3.Add(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(r2_3, 2*cs4))).Mul(w8))
			gemmMin(gemmMax(acc0.Add(bv), vlo), vhi).StoreArray((*[4]float32)(py))
			gemmMin(gemmMax(acc1.Add(bv), vlo), vhi).StoreArray((*[4]float32)(unsafe.Add(py, 1*ys4)))
			gemmMin(gemmMax(acc2.Add(bv), vlo), vhi).StoreArray((*[4]float32)(unsafe.Add(py, 2*ys4)))
			gemmMin(gemmMax(acc3.Add(bv), vlo), vhi).StoreArray((*[4]float32)(unsafe.Add(py, 3*ys4)))
			if i+4 < npix { // keep px, py within x and y
				px = unsafe.Add(px, 4*xs4)
				py = unsafe.Add(py, 4*ys4)
			}
		}
		for ; i < npix; i++ {
			r1 := unsafe.Add(px, rs4)
			r2 := unsafe.Add(r1, rs4)
			var acc archsimd.Float32x4
			acc = acc.Add(archsimd.LoadFloat32x4Array((*[4]float32)(px)).Mul(w0))
			acc = acc.Add(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(px, cs4))).Mul(w1))
			acc = acc.Add(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(px, 2*cs4))).Mul(w2))
			acc = acc.Add(archsimd.LoadFloat32x4Array((*[4]float32)(r1)).Mul(w3))
			acc = acc.Add(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(r1, cs4))).Mul(w4))
			acc = acc.Add(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(r1, 2*cs4))).Mul(w5))
			acc = acc.Add(archsimd.LoadFloat32x4Array((*[4]float32)(r2)).Mul(w6))
			acc = acc.Add(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(r2, cs4))).Mul(w7))
			acc = acc.Add(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(r2, 2*cs4))).Mul(w8))
			gemmMin(gemmMax(acc.Add(bv), vlo), vhi).StoreArray((*[4]float32)(py))
			if i+1 < npix { // keep px, py within x and y
				px = unsafe.Add(px, xs4)
				py = unsafe.Add(py, ys4)
			}
		}
	}
	if cv < C {
		dwRowScalarFrom(x, w, bias, t, npix, y, cv)
	}
}

// dwRowKxKSIMD is dwRowSIMD for any other window (BlazeFace's 5x5 layers) on
// runs of at least 4 pixels: channel block outer, 4 pixels at a time (four
// independent add chains), taps in the scalar twin's order. Like
// dwRow3x3SIMD it checks the extent of x, w and y once and addresses them
// with unsafe.Add from their bases, every address inside its slice:
// x[i*xstep+ky*rs+kx*cs+ch : +4] for i < npix, ky < nky, kx < nkx, ch < cv.
func dwRowKxKSIMD(x, w, bias []float32, t dwTaps, npix int, y []float32) {
	C, nky, nkx, rs, cs, wrs, xstep := t.c, t.nky, t.nkx, t.rs, t.cs, t.wrs, t.xstep
	cv := C &^ 3
	if len(x) < (npix-1)*xstep+(nky-1)*rs+(nkx-1)*cs+C || len(w) < (nky-1)*wrs+nkx*C || len(bias) < C || len(y) < npix*C {
		panic("kernels: depthwise row out of bounds")
	}
	vlo, vhi := archsimd.BroadcastFloat32x4(t.lo), archsimd.BroadcastFloat32x4(t.hi)
	xb, wb, yb := unsafe.Pointer(unsafe.SliceData(x)), unsafe.Pointer(unsafe.SliceData(w)), unsafe.Pointer(unsafe.SliceData(y))
	load := func(base unsafe.Pointer, off int) archsimd.Float32x4 {
		return archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(base, off*4)))
	}
	for ch := 0; ch < cv; ch += 4 {
		bv := archsimd.LoadFloat32x4Array((*[4]float32)(bias[ch:]))
		i := 0
		for ; i+4 <= npix; i += 4 {
			var acc0, acc1, acc2, acc3 archsimd.Float32x4
			o := i*xstep + ch
			for ky := 0; ky < nky; ky++ {
				for kx := 0; kx < nkx; kx++ {
					wv := load(wb, ky*wrs+kx*C+ch)
					ok := o + ky*rs + kx*cs
					acc0 = acc0.Add(load(xb, ok).Mul(wv))
					acc1 = acc1.Add(load(xb, ok+xstep).Mul(wv))
					acc2 = acc2.Add(load(xb, ok+2*xstep).Mul(wv))
					acc3 = acc3.Add(load(xb, ok+3*xstep).Mul(wv))
				}
			}
			yo := (i*C + ch) * 4
			gemmMin(gemmMax(acc0.Add(bv), vlo), vhi).StoreArray((*[4]float32)(unsafe.Add(yb, yo)))
			gemmMin(gemmMax(acc1.Add(bv), vlo), vhi).StoreArray((*[4]float32)(unsafe.Add(yb, yo+C*4)))
			gemmMin(gemmMax(acc2.Add(bv), vlo), vhi).StoreArray((*[4]float32)(unsafe.Add(yb, yo+2*C*4)))
			gemmMin(gemmMax(acc3.Add(bv), vlo), vhi).StoreArray((*[4]float32)(unsafe.Add(yb, yo+3*C*4)))
		}
		for ; i < npix; i++ {
			var acc archsimd.Float32x4
			o := i*xstep + ch
			for ky := 0; ky < nky; ky++ {
				for kx := 0; kx < nkx; kx++ {
					acc = acc.Add(load(xb, o+ky*rs+kx*cs).Mul(load(wb, ky*wrs+kx*C+ch)))
				}
			}
			gemmMin(gemmMax(acc.Add(bv), vlo), vhi).StoreArray((*[4]float32)(unsafe.Add(yb, (i*C+ch)*4)))
		}
	}
	if cv < C {
		dwRowScalarFrom(x, w, bias, t, npix, y, cv)
	}
}
