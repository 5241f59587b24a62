package kernels

import "strconv"

// PoolParams describes a 2-D pooling window over an NHWC tensor of one
// image's size H x W x C. Padding is explicit per side; the output size is
// floor((H+PadTop+PadBottom-KH)/StrideH)+1 (no ceil mode), so no window
// reaches past the padding. CountIncludePad applies to AvgPool only: when
// set the divisor is always KH*KW, otherwise it is the number of real
// (non-padding) cells in the window.
type PoolParams struct {
	H, W, C                              int
	KH, KW                               int
	StrideH, StrideW                     int
	PadTop, PadBottom, PadLeft, PadRight int
	CountIncludePad                      bool
}

// OutSize returns the output height and width. It is meaningful only for
// parameters that pass Validate.
func (p PoolParams) OutSize() (oh, ow int) {
	oh = (p.H+p.PadTop+p.PadBottom-p.KH)/p.StrideH + 1
	ow = (p.W+p.PadLeft+p.PadRight-p.KW)/p.StrideW + 1
	return oh, ow
}

// Validate checks that every size and stride is positive, every pad is
// non-negative and smaller than the kernel along its axis (so every window
// holds at least one real cell), the kernel fits in the padded input, and
// one image in or out has at most 2^31 elements. The error names the field.
func (p PoolParams) Validate() error {
	const where = "PoolParams"
	pos := [...]struct {
		name string
		v    int
	}{{"H", p.H}, {"W", p.W}, {"C", p.C}, {"KH", p.KH}, {"KW", p.KW}, {"StrideH", p.StrideH}, {"StrideW", p.StrideW}}
	for _, f := range pos {
		if f.v <= 0 {
			return layoutErr(where, f.name+" = "+strconv.Itoa(f.v)+", must be positive")
		}
	}
	pads := [...]struct {
		name string
		v, k int
	}{{"PadTop", p.PadTop, p.KH}, {"PadBottom", p.PadBottom, p.KH}, {"PadLeft", p.PadLeft, p.KW}, {"PadRight", p.PadRight, p.KW}}
	for _, f := range pads {
		if f.v < 0 || f.v >= f.k {
			return layoutErr(where, f.name+" = "+strconv.Itoa(f.v)+", must be in [0, kernel size "+strconv.Itoa(f.k)+")")
		}
	}
	if _, err := layoutCount(where, "input image", []int{p.H, p.W, p.C}, false); err != nil {
		return err
	}
	if p.H+p.PadTop+p.PadBottom < p.KH || p.W+p.PadLeft+p.PadRight < p.KW {
		return layoutErr(where, "kernel "+strconv.Itoa(p.KH)+"x"+strconv.Itoa(p.KW)+" larger than the padded input")
	}
	oh, ow := p.OutSize()
	if _, err := layoutCount(where, "output image", []int{oh, ow, p.C}, false); err != nil {
		return err
	}
	return nil
}

// MaxPool computes max pooling. x is [n,H,W,C] and y is [n,OH,OW,C], both
// NHWC and caller-owned; p must pass Validate. Padding cells never win: each
// output is the maximum over the window's real cells (a NaN among them gives
// NaN). It does not allocate.
func MaxPool(p PoolParams, n int, x, y []float32) {
	hot.pool(p, n, x, y, false)
}

// AvgPool computes average pooling with the layout and contract of MaxPool.
// The window's cells are summed in float32 in row-major window order, then
// divided by the count (see PoolParams.CountIncludePad).
func AvgPool(p PoolParams, n int, x, y []float32) {
	hot.pool(p, n, x, y, true)
}

// poolScalar is the scalar twin of poolSIMD. Per output element it starts
// from the window's first real cell, takes max (Go's max: NaN wins, -0 < +0)
// or float32 sum over the other real cells in row-major window order, and
// divides an average once by the count (not when the count is 1).
func poolScalar(p PoolParams, n int, x, y []float32, avg bool) {
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
				cnt := poolCount(p, ky0, ky1, kx0, kx1)
				first := ((y0+ky0)*p.W + x0 + kx0) * c
				for j := range yo {
					acc := xb[first+j]
					for ky := ky0; ky < ky1; ky++ {
						for kx := kx0; kx < kx1; kx++ {
							if ky == ky0 && kx == kx0 {
								continue
							}
							v := xb[((y0+ky)*p.W+x0+kx)*c+j]
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
					yo[j] = acc
				}
			}
		}
	}
}

// poolCount is AvgPool's divisor for the window whose real cells are rows
// [ky0,ky1) and columns [kx0,kx1) of the kernel.
func poolCount(p PoolParams, ky0, ky1, kx0, kx1 int) int {
	if p.CountIncludePad {
		return p.KH * p.KW
	}
	return (ky1 - ky0) * (kx1 - kx0)
}

// gapBlock is how many rows GlobalAvgPool sums in float32 before adding the
// partial sum into a float64 total: it keeps the SIMD loop in float32 while
// bounding the float32 rounding error to a block's worth.
const gapBlock = 16

// GlobalAvgPool averages over the spatial positions: x is [n,hw,c] (NHWC
// with H*W flattened) and y is [n,c]. Each channel is summed in float32
// over blocks of 16 consecutive positions, the block sums are added in
// float64 and the total divided by hw in float64 and rounded once; the
// result is within about 1e-7 relative of the exact mean for inputs of one
// sign. It does not allocate.
func GlobalAvgPool(n, hw, c int, x, y []float32) {
	hot.gap(n, hw, c, x, y)
}

func globalAvgPoolScalar(n, hw, c int, x, y []float32) {
	const chunk = 64
	var part [chunk]float32
	var acc [chunk]float64
	x, y = x[:n*hw*c], y[:n*c]
	for b := range n {
		xb := x[b*hw*c : (b+1)*hw*c]
		for c0 := 0; c0 < c; c0 += chunk {
			cn := min(chunk, c-c0)
			clear(acc[:cn])
			for r0 := 0; r0 < hw; r0 += gapBlock {
				clear(part[:cn])
				for r := r0; r < min(r0+gapBlock, hw); r++ {
					row := xb[r*c+c0 : r*c+c0+cn]
					for j, v := range row {
						part[j] += v
					}
				}
				for j := range cn {
					acc[j] += float64(part[j])
				}
			}
			yb := y[b*c+c0 : b*c+c0+cn]
			for j := range yb {
				yb[j] = float32(acc[j] / float64(hw))
			}
		}
	}
}
