package onnx

import (
	"errors"
	"math"
	"strconv"

	"github.com/edgenn/edgenn/model"
)

// ONNX Resize has many coordinate and rounding modes; the IR's Resize has
// three coordinate modes and rounds nearest one way. Rather than match modes
// by name, the importer computes, for every output row and column, the
// source position the ONNX node reads and the one each IR mode reads, and
// maps the node to the first IR mode that reads the same pixels (the same
// positions for linear). A node no IR mode reproduces is refused.

// resizeSpec is an ONNX Resize or Upsample node's parameters along H and W.
type resizeSpec struct {
	linear  bool
	coord   string // ONNX coordinate_transformation_mode
	nearest string // ONNX nearest_mode, or "simple" (opset 10 and Upsample)
	in, out [2]int
	scale   [2]float64
}

func hResize(im *importer, n *nodeProto, in []*value) ([]*value, error) {
	x, err := need(in, 0, "X")
	if err != nil {
		return nil, err
	}
	a := &attrs{n: n}
	sp := resizeSpec{coord: "asymmetric", nearest: "simple"}
	mode := a.str("mode", "nearest")
	var scales []float32
	var sizes []int
	if im.opset < 11 {
		sc, err := constArg(in, 1, "scales")
		if err != nil {
			return nil, err
		}
		scales = sc.floats()
	} else {
		sp.coord = a.str("coordinate_transformation_mode", "half_pixel")
		sp.nearest = a.str("nearest_mode", "round_prefer_floor")
		if v := arg(in, 2); v != nil {
			c, err := constArg(in, 2, "scales")
			if err != nil {
				return nil, err
			}
			if c.size() > 0 {
				scales = c.floats()
			}
		}
		if v := arg(in, 3); v != nil {
			c, err := constArg(in, 3, "sizes")
			if err != nil {
				return nil, err
			}
			if c.size() > 0 {
				if sizes, err = c.ints("sizes"); err != nil {
					return nil, err
				}
			}
		}
		if a.int("antialias", 0) != 0 {
			for _, s := range scales {
				if s < 1 {
					return nil, errors.New("antialiased downsampling is not supported")
				}
			}
		}
		if p := a.str("keep_aspect_ratio_policy", "stretch"); p != "stretch" && sizes != nil {
			return nil, errors.New("keep_aspect_ratio_policy " + strconv.Quote(p) + " is not supported")
		}
		if axes := a.ints("axes"); axes != nil {
			r := len(x.shape)
			full := func(k int) ([]int, error) {
				if k != len(axes) {
					return nil, errors.New("scales/sizes must have one value per axis")
				}
				return make([]int, r), nil
			}
			if scales != nil {
				if _, err := full(len(scales)); err != nil {
					return nil, err
				}
				fs := make([]float32, r)
				for i := range fs {
					fs[i] = 1
				}
				for k, ax := range axes {
					if ax < 0 {
						ax += r
					}
					if ax < 0 || ax >= r {
						return nil, errors.New("axes out of range")
					}
					fs[ax] = scales[k]
				}
				scales = fs
			}
			if sizes != nil {
				s, err := full(len(sizes))
				if err != nil {
					return nil, err
				}
				copy(s, x.shape)
				for k, ax := range axes {
					if ax < 0 {
						ax += r
					}
					if ax < 0 || ax >= r {
						return nil, errors.New("axes out of range")
					}
					s[ax] = sizes[k]
				}
				sizes = s
			}
		}
	}
	if a.err != nil {
		return nil, a.err
	}
	switch mode {
	case "nearest":
	case "linear", "bilinear":
		sp.linear = true
	default:
		return nil, errors.New("mode " + strconv.Quote(mode) + " is not supported (nearest and linear are)")
	}
	return one(im.resize(x, sp, scales, sizes, out(n, 0)))
}

func hUpsample(im *importer, n *nodeProto, in []*value) ([]*value, error) {
	x, err := need(in, 0, "X")
	if err != nil {
		return nil, err
	}
	a := &attrs{n: n}
	sp := resizeSpec{coord: "asymmetric", nearest: "simple"}
	var scales []float32
	if im.opset < 9 {
		scales = a.floats("scales")
	} else {
		sc, err := constArg(in, 1, "scales")
		if err != nil {
			return nil, err
		}
		scales = sc.floats()
	}
	switch mode := a.str("mode", "nearest"); mode {
	case "nearest":
	case "linear", "bilinear":
		sp.linear = true
	default:
		return nil, errors.New("mode " + strconv.Quote(mode) + " is not supported")
	}
	if a.err != nil {
		return nil, a.err
	}
	if scales == nil {
		return nil, errors.New("scales are required")
	}
	return one(im.resize(x, sp, scales, nil, out(n, 0)))
}

// resize maps a 2-D resize of NCHW x with scales or sizes per axis.
func (im *importer) resize(x *value, sp resizeSpec, scales []float32, sizes []int, hint string) (*value, error) {
	if len(x.shape) != 4 {
		return nil, errors.New("input of rank " + strconv.Itoa(len(x.shape)) + ": only 4-D NCHW resizing is supported")
	}
	switch {
	case sizes != nil:
		if len(sizes) != 4 {
			return nil, errors.New("sizes must have 4 values")
		}
		if sizes[0] != x.shape[0] || sizes[1] != x.shape[1] {
			return nil, errors.New("resizing the batch or channel axis is not supported")
		}
		for i := 0; i < 2; i++ {
			sp.in[i], sp.out[i] = x.shape[2+i], sizes[2+i]
			sp.scale[i] = float64(float32(sizes[2+i]) / float32(x.shape[2+i]))
		}
	case scales != nil:
		if len(scales) != 4 {
			return nil, errors.New("scales must have 4 values")
		}
		if scales[0] != 1 || scales[1] != 1 {
			return nil, errors.New("resizing the batch or channel axis is not supported")
		}
		for i := 0; i < 2; i++ {
			s := scales[2+i]
			if !(s > 0) || s > model.MaxDim {
				return nil, errors.New("bad scale " + ftoa(s))
			}
			sp.in[i] = x.shape[2+i]
			sp.out[i] = int(float32(x.shape[2+i]) * s)
			sp.scale[i] = float64(s)
		}
	default:
		return nil, errors.New("one of scales and sizes is required")
	}
	for i := 0; i < 2; i++ {
		if sp.out[i] < 1 || sp.out[i] > model.MaxDim {
			return nil, errors.New("output size " + strconv.Itoa(sp.out[i]) + " out of range")
		}
	}
	if x.batch.mix {
		return nil, errors.New("the free batch is mixed into another dimension")
	}
	if sp.out == sp.in && sp.scale == [2]float64{1, 1} {
		return x, nil
	}
	coord, err := sp.irCoord()
	if err != nil {
		return nil, err
	}
	xn, err := im.asNHWC(x)
	if err != nil {
		return nil, err
	}
	mode := "nearest"
	if sp.linear {
		mode = "bilinear"
	}
	name, _, err := im.emit(model.OpResize, []string{xn}, model.Attrs{"size": sp.out[:], "mode": mode, "coord": coord}, hint)
	if err != nil {
		return nil, err
	}
	return im.dyn(name, nhwcLayout, x.batch), nil
}

// irCoord returns the IR coordinate mode that reads what the ONNX node reads.
func (sp resizeSpec) irCoord() (string, error) {
	switch sp.coord {
	case "half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn":
	default:
		return "", errors.New("coordinate_transformation_mode " + strconv.Quote(sp.coord) + " is not supported")
	}
	if !sp.linear {
		switch sp.nearest {
		case "round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "simple":
		default:
			return "", errors.New("nearest_mode " + strconv.Quote(sp.nearest) + " is not supported")
		}
	}
	for _, ir := range []string{"half_pixel", "asymmetric", "align_corners"} {
		ok := true
		for i := 0; i < 2 && ok; i++ {
			ok = sp.matches(ir, i)
		}
		if ok {
			return ir, nil
		}
	}
	what := sp.coord
	if !sp.linear {
		what += " with nearest_mode " + sp.nearest
	}
	return "", errors.New(what + " at these sizes reads pixels no IR Resize mode reads")
}

// matches reports whether IR coordinate mode ir reads, along axis i, the
// same source pixels (nearest) or positions (linear) as the ONNX node.
func (sp resizeSpec) matches(ir string, i int) bool {
	in, out, s := sp.in[i], sp.out[i], sp.scale[i]
	for o := 0; o < out; o++ {
		x := onnxCoord(sp.coord, o, in, out, s)
		// The IR (kernels.NewResize): ratio in/out, or (in-1)/(out-1) for
		// align_corners; nearest reads floor, or floor(x+0.5) for align_corners.
		ratio := float64(in) / float64(out)
		if ir == "align_corners" && out > 1 {
			ratio = float64(in-1) / float64(out-1)
		}
		var y float64
		switch ir {
		case "half_pixel":
			y = (float64(o) + 0.5) * ratio
			if sp.linear {
				y -= 0.5
			}
		default:
			y = float64(o) * ratio
		}
		if sp.linear {
			cx := math.Min(math.Max(x, 0), float64(in-1))
			cy := math.Min(math.Max(y, 0), float64(in-1))
			if math.Abs(cx-cy) > 1e-5 {
				return false
			}
			continue
		}
		var iy float64
		if ir == "align_corners" {
			iy = math.Floor(y + 0.5)
		} else {
			iy = math.Floor(y)
		}
		ix := onnxNearest(sp.nearest, x, s)
		clamp := func(v float64) float64 { return math.Min(math.Max(v, 0), float64(in-1)) }
		if clamp(ix) != clamp(iy) {
			return false
		}
	}
	return true
}

// onnxCoord is ONNX Resize's source coordinate of output index o (float32
// arithmetic, as ONNX Runtime computes it).
func onnxCoord(mode string, o, in, out int, s float64) float64 {
	fo, fs := float32(o), float32(s)
	switch mode {
	case "half_pixel":
		return float64((fo+0.5)/fs - 0.5)
	case "pytorch_half_pixel":
		if out > 1 {
			return float64((fo+0.5)/fs - 0.5)
		}
		return 0
	case "align_corners":
		// The resized length is in*scale, not the rounded output size.
		length := float32(in) * fs
		if length == 1 {
			return 0
		}
		return float64(fo * float32(in-1) / (length - 1))
	case "tf_half_pixel_for_nn":
		return float64((fo + 0.5) / fs)
	}
	return float64(fo / fs) // asymmetric
}

// onnxNearest rounds a source coordinate as ONNX nearest_mode says.
func onnxNearest(mode string, x, scale float64) float64 {
	switch mode {
	case "round_prefer_ceil":
		return math.Floor(x + 0.5)
	case "floor":
		return math.Floor(x)
	case "ceil":
		return math.Ceil(x)
	case "simple": // ONNX Runtime's opset-10 rule
		if scale < 1 {
			return math.Ceil(x)
		}
		return math.Floor(x)
	}
	if x == math.Floor(x)+0.5 { // round_prefer_floor
		return math.Floor(x)
	}
	return math.Round(x)
}
