package engine

import (
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// testFrame returns a w x h frame of pseudo-random pixels.
func testFrame(id uint64, w, h int, seed uint64) Frame {
	r := rand.New(rand.NewPCG(seed, id))
	px := make([]byte, w*h*4)
	for i := range px {
		px[i] = byte(r.IntN(256))
	}
	return Frame{ID: id, Time: int64(id) * 1e6, Width: w, Height: h, RGBA: px}
}

// refView computes a view the plain way: for every view pixel, in float64,
// straight from the definition (no separable passes, no tap tables).
func refView(f *Frame, v View, b Box) []float64 {
	var x0, y0, cw, ch float64
	switch v.Crop {
	case "":
		x0, y0, cw, ch = 0, 0, float64(f.Width), float64(f.Height)
	case "box":
		b = v.Box
		fallthrough
	default:
		if v.Crop != "" {
			x0, y0, cw, ch = float64(b.X0), float64(b.Y0), float64(b.X1-b.X0), float64(b.Y1-b.Y0)
		}
	}
	if v.Square {
		e := float64(v.Enlarge)
		if e == 0 {
			e = 1
		}
		side := math.Max(cw, ch) * e
		x0 -= (side - cw) / 2
		y0 -= (side - ch) / 2
		cw, ch = side, side
	}
	W, H := float64(v.Width), float64(v.Height)
	sx, sy, dx, dy := W/cw, H/ch, 0.0, 0.0
	if v.Fit == "letterbox" {
		k := math.Min(sx, sy)
		sx, sy = k, k
		dx, dy = (W-cw*k)/2, (H-ch*k)/2
	}
	C := v.Channels()
	channel := func(x, y, c int) float64 {
		if x < 0 || y < 0 || x >= f.Width || y >= f.Height {
			return 0
		}
		p := f.RGBA[(y*f.Width+x)*4:]
		switch v.Color {
		case "gray":
			return 0.2989*float64(p[0]) + 0.587*float64(p[1]) + 0.114*float64(p[2])
		case "bgr":
			return float64(p[2-c])
		}
		return float64(p[c])
	}
	clamp := func(i, n int) int { return max(0, min(i, n-1)) }
	out := make([]float64, v.Len())
	for oy := 0; oy < v.Height; oy++ {
		for ox := 0; ox < v.Width; ox++ {
			cxv, cyv := float64(ox)+0.5, float64(oy)+0.5
			inside := cxv >= dx && cxv < dx+cw*sx && cyv >= dy && cyv < dy+ch*sy
			u, w := x0+(cxv-dx)/sx, y0+(cyv-dy)/sy
			for c := 0; c < C; c++ {
				val := 0.0
				switch {
				case !inside:
				case v.Resize == "nearest":
					val = channel(int(math.Floor(u)), int(math.Floor(w)), c)
				case v.Resize == "area":
					ax := math.Max(x0+(float64(ox)-dx)/sx, x0)
					bx := math.Min(x0+(float64(ox)+1-dx)/sx, x0+cw)
					ay := math.Max(y0+(float64(oy)-dy)/sy, y0)
					by := math.Min(y0+(float64(oy)+1-dy)/sy, y0+ch)
					for y := int(math.Floor(ay)); float64(y) < by; y++ {
						for x := int(math.Floor(ax)); float64(x) < bx; x++ {
							ox := math.Min(bx, float64(x+1)) - math.Max(ax, float64(x))
							oy := math.Min(by, float64(y+1)) - math.Max(ay, float64(y))
							if ox > 0 && oy > 0 {
								val += ox * oy * channel(x, y, c)
							}
						}
					}
					val /= (bx - ax) * (by - ay)
				default: // bilinear, when the centre falls on the frame
					if u < 0 || w < 0 || u >= float64(f.Width) || w >= float64(f.Height) {
						break
					}
					px, py := u-0.5, w-0.5
					ix, iy := math.Floor(px), math.Floor(py)
					fx, fy := px-ix, py-iy
					at := func(x, y int) float64 { return channel(clamp(x, f.Width), clamp(y, f.Height), c) }
					i, j := int(ix), int(iy)
					val = (1-fy)*((1-fx)*at(i, j)+fx*at(i+1, j)) + fy*((1-fx)*at(i, j+1)+fx*at(i+1, j+1))
				}
				std := float64(v.Std[c])
				if std == 0 {
					std = 1
				}
				val = (val - float64(v.Mean[c])) / std
				if v.Layout == "nchw" {
					out[(c*v.Height+oy)*v.Width+ox] = val
				} else {
					out[(oy*v.Width+ox)*C+c] = val
				}
			}
		}
	}
	return out
}

func TestPrepareAgainstReference(t *testing.T) {
	f := testFrame(1, 64, 48, 7)
	unit := [3]float32{127.5, 127.5, 127.5}
	face := Box{20, 10, 40, 34}
	views := []struct {
		v View
		b Box
	}{
		{View{Width: 64, Height: 48, Resize: "nearest"}, Box{}},
		{View{Width: 32, Height: 24}, Box{}},
		{View{Width: 100, Height: 70}, Box{}},
		{View{Width: 16, Height: 16, Resize: "area", Fit: "letterbox", Mean: unit, Std: unit}, Box{}},
		{View{Width: 20, Height: 20, Fit: "letterbox", Color: "bgr"}, Box{}},
		{View{Width: 19, Height: 13, Resize: "area", Color: "gray", Layout: "nchw"}, Box{}},
		{View{Width: 30, Height: 30, Resize: "area", Layout: "nchw", Mean: [3]float32{123.7, 116.3, 103.5}, Std: [3]float32{58.4, 57.1, 57.4}}, Box{}},
		{View{Crop: "box", Box: Box{5.5, 3.25, 30, 20}, Width: 12, Height: 9}, Box{}},
		{View{Crop: "face", Square: true, Enlarge: 1.5, Width: 8, Height: 8, Color: "gray", Resize: "area", Mean: unit, Std: unit}, face},
		{View{Crop: "face", Square: true, Enlarge: 1.5, Width: 8, Height: 8, Color: "gray"}, face},
		{View{Crop: "face", Width: 7, Height: 9, Resize: "nearest"}, Box{-10, -5, 12, 20}},   // past the top-left corner
		{View{Crop: "face", Width: 16, Height: 16, Resize: "area"}, Box{50, 30, 80, 70}},     // past the bottom-right corner
		{View{Crop: "face", Width: 16, Height: 10, Fit: "letterbox"}, Box{50.5, 30, 70, 46}}, // upscaling a small crop
	}
	for i, c := range views {
		got := make([]float32, c.v.Len())
		if err := Prepare(got, &f, c.v, c.b); err != nil {
			t.Fatalf("view %d: %v", i, err)
		}
		want := refView(&f, c.v, c.b)
		worst, scale := 0.0, 1.0
		if c.v.Std[0] == 0 {
			scale = 255 // values in pixel units
		}
		for j := range want {
			worst = math.Max(worst, math.Abs(float64(got[j])-want[j])/scale)
		}
		if worst > 2e-6 {
			t.Errorf("view %d %s: max difference %.3g from the reference", i, c.v.Key(), worst)
		}
	}
}

// TestPrepareKnownValues checks cases whose answer is obvious.
func TestPrepareKnownValues(t *testing.T) {
	// A 2x2 frame: red, green / blue, white.
	f := Frame{ID: 1, Width: 2, Height: 2, RGBA: []byte{
		255, 0, 0, 255, 0, 255, 0, 255,
		0, 0, 255, 255, 255, 255, 255, 255}}
	get := func(v View) []float32 {
		t.Helper()
		out := make([]float32, v.Len())
		if err := Prepare(out, &f, v, Box{}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	// Same size, nearest: the pixels themselves, in BGR and NCHW.
	want := []float32{0, 0, 255, 255 /*B*/, 0, 255, 0, 255 /*G*/, 255, 0, 0, 255 /*R*/}
	if got := get(View{Width: 2, Height: 2, Resize: "nearest", Color: "bgr", Layout: "nchw"}); !equal32(got, want) {
		t.Errorf("identity view: got %v, want %v", got, want)
	}
	// Shrunk to one pixel by area: the mean of the four.
	if got := get(View{Width: 1, Height: 1, Resize: "area"}); !equal32(got, []float32{127.5, 127.5, 127.5}) {
		t.Errorf("area 1x1: got %v", got)
	}
	// Letterboxed into 4x2: black, the frame squeezed to 2x2, black; in [-1, 1].
	u := [3]float32{127.5, 127.5, 127.5}
	got := get(View{Width: 4, Height: 2, Fit: "letterbox", Resize: "nearest", Color: "gray", Mean: u, Std: u})
	red := float32(0.2989*255/127.5 - 1)
	if math.Abs(float64(got[0]+1)) > 1e-6 || math.Abs(float64(got[3]+1)) > 1e-6 || math.Abs(float64(got[1]-red)) > 1e-6 {
		t.Errorf("letterbox: got %v, want -1 at the borders and %v at (1,0)", got, red)
	}
}

func equal32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPrepareErrors(t *testing.T) {
	f := testFrame(1, 8, 6, 1)
	cases := []struct {
		v    View
		b    Box
		f    Frame
		want string
	}{
		{View{Width: 0, Height: 4}, Box{}, f, "size 0x4"},
		{View{Width: 5000, Height: 4}, Box{}, f, "size 5000x4"},
		{View{Width: 4, Height: 4, Fit: "cover"}, Box{}, f, `unknown fit "cover"`},
		{View{Width: 4, Height: 4, Resize: "cubic"}, Box{}, f, `unknown resize "cubic"`},
		{View{Width: 4, Height: 4, Color: "hsv"}, Box{}, f, `unknown color "hsv"`},
		{View{Width: 4, Height: 4, Layout: "nhcw"}, Box{}, f, `unknown layout "nhcw"`},
		{View{Width: 4, Height: 4, Crop: "box", Box: Box{3, 3, 3, 5}}, Box{}, f, "is empty"},
		{View{Width: 4, Height: 4, Crop: "face"}, Box{20, 20, 30, 30}, f, "lies outside the 8x6 frame"},
		{View{Width: 4, Height: 4, Crop: "face"}, Box{float32(math.NaN()), 0, 1, 1}, f, "non-finite"},
		{View{Width: 4, Height: 4, Std: [3]float32{float32(math.Inf(1))}}, Box{}, f, "finite"},
		{View{Width: 4, Height: 4}, Box{}, Frame{Width: 8, Height: 6, RGBA: make([]byte, 10)}, "needs 192 RGBA bytes, has 10"},
		{View{Width: 4, Height: 4}, Box{}, Frame{Width: -1, Height: 6}, "frame size -1x6"},
	}
	for _, c := range cases {
		err := Prepare(make([]float32, max(0, c.v.Len())), &c.f, c.v, c.b)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want an error containing %q", c.v, err, c.want)
		}
	}
	if err := Prepare(make([]float32, 3), &f, View{Width: 4, Height: 4}, Box{}); err == nil || !strings.Contains(err.Error(), "needs 48 values") {
		t.Errorf("short buffer: got %v", err)
	}
}

func TestProviderSharesViews(t *testing.T) {
	p := NewProvider(ProviderOptions{})
	f := testFrame(1, 64, 48, 3)
	if err := p.Push(f); err != nil {
		t.Fatal(err)
	}
	f.RGBA[0] ^= 0xff // the provider keeps its own copy
	detector := View{Width: 32, Height: 32, Fit: "letterbox", Resize: "area"}
	classifier := View{Width: 24, Height: 24}
	// Eight tasks at once: four want the detector's view, four the classifier's.
	var wg sync.WaitGroup
	got := make([][]float32, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := detector
			if i%2 == 1 {
				v = classifier
			}
			x, err := p.View(1, v, Box{})
			if err != nil {
				t.Error(err)
			}
			got[i] = x
		}()
	}
	wg.Wait()
	if s := p.Stats(); s.Prepared != 2 || s.Shared != 6 {
		t.Errorf("prepared %d views and shared %d, want 2 and 6", s.Prepared, s.Shared)
	}
	f.RGBA[0] ^= 0xff
	for i, x := range got {
		v := detector
		if i%2 == 1 {
			v = classifier
		}
		want := make([]float32, v.Len())
		if err := Prepare(want, &f, v, Box{}); err != nil {
			t.Fatal(err)
		}
		if &x[0] != &got[i%2][0] || !equal32(x, want) {
			t.Errorf("task %d did not get the shared view equal to Prepare's", i)
		}
	}
	// Boxes are part of a by-box view's identity.
	face := View{Crop: "face", Width: 8, Height: 8, Color: "gray"}
	a, _ := p.View(1, face, Box{1, 1, 9, 9})
	b, _ := p.View(1, face, Box{2, 1, 10, 9})
	c, _ := p.View(1, face, Box{1, 1, 9, 9})
	if &a[0] == &b[0] || &a[0] != &c[0] {
		t.Error("views of different boxes are shared, or of the same box are not")
	}
}

func TestProviderAgesFramesOut(t *testing.T) {
	p := NewProvider(ProviderOptions{MaxFrames: 3, MaxBytes: 1 << 20})
	v := View{Width: 32, Height: 32}
	var ms runtime.MemStats
	var heap []uint64
	for id := uint64(1); id <= 600; id++ {
		if err := p.Push(testFrame(id, 64, 48, 5)); err != nil {
			t.Fatal(err)
		}
		if _, err := p.View(id, v, Box{}); err != nil {
			t.Fatal(err)
		}
		if id%200 == 0 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			heap = append(heap, ms.HeapInuse)
		}
	}
	s := p.Stats()
	if s.Frames != 600 || s.AgedOut != 597 || s.Prepared != 600 {
		t.Errorf("stats %+v: want 600 frames, 597 aged out, 600 views", s)
	}
	if want := 3 * (64*48*4 + 32*32*3*4); s.Bytes != want {
		t.Errorf("holds %d bytes, want %d (3 frames and their views)", s.Bytes, want)
	}
	if heap[2] > heap[0]+1<<20 {
		t.Errorf("heap grew from %d to %d bytes over 400 frames", heap[0], heap[2])
	}
	if _, err := p.View(597, v, Box{}); !errors.Is(err, ErrFrameGone) {
		t.Errorf("view of an aged-out frame: got %v, want ErrFrameGone", err)
	}
	if id, tm, ok := p.Latest(); !ok || id != 600 || tm != 600e6 {
		t.Errorf("Latest = %d, %d, %v", id, tm, ok)
	}
	// A byte budget smaller than the frames keeps just the newest one.
	small := NewProvider(ProviderOptions{MaxFrames: 8, MaxBytes: 100})
	for id := uint64(1); id <= 3; id++ {
		if err := small.Push(testFrame(id, 16, 16, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if s := small.Stats(); s.AgedOut != 2 || s.Bytes != 16*16*4 {
		t.Errorf("byte budget: %+v", s)
	}
}

// TestProviderHold: a held frame does not age out while newer ones come
// (and is not counted among MaxFrames); released, it goes at once.
func TestProviderHold(t *testing.T) {
	p := NewProvider(ProviderOptions{MaxFrames: 2})
	v := View{Width: 4, Height: 4}
	push := func(id uint64) {
		t.Helper()
		if err := p.Push(testFrame(id, 16, 16, 1)); err != nil {
			t.Fatal(err)
		}
	}
	push(1)
	if !p.hold(1) || !p.hold(1) {
		t.Fatal("frame 1 could not be held")
	}
	for id := uint64(2); id <= 6; id++ {
		push(id)
	}
	if _, err := p.View(1, v, Box{}); err != nil {
		t.Fatalf("held frame 1 after 5 newer: %v", err)
	}
	if _, err := p.View(4, v, Box{}); !errors.Is(err, ErrFrameGone) {
		t.Errorf("frame 4, neither held nor among the 2 newest: got %v, want ErrFrameGone", err)
	}
	if s := p.Stats(); s.Bytes != 3*16*16*4+4*4*3*4 {
		t.Errorf("%d bytes held, want 3 frames (1, 5, 6) and frame 1's view", s.Bytes)
	}
	p.release(1)
	if _, err := p.View(1, v, Box{}); err != nil {
		t.Fatalf("frame 1 still held once: %v", err)
	}
	p.release(1)
	if _, err := p.View(1, v, Box{}); !errors.Is(err, ErrFrameGone) {
		t.Errorf("frame 1 released: got %v, want ErrFrameGone", err)
	}
	if s := p.Stats(); s.Bytes != 2*16*16*4 || s.AgedOut != 4 {
		t.Errorf("after the release: %+v, want 2 frames held and 4 aged out", s)
	}
	if p.hold(3) {
		t.Error("held frame 3, which had aged out")
	}
	p.release(3) // nothing held: no effect
	if s := p.Stats(); s.Bytes != 2*16*16*4 {
		t.Errorf("a release of nothing changed the bytes: %+v", s)
	}
}

func TestProviderErrors(t *testing.T) {
	p := NewProvider(ProviderOptions{})
	if err := p.Push(testFrame(5, 8, 8, 1)); err != nil {
		t.Fatal(err)
	}
	if err := p.Push(testFrame(5, 8, 8, 1)); err == nil || !strings.Contains(err.Error(), "frame 5 is not newer than frame 5") {
		t.Errorf("repeated id: %v", err)
	}
	if err := p.Push(Frame{ID: 6, Width: 8, Height: 8, RGBA: make([]byte, 7)}); err == nil || !strings.Contains(err.Error(), "RGBA bytes") {
		t.Errorf("short frame: %v", err)
	}
	if _, err := p.View(99, View{Width: 2, Height: 2}, Box{}); !errors.Is(err, ErrFrameGone) {
		t.Errorf("unknown frame: %v", err)
	}
	face := View{Crop: "face", Width: 4, Height: 4}
	for i := 0; i < 2; i++ { // an error is reported again, not cached as a view
		if _, err := p.View(5, face, Box{100, 100, 110, 110}); err == nil || !strings.Contains(err.Error(), "outside") {
			t.Errorf("crop outside the frame: %v", err)
		}
	}
	if s := p.Stats(); s.Prepared != 0 {
		t.Errorf("failed views counted as prepared: %+v", s)
	}
}

// FuzzPrepare feeds Prepare arbitrary views, boxes and frame sizes: it must
// return a view or an error, never panic.
func FuzzPrepare(f *testing.F) {
	f.Add(uint16(8), uint16(6), uint16(4), uint16(4), uint8(0), float32(0), float32(0), float32(4), float32(4), float32(1))
	f.Add(uint16(64), uint16(48), uint16(16), uint16(9), uint8(0x5b), float32(-3), float32(40), float32(70), float32(90), float32(2.5))
	f.Add(uint16(1), uint16(1), uint16(30), uint16(1), uint8(0xff), float32(0.5), float32(0.25), float32(0.75), float32(0.5), float32(0))
	f.Fuzz(func(t *testing.T, fw, fh, vw, vh uint16, flags uint8, x0, y0, x1, y1, enlarge float32) {
		fw, fh = fw%300, fh%300
		vw, vh = vw%300, vh%300
		frame := Frame{ID: 1, Width: int(fw), Height: int(fh), RGBA: make([]byte, int(fw)*int(fh)*4)}
		for i := range frame.RGBA {
			frame.RGBA[i] = byte(i * 7)
		}
		v := View{Width: int(vw), Height: int(vh), Enlarge: enlarge, Square: flags&1 != 0,
			Fit:    []string{"", "stretch", "letterbox", "x"}[flags>>1&3],
			Resize: []string{"", "bilinear", "nearest", "area"}[flags>>3&3],
			Color:  []string{"rgb", "bgr", "gray", ""}[flags>>5&3], Layout: []string{"nhwc", "nchw"}[flags>>7]}
		b := Box{x0, y0, x1, y1}
		if flags&2 != 0 {
			v.Crop = "face"
		} else if flags&4 != 0 {
			v.Crop, v.Box = "box", b
		}
		n := 0
		if v.Check() == nil {
			n = v.Len()
		}
		out := make([]float32, n)
		if err := Prepare(out, &frame, v, b); err != nil {
			return
		}
		for i, x := range out {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) || x < -1e-3 || x > 255.001 {
				t.Fatalf("value %d is %v, outside the pixel range", i, x)
			}
		}
	})
}

func TestViewToFrame(t *testing.T) {
	// 640x480 letterboxed into 256x256: scale 0.4, 32 view pixels of border
	// above and below.
	v := View{Width: 256, Height: 256, Fit: "letterbox"}
	n := func(px float32) float32 { return px / 256 }
	got, err := v.ToFrame(640, 480, Box{}, Box{n(40), n(32 + 40), n(80), n(32 + 100)})
	if err != nil || got != (Box{100, 100, 200, 250}) {
		t.Errorf("letterbox: got %v, %v; want (100,100)-(200,250)", got, err)
	}
	if got, _ := v.ToFrame(640, 480, Box{}, Box{-0.5, 0, 1.5, 1}); got != (Box{0, 0, 640, 480}) {
		t.Errorf("not clamped to the frame: %v", got)
	}
	// A square crop, enlarged 2x, around a 10x20 box at (100, 50).
	sq := View{Crop: "face", Square: true, Enlarge: 2, Width: 64, Height: 64}
	if got, _ := sq.ToFrame(640, 480, Box{100, 50, 110, 70}, Box{0.25, 0.25, 0.75, 0.75}); got != (Box{95, 50, 115, 70}) {
		t.Errorf("square crop: got %v, want (95,50)-(115,70)", got)
	}
}

// BenchmarkPrepare times the views of the Watch page's tasks on a 640x480
// frame: the detector's letterbox, a face crop, the classifier's view.
func BenchmarkPrepare(b *testing.B) {
	f := testFrame(1, 640, 480, 1)
	u := [3]float32{127.5, 127.5, 127.5}
	for _, c := range []struct {
		name string
		v    View
		box  Box
	}{
		{"letterbox256-area", View{Width: 256, Height: 256, Fit: "letterbox", Resize: "area", Mean: u, Std: u}, Box{}},
		{"letterbox256-bilinear", View{Width: 256, Height: 256, Fit: "letterbox", Mean: u, Std: u}, Box{}},
		{"face64-gray-area", View{Crop: "face", Square: true, Enlarge: 1.2, Width: 64, Height: 64, Color: "gray", Resize: "area", Mean: u, Std: u}, Box{250, 100, 370, 240}},
		{"classify128-area", View{Width: 128, Height: 128, Resize: "area", Std: [3]float32{255, 255, 255}}, Box{}},
	} {
		b.Run(c.name, func(b *testing.B) {
			dst := make([]float32, c.v.Len())
			var s prepScratch
			for i := 0; i < b.N; i++ {
				if err := s.prepare(dst, &f, c.v, c.box); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkProviderFrame times a frame through the Provider (the copy in,
// the view made and cached) against Prepare on the same view, the work a
// task does without a Provider.
func BenchmarkProviderFrame(b *testing.B) {
	f := testFrame(1, 640, 480, 1)
	u := [3]float32{127.5, 127.5, 127.5}
	v := View{Width: 256, Height: 256, Fit: "letterbox", Mean: u, Std: u}
	b.Run("provider", func(b *testing.B) {
		p := NewProvider(ProviderOptions{})
		for i := 0; i < b.N; i++ {
			f.ID = uint64(i + 1)
			if err := p.Push(f); err != nil {
				b.Fatal(err)
			}
			if _, err := p.View(f.ID, v, Box{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("prepare", func(b *testing.B) {
		dst := make([]float32, v.Len())
		for i := 0; i < b.N; i++ {
			if err := Prepare(dst, &f, v, Box{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
