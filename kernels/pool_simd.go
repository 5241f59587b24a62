//go:build goexperiment.simd && go1.27 && wasm

// Built for wasm only, like gemm_simd.go: on amd64 archsimd.Float32x4 compiles
// but needs AVX/AVX2 at run time (CPU dispatch we do not need on the host)
// and VMAXPS/VMINPS do not follow Go's max/min on NaN and signed zeros.

package kernels

import (
	"simd/archsimd"
	"unsafe"
)

func init() {
	hot.pool, hotSIMD.pool = poolSIMD, poolSIMD
	hot.gap, hotSIMD.gap = globalAvgPoolSIMD, globalAvgPoolSIMD
	haveSIMD = true
}

// poolSIMD computes what poolScalar does, with the same operations in the
// same order per element, so the two agree bit for bit. For C >= 4 it
// vectorises over channels, four at a time, the last four overlapping the
// previous ones when 4 does not divide C (recomputing a value is harmless:
// each is computed whole in a register and stored once); smaller C runs the
// scalar loop. It checks the extent of x and y once, then addresses them
// with unsafe.Add.
func poolSIMD(p PoolParams, n int, x, y []float32, avg bool) {
	oh, ow := p.OutSize()
	c := p.C
	img, oimg := p.H*p.W*c, oh*ow*c
	// Invariant for the unsafe addressing below: x holds n images of H*W*C
	// and y n of OH*OW*C (the slicing panics otherwise); a window's real
	// cells (rows y0+[ky0,ky1), columns x0+[kx0,kx1)) lie in the image, and
	// a vector at channel j <= C-4 of a cell stays within that cell.
	x, y = x[:n*img], y[:n*oimg]
	if n == 0 {
		return
	}
	xp, yp := unsafe.Pointer(unsafe.SliceData(x)), unsafe.Pointer(unsafe.SliceData(y))
	rsb, csb := uintptr(p.W*c)*4, uintptr(c)*4
	if !avg && c >= 4 && p.KH == 3 && p.KW == 3 {
		poolMax3x3SIMD(p, n, oh, ow, xp, yp)
		return
	}
	if c >= 4 && p.PadTop == 0 && p.PadBottom == 0 && p.PadLeft == 0 && p.PadRight == 0 {
		poolUnpaddedSIMD(p, n, oh, ow, xp, yp, avg)
		return
	}
	for b := range n {
		xb, yb := unsafe.Add(xp, uintptr(b*img)*4), unsafe.Add(yp, uintptr(b*oimg)*4)
		for oy := range oh {
			y0 := oy*p.StrideH - p.PadTop
			ky0, ky1 := max(0, -y0), min(p.KH, p.H-y0)
			nky := ky1 - ky0
			for ox := range ow {
				x0 := ox*p.StrideW - p.PadLeft
				kx0, kx1 := max(0, -x0), min(p.KW, p.W-x0)
				nkx := kx1 - kx0
				cnt := poolCount(p, ky0, ky1, kx0, kx1)
				base := unsafe.Add(xb, uintptr((y0+ky0)*p.W+x0+kx0)*csb)
				yo := unsafe.Add(yb, uintptr(oy*ow+ox)*csb)
				if c < 4 {
					for j := range c {
						o := uintptr(j) * 4
						acc := *(*float32)(unsafe.Add(base, o))
						for ky := range nky {
							r := unsafe.Add(base, uintptr(ky)*rsb+o)
							for kx := range nkx {
								if ky == 0 && kx == 0 {
									continue
								}
								v := *(*float32)(unsafe.Add(r, uintptr(kx)*csb))
								if avg {
									acc += v
								} else {
									acc = max(acc, v)
								}
							}
						}
						if avg && cnt != 1 {
							acc /= float32(cnt)
						}
						*(*float32)(unsafe.Add(yo, o)) = acc
					}
					continue
				}
				vd := archsimd.BroadcastFloat32x4(float32(cnt))
				for j := 0; j < c; j += 4 {
					o := uintptr(min(j, c-4)) * 4
					acc := poolLoad(unsafe.Add(base, o))
					for ky := range nky {
						r := unsafe.Add(base, uintptr(ky)*rsb+o)
						for kx := range nkx {
							if ky == 0 && kx == 0 {
								continue
							}
							v := poolLoad(unsafe.Add(r, uintptr(kx)*csb))
							if avg {
								acc = acc.Add(v)
							} else {
								acc = acc.Max(v)
							}
						}
					}
					if avg && cnt != 1 {
						acc = acc.Div(vd)
					}
					acc.StoreArray((*[4]float32)(unsafe.Add(yo, o)))
				}
			}
		}
	}
}

// poolUnpaddedSIMD is poolSIMD for C >= 4 without padding, where every
// window is whole: no per-pixel clipping, a fixed divisor, and the 2x2
// window unrolled. x and y are poolSIMD's, past its bounds check.
func poolUnpaddedSIMD(p PoolParams, n, oh, ow int, xp, yp unsafe.Pointer, avg bool) {
	c := p.C
	img, oimg := p.H*p.W*c, oh*ow*c
	rsb, csb := uintptr(p.W*c)*4, uintptr(c)*4
	syb, sxb := uintptr(p.StrideH)*rsb, uintptr(p.StrideW)*csb
	cnt := p.KH * p.KW
	div := avg && cnt != 1
	vd := archsimd.BroadcastFloat32x4(float32(cnt))
	two := p.KH == 2 && p.KW == 2
	last := uintptr(c-4) * 4
	for b := range n {
		xb, yo := unsafe.Add(xp, uintptr(b*img)*4), unsafe.Add(yp, uintptr(b*oimg)*4)
		for oy := range oh {
			row := unsafe.Add(xb, uintptr(oy)*syb)
			for ox := range ow {
				base := unsafe.Add(row, uintptr(ox)*sxb)
				for j := uintptr(0); j < csb; j += 16 {
					o := min(j, last)
					q := unsafe.Add(base, o)
					var acc archsimd.Float32x4
					switch {
					case two && avg:
						acc = poolLoad(q).Add(poolLoad(unsafe.Add(q, csb))).Add(poolLoad(unsafe.Add(q, rsb))).Add(poolLoad(unsafe.Add(q, rsb+csb)))
					case two:
						acc = poolLoad(q).Max(poolLoad(unsafe.Add(q, csb))).Max(poolLoad(unsafe.Add(q, rsb))).Max(poolLoad(unsafe.Add(q, rsb+csb)))
					default:
						acc = poolLoad(q)
						for ky := range p.KH {
							r := unsafe.Add(q, uintptr(ky)*rsb)
							for kx := range p.KW {
								if ky == 0 && kx == 0 {
									continue
								}
								v := poolLoad(unsafe.Add(r, uintptr(kx)*csb))
								if avg {
									acc = acc.Add(v)
								} else {
									acc = acc.Max(v)
								}
							}
						}
					}
					if div {
						acc = acc.Div(vd)
					}
					acc.StoreArray((*[4]float32)(unsafe.Add(yo, o)))
				}
				yo = unsafe.Add(yo, csb)
			}
		}
	}
}

// poolMax3x3SIMD is poolSIMD for a 3x3 max pool with C >= 4, padded or
// not (Xception's SAME 3x3/2 pools): each output pixel is the max over its
// whole 3x3 window with every tap outside the image clamped to the nearest
// row or column inside it. That cell is in the window too, and max is
// exact, commutative and idempotent (NaN wins, -0 < +0 in any order), so
// the result is poolScalar's, and no pixel needs the clipped-window loop.
// x and y are poolSIMD's, past its bounds check.
func poolMax3x3SIMD(p PoolParams, n, oh, ow int, xp, yp unsafe.Pointer) {
	c := p.C
	img, oimg := p.H*p.W*c, oh*ow*c
	rsb, csb := uintptr(p.W*c)*4, uintptr(c)*4
	clampRow := func(i int) uintptr { return uintptr(min(max(i, 0), p.H-1)) * rsb }
	clampCol := func(i int) uintptr { return uintptr(min(max(i, 0), p.W-1)) * csb }
	nv, tail := uintptr(c/4), uintptr(c%4)
	for b := range n {
		xb, yo := unsafe.Add(xp, uintptr(b*img)*4), unsafe.Add(yp, uintptr(b*oimg)*4)
		for oy := range oh {
			y0 := oy*p.StrideH - p.PadTop
			r0 := unsafe.Add(xb, clampRow(y0))
			r1 := unsafe.Add(xb, clampRow(y0+1))
			r2 := unsafe.Add(xb, clampRow(y0+2))
			for ox := range ow {
				x0 := ox*p.StrideW - p.PadLeft
				c0, c1, c2 := clampCol(x0), clampCol(x0+1), clampCol(x0+2)
				poolMax9SIMD(nv, r0, r1, r2, c0, c1, c2, yo)
				if tail != 0 {
					// The last 4 channels, overlapping the previous vector.
					o := (nv-1)*16 + tail*4
					poolMax9SIMD(1, unsafe.Add(r0, o), unsafe.Add(r1, o), unsafe.Add(r2, o), c0, c1, c2, unsafe.Add(yo, o))
				}
				yo = unsafe.Add(yo, csb)
			}
		}
	}
}

// poolMax9SIMD stores at yo, for nv >= 1 consecutive vectors of 4 channels,
// the max of the 9 vectors at r_i+c_j. Its own function with one loop (no
// test at its head), so that V8 keeps its pointers in registers.
//
//go:noinline
func poolMax9SIMD(nv uintptr, r0, r1, r2 unsafe.Pointer, c0, c1, c2 uintptr, yo unsafe.Pointer) {
	for {
		a := archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(r0, c0)))
		a = a.Max(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(r0, c1))))
		a = a.Max(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(r0, c2))))
		b := archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(r1, c0)))
		b = b.Max(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(r1, c1))))
		b = b.Max(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(r1, c2))))
		d := archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(r2, c0)))
		d = d.Max(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(r2, c1))))
		d = d.Max(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(r2, c2))))
		a.Max(b).Max(d).StoreArray((*[4]float32)(yo))
		if nv--; nv == 0 {
			return
		}
		r0, r1, r2, yo = unsafe.Add(r0, 16), unsafe.Add(r1, 16), unsafe.Add(r2, 16), unsafe.Add(yo, 16)
	}
}

// poolLoad loads the 4 float32s at p.
func poolLoad(p unsafe.Pointer) archsimd.Float32x4 {
	return archsimd.LoadFloat32x4Array((*[4]float32)(p))
}

// globalAvgPoolSIMD sums four channels at a time, in the same order per
// channel as globalAvgPoolScalar (float32 within a block of gapBlock
// positions, float64 across blocks), so the two agree bit for bit. It works
// on up to 256 channels at a time, block by block of positions, so that the
// block it walks down stays in the L1 cache.
func globalAvgPoolSIMD(n, hw, c int, x, y []float32) {
	const chunk = 256
	var acc [chunk]float64
	x, y = x[:n*hw*c], y[:n*c]
	fhw := float64(hw)
	for b := range n {
		xb := x[b*hw*c : (b+1)*hw*c]
		yb := y[b*c : (b+1)*c]
		for c0 := 0; c0 < c; c0 += chunk {
			cn := min(chunk, c-c0)
			for j := range cn {
				acc[j] = 0
			}
			for r0 := 0; r0 < hw; r0 += gapBlock {
				r1 := min(r0+gapBlock, hw)
				j := 0
				for ; j <= cn-4; j += 4 {
					p := archsimd.BroadcastFloat32x4(0)
					for o := r0*c + c0 + j; o < r1*c; o += c {
						p = p.Add(archsimd.LoadFloat32x4(xb[o:]))
					}
					a := acc[j : j+4 : j+4]
					a[0] += float64(p.GetElem(0))
					a[1] += float64(p.GetElem(1))
					a[2] += float64(p.GetElem(2))
					a[3] += float64(p.GetElem(3))
				}
				for ; j < cn; j++ {
					var p float32
					for o := r0*c + c0 + j; o < r1*c; o += c {
						p += xb[o]
					}
					acc[j] += float64(p)
				}
			}
			for j := range cn {
				yb[c0+j] = float32(acc[j] / fhw)
			}
		}
	}
}
