package kernels

import "strconv"

// The ways a Conv2DGrad runs, chosen once by NewConv2DGrad.
const (
	convGradGemm      = iota // im2col (transposed) + GEMM for dw; GEMM with packed wᵀ + col2im for dx
	convGradPointwise        // as convGradGemm, but dx is the GEMM's output itself (1x1, stride 1, no pad)
	convGradDepthwise        // Group = C > 1 (any channel multiplier): direct loops over channels
)

// Conv2DGrad computes the gradients of a convolution with parameters p (any
// ConvParams that NewConv2D accepts: stride, dilation, asymmetric pads,
// groups, depthwise with a channel multiplier). It holds no weights: the
// weights change at every training step, so InputGrad takes them per call
// and packs them into scratch. Layouts are the forward's: x [n,H,W,C] and
// dy [n,OH,OW,OC] in NHWC, w and dw HWIO [KH,KW,C/Group,OC].
//
// The GEMM path works in blocks of output pixels (counted over the whole
// batch, so a block may span images): FilterGrad lowers each block to
// dw_g += patchesᵀ·dy_g (a GEMM of M = KH*KW*C/Group, K = pixels,
// N = OC/Group, with the patches gathered transposed and the block of dy
// packed), InputGrad to dpatchesᵀ = w_g·dy_gᵀ (M = KH*KW*C/Group,
// K = OC/Group, N = pixels; w read in place, the block of dy packed)
// followed by a scatter-add of the patches into dx (col2im). For 1x1,
// stride 1, unpadded convolutions dx = dy·wᵀ is one GEMM into dx. Depthwise
// convolutions go through direct loops over channels, where a GEMM per
// group would be 1 or 2 columns wide. The GEMMs are Gemm's, so a SIMD build
// runs its SIMD micro-kernels.
//
// A Conv2DGrad is immutable after NewConv2DGrad; one may serve several
// goroutines, each with its own scratch.
type Conv2DGrad struct {
	p        ConvParams
	oh, ow   int
	path     int
	cg, ocg  int // input and output channels per group
	kg       int // KH*KW*C/Group: the patch length
	rows     int // output pixels per block (GEMM paths)
	mult     int // depthwise channel multiplier OC/C
	inLen    int // H*W*C
	outPix   int // OH*OW
	wLen     int // KH*KW*(C/Group)*OC
	packWLen int // PackedBLen(OC/Group, kg): one group's packed wᵀ (pointwise path)
}

// NewConv2DGrad validates p (see ConvParams.Validate) and chooses how the
// gradients are computed.
func NewConv2DGrad(p ConvParams) (*Conv2DGrad, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	g := &Conv2DGrad{p: p, cg: p.C / p.Group, ocg: p.OC / p.Group}
	g.oh, g.ow = p.OutSize()
	g.kg = p.KH * p.KW * g.cg
	g.inLen = p.H * p.W * p.C
	g.outPix = g.oh * g.ow
	g.wLen = g.kg * p.OC
	switch {
	case p.Group == p.C && p.C > 1:
		g.path = convGradDepthwise
		g.mult = p.OC / p.C
		return g, nil
	case p.KH == 1 && p.KW == 1 && p.StrideH == 1 && p.StrideW == 1 &&
		p.PadTop == 0 && p.PadBottom == 0 && p.PadLeft == 0 && p.PadRight == 0:
		g.path = convGradPointwise
	default:
		g.path = convGradGemm
	}
	// About 64 KiB of patches per block, and at least 64 pixels so that the
	// FilterGrad GEMM (K = pixels) amortises adding its result into dw.
	g.rows = min(max(16384/g.kg, 64), 1024)
	g.rows = (g.rows + gemmMR - 1) / gemmMR * gemmMR
	g.packWLen = PackedBLen(g.ocg, g.kg)
	return g, nil
}

// Params returns the parameters g was built for.
func (g *Conv2DGrad) Params() ConvParams { return g.p }

// ScratchLen returns the float32s of scratch InputGrad and FilterGrad need,
// whatever the batch size: a block of patches, a packed block of dy or one
// group's packed weights, and the GEMM's own scratch (0 for depthwise).
func (g *Conv2DGrad) ScratchLen() int {
	switch g.path {
	case convGradDepthwise:
		return 0
	case convGradPointwise:
		return max(g.packWLen+GemmScratchLen(g.ocg), g.filterScratchLen())
	}
	return max(PackedBLen(g.ocg, g.rows)+g.kg*g.rows+GemmScratchLen(g.ocg), g.filterScratchLen())
}

// filterScratchLen is what FilterGrad's GEMM path needs: the transposed
// patches of a block, the block of dy packed, the block's [kg,OC/Group]
// product and the GEMM's scratch.
func (g *Conv2DGrad) filterScratchLen() int {
	return g.kg*g.rows + PackedBLen(g.rows, g.ocg) + g.kg*g.ocg + GemmScratchLen(g.rows)
}

// check panics, naming the method, unless the buffers hold a batch of n.
func (g *Conv2DGrad) check(name string, n int, in, out, w, scratch []float32, inName, outName, wName string, wantW int) {
	wantIn, wantOut := n*g.inLen, n*g.outPix*g.p.OC
	if n < 0 || len(in) < wantIn || len(out) < wantOut || len(w) < wantW || len(scratch) < g.ScratchLen() {
		panic("kernels.Conv2DGrad." + name + ": n=" + strconv.Itoa(n) + " with len(" + inName + ")=" + strconv.Itoa(len(in)) +
			" len(" + outName + ")=" + strconv.Itoa(len(out)) + " len(" + wName + ")=" + strconv.Itoa(len(w)) +
			" len(scratch)=" + strconv.Itoa(len(scratch)) + ", want " + strconv.Itoa(wantIn) + ", " + strconv.Itoa(wantOut) +
			", " + strconv.Itoa(wantW) + ", " + strconv.Itoa(g.ScratchLen()))
	}
}

// InputGrad computes dx [n,H,W,C], the gradient of a loss with respect to
// the convolution's input, from dy [n,OH,OW,OC], the gradient with respect
// to its output, and the weights w (HWIO): the transposed convolution of dy
// with w. It overwrites dx (padding taps are dropped). scratch must hold
// ScratchLen() values. InputGrad allocates nothing, reads only dy, w and
// scratch, writes only dx and scratch, and panics if a buffer is short.
func (g *Conv2DGrad) InputGrad(n int, dy, w, dx, scratch []float32) {
	g.check("InputGrad", n, dx, dy, w, scratch, "dx", "dy", "w", g.wLen)
	if n == 0 {
		return
	}
	p := &g.p
	dx = dx[:n*g.inLen]
	if g.path == convGradDepthwise {
		g.depthwiseInput(n, dy, w, dx)
		return
	}
	m := n * g.outPix
	if g.path == convGradPointwise {
		// dx is the GEMM dy·wᵀ itself: each pixel and group's channels are
		// written exactly once.
		pw, gs := scratch[:g.packWLen], scratch[g.packWLen:]
		for grp := range p.Group {
			b := g.packWT(w, grp, pw)
			Gemm(m, dy[grp*g.ocg:], p.OC, b, Epilogue{}, dx[grp*g.cg:], p.C, gs)
		}
		return
	}
	// Per block, the patch gradients transposed, dcolᵀ [kg,r] = w_g·dy_gᵀ:
	// w_g is read in place (row stride OC) and only the block of dy is
	// packed, so the GEMM's panels run along pixels and are full.
	clear(dx)
	np := PackedBLen(g.ocg, g.rows)
	pd, dcol, gs := scratch[:np], scratch[np:np+g.kg*g.rows], scratch[np+g.kg*g.rows:]
	for q := 0; q < m; q += g.rows {
		r := min(g.rows, m-q)
		for grp := range p.Group {
			b := convGradPackCols(dy[q*p.OC+grp*g.ocg:], p.OC, r, g.ocg, pd)
			Gemm(g.kg, w[grp*g.ocg:], p.OC, b, Epilogue{}, dcol, g.rows, gs)
			g.col2imT(dx, q, r, grp, dcol)
		}
	}
}

// FilterGrad computes dw (HWIO [KH,KW,C/Group,OC]), the gradient of a loss
// with respect to the weights, summed over the batch, from the input x
// [n,H,W,C] and dy [n,OH,OW,OC]. With accumulate false it overwrites dw;
// with accumulate true it adds to it (gradient accumulation over
// micro-batches). scratch must hold ScratchLen() values. FilterGrad
// allocates nothing, reads only x, dy and scratch, writes only dw and
// scratch, and panics if a buffer is short.
func (g *Conv2DGrad) FilterGrad(n int, x, dy, dw, scratch []float32, accumulate bool) {
	g.check("FilterGrad", n, x, dy, dw, scratch, "x", "dy", "dw", g.wLen)
	p := &g.p
	dw = dw[:g.wLen]
	if !accumulate {
		clear(dw)
	}
	if n == 0 {
		return
	}
	if g.path == convGradDepthwise {
		g.depthwiseFilter(n, x, dy, dw)
		return
	}
	m := n * g.outPix
	kg, ocg := g.kg, g.ocg
	at := scratch[:kg*g.rows]
	pd := scratch[kg*g.rows : kg*g.rows+PackedBLen(g.rows, ocg)]
	tmp := scratch[kg*g.rows+len(pd) : kg*g.rows+len(pd)+kg*ocg]
	gs := scratch[kg*g.rows+len(pd)+kg*ocg:]
	for q := 0; q < m; q += g.rows {
		r := min(g.rows, m-q)
		for grp := range p.Group {
			g.im2colT(x, q, r, grp, at)
			b := convGradPackRows(dy[q*p.OC+grp*ocg:], p.OC, r, ocg, pd)
			Gemm(kg, at, g.rows, b, Epilogue{}, tmp, ocg, gs)
			for k := 0; k < kg; k++ {
				d := dw[k*p.OC+grp*ocg : k*p.OC+grp*ocg+ocg]
				for j, v := range tmp[k*ocg : k*ocg+ocg] {
					d[j] += v
				}
			}
		}
	}
}

// BiasGrad computes db [oc], the sum of dy [rows,oc] over its rows: the
// gradient of a bias added to every row (rows = n*OH*OW for a convolution,
// the batch size for Dense). With accumulate false it overwrites db; with
// accumulate true it adds to it. It allocates nothing, reads only dy, writes
// only db, and panics if a buffer is short.
func BiasGrad(rows, oc int, dy, db []float32, accumulate bool) {
	if rows < 0 || oc < 0 || len(dy) < rows*oc || len(db) < oc {
		panic("kernels.BiasGrad: rows=" + strconv.Itoa(rows) + " oc=" + strconv.Itoa(oc) +
			" with len(dy)=" + strconv.Itoa(len(dy)) + " len(db)=" + strconv.Itoa(len(db)))
	}
	db = db[:oc]
	if !accumulate {
		clear(db)
	}
	// Four columns at a time down the rows: four sums stay in registers,
	// where a pass per row would load and store db for every element. Each
	// db[j] still adds its rows in order.
	dy = dy[:rows*oc]
	j := 0
	for ; j+4 <= oc; j += 4 {
		s0, s1, s2, s3 := db[j], db[j+1], db[j+2], db[j+3]
		for r := j; r < len(dy); r += oc {
			d := dy[r : r+4 : r+4]
			s0 += d[0]
			s1 += d[1]
			s2 += d[2]
			s3 += d[3]
		}
		db[j], db[j+1], db[j+2], db[j+3] = s0, s1, s2, s3
	}
	for ; j < oc; j++ {
		s0 := db[j]
		for r := j; r < len(dy); r += oc {
			s0 += dy[r]
		}
		db[j] = s0
	}
}

// packWT packs group grp's weights transposed, the [OC/Group, kg] matrix
// with element (o, k) = w[k*OC+grp*OC/Group+o], into dst for Gemm.
func (g *Conv2DGrad) packWT(w []float32, grp int, dst []float32) PackedB {
	kg, ocg, oc := g.kg, g.ocg, g.p.OC
	dst = dst[:g.packWLen]
	for j0 := 0; j0 < kg; j0 += gemmNR {
		nw := min(gemmNR, kg-j0)
		panel := dst[j0*ocg : j0*ocg+ocg*gemmNR]
		for o := 0; o < ocg; o++ {
			d := panel[o*gemmNR : o*gemmNR+gemmNR : o*gemmNR+gemmNR]
			for j := 0; j < nw; j++ {
				d[j] = w[(j0+j)*oc+grp*ocg+o]
			}
			clear(d[nw:])
		}
	}
	return PackedB{K: ocg, N: kg, Data: dst}
}

// convGradPackRows packs the [r,nc] matrix whose row t is src[t*lds:][:nc]
// into dst for Gemm (PackB with a row stride).
func convGradPackRows(src []float32, lds, r, nc int, dst []float32) PackedB {
	dst = dst[:PackedBLen(r, nc)]
	for j0 := 0; j0 < nc; j0 += gemmNR {
		nw := min(gemmNR, nc-j0)
		panel := dst[j0*r : j0*r+r*gemmNR]
		for t := 0; t < r; t++ {
			d := panel[t*gemmNR : t*gemmNR+gemmNR : t*gemmNR+gemmNR]
			s := src[t*lds+j0 : t*lds+j0+nw]
			for j, v := range s { // copy's memmove call costs more than 8 moves in wasm
				d[j] = v
			}
			clear(d[nw:])
		}
	}
	return PackedB{K: r, N: nc, Data: dst}
}

// convGradPackCols packs the transpose of the [r,nc] matrix whose row t is
// src[t*lds:][:nc], that is the [nc,r] matrix, into dst for Gemm.
func convGradPackCols(src []float32, lds, r, nc int, dst []float32) PackedB {
	dst = dst[:PackedBLen(nc, r)]
	for j0 := 0; j0 < r; j0 += gemmNR {
		nw := min(gemmNR, r-j0)
		panel := dst[j0*nc : j0*nc+nc*gemmNR]
		for j := 0; j < nw; j++ {
			s := src[(j0+j)*lds : (j0+j)*lds+nc]
			for o, v := range s {
				panel[o*gemmNR+j] = v
			}
		}
		for o := 0; o < nc; o++ {
			clear(panel[o*gemmNR+nw : o*gemmNR+gemmNR])
		}
	}
	return PackedB{K: nc, N: r, Data: dst}
}

// convGradSpan returns the output columns ox in [a, b) whose input column
// ox*s+off lies in [0, w), as [lo, hi) with a <= lo <= hi <= b.
func convGradSpan(off, s, w, a, b int) (lo, hi int) {
	lo, hi = a, b
	if off < 0 {
		lo = min(max(lo, (-off+s-1)/s), b)
	}
	if w-1-off < 0 {
		return lo, lo
	}
	hi = min(hi, (w-1-off)/s+1)
	if hi < lo {
		hi = lo
	}
	return lo, hi
}

// im2colT writes the r rows of group grp's patch matrix that start at
// output pixel q (over the whole batch) transposed into at, row stride
// g.rows: at[k*g.rows+i] is tap k = (ky*KW+kx)*C/Group+ci of pixel q+i, or
// zero in the padding. It works a run of pixels along an output row at a
// time, where a tap reads the input row at a fixed stride.
func (g *Conv2DGrad) im2colT(x []float32, q, r, grp int, at []float32) {
	p := &g.p
	cg, ld, sx := g.cg, g.rows, p.StrideW*p.C
	for i := 0; i < r; {
		pix := q + i
		b, oy, ox0 := pix/g.outPix, pix/g.ow%g.oh, pix%g.ow
		run := min(g.ow-ox0, r-i)
		img := x[b*g.inLen : (b+1)*g.inLen]
		for ky := 0; ky < p.KH; ky++ {
			iy := oy*p.StrideH - p.PadTop + ky*p.DilationH
			for kx := 0; kx < p.KW; kx++ {
				k0 := (ky*p.KW + kx) * cg
				off := kx*p.DilationW - p.PadLeft
				lo, hi := ox0, ox0
				if iy >= 0 && iy < p.H {
					lo, hi = convGradSpan(off, p.StrideW, p.W, ox0, ox0+run)
				}
				for ci := 0; ci < cg; ci++ {
					d := at[(k0+ci)*ld+i : (k0+ci)*ld+i+run]
					for t := range d[:lo-ox0] {
						d[t] = 0
					}
					for t := hi - ox0; t < run; t++ {
						d[t] = 0
					}
					if lo == hi {
						continue
					}
					dd := d[lo-ox0 : hi-ox0]
					s0 := (iy*p.W+lo*p.StrideW+off)*p.C + grp*cg + ci
					src := img[s0 : s0+(len(dd)-1)*sx+1]
					if sx == 1 {
						copy(dd, src)
						continue
					}
					for t := range dd {
						dd[t] = src[t*sx]
					}
				}
			}
		}
		i += run
	}
}

// col2imT adds group grp's transposed patch gradients dcol [kg,r] (row
// stride g.rows) of the r output pixels from q on into dx at the input
// positions they were read from, dropping the taps in the padding: the
// adjoint of im2colT.
func (g *Conv2DGrad) col2imT(dx []float32, q, r, grp int, dcol []float32) {
	p := &g.p
	cg, ld, sx := g.cg, g.rows, p.StrideW*p.C
	for i := 0; i < r; {
		pix := q + i
		b, oy, ox0 := pix/g.outPix, pix/g.ow%g.oh, pix%g.ow
		run := min(g.ow-ox0, r-i)
		img := dx[b*g.inLen : (b+1)*g.inLen]
		for ky := 0; ky < p.KH; ky++ {
			iy := oy*p.StrideH - p.PadTop + ky*p.DilationH
			if iy < 0 || iy >= p.H {
				continue
			}
			for kx := 0; kx < p.KW; kx++ {
				k0 := (ky*p.KW + kx) * cg
				off := kx*p.DilationW - p.PadLeft
				lo, hi := convGradSpan(off, p.StrideW, p.W, ox0, ox0+run)
				if lo == hi {
					continue
				}
				for ci := 0; ci < cg; ci++ {
					s := dcol[(k0+ci)*ld+i+lo-ox0 : (k0+ci)*ld+i+hi-ox0]
					d0 := (iy*p.W+lo*p.StrideW+off)*p.C + grp*cg + ci
					d := img[d0 : d0+(len(s)-1)*sx+1]
					for t, v := range s {
						d[t*sx] += v
					}
				}
			}
		}
		i += run
	}
}
