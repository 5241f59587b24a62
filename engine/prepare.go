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
	switch v.color() {
	case "gray":
		s.horizontalGray(rows, f, r0, nr, W)
	default:
		s.horizontalRGB(rows, f, r0, nr, W, v.color() == "bgr")
	}

	// Vertical pass: each view row blends whole source rows, then the
	// values are normalised into place.
	var inv, sub [3]float32
	for c := 0; c < C; c++ {
		inv[c] = 1 / v.std(c)
		sub[c] = v.Mean[c]
	}
	nchw := v.layout() == "nchw"
	ys, yi, yw := s.y.start, s.y.idx, s.y.w
	n := W * C
	if cap(s.acc) < n {
		s.acc = make([]float32, n)
	}
	acc := s.acc[:n]
	plane := W * H
	for o := 0; o < H; o++ {
		clear(acc)
		for k := ys[o]; k < ys[o+1]; k++ {
			row := rows[(int(yi[k])-r0)*n : (int(yi[k])-r0+1)*n]
			row = row[:len(acc)]
			w := yw[k]
			for i, x := range row {
				acc[i] += w * x
			}
		}
		if nchw {
			for c := 0; c < C; c++ {
				out := dst[c*plane+o*W : c*plane+(o+1)*W]
				m, k := sub[c], inv[c]
				for x := range out {
					out[x] = (acc[x*C+c] - m) * k
				}
			}
			continue
		}
		out := dst[o*n : (o+1)*n]
		if C == 1 {
			m, k := sub[0], inv[0]
			for i, a := range acc {
				out[i] = (a - m) * k
			}
			continue
		}
		for i := 0; i+2 < n; i += 3 {
			out[i] = (acc[i] - sub[0]) * inv[0]
			out[i+1] = (acc[i+1] - sub[1]) * inv[1]
			out[i+2] = (acc[i+2] - sub[2]) * inv[2]
		}
	}
	return nil
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
