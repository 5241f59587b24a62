package onnx

// Softmax, ReduceMean and BatchNormalization: the ops whose axes move
// when their input is NHWC.

import (
	"errors"
	"math"
	"strconv"

	"github.com/edgenn/edgenn/model"
)

// ---- softmax ----

func hSoftmax(im *importer, n *nodeProto, in []*value) ([]*value, error) {
	x, err := need(in, 0, "input")
	if err != nil {
		return nil, err
	}
	a := &attrs{n: n}
	def := -1
	if im.opset < 13 {
		def = 1
	}
	axis := a.int("axis", def)
	if a.err != nil {
		return nil, a.err
	}
	r := len(x.shape)
	if axis < 0 {
		axis += r
	}
	if axis < 0 || axis >= r {
		return nil, errors.New("axis " + strconv.Itoa(a.int("axis", def)) + " out of range for rank " + strconv.Itoa(r))
	}
	hint := out(n, 0)
	if im.opset < 13 && axis != r-1 {
		// Before opset 13 Softmax works on the input flattened to 2-D at axis.
		if x.batch.dim >= axis || x.batch.mix {
			return nil, errors.New("softmax over a free batch dimension")
		}
		p, err := im.plain(x)
		if err != nil {
			return nil, err
		}
		b := noBatch
		if x.batch.dim >= 0 {
			b.dim = 0
		}
		f, err := im.reshape(p, []int{numel(x.shape[:axis]), numel(x.shape[axis:])}, b, hint+"/2d")
		if err != nil {
			return nil, err
		}
		s, _, err := im.emit(model.OpSoftmax, []string{f}, nil, hint+"/softmax")
		if err != nil {
			return nil, err
		}
		name, err := im.reshape(s, x.shape, x.batch, hint)
		if err != nil {
			return nil, err
		}
		return []*value{{name: name, shape: x.shape, batch: x.batch}}, nil
	}
	var src string
	lay := x.lay
	eaxis := axis
	switch {
	case x.c != nil:
		lay = plainLayout
		src, err = im.plain(x)
	case x.lay == nhwcLayout:
		src, eaxis = x.name, nhwcAxis[axis]
	case x.lay == flatLayout && axis == 1:
		src = x.name // a whole row: the order inside it does not matter
	default:
		lay = plainLayout
		src, err = im.plain(x)
	}
	if err != nil {
		return nil, err
	}
	at := model.Attrs{}
	if eaxis != len(x.shape)-1 {
		at["axis"] = eaxis
	}
	name, _, err := im.emit(model.OpSoftmax, []string{src}, at, hint)
	if err != nil {
		return nil, err
	}
	v := like(x, name)
	v.lay = lay
	return []*value{v}, nil
}

// ---- reductions and normalisation ----

func hReduceMean(im *importer, n *nodeProto, in []*value) ([]*value, error) {
	x, err := need(in, 0, "data")
	if err != nil {
		return nil, err
	}
	a := &attrs{n: n}
	keep := a.int("keepdims", 1)
	noop := a.int("noop_with_empty_axes", 0)
	var axes []int
	if im.opset < 18 {
		axes = a.ints("axes")
	} else if arg(in, 1) != nil {
		c, err := constArg(in, 1, "axes")
		if err != nil {
			return nil, err
		}
		if axes, err = c.ints("axes"); err != nil {
			return nil, err
		}
	}
	if a.err != nil {
		return nil, a.err
	}
	if keep != 0 && keep != 1 {
		return nil, errors.New("keepdims must be 0 or 1")
	}
	if len(axes) == 0 && noop == 1 {
		return []*value{x}, nil
	}
	r := len(x.shape)
	red := make([]bool, r)
	for _, ax := range axes {
		if ax < 0 {
			ax += r
		}
		if ax < 0 || ax >= r || red[ax] {
			return nil, errors.New("axes " + model.ShapeString(axes) + " are out of range or repeat for rank " + strconv.Itoa(r))
		}
		red[ax] = true
	}
	if len(axes) == 0 {
		for i := range red {
			red[i] = true
		}
	}
	var outShape []int
	b := noBatch
	for i, d := range x.shape {
		if i == x.batch.dim && !red[i] {
			b.dim = len(outShape)
		}
		if !red[i] {
			outShape = append(outShape, d)
		} else if keep == 1 {
			outShape = append(outShape, 1)
		}
	}
	if x.batch.mix {
		b.mix = true
	}
	hint := out(n, 0)
	if x.c == nil && x.lay == nhwcLayout {
		eaxes := []int{}
		remainingInOrder := true
		last := -1
		for i := 0; i < 4; i++ {
			if red[i] {
				eaxes = append(eaxes, nhwcAxis[i])
			} else {
				if nhwcAxis[i] < last {
					remainingInOrder = false
				}
				last = nhwcAxis[i]
			}
		}
		if keep == 1 || remainingInOrder {
			name, _, err := im.emit(model.OpMean, []string{x.name}, model.Attrs{"axes": eaxes, "keepdims": keep}, hint)
			if err != nil {
				return nil, err
			}
			lay := plainLayout
			if keep == 1 {
				lay = nhwcLayout
			}
			return []*value{im.dyn(name, lay, b)}, nil
		}
	}
	p, err := im.plain(x)
	if err != nil {
		return nil, err
	}
	ax := []int{}
	for i, rd := range red {
		if rd {
			ax = append(ax, i)
		}
	}
	name, _, err := im.emit(model.OpMean, []string{p}, model.Attrs{"axes": ax, "keepdims": keep}, hint)
	if err != nil {
		return nil, err
	}
	return []*value{im.dyn(name, plainLayout, b)}, nil
}

func hBatchNorm(im *importer, n *nodeProto, in []*value) ([]*value, error) {
	x, err := need(in, 0, "X")
	if err != nil {
		return nil, err
	}
	a := &attrs{n: n}
	eps := a.float("epsilon", 1e-5)
	mom := a.float("momentum", 0.9)
	if im.opset < 9 && a.int("spatial", 1) != 1 {
		return nil, errors.New("spatial=0 (per-activation statistics) is not supported")
	}
	if im.opset < 7 && a.int("is_test", 0) == 0 {
		return nil, errors.New("is_test=0 (training statistics) is not supported (import the inference graph)")
	}
	if a.int("training_mode", 0) != 0 {
		return nil, errors.New("training_mode=1 is not supported (import the inference graph)")
	}
	if a.err != nil {
		return nil, a.err
	}
	if len(x.shape) < 2 {
		return nil, errors.New("input of rank " + strconv.Itoa(len(x.shape)) + " has no channel axis")
	}
	c := x.shape[1]
	var p [4]*constant
	for i, what := range []string{"scale", "B", "input_mean", "input_var"} {
		if p[i], err = constArg(in, i+1, what); err != nil {
			return nil, err
		}
		if !isFloat(p[i].dt) || p[i].size() != c {
			return nil, errors.New(what + " must be a float tensor of " + strconv.Itoa(c) + " values (channels), has " + model.ShapeString(p[i].shape))
		}
	}
	if !(eps >= 0) || !(mom >= 0 && mom <= 1) {
		return nil, errors.New("epsilon must be >= 0 and momentum in [0, 1]")
	}
	hint := out(n, 0)
	r := len(x.shape)
	if x.c == nil && (r == 4 || r == 2) {
		var xn string
		lay := plainLayout
		if r == 4 {
			xn, err = im.asNHWC(x)
			lay = nhwcLayout
		} else {
			xn, err = im.plain(x)
		}
		if err != nil {
			return nil, err
		}
		inputs := []string{xn}
		for i, pc := range p {
			t, err := im.constTensor(reshapeConst(pc, []int{c}), false, hint+"/"+[]string{"scale", "bias", "mean", "var"}[i])
			if err != nil {
				return nil, err
			}
			inputs = append(inputs, t)
		}
		name, _, err := im.emit(model.OpBatchNorm, inputs, model.Attrs{"epsilon": eps, "momentum": mom}, hint)
		if err != nil {
			return nil, err
		}
		return []*value{im.dyn(name, lay, x.batch)}, nil
	}
	// Other ranks: y = x*s + t with per-channel s and t, broadcast over the
	// axes after the channel.
	s := &constant{dt: dtFloat, shape: make([]int, r-1), f: make([]float32, c)}
	t := &constant{dt: dtFloat, shape: s.shape, f: make([]float32, c)}
	for i := range s.shape {
		s.shape[i] = 1
	}
	s.shape[0] = c
	for i := 0; i < c; i++ {
		k := float64(p[0].f[i]) / math.Sqrt(float64(p[3].f[i])+float64(eps))
		s.f[i] = float32(k)
		t.f[i] = float32(float64(p[1].f[i]) - float64(p[2].f[i])*k)
	}
	mul, err := im.binary(model.OpMul, x, cv(s), hint+"/scale")
	if err != nil {
		return nil, err
	}
	return one(im.binary(model.OpAdd, mul, cv(t), hint))
}
