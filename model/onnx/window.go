package onnx

// Conv, MaxPool, AveragePool and the global pools: 1-D and 2-D windows,
// NCHW in the source, NHWC in the IR.

import (
	"errors"
	"strconv"

	"github.com/edgenn/edgenn/model"
)

// ---- convolution and pooling ----

// window is a 1-D or 2-D window's parameters in 2-D form: a 1-D window is
// a 2-D one of height 1 over an input of height 1.
type window struct {
	k, st, dil [2]int
	pads       [4]int // top, bottom, left, right
}

// readWindow reads strides, dilations and pads/auto_pad for spatial (1 or 2)
// dimensions of an input of size in with kernel k (both in 2-D form).
func readWindow(a *attrs, spatial int, in, k [2]int) (window, error) {
	w := window{k: k}
	list := func(name string, def int) ([2]int, error) {
		v := a.ints(name)
		out := [2]int{def, def}
		if v == nil {
			return out, nil
		}
		if len(v) != spatial {
			return out, errors.New(name + " " + model.ShapeString(v) + " must have " + strconv.Itoa(spatial) + " values")
		}
		for i, x := range v {
			if x < 1 || x > model.MaxDim {
				return out, errors.New(name + " " + model.ShapeString(v) + " must be positive")
			}
			out[i+2-spatial] = x
		}
		return out, nil
	}
	var err error
	if w.st, err = list("strides", 1); err != nil {
		return w, err
	}
	if w.dil, err = list("dilations", 1); err != nil {
		return w, err
	}
	switch ap := a.str("auto_pad", "NOTSET"); ap {
	case "NOTSET", "":
		pads := a.ints("pads")
		if pads == nil {
			break
		}
		if len(pads) != 2*spatial {
			return w, errors.New("pads " + model.ShapeString(pads) + " must have " + strconv.Itoa(2*spatial) + " values")
		}
		for _, v := range pads {
			if v < 0 || v > model.MaxDim {
				return w, errors.New("pads " + model.ShapeString(pads) + " out of range (negative pads are not supported)")
			}
		}
		if spatial == 1 {
			w.pads = [4]int{0, 0, pads[0], pads[1]}
		} else {
			w.pads = [4]int{pads[0], pads[2], pads[1], pads[3]}
		}
	case "VALID":
	case "SAME_UPPER", "SAME_LOWER":
		for i := 0; i < 2; i++ {
			o := (in[i] + w.st[i] - 1) / w.st[i]
			total := max((o-1)*w.st[i]+(k[i]-1)*w.dil[i]+1-in[i], 0)
			small, big := total/2, total-total/2
			if ap == "SAME_LOWER" {
				small, big = big, small
			}
			w.pads[2*i], w.pads[2*i+1] = small, big
		}
	default:
		return w, errors.New("unknown auto_pad " + strconv.Quote(ap))
	}
	return w, a.err
}

func (w window) attrs(at model.Attrs) {
	if w.pads != [4]int{} {
		at["padding"] = "EXPLICIT"
		at["pads"] = w.pads[:]
	}
}

// spatialInput returns x as a rank-4 value for a 1-D or 2-D window op: a
// rank-3 [N,C,L] input is reshaped to [N,C,1,L].
func (im *importer) spatialInput(x *value, hint string) (*value, int, error) {
	switch len(x.shape) {
	case 4:
		return x, 2, nil
	case 3:
		if x.c != nil {
			return cv(reshapeConst(x.c, []int{x.shape[0], x.shape[1], 1, x.shape[2]})), 1, nil
		}
		v, err := im.reshapeValue(x, []int{x.shape[0], x.shape[1], 1, x.shape[2]}, x.batch, hint+"/2d")
		return v, 1, err
	}
	return nil, 0, errors.New("input of rank " + strconv.Itoa(len(x.shape)) + ": only 1-D and 2-D windows (NCL and NCHW inputs) are supported")
}

// spatialOutput turns the rank-4 NHWC result of a window op back into the
// rank of its input.
func (im *importer) spatialOutput(name string, spatial int, b batchInfo, hint string) (*value, error) {
	v := im.dyn(name, nhwcLayout, b)
	if spatial == 2 {
		return v, nil
	}
	return im.reshapeValue(v, []int{v.shape[0], v.shape[1], v.shape[3]}, b, hint)
}

func hConv(im *importer, n *nodeProto, in []*value) ([]*value, error) {
	x, err := need(in, 0, "X")
	if err != nil {
		return nil, err
	}
	w, err := constArg(in, 1, "weights W")
	if err != nil {
		return nil, err
	}
	hint := out(n, 0)
	x4, spatial, err := im.spatialInput(x, hint)
	if err != nil {
		return nil, err
	}
	if !isFloat(w.dt) || len(w.shape) != spatial+2 {
		return nil, errors.New("weights must be a rank-" + strconv.Itoa(spatial+2) + " float tensor [M, C/group, k...], got " + dtName(w.dt) + " " + model.ShapeString(w.shape))
	}
	if spatial == 1 {
		w = reshapeConst(w, []int{w.shape[0], w.shape[1], 1, w.shape[2]})
	}
	a := &attrs{n: n}
	group := a.int("group", 1)
	m, cg, kh, kw := w.shape[0], w.shape[1], w.shape[2], w.shape[3]
	if ks := a.ints("kernel_shape"); ks != nil && (len(ks) != spatial || ks[len(ks)-1] != kw || (spatial == 2 && ks[0] != kh)) {
		return nil, errors.New("kernel_shape " + model.ShapeString(ks) + " disagrees with weights")
	}
	win, err := readWindow(a, spatial, [2]int{x4.shape[2], x4.shape[3]}, [2]int{kh, kw})
	if err != nil {
		return nil, err
	}
	if group < 1 || x4.shape[1] != cg*group || m%group != 0 {
		return nil, errors.New("input has " + strconv.Itoa(x4.shape[1]) + " channels; weights " + model.ShapeString(w.shape) + " with group " + strconv.Itoa(group) + " do not fit")
	}
	if m == 0 || cg == 0 || kh == 0 || kw == 0 {
		return nil, errors.New("empty weights " + model.ShapeString(w.shape))
	}
	hwio := transposeConst(w, []int{2, 3, 1, 0})
	wn, err := im.weights(hwio.shape, hwio.f, hint+"/weights")
	if err != nil {
		return nil, err
	}
	im.relaid["Conv (OIHW to HWIO)"]++
	inputs := []string{"", wn}
	if b := arg(in, 2); b != nil {
		if b.c == nil || !isFloat(b.c.dt) || b.c.size() != m {
			return nil, errors.New("bias B must be a constant float tensor of " + strconv.Itoa(m) + " values")
		}
		bn, err := im.constTensor(reshapeConst(b.c, []int{m}), false, hint+"/bias")
		if err != nil {
			return nil, err
		}
		inputs = append(inputs, bn)
	}
	if inputs[0], err = im.asNHWC(x4); err != nil {
		return nil, err
	}
	at := model.Attrs{}
	if win.st != [2]int{1, 1} {
		at["strides"] = win.st[:]
	}
	if win.dil != [2]int{1, 1} {
		at["dilations"] = win.dil[:]
	}
	if group > 1 {
		at["group"] = group
	}
	win.attrs(at)
	h := hint
	if spatial == 1 {
		h += "/conv2d"
	}
	name, _, err := im.emit(model.OpConv2D, inputs, at, h)
	if err != nil {
		return nil, err
	}
	return one(im.spatialOutput(name, spatial, x.batch, hint))
}

func hPool(im *importer, n *nodeProto, in []*value) ([]*value, error) {
	x, err := need(in, 0, "X")
	if err != nil {
		return nil, err
	}
	hint := out(n, 0)
	x4, spatial, err := im.spatialInput(x, hint)
	if err != nil {
		return nil, err
	}
	a := &attrs{n: n}
	avg := n.opType == "AveragePool"
	ks := a.ints("kernel_shape")
	if len(ks) != spatial {
		return nil, errors.New("kernel_shape " + model.ShapeString(ks) + " must have " + strconv.Itoa(spatial) + " values")
	}
	k := [2]int{1, ks[0]}
	if spatial == 2 {
		k = [2]int{ks[0], ks[1]}
	}
	if k[0] < 1 || k[1] < 1 || k[0] > model.MaxDim || k[1] > model.MaxDim {
		return nil, errors.New("kernel_shape " + model.ShapeString(ks) + " must be positive")
	}
	hw := [2]int{x4.shape[2], x4.shape[3]}
	win, err := readWindow(a, spatial, hw, k)
	if err != nil {
		return nil, err
	}
	if win.dil != [2]int{1, 1} {
		return nil, errors.New("dilated pooling is not supported by the IR")
	}
	ceil := a.int("ceil_mode", 0) != 0
	cip := avg && a.int("count_include_pad", 0) != 0
	if a.err != nil {
		return nil, a.err
	}
	if ceil {
		for i := 0; i < 2; i++ {
			padded := hw[i] + win.pads[2*i] + win.pads[2*i+1]
			if padded < k[i] {
				break // the IR reports the window larger than the input
			}
			o := (padded-k[i]+win.st[i]-1)/win.st[i] + 1
			if (o-1)*win.st[i] >= hw[i]+win.pads[2*i] {
				o-- // the last window must start inside the input or its leading pad
			}
			if extra := (o-1)*win.st[i] + k[i] - padded; extra > 0 {
				if cip {
					return nil, errors.New("ceil_mode with count_include_pad: the windows past the padding count differently than the IR's AvgPool")
				}
				win.pads[2*i+1] += extra
			}
		}
	}
	at := model.Attrs{"kernel": k[:], "strides": win.st[:]}
	win.attrs(at)
	op := model.OpMaxPool
	if avg {
		op = model.OpAvgPool
		if cip {
			at["count_include_pad"] = 1
		}
	}
	xn, err := im.asNHWC(x4)
	if err != nil {
		return nil, err
	}
	h := hint
	if spatial == 1 {
		h += "/pool2d"
	}
	name, _, err := im.emit(op, []string{xn}, at, h)
	if err != nil {
		return nil, err
	}
	return one(im.spatialOutput(name, spatial, x.batch, hint))
}

func hGlobalPool(im *importer, n *nodeProto, in []*value) ([]*value, error) {
	x, err := need(in, 0, "X")
	if err != nil {
		return nil, err
	}
	hint := out(n, 0)
	if r := len(x.shape); r != 3 && r != 4 {
		return nil, errors.New("input of rank " + strconv.Itoa(r) + ": only NCL and NCHW inputs are supported")
	}
	x4, spatial, err := im.spatialInput(x, hint)
	if err != nil {
		return nil, err
	}
	xn, err := im.asNHWC(x4)
	if err != nil {
		return nil, err
	}
	h := hint
	if spatial == 1 {
		h += "/pool2d"
	}
	var name string
	if n.opType == "GlobalMaxPool" {
		k := []int{x4.shape[2], x4.shape[3]}
		name, _, err = im.emit(model.OpMaxPool, []string{xn}, model.Attrs{"kernel": k, "strides": []int{1, 1}}, h)
	} else {
		name, _, err = im.emit(model.OpGlobalAvgPool, []string{xn}, model.Attrs{"keepdims": 1}, h)
	}
	if err != nil {
		return nil, err
	}
	return one(im.spatialOutput(name, spatial, x.batch, hint))
}
