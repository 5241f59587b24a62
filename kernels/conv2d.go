package kernels

import (
	"errors"
	"strconv"
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
			return errors.New("conv: " + f.name + " = " + strconv.Itoa(f.v) + ", must be at least " + strconv.Itoa(f.min))
		}
		if int64(f.v) > lim {
			return errors.New("conv: " + f.name + " = " + strconv.Itoa(f.v) + " exceeds " + strconv.FormatInt(lim, 10))
		}
	}
	if p.C%p.Group != 0 {
		return errors.New("conv: Group = " + strconv.Itoa(p.Group) + " does not divide C = " + strconv.Itoa(p.C))
	}
	if p.OC%p.Group != 0 {
		return errors.New("conv: Group = " + strconv.Itoa(p.Group) + " does not divide OC = " + strconv.Itoa(p.OC))
	}
	// In int64: every term is at most 2^31-1, so no sum or pairwise product overflows.
	effH := (int64(p.KH)-1)*int64(p.DilationH) + 1
	effW := (int64(p.KW)-1)*int64(p.DilationW) + 1
	padH := int64(p.H) + int64(p.PadTop) + int64(p.PadBottom)
	padW := int64(p.W) + int64(p.PadLeft) + int64(p.PadRight)
	if effH > padH {
		return errors.New("conv: KH = " + strconv.Itoa(p.KH) + " (dilated " + strconv.FormatInt(effH, 10) +
			") exceeds padded input height " + strconv.FormatInt(padH, 10))
	}
	if effW > padW {
		return errors.New("conv: KW = " + strconv.Itoa(p.KW) + " (dilated " + strconv.FormatInt(effW, 10) +
			") exceeds padded input width " + strconv.FormatInt(padW, 10))
	}
	oh := (padH-effH)/int64(p.StrideH) + 1
	ow := (padW-effW)/int64(p.StrideW) + 1
	if !convProductOK(lim, int64(p.H), int64(p.W), int64(p.C)) {
		return errors.New("conv: input H*W*C = " + strconv.Itoa(p.H) + "*" + strconv.Itoa(p.W) + "*" + strconv.Itoa(p.C) +
			" exceeds " + strconv.FormatInt(lim, 10) + " elements")
	}
	if !convProductOK(lim, oh, ow, int64(p.OC)) {
		return errors.New("conv: output OH*OW*OC = " + strconv.FormatInt(oh, 10) + "*" + strconv.FormatInt(ow, 10) + "*" +
			strconv.Itoa(p.OC) + " exceeds " + strconv.FormatInt(lim, 10) + " elements")
	}
	if !convProductOK(lim, int64(p.KH), int64(p.KW), int64(p.C/p.Group), int64(p.OC+gemmNR)) {
		return errors.New("conv: weights KH*KW*(C/Group)*OC = " + strconv.Itoa(p.KH) + "*" + strconv.Itoa(p.KW) + "*" +
			strconv.Itoa(p.C/p.Group) + "*" + strconv.Itoa(p.OC) + " exceed " + strconv.FormatInt(lim, 10) + " elements")
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
	convDirect           // one group, no dilation across a row: direct on the (padded) input
)

// convDirectMaxPad caps the padded copy of one image the direct path keeps in
// scratch (4 MiB); a larger padded image goes through im2col instead.
const convDirectMaxPad = 1 << 20

// Conv2D is a convolution compiled once: weights packed and the path chosen
// (direct GEMM for 1x1; the direct tile kernel on the padded input for one
// group without column dilation, which serves small channel counts such as a
// network's first layer; im2col + GEMM in row blocks, grouped GEMM; or the
// depthwise kernel). It is immutable after NewConv2D, so one Conv2D may serve
// several goroutines, each with its own scratch.
type Conv2D struct {
	p      ConvParams
	oh, ow int
	path   int
	ep     Epilogue   // what the paths apply: no Act when built with Residual
	kg     int        // GEMM inner dimension per group: KH*KW*C/Group
	rows   int        // im2col rows per block
	b      []PackedB  // per group
	epg    []Epilogue // per group: ep with its slice of the bias
	stage  []float32  // one group's weights, [kg, OC/Group], while packing (Group > 1)
	dw     *dwConv
	// direct path: the padded image's width and length (0 without padding)
	// and the bias padded with zeros to whole panels
	padW, padLen int
	biasPad      []float32
	// built with Epilogue.Residual: act is its activation (no bias), which
	// Run and RunAdd apply after the linear convolution and the residual
	residual bool
	act      Epilogue
}

// NewConv2D validates p and compiles the convolution. w is HWIO
// [KH,KW,C/Group,OC]; ep.Bias is [OC] or nil. It copies what it keeps (the
// weights, packed, and the bias), so the caller may reuse w and ep.Bias.
// With ep.Residual the convolution is built for RunAdd.
func NewConv2D(p ConvParams, w []float32, ep Epilogue) (*Conv2D, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	cg, ocg := p.C/p.Group, p.OC/p.Group
	kg := p.KH * p.KW * cg
	if len(w) != kg*p.OC {
		return nil, errors.New("conv: len(w) = " + strconv.Itoa(len(w)) + ", want KH*KW*(C/Group)*OC = " + strconv.Itoa(kg*p.OC))
	}
	if ep.Bias != nil && len(ep.Bias) != p.OC {
		return nil, errors.New("conv: len(bias) = " + strconv.Itoa(len(ep.Bias)) + ", want OC = " + strconv.Itoa(p.OC))
	}
	if ep.Act == ActClip && !(ep.Lo <= ep.Hi) {
		return nil, errors.New("conv: clip needs Lo <= Hi")
	}
	c := &Conv2D{p: p, ep: ep, kg: kg}
	if ep.Residual {
		c.residual, c.act = true, Epilogue{Act: ep.Act, Alpha: ep.Alpha, Lo: ep.Lo, Hi: ep.Hi}
		c.ep = Epilogue{}
	}
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
	case p.Group == 1 && p.DilationW == 1 &&
		(p.H+p.PadTop+p.PadBottom)*(p.W+p.PadLeft+p.PadRight)*p.C <= convDirectMaxPad:
		// A patch row (KW taps of C channels) is contiguous in NHWC, so
		// the tile kernel reads the patches in place: no im2col copy, and
		// no wasted panel width for C = 1 or 3.
		c.path = convDirect
		c.padW = p.W + p.PadLeft + p.PadRight
		if p.PadTop+p.PadBottom+p.PadLeft+p.PadRight > 0 {
			c.padLen = (p.H + p.PadTop + p.PadBottom) * c.padW * p.C
		}
		c.biasPad = make([]float32, (p.OC+gemmNR-1)/gemmNR*gemmNR)
		copy(c.biasPad, c.ep.Bias)
	default:
		c.path = convIm2col
		// About 64 KiB of im2col rows per block: A stays in L2 while the
		// GEMM sweeps it, and scratch stays small whatever n is.
		c.rows = min(max(16384/kg, 2*gemmMR), 512, c.oh*c.ow)
		c.rows = (c.rows + gemmMR - 1) / gemmMR * gemmMR
	}
	c.b = make([]PackedB, p.Group)
	c.epg = make([]Epilogue, p.Group)
	if p.Group > 1 {
		c.stage = make([]float32, kg*ocg)
	}
	for g := range p.Group {
		c.b[g] = PackedB{K: kg, N: ocg, Data: make([]float32, PackedBLen(kg, ocg))}
		c.epg[g] = c.ep
		if c.ep.Bias != nil {
			c.epg[g].Bias = c.ep.Bias[g*ocg : (g+1)*ocg]
		}
	}
	c.pack(w)
	return c, nil
}

// pack packs w (HWIO) into the per-group GEMM panels, reusing their storage.
func (c *Conv2D) pack(w []float32) {
	ocg := c.p.OC / c.p.Group
	for g := range c.p.Group {
		bg := w // one group: HWIO is already the [kg, OC] right-hand matrix
		if c.p.Group > 1 {
			bg = c.stage
			for k := 0; k < c.kg; k++ {
				copy(bg[k*ocg:(k+1)*ocg], w[k*c.p.OC+g*ocg:])
			}
		}
		c.b[g] = PackB(bg, c.kg, ocg, c.b[g].Data)
	}
}

// SetWeights replaces the convolution's weights (HWIO, the length NewConv2D
// took) and, when it was built with a bias, its bias ([OC]; nil keeps the
// bias as it is). It repacks in place and allocates nothing: a trainer calls
// it after every optimiser step. A bias for a convolution built without one,
// or a wrong length, is an error.
func (c *Conv2D) SetWeights(w, bias []float32) error {
	if len(w) != c.kg*c.p.OC {
		return errors.New("conv: SetWeights: len(w) = " + strconv.Itoa(len(w)) + ", want " + strconv.Itoa(c.kg*c.p.OC))
	}
	if bias != nil && (c.ep.Bias == nil || len(bias) != c.p.OC) {
		return errors.New("conv: SetWeights: bias of " + strconv.Itoa(len(bias)) + " values for a convolution built with " +
			strconv.Itoa(len(c.ep.Bias)))
	}
	if bias != nil {
		copy(c.ep.Bias, bias) // the per-group epilogues slice this array
		copy(c.biasPad, bias)
	}
	if c.path == convDepthwise {
		copy(c.dw.w, w)
		if bias != nil {
			copy(c.dw.bias, bias)
		}
		return nil
	}
	c.pack(w)
	return nil
}

// Params returns the parameters c was built for.
func (c *Conv2D) Params() ConvParams { return c.p }

// ScratchLen returns the float32s of scratch Run needs, for any batch size.
func (c *Conv2D) ScratchLen() int {
	switch c.path {
	case convIm2col:
		return parSlots*c.rows*c.kg + GemmScratchLen(c.kg)
	case convPointwise:
		return GemmScratchLen(c.kg)
	case convDirect:
		return parSlots*gemmMR*gemmNR + c.padLen
	case convDepthwise:
		return c.dw.padLen
	}
	return 0
}

// Run computes y = ep(conv(x, w)) for x [n,H,W,C] and y [n,OH,OW,OC], NHWC.
// scratch must hold ScratchLen() values. Run allocates nothing, reads only x
// and scratch, writes only y and scratch, and panics if a buffer is short.
// On a convolution built with Epilogue.Residual it is RunAdd with a zero
// residual: the linear convolution, then ActivateInPlace.
func (c *Conv2D) Run(n int, x, y, scratch []float32) {
	c.check("Run", n, x, y, scratch)
	if n == 0 {
		return
	}
	c.run(n, x, y, scratch)
	if c.residual {
		hot.activate(y[:n*c.oh*c.ow*c.p.OC], c.act)
	}
}

// RunAdd computes y = act(conv(x, w) + bias + res) for a convolution built
// with Epilogue.Residual: res is shaped like y ([n,OH,OW,OC], NHWC) and must
// not overlap it. Its results have the bits (NaN: a NaN) of the steps it
// fuses: the convolution without activation, then hot.binSame's add of res,
// then ActivateInPlace. The pointwise path in wasm's SIMD build adds the
// residual in the GEMM's tile kernel, before its clamps (gemmResFused); the
// others add it, and activate, in a pass over y. RunAdd allocates nothing,
// reads only x, res and scratch, writes only y and scratch, and panics if a
// buffer is short or c was built without Residual.
func (c *Conv2D) RunAdd(n int, x, res, y, scratch []float32) {
	if !c.residual {
		panic("kernels.Conv2D.RunAdd: the convolution was built without Epilogue.Residual")
	}
	c.check("RunAdd", n, x, y, scratch)
	p := &c.p
	out := n * c.oh * c.ow * p.OC
	if len(res) < out {
		panic("kernels.Conv2D.RunAdd: n=" + strconv.Itoa(n) + " with len(res)=" + strconv.Itoa(len(res)) + ", want " + strconv.Itoa(out))
	}
	if n == 0 {
		return
	}
	if c.path == convPointwise && parSlots == 1 && gemmResFused {
		ep := c.act
		ep.Bias = c.ep.Bias
		gemm(n*p.H*p.W, x, p.C, c.b[0], ep, y, p.OC, scratch, res[:out])
		return
	}
	c.run(n, x, y, scratch)
	hot.binSame(BinAdd, y[:out], res[:out], y[:out])
	hot.activate(y[:out], c.act)
}

// check panics, naming the method, unless x, y and scratch hold what a
// batch of n needs.
func (c *Conv2D) check(method string, n int, x, y, scratch []float32) {
	p := &c.p
	if n < 0 || len(x) < n*p.H*p.W*p.C || len(y) < n*c.oh*c.ow*p.OC || len(scratch) < c.ScratchLen() {
		panic("kernels.Conv2D." + method + ": n=" + strconv.Itoa(n) + " with len(x)=" + strconv.Itoa(len(x)) + " len(y)=" + strconv.Itoa(len(y)) +
			" len(scratch)=" + strconv.Itoa(len(scratch)) + ", want " + strconv.Itoa(n*p.H*p.W*p.C) + ", " +
			strconv.Itoa(n*c.oh*c.ow*p.OC) + ", " + strconv.Itoa(c.ScratchLen()))
	}
}

// run computes y = ep(conv(x, w)) for n >= 1 images, with c.ep: the linear
// convolution when c was built for RunAdd.
func (c *Conv2D) run(n int, x, y, scratch []float32) {
	p := &c.p
	switch c.path {
	case convPointwise:
		Gemm(n*p.H*p.W, x, p.C, c.b[0], c.ep, y, p.OC, scratch)
	case convDepthwise:
		c.dw.run(n, x, y, scratch)
	case convDirect:
		c.direct(n, x, y, scratch)
	default:
		if parSlots > 1 && convIm2colParallel(c, n, x, y, scratch) {
			return
		}
		m := n * c.oh * c.ow
		a, gs := scratch[:c.rows*c.kg], scratch[parSlots*c.rows*c.kg:]
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

// direct runs the convDirect path. Without padding, the patch of output
// pixel (oy, ox) is KH rows of KW*C contiguous values in x; with padding, it
// first copies each image into a zero-bordered buffer in scratch, so that
// every pixel is interior. It then sweeps the pixels in runs of whole tiles
// along an output row (one convTile call per run and panel), and the
// pixels left at a row's end in groups of gemmMR that wrap to the next row.
// The sum runs over the patch in HWIO order, padded taps included, as the
// im2col GEMM would.
func (c *Conv2D) direct(n int, x, y, scratch []float32) {
	p := &c.p
	npix := c.oh * c.ow
	tiles := parSlots * gemmMR * gemmNR // one edge tile per slot
	buf := scratch[tiles : tiles+c.padLen]
	for b := 0; b < n; b++ {
		img := x[b*p.H*p.W*p.C : (b+1)*p.H*p.W*p.C]
		if c.padLen > 0 {
			convPadImage(buf, img, p.H, p.W, p.C, p.PadTop, p.PadBottom, p.PadLeft, c.padW)
			img = buf
		}
		yb := y[b*npix*p.OC : (b+1)*npix*p.OC]
		if parSlots > 1 && convDirectParallel(c, img, yb, scratch[:tiles]) {
			continue
		}
		directRows(c, img, yb, 0, c.oh, scratch[:gemmMR*gemmNR])
	}
}

// directRows computes output rows [oy0, oy1) of one image for the direct
// path: img is the (padded) image, yb its output, tile gemmMR*gemmNR values
// of scratch. It writes no output pixel outside those rows.
func directRows(c *Conv2D, img, yb []float32, oy0, oy1 int, tile []float32) {
	p := &c.p
	C, OC := p.C, p.OC
	lo, hi, fused := gemmClamp(c.ep)
	seg, rs := p.KW*C, p.DilationH*c.padW*C
	sy, sx := p.StrideH*c.padW*C, p.StrideW*C
	bd := c.b[0].Data
	qEnd := oy1 * c.ow
	oy, ox := oy0, 0
	var o [gemmMR]int
	for q := oy0 * c.ow; q < qEnd; {
		var mt, step, nr int
		if ox+gemmMR <= c.ow {
			// A run of mt tiles along row oy: pixel i at o[0]+i*sx.
			mt, nr = (c.ow-ox)/gemmMR, gemmMR
			step = gemmMR * sx
			for r := range o {
				o[r] = oy*sy + (ox+r)*sx
			}
			if ox += mt * gemmMR; ox == c.ow {
				ox, oy = 0, oy+1
			}
		} else {
			// The end of a row: one group that wraps to the next row; a
			// short last group repeats its last pixel.
			mt, nr = 1, min(gemmMR, qEnd-q)
			for r := range o {
				if r >= nr {
					o[r] = o[nr-1]
					continue
				}
				o[r] = oy*sy + ox*sx
				if ox++; ox == c.ow {
					ox, oy = 0, oy+1
				}
			}
		}
		rows := (mt-1)*gemmMR + nr
		for j0 := 0; j0 < OC; j0 += gemmNR {
			w := min(gemmNR, OC-j0)
			bp := bd[j0*c.kg : j0*c.kg+c.kg*gemmNR]
			bias := (*[gemmNR]float32)(c.biasPad[j0 : j0+gemmNR])
			// Whole rows of 8 go straight to y; so do rows of OC < 8
			// (one panel) while the 8th value of the last one stays in
			// y: the kernel stores rows in order, so what a row writes
			// past its OC values is overwritten by the next row, here
			// or in a later call.
			if nr == gemmMR && (w == gemmNR || (OC < gemmNR && (q+rows-1)*OC+gemmNR <= qEnd*OC)) {
				convTile(img, o[0], o[1], o[2], o[3], step, mt, p.KH, seg, rs, bp, bias, lo, hi, yb[q*OC+j0:], OC)
				continue
			}
			for t := 0; t < mt; t++ {
				d := t * step
				convTile(img, o[0]+d, o[1]+d, o[2]+d, o[3]+d, 0, 1, p.KH, seg, rs, bp, bias, lo, hi, tile, gemmNR)
				for r := 0; r < min(gemmMR, rows-t*gemmMR); r++ {
					i := q + t*gemmMR + r
					copy(yb[i*OC+j0:i*OC+j0+w], tile[r*gemmNR:])
				}
			}
		}
		if !fused {
			Activate(yb[q*OC:(q+rows)*OC], c.ep)
		}
		q += rows
	}
}

// convTile is the direct convolution's micro-kernel (SIMD in a simd build,
// see convTileScalar): mt tiles of gemmMR output pixels by one 8-column panel
// bp of the packed weights (K = kh*seg rows). Pixel r of tile t has its patch
// at x[o_r+t*step], and its 8 outputs go to dst[(t*gemmMR+r)*ldd:], stored
// in that order (so ldd < 8 overwrites the start of the next row before
// that row is stored).
var convTile = convTileScalar

// convTileScalar is the scalar twin of convTile. For pixel r of tile t, with
// patch start o = o_r+t*step, it computes from zero and in order ky < kh,
// t < seg, acc[j] += x[o+ky*rs+t]*bp[(ky*seg+t)*8+j], then
// dst[(t*gemmMR+r)*ldd+j] = min(max(acc[j]+bias[j], lo), hi), for j < 8.
func convTileScalar(x []float32, o0, o1, o2, o3, step, mt, kh, seg, rs int, bp []float32, bias *[gemmNR]float32, lo, hi float32, dst []float32, ldd int) {
	for i := 0; i < mt*gemmMR; i++ {
		o := [gemmMR]int{o0, o1, o2, o3}[i%gemmMR] + i/gemmMR*step
		var c0, c1, c2, c3, c4, c5, c6, c7 float32
		for ky := 0; ky < kh; ky++ {
			xs := x[o+ky*rs : o+ky*rs+seg]
			bk := bp[ky*seg*gemmNR : (ky+1)*seg*gemmNR]
			for t, av := range xs {
				b := bk[t*gemmNR : t*gemmNR+gemmNR : t*gemmNR+gemmNR]
				c0 += float32(av * b[0])
				c1 += float32(av * b[1])
				c2 += float32(av * b[2])
				c3 += float32(av * b[3])
				c4 += float32(av * b[4])
				c5 += float32(av * b[5])
				c6 += float32(av * b[6])
				c7 += float32(av * b[7])
			}
		}
		d := dst[i*ldd : i*ldd+gemmNR : i*ldd+gemmNR]
		d[0] = min(max(c0+bias[0], lo), hi)
		d[1] = min(max(c1+bias[1], lo), hi)
		d[2] = min(max(c2+bias[2], lo), hi)
		d[3] = min(max(c3+bias[3], lo), hi)
		d[4] = min(max(c4+bias[4], lo), hi)
		d[5] = min(max(c5+bias[5], lo), hi)
		d[6] = min(max(c6+bias[6], lo), hi)
		d[7] = min(max(c7+bias[7], lo), hi)
	}
}

// convPadImage writes the h x w x c image src into dst as the
// (pt+h+pb) x wp x c image with zero borders: pt rows above, pb below, pl
// columns on the left and wp-w-pl on the right. It clears only the borders.
func convPadImage(dst, src []float32, h, w, c, pt, pb, pl, wp int) {
	rl := wp * c
	clear(dst[:pt*rl])
	for iy := 0; iy < h; iy++ {
		row := dst[(pt+iy)*rl : (pt+iy+1)*rl]
		clear(row[:pl*c])
		copy(row[pl*c:], src[iy*w*c:(iy+1)*w*c])
		clear(row[(pl+w)*c:])
	}
	clear(dst[(pt+h)*rl : (pt+h+pb)*rl])
}
