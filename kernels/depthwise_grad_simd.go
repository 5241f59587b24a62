//go:build goexperiment.simd && go1.27 && wasm

// Built for wasm only, like the forward SIMD kernels (see gemm_simd.go).

package kernels

import (
	"simd/archsimd"
	"unsafe"
)

func init() {
	dwGradInputRow = dwGradInputRowSIMD
	dwGradFilterRow = dwGradFilterRowSIMD
}

// dwf4 loads the four float32s at p.
func dwf4(p unsafe.Pointer) archsimd.Float32x4 {
	return archsimd.LoadFloat32x4Array((*[4]float32)(p))
}

// dwStore4 stores a0..a3 at byte offsets o, o+st4, o+2*st4, o+3*st4 from p.
func dwStore4(p unsafe.Pointer, o, st4 int, a0, a1, a2, a3 archsimd.Float32x4) {
	a0.StoreArray((*[4]float32)(unsafe.Add(p, o)))
	a1.StoreArray((*[4]float32)(unsafe.Add(p, o+st4)))
	a2.StoreArray((*[4]float32)(unsafe.Add(p, o+2*st4)))
	a3.StoreArray((*[4]float32)(unsafe.Add(p, o+3*st4)))
}

// dwGradInputRowSIMD is dwGradInputRowScalar four channels at a time, the
// same products summed in the same order from zero: four pixels at a time
// (four independent add chains, each weight vector loaded once for four
// products; keeping weights in registers as well would spill), all channel
// blocks of a pixel before the next (channel blocks outer measured 2 to 4
// times slower with 32 channels or more at stride 2: too many cache lines
// per pass). It checks the extent of dy, w and dx once and then addresses
// them by byte offsets that are only ever added to a base at a load, so no
// pointer leaves its slice.
func dwGradInputRowSIMD(dy, w []float32, wo int, t dwGradTaps, npix int, dx []float32) {
	C := t.c
	if t.mult != 1 || C < 4 || npix <= 0 {
		dwGradInputRowFrom(dy, w, wo, t, npix, dx, 0)
		return
	}
	if t.nkx == 0 {
		t.nky = 0
	}
	nky, nkx := t.nky, t.nkx
	if len(dx) < (npix-1)*t.step+C || nky > 0 && (len(dy) < (npix-1)*t.dstep+(nky-1)*t.rs+(nkx-1)*t.cs+C ||
		wo+C > len(w) || wo+(nky-1)*t.wrs+(nkx-1)*t.wcs < 0) {
		panic("kernels: depthwise input gradient row out of bounds")
	}
	cv := C &^ 3
	dyb, wb, dxb := unsafe.Pointer(unsafe.SliceData(dy)), unsafe.Pointer(unsafe.SliceData(w)), unsafe.Pointer(unsafe.SliceData(dx))
	var i int
	if nky == 3 && nkx == 3 {
		i = dwGradInput3x3SIMD(dyb, wb, dxb, wo, t, cv, npix)
	} else {
		i = dwGradInputBlocksSIMD(dyb, wb, dxb, wo, t, cv, npix)
	}
	ds4, rs4, cs4, wrs4, wcs4 := 4*t.dstep, 4*t.rs, 4*t.cs, 4*t.wrs, 4*t.wcs
	for ; i < npix; i++ { // the last npix%4 pixels, one at a time
		for ch := 0; ch < cv; ch += 4 {
			var a archsimd.Float32x4
			dr, wr := i*ds4+4*ch, 4*(wo+ch)
			for range nky {
				dc, wc := dr, wr
				for range nkx {
					a = a.Add(dwf4(unsafe.Add(dyb, dc)).Mul(dwf4(unsafe.Add(wb, wc))))
					dc, wc = dc+cs4, wc+wcs4
				}
				dr, wr = dr+rs4, wr+wrs4
			}
			a.StoreArray((*[4]float32)(unsafe.Add(dxb, 4*(i*t.step+ch))))
		}
	}
	if cv < C {
		dwGradInputRowFrom(dy, w, wo, t, npix, dx, cv)
	}
}

// dwGradInputBlocksSIMD runs dwGradInputRowSIMD's whole blocks of four
// pixels for any taps and returns how many pixels it did. The first two
// taps of a tap row are outside the loop over them: at stride 2 a pixel
// sees one or two per row, and the loop cost more than its body.
func dwGradInputBlocksSIMD(dyb, wb, dxb unsafe.Pointer, wo int, t dwGradTaps, cv, npix int) int {
	nky, nkx := t.nky, t.nkx
	ds4, rs4, cs4, wrs4, wcs4, st4 := 4*t.dstep, 4*t.rs, 4*t.cs, 4*t.wrs, 4*t.wcs, 4*t.step
	i := 0
	for ; i+4 <= npix; i += 4 {
		for ch := 0; ch < cv; ch += 4 {
			var a0, a1, a2, a3 archsimd.Float32x4
			dr, wr := i*ds4+4*ch, 4*(wo+ch)
			for range nky { // nky > 0 implies nkx > 0
				wv := dwf4(unsafe.Add(wb, wr))
				a0 = a0.Add(dwf4(unsafe.Add(dyb, dr)).Mul(wv))
				a1 = a1.Add(dwf4(unsafe.Add(dyb, dr+ds4)).Mul(wv))
				a2 = a2.Add(dwf4(unsafe.Add(dyb, dr+2*ds4)).Mul(wv))
				a3 = a3.Add(dwf4(unsafe.Add(dyb, dr+3*ds4)).Mul(wv))
				if nkx > 1 {
					dc, wc := dr+cs4, wr+wcs4
					wv = dwf4(unsafe.Add(wb, wc))
					a0 = a0.Add(dwf4(unsafe.Add(dyb, dc)).Mul(wv))
					a1 = a1.Add(dwf4(unsafe.Add(dyb, dc+ds4)).Mul(wv))
					a2 = a2.Add(dwf4(unsafe.Add(dyb, dc+2*ds4)).Mul(wv))
					a3 = a3.Add(dwf4(unsafe.Add(dyb, dc+3*ds4)).Mul(wv))
					for kx := 2; kx < nkx; kx++ {
						dc, wc = dc+cs4, wc+wcs4
						wv = dwf4(unsafe.Add(wb, wc))
						a0 = a0.Add(dwf4(unsafe.Add(dyb, dc)).Mul(wv))
						a1 = a1.Add(dwf4(unsafe.Add(dyb, dc+ds4)).Mul(wv))
						a2 = a2.Add(dwf4(unsafe.Add(dyb, dc+2*ds4)).Mul(wv))
						a3 = a3.Add(dwf4(unsafe.Add(dyb, dc+3*ds4)).Mul(wv))
					}
				}
				dr, wr = dr+rs4, wr+wrs4
			}
			dwStore4(dxb, i*st4+4*ch, st4, a0, a1, a2, a3)
		}
	}
	return i
}

// dwGradInput3x3SIMD is dwGradInputBlocksSIMD for nine taps, a tap row
// unrolled: every interior pixel of a 3x3 stride-1 layer (25% faster than
// the general loop).
func dwGradInput3x3SIMD(dyb, wb, dxb unsafe.Pointer, wo int, t dwGradTaps, cv, npix int) int {
	ds4, rs4, cs4, wrs4, wcs4, st4 := 4*t.dstep, 4*t.rs, 4*t.cs, 4*t.wrs, 4*t.wcs, 4*t.step
	i := 0
	for ; i+4 <= npix; i += 4 {
		for ch := 0; ch < cv; ch += 4 {
			var a0, a1, a2, a3 archsimd.Float32x4
			d, wr := i*ds4+4*ch, 4*(wo+ch)
			for range 3 {
				wv := dwf4(unsafe.Add(wb, wr))
				a0 = a0.Add(dwf4(unsafe.Add(dyb, d)).Mul(wv))
				a1 = a1.Add(dwf4(unsafe.Add(dyb, d+ds4)).Mul(wv))
				a2 = a2.Add(dwf4(unsafe.Add(dyb, d+2*ds4)).Mul(wv))
				a3 = a3.Add(dwf4(unsafe.Add(dyb, d+3*ds4)).Mul(wv))
				wv = dwf4(unsafe.Add(wb, wr+wcs4))
				a0 = a0.Add(dwf4(unsafe.Add(dyb, d+cs4)).Mul(wv))
				a1 = a1.Add(dwf4(unsafe.Add(dyb, d+cs4+ds4)).Mul(wv))
				a2 = a2.Add(dwf4(unsafe.Add(dyb, d+cs4+2*ds4)).Mul(wv))
				a3 = a3.Add(dwf4(unsafe.Add(dyb, d+cs4+3*ds4)).Mul(wv))
				wv = dwf4(unsafe.Add(wb, wr+2*wcs4))
				a0 = a0.Add(dwf4(unsafe.Add(dyb, d+2*cs4)).Mul(wv))
				a1 = a1.Add(dwf4(unsafe.Add(dyb, d+2*cs4+ds4)).Mul(wv))
				a2 = a2.Add(dwf4(unsafe.Add(dyb, d+2*cs4+2*ds4)).Mul(wv))
				a3 = a3.Add(dwf4(unsafe.Add(dyb, d+2*cs4+3*ds4)).Mul(wv))
				d, wr = d+rs4, wr+wrs4
			}
			dwStore4(dxb, i*st4+4*ch, st4, a0, a1, a2, a3)
		}
	}
	return i
}

// dwGradFilterRowSIMD is dwGradFilterRowScalar four channels at a time: the
// same products added to dw pixel after pixel. Three taps share each dy
// load (three add chains); other tap counts go one tap at a time. It runs
// dwGradFilterChunk pixels at a time across all channels.
func dwGradFilterRowSIMD(x, dy []float32, t dwGradTaps, npix int, dw []float32) {
	C, nkx := t.c, t.nkx
	if t.mult != 1 || C < 4 || npix <= 0 || nkx <= 0 {
		dwGradFilterRowFrom(x, dy, t, npix, dw, 0)
		return
	}
	if len(x) < (npix-1)*t.step+(nkx-1)*t.cs+C || len(dy) < (npix-1)*t.dstep+C || len(dw) < (nkx-1)*t.wcs+C {
		panic("kernels: depthwise filter gradient row out of bounds")
	}
	cv := C &^ 3
	xb, dyb, dwb := unsafe.Pointer(unsafe.SliceData(x)), unsafe.Pointer(unsafe.SliceData(dy)), unsafe.Pointer(unsafe.SliceData(dw))
	ds4, cs4, wcs4, st4 := 4*t.dstep, 4*t.cs, 4*t.wcs, 4*t.step
	for i0 := 0; i0 < npix; i0 += dwGradFilterChunk {
		m := min(dwGradFilterChunk, npix-i0)
		for ch := 0; ch < cv; ch += 4 {
			xo, do := 4*(i0*t.step+ch), 4*(i0*t.dstep+ch)
			if nkx == 3 {
				p0, p1, p2 := unsafe.Add(dwb, 4*ch), unsafe.Add(dwb, 4*ch+wcs4), unsafe.Add(dwb, 4*ch+2*wcs4)
				a0, a1, a2 := dwf4(p0), dwf4(p1), dwf4(p2)
				for range m / 2 {
					d := dwf4(unsafe.Add(dyb, do))
					a0 = a0.Add(dwf4(unsafe.Add(xb, xo)).Mul(d))
					a1 = a1.Add(dwf4(unsafe.Add(xb, xo+cs4)).Mul(d))
					a2 = a2.Add(dwf4(unsafe.Add(xb, xo+2*cs4)).Mul(d))
					xo, do = xo+st4, do+ds4
					d = dwf4(unsafe.Add(dyb, do))
					a0 = a0.Add(dwf4(unsafe.Add(xb, xo)).Mul(d))
					a1 = a1.Add(dwf4(unsafe.Add(xb, xo+cs4)).Mul(d))
					a2 = a2.Add(dwf4(unsafe.Add(xb, xo+2*cs4)).Mul(d))
					xo, do = xo+st4, do+ds4
				}
				if m%2 != 0 {
					d := dwf4(unsafe.Add(dyb, do))
					a0 = a0.Add(dwf4(unsafe.Add(xb, xo)).Mul(d))
					a1 = a1.Add(dwf4(unsafe.Add(xb, xo+cs4)).Mul(d))
					a2 = a2.Add(dwf4(unsafe.Add(xb, xo+2*cs4)).Mul(d))
				}
				a0.StoreArray((*[4]float32)(p0))
				a1.StoreArray((*[4]float32)(p1))
				a2.StoreArray((*[4]float32)(p2))
				continue
			}
			for kx := 0; kx < nkx; kx++ {
				p := unsafe.Add(dwb, 4*ch+kx*wcs4)
				a := dwf4(p)
				xk, dk := xo+kx*cs4, do
				for range m {
					a = a.Add(dwf4(unsafe.Add(xb, xk)).Mul(dwf4(unsafe.Add(dyb, dk))))
					xk, dk = xk+st4, dk+ds4
				}
				a.StoreArray((*[4]float32)(p))
			}
		}
	}
	if cv < C {
		dwGradFilterRowFrom(x, dy, t, npix, dw, cv)
	}
}
