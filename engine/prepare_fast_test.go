package engine

import (
	"math"
	"strconv"
	"testing"
)

// fastCases returns views that exercise the two-tap loops, the window loops
// and the general ones: every resize, colour and layout, letterbox and
// stretch, crops partly outside the frame, upscaling, downscaling by up to
// 8x (windows of 3 to 8 taps) and more (the general loops), odd sizes.
func fastCases() []struct {
	v View
	b Box
} {
	type vb = struct {
		v View
		b Box
	}
	var cs []vb
	u := [3]float32{127.5, 127.5, 127.5}
	ms := [3]float32{123.7, 116.3, 103.5}
	ss := [3]float32{58.4, 57.1, 57.4}
	sizes := [][2]int{{1, 1}, {3, 7}, {641, 1}, {1, 33}, {20, 20}, {37, 23}, {64, 48}, {100, 70}, {256, 256},
		{8, 6}, {11, 9}, {16, 12}, {28, 21}}
	crops := []struct {
		crop string
		sq   bool
		e    float32
		box  Box
	}{
		{"", false, 0, Box{}},
		{"box", false, 0, Box{5.5, 3.25, 30, 20}},
		{"face", false, 0, Box{-10, -5, 12, 20}},      // past the top-left corner
		{"face", false, 0, Box{50, 30, 80, 70}},       // past the bottom-right corner
		{"face", true, 1.5, Box{20, 10, 40, 34}},      // square, enlarged
		{"face", false, 0, Box{50.5, 30, 52.25, 31}},  // a tiny crop, upscaled a lot
		{"face", true, 3, Box{-20, -20, 100, 100}},    // much bigger than the frame
		{"face", false, 0, Box{0.25, 0.75, 63.5, 47}}, // fractional edges
		{"face", false, 0, Box{2.5, 3, 190.75, 150}},  // most of the bigger frame
		{"face", true, 1.1, Box{30, 20, 170, 90}},     // square, past the small frame
	}
	i := 0
	for _, sz := range sizes {
		for _, c := range crops {
			for _, resize := range []string{"nearest", "bilinear", "area"} {
				for _, color := range []string{"rgb", "bgr", "gray"} {
					i++
					v := View{Width: sz[0], Height: sz[1], Resize: resize, Color: color,
						Crop: c.crop, Square: c.sq, Enlarge: c.e}
					if c.crop == "box" {
						v.Box = c.box
					}
					// Vary layout, fit and normalisation across the cases.
					v.Layout = []string{"nhwc", "nchw"}[i%2]
					v.Fit = []string{"stretch", "letterbox", ""}[i/2%3]
					switch i % 3 {
					case 1:
						v.Mean, v.Std = u, u
					case 2:
						v.Mean, v.Std = ms, ss
					}
					cs = append(cs, vb{v, c.box})
				}
			}
		}
	}
	return cs
}

// TestPrepareFastMatchesGeneral checks the two-tap and window loops against
// the general ones (prepScratch.general), which they replace when they
// apply. Their sums add the same products in the same order (a missing tap
// adds an exact 0), so the results must be equal bit for bit; 1e-5 relative
// is allowed only in case a compiler fuses a multiply-add differently.
//
// The cases run on two frames: a small one, where most views upscale or
// shrink by under 2x, and a bigger one, where most area views shrink by
// more and take the window loops.
func TestPrepareFastMatchesGeneral(t *testing.T) {
	var fast, general prepScratch
	general.general = true
	runs, paired, windowed, bits := 0, 0, 0, 0
	sizes := map[string]int{} // axes by the loop they took, e.g. "x4"
	for _, f := range []Frame{testFrame(3, 64, 48, 11), testFrame(4, 203, 157, 12)} {
		for i, c := range fastCases() {
			got := make([]float32, c.v.Len())
			want := make([]float32, c.v.Len())
			errG := fast.prepare(got, &f, c.v, c.b)
			errW := general.prepare(want, &f, c.v, c.b)
			if (errG == nil) != (errW == nil) {
				t.Fatalf("%dx%d case %d %s: errors differ: %v vs %v", f.Width, f.Height, i, c.v.Key(), errG, errW)
			}
			if errG != nil {
				continue
			}
			runs++
			x, y := fast.paths(f.Width, c.v.Width*c.v.Channels())
			if x == "pairs" || y == "pairs" {
				paired++
			}
			if x[0] == 'x' || y[0] == 'y' {
				windowed++
			}
			sizes[x]++
			sizes[y]++
			if equal32(got, want) {
				bits++
				continue
			}
			if j := farFrom(got, want); j >= 0 {
				t.Fatalf("%dx%d case %d %s (%s, %s): value %d is %v, the general path gives %v", f.Width, f.Height, i, c.v.Key(), x, y, j, got[j], want[j])
			}
		}
	}
	if paired < 100 {
		t.Errorf("only %d views took a two-tap loop", paired)
	}
	if windowed < 250 {
		t.Errorf("only %d views took a window loop", windowed)
	}
	for _, k := range []string{"x3", "x4", "x6", "x8", "y3", "y4", "y5", "y6", "y7", "y8", "general"} {
		if sizes[k] == 0 {
			t.Errorf("no view took %s", k)
		}
	}
	t.Logf("%d views: %d took a two-tap loop, %d a window loop; %d equal bit for bit", runs, paired, windowed, bits)
	t.Logf("axes by loop: %v", sizes)
}

// paths names the loops the last prepare took along x and y: "pairs", "x"
// or "y" and the window size, or "general". n is the view's values a row.
func (s *prepScratch) paths(fw, n int) (x, y string) {
	x, y = "general", "general"
	r0, r1 := s.y.span()
	var k tapsK
	switch {
	case s.x.pairs(&s.xp, 4, 0):
		x = "pairs"
	case s.x.windows(&k, 4, 0, fw, true):
		x = "x" + strconv.Itoa(k.k)
	}
	switch {
	case s.y.pairs(&s.yp, n, r0*n):
		y = "pairs"
	case s.y.windows(&k, n, r0, r1, false):
		y = "y" + strconv.Itoa(k.k)
	}
	return x, y
}

// TestPrepareFastBigFrame repeats the comparison on a camera-sized frame
// with the views the Watch page uses, views that mix a two-tap axis with a
// window one, and every window size in x, for each colour and layout.
func TestPrepareFastBigFrame(t *testing.T) {
	f := testFrame(1, 640, 480, 1)
	u := [3]float32{127.5, 127.5, 127.5}
	views := []struct {
		v View
		b Box
	}{
		{View{Width: 256, Height: 256, Fit: "letterbox", Mean: u, Std: u}, Box{}},
		{View{Width: 256, Height: 256, Fit: "letterbox", Resize: "area", Mean: u, Std: u}, Box{}},
		{View{Width: 416, Height: 416, Fit: "letterbox", Resize: "area", Layout: "nchw"}, Box{}},
		{View{Width: 600, Height: 100, Resize: "area", Color: "gray"}, Box{}}, // pairs in x, windows of 6 in y
		{View{Width: 100, Height: 400, Resize: "area", Color: "bgr"}, Box{}},  // windows of 8 in x, pairs in y
		{View{Width: 128, Height: 128, Resize: "area", Std: [3]float32{255, 255, 255}}, Box{}},
		{View{Crop: "face", Square: true, Enlarge: 1.2, Width: 64, Height: 64, Color: "gray", Resize: "area", Mean: u, Std: u}, Box{250, 100, 370, 240}},
		{View{Crop: "face", Width: 48, Height: 48, Resize: "area", Layout: "nchw", Color: "bgr"}, Box{600, 440, 800, 600}}, // past the corner
		{View{Width: 3000, Height: 1, Resize: "area"}, Box{}},                                                              // 480 taps in y: general
		{View{Crop: "face", Square: true, Enlarge: 1.2, Width: 64, Height: 64, Color: "gray", Mean: u, Std: u}, Box{250, 100, 370, 240}},
		{View{Width: 1280, Height: 960, Resize: "nearest", Layout: "nchw"}, Box{}},
	}
	// Every window size in x (and several in y), each colour and layout.
	for _, w := range []int{400, 256, 150, 128, 100, 80} {
		for i, color := range []string{"rgb", "bgr", "gray"} {
			views = append(views, struct {
				v View
				b Box
			}{View{Width: w, Height: w * 3 / 4, Resize: "area", Color: color, Layout: []string{"nhwc", "nchw"}[(w+i)%2], Mean: u, Std: u}, Box{}})
		}
	}
	var fast, general prepScratch
	general.general = true
	for i, c := range views {
		got := make([]float32, c.v.Len())
		want := make([]float32, c.v.Len())
		if err := fast.prepare(got, &f, c.v, c.b); err != nil {
			t.Fatal(err)
		}
		if err := general.prepare(want, &f, c.v, c.b); err != nil {
			t.Fatal(err)
		}
		x, y := fast.paths(f.Width, c.v.Width*c.v.Channels())
		if j := farFrom(got, want); j >= 0 {
			t.Errorf("view %d %s (%s, %s): value %d is %v, the general path gives %v", i, c.v.Key(), x, y, j, got[j], want[j])
		} else if !equal32(got, want) {
			t.Logf("view %d %s (%s, %s): close to the general path but not bit-equal", i, c.v.Key(), x, y)
		}
	}
}

// farFrom returns the first index where got is more than 1e-5 relative
// from want, or -1. Bit-equal on amd64 and wasm; the margin is for a
// compiler that fuses a multiply-add in one path and not the other.
func farFrom(got, want []float32) int {
	for j := range want {
		d := math.Abs(float64(got[j]) - float64(want[j]))
		if d > 1e-5*math.Max(1, math.Abs(float64(want[j]))) {
			return j
		}
	}
	return -1
}

// TestPrepareFastNoAllocs checks that a steady stream of views reuses the
// scratch buffers: no allocation a call once they have grown.
func TestPrepareFastNoAllocs(t *testing.T) {
	f := testFrame(1, 640, 480, 1)
	u := [3]float32{127.5, 127.5, 127.5}
	for _, v := range []View{
		{Width: 256, Height: 256, Fit: "letterbox", Mean: u, Std: u},
		{Width: 64, Height: 64, Color: "gray", Layout: "nchw", Resize: "nearest"},
		{Width: 128, Height: 128, Resize: "area"},
		{Width: 256, Height: 256, Fit: "letterbox", Resize: "area", Mean: u, Std: u},
		{Width: 80, Height: 60, Color: "gray", Layout: "nchw", Resize: "area"},
	} {
		dst := make([]float32, v.Len())
		var s prepScratch
		if n := testing.AllocsPerRun(5, func() {
			if err := s.prepare(dst, &f, v, Box{}); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s: %v allocations a call", v.Key(), n)
		}
	}
}
