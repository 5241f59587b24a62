//go:build goexperiment.simd && go1.27 && wasm

// Built for wasm only, like gemm_simd.go: on amd64 archsimd.Float32x4 compiles
// but needs AVX/AVX2 at run time (CPU dispatch we do not need on the host)
// and VMAXPS/VMINPS do not follow Go's max/min on NaN and signed zeros.

package kernels

import "simd/archsimd"

func init() {
	hot.pool, hotSIMD.pool = poolSIMD, poolSIMD
	hot.gap, hotSIMD.gap = globalAvgPoolSIMD, globalAvgPoolSIMD
	haveSIMD = true
}

// poolSIMD is poolScalar four channels at a time, with the same operations
// in the same order per channel (first cell copied, then max or add in
// window order, then one division), so the two agree bit for bit.
func poolSIMD(p PoolParams, n int, x, y []float32, avg bool) {
	oh, ow := p.OutSize()
	c := p.C
	img, oimg := p.H*p.W*c, oh*ow*c
	x, y = x[:n*img], y[:n*oimg]
	for b := range n {
		xb, yb := x[b*img:(b+1)*img], y[b*oimg:(b+1)*oimg]
		for oy := range oh {
			y0 := oy*p.StrideH - p.PadTop
			ky0, ky1 := max(0, -y0), min(p.KH, p.H-y0)
			for ox := range ow {
				x0 := ox*p.StrideW - p.PadLeft
				kx0, kx1 := max(0, -x0), min(p.KW, p.W-x0)
				yo := yb[(oy*ow+ox)*c : (oy*ow+ox+1)*c]
				first := true
				for ky := ky0; ky < ky1; ky++ {
					for kx := kx0; kx < kx1; kx++ {
						o := ((y0+ky)*p.W + x0 + kx) * c
						xi := xb[o : o+c]
						switch {
						case first:
							j := 0
							for ; j <= len(xi)-4; j += 4 {
								archsimd.LoadFloat32x4(xi[j:]).Store(yo[j:])
							}
							for ; j < len(xi); j++ {
								yo[j] = xi[j]
							}
							first = false
						case avg:
							j := 0
							for ; j <= len(xi)-4; j += 4 {
								archsimd.LoadFloat32x4(yo[j:]).Add(archsimd.LoadFloat32x4(xi[j:])).Store(yo[j:])
							}
							for ; j < len(xi); j++ {
								yo[j] += xi[j]
							}
						default:
							j := 0
							for ; j <= len(xi)-4; j += 4 {
								archsimd.LoadFloat32x4(yo[j:]).Max(archsimd.LoadFloat32x4(xi[j:])).Store(yo[j:])
							}
							for ; j < len(xi); j++ {
								if v := xi[j]; v > yo[j] || v != v {
									yo[j] = v
								}
							}
						}
					}
				}
				if avg {
					cnt := p.KH * p.KW
					if !p.CountIncludePad {
						cnt = (ky1 - ky0) * (kx1 - kx0)
					}
					if cnt != 1 {
						d := float32(cnt)
						vd := archsimd.BroadcastFloat32x4(d)
						j := 0
						for ; j <= len(yo)-4; j += 4 {
							archsimd.LoadFloat32x4(yo[j:]).Div(vd).Store(yo[j:])
						}
						for ; j < len(yo); j++ {
							yo[j] /= d
						}
					}
				}
			}
		}
	}
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
