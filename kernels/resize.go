package kernels

import (
	"math"
)

// Resize scales the spatial axes of an NHWC tensor, set up once for its
// sizes. The source coordinate of output index o along an axis of input size
// in and output size out is, in float64:
//
//	half_pixel:    (o+0.5)*in/out - 0.5
//	align_corners: o*(in-1)/(out-1)   (0 when out == 1)
//	asymmetric:    o*in/out
//
// as in ONNX Resize and TF.js (halfPixelCenters, alignCorners, neither).
// bilinear interpolates between the two neighbouring cells, clamping at the
// borders (TF.js resizeBilinear, ONNX linear), in float64 as TF.js does.
// nearest rounds as TF.js resizeNearestNeighbor does: half_pixel takes
// floor((o+0.5)*in/out), which is ONNX half_pixel with nearest_mode
// "round_prefer_ceil"; align_corners rounds half up (ONNX
// "round_prefer_ceil"); asymmetric takes the floor (ONNX "floor"). ONNX's
// default nearest_mode "round_prefer_floor" differs only at exact ties.
type Resize struct {
	n, h, w, c, oh, ow int
	bilinear           bool
	// Per output row and column: the two source indices and the weight of
	// the second (nearest uses only the first).
	r0, r1, c0, c1 []int32
	rf, cf         []float64
}

// NewResize sets up resizing x [n,h,w,c] to y [n,oh,ow,c]. mode is "nearest"
// or "bilinear"; coord is "half_pixel", "align_corners" or "asymmetric". The
// error names a bad size, mode or coordinate mode.
func NewResize(n, h, w, c, oh, ow int, mode string, coord string) (*Resize, error) {
	const where = "NewResize"
	if mode != "nearest" && mode != "bilinear" {
		return nil, layoutErr(where, "unknown mode \""+mode+"\" (want nearest or bilinear)")
	}
	if coord != "half_pixel" && coord != "align_corners" && coord != "asymmetric" {
		return nil, layoutErr(where, "unknown coordinate mode \""+coord+"\" (want half_pixel, align_corners or asymmetric)")
	}
	if _, err := layoutCount(where, "input shape", []int{n, h, w, c}, false); err != nil {
		return nil, err
	}
	if _, err := layoutCount(where, "output shape", []int{n, oh, ow, c}, false); err != nil {
		return nil, err
	}
	z := &Resize{n: n, h: h, w: w, c: c, oh: oh, ow: ow, bilinear: mode == "bilinear"}
	z.r0, z.r1, z.rf = resizeAxis(h, oh, z.bilinear, coord)
	z.c0, z.c1, z.cf = resizeAxis(w, ow, z.bilinear, coord)
	return z, nil
}

// resizeAxis computes the source indices and weights along one axis.
func resizeAxis(in, out int, bilinear bool, coord string) (i0, i1 []int32, f []float64) {
	i0, i1, f = make([]int32, out), make([]int32, out), make([]float64, out)
	ratio := float64(in) / float64(out)
	if coord == "align_corners" && out > 1 {
		ratio = float64(in-1) / float64(out-1)
	}
	for o := range out {
		var src float64
		switch coord {
		case "half_pixel":
			src = (float64(o) + 0.5) * ratio
			if bilinear {
				src -= 0.5
			}
		default:
			src = float64(o) * ratio
		}
		if !bilinear {
			var k float64
			if coord == "align_corners" {
				k = math.Floor(src + 0.5)
			} else {
				k = math.Floor(src)
			}
			i0[o] = int32(min(max(k, 0), float64(in-1)))
			continue
		}
		lo := math.Floor(src)
		i0[o] = int32(min(max(lo, 0), float64(in-1)))
		i1[o] = int32(min(max(lo+1, 0), float64(in-1)))
		f[o] = src - lo
	}
	return i0, i1, f
}

// Run resizes x [n,h,w,c] into y [n,oh,ow,c] (NHWC, caller-owned, no
// overlap). It does not allocate.
func (z *Resize) Run(x, y []float32) {
	c := z.c
	img, oimg := z.h*z.w*c, z.oh*z.ow*c
	x, y = x[:z.n*img], y[:z.n*oimg]
	for b := range z.n {
		xb, yb := x[b*img:(b+1)*img], y[b*oimg:(b+1)*oimg]
		for oy := range z.oh {
			yr := yb[oy*z.ow*c : (oy+1)*z.ow*c]
			if !z.bilinear {
				xr := xb[int(z.r0[oy])*z.w*c:]
				for ox := range z.ow {
					s := int(z.c0[ox]) * c
					copy(yr[ox*c:(ox+1)*c], xr[s:s+c])
				}
				continue
			}
			top := xb[int(z.r0[oy])*z.w*c : int(z.r0[oy]+1)*z.w*c]
			bot := xb[int(z.r1[oy])*z.w*c : int(z.r1[oy]+1)*z.w*c]
			fy := z.rf[oy]
			for ox := range z.ow {
				l, r := int(z.c0[ox])*c, int(z.c1[ox])*c
				fx := z.cf[ox]
				tl, tr, bl, br := top[l:l+c], top[r:r+c], bot[l:l+c], bot[r:r+c]
				yo := yr[ox*c : (ox+1)*c]
				for j := range yo {
					t := float64(tl[j]) + (float64(tr[j])-float64(tl[j]))*fx
					u := float64(bl[j]) + (float64(br[j])-float64(bl[j]))*fx
					yo[j] = float32(t + (u-t)*fy)
				}
			}
		}
	}
}
