package kernels

// The gradients of a depthwise convolution (Conv2DGrad's path for Group = C,
// any channel multiplier mult = OC/C), in NHWC: x and dx [n,H,W,C], dy
// [n,OH,OW,OC], w and dw [KH,KW,1,OC] with output channel c*mult+m reading
// input channel c. Both hand runs of pixels that see the same taps, along a
// row or down a column, to a micro-kernel vectorised over channels (SIMD in
// a simd build), so the border tests happen once per run, never per tap:
// the interior of a row is one run, and the few border columns are one run
// each down the whole image rather than a call per row.
//
// InputGrad gathers: each dx pixel sums, in registers, the taps that read it
// (in descending tap order, which is ascending order of the dy pixels), so
// it is written once and never read. With stride s the input rows and
// columns fall into s classes (i mod s) whose members see the same taps,
// at dy coordinates one apart (dwGradClass).
//
// FilterGrad sweeps: for an output row and a tap row ky it adds x*dy along
// the row into up to three taps kx at once (one dy load for three
// products), over the output columns where all of them read inside x; the
// other columns go down the image into the taps that read inside x there.
//
// Per element, the order of the sums is fixed by these loops (dx: taps in
// descending order from zero; dw: see depthwiseFilter), which the SIMD
// micro-kernels follow, so they agree with their scalar twins bit for bit.

// dwGradTaps is the geometry of one micro-kernel call: a run of pixels,
// along a row or down a column, that see the same taps.
type dwGradTaps struct {
	c, oc, mult int // channels of x and dx, of dy, w and dw (c*mult), and mult
	nky, nkx    int // taps (FilterGrad: nky is 1)
	rs, cs      int // stride between tap rows and tap columns in the operand the taps walk (dy for InputGrad, x for FilterGrad)
	wrs, wcs    int // stride between tap rows and tap columns in w or dw (negative for InputGrad)
	step, dstep int // stride between pixels in dx (InputGrad) or x (FilterGrad), and in dy
}

// dwGradInputRow and dwGradFilterRow are the depthwise gradients'
// micro-kernels (SIMD in a simd build; see the scalar twins for what they
// compute).
var (
	dwGradInputRow  = dwGradInputRowScalar
	dwGradFilterRow = dwGradFilterRowScalar
)

// dwGradTapRun returns the taps k < kn that reach input coordinate i: those
// with i+pad-k*dil = o*s for an output coordinate o in [0, on). They are
// equally spaced (see dwGradTapStep); it returns the highest, k0 (the first
// in descending order), how many there are, and the o of k0.
func dwGradTapRun(i, pad, kn, dil, s, on int) (k0, cnt, o0 int) {
	for k := kn - 1; k >= 0; k-- {
		v := i + pad - k*dil
		if v < 0 || v%s != 0 || v/s >= on {
			continue
		}
		if cnt == 0 {
			k0, o0 = k, v/s
		}
		cnt++
	}
	return k0, cnt, o0
}

// dwGradTapStep returns the spacing of the taps that reach one input
// coordinate along an axis with stride s and dilation dil, s/gcd(s, dil),
// and how many output coordinates apart consecutive ones read.
func dwGradTapStep(s, dil int) (dk, do int) {
	a, b := s, dil
	for b != 0 {
		a, b = b, a%b
	}
	return s / a, dil / a
}

// dwGradClass describes, along one axis, the input coordinates r, r+s,
// r+2s, ... (n of them, j-th is r+j*s): the taps they see when none falls
// outside the output, k0 down to k0-(cnt-1)*dk, and the interior [lo, hi),
// the j that do see all of them (tap k0 reading output coordinate
// j+o0). With no taps at all the whole class is interior.
type dwGradClass struct {
	k0, cnt, o0 int
	lo, hi      int
}

// dwGradClassOf returns the class of coordinate r along an axis with n
// members, padding pad, kn taps of dilation dil, stride s and on output
// coordinates.
func dwGradClassOf(r, n, pad, kn, dil, s, on int) dwGradClass {
	var c dwGradClass
	kBot := 0
	for k := kn - 1; k >= 0; k-- {
		if ((r+pad-k*dil)%s+s)%s == 0 {
			if c.cnt == 0 {
				c.k0 = k
			}
			kBot, c.cnt = k, c.cnt+1
		}
	}
	if c.cnt == 0 {
		c.hi = n
		return c
	}
	off := r + pad - c.k0*dil // j*s+off = s*(output coordinate of tap k0)
	c.lo, c.hi = convGradSpan(off, s, (on-1)*s+1-(c.k0-kBot)*dil, 0, n)
	c.o0 = off / s // exact when off >= 0; only used as o0+j with j >= lo
	if off < 0 {
		c.o0 = (off - s + 1) / s
	}
	return c
}

// depthwiseInput is InputGrad for Group = C: dx[pixel][c] = the sum over
// the taps that read it, in descending order, and m < mult of
// w[tap][c*mult+m]*dy[out][c*mult+m]. Every dx value is written once. Per
// image and pair of row and column classes, the interior is a kernel call
// per row, each border column of the interior rows a call down the column,
// and each border row a call along its interior columns and one per border
// pixel.
func (g *Conv2DGrad) depthwiseInput(n int, dy, w, dx []float32) {
	p := &g.p
	C, OC, W, KW := p.C, p.OC, p.W, p.KW
	sh, sw := p.StrideH, p.StrideW
	dky, doy := dwGradTapStep(sh, p.DilationH)
	dkx, dox := dwGradTapStep(sw, p.DilationW)
	t := dwGradTaps{c: C, oc: OC, mult: g.mult, rs: doy * g.ow * OC, cs: dox * OC,
		wrs: -dky * KW * OC, wcs: -dkx * OC}
	rowStep, colStep := [2]int{sw * C, OC}, [2]int{sh * W * C, g.ow * OC}
	for b := 0; b < n; b++ {
		img := dx[b*g.inLen : (b+1)*g.inLen]
		dyImg := b * g.outPix * OC
		// put hands the kernel npix pixels from (iy, ix) on, along the row
		// or down the column (steps), with the taps from (ky0, kx0) on,
		// the first reading dy at (oy, ox).
		put := func(iy, ix, npix int, steps [2]int, ky0, nky, oy, kx0, nkx, ox int) {
			t.step, t.dstep = steps[0], steps[1]
			do, wo := 0, 0
			if nky == 0 || nkx == 0 { // no taps: the kernel writes zeros, reads nothing
				nky, nkx = 0, 0
			} else {
				do, wo = dyImg+(oy*g.ow+ox)*OC, (ky0*KW+kx0)*OC
			}
			t.nky, t.nkx = nky, nkx
			dwGradInputRow(dy[do:], w, wo, t, npix, img[(iy*W+ix)*C:])
		}
		// Rows in order (a pass per class of rows measured slower at
		// stride 2); row iy is the jy-th of its class ry.
		for iy := 0; iy < p.H; iy++ {
			ry, jy := iy%sh, iy/sh
			cy := dwGradClassOf(ry, (p.H-ry+sh-1)/sh, p.PadTop, p.KH, p.DilationH, sh, g.oh)
			ky0, nky, oy := cy.k0, cy.cnt, cy.o0+jy
			inner := jy >= cy.lo && jy < cy.hi
			if !inner {
				ky0, nky, oy = dwGradTapRun(iy, p.PadTop, p.KH, p.DilationH, sh, g.oh)
			}
			for rx := 0; rx < min(sw, W); rx++ {
				nxp := (W - rx + sw - 1) / sw
				cx := dwGradClassOf(rx, nxp, p.PadLeft, KW, p.DilationW, sw, g.ow)
				if cx.lo < cx.hi {
					put(iy, rx+cx.lo*sw, cx.hi-cx.lo, rowStep, ky0, nky, oy, cx.k0, cx.cnt, cx.o0+cx.lo)
				}
				if inner && jy > cy.lo {
					continue // its border columns went down the column
				}
				for jx := 0; jx < nxp; jx++ {
					if jx == cx.lo && cx.lo < cx.hi {
						jx = cx.hi - 1
						continue
					}
					ix := rx + jx*sw
					kx0, nkx, ox := dwGradTapRun(ix, p.PadLeft, KW, p.DilationW, sw, g.ow)
					if inner { // down the column through the class's interior rows
						put(iy, ix, cy.hi-cy.lo, colStep, ky0, nky, oy, kx0, nkx, ox)
					} else {
						put(iy, ix, 1, rowStep, ky0, nky, oy, kx0, nkx, ox)
					}
				}
			}
		}
	}
}

// depthwiseFilter is FilterGrad for Group = C: dw[tap][c*mult+m] +=
// x[pixel under tap][c]*dy[out][c*mult+m]. Per image, up to three taps of
// a tap row at a time, it sweeps each output row along the columns where
// all of them read inside x, then each of the other columns down the rows
// where the tap row reads inside x, with the taps that read inside there.
// Per dw value the order is: images in order, in each the interior pixels
// row by row, then the other columns one by one.
func (g *Conv2DGrad) depthwiseFilter(n int, x, dy, dw []float32) {
	p := &g.p
	C, OC, W, KW := p.C, p.OC, p.W, p.KW
	sh, sw, dil, pl := p.StrideH, p.StrideW, p.DilationW, p.PadLeft
	t := dwGradTaps{c: C, oc: OC, mult: g.mult, nky: 1, cs: dil * C, wcs: OC}
	for kx0 := 0; kx0 < KW; kx0 += 3 {
		// The output columns where each of up to three taps reads inside x,
		// and [lo, hi), where all of them do.
		nt := min(3, KW-kx0)
		var los, his [3]int
		lo, hi := 0, g.ow
		for k := range nt {
			los[k], his[k] = convGradSpan((kx0+k)*dil-pl, sw, W, 0, g.ow)
			lo, hi = max(lo, los[k]), min(hi, his[k])
		}
		if lo >= hi {
			lo, hi = g.ow, g.ow // no interior: every column on its own
		}
		for b := 0; b < n; b++ {
			// run adds npix pixels from output (oy, ox) on, along the row
			// or down the column, into the taps ky, kx to kx+nkx-1.
			run := func(oy, ox, npix, ky, kx, nkx int, along bool) {
				t.step, t.dstep, t.nkx = sw*C, OC, nkx
				if !along {
					t.step, t.dstep = sh*W*C, g.ow*OC
				}
				iy := oy*sh - p.PadTop + ky*p.DilationH
				xo := ((b*p.H+iy)*W + ox*sw + kx*dil - pl) * C
				dwGradFilterRow(x[xo:], dy[((b*g.oh+oy)*g.ow+ox)*OC:], t, npix, dw[(ky*KW+kx)*OC:])
			}
			if lo < hi {
				for oy := 0; oy < g.oh; oy++ {
					for ky := 0; ky < p.KH; ky++ {
						if iy := oy*sh - p.PadTop + ky*p.DilationH; iy >= 0 && iy < p.H {
							run(oy, lo, hi-lo, ky, kx0, nt, true)
						}
					}
				}
			}
			for ky := 0; ky < p.KH; ky++ {
				oyLo, oyHi := convGradSpan(ky*p.DilationH-p.PadTop, sh, p.H, 0, g.oh)
				if oyLo >= oyHi {
					continue
				}
				for ox := 0; ox < g.ow; ox++ {
					if ox == lo {
						ox = hi - 1
						continue
					}
					// The taps that read inside x at this column are
					// consecutive: los and his fall as k grows.
					k0, k1 := nt, 0
					for k := range nt {
						if los[k] <= ox && ox < his[k] {
							k0, k1 = min(k0, k), k+1
						}
					}
					if k0 < k1 {
						run(oyLo, ox, oyHi-oyLo, ky, kx0+k0, k1-k0, false)
					}
				}
			}
		}
	}
}

// dwGradInputRowScalar is the scalar twin of the InputGrad micro-kernel.
// For pixel i < npix and channel c it computes, from zero and in tap order,
// dx[i*step+c] = the sum over ky < nky, kx < nkx and m < mult of
// dy[i*dstep+ky*rs+kx*cs+c*mult+m] * w[wo+ky*wrs+kx*wcs+c*mult+m].
func dwGradInputRowScalar(dy, w []float32, wo int, t dwGradTaps, npix int, dx []float32) {
	dwGradInputRowFrom(dy, w, wo, t, npix, dx, 0)
}

// dwGradInputRowFrom is dwGradInputRowScalar for the channels from c0 on:
// the SIMD kernel's leftovers after its last full vector. Four channels at
// a time, their sums in registers (a pass over dx per tap measured slower).
func dwGradInputRowFrom(dy, w []float32, wo int, t dwGradTaps, npix int, dx []float32, c0 int) {
	C, mult := t.c, t.mult
	for i := 0; i < npix; i++ {
		d := dx[i*t.step : i*t.step+C]
		c := c0
		for ; mult == 1 && c+4 <= C; c += 4 {
			var a0, a1, a2, a3 float32
			for ky := 0; ky < t.nky; ky++ {
				so, wt := i*t.dstep+ky*t.rs+c, wo+ky*t.wrs+c
				for kx := 0; kx < t.nkx; kx++ {
					s, wv := dy[so:so+4:so+4], w[wt:wt+4:wt+4]
					a0 += float32(s[0] * wv[0])
					a1 += float32(s[1] * wv[1])
					a2 += float32(s[2] * wv[2])
					a3 += float32(s[3] * wv[3])
					so, wt = so+t.cs, wt+t.wcs
				}
			}
			d[c], d[c+1], d[c+2], d[c+3] = a0, a1, a2, a3
		}
		for ; c < C; c++ {
			var a float32
			for ky := 0; ky < t.nky; ky++ {
				so, wt := i*t.dstep+ky*t.rs+c*mult, wo+ky*t.wrs+c*mult
				for kx := 0; kx < t.nkx; kx++ {
					for m := range mult {
						a += float32(dy[so+m] * w[wt+m])
					}
					so, wt = so+t.cs, wt+t.wcs
				}
			}
			d[c] = a
		}
	}
}

// dwGradFilterChunk is the pixels the FilterGrad micro-kernels run per
// block of channels before they move to the next block: a whole row per
// block visits more cache lines than L1 holds when C is large.
const dwGradFilterChunk = 16

// dwGradFilterRowScalar is the scalar twin of the FilterGrad micro-kernel.
// For tap kx < nkx and channel c*mult+m it adds to dw[kx*wcs+c*mult+m], one
// pixel after the other, x[i*step+kx*cs+c] * dy[i*dstep+c*mult+m] for i < npix.
func dwGradFilterRowScalar(x, dy []float32, t dwGradTaps, npix int, dw []float32) {
	dwGradFilterRowFrom(x, dy, t, npix, dw, 0)
}

// dwGradFilterRowFrom is dwGradFilterRowScalar for the input channels from
// c0 on. Four channels of a tap at a time, their sums in registers.
func dwGradFilterRowFrom(x, dy []float32, t dwGradTaps, npix int, dw []float32, c0 int) {
	C, mult := t.c, t.mult
	for i0 := 0; i0 < npix; i0 += dwGradFilterChunk {
		i1 := min(i0+dwGradFilterChunk, npix)
		for kx := 0; kx < t.nkx; kx++ {
			d := dw[kx*t.wcs : kx*t.wcs+C*mult]
			c := c0
			for ; mult == 1 && c+4 <= C; c += 4 {
				a0, a1, a2, a3 := d[c], d[c+1], d[c+2], d[c+3]
				for i := i0; i < i1; i++ {
					xo, do := i*t.step+kx*t.cs+c, i*t.dstep+c
					xs, ds := x[xo:xo+4:xo+4], dy[do:do+4:do+4]
					a0 += float32(xs[0] * ds[0])
					a1 += float32(xs[1] * ds[1])
					a2 += float32(xs[2] * ds[2])
					a3 += float32(xs[3] * ds[3])
				}
				d[c], d[c+1], d[c+2], d[c+3] = a0, a1, a2, a3
			}
			for ; c < C; c++ {
				for m := c * mult; m < (c+1)*mult; m++ {
					a := d[m]
					for i := i0; i < i1; i++ {
						a += float32(x[i*t.step+kx*t.cs+c] * dy[i*t.dstep+m])
					}
					d[m] = a
				}
			}
		}
	}
}
