package onnx

import (
	"errors"
	"math"
	"strconv"

	"github.com/edgenn/edgenn/model"
)

// handler maps one ONNX node whose inputs are in (nil for an omitted
// optional input) and returns its outputs' values, in order; a missing or
// nil entry marks an output it does not produce.
type handler func(im *importer, n *nodeProto, in []*value) ([]*value, error)

// handlers is the registry from ONNX op type to its mapping.
var handlers map[string]handler

func init() {
	handlers = map[string]handler{
		"Conv":               hConv,
		"Gemm":               hGemm,
		"MatMul":             hMatMul,
		"Add":                hBinary(model.OpAdd),
		"Sub":                hBinary(model.OpSub),
		"Mul":                hBinary(model.OpMul),
		"Div":                hBinary(model.OpDiv),
		"Sum":                hSum,
		"Relu":               hUnary(model.OpRelu),
		"Sigmoid":            hUnary(model.OpSigmoid),
		"Tanh":               hUnary(model.OpTanh),
		"HardSwish":          hUnary(model.OpHardSwish),
		"LeakyRelu":          hUnary(model.OpLeakyRelu),
		"PRelu":              hPRelu,
		"Clip":               hClip,
		"HardSigmoid":        hHardSigmoid,
		"Max":                hMinMax,
		"Min":                hMinMax,
		"Softmax":            hSoftmax,
		"MaxPool":            hPool,
		"AveragePool":        hPool,
		"GlobalAveragePool":  hGlobalPool,
		"GlobalMaxPool":      hGlobalPool,
		"ReduceMean":         hReduceMean,
		"BatchNormalization": hBatchNorm,
		"Reshape":            hReshape,
		"Flatten":            hFlatten,
		"Transpose":          hTranspose,
		"Squeeze":            hSqueeze,
		"Unsqueeze":          hUnsqueeze,
		"Concat":             hConcat,
		"Pad":                hPad,
		"Resize":             hResize,
		"Upsample":           hUpsample,
		"Constant":           hConstant,
		"ConstantOfShape":    hConstantOfShape,
		"Identity":           hIdentity,
		"Dropout":            hDropout,
		"Shape":              hShape,
		"Gather":             hGather,
		"Slice":              hSlice,
		"Cast":               hCast,
	}
}

// ---- inputs ----

func arg(in []*value, i int) *value {
	if i < len(in) {
		return in[i]
	}
	return nil
}

func need(in []*value, i int, what string) (*value, error) {
	if v := arg(in, i); v != nil {
		return v, nil
	}
	return nil, errors.New("required input " + strconv.Itoa(i) + " (" + what + ") is missing")
}

// constArg returns input i, which must be known at import.
func constArg(in []*value, i int, what string) (*constant, error) {
	v, err := need(in, i, what)
	if err != nil {
		return nil, err
	}
	if v.c == nil {
		return nil, errors.New(what + " (input " + strconv.Itoa(i) + ") must be a constant (an initializer or a constant chain); here it is computed")
	}
	return v.c, nil
}

// constScalar returns optional input i as a float scalar, or def.
func constScalar(in []*value, i int, what string, def float32) (float32, error) {
	if arg(in, i) == nil {
		return def, nil
	}
	c, err := constArg(in, i, what)
	if err != nil {
		return 0, err
	}
	return c.scalar(what)
}

func one(v *value, err error) ([]*value, error) {
	if err != nil {
		return nil, err
	}
	return []*value{v}, nil
}

// like makes a value with x's shape, layout and batch for IR value name.
func like(x *value, name string) *value {
	return &value{name: name, shape: x.shape, lay: x.lay, chw: x.chw, batch: x.batch}
}

// cv makes the value of constant c.
func cv(c *constant) *value { return &value{c: c, shape: c.shape, batch: noBatch} }

// scalarTensor adds a one-element float tensor, shaped to broadcast against
// a value of the given rank.
func (im *importer) scalarTensor(v float32, rank int, hint string) (string, error) {
	shape := []int{1}
	if rank == 0 {
		shape = []int{}
	}
	return im.constTensor(&constant{dt: dtFloat, shape: shape, f: []float32{v}}, false, hint)
}

// ---- elementwise ----

var unaryFold = map[string]func(x, alpha float32) float32{
	model.OpRelu: func(x, _ float32) float32 {
		if x < 0 {
			return 0
		}
		return x
	},
	model.OpSigmoid: func(x, _ float32) float32 { return float32(1 / (1 + math.Exp(-float64(x)))) },
	model.OpTanh:    func(x, _ float32) float32 { return float32(math.Tanh(float64(x))) },
	model.OpHardSwish: func(x, _ float32) float32 {
		return x * min(max(x+3, 0), 6) / 6
	},
	model.OpLeakyRelu: func(x, a float32) float32 {
		if x < 0 {
			return a * x
		}
		return x
	},
}

func hUnary(op string) handler {
	return func(im *importer, n *nodeProto, in []*value) ([]*value, error) {
		x, err := need(in, 0, "X")
		if err != nil {
			return nil, err
		}
		a := &attrs{n: n}
		var at model.Attrs
		alpha := float32(0.01)
		if op == model.OpLeakyRelu {
			alpha = a.float("alpha", 0.01)
			at = model.Attrs{"alpha": alpha}
		}
		if a.err != nil {
			return nil, a.err
		}
		if x.c != nil {
			if !isFloat(x.c.dt) {
				return nil, errors.New("input is " + dtName(x.c.dt) + ", want a float type")
			}
			out := &constant{dt: x.c.dt, shape: x.c.shape, f: make([]float32, len(x.c.f))}
			for i, v := range x.c.f {
				out.f[i] = unaryFold[op](v, alpha)
			}
			return []*value{cv(out)}, nil
		}
		name, _, err := im.emit(op, []string{x.name}, at, out(n, 0))
		if err != nil {
			return nil, err
		}
		return []*value{like(x, name)}, nil
	}
}

func hBinary(op string) handler {
	return func(im *importer, n *nodeProto, in []*value) ([]*value, error) {
		a, err := need(in, 0, "A")
		if err != nil {
			return nil, err
		}
		b, err := need(in, 1, "B")
		if err != nil {
			return nil, err
		}
		if im.opset < 7 {
			if b, err = im.legacyBroadcast(n, a, b); err != nil {
				return nil, err
			}
		}
		return one(im.binary(op, a, b, out(n, 0)))
	}
}

// legacyBroadcast applies the broadcast and axis attributes of Add, Sub, Mul
// and Div before opset 7: B's dimensions line up with A's from axis, which
// is NumPy broadcasting once B has trailing 1s.
func (im *importer) legacyBroadcast(n *nodeProto, a, b *value) (*value, error) {
	at := &attrs{n: n}
	if at.int("broadcast", 0) == 0 || !at.has("axis") {
		return b, at.err
	}
	axis := at.int("axis", 0)
	if at.err != nil {
		return nil, at.err
	}
	r := len(a.shape)
	if axis < 0 {
		axis += r
	}
	k := r - axis - len(b.shape)
	if axis < 0 || k < 0 {
		return nil, errors.New("broadcast axis " + strconv.Itoa(axis) + " does not fit shapes " + model.ShapeString(a.shape) + " and " + model.ShapeString(b.shape))
	}
	if k == 0 {
		return b, nil
	}
	s := append([]int(nil), b.shape...)
	for ; k > 0; k-- {
		s = append(s, 1)
	}
	return im.reshapeValue(b, s, b.batch, out(n, 0)+"/b")
}

func hSum(im *importer, n *nodeProto, in []*value) ([]*value, error) {
	if len(in) == 0 || in[0] == nil {
		return nil, errors.New("Sum needs at least one input")
	}
	acc := in[0]
	for i := 1; i < len(in); i++ {
		if in[i] == nil {
			return nil, errors.New("input " + strconv.Itoa(i) + " is empty")
		}
		v, err := im.binary(model.OpAdd, acc, in[i], out(n, 0))
		if err != nil {
			return nil, err
		}
		acc = v
	}
	return []*value{acc}, nil
}

// expandConst returns c with leading 1s up to rank r.
func expandConst(c *constant, r int) *constant {
	if len(c.shape) >= r {
		return c
	}
	s := make([]int, r-len(c.shape), r)
	for i := range s {
		s[i] = 1
	}
	return reshapeConst(c, append(s, c.shape...))
}

// combineBatch is where the free batch ends up in an elementwise result of
// rank r made from vs.
func combineBatch(r int, vs ...*value) batchInfo {
	b := noBatch
	for _, v := range vs {
		if v == nil || v.c != nil {
			continue
		}
		if v.batch.mix {
			return batchInfo{dim: -1, mix: true}
		}
		if v.batch.dim >= 0 {
			d := v.batch.dim + r - len(v.shape)
			if b.dim >= 0 && b.dim != d {
				return batchInfo{dim: -1, mix: true}
			}
			b.dim = d
		}
	}
	return b
}

// operandNHWC returns v's IR name for an elementwise op whose rank-4 result
// is NHWC: constants and lower-rank values are expanded to rank 4 first.
func (im *importer) operandNHWC(v *value, hint string) (string, error) {
	if v.c != nil {
		if v.c.size() == 1 {
			return im.constTensor(reshapeConst(v.c, []int{1}), false, "const")
		}
		return im.constTensor(expandConst(v.c, 4), true, "const")
	}
	if len(v.shape) == 4 {
		return im.asNHWC(v)
	}
	if numel(v.shape) == 1 {
		return im.plain(v)
	}
	p, err := im.plain(v)
	if err != nil {
		return "", err
	}
	s := make([]int, 4-len(v.shape), 4)
	for i := range s {
		s[i] = 1
	}
	s = append(s, v.shape...)
	b := v.batch
	if b.dim >= 0 {
		b.dim += 4 - len(v.shape)
	}
	r, err := im.reshape(p, s, b, hint+"/rank4")
	if err != nil {
		return "", err
	}
	return im.asNHWC(&value{name: r, shape: s, batch: b})
}

// binary maps an elementwise binary op with NumPy broadcasting.
func (im *importer) binary(op string, a, b *value, hint string) (*value, error) {
	if a.c != nil && b.c != nil {
		if s, ok := model.Broadcast(a.c.shape, b.c.shape); ok {
			if err := im.spend(numel(s)); err != nil {
				return nil, err
			}
		}
		c, err := binaryConst(op, a.c, b.c)
		if err != nil {
			return nil, err
		}
		return cv(c), nil
	}
	shape, ok := model.Broadcast(a.shape, b.shape)
	if !ok {
		return nil, errors.New("shapes " + model.ShapeString(a.shape) + " and " + model.ShapeString(b.shape) + " do not broadcast")
	}
	for _, v := range []*value{a, b} {
		if v.c != nil && !isFloat(v.c.dt) {
			return nil, errors.New("a " + dtName(v.c.dt) + " constant meets a float32 tensor")
		}
	}
	lay := plainLayout
	switch {
	case len(shape) == 4 && ((a.c == nil && a.lay == nhwcLayout) || (b.c == nil && b.lay == nhwcLayout)):
		lay = nhwcLayout
	case a.c == nil && a.lay == flatLayout && (b.c != nil && b.c.size() == 1 || b.c == nil && b.lay == flatLayout && b.chw == a.chw):
		lay = flatLayout
	case b.c == nil && b.lay == flatLayout && a.c != nil && a.c.size() == 1:
		lay = flatLayout
	}
	names := make([]string, 2)
	var chw [3]int
	for i, v := range []*value{a, b} {
		var err error
		switch {
		case lay == nhwcLayout:
			names[i], err = im.operandNHWC(v, hint)
		case lay == flatLayout && v.c != nil:
			names[i], err = im.constTensor(reshapeConst(v.c, []int{1}), false, "const")
		case lay == flatLayout:
			names[i], chw = v.name, v.chw
		case v.c != nil && len(v.c.shape) == 0 && len(shape) > 0:
			names[i], err = im.constTensor(reshapeConst(v.c, []int{1}), false, "const")
		default:
			names[i], err = im.plain(v)
		}
		if err != nil {
			return nil, err
		}
	}
	name, _, err := im.emit(op, names, nil, hint)
	if err != nil {
		return nil, err
	}
	v := im.dyn(name, lay, combineBatch(len(shape), a, b))
	v.chw = chw
	return v, nil
}

func hPRelu(im *importer, n *nodeProto, in []*value) ([]*value, error) {
	x, err := need(in, 0, "X")
	if err != nil {
		return nil, err
	}
	slope, err := constArg(in, 1, "slope")
	if err != nil {
		return nil, err
	}
	if !isFloat(slope.dt) {
		return nil, errors.New("slope is " + dtName(slope.dt))
	}
	if im.opset < 7 && len(slope.shape) == 1 && len(x.shape) > 2 && slope.shape[0] == x.shape[1] && slope.shape[0] > 1 {
		// Before opset 7 a 1-D slope is per channel (axis 1).
		s := make([]int, len(x.shape)-1)
		for i := range s {
			s[i] = 1
		}
		s[0] = slope.shape[0]
		slope = reshapeConst(slope, s)
	}
	if s, ok := model.Broadcast(x.shape, slope.shape); !ok || !equal(s, x.shape) {
		return nil, errors.New("slope shape " + model.ShapeString(slope.shape) + " does not broadcast to " + model.ShapeString(x.shape))
	}
	if x.c != nil {
		idx := broadcastIndex(slope.shape, x.c.shape)
		out := &constant{dt: x.c.dt, shape: x.c.shape, f: make([]float32, len(x.c.f))}
		for i, v := range x.c.f {
			if v < 0 {
				v *= slope.f[idx[i]]
			}
			out.f[i] = v
		}
		return []*value{cv(out)}, nil
	}
	var xn, sn string
	lay := x.lay
	switch {
	case x.lay == nhwcLayout:
		xn = x.name
		if slope.size() == 1 {
			sn, err = im.constTensor(reshapeConst(slope, []int{1}), false, "slope")
		} else {
			sn, err = im.constTensor(expandConst(slope, 4), true, "slope")
		}
	case x.lay == flatLayout && slope.size() == 1:
		xn = x.name
		sn, err = im.constTensor(reshapeConst(slope, []int{1}), false, "slope")
	default:
		lay = plainLayout
		if xn, err = im.plain(x); err == nil {
			sn, err = im.constTensor(slope, false, "slope")
		}
	}
	if err != nil {
		return nil, err
	}
	name, _, err := im.emit(model.OpPRelu, []string{xn, sn}, nil, out(n, 0))
	if err != nil {
		return nil, err
	}
	v := like(x, name)
	v.lay = lay
	return []*value{v}, nil
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// clip maps x clamped to [lo, hi], using Relu or Relu6 when they say the same.
func (im *importer) clip(x *value, lo, hi float32, hint string) (*value, error) {
	if !(lo <= hi) {
		return nil, errors.New("min " + ftoa(lo) + " is greater than max " + ftoa(hi) + " (or NaN)")
	}
	if x.c != nil {
		if !isFloat(x.c.dt) {
			return nil, errors.New("input is " + dtName(x.c.dt))
		}
		out := &constant{dt: x.c.dt, shape: x.c.shape, f: make([]float32, len(x.c.f))}
		for i, v := range x.c.f {
			out.f[i] = min(max(v, lo), hi)
		}
		return cv(out), nil
	}
	op, at := model.OpClip, model.Attrs{}
	switch {
	case lo == 0 && hi == 6:
		op = model.OpRelu6
	case lo == 0 && (hi == posInf):
		op = model.OpRelu
	default:
		if lo != negInf {
			at["min"] = lo
		}
		if hi != posInf {
			at["max"] = hi
		}
	}
	name, _, err := im.emit(op, []string{x.name}, at, hint)
	if err != nil {
		return nil, err
	}
	return like(x, name), nil
}

func ftoa(f float32) string { return strconv.FormatFloat(float64(f), 'g', -1, 32) }

func hClip(im *importer, n *nodeProto, in []*value) ([]*value, error) {
	x, err := need(in, 0, "input")
	if err != nil {
		return nil, err
	}
	lo, hi := negInf, posInf
	if im.opset < 11 {
		a := &attrs{n: n}
		lo, hi = a.float("min", -maxFloat32), a.float("max", maxFloat32)
		if a.err != nil {
			return nil, a.err
		}
	} else {
		if lo, err = constScalar(in, 1, "min", negInf); err != nil {
			return nil, err
		}
		if hi, err = constScalar(in, 2, "max", posInf); err != nil {
			return nil, err
		}
	}
	return one(im.clip(x, lo, hi, out(n, 0)))
}

// hMinMax maps Max and Min of a tensor and one constant value, which are
// Clips; of two computed tensors they have no exact IR form.
func hMinMax(im *importer, n *nodeProto, in []*value) ([]*value, error) {
	var x *value
	var cs []*constant
	for i, v := range in {
		if v == nil {
			return nil, errors.New("input " + strconv.Itoa(i) + " is empty")
		}
		if v.c != nil {
			cs = append(cs, v.c)
		} else if x == nil {
			x = v
		} else {
			return nil, errors.New(n.opType + " of two computed tensors: the IR has no elementwise " + n.opType + " op")
		}
	}
	if len(in) == 0 {
		return nil, errors.New("no inputs")
	}
	pick := func(a, b float32) float32 {
		if n.opType == "Max" {
			return max(a, b)
		}
		return min(a, b)
	}
	if x == nil { // all constant
		acc := cs[0]
		for _, c := range cs[1:] {
			if !isFloat(c.dt) || !isFloat(acc.dt) {
				return nil, errors.New("constant " + n.opType + " folds float tensors only")
			}
			shape, ok := model.Broadcast(acc.shape, c.shape)
			if !ok {
				return nil, errors.New("shapes do not broadcast")
			}
			if err := im.spend(numel(shape)); err != nil {
				return nil, err
			}
			ia, ib := broadcastIndex(acc.shape, shape), broadcastIndex(c.shape, shape)
			out := &constant{dt: acc.dt, shape: shape, f: make([]float32, len(ia))}
			for k := range ia {
				out.f[k] = pick(acc.f[ia[k]], c.f[ib[k]])
			}
			acc = out
		}
		return []*value{cv(acc)}, nil
	}
	if len(cs) == 0 {
		return []*value{x}, nil
	}
	bound := float32(0)
	first := true
	for _, c := range cs {
		if !isFloat(c.dt) {
			return nil, errors.New("constant operand is " + dtName(c.dt))
		}
		if s, ok := model.Broadcast(x.shape, c.shape); !ok || !equal(s, x.shape) {
			return nil, errors.New("constant operand of shape " + model.ShapeString(c.shape) + " would grow the result")
		}
		for _, v := range c.f {
			if !first && v != bound {
				return nil, errors.New(n.opType + " with a constant that is not one value everywhere: the IR has no elementwise " + n.opType + " op")
			}
			bound, first = pick(bound, v), false
			if len(cs) == 1 {
				bound = v
			}
		}
	}
	if n.opType == "Max" {
		return one(im.clip(x, bound, posInf, out(n, 0)))
	}
	return one(im.clip(x, negInf, bound, out(n, 0)))
}

func hHardSigmoid(im *importer, n *nodeProto, in []*value) ([]*value, error) {
	x, err := need(in, 0, "X")
	if err != nil {
		return nil, err
	}
	a := &attrs{n: n}
	alpha, beta := a.float("alpha", 0.2), a.float("beta", 0.5)
	if a.err != nil {
		return nil, a.err
	}
	if x.c != nil {
		out := &constant{dt: x.c.dt, shape: x.c.shape, f: make([]float32, len(x.c.f))}
		for i, v := range x.c.f {
			out.f[i] = min(max(alpha*v+beta, 0), 1)
		}
		return []*value{cv(out)}, nil
	}
	hint := out(n, 0)
	r := len(x.shape)
	an, err := im.scalarTensor(alpha, r, hint+"/alpha")
	if err != nil {
		return nil, err
	}
	bn, err := im.scalarTensor(beta, r, hint+"/beta")
	if err != nil {
		return nil, err
	}
	m, _, err := im.emit(model.OpMul, []string{x.name, an}, nil, hint+"/mul")
	if err != nil {
		return nil, err
	}
	s, _, err := im.emit(model.OpAdd, []string{m, bn}, nil, hint+"/add")
	if err != nil {
		return nil, err
	}
	return one(im.clip(like(x, s), 0, 1, hint))
}
