//go:build goexperiment.simd && go1.27 && wasm

// Built for wasm only, like the forward SIMD kernels (see gemm_simd.go).

package kernels

import "simd/archsimd"

func init() {
	gradHot.avgPoolGrad, gradHotSIMD.avgPoolGrad = avgPoolGradSIMD, avgPoolGradSIMD
	haveGradSIMD = true
}

// avgPoolGradSIMD computes what avgPoolGradScalar does with the same
// operations in the same order per element (dy/count, then added to the
// cell), so the two agree bit for bit. It vectorises over channels, four at
// a time, the channels past the last whole vector in scalar (an overlapping
// vector would add twice). Below 8 channels the scalar twin runs: there
// the vector loop measured slower (see BenchmarkPoolGrad).
func avgPoolGradSIMD(p PoolParams, n int, dy, dx []float32) {
	c := p.C
	if c < 8 {
		avgPoolGradScalar(p, n, dy, dx)
		return
	}
	oh, ow := p.OutSize()
	img, oimg := p.H*p.W*c, oh*ow*c
	dy, dx = dy[:n*oimg], dx[:n*img]
	clear(dx)
	c4 := c &^ 3
	for b := range n {
		db, gb := dy[b*oimg:(b+1)*oimg], dx[b*img:(b+1)*img]
		for oy := range oh {
			y0 := oy*p.StrideH - p.PadTop
			ky0, ky1 := max(0, -y0), min(p.KH, p.H-y0)
			for ox := range ow {
				x0 := ox*p.StrideW - p.PadLeft
				kx0, kx1 := max(0, -x0), min(p.KW, p.W-x0)
				inv := float32(poolCount(p, ky0, ky1, kx0, kx1))
				vinv := archsimd.BroadcastFloat32x4(inv)
				g := db[(oy*ow+ox)*c : (oy*ow+ox+1)*c]
				for ky := ky0; ky < ky1; ky++ {
					for kx := kx0; kx < kx1; kx++ {
						o := ((y0+ky)*p.W + x0 + kx) * c
						cell := gb[o : o+c]
						j := 0
						for ; j < c4; j += 4 {
							archsimd.LoadFloat32x4(cell[j:]).Add(archsimd.LoadFloat32x4(g[j:]).Div(vinv)).Store(cell[j:])
						}
						for ; j < c; j++ {
							cell[j] += g[j] / inv
						}
					}
				}
			}
		}
	}
}
