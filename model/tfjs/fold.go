package tfjs

import (
	"errors"
	"math"
	"strconv"

	"github.com/edgenn/edgenn/model"
)

// errNotFoldable says fold does not evaluate an op; the node is then mapped
// to IR ops with its constant inputs as tensors.
var errNotFoldable = errors.New("not foldable")

// fold evaluates a node whose inputs are all constants, in float32 (or
// integer) arithmetic as TF.js does: the constant chains of a graph (shape
// arithmetic, weights computed from weights) vanish at import.
func (gi *graphImporter) fold(n *nodeDef, in []*gval) ([]*gval, error) {
	c := make([]*tensor, len(in))
	for i, v := range in {
		c[i] = v.c
	}
	// What folding allocates: the broadcast result, or a copy of the inputs.
	size := 0
	switch n.Op {
	case "Reshape", "Squeeze", "ExpandDims":
		// share the input's values
	case "Add", "AddV2", "BiasAdd", "Sub", "Mul", "RealDiv", "Div", "Maximum", "Minimum":
		if len(c) == 2 {
			if shape, err := broadcastShape(c[0].shape, c[1].shape); err == nil {
				size = model.NumElements(shape)
			}
		}
	default:
		for _, x := range c {
			size += x.size()
		}
	}
	if err := gi.spend(size); err != nil {
		return nil, err
	}
	var t *tensor
	var err error
	switch n.Op {
	case "Cast":
		t, err = castConst(c[0], n.dtype("DstT"))
	case "Reshape":
		if err = need(in, 2); err == nil {
			var shape []int
			if shape, err = constInts(in[1], "shape"); err == nil {
				t, err = reshapeConst(c[0], shape)
			}
		}
	case "Squeeze":
		axes, e := n.ints("squeeze_dims")
		if e == nil && !n.has("squeeze_dims") {
			axes, e = n.ints("axis")
		}
		if err = e; err == nil {
			t, err = squeezeConst(c[0], axes)
		}
	case "ExpandDims":
		if err = need(in, 2); err == nil {
			var ax []int
			if ax, err = constInts(in[1], "axis"); err == nil {
				t, err = expandConst(c[0], ax)
			}
		}
	case "Transpose":
		if err = need(in, 2); err == nil {
			var perm []int
			if perm, err = constInts(in[1], "perm"); err == nil {
				if err = checkPerm(perm, len(c[0].shape)); err == nil {
					t = transposeConst(c[0], perm)
				}
			}
		}
	case "ConcatV2", "Concat":
		if err = need(in, 2); err == nil {
			axv, data := in[len(in)-1], c[:len(c)-1]
			if n.Op == "Concat" {
				axv, data = in[0], c[1:]
			}
			var ax []int
			if ax, err = constInts(axv, "axis"); err == nil {
				if len(ax) != 1 {
					err = refuse("axis is not a scalar")
				} else {
					t, err = concatConst(data, ax[0])
				}
			}
		}
	case "Pack":
		var ax int
		if ax, err = n.intv("axis", 0); err == nil {
			exp := make([]*tensor, len(c))
			for i, x := range c {
				if exp[i], err = expandConst(x, []int{ax}); err != nil {
					break
				}
			}
			if err == nil {
				if ax < 0 {
					ax += len(c[0].shape) + 1
				}
				t, err = concatConst(exp, ax)
			}
		}
	case "Add", "AddV2", "BiasAdd", "Sub", "Mul", "RealDiv", "Div", "Maximum", "Minimum":
		if err = need(in, 2); err == nil {
			t, err = binaryConst(n.Op, c[0], c[1])
		}
	case "Neg", "Sqrt", "Rsqrt", "Square", "Relu", "Relu6":
		t, err = unaryConst(n.Op, c[0])
	default:
		return nil, errNotFoldable
	}
	if err != nil {
		if _, ok := isRefusal(err); ok {
			return nil, err
		}
		return nil, refuse("folding constants: " + err.Error())
	}
	return []*gval{{c: t}}, nil
}

// spend takes n elements from the folding budget, and refuses once it is
// spent.
func (gi *graphImporter) spend(n int) error {
	if n > gi.foldBudget {
		return refuse("folding would create " + strconv.Itoa(n) + " more elements than the weights justify")
	}
	gi.foldBudget -= n
	return nil
}

func castConst(x *tensor, to string) (*tensor, error) {
	out := &tensor{shape: x.shape}
	switch to {
	case "DT_FLOAT":
		out.f = x.float()
	case "DT_INT32", "DT_INT64":
		out.isInt = true
		if x.isInt {
			out.i = x.i
			break
		}
		out.i = make([]int64, len(x.f))
		for k, v := range x.f {
			if math.IsNaN(float64(v)) || math.Abs(float64(v)) > 1<<62 {
				return nil, errors.New("cast of " + strconv.FormatFloat(float64(v), 'g', -1, 32) + " to an integer")
			}
			out.i[k] = int64(v) // truncates toward zero, as TF
		}
	case "DT_BOOL":
		out.isInt = true
		out.i = make([]int64, x.size())
		for k, v := range x.float() {
			if v != 0 {
				out.i[k] = 1
			}
		}
	default:
		return nil, errors.New("cast to " + to)
	}
	return out, nil
}

func reshapeConst(x *tensor, shape []int) (*tensor, error) {
	n := x.size()
	out := append([]int(nil), shape...)
	infer, known := -1, 1
	for i, d := range out {
		switch {
		case d == -1 && infer < 0:
			infer = i
		case d < 0:
			return nil, errors.New("bad shape " + model.ShapeString(shape))
		default:
			known *= d
			if known > model.MaxTensorElements {
				return nil, errors.New("shape " + model.ShapeString(shape) + " too large")
			}
		}
	}
	if infer >= 0 {
		if known == 0 || n%known != 0 {
			return nil, errors.New("cannot reshape " + model.ShapeString(x.shape) + " to " + model.ShapeString(shape))
		}
		out[infer] = n / known
	} else if known != n {
		return nil, errors.New("cannot reshape " + model.ShapeString(x.shape) + " to " + model.ShapeString(shape))
	}
	return &tensor{shape: out, f: x.f, i: x.i, isInt: x.isInt}, nil
}

func squeezeConst(x *tensor, axes []int) (*tensor, error) {
	r := len(x.shape)
	drop := make([]bool, r)
	for _, a := range axes {
		if a < 0 {
			a += r
		}
		if a < 0 || a >= r || x.shape[a] != 1 {
			return nil, errors.New("cannot squeeze axes " + model.ShapeString(axes) + " of " + model.ShapeString(x.shape))
		}
		drop[a] = true
	}
	var out []int
	for i, d := range x.shape {
		if drop[i] || (len(axes) == 0 && d == 1) {
			continue
		}
		out = append(out, d)
	}
	return &tensor{shape: out, f: x.f, i: x.i, isInt: x.isInt}, nil
}

func expandConst(x *tensor, ax []int) (*tensor, error) {
	if len(ax) != 1 {
		return nil, errors.New("axis is not a scalar")
	}
	r := len(x.shape)
	a := ax[0]
	if a < 0 {
		a += r + 1
	}
	if a < 0 || a > r || r >= model.MaxRank {
		return nil, errors.New("axis " + strconv.Itoa(ax[0]) + " out of range")
	}
	out := append(append(append([]int{}, x.shape[:a]...), 1), x.shape[a:]...)
	return &tensor{shape: out, f: x.f, i: x.i, isInt: x.isInt}, nil
}

func checkPerm(perm []int, rank int) error {
	if len(perm) != rank {
		return refuse("perm " + model.ShapeString(perm) + " does not match rank " + strconv.Itoa(rank))
	}
	seen := make([]bool, rank)
	for _, p := range perm {
		if p < 0 || p >= rank || seen[p] {
			return refuse("perm " + model.ShapeString(perm) + " is not a permutation")
		}
		seen[p] = true
	}
	return nil
}

// strides returns the row-major strides of shape.
func strides(shape []int) []int {
	s := make([]int, len(shape))
	k := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = k
		k *= shape[i]
	}
	return s
}

// transposeConst permutes a constant's axes (perm must be valid).
func transposeConst(x *tensor, perm []int) *tensor {
	r := len(x.shape)
	out := &tensor{shape: make([]int, r), isInt: x.isInt}
	for i, p := range perm {
		out.shape[i] = x.shape[p]
	}
	n := x.size()
	if x.isInt {
		out.i = make([]int64, n)
	} else {
		out.f = make([]float32, n)
	}
	is := strides(x.shape)
	idx := make([]int, r)
	for k := 0; k < n; k++ {
		src := 0
		for i := range idx {
			src += idx[i] * is[perm[i]]
		}
		if x.isInt {
			out.i[k] = x.i[src]
		} else {
			out.f[k] = x.f[src]
		}
		for i := r - 1; i >= 0; i-- {
			if idx[i]++; idx[i] < out.shape[i] {
				break
			}
			idx[i] = 0
		}
	}
	return out
}

func concatConst(xs []*tensor, axis int) (*tensor, error) {
	if len(xs) == 0 {
		return nil, errors.New("nothing to concatenate")
	}
	r := len(xs[0].shape)
	a := axis
	if a < 0 {
		a += r
	}
	if a < 0 || a >= r {
		return nil, errors.New("axis " + strconv.Itoa(axis) + " out of range for rank " + strconv.Itoa(r))
	}
	out := &tensor{shape: append([]int(nil), xs[0].shape...)}
	isInt := true
	for _, x := range xs {
		isInt = isInt && x.isInt
	}
	out.isInt = isInt
	out.shape[a] = 0
	for _, x := range xs {
		if len(x.shape) != r {
			return nil, errors.New("ranks differ")
		}
		for i := range x.shape {
			if i != a && x.shape[i] != xs[0].shape[i] {
				return nil, errors.New("shapes " + model.ShapeString(xs[0].shape) + " and " + model.ShapeString(x.shape) + " differ off the axis")
			}
		}
		out.shape[a] += x.shape[a]
	}
	if _, err := countShape(out.shape); err != nil {
		return nil, err
	}
	outer := model.NumElements(out.shape[:a])
	for o := 0; o < outer; o++ {
		for _, x := range xs {
			chunk := model.NumElements(x.shape[a:])
			if isInt {
				out.i = append(out.i, x.i[o*chunk:(o+1)*chunk]...)
			} else {
				out.f = append(out.f, x.float()[o*chunk:(o+1)*chunk]...)
			}
		}
	}
	return out, nil
}

// binaryConst applies a broadcasting binary op to two constants.
func binaryConst(op string, a, b *tensor) (*tensor, error) {
	shape, err := broadcastShape(a.shape, b.shape)
	if err != nil {
		return nil, err
	}
	n := model.NumElements(shape)
	out := &tensor{shape: shape, isInt: a.isInt && b.isInt}
	ai, bi := broadcastIndex(a.shape, shape), broadcastIndex(b.shape, shape)
	if out.isInt {
		out.i = make([]int64, n)
		for k := range out.i {
			x, y := a.i[ai(k)], b.i[bi(k)]
			switch op {
			case "Add", "AddV2", "BiasAdd":
				out.i[k] = x + y
			case "Sub":
				out.i[k] = x - y
			case "Mul":
				out.i[k] = x * y
			case "Maximum":
				out.i[k] = max(x, y)
			case "Minimum":
				out.i[k] = min(x, y)
			default:
				return nil, errors.New(op + " of integers")
			}
		}
		return out, nil
	}
	af, bf := a.float(), b.float()
	out.f = make([]float32, n)
	for k := range out.f {
		x, y := af[ai(k)], bf[bi(k)]
		var z float32
		switch op {
		case "Add", "AddV2", "BiasAdd":
			z = x + y
		case "Sub":
			z = x - y
		case "Mul":
			z = x * y
		case "RealDiv", "Div":
			z = x / y
		case "Maximum":
			z = float32(math.Max(float64(x), float64(y)))
		case "Minimum":
			z = float32(math.Min(float64(x), float64(y)))
		}
		out.f[k] = z
	}
	return out, nil
}

// broadcastShape returns the NumPy broadcast of two shapes, within the
// element limit.
func broadcastShape(a, b []int) ([]int, error) {
	shape, ok := model.Broadcast(a, b)
	if !ok {
		return nil, errors.New("shapes " + model.ShapeString(a) + " and " + model.ShapeString(b) + " do not broadcast")
	}
	if _, err := countShape(shape); err != nil {
		return nil, err
	}
	return shape, nil
}

// broadcastIndex maps a flat index into out (row-major) to the flat index
// of the element of a tensor of shape in that broadcasts to it.
func broadcastIndex(in, out []int) func(int) int {
	if model.NumElements(in) == model.NumElements(out) {
		return func(k int) int { return k }
	}
	if model.NumElements(in) == 1 {
		return func(int) int { return 0 }
	}
	off := len(out) - len(in)
	is := strides(in)
	os := strides(out)
	return func(k int) int {
		src := 0
		for i := range in {
			c := k / os[off+i] % out[off+i]
			if in[i] != 1 {
				src += c * is[i]
			}
		}
		return src
	}
}

func unaryConst(op string, x *tensor) (*tensor, error) {
	f := x.float()
	out := &tensor{shape: x.shape, f: make([]float32, len(f))}
	for k, v := range f {
		d := float64(v)
		switch op {
		case "Neg":
			out.f[k] = -v
		case "Sqrt":
			out.f[k] = float32(math.Sqrt(d))
		case "Rsqrt":
			out.f[k] = float32(1 / math.Sqrt(d))
		case "Square":
			out.f[k] = v * v
		case "Relu":
			out.f[k] = float32(math.Max(d, 0))
		case "Relu6":
			out.f[k] = float32(math.Min(math.Max(d, 0), 6))
		}
	}
	if x.isInt && (op == "Neg" || op == "Square" || op == "Relu") {
		out.isInt, out.i = true, make([]int64, len(f))
		for k, v := range x.i {
			switch op {
			case "Neg":
				out.i[k] = -v
			case "Square":
				out.i[k] = v * v
			case "Relu":
				out.i[k] = max(v, 0)
			}
		}
		out.f = nil
	}
	return out, nil
}
