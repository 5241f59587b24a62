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

// TestResizeTFJS compares against TensorFlow.js 4.22.0's cpu backend
// (tf.image.resizeBilinear and resizeNearestNeighbor with alignCorners and
// halfPixelCenters set per coordinate mode; asymmetric is both false) on a
// 1x3x4x2 input. The values were printed by tfjs-core and tfjs-backend-cpu
// under Node; the kernel matched them bit for bit when this was written.
func TestResizeTFJS(t *testing.T) {
	x := make([]float32, 3*4*2)
	for i := range x {
		x[i] = float32(float64(i)*0.37 - 1.1)
		if i%3 == 0 {
			x[i] = -x[i]
		}
	}
	cases := []struct {
		mode, coord string
		oh, ow      int
		want        []float32
	}{
		{"bilinear", "half_pixel", 2, 3, []float32{1.1383333, -0.79833335, -0.08500001, 1.1125, 0.05833332, 0.25250006, 2.8133335, 3.6441667, 0.18500009, 0.5574999, 5.8983335, 3.0249999}},
		{"bilinear", "half_pixel", 5, 7, []float32{1.1, -0.73, 0.57857144, -0.47285715, -0.2557143, -0.061428573, 0.00999999, 0.37, 0.27285713, 0.80285716, -0.58428574, 1.2257143, -1.12, 1.49, 1.404, -1.33, 1.1968571, -0.43285716, 0.8654285, 1.0025715, -0.142, 1.558, -0.96028566, 1.7325715, 0.22142856, 0.12114292, 0.96, -0.8859999, 1.86, -2.23, 2.1242857, -0.37285715, 2.5471427, 2.5985715, -0.37, 3.3400002, -2.81, 3.127143, 1.43, -1.5357141, 4.08, -4.45, 3.6360002, 2.2220001, 1.5174286, 3.1234286, -1.8722857, 4.5657144, 0.074000075, 1.114, 2.6877143, -2.1477144, 4.6374288, 0.8145714, 5.856, 2.666, 4.82, 5.19, 1.1128572, 5.4542856, -4.8185716, 5.877143, 0.37000012, -0.37000012, 6.352857, -5.6642857, 6.7757144, 2.3814285, 7.04, 7.41}},
		{"bilinear", "align_corners", 2, 3, []float32{1.1, -0.73, 0.00999999, 0.37, -1.12, 1.49, 4.82, 5.19, 0.37000012, -0.37000012, 7.04, 7.41}},
		{"bilinear", "asymmetric", 2, 3, []float32{1.1, -0.73, -0.113333344, 0.24333334, -0.62, 1.2433333, 3.3400002, 1.48, -0.4933333, 2.4733334, 4.2, 0.49333334}},
		{"nearest", "half_pixel", 2, 3, []float32{1.1, -0.73, 0.38, 0.75, -1.12, 1.49, 4.82, 5.19, 6.3, -6.67, 7.04, 7.41}},
		{"nearest", "half_pixel", 5, 7, []float32{1.1, -0.73, 1.1, -0.73, -0.36, -0.01, 0.38, 0.75, 0.38, 0.75, -1.12, 1.49, -1.12, 1.49, 1.1, -0.73, 1.1, -0.73, -0.36, -0.01, 0.38, 0.75, 0.38, 0.75, -1.12, 1.49, -1.12, 1.49, 1.86, -2.23, 1.86, -2.23, 2.6, 2.97, -3.34, 3.71, -3.34, 3.71, 4.08, -4.45, 4.08, -4.45, 4.82, 5.19, 4.82, 5.19, -5.56, 5.93, 6.3, -6.67, 6.3, -6.67, 7.04, 7.41, 7.04, 7.41, 4.82, 5.19, 4.82, 5.19, -5.56, 5.93, 6.3, -6.67, 6.3, -6.67, 7.04, 7.41, 7.04, 7.41}},
		{"nearest", "align_corners", 2, 3, []float32{1.1, -0.73, 0.38, 0.75, -1.12, 1.49, 4.82, 5.19, 6.3, -6.67, 7.04, 7.41}},
		{"nearest", "asymmetric", 2, 3, []float32{1.1, -0.73, -0.36, -0.01, 0.38, 0.75, 1.86, -2.23, 2.6, 2.97, -3.34, 3.71}},
	}
	for _, c := range cases {
		z, err := NewResize(1, 3, 4, 2, c.oh, c.ow, c.mode, c.coord)
		if err != nil {
			t.Fatal(err)
		}
		y := make([]float32, c.oh*c.ow*2)
		z.Run(x, y)
		checkClose(t, "TF.js "+c.mode+" "+c.coord, y, c.want, 1e-6)
	}
}
