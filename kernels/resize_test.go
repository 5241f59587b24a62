package kernels

import (
	"math/rand/v2"
	"testing"

	"github.com/edgenn/edgenn/internal/naive"
)

func TestResize(t *testing.T) {
	r := rand.New(rand.NewPCG(29, 30))
	sizes := [][4]int{ // h, w, oh, ow
		{4, 4, 8, 8}, {8, 8, 4, 4}, {5, 7, 3, 11}, {3, 3, 1, 1}, {1, 1, 4, 3}, {6, 9, 6, 9}, {7, 5, 16, 2},
	}
	for _, s := range sizes {
		h, w, oh, ow := s[0], s[1], s[2], s[3]
		n, c := 2, 3
		x := randVec(r, n*h*w*c)
		for _, coord := range []string{"half_pixel", "align_corners", "asymmetric"} {
			for _, mode := range []string{"nearest", "bilinear"} {
				z, err := NewResize(n, h, w, c, oh, ow, mode, coord)
				if err != nil {
					t.Fatal(err)
				}
				y := make([]float32, n*oh*ow*c)
				z.Run(x, y)
				var want []float32
				if mode == "nearest" {
					want = naive.ResizeNearest(x, n, h, w, c, oh, ow, coord)
				} else {
					want = naive.ResizeBilinear(x, n, h, w, c, oh, ow, coord)
				}
				checkClose(t, "Resize "+mode+" "+coord, y, want, 1e-6)
				checkNoAllocs(t, "Resize.Run", func() { z.Run(x, y) })
			}
		}
	}
}

// TestResizeSmall checks hand-computed values on a 1x2 row [0, 4] and a 2x2
// image, per mode and coordinate mode.
func TestResizeSmall(t *testing.T) {
	row := []float32{0, 4}
	img := []float32{0, 4, 8, 12} // [[0 4] [8 12]]
	cases := []struct {
		mode, coord  string
		x            []float32
		h, w, oh, ow int
		want         []float32
	}{
		// half_pixel, 2 -> 4: sources -0.25, 0.25, 0.75, 1.25 clamp to 0,1,3,4
		{"bilinear", "half_pixel", row, 1, 2, 1, 4, []float32{0, 1, 3, 4}},
		// align_corners, 2 -> 4: sources 0, 1/3, 2/3, 1
		{"bilinear", "align_corners", row, 1, 2, 1, 4, []float32{0, 4.0 / 3, 8.0 / 3, 4}},
		// asymmetric, 2 -> 4: sources 0, 0.5, 1, 1.5 (clamped)
		{"bilinear", "asymmetric", row, 1, 2, 1, 4, []float32{0, 2, 4, 4}},
		// 2x2 -> 3x3 align_corners: the centre is the mean of all four
		{"bilinear", "align_corners", img, 2, 2, 3, 3, []float32{0, 2, 4, 4, 6, 8, 8, 10, 12}},
		// nearest half_pixel 2 -> 4: floor((o+0.5)/2) = 0,0,1,1
		{"nearest", "half_pixel", row, 1, 2, 1, 4, []float32{0, 0, 4, 4}},
		// nearest half_pixel 4 -> 2 on [0 4 8 12]: floor((o+0.5)*2) = 1, 3 (TF.js; ONNX round_prefer_floor would take 0, 2)
		{"nearest", "half_pixel", img, 1, 4, 1, 2, []float32{4, 12}},
		// nearest align_corners 2 -> 3: sources 0, 0.5, 1 round half up = 0, 1, 1
		{"nearest", "align_corners", row, 1, 2, 1, 3, []float32{0, 4, 4}},
		// nearest asymmetric 2 -> 3: floor(0, 2/3, 4/3) = 0, 0, 1
		{"nearest", "asymmetric", row, 1, 2, 1, 3, []float32{0, 0, 4}},
	}
	for _, c := range cases {
		z, err := NewResize(1, c.h, c.w, 1, c.oh, c.ow, c.mode, c.coord)
		if err != nil {
			t.Fatal(err)
		}
		y := make([]float32, c.oh*c.ow)
		z.Run(c.x, y)
		checkClose(t, c.mode+" "+c.coord, y, c.want, 1e-6)
	}
}

func TestResizeErrors(t *testing.T) {
	cases := []struct {
		name, mode, coord string
		oh                int
		has               []string
	}{
		{"mode", "cubic", "half_pixel", 4, []string{"unknown mode \"cubic\""}},
		{"coord", "nearest", "tf_crop_and_resize", 4, []string{"unknown coordinate mode"}},
		{"size", "nearest", "asymmetric", 0, []string{"output shape", "non-positive"}},
		{"huge", "bilinear", "asymmetric", 1 << 30, []string{"output shape", "2^31"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewResize(1, 4, 4, 3, c.oh, 4, c.mode, c.coord)
			wantErr(t, c.name, err, c.has...)
		})
	}
}
