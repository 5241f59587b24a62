//go:build goexperiment.simd && go1.27 && wasm

// Built for wasm only, for the reasons given in gemm_simd.go.

package kernels

import (
	"simd/archsimd"
	"unsafe"
)

func init() { dwRow = dwRowSIMD }

// dwRowSIMD is the depthwise micro-kernel, 4 channels per vector; see
// dwRowScalar for what it computes. Its per-element order is the scalar
// twin's, so results are bit-identical.
func dwRowSIMD(x, w, bias []float32, t dwTaps, npix int, y []float32) {
	if t.nky == 3 && t.nkx == 3 && t.c >= 4 {
		dwRow3x3SIMD(x, w, bias, t, npix, y)
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
			acc.Add(bv).Max(vlo).Min(vhi).StoreArray((*[4]float32)(yp[ch:]))
		}
	}
	if cv < C {
		dwRowScalarFrom(x, w, bias, t, npix, y, cv)
	}
}

// dwRow3x3SIMD is dwRowSIMD for a full 3x3 window, the interior of
// MobileNet's depthwise layers: channel block outer, so the nine weight
// vectors stay in registers while it sweeps the pixels; taps unrolled. It
// checks the extent of x, w, bias and y once, then addresses them with
// unsafe.Add: slicing per tap cost three times the arithmetic in wasm.
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
		for range npix {
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
			acc.Add(bv).Max(vlo).Min(vhi).StoreArray((*[4]float32)(py))
			px = unsafe.Add(px, xstep*4)
			py = unsafe.Add(py, C*4)
		}
	}
	if cv < C {
		dwRowScalarFrom(x, w, bias, t, npix, y, cv)
	}
}
