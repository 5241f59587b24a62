package kernels

import (
	"errors"
	"fmt"
)

// ConvParams describes a 2-D convolution over NHWC input, without the batch
// size. Output channel o belongs to group o/(OC/Group) and reads that
// group's C/Group input channels; padding reads as zero.
type ConvParams struct {
	H, W, C                              int // input height, width, channels
	KH, KW, OC                           int // kernel size, output channels
	StrideH, StrideW                     int
	DilationH, DilationW                 int
	PadTop, PadBottom, PadLeft, PadRight int
	Group                                int // 1 = dense; C = depthwise (OC a multiple of C)
}

// OutSize returns the output height and width. It is meaningful only for
// parameters that pass Validate.
func (p ConvParams) OutSize() (oh, ow int) {
	oh = (p.H+p.PadTop+p.PadBottom-(p.KH-1)*p.DilationH-1)/p.StrideH + 1
	ow = (p.W+p.PadLeft+p.PadRight-(p.KW-1)*p.DilationW-1)/p.StrideW + 1
	return oh, ow
}

// Validate reports the first thing wrong with p, naming the field: a size,
// stride, dilation or group below 1, a negative pad, a group that does not
// divide C and OC, a dilated kernel larger than the padded input, or a
// tensor (input, output, weights) of more than 2^31-1 elements. Code given a
// p that passed may trust it.
func (p ConvParams) Validate() error {
	const lim = int64(gemmMaxElems)
	for _, f := range []struct {
		name string
		v    int
		min  int
	}{
		{"H", p.H, 1}, {"W", p.W, 1}, {"C", p.C, 1}, {"KH", p.KH, 1}, {"KW", p.KW, 1}, {"OC", p.OC, 1},
		{"StrideH", p.StrideH, 1}, {"StrideW", p.StrideW, 1}, {"DilationH", p.DilationH, 1}, {"DilationW", p.DilationW, 1},
		{"PadTop", p.PadTop, 0}, {"PadBottom", p.PadBottom, 0}, {"PadLeft", p.PadLeft, 0}, {"PadRight", p.PadRight, 0},
		{"Group", p.Group, 1},
	} {
		if f.v < f.min {
			return fmt.Errorf("conv: %s = %d, must be at least %d", f.name, f.v, f.min)
		}
		if int64(f.v) > lim {
			return fmt.Errorf("conv: %s = %d exceeds %d", f.name, f.v, lim)
		}
	}
	if p.C%p.Group != 0 {
		return fmt.Errorf("conv: Group = %d does not divide C = %d", p.Group, p.C)
	}
	if p.OC%p.Group != 0 {
		return fmt.Errorf("conv: Group = %d does not divide OC = %d", p.Group, p.OC)
	}
	// In int64: every term is at most 2^31-1, so no sum or pairwise product overflows.
	effH := (int64(p.KH)-1)*int64(p.DilationH) + 1
	effW := (int64(p.KW)-1)*int64(p.DilationW) + 1
	padH := int64(p.H) + int64(p.PadTop) + int64(p.PadBottom)
	padW := int64(p.W) + int64(p.PadLeft) + int64(p.PadRight)
	if effH > padH {
		return fmt.Errorf("conv: KH = %d (dilated %d) exceeds padded input height %d", p.KH, effH, padH)
	}
	if effW > padW {
		return fmt.Errorf("conv: KW = %d (dilated %d) exceeds padded input width %d", p.KW, effW, padW)
	}
	oh := (padH-effH)/int64(p.StrideH) + 1
	ow := (padW-effW)/int64(p.StrideW) + 1
	if !convProductOK(lim, int64(p.H), int64(p.W), int64(p.C)) {
		return fmt.Errorf("conv: input H*W*C = %d*%d*%d exceeds %d elements", p.H, p.W, p.C, lim)
	}
	if !convProductOK(lim, oh, ow, int64(p.OC)) {
		return fmt.Errorf("conv: output OH*OW*OC = %d*%d*%d exceeds %d elements", oh, ow, p.OC, lim)
	}
	if !convProductOK(lim, int64(p.KH), int64(p.KW), int64(p.C/p.Group), int64(p.OC+gemmNR)) {
		return fmt.Errorf("conv: weights KH*KW*(C/Group)*OC = %d*%d*%d*%d exceed %d elements", p.KH, p.KW, p.C/p.Group, p.OC, lim)
	}
	return nil
}

// convProductOK reports whether the product of the positive xs is at most lim.
func convProductOK(lim int64, xs ...int64) bool {
	prod := int64(1)
	for _, x := range xs {
		if x > lim/prod {
			return false
		}
		prod *= x
	}
	return true
}

// The ways a Conv2D runs, chosen once by NewConv2D.
const (
	convPointwise = iota // 1x1, stride 1, no pad, one group: x is already A of a GEMM
	convIm2col           // everything else: im2col in row blocks, then a GEMM per group
	convDepthwise        // Group = C = OC: direct, vectorised over channels
)

// Conv2D is a convolution compiled once: weights packed and the path chosen
// (direct GEMM for 1x1, im2col + GEMM in row blocks, grouped GEMM, or the
// depthwise kernel). It is immutable after NewConv2D, so one Conv2D may serve
// several goroutines, each with its own scratch.
type Conv2D struct {
	p      ConvParams
	oh, ow int
	path   int
	ep     Epilogue
	kg     int        // GEMM inner dimension per group: KH*KW*C/Group
	rows   int        // im2col rows per block
	b      []PackedB  // per group
	epg    []Epilogue // per group: ep with its slice of the bias
	dw     *dwConv
}

// NewConv2D validates p and compiles the convolution. w is HWIO
// [KH,KW,C/Group,OC]; ep.Bias is [OC] or nil. It copies what it keeps (the
// weights, packed, and the bias), so the caller may reuse w and ep.Bias.
func NewConv2D(p ConvParams, w []float32, ep Epilogue) (*Conv2D, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	cg, ocg := p.C/p.Group, p.OC/p.Group
	kg := p.KH * p.KW * cg
	if len(w) != kg*p.OC {
		return nil, fmt.Errorf("conv: len(w) = %d, want KH*KW*(C/Group)*OC = %d", len(w), kg*p.OC)
	}
	if ep.Bias != nil && len(ep.Bias) != p.OC {
		return nil, fmt.Errorf("conv: len(bias) = %d, want OC = %d", len(ep.Bias), p.OC)
	}
	if ep.Act == ActClip && !(ep.Lo <= ep.Hi) {
		return nil, errors.New("conv: clip needs Lo <= Hi")
	}
	c := &Conv2D{p: p, ep: ep, kg: kg}
	c.oh, c.ow = p.OutSize()
	if ep.Bias != nil {
		c.ep.Bias = append([]float32(nil), ep.Bias...)
	}
	switch {
	case p.Group == p.C && p.OC == p.C && p.C > 1:
		c.path = convDepthwise
		c.dw = newDWConv(p, w, c.ep)
		return c, nil
	case p.KH == 1 && p.KW == 1 && p.StrideH == 1 && p.StrideW == 1 && p.Group == 1 &&
		p.PadTop == 0 && p.PadBottom == 0 && p.PadLeft == 0 && p.PadRight == 0:
		c.path = convPointwise
	default:
		c.path = convIm2col
		// About 64 KiB of im2col rows per block: A stays in L2 while the
		// GEMM sweeps it, and scratch stays small whatever n is.
		c.rows = min(max(16384/kg, 2*gemmMR), 512, c.oh*c.ow)
		c.rows = (c.rows + gemmMR - 1) / gemmMR * gemmMR
	}
	c.b = make([]PackedB, p.Group)
	c.epg = make([]Epilogue, p.Group)
	bg := make([]float32, kg*ocg)
	for g := range p.Group {
		for k := 0; k < kg; k++ {
			copy(bg[k*ocg:(k+1)*ocg], w[k*p.OC+g*ocg:])
		}
		c.b[g] = PackB(bg, kg, ocg, make([]float32, PackedBLen(kg, ocg)))
		c.epg[g] = c.ep
		if c.ep.Bias != nil {
			c.epg[g].Bias = c.ep.Bias[g*ocg : (g+1)*ocg]
		}
	}
	return c, nil
}

// Params returns the parameters c was built for.
func (c *Conv2D) Params() ConvParams { return c.p }

// ScratchLen returns the float32s of scratch Run needs, for any batch size.
func (c *Conv2D) ScratchLen() int {
	switch c.path {
	case convIm2col:
		return c.rows*c.kg + GemmScratchLen(c.kg)
	case convPointwise:
		return GemmScratchLen(c.kg)
	}
	return 0
}

// Run computes y = ep(conv(x, w)) for x [n,H,W,C] and y [n,OH,OW,OC], NHWC.
// scratch must hold ScratchLen() values. Run allocates nothing, reads only x
// and scratch, writes only y and scratch, and panics if a buffer is short.
func (c *Conv2D) Run(n int, x, y, scratch []float32) {
	p := &c.p
	if n < 0 || len(x) < n*p.H*p.W*p.C || len(y) < n*c.oh*c.ow*p.OC || len(scratch) < c.ScratchLen() {
		panic(fmt.Sprintf("kernels.Conv2D.Run: n=%d with len(x)=%d len(y)=%d len(scratch)=%d, want %d, %d, %d",
			n, len(x), len(y), len(scratch), n*p.H*p.W*p.C, n*c.oh*c.ow*p.OC, c.ScratchLen()))
	}
	if n == 0 {
		return
	}
	switch c.path {
	case convPointwise:
		Gemm(n*p.H*p.W, x, p.C, c.b[0], c.ep, y, p.OC, scratch)
	case convDepthwise:
		c.dw.run(n, x, y)
	default:
		m := n * c.oh * c.ow
		a, gs := scratch[:c.rows*c.kg], scratch[c.rows*c.kg:]
		ocg := p.OC / p.Group
		for q := 0; q < m; q += c.rows {
			r := min(c.rows, m-q)
			for g := range p.Group {
				c.im2col(x, q, r, g, a)
				Gemm(r, a, c.kg, c.b[g], c.epg[g], y[q*p.OC+g*ocg:], p.OC, gs)
			}
		}
	}
}

// im2col writes into a the r rows of group g's patch matrix that start at
// output pixel q (counted over the whole batch): row i holds, for each
// (ky, kx, ci), the input value under that tap, or zero in the padding.
func (c *Conv2D) im2col(x []float32, q, r, g int, a []float32) {
	p := &c.p
	cg := p.C / p.Group
	tapRow := p.KW * cg
	b, oy, ox := q/(c.oh*c.ow), q/c.ow%c.oh, q%c.ow
	for i := 0; i < r; i++ {
		row := a[i*c.kg : (i+1)*c.kg]
		img := x[b*p.H*p.W*p.C:]
		iy0, ix0 := oy*p.StrideH-p.PadTop, ox*p.StrideW-p.PadLeft
		for ky := 0; ky < p.KH; ky++ {
			iy := iy0 + ky*p.DilationH
			dst := row[ky*tapRow : (ky+1)*tapRow]
			if iy < 0 || iy >= p.H {
				clear(dst)
				continue
			}
			src := img[iy*p.W*p.C+g*cg:]
			for kx := 0; kx < p.KW; kx++ {
				ix := ix0 + kx*p.DilationW
				d := dst[kx*cg : (kx+1)*cg]
				switch {
				case ix < 0 || ix >= p.W:
					clear(d)
				case cg < 16: // copy's memmove call costs more than a short loop in wasm
					for ci, v := range src[ix*p.C : ix*p.C+cg] {
						d[ci] = v
					}
				default:
					copy(d, src[ix*p.C:ix*p.C+cg])
				}
			}
		}
		if ox++; ox == c.ow {
			ox = 0
			if oy++; oy == c.oh {
				oy = 0
				b++
			}
		}
	}
}
