package engine

import (
	"math"
	"testing"
)

// fastCases returns views that exercise the two-tap loops and the general
// ones: every resize, colour and layout, letterbox and stretch, crops partly
// outside the frame, upscaling, downscaling and odd sizes.
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
	sizes := [][2]int{{1, 1}, {3, 7}, {641, 1}, {1, 33}, {20, 20}, {37, 23}, {64, 48}, {100, 70}, {256, 256}}
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

// TestPrepareFastMatchesGeneral checks the two-tap loops against the
// general ones (prepScratch.general), which they replace when they apply.
// The two-tap sums add the same products in the same order (a missing tap
// adds an exact 0), so the results must be equal bit for bit; 1e-5 relative
// is allowed only in case a compiler fuses a multiply-add differently.
func TestPrepareFastMatchesGeneral(t *testing.T) {
	f := testFrame(3, 64, 48, 11)
	var fast, general prepScratch
	general.general = true
	paired, bits := 0, 0
	for i, c := range fastCases() {
		got := make([]float32, c.v.Len())
		want := make([]float32, c.v.Len())
		errG := fast.prepare(got, &f, c.v, c.b)
		errW := general.prepare(want, &f, c.v, c.b)
		if (errG == nil) != (errW == nil) {
			t.Fatalf("case %d %s: errors differ: %v vs %v", i, c.v.Key(), errG, errW)
		}
		if errG != nil {
			continue
		}
		if fast.x.pairs(&fast.xp, 4, 0) || fast.y.pairs(&fast.yp, 1, 0) {
			paired++
		}
		if equal32(got, want) {
			bits++
			continue
		}
		if j := farFrom(got, want); j >= 0 {
			t.Fatalf("case %d %s: value %d is %v, the general path gives %v", i, c.v.Key(), j, got[j], want[j])
		}
	}
	if paired < 100 {
		t.Errorf("only %d cases took a two-tap loop", paired)
	}
	t.Logf("%d of %d cases took a two-tap loop; %d equal bit for bit", paired, len(fastCases()), bits)
}

// TestPrepareFastBigFrame repeats the comparison on a camera-sized frame
// with the views the Watch page uses, and views that mix a two-tap axis
// with a general one.
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
		{View{Width: 600, Height: 100, Resize: "area", Color: "gray"}, Box{}}, // pairs in x only
		{View{Width: 100, Height: 400, Resize: "area", Color: "bgr"}, Box{}},  // pairs in y only
		{View{Crop: "face", Square: true, Enlarge: 1.2, Width: 64, Height: 64, Color: "gray", Mean: u, Std: u}, Box{250, 100, 370, 240}},
		{View{Width: 1280, Height: 960, Resize: "nearest", Layout: "nchw"}, Box{}},
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
		if j := farFrom(got, want); j >= 0 {
			t.Errorf("view %d %s: value %d is %v, the general path gives %v", i, c.v.Key(), j, got[j], want[j])
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
