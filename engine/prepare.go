package engine

import (
	"errors"
	"math"
	"strconv"
)

// Prepare makes view v of frame f into dst, which must hold v.Len() values.
// b is the box to crop when v.ByBox() (ignored otherwise). Resampling is
// separable: each needed source row is first reduced to the view's width
// (and to one channel for gray), then rows are blended, so the cost follows
// the cropped source area plus the view's area.
func Prepare(dst []float32, f *Frame, v View, b Box) error {
	s := scratchPool.Get().(*prepScratch)
	defer scratchPool.Put(s)
	return s.prepare(dst, f, v, b)
}

// prepScratch keeps Prepare's row buffer between calls.
type prepScratch struct {
	rows, acc []float32
	need      []bool // source rows the vertical taps read
	x, y      axisTaps
	xp, yp    []tapPair // x and y taps as pairs, when no pixel has more than 2
	xk, yk    tapsK     // x and y taps as windows, when pixels have 3..maxTaps
	// general makes prepare use the general tap loops even when the pair
	// loops apply; the tests compare the two.
	general bool
}

// tapPair is a view pixel's taps when it has at most two: offsets (in the
// unit the pass indexes by) and weights. A pixel with one tap has w1 = 0 and
// o1 = o0; one with none has both weights 0 and reads offset 0, so every
// pixel costs the same straight-line code.
type tapPair struct {
	o0, o1 int // int, not int32: no conversion a tap under wasm
	w0, w1 float32
}

// pairs fills *dst with t's taps as pairs, offset i*unit - base for source
// pixel i, and reports whether every pixel has at most two taps.
func (t *axisTaps) pairs(dst *[]tapPair, unit, base int) bool {
	n := len(t.start) - 1
	p := (*dst)[:0]
	for o := 0; o < n; o++ {
		a, b := t.start[o], t.start[o+1]
		var q tapPair
		switch b - a {
		case 0:
		case 1:
			q.o0 = int(t.idx[a])*unit - base
			q.o1, q.w0 = q.o0, t.w[a]
		case 2:
			q.o0 = int(t.idx[a])*unit - base
			q.o1 = int(t.idx[a+1])*unit - base
			q.w0, q.w1 = t.w[a], t.w[a+1]
		default:
			*dst = p
			return false
		}
		p = append(p, q)
	}
	*dst = p
	return true
}

// maxTaps is the most taps a pixel the window loops take. Area shrinking by
// more than 7x may need more; its axis keeps the general loops, whose cost
// follows the real taps rather than the padding.
const maxTaps = 8

// tapsK is an axis's taps as windows of k consecutive source pixels, in flat
// arrays: view pixel o reads the window at offset off[o] (in the unit the
// pass indexes by) with weights w[o*k:(o+1)*k], 0 for the window's pixels it
// has no tap on. One bounds check then covers a pixel's whole window, and
// no per-pixel slices are made.
//
// The sums are the general loops' bit for bit: every product and partial
// sum is >= +0 (weights and source values are), so a zero-weight product
// adds an exact +0 wherever it falls, and the real taps still add their
// products in tap order.
type tapsK struct {
	k   int
	off []int // int, not int32: no conversion a pixel under wasm
	w   []float32
}

// windows fills d with t's taps as windows of k pixels in source pixels
// [lo, hi), offset (i-lo)*unit for source pixel i. k is the most taps a
// pixel has or, with wide and more than 4 taps, that rounded up to 6 or 8
// (the x pass's loop sizes). It reports whether the taps fit: 3..maxTaps a
// pixel, consecutive and ascending as area's are, and hi-lo at least k.
func (t *axisTaps) windows(d *tapsK, unit, lo, hi int, wide bool) bool {
	n := len(t.start) - 1
	k := 0
	for o := 0; o < n; o++ {
		a, b := t.start[o], t.start[o+1]
		k = max(k, int(b-a))
		for j := a + 1; j < b; j++ {
			if t.idx[j] != t.idx[j-1]+1 {
				return false
			}
		}
	}
	if k < 3 || k > maxTaps {
		return false
	}
	if wide && k > 4 {
		k = (k + 1) &^ 1 // 6 or 8
	}
	if k > hi-lo {
		return false
	}
	d.k = k
	d.off = d.off[:0]
	if cap(d.w) < n*k {
		d.w = make([]float32, n*k)
	}
	d.w = d.w[:n*k]
	clear(d.w)
	for o := 0; o < n; o++ {
		a, b := int(t.start[o]), int(t.start[o+1])
		first := lo // no taps: any window in range, all weights 0
		if b > a {
			// Near hi the window starts left of the first tap, so that
			// it stays in range; the taps, at most k, still fit in it.
			first = min(int(t.idx[a]), hi-k)
		}
		d.off = append(d.off, (first-lo)*unit)
		for j := a; j < b; j++ {
			d.w[o*k+int(t.idx[j])-first] = t.w[j]
		}
	}
	return true
}

// markNeed marks in need the source rows that view rows with taps read
// through their windows (offsets in units of n values), the ones a window
// holds past its taps included, so that those hold values to multiply by 0.
func (t *tapsK) markNeed(need []bool, n int) {
	k := t.k
	for o, x := range t.off {
		if !allZero(t.w[o*k : (o+1)*k]) {
			for j := range need[x/n : x/n+k] {
				need[x/n+j] = true
			}
		}
	}
}

// horizontalRGB reduces nr source rows from r0 to the view's width, three
// channels, in RGB order or, with bgr, BGR.
func (s *prepScratch) horizontalRGB(rows []float32, f *Frame, r0, nr, W int, bgr bool) {
	xs, xi, xw := s.x.start, s.x.idx, s.x.w
	stride := f.Width * 4
	for r := 0; r < nr; r++ {
		if !s.need[r] {
			continue
		}
		src := f.RGBA[(r0+r)*stride : (r0+r+1)*stride]
		out := rows[r*W*3 : (r+1)*W*3]
		for o := 0; o < W; o++ {
			var a0, a1, a2 float32
			ii := xi[xs[o]:xs[o+1]]
			ww := xw[xs[o]:xs[o+1]]
			ww = ww[:len(ii)]
			for k, x := range ii {
				// One bounds check a tap: the pixel as an array.
				p := (*[4]byte)(src[int(x)*4:])
				w := ww[k]
				a0 += w * float32(p[0])
				a1 += w * float32(p[1])
				a2 += w * float32(p[2])
			}
			if bgr {
				a0, a2 = a2, a0
			}
			q := (*[3]float32)(out[o*3:])
			q[0], q[1], q[2] = a0, a1, a2
		}
	}
}

// horizontalGray is horizontalRGB for one grey channel.
func (s *prepScratch) horizontalGray(rows []float32, f *Frame, r0, nr, W int) {
	xs, xi, xw := s.x.start, s.x.idx, s.x.w
	stride := f.Width * 4
	for r := 0; r < nr; r++ {
		if !s.need[r] {
			continue
		}
		src := f.RGBA[(r0+r)*stride : (r0+r+1)*stride]
		out := rows[r*W : (r+1)*W]
		for o := range out {
			var a float32
			ii := xi[xs[o]:xs[o+1]]
			ww := xw[xs[o]:xs[o+1]]
			ww = ww[:len(ii)]
			for k, x := range ii {
				p := (*[4]byte)(src[int(x)*4:])
				a += ww[k] * (0.2989*float32(p[0]) + 0.587*float32(p[1]) + 0.114*float32(p[2]))
			}
			out[o] = a
		}
	}
}

// horizontalRGB2 is horizontalRGB when every view pixel has at most two
// taps (s.xp, byte offsets into the row).
func (s *prepScratch) horizontalRGB2(rows []float32, f *Frame, r0, nr, W int, bgr bool) {
	taps := s.xp[:W]
	stride := f.Width * 4
	for r := 0; r < nr; r++ {
		if s.need[r] {
			pairRowRGB(rows[r*W*3:(r+1)*W*3], f.RGBA[(r0+r)*stride:(r0+r+1)*stride], taps, bgr)
		}
	}
}

// pairRowRGB reduces one source row src to out, three channels a pixel.
// Adding a zero-weight tap adds an exact 0, so the sums equal
// horizontalRGB's. The row is its own function so that the loop keeps its
// values in registers under wasm.
func pairRowRGB(out []float32, src []byte, taps []tapPair, bgr bool) {
	out = out[:3*len(taps)]
	for o, t := range taps {
		// One bounds check a tap: the pixel as an array.
		p := (*[4]byte)(src[t.o0:])
		q := (*[4]byte)(src[t.o1:])
		a0 := t.w0*float32(p[0]) + t.w1*float32(q[0])
		a1 := t.w0*float32(p[1]) + t.w1*float32(q[1])
		a2 := t.w0*float32(p[2]) + t.w1*float32(q[2])
		if bgr {
			a0, a2 = a2, a0
		}
		d := (*[3]float32)(out[o*3:])
		d[0], d[1], d[2] = a0, a1, a2
	}
}

// horizontalGray2 is horizontalGray for at most two taps a pixel.
func (s *prepScratch) horizontalGray2(rows []float32, f *Frame, r0, nr, W int) {
	taps := s.xp[:W]
	stride := f.Width * 4
	for r := 0; r < nr; r++ {
		if s.need[r] {
			pairRowGray(rows[r*W:(r+1)*W], f.RGBA[(r0+r)*stride:(r0+r+1)*stride], taps)
		}
	}
}

// pairRowGray is pairRowRGB for one grey channel.
func pairRowGray(out []float32, src []byte, taps []tapPair) {
	out = out[:len(taps)]
	for o, t := range taps {
		p := (*[4]byte)(src[t.o0:])
		q := (*[4]byte)(src[t.o1:])
		out[o] = t.w0*(0.2989*float32(p[0])+0.587*float32(p[1])+0.114*float32(p[2])) +
			t.w1*(0.2989*float32(q[0])+0.587*float32(q[1])+0.114*float32(q[2]))
	}
}

// horizontalK is horizontalRGB, or with gray horizontalGray, when the x
// taps are windows (s.xk, byte offsets into a row) of 3, 4, 6 or 8 pixels.
// Each window size has its own straight-line loop: with one bounds check a
// window and no loop over taps, they run 1.5-2x as fast under wasm as loops
// over the taps, so padding 5 or 7 taps by one costs less than a loop.
func (s *prepScratch) horizontalK(rows []float32, f *Frame, r0, nr, W int, gray, bgr bool) {
	t := &s.xk
	stride := f.Width * 4
	C := 3
	if gray {
		C = 1
	}
	for r := 0; r < nr; r++ {
		if !s.need[r] {
			continue
		}
		out := rows[r*W*C : (r+1)*W*C]
		src := f.RGBA[(r0+r)*stride : (r0+r+1)*stride]
		switch {
		case gray && t.k == 3:
			windowRowGray3(out, src, t.off, t.w)
		case gray && t.k == 4:
			windowRowGray4(out, src, t.off, t.w)
		case gray && t.k == 6:
			windowRowGray6(out, src, t.off, t.w)
		case gray:
			windowRowGray8(out, src, t.off, t.w)
		case t.k == 3:
			windowRowRGB3(out, src, t.off, t.w, bgr)
		case t.k == 4:
			windowRowRGB4(out, src, t.off, t.w, bgr)
		case t.k == 6:
			windowRowRGB6(out, src, t.off, t.w, bgr)
		default:
			windowRowRGB8(out, src, t.off, t.w, bgr)
		}
	}
}

// windowRowRGB3 reduces one source row src to out, three channels a pixel,
// through windows of 3 pixels at byte offsets off with weights w.
func windowRowRGB3(out []float32, src []byte, off []int, w []float32, bgr bool) {
	w = w[:3*len(off)]
	out = out[:3*len(off)]
	for o, x := range off {
		p := (*[3 * 4]byte)(src[x:])
		v := (*[3]float32)(w[3*o:])
		a0 := v[0]*float32(p[0]) + v[1]*float32(p[4]) + v[2]*float32(p[8])
		a1 := v[0]*float32(p[1]) + v[1]*float32(p[5]) + v[2]*float32(p[9])
		a2 := v[0]*float32(p[2]) + v[1]*float32(p[6]) + v[2]*float32(p[10])
		if bgr {
			a0, a2 = a2, a0
		}
		d := (*[3]float32)(out[3*o:])
		d[0], d[1], d[2] = a0, a1, a2
	}
}

// windowRowRGB4 is windowRowRGB3 for windows of 4.
func windowRowRGB4(out []float32, src []byte, off []int, w []float32, bgr bool) {
	w = w[:4*len(off)]
	out = out[:3*len(off)]
	for o, x := range off {
		p := (*[4 * 4]byte)(src[x:])
		v := (*[4]float32)(w[4*o:])
		a0 := v[0]*float32(p[0]) + v[1]*float32(p[4]) + v[2]*float32(p[8]) + v[3]*float32(p[12])
		a1 := v[0]*float32(p[1]) + v[1]*float32(p[5]) + v[2]*float32(p[9]) + v[3]*float32(p[13])
		a2 := v[0]*float32(p[2]) + v[1]*float32(p[6]) + v[2]*float32(p[10]) + v[3]*float32(p[14])
		if bgr {
			a0, a2 = a2, a0
		}
		d := (*[3]float32)(out[3*o:])
		d[0], d[1], d[2] = a0, a1, a2
	}
}

// windowRowRGB6 is windowRowRGB3 for windows of 6.
func windowRowRGB6(out []float32, src []byte, off []int, w []float32, bgr bool) {
	w = w[:6*len(off)]
	out = out[:3*len(off)]
	for o, x := range off {
		p := (*[6 * 4]byte)(src[x:])
		v := (*[6]float32)(w[6*o:])
		a0 := v[0]*float32(p[0]) + v[1]*float32(p[4]) + v[2]*float32(p[8]) + v[3]*float32(p[12]) +
			v[4]*float32(p[16]) + v[5]*float32(p[20])
		a1 := v[0]*float32(p[1]) + v[1]*float32(p[5]) + v[2]*float32(p[9]) + v[3]*float32(p[13]) +
			v[4]*float32(p[17]) + v[5]*float32(p[21])
		a2 := v[0]*float32(p[2]) + v[1]*float32(p[6]) + v[2]*float32(p[10]) + v[3]*float32(p[14]) +
			v[4]*float32(p[18]) + v[5]*float32(p[22])
		if bgr {
			a0, a2 = a2, a0
		}
		d := (*[3]float32)(out[3*o:])
		d[0], d[1], d[2] = a0, a1, a2
	}
}

// windowRowRGB8 is windowRowRGB3 for windows of 8.
func windowRowRGB8(out []float32, src []byte, off []int, w []float32, bgr bool) {
	w = w[:8*len(off)]
	out = out[:3*len(off)]
	for o, x := range off {
		p := (*[8 * 4]byte)(src[x:])
		v := (*[8]float32)(w[8*o:])
		a0 := v[0]*float32(p[0]) + v[1]*float32(p[4]) + v[2]*float32(p[8]) + v[3]*float32(p[12]) +
			v[4]*float32(p[16]) + v[5]*float32(p[20]) + v[6]*float32(p[24]) + v[7]*float32(p[28])
		a1 := v[0]*float32(p[1]) + v[1]*float32(p[5]) + v[2]*float32(p[9]) + v[3]*float32(p[13]) +
			v[4]*float32(p[17]) + v[5]*float32(p[21]) + v[6]*float32(p[25]) + v[7]*float32(p[29])
		a2 := v[0]*float32(p[2]) + v[1]*float32(p[6]) + v[2]*float32(p[10]) + v[3]*float32(p[14]) +
			v[4]*float32(p[18]) + v[5]*float32(p[22]) + v[6]*float32(p[26]) + v[7]*float32(p[30])
		if bgr {
			a0, a2 = a2, a0
		}
		d := (*[3]float32)(out[3*o:])
		d[0], d[1], d[2] = a0, a1, a2
	}
}

// luma is a pixel's grey level, the same expression horizontalGray uses.
func luma(p *[4]byte) float32 {
	return 0.2989*float32(p[0]) + 0.587*float32(p[1]) + 0.114*float32(p[2])
}

// windowRowGray3 is windowRowRGB3 for one grey channel.
func windowRowGray3(out []float32, src []byte, off []int, w []float32) {
	w = w[:3*len(off)]
	out = out[:len(off)]
	for o, x := range off {
		p := (*[3 * 4]byte)(src[x:])
		v := (*[3]float32)(w[3*o:])
		out[o] = v[0]*luma((*[4]byte)(p[0:])) + v[1]*luma((*[4]byte)(p[4:])) + v[2]*luma((*[4]byte)(p[8:]))
	}
}

// windowRowGray4 is windowRowGray3 for windows of 4.
func windowRowGray4(out []float32, src []byte, off []int, w []float32) {
	w = w[:4*len(off)]
	out = out[:len(off)]
	for o, x := range off {
		p := (*[4 * 4]byte)(src[x:])
		v := (*[4]float32)(w[4*o:])
		out[o] = v[0]*luma((*[4]byte)(p[0:])) + v[1]*luma((*[4]byte)(p[4:])) +
			v[2]*luma((*[4]byte)(p[8:])) + v[3]*luma((*[4]byte)(p[12:]))
	}
}

// windowRowGray6 is windowRowGray3 for windows of 6.
func windowRowGray6(out []float32, src []byte, off []int, w []float32) {
	w = w[:6*len(off)]
	out = out[:len(off)]
	for o, x := range off {
		p := (*[6 * 4]byte)(src[x:])
		v := (*[6]float32)(w[6*o:])
		out[o] = v[0]*luma((*[4]byte)(p[0:])) + v[1]*luma((*[4]byte)(p[4:])) +
			v[2]*luma((*[4]byte)(p[8:])) + v[3]*luma((*[4]byte)(p[12:])) +
			v[4]*luma((*[4]byte)(p[16:])) + v[5]*luma((*[4]byte)(p[20:]))
	}
}

// windowRowGray8 is windowRowGray3 for windows of 8.
func windowRowGray8(out []float32, src []byte, off []int, w []float32) {
	w = w[:8*len(off)]
	out = out[:len(off)]
	for o, x := range off {
		p := (*[8 * 4]byte)(src[x:])
		v := (*[8]float32)(w[8*o:])
		out[o] = v[0]*luma((*[4]byte)(p[0:])) + v[1]*luma((*[4]byte)(p[4:])) +
			v[2]*luma((*[4]byte)(p[8:])) + v[3]*luma((*[4]byte)(p[12:])) +
			v[4]*luma((*[4]byte)(p[16:])) + v[5]*luma((*[4]byte)(p[20:])) +
			v[6]*luma((*[4]byte)(p[24:])) + v[7]*luma((*[4]byte)(p[28:]))
	}
}

func checkFrame(f *Frame) error {
	if f.Width <= 0 || f.Height <= 0 || f.Width > maxFrameSide || f.Height > maxFrameSide {
		return errors.New("engine: frame size " + strconv.Itoa(f.Width) + "x" + strconv.Itoa(f.Height) + " is outside 1.." + strconv.Itoa(maxFrameSide) + " a side")
	}
	if len(f.RGBA) != f.Width*f.Height*4 {
		return errors.New("engine: frame " + strconv.Itoa(f.Width) + "x" + strconv.Itoa(f.Height) + " needs " + strconv.Itoa(f.Width*f.Height*4) + " RGBA bytes, has " + strconv.Itoa(len(f.RGBA)))
	}
	return nil
}

// cropRect returns the source rectangle (x, y, w, h in frame pixels) the
// view reads.
func (v View) cropRect(fw, fh int, b Box) (x, y, w, h float64, err error) {
	switch {
	case v.Crop == "":
		b = Box{0, 0, float32(fw), float32(fh)}
	case v.Crop == "box":
		b = v.Box
	default:
		if err := checkBox(b); err != nil {
			return 0, 0, 0, 0, err
		}
	}
	x, y = float64(b.X0), float64(b.Y0)
	w, h = float64(b.X1)-x, float64(b.Y1)-y
	if v.Square {
		side := math.Max(w, h) * float64(v.enlarge())
		x, y = x+(w-side)/2, y+(h-side)/2
		w, h = side, side
	}
	if x >= float64(fw) || y >= float64(fh) || x+w <= 0 || y+h <= 0 {
		return 0, 0, 0, 0, errors.New("engine: view: crop (" + ftoa(float32(x)) + "," + ftoa(float32(y)) + ")-(" + ftoa(float32(x+w)) + "," + ftoa(float32(y+h)) + ") lies outside the " + strconv.Itoa(fw) + "x" + strconv.Itoa(fh) + " frame")
	}
	return x, y, w, h, nil
}

// placement returns how a cw x ch crop sits in the view: its scale (view
// pixels per source pixel) along x and y, and its offset in view pixels.
func (v View) placement(cw, ch float64) (sx, sy, dx, dy float64) {
	W, H := float64(v.Width), float64(v.Height)
	sx, sy = W/cw, H/ch
	if v.fit() == "letterbox" {
		k := math.Min(sx, sy)
		sx, sy = k, k
		dx, dy = (W-cw*k)/2, (H-ch*k)/2
	}
	return sx, sy, dx, dy
}

func (s *prepScratch) prepare(dst []float32, f *Frame, v View, b Box) error {
	if err := v.Check(); err != nil {
		return err
	}
	if err := checkFrame(f); err != nil {
		return err
	}
	if len(dst) != v.Len() {
		return errors.New("engine: view needs " + strconv.Itoa(v.Len()) + " values, the buffer holds " + strconv.Itoa(len(dst)))
	}
	cx, cy, cw, ch, err := v.cropRect(f.Width, f.Height, b)
	if err != nil {
		return err
	}
	W, H, C := v.Width, v.Height, v.Channels()
	sx, sy, dx, dy := v.placement(cw, ch)
	mode := v.resize()
	s.x.make(W, cx, cw, dx, sx, f.Width, mode)
	s.y.make(H, cy, ch, dy, sy, f.Height, mode)

	// Horizontal pass over the source rows the vertical taps read.
	r0, r1 := s.y.span()
	nr := r1 - r0
	need := nr * W * C
	if cap(s.rows) < need {
		s.rows = make([]float32, need)
	}
	rows := s.rows[:need]
	// Rows no vertical tap reads (bilinear or nearest shrinking) are skipped.
	if cap(s.need) < nr {
		s.need = make([]bool, nr)
	}
	s.need = s.need[:nr]
	clear(s.need)
	for _, i := range s.y.idx {
		s.need[int(i)-r0] = true
	}
	// Pixels with at most two taps (bilinear, nearest, area shrinking a
	// little) take the straight-line pair loops, area's 3..maxTaps the
	// window loops; the general ones handle any number of taps.
	xPairs := !s.general && s.x.pairs(&s.xp, 4, 0)
	xK := !s.general && !xPairs && s.x.windows(&s.xk, 4, 0, f.Width, true)
	n := W * C
	yPairs := !s.general && s.y.pairs(&s.yp, n, r0*n)
	yK := !s.general && !yPairs && s.y.windows(&s.yk, n, r0, r1, false)
	if yK {
		s.yk.markNeed(s.need, n)
	}
	gray, bgr := v.color() == "gray", v.color() == "bgr"
	switch {
	case xK:
		s.horizontalK(rows, f, r0, nr, W, gray, bgr)
	case gray && xPairs:
		s.horizontalGray2(rows, f, r0, nr, W)
	case gray:
		s.horizontalGray(rows, f, r0, nr, W)
	case xPairs:
		s.horizontalRGB2(rows, f, r0, nr, W, bgr)
	default:
		s.horizontalRGB(rows, f, r0, nr, W, bgr)
	}

	var nm norm
	for c := 0; c < C; c++ {
		nm.inv[c] = 1 / v.std(c)
		nm.sub[c] = v.Mean[c]
	}
	out := planes{dst: dst, W: W, H: H, C: C, nchw: v.layout() == "nchw"}
	switch {
	case yPairs:
		s.vertical2(out, rows, nm)
	case yK:
		s.verticalK(out, rows, nm)
	default:
		s.vertical(out, rows, r0, nm)
	}
	return nil
}

// norm is a view's normalisation, value (x - sub[c]) * inv[c].
type norm struct{ inv, sub [3]float32 }

// planes is the view's output buffer and its shape.
type planes struct {
	dst     []float32
	W, H, C int
	nchw    bool
}

// vertical blends, for each view row, the horizontally reduced source rows
// its taps read into acc, then normalises acc into place. It takes any
// number of taps.
func (s *prepScratch) vertical(out planes, rows []float32, r0 int, nm norm) {
	ys, yi, yw := s.y.start, s.y.idx, s.y.w
	n := out.W * out.C
	if cap(s.acc) < n {
		s.acc = make([]float32, n)
	}
	acc := s.acc[:n]
	for o := 0; o < out.H; o++ {
		clear(acc)
		for k := ys[o]; k < ys[o+1]; k++ {
			row := rows[(int(yi[k])-r0)*n : (int(yi[k])-r0+1)*n]
			row = row[:len(acc)]
			w := yw[k]
			for i, x := range row {
				acc[i] += w * x
			}
		}
		out.put(o, acc, nm)
	}
}

// put writes acc, view row o's blended values in RGB or grey order,
// normalised into the view.
func (p planes) put(o int, acc []float32, nm norm) {
	W, C, dst := p.W, p.C, p.dst
	inv, sub := nm.inv, nm.sub
	n := W * C
	if p.nchw {
		plane := W * p.H
		for c := 0; c < C; c++ {
			out := dst[c*plane+o*W : c*plane+(o+1)*W]
			m, k := sub[c], inv[c]
			for x := range out {
				out[x] = (acc[x*C+c] - m) * k
			}
		}
		return
	}
	out := dst[o*n : (o+1)*n]
	if C == 1 {
		m, k := sub[0], inv[0]
		for i, a := range acc {
			out[i] = (a - m) * k
		}
		return
	}
	for i := 0; i+2 < n; i += 3 {
		out[i] = (acc[i] - sub[0]) * inv[0]
		out[i+1] = (acc[i+1] - sub[1]) * inv[1]
		out[i+2] = (acc[i+2] - sub[2]) * inv[2]
	}
}

// verticalK is vertical when the y taps are windows (s.yk, offsets into
// rows): each view row's window is blended into acc in one pass for its
// first 3 or 4 rows (no accumulator to clear), further rows added a pass
// each, in row order, so the sums are vertical's.
func (s *prepScratch) verticalK(out planes, rows []float32, nm norm) {
	n := out.W * out.C
	if cap(s.acc) < n {
		s.acc = make([]float32, n)
	}
	acc := s.acc[:n]
	k := s.yk.k
	for o, x := range s.yk.off[:out.H] {
		w := s.yk.w[o*k : (o+1)*k]
		if allZero(w) {
			// No taps: black, as in vertical2, reading no rows.
			out.fill(o, nm)
			continue
		}
		win := rows[x : x+k*n]
		if k == 3 {
			blend3(acc, win[:n], win[n:2*n], win[2*n:], w[0], w[1], w[2])
		} else {
			blend4(acc, win[:n], win[n:2*n], win[2*n:3*n], win[3*n:4*n], w[0], w[1], w[2], w[3])
		}
		for j := 4; j < k; j++ {
			addRow(acc, win[j*n:(j+1)*n], w[j])
		}
		out.put(o, acc, nm)
	}
}

func allZero(w []float32) bool {
	for _, x := range w {
		if x != 0 {
			return false
		}
	}
	return true
}

// blend3 sets acc to w0*a + w1*b + w2*c.
func blend3(acc, a, b, c []float32, w0, w1, w2 float32) {
	a, b, c = a[:len(acc)], b[:len(acc)], c[:len(acc)]
	for i := range acc {
		acc[i] = w0*a[i] + w1*b[i] + w2*c[i]
	}
}

// blend4 sets acc to w0*a + w1*b + w2*c + w3*d.
func blend4(acc, a, b, c, d []float32, w0, w1, w2, w3 float32) {
	a, b, c, d = a[:len(acc)], b[:len(acc)], c[:len(acc)], d[:len(acc)]
	for i := range acc {
		acc[i] = w0*a[i] + w1*b[i] + w2*c[i] + w3*d[i]
	}
}

// addRow adds w*r to acc.
func addRow(acc, r []float32, w float32) {
	r = r[:len(acc)]
	for i := range acc {
		acc[i] += w * r[i]
	}
}

// vertical2 is vertical when every view row has at most two taps (s.yp,
// offsets into rows): it blends the two rows straight into the normalised
// output, with no accumulator to clear and reread. The sums are vertical's,
// as a zero-weight row adds an exact 0.
func (s *prepScratch) vertical2(out planes, rows []float32, nm norm) {
	n := out.W * out.C
	for o, t := range s.yp[:out.H] {
		if t.w0 == 0 && t.w1 == 0 {
			// No taps (a letterbox border, or outside the frame): black.
			// Rows may be empty then, so none is read; zero weights on
			// real rows would blend to the same exact 0.
			out.fill(o, nm)
			continue
		}
		a := rows[t.o0 : t.o0+n]
		b := rows[t.o1 : t.o1+n]
		switch {
		case out.nchw && out.C == 3:
			out.blendPlanes(o, a, b, t.w0, t.w1, nm)
		case out.C == 3:
			blendRGB(out.dst[o*n:(o+1)*n], a, b, t.w0, t.w1, nm)
		default: // gray: nhwc and nchw are the same
			blendGray(out.dst[o*n:(o+1)*n], a, b, t.w0, t.w1, nm)
		}
	}
}

// fill sets view row o to black, normalised.
func (p planes) fill(o int, nm norm) {
	plane := p.W * p.H
	for c := 0; c < p.C; c++ {
		v := (0 - nm.sub[c]) * nm.inv[c]
		if p.nchw || p.C == 1 {
			clearTo(p.dst[c*plane+o*p.W:c*plane+(o+1)*p.W], v)
			continue
		}
		row := p.dst[o*p.W*3 : (o+1)*p.W*3]
		for i := c; i < len(row); i += 3 {
			row[i] = v
		}
	}
}

func clearTo(d []float32, v float32) {
	for i := range d {
		d[i] = v
	}
}

// blendRGB writes w0*a + w1*b, normalised, for interleaved RGB rows. Plain
// indexing from i = 2 lets the compiler drop every bounds check in the loop,
// which under wasm is faster than array-pointer conversions.
func blendRGB(dst, a, b []float32, w0, w1 float32, nm norm) {
	m0, m1, m2 := nm.sub[0], nm.sub[1], nm.sub[2]
	k0, k1, k2 := nm.inv[0], nm.inv[1], nm.inv[2]
	a, b = a[:len(dst)], b[:len(dst)]
	for i := 2; i < len(dst); i += 3 {
		dst[i-2] = (w0*a[i-2] + w1*b[i-2] - m0) * k0
		dst[i-1] = (w0*a[i-1] + w1*b[i-1] - m1) * k1
		dst[i] = (w0*a[i] + w1*b[i] - m2) * k2
	}
}

// blendGray writes w0*a + w1*b, normalised, for one channel.
func blendGray(dst, a, b []float32, w0, w1 float32, nm norm) {
	m, k := nm.sub[0], nm.inv[0]
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = (w0*a[i] + w1*b[i] - m) * k
	}
}

// blendPlanes writes w0*a + w1*b, normalised, for interleaved RGB rows into
// view row o of three channel planes (nchw).
func (p planes) blendPlanes(o int, a, b []float32, w0, w1 float32, nm norm) {
	m0, m1, m2 := nm.sub[0], nm.sub[1], nm.sub[2]
	k0, k1, k2 := nm.inv[0], nm.inv[1], nm.inv[2]
	plane, W := p.W*p.H, p.W
	r := p.dst[o*W : (o+1)*W]
	g := p.dst[plane+o*W : plane+(o+1)*W]
	bl := p.dst[2*plane+o*W : 2*plane+(o+1)*W]
	g, bl = g[:len(r)], bl[:len(r)]
	a, b = a[:3*len(r)], b[:3*len(r)]
	for x := range r {
		u, v := (*[3]float32)(a[3*x:]), (*[3]float32)(b[3*x:])
		r[x] = (w0*u[0] + w1*v[0] - m0) * k0
		g[x] = (w0*u[1] + w1*v[1] - m1) * k1
		bl[x] = (w0*u[2] + w1*v[2] - m2) * k2
	}
}

// axisTaps says, for each view pixel along one axis, which source pixels it
// reads and with what weights: taps start[o]..start[o+1]. A view pixel with
// no taps is black (outside the frame, or in a letterbox's border).
type axisTaps struct {
	start []int32
	idx   []int32
	w     []float32
}

// make fills the taps of n view pixels that show the source interval
// [c0, c0+cl) of a frame n0 pixels long, scaled by s view pixels a source
// pixel and moved by d view pixels.
func (t *axisTaps) make(n int, c0, cl, d, s float64, n0 int, mode string) {
	t.start = append(t.start[:0], 0)
	t.idx, t.w = t.idx[:0], t.w[:0]
	for o := 0; o < n; o++ {
		centre := float64(o) + 0.5
		if centre < d || centre >= d+cl*s {
			t.start = append(t.start, int32(len(t.idx)))
			continue
		}
		u := c0 + (centre-d)/s // source coordinate of the pixel's centre
		switch mode {
		case "nearest":
			if i := int(math.Floor(u)); i >= 0 && i < n0 {
				t.add(i, 1)
			}
		case "bilinear":
			if u >= 0 && u < float64(n0) {
				p := u - 0.5
				i := math.Floor(p)
				fr := float32(p - i)
				t.add(clampInt(int(i), 0, n0-1), 1-fr)
				t.add(clampInt(int(i)+1, 0, n0-1), fr)
			}
		case "area":
			a := c0 + (float64(o)-d)/s
			b := c0 + (float64(o)+1-d)/s
			a, b = math.Max(a, c0), math.Min(b, c0+cl)
			span := b - a
			for i := int(math.Floor(a)); float64(i) < b; i++ {
				if i < 0 || i >= n0 {
					continue // outside the frame: black
				}
				lo, hi := math.Max(a, float64(i)), math.Min(b, float64(i+1))
				if hi > lo {
					t.add(i, float32((hi-lo)/span))
				}
			}
		}
		t.start = append(t.start, int32(len(t.idx)))
	}
}

func (t *axisTaps) add(i int, w float32) {
	t.idx = append(t.idx, int32(i))
	t.w = append(t.w, w)
}

// span returns the range [lo, hi) of source pixels the taps read (empty
// when none).
func (t *axisTaps) span() (lo, hi int) {
	if len(t.idx) == 0 {
		return 0, 0
	}
	lo, hi = int(t.idx[0]), int(t.idx[0])+1
	for _, i := range t.idx {
		lo, hi = min(lo, int(i)), max(hi, int(i)+1)
	}
	return lo, hi
}

func clampInt(i, lo, hi int) int {
	if i < lo {
		return lo
	}
	if i > hi {
		return hi
	}
	return i
}

// ToFrame maps a box given in the view's normalised coordinates (0..1 of
// its width and height, as a detector reports them) back to pixels of the
// fw x fh frame the view was made from, clamped to the frame. crop is the
// box the view was cut from when v.ByBox().
func (v View) ToFrame(fw, fh int, crop Box, in Box) (Box, error) {
	cx, cy, cw, ch, err := v.cropRect(fw, fh, crop)
	if err != nil {
		return Box{}, err
	}
	W, H := float64(v.Width), float64(v.Height)
	sx, sy, dx, dy := v.placement(cw, ch)
	mx := func(n float32) float32 {
		return float32(math.Min(math.Max(cx+(float64(n)*W-dx)/sx, 0), float64(fw)))
	}
	my := func(n float32) float32 {
		return float32(math.Min(math.Max(cy+(float64(n)*H-dy)/sy, 0), float64(fh)))
	}
	return Box{mx(in.X0), my(in.Y0), mx(in.X1), my(in.Y1)}, nil
}
