package kernels

import "math"

// MaxPoolGrad computes the gradient of MaxPool: each dy element goes whole to
// the cell of its window that the forward picked, the first maximum in
// window scan order (rows, then columns, real cells only); a cell that wins
// several overlapping windows receives the sum. The forward's choice is
// followed exactly: a later cell takes over only where Go's max would change
// the running maximum (a larger value, +0 after -0, the first NaN). x is the
// forward's input [n,H,W,C], dy is [n,OH,OW,C], dx is [n,H,W,C] and is
// overwritten; p must pass Validate. dx must not overlap x or dy. It does not
// allocate.
func MaxPoolGrad(p PoolParams, n int, x, dy, dx []float32) {
	oh, ow := p.OutSize()
	c := p.C
	img, oimg := p.H*p.W*c, oh*ow*c
	x, dy, dx = x[:n*img], dy[:n*oimg], dx[:n*img]
	clear(dx)
	for b := range n {
		xb, db, gb := x[b*img:(b+1)*img], dy[b*oimg:(b+1)*oimg], dx[b*img:(b+1)*img]
		for oy := range oh {
			y0 := oy*p.StrideH - p.PadTop
			ky0, ky1 := max(0, -y0), min(p.KH, p.H-y0)
			for ox := range ow {
				x0 := ox*p.StrideW - p.PadLeft
				kx0, kx1 := max(0, -x0), min(p.KW, p.W-x0)
				g := db[(oy*ow+ox)*c : (oy*ow+ox+1)*c]
				first := ((y0+ky0)*p.W + x0 + kx0) * c
				for j := range g {
					at := first + j
					m := xb[at]
					for ky := ky0; ky < ky1; ky++ {
						for kx := kx0; kx < kx1; kx++ {
							i := ((y0+ky)*p.W+x0+kx)*c + j
							if v := xb[i]; maxTakes(m, v) {
								m, at = v, i
							}
						}
					}
					gb[at] += g[j]
				}
			}
		}
	}
}

// maxTakes reports whether max(m, v) (Go's max, as MaxPool takes it) would
// replace the running maximum m by v: v larger, m = -0 and v = +0, or v the
// first NaN.
func maxTakes(m, v float32) bool {
	if m != m {
		return false
	}
	return v > m || v != v || (v == 0 && m == 0 && math.Float32bits(m) != 0 && math.Float32bits(v) == 0)
}

// AvgPoolGrad computes the gradient of AvgPool: each dy element, divided by
// its window's count (see PoolParams.CountIncludePad) in float32, is added
// to every real cell of its window, windows in output order. dy is
// [n,OH,OW,C] and dx [n,H,W,C], overwritten; p must pass Validate. dx must
// not overlap dy. It does not allocate.
func AvgPoolGrad(p PoolParams, n int, dy, dx []float32) {
	gradHot.avgPoolGrad(p, n, dy, dx)
}

func avgPoolGradScalar(p PoolParams, n int, dy, dx []float32) {
	oh, ow := p.OutSize()
	c := p.C
	img, oimg := p.H*p.W*c, oh*ow*c
	dy, dx = dy[:n*oimg], dx[:n*img]
	clear(dx)
	for b := range n {
		db, gb := dy[b*oimg:(b+1)*oimg], dx[b*img:(b+1)*img]
		for oy := range oh {
			y0 := oy*p.StrideH - p.PadTop
			ky0, ky1 := max(0, -y0), min(p.KH, p.H-y0)
			for ox := range ow {
				x0 := ox*p.StrideW - p.PadLeft
				kx0, kx1 := max(0, -x0), min(p.KW, p.W-x0)
				inv := float32(poolCount(p, ky0, ky1, kx0, kx1))
				g := db[(oy*ow+ox)*c : (oy*ow+ox+1)*c]
				for ky := ky0; ky < ky1; ky++ {
					for kx := kx0; kx < kx1; kx++ {
						o := ((y0+ky)*p.W + x0 + kx) * c
						cell := gb[o : o+c]
						for j, v := range g {
							cell[j] += v / inv
						}
					}
				}
			}
		}
	}
}

// GlobalAvgPoolGrad computes the gradient of GlobalAvgPool: dx[b,r,j] =
// dy[b,j]/hw for every position r, the quotient computed in float64 and
// rounded once. dy is [n,c] and dx [n,hw,c] (NHWC, H*W flattened),
// overwritten; dx must not overlap dy. It does not allocate.
func GlobalAvgPoolGrad(n, hw, c int, dy, dx []float32) {
	dy, dx = dy[:n*c], dx[:n*hw*c]
	for b := range n {
		gb := dx[b*hw*c : (b+1)*hw*c]
		row := gb[:c]
		for j, v := range dy[b*c : (b+1)*c] {
			row[j] = float32(float64(v) / float64(hw))
		}
		for r := 1; r < hw; r++ {
			copy(gb[r*c:(r+1)*c], row)
		}
	}
}
