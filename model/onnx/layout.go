package onnx

// Reshape, Flatten, Transpose, Squeeze, Unsqueeze, Concat and Pad: where
// the NCHW source meets the NHWC IR, these decide the Transposes.

import (
	"errors"
	"strconv"

	"github.com/edgenn/edgenn/model"
)

// ---- layout ops ----

// sameMemory returns an IR name holding x's elements in ONNX order, without
// a conversion when x's layout stores them in that order already.
func (im *importer) sameMemory(x *value) (string, error) {
	if x.c == nil && x.lay == nhwcLayout && permIsReshape(im.eshape[x.name], toNCHW) {
		return x.name, nil
	}
	return im.plain(x)
}

// reshapeValue maps a Reshape of x to the ONNX shape s (batch b).
func (im *importer) reshapeValue(x *value, s []int, b batchInfo, hint string) (*value, error) {
	if x.c != nil {
		if numel(s) != x.c.size() {
			return nil, errors.New("cannot reshape " + model.ShapeString(x.c.shape) + " to " + model.ShapeString(s))
		}
		return cv(reshapeConst(x.c, s)), nil
	}
	if numel(s) != numel(x.shape) {
		return nil, errors.New("cannot reshape " + model.ShapeString(x.shape) + " to " + model.ShapeString(s))
	}
	if err := checkIRShape(s); err != nil {
		return nil, err
	}
	src, err := im.sameMemory(x)
	if err != nil {
		return nil, err
	}
	if x.batch.free() && b.mix {
		return nil, errors.New("the free batch dimension is mixed into another dimension; export the model with a fixed batch size")
	}
	name, err := im.reshape(src, s, b, hint)
	if err != nil {
		return nil, err
	}
	return &value{name: name, shape: s, batch: b}, nil
}

func hReshape(im *importer, n *nodeProto, in []*value) ([]*value, error) {
	x, err := need(in, 0, "data")
	if err != nil {
		return nil, err
	}
	sc, err := constArg(in, 1, "shape")
	if err != nil {
		return nil, err
	}
	if !isInt(sc.dt) || len(sc.shape) != 1 {
		return nil, errors.New("shape must be a 1-D integer tensor")
	}
	if len(sc.i) > model.MaxRank {
		return nil, errors.New("target rank " + strconv.Itoa(len(sc.i)) + " is more than " + strconv.Itoa(model.MaxRank))
	}
	a := &attrs{n: n}
	allowZero := a.int("allowzero", 0) != 0
	if a.err != nil {
		return nil, a.err
	}
	out := make([]int, len(sc.i))
	infer, batchAt := -1, -1
	known := 1
	for i, v := range sc.i {
		switch {
		case sc.batch != nil && sc.batch[i]:
			if batchAt >= 0 {
				return nil, errors.New("shape names the free batch twice")
			}
			batchAt, out[i] = i, 1
		case v == 0 && !allowZero:
			if i >= len(x.shape) {
				return nil, errors.New("shape copies dimension " + strconv.Itoa(i) + " that the input " + model.ShapeString(x.shape) + " lacks")
			}
			out[i] = x.shape[i]
			if i == x.batch.dim {
				batchAt = i
			}
		case v == -1:
			if infer >= 0 {
				return nil, errors.New("shape has more than one -1")
			}
			infer = i
			continue
		case v < 0 || v > model.MaxDim:
			return nil, errors.New("bad shape value " + strconv.FormatInt(v, 10))
		default:
			out[i] = int(v)
		}
		if out[i] > 0 && known > (1<<46)/out[i] {
			return nil, errors.New("shape " + model.ShapeString(out[:i+1]) + " is too large")
		}
		known *= out[i]
	}
	total := numel(x.shape)
	if infer >= 0 {
		if known == 0 || total%known != 0 {
			return nil, errors.New("cannot reshape " + model.ShapeString(x.shape) + " with shape " + model.ShapeString(out))
		}
		out[infer] = total / known
	}
	b := noBatch
	if x.batch.free() {
		switch {
		case batchAt >= 0:
			b.dim = batchAt
		case x.batch.dim == 0 && infer == 0 && numel(out[1:]) == numel(x.shape[1:]):
			b.dim = 0
		default:
			b.mix = true
		}
	}
	if x.c != nil {
		c := reshapeConst(x.c, out)
		if numel(out) != x.c.size() {
			return nil, errors.New("cannot reshape " + model.ShapeString(x.c.shape) + " to " + model.ShapeString(out))
		}
		return []*value{cv(c)}, nil
	}
	return one(im.reshapeValue(x, out, b, outName(n)))
}

func outName(n *nodeProto) string { return out(n, 0) }

func hFlatten(im *importer, n *nodeProto, in []*value) ([]*value, error) {
	x, err := need(in, 0, "input")
	if err != nil {
		return nil, err
	}
	a := &attrs{n: n}
	axis := a.int("axis", 1)
	if a.err != nil {
		return nil, a.err
	}
	r := len(x.shape)
	if axis < 0 {
		axis += r
	}
	if axis < 0 || axis > r {
		return nil, errors.New("axis out of range for rank " + strconv.Itoa(r))
	}
	s := []int{numel(x.shape[:axis]), numel(x.shape[axis:])}
	b := noBatch
	if x.batch.free() {
		if x.batch.dim == 0 && axis >= 1 && !x.batch.mix {
			b.dim = 0
		} else {
			b.mix = true
		}
	}
	if x.c != nil {
		return []*value{cv(reshapeConst(x.c, s))}, nil
	}
	hint := out(n, 0)
	if x.lay == nhwcLayout && axis == 1 && !permIsReshape(im.eshape[x.name], toNCHW) {
		// Keep the NHWC order; a Dense that reads this re-lays its weights.
		name, _, err := im.emit(model.OpFlatten, []string{x.name}, nil, hint)
		if err != nil {
			return nil, err
		}
		return []*value{{name: name, shape: s, lay: flatLayout, chw: [3]int{x.shape[1], x.shape[2], x.shape[3]}, batch: b}}, nil
	}
	if x.lay == plainLayout {
		at := model.Attrs{}
		if axis != 1 {
			at["axis"] = axis
		}
		name, _, err := im.emit(model.OpFlatten, []string{x.name}, at, hint)
		if err != nil {
			return nil, err
		}
		return []*value{{name: name, shape: s, batch: b}}, nil
	}
	return one(im.reshapeValue(x, s, b, hint))
}

func identityPerm(p []int) bool {
	for i, v := range p {
		if v != i {
			return false
		}
	}
	return true
}

func hTranspose(im *importer, n *nodeProto, in []*value) ([]*value, error) {
	x, err := need(in, 0, "data")
	if err != nil {
		return nil, err
	}
	a := &attrs{n: n}
	perm := a.ints("perm")
	if a.err != nil {
		return nil, a.err
	}
	r := len(x.shape)
	if perm == nil {
		perm = make([]int, r)
		for i := range perm {
			perm[i] = r - 1 - i
		}
	}
	if len(perm) != r {
		return nil, errors.New("perm " + model.ShapeString(perm) + " does not fit rank " + strconv.Itoa(r))
	}
	seen := make([]bool, r)
	for _, p := range perm {
		if p < 0 || p >= r || seen[p] {
			return nil, errors.New("perm " + model.ShapeString(perm) + " is not a permutation")
		}
		seen[p] = true
	}
	if x.c != nil {
		return []*value{cv(transposeConst(x.c, perm))}, nil
	}
	s := permute(x.shape, perm)
	b := batchInfo{dim: -1, mix: x.batch.mix}
	for i, p := range perm {
		if p == x.batch.dim {
			b.dim = i
		}
	}
	src := x.name
	pos := func(a int) int { return a } // where ONNX axis a of x is stored
	switch x.lay {
	case nhwcLayout:
		pos = func(a int) int { return nhwcAxis[a] }
	case flatLayout:
		if src, err = im.plain(x); err != nil {
			return nil, err
		}
	}
	pe := make([]int, r) // IR perm giving the ONNX order
	for i, p := range perm {
		pe[i] = pos(p)
	}
	if identityPerm(pe) {
		return []*value{{name: src, shape: s, batch: b}}, nil
	}
	if r == 4 {
		pn := make([]int, 4) // IR perm giving NHWC
		for j := range pn {
			pn[j] = pos(perm[toNHWC[j]])
		}
		if identityPerm(pn) {
			return []*value{{name: src, shape: s, lay: nhwcLayout, batch: b}}, nil
		}
	}
	hint := out(n, 0)
	var name string
	if permIsReshape(im.eshape[src], pe) && !b.mix {
		name, err = im.reshape(src, s, b, hint)
	} else {
		name, _, err = im.emit(model.OpTranspose, []string{src}, model.Attrs{"perm": pe}, hint)
	}
	if err != nil {
		return nil, err
	}
	return []*value{{name: name, shape: s, batch: b}}, nil
}

// axesArg reads Squeeze/Unsqueeze/ReduceMean-style axes: an attribute before
// opset 13, an optional constant input from 13.
func axesArg(im *importer, n *nodeProto, in []*value) ([]int, bool, error) {
	if im.opset < 13 {
		a := &attrs{n: n}
		v := a.ints("axes")
		return v, v != nil, a.err
	}
	if arg(in, 1) == nil {
		return nil, false, nil
	}
	c, err := constArg(in, 1, "axes")
	if err != nil {
		return nil, false, err
	}
	v, err := c.ints("axes")
	return v, true, err
}

func hSqueeze(im *importer, n *nodeProto, in []*value) ([]*value, error) {
	x, err := need(in, 0, "data")
	if err != nil {
		return nil, err
	}
	axes, given, err := axesArg(im, n, in)
	if err != nil {
		return nil, err
	}
	r := len(x.shape)
	drop := make([]bool, r)
	if !given {
		for i, d := range x.shape {
			drop[i] = d == 1 && i != x.batch.dim
		}
	}
	for _, a := range axes {
		if a < 0 {
			a += r
		}
		if a < 0 || a >= r {
			return nil, errors.New("axis out of range for rank " + strconv.Itoa(r))
		}
		if x.shape[a] != 1 {
			return nil, errors.New("cannot squeeze axis " + strconv.Itoa(a) + " of size " + strconv.Itoa(x.shape[a]))
		}
		if a == x.batch.dim {
			return nil, errors.New("squeezes the free batch dimension")
		}
		drop[a] = true
	}
	s := []int{}
	b := batchInfo{dim: -1, mix: x.batch.mix}
	for i, d := range x.shape {
		if i == x.batch.dim {
			b.dim = len(s)
		}
		if !drop[i] {
			s = append(s, d)
		}
	}
	return one(im.reshapeValue(x, s, b, out(n, 0)))
}

func hUnsqueeze(im *importer, n *nodeProto, in []*value) ([]*value, error) {
	x, err := need(in, 0, "data")
	if err != nil {
		return nil, err
	}
	axes, given, err := axesArg(im, n, in)
	if err != nil {
		return nil, err
	}
	if !given {
		return nil, errors.New("axes are required")
	}
	r := len(x.shape) + len(axes)
	if r > model.MaxRank {
		return nil, errors.New("result rank " + strconv.Itoa(r) + " is more than " + strconv.Itoa(model.MaxRank))
	}
	ins := make([]bool, r)
	for _, a := range axes {
		if a < 0 {
			a += r
		}
		if a < 0 || a >= r || ins[a] {
			return nil, errors.New("axes " + model.ShapeString(axes) + " are out of range or repeat")
		}
		ins[a] = true
	}
	s := make([]int, r)
	b := batchInfo{dim: -1, mix: x.batch.mix}
	j := 0
	for i := range s {
		if ins[i] {
			s[i] = 1
			continue
		}
		if j == x.batch.dim {
			b.dim = i
		}
		s[i] = x.shape[j]
		j++
	}
	return one(im.reshapeValue(x, s, b, out(n, 0)))
}

func hConcat(im *importer, n *nodeProto, in []*value) ([]*value, error) {
	a := &attrs{n: n}
	if !a.has("axis") {
		return nil, errors.New("attribute axis is required")
	}
	axis := a.int("axis", 0)
	if a.err != nil {
		return nil, a.err
	}
	if len(in) == 0 {
		return nil, errors.New("no inputs")
	}
	for i, v := range in {
		if v == nil {
			return nil, errors.New("input " + strconv.Itoa(i) + " is empty")
		}
	}
	r := len(in[0].shape)
	if axis < 0 {
		axis += r
	}
	if axis < 0 || axis >= r {
		return nil, errors.New("axis out of range for rank " + strconv.Itoa(r))
	}
	s := append([]int(nil), in[0].shape...)
	s[axis] = 0
	allConst := true
	for i, v := range in {
		if len(v.shape) != r {
			return nil, errors.New("input " + strconv.Itoa(i) + " has rank " + strconv.Itoa(len(v.shape)) + ", input 0 has " + strconv.Itoa(r))
		}
		for j := range v.shape {
			if j != axis && v.shape[j] != in[0].shape[j] {
				return nil, errors.New("input " + strconv.Itoa(i) + " shape " + model.ShapeString(v.shape) + " differs from " + model.ShapeString(in[0].shape) + " off the concat axis")
			}
		}
		s[axis] += v.shape[axis]
		allConst = allConst && v.c != nil
	}
	if s[axis] > model.MaxDim {
		return nil, errors.New("concatenated dimension is too large")
	}
	if numel(s) > model.MaxTensorElements {
		return nil, errors.New("result " + model.ShapeString(s) + " is too large")
	}
	if allConst {
		if err := im.spend(numel(s)); err != nil {
			return nil, err
		}
		cs := make([]*constant, len(in))
		for i, v := range in {
			if isFloat(v.c.dt) != isFloat(in[0].c.dt) {
				return nil, errors.New("inputs have different types")
			}
			cs[i] = v.c
		}
		return []*value{cv(concatConst(cs, axis))}, nil
	}
	// Drop empty constants; they add nothing.
	var vs []*value
	for _, v := range in {
		if v.c != nil && v.c.size() == 0 {
			continue
		}
		if v.c != nil && !isFloat(v.c.dt) {
			return nil, errors.New("a " + dtName(v.c.dt) + " constant meets float32 tensors")
		}
		vs = append(vs, v)
	}
	if len(vs) == 1 {
		return []*value{vs[0]}, nil
	}
	nhwc := false
	for _, v := range vs {
		nhwc = nhwc || (r == 4 && v.c == nil && v.lay == nhwcLayout)
	}
	names := make([]string, len(vs))
	for i, v := range vs {
		var err error
		if nhwc {
			names[i], err = im.asNHWC(v)
		} else {
			names[i], err = im.plain(v)
		}
		if err != nil {
			return nil, err
		}
	}
	eaxis, lay := axis, plainLayout
	if nhwc {
		eaxis, lay = nhwcAxis[axis], nhwcLayout
	}
	name, _, err := im.emit(model.OpConcat, names, model.Attrs{"axis": eaxis}, out(n, 0))
	if err != nil {
		return nil, err
	}
	b := combineBatch(r, vs...)
	if b.dim == axis {
		b = batchInfo{dim: -1, mix: true}
	}
	return []*value{im.dyn(name, lay, b)}, nil
}

func hPad(im *importer, n *nodeProto, in []*value) ([]*value, error) {
	x, err := need(in, 0, "data")
	if err != nil {
		return nil, err
	}
	a := &attrs{n: n}
	mode := a.str("mode", "constant")
	var pads []int
	var val float32
	r := len(x.shape)
	if im.opset < 11 {
		pads, val = a.ints("pads"), a.float("value", 0)
	} else {
		pc, err := constArg(in, 1, "pads")
		if err != nil {
			return nil, err
		}
		if pads, err = pc.ints("pads"); err != nil {
			return nil, err
		}
		if val, err = constScalar(in, 2, "constant_value", 0); err != nil {
			return nil, err
		}
		if arg(in, 3) != nil {
			ac, err := constArg(in, 3, "axes")
			if err != nil {
				return nil, err
			}
			axes, err := ac.ints("axes")
			if err != nil {
				return nil, err
			}
			if len(pads) != 2*len(axes) {
				return nil, errors.New("pads must have 2 values per axis")
			}
			full := make([]int, 2*r)
			for k, ax := range axes {
				if ax < 0 {
					ax += r
				}
				if ax < 0 || ax >= r {
					return nil, errors.New("axes out of range")
				}
				full[ax], full[r+ax] = pads[k], pads[len(axes)+k]
			}
			pads = full
		}
	}
	if a.err != nil {
		return nil, a.err
	}
	if len(pads) != 2*r {
		return nil, errors.New("pads " + model.ShapeString(pads) + " must have 2*rank = " + strconv.Itoa(2*r) + " values")
	}
	zero := true
	for _, p := range pads {
		if p < 0 {
			return nil, errors.New("negative pads (cropping) are not supported: the IR has no Slice op")
		}
		if p > model.MaxDim {
			return nil, errors.New("pads too large")
		}
		zero = zero && p == 0
	}
	switch mode {
	case "constant", "reflect", "edge":
	default:
		return nil, errors.New("mode " + strconv.Quote(mode) + " is not supported")
	}
	if zero {
		return []*value{x}, nil
	}
	b := x.batch
	if b.dim >= 0 && (pads[b.dim] != 0 || pads[r+b.dim] != 0) {
		b = batchInfo{dim: -1, mix: true}
	}
	at := model.Attrs{"mode": mode}
	if val != 0 {
		at["value"] = val
	}
	var src string
	lay := plainLayout
	if x.c == nil && x.lay == nhwcLayout {
		src, lay = x.name, nhwcLayout
		ep := make([]int, 8)
		for j := 0; j < 4; j++ {
			ep[j], ep[4+j] = pads[toNHWC[j]], pads[4+toNHWC[j]]
		}
		at["pads"] = ep
	} else {
		if src, err = im.plain(x); err != nil {
			return nil, err
		}
		at["pads"] = pads
	}
	name, _, err := im.emit(model.OpPad, []string{src}, at, out(n, 0))
	if err != nil {
		return nil, err
	}
	return []*value{im.dyn(name, lay, b)}, nil
}
