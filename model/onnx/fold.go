package onnx

// Constant, ConstantOfShape, Identity, Dropout, Shape, Gather, Slice and
// Cast: mostly computed at import, the shape chains folded away.

import (
	"errors"
	"strconv"

	"github.com/edgenn/edgenn/model"
)

// ---- constants and their chains ----

func hConstant(im *importer, n *nodeProto, in []*value) ([]*value, error) {
	a := &attrs{n: n}
	var c *constant
	var err error
	switch {
	case a.has("value"):
		t := a.tensor("value")
		if t == nil {
			return nil, a.err
		}
		if c, err = constantOf(t); err != nil {
			return nil, err
		}
	case a.has("value_float"):
		c = &constant{dt: dtFloat, shape: []int{}, f: []float32{a.float("value_float", 0)}}
	case a.has("value_floats"):
		f := a.floats("value_floats")
		c = &constant{dt: dtFloat, shape: []int{len(f)}, f: f}
	case a.has("value_int"):
		at := a.get("value_int", attrInt)
		if at != nil {
			c = &constant{dt: dtInt64, shape: []int{}, i: []int64{at.i}}
		}
	case a.has("value_ints"):
		at := a.get("value_ints", attrInts)
		if at != nil {
			c = &constant{dt: dtInt64, shape: []int{len(at.ints)}, i: at.ints}
		}
	default:
		return nil, errors.New("only tensor, float and int values are supported (not sparse or string)")
	}
	if a.err != nil {
		return nil, a.err
	}
	return []*value{cv(c)}, nil
}

func hConstantOfShape(im *importer, n *nodeProto, in []*value) ([]*value, error) {
	sc, err := constArg(in, 0, "shape")
	if err != nil {
		return nil, err
	}
	dims, err := sc.ints("shape")
	if err != nil {
		return nil, err
	}
	d64 := make([]int64, len(dims))
	for i, d := range dims {
		d64[i] = int64(d)
	}
	shape, err := checkDims(d64)
	if err != nil {
		return nil, err
	}
	fill := &constant{dt: dtFloat, shape: []int{1}, f: []float32{0}}
	a := &attrs{n: n}
	if t := a.tensor("value"); t != nil {
		if fill, err = constantOf(t); err != nil {
			return nil, err
		}
		if fill.size() != 1 {
			return nil, errors.New("value must have one element")
		}
	}
	if a.err != nil {
		return nil, a.err
	}
	c := &constant{dt: fill.dt, shape: shape}
	k := numel(shape)
	if err := im.spend(k); err != nil {
		return nil, err
	}
	if isFloat(fill.dt) {
		c.f = make([]float32, k)
		for i := range c.f {
			c.f[i] = fill.f[0]
		}
	} else {
		c.i = make([]int64, k)
		for i := range c.i {
			c.i[i] = fill.i[0]
		}
	}
	return []*value{cv(c)}, nil
}

func hIdentity(im *importer, n *nodeProto, in []*value) ([]*value, error) {
	x, err := need(in, 0, "input")
	if err != nil {
		return nil, err
	}
	return []*value{x}, nil
}

func hDropout(im *importer, n *nodeProto, in []*value) ([]*value, error) {
	x, err := need(in, 0, "data")
	if err != nil {
		return nil, err
	}
	ratio := float32(0.5)
	if im.opset < 12 {
		a := &attrs{n: n}
		ratio = a.float("ratio", 0.5)
		if a.err != nil {
			return nil, a.err
		}
	} else {
		if ratio, err = constScalar(in, 1, "ratio", 0.5); err != nil {
			return nil, err
		}
		if arg(in, 2) != nil {
			tm, err := constArg(in, 2, "training_mode")
			if err != nil {
				return nil, err
			}
			if t, err := tm.scalar("training_mode"); err != nil || t != 0 {
				return nil, errors.New("training_mode must be a constant false (import the inference graph)")
			}
		}
	}
	var mask *value
	if len(n.outputs) > 1 && n.outputs[1] != "" {
		if x.batch.free() {
			return nil, errors.New("the mask output of a tensor with a free batch is not supported")
		}
		if err := im.spend(numel(x.shape)); err != nil {
			return nil, err
		}
		m := &constant{dt: dtBool, shape: x.shape, i: make([]int64, numel(x.shape))}
		for i := range m.i {
			m.i[i] = 1
		}
		mask = cv(m)
	}
	if x.c != nil {
		return []*value{x, mask}, nil
	}
	if !(ratio >= 0 && ratio < 1) {
		ratio = 0 // the IR's Dropout wants [0, 1); at inference it is the identity anyway
	}
	name, _, err := im.emit(model.OpDropout, []string{x.name}, model.Attrs{"rate": ratio}, out(n, 0))
	if err != nil {
		return nil, err
	}
	return []*value{like(x, name), mask}, nil
}

func hShape(im *importer, n *nodeProto, in []*value) ([]*value, error) {
	x, err := need(in, 0, "data")
	if err != nil {
		return nil, err
	}
	a := &attrs{n: n}
	r := len(x.shape)
	start, end := a.int("start", 0), a.int("end", r)
	if a.err != nil {
		return nil, a.err
	}
	if start < 0 {
		start += r
	}
	if end < 0 {
		end += r
	}
	start, end = min(max(start, 0), r), min(max(end, 0), r)
	if end < start {
		end = start
	}
	shape := x.shape
	if x.c != nil {
		shape = x.c.shape
	}
	c := &constant{dt: dtInt64, shape: []int{end - start}, i: make([]int64, end-start)}
	for i := range c.i {
		c.i[i] = int64(shape[start+i])
	}
	if x.c == nil && x.batch.free() {
		if x.batch.mix {
			return nil, errors.New("the shape depends on the free batch size in a way that cannot be folded; export the model with a fixed batch size")
		}
		if d := x.batch.dim; d >= start && d < end {
			c.batch = make([]bool, len(c.i))
			c.batch[d-start] = true
		}
	}
	return []*value{cv(c)}, nil
}

func hGather(im *importer, n *nodeProto, in []*value) ([]*value, error) {
	data, err := need(in, 0, "data")
	if err != nil {
		return nil, err
	}
	ic, err := constArg(in, 1, "indices")
	if err != nil {
		return nil, err
	}
	if data.c == nil {
		return nil, errors.New("Gather on a computed tensor: the IR has no Gather op (only constant chains fold)")
	}
	idx, err := ic.ints("indices")
	if err != nil {
		return nil, err
	}
	a := &attrs{n: n}
	axis := a.int("axis", 0)
	if a.err != nil {
		return nil, a.err
	}
	r := len(data.c.shape)
	if axis < 0 {
		axis += r
	}
	if axis < 0 || axis >= r {
		return nil, errors.New("axis out of range for rank " + strconv.Itoa(r))
	}
	dim := data.c.shape[axis]
	for i, j := range idx {
		if j < 0 {
			j += dim
		}
		if j < 0 || j >= dim {
			return nil, errors.New("index " + strconv.Itoa(idx[i]) + " out of range for dimension " + strconv.Itoa(dim))
		}
		idx[i] = j
	}
	if len(data.c.shape)+len(ic.shape)-1 > model.MaxRank {
		return nil, errors.New("result rank is more than " + strconv.Itoa(model.MaxRank))
	}
	if dim == 0 {
		return nil, errors.New("gathers from an empty axis")
	}
	if err := im.spend(numel(data.c.shape) / dim * len(idx)); err != nil {
		return nil, err
	}
	return []*value{cv(gatherConst(data.c, axis, idx, ic.shape))}, nil
}

func hSlice(im *importer, n *nodeProto, in []*value) ([]*value, error) {
	data, err := need(in, 0, "data")
	if err != nil {
		return nil, err
	}
	var starts, ends, axes, steps []int
	if im.opset < 10 {
		a := &attrs{n: n}
		starts, ends, axes = a.ints("starts"), a.ints("ends"), a.ints("axes")
		if a.err != nil {
			return nil, a.err
		}
	} else {
		for i, dst := range []*[]int{&starts, &ends, &axes, &steps} {
			if arg(in, i+1) == nil {
				if i < 2 {
					return nil, errors.New("starts and ends are required")
				}
				continue
			}
			c, err := constArg(in, i+1, []string{"starts", "ends", "axes", "steps"}[i])
			if err != nil {
				return nil, err
			}
			if *dst, err = c.ints("slice parameters"); err != nil {
				return nil, err
			}
		}
	}
	if data.c == nil {
		return nil, errors.New("Slice on a computed tensor: the IR has no Slice op (only constant chains fold)")
	}
	shape := data.c.shape
	r := len(shape)
	if len(starts) != len(ends) || (axes != nil && len(axes) != len(starts)) || (steps != nil && len(steps) != len(starts)) {
		return nil, errors.New("starts, ends, axes and steps have different lengths")
	}
	st, en, sp := make([]int, r), append([]int(nil), shape...), make([]int, r)
	for i := range sp {
		sp[i] = 1
	}
	seen := make([]bool, r)
	for k := range starts {
		ax := k
		if axes != nil {
			ax = axes[k]
		}
		if ax < 0 {
			ax += r
		}
		if ax < 0 || ax >= r || seen[ax] {
			return nil, errors.New("axes out of range or repeated")
		}
		seen[ax] = true
		step := 1
		if steps != nil {
			step = steps[k]
		}
		if step == 0 {
			return nil, errors.New("step 0")
		}
		dim := shape[ax]
		s, e := starts[k], ends[k]
		if s < 0 {
			s += dim
		}
		if e < 0 {
			e += dim
		}
		if step > 0 {
			s, e = min(max(s, 0), dim), min(max(e, 0), dim)
		} else {
			s, e = min(max(s, 0), dim-1), min(max(e, -1), dim-1)
		}
		st[ax], en[ax], sp[ax] = s, e, step
	}
	return []*value{cv(sliceConst(data.c, st, en, sp))}, nil
}

func hCast(im *importer, n *nodeProto, in []*value) ([]*value, error) {
	x, err := need(in, 0, "input")
	if err != nil {
		return nil, err
	}
	a := &attrs{n: n}
	if !a.has("to") {
		return nil, errors.New("attribute to is required")
	}
	to := int32(a.int("to", 0))
	if a.err != nil {
		return nil, a.err
	}
	if x.c != nil {
		c, err := castConst(x.c, to)
		if err != nil {
			return nil, err
		}
		return []*value{cv(c)}, nil
	}
	if to != dtFloat {
		return nil, errors.New("cast of a computed tensor to " + dtName(to) + ": the IR runs float32 only")
	}
	return []*value{x}, nil
}
