package naive

// ConvParams describes a 2-D convolution over NHWC input, without the batch
// size. It has the same fields as kernels.ConvParams, so a value of one
// converts to the other (naive cannot import kernels: kernels' tests import
// naive).
type ConvParams struct {
	H, W, C                              int // input height, width, channels
	KH, KW, OC                           int // kernel size, output channels
	StrideH, StrideW                     int
	DilationH, DilationW                 int
	PadTop, PadBottom, PadLeft, PadRight int
	Group                                int // 1 = dense; C = depthwise
}

// OutSize returns the output height and width.
func (p ConvParams) OutSize() (oh, ow int) {
	oh = (p.H+p.PadTop+p.PadBottom-(p.KH-1)*p.DilationH-1)/p.StrideH + 1
	ow = (p.W+p.PadLeft+p.PadRight-(p.KW-1)*p.DilationW-1)/p.StrideW + 1
	return oh, ow
}

// Conv2D computes y = conv(x, w) + bias by the definition, one output element
// at a time. x is [n,H,W,C], w is HWIO [KH,KW,C/Group,OC], bias is [OC] or
// nil, y is [n,OH,OW,OC]. Output channel o belongs to group o/(OC/Group) and
// reads that group's C/Group input channels; padding reads as zero.
func Conv2D(p ConvParams, n int, x, w, bias, y []float32) {
	oh, ow := p.OutSize()
	cg, ocg := p.C/p.Group, p.OC/p.Group
	for b := 0; b < n; b++ {
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				for o := 0; o < p.OC; o++ {
					g := o / ocg
					var s float64
					if bias != nil {
						s = float64(bias[o])
					}
					for ky := 0; ky < p.KH; ky++ {
						iy := oy*p.StrideH - p.PadTop + ky*p.DilationH
						if iy < 0 || iy >= p.H {
							continue
						}
						for kx := 0; kx < p.KW; kx++ {
							ix := ox*p.StrideW - p.PadLeft + kx*p.DilationW
							if ix < 0 || ix >= p.W {
								continue
							}
							for ci := 0; ci < cg; ci++ {
								xv := x[((b*p.H+iy)*p.W+ix)*p.C+g*cg+ci]
								wv := w[((ky*p.KW+kx)*cg+ci)*p.OC+o]
								s += float64(xv) * float64(wv)
							}
						}
					}
					y[((b*oh+oy)*ow+ox)*p.OC+o] = float32(s)
				}
			}
		}
	}
}
