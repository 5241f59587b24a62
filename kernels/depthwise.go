package kernels

// dwConv is a compiled depthwise convolution, Group = C = OC: each channel is
// convolved with its own KH x KW filter. It runs directly on NHWC, the
// micro-kernel vectorised over channels. A padded convolution first copies
// each image into a zero-bordered buffer in scratch (up to dwPadLimit
// values), so that every output pixel has its whole window and a row is one
// call of the micro-kernel; past that limit it splits each output row into
// border pixels (whose window is clipped by the padding: they run with fewer
// taps, never testing a tap) and the interior run (all taps, one call).
type dwConv struct {
	p      ConvParams // as built
	q      ConvParams // as run: p, or p on the padded image (no pads)
	padLen int        // values of the padded image, 0 when q = p
	oh, ow int
	w      []float32 // [KH*KW][C]: HWIO with I = 1
	bias   []float32 // [C], zeros when the epilogue has none
	ep     Epilogue
	lo, hi float32
	fused  bool
	oxA    int // interior output columns: [oxA, oxB)
	oxB    int
}

// dwTaps is the geometry of one dwRow call.
type dwTaps struct {
	c        int // channels
	nky, nkx int // taps of the window that fall inside the input
	rs, cs   int // x stride between tap rows and tap columns
	wrs      int // w stride between tap rows (KW*C)
	xstep    int // x stride between consecutive output pixels
	lo, hi   float32
}

// dwRow is the depthwise micro-kernel (SIMD in a simd build, see
// dwRowScalar): it computes npix consecutive output pixels of one row.
var dwRow = dwRowScalar

// dwPadLimit caps the padded image a depthwise convolution keeps in scratch
// (a variable so that tests can reach the border path).
var dwPadLimit = convDirectMaxPad

func newDWConv(p ConvParams, w []float32, ep Epilogue) *dwConv {
	d := &dwConv{p: p, ep: ep, w: append([]float32(nil), w...), bias: make([]float32, p.C)}
	d.oh, d.ow = p.OutSize()
	copy(d.bias, ep.Bias)
	d.lo, d.hi, d.fused = gemmClamp(ep)
	hp, wp := p.H+p.PadTop+p.PadBottom, p.W+p.PadLeft+p.PadRight
	if p.PadTop+p.PadBottom+p.PadLeft+p.PadRight > 0 && hp*wp*p.C <= dwPadLimit {
		d.padLen = hp * wp * p.C
		p.H, p.W = hp, wp
		p.PadTop, p.PadBottom, p.PadLeft, p.PadRight = 0, 0, 0, 0
	}
	d.q = p // the same output size: the padding is now part of the image
	// ox is interior when ox*StrideW-PadLeft >= 0 and its last tap is < W.
	d.oxA = min((p.PadLeft+p.StrideW-1)/p.StrideW, d.ow)
	last := p.W - 1 - (p.KW-1)*p.DilationW + p.PadLeft
	d.oxB = 0
	if last >= 0 {
		d.oxB = min(last/p.StrideW+1, d.ow)
	}
	d.oxB = max(d.oxB, d.oxA)
	return d
}

// dwTapRange returns the taps [lo, hi) of a k-tap window starting at input
// coordinate i0 with dilation dil that fall inside [0, n).
func dwTapRange(i0, k, dil, n int) (lo, hi int) {
	for lo < k && i0+lo*dil < 0 {
		lo++
	}
	hi = k
	for hi > lo && i0+(hi-1)*dil >= n {
		hi--
	}
	return lo, hi
}

func (d *dwConv) run(n int, x, y, scratch []float32) {
	o := &d.p
	C := o.C
	buf := scratch[:d.padLen]
	for b := 0; b < n; b++ {
		img := x[b*o.H*o.W*C : (b+1)*o.H*o.W*C]
		if d.padLen > 0 {
			convPadImage(buf, img, o.H, o.W, C, o.PadTop, o.PadBottom, o.PadLeft, d.q.W)
			img = buf
		}
		yb := y[b*d.oh*d.ow*C : (b+1)*d.oh*d.ow*C]
		if parSlots > 1 && dwRowsParallel(d, img, yb) {
			continue
		}
		dwRows(d, img, yb, 0, d.oh)
	}
}

// dwRows computes output rows [oy0, oy1) of one image: img is the image as
// run (padded when d.padLen > 0), yb its output.
func dwRows(d *dwConv, img, yb []float32, oy0, oy1 int) {
	p := &d.q
	C := p.C
	t := dwTaps{c: C, cs: p.DilationW * C, rs: p.DilationH * p.W * C, wrs: p.KW * C, xstep: p.StrideW * C, lo: d.lo, hi: d.hi}
	for oy := oy0; oy < oy1; oy++ {
		iy0 := oy*p.StrideH - p.PadTop
		kyLo, kyHi := dwTapRange(iy0, p.KH, p.DilationH, p.H)
		t.nky = kyHi - kyLo
		rowOff := (iy0 + kyLo*p.DilationH) * p.W * C
		yrow := yb[oy*d.ow*C : (oy+1)*d.ow*C]
		for ox := 0; ox < d.ow; {
			ix0 := ox*p.StrideW - p.PadLeft
			npix, kxLo, kxHi := 1, 0, p.KW
			if ox >= d.oxA && ox < d.oxB {
				npix = d.oxB - ox
			} else {
				kxLo, kxHi = dwTapRange(ix0, p.KW, p.DilationW, p.W)
			}
			t.nkx = kxHi - kxLo
			xo, wo := 0, 0 // a window wholly in the padding reads nothing
			if t.nky > 0 && t.nkx > 0 {
				xo = rowOff + (ix0+kxLo*p.DilationW)*C
				wo = (kyLo*p.KW + kxLo) * C
			}
			dwRow(img[xo:], d.w[wo:], d.bias, t, npix, yrow[ox*C:(ox+npix)*C])
			ox += npix
		}
		if !d.fused {
			Activate(yrow, d.ep)
		}
	}
}

// dwRowScalar is the scalar twin of the depthwise micro-kernel. For output
// pixel i and channel ch it computes, from zero and in tap order,
// acc = sum over ky < nky, kx < nkx of x[i*xstep+ky*rs+kx*cs+ch] *
// w[ky*wrs+kx*c+ch], then y[i*c+ch] = min(max(acc+bias[ch], lo), hi).
func dwRowScalar(x, w, bias []float32, t dwTaps, npix int, y []float32) {
	dwRowScalarFrom(x, w, bias, t, npix, y, 0)
}

// dwRowScalarFrom is dwRowScalar for channels from c0 on: the SIMD kernel
// uses it for the channels left over after the last full vector.
func dwRowScalarFrom(x, w, bias []float32, t dwTaps, npix int, y []float32, c0 int) {
	C, nky, nkx, rs, cs, wrs := t.c, t.nky, t.nkx, t.rs, t.cs, t.wrs
	lo, hi := t.lo, t.hi
	for i := 0; i < npix; i++ {
		xp := x[i*t.xstep:]
		yp := y[i*C : (i+1)*C]
		for ch := c0; ch < C; ch++ {
			var acc float32
			for ky := 0; ky < nky; ky++ {
				xr, wr := xp[ky*rs+ch:], w[ky*wrs+ch:]
				for kx := 0; kx < nkx; kx++ {
					acc += float32(xr[kx*cs] * wr[kx*C])
				}
			}
			yp[ch] = min(max(acc+bias[ch], lo), hi)
		}
	}
}
