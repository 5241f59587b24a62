package engine

import (
	"errors"
	"math"
	"strconv"

	"github.com/edgenn/edgenn/kernels"
	"github.com/edgenn/edgenn/model"
)

// opCtx is what an op's preparer sees: the node, the batch size of the plan
// being built, concrete shapes, and which inputs are constants.
type opCtx struct {
	s         *Session
	n         *model.Node
	batch     int
	inShapes  [][]int
	outShapes [][]int
	consts    []*model.Tensor // per input; nil where the input is computed
}

// prepared is a node ready to bind: how much shared scratch it needs, whether
// its output is a view of its first input, and how to make its step once its
// buffers are placed. bind returns nil for views.
type prepared struct {
	scratch int
	alias   bool
	bind    func(in, out [][]float32, scratch []float32) func()
}

type preparer func(c *opCtx) (prepared, error)

// preparers is the registry from op name to kernel; the engine consults it
// once per node at compile time, never per run.
var preparers map[string]preparer

func init() {
	preparers = map[string]preparer{
		model.OpConv2D:        prepConv2D,
		model.OpDense:         prepDense,
		model.OpMatMul:        prepMatMul,
		model.OpGemm:          prepGemm,
		model.OpAdd:           prepBinary(kernels.BinAdd),
		model.OpSub:           prepBinary(kernels.BinSub),
		model.OpMul:           prepBinary(kernels.BinMul),
		model.OpDiv:           prepBinary(kernels.BinDiv),
		model.OpPRelu:         prepBinary(kernels.BinPRelu),
		model.OpRelu:          prepUnary,
		model.OpRelu6:         prepUnary,
		model.OpLeakyRelu:     prepUnary,
		model.OpSigmoid:       prepUnary,
		model.OpTanh:          prepUnary,
		model.OpHardSwish:     prepUnary,
		model.OpClip:          prepUnary,
		model.OpSoftmax:       prepSoftmax,
		model.OpMaxPool:       prepPool,
		model.OpAvgPool:       prepPool,
		model.OpGlobalAvgPool: prepGlobalAvgPool,
		model.OpMean:          prepMean,
		model.OpPad:           prepPad,
		model.OpConcat:        prepConcat,
		model.OpReshape:       prepView,
		model.OpFlatten:       prepView,
		model.OpDropout:       prepView,
		model.OpTranspose:     prepTranspose,
		model.OpBatchNorm:     prepBatchNorm,
		model.OpResize:        prepResize,
	}
}

func prepare(c *opCtx) (prepared, error) {
	p, ok := preparers[c.n.Op]
	if !ok {
		return prepared{}, errors.New("no kernel for op " + strconv.Quote(c.n.Op))
	}
	return p(c)
}

// epilogue turns a node's fused "activation" attribute into a kernel epilogue.
func epilogue(a model.Attrs, bias []float32) (kernels.Epilogue, error) {
	ep := kernels.Epilogue{Bias: bias}
	act := a.String("activation", "")
	switch act {
	case "", "linear":
	case "relu":
		ep.Act = kernels.ActReLU
	case "relu6":
		ep.Act = kernels.ActReLU6
	case "leakyrelu":
		ep.Act, ep.Alpha = kernels.ActLeakyReLU, a.Float("alpha", 0.01)
	case "sigmoid":
		ep.Act = kernels.ActSigmoid
	case "tanh":
		ep.Act = kernels.ActTanh
	case "hardswish":
		ep.Act = kernels.ActHardSwish
	case "clip":
		ep.Act, ep.Lo, ep.Hi = kernels.ActClip, a.Float("clip_min", negInf), a.Float("clip_max", posInf)
	default:
		return ep, errors.New("unknown activation " + strconv.Quote(act))
	}
	return ep, nil
}

// unaryEpilogue is the epilogue equivalent to a standalone activation node.
func unaryEpilogue(n *model.Node) kernels.Epilogue {
	switch n.Op {
	case model.OpRelu:
		return kernels.Epilogue{Act: kernels.ActReLU}
	case model.OpRelu6:
		return kernels.Epilogue{Act: kernels.ActReLU6}
	case model.OpLeakyRelu:
		return kernels.Epilogue{Act: kernels.ActLeakyReLU, Alpha: n.Attrs.Float("alpha", 0.01)}
	case model.OpSigmoid:
		return kernels.Epilogue{Act: kernels.ActSigmoid}
	case model.OpTanh:
		return kernels.Epilogue{Act: kernels.ActTanh}
	case model.OpHardSwish:
		return kernels.Epilogue{Act: kernels.ActHardSwish}
	case model.OpClip:
		return kernels.Epilogue{Act: kernels.ActClip, Lo: n.Attrs.Float("min", negInf), Hi: n.Attrs.Float("max", posInf)}
	}
	return kernels.Epilogue{}
}

var (
	posInf = float32(math.Inf(1))
	negInf = float32(math.Inf(-1))
)

func constData(c *opCtx, i int, what string) ([]float32, error) {
	if i >= len(c.consts) || c.n.Inputs[i] == "" {
		return nil, nil
	}
	t := c.consts[i]
	if t == nil {
		return nil, errors.New(what + " must be a constant tensor")
	}
	if t.DType != model.Float32 {
		return nil, errors.New(what + " must be float32, is " + t.DType.String())
	}
	return t.Data, nil
}

// weightsAndBias returns a Conv2D's or Dense's constant weights (input 1) and
// optional bias (input 2).
func weightsAndBias(c *opCtx) (w, bias []float32, err error) {
	if w, err = constData(c, 1, "weights"); err != nil {
		return nil, nil, err
	}
	bias, err = constData(c, 2, "bias")
	return w, bias, err
}

// cached returns the session's batch-independent kernel for the node, making
// it on first use, so that weights are packed once for every batch size.
func cached[T any](c *opCtx, build func() (T, error)) (T, error) {
	if k, ok := c.s.kernels[c.n]; ok {
		return k.(T), nil
	}
	k, err := build()
	if err != nil {
		return k, err
	}
	c.s.kernels[c.n] = k
	return k, nil
}

func prepConv2D(c *opCtx) (prepared, error) {
	xs, ws := c.inShapes[0], c.inShapes[1]
	if len(xs) != 4 || len(ws) != 4 {
		return prepared{}, errors.New("Conv2D needs a 4-D input and 4-D HWIO weights")
	}
	w, bias, err := weightsAndBias(c)
	if err != nil {
		return prepared{}, err
	}
	// A fourth input is a residual added before the activation (fuse).
	residual := len(c.n.Inputs) > 3 && c.n.Inputs[3] != ""
	conv, err := cached(c, func() (*kernels.Conv2D, error) {
		pt, pb, pl, pr, _, _, err := model.ConvPads(c.n, xs[1], xs[2], ws[0], ws[1])
		if err != nil {
			return nil, err
		}
		st := c.n.Attrs.Ints("strides", []int{1, 1})
		dl := c.n.Attrs.Ints("dilations", []int{1, 1})
		p := kernels.ConvParams{
			H: xs[1], W: xs[2], C: xs[3], KH: ws[0], KW: ws[1], OC: ws[3],
			StrideH: st[0], StrideW: st[1], DilationH: dl[0], DilationW: dl[1],
			PadTop: pt, PadBottom: pb, PadLeft: pl, PadRight: pr,
			Group: c.n.Attrs.Int("group", 1),
		}
		ep, err := epilogue(c.n.Attrs, bias)
		if err != nil {
			return nil, err
		}
		ep.Residual = residual
		return kernels.NewConv2D(p, w, ep)
	})
	if err != nil {
		return prepared{}, err
	}
	n := c.batch
	return prepared{scratch: conv.ScratchLen(), bind: func(in, out [][]float32, scratch []float32) func() {
		x, y := in[0], out[0]
		if residual {
			r := in[3]
			return func() { conv.RunAdd(n, x, r, y, scratch) }
		}
		return func() { conv.Run(n, x, y, scratch) }
	}}, nil
}

func prepDense(c *opCtx) (prepared, error) {
	xs, ws := c.inShapes[0], c.inShapes[1]
	if len(xs) != 2 || len(ws) != 2 {
		return prepared{}, errors.New("Dense needs a 2-D input and 2-D [in,out] weights")
	}
	w, bias, err := weightsAndBias(c)
	if err != nil {
		return prepared{}, err
	}
	d, err := cached(c, func() (*kernels.Dense, error) {
		ep, err := epilogue(c.n.Attrs, bias)
		if err != nil {
			return nil, err
		}
		return kernels.NewDense(ws[0], ws[1], w, ep)
	})
	if err != nil {
		return prepared{}, err
	}
	m := xs[0]
	return prepared{scratch: d.ScratchLen(), bind: func(in, out [][]float32, scratch []float32) func() {
		x, y := in[0], out[0]
		return func() { d.Run(m, x, y, scratch) }
	}}, nil
}

func prepBinary(op kernels.BinaryOp) preparer {
	return func(c *opCtx) (prepared, error) {
		b, err := kernels.NewBinary(op, c.inShapes[0], c.inShapes[1])
		if err != nil {
			return prepared{}, err
		}
		ep, err := epilogue(c.n.Attrs, nil) // an activation the compiler fused in
		if err != nil {
			return prepared{}, err
		}
		return prepared{bind: func(in, out [][]float32, _ []float32) func() {
			a, bv, y := in[0], in[1], out[0]
			if ep.Act == kernels.ActNone {
				return func() { b.Run(a, bv, y) }
			}
			return func() {
				b.Run(a, bv, y)
				kernels.ActivateInPlace(y, ep)
			}
		}}, nil
	}
}

func prepUnary(c *opCtx) (prepared, error) {
	ep := unaryEpilogue(c.n)
	return prepared{bind: func(in, out [][]float32, _ []float32) func() {
		x, y := in[0], out[0]
		return func() {
			copy(y, x)
			kernels.ActivateInPlace(y, ep)
		}
	}}, nil
}

func prepSoftmax(c *opCtx) (prepared, error) {
	s := c.inShapes[0]
	axis, err := normAxis(c.n.Attrs.Int("axis", -1), len(s))
	if err != nil {
		return prepared{}, err
	}
	outer, inner := model.NumElements(s[:axis]), model.NumElements(s[axis+1:])
	ax := s[axis]
	return prepared{bind: func(in, out [][]float32, _ []float32) func() {
		x, y := in[0], out[0]
		return func() { kernels.Softmax(x, y, outer, ax, inner) }
	}}, nil
}

func prepPool(c *opCtx) (prepared, error) {
	xs := c.inShapes[0]
	if len(xs) != 4 {
		return prepared{}, errors.New("pooling needs a 4-D NHWC input")
	}
	k := c.n.Attrs.Ints("kernel", nil)
	if len(k) != 2 {
		return prepared{}, errors.New("pooling needs a 2-element kernel attribute")
	}
	pt, pb, pl, pr, _, _, err := model.PoolPads(c.n, xs[1], xs[2])
	if err != nil {
		return prepared{}, err
	}
	st := c.n.Attrs.Ints("strides", k)
	p := kernels.PoolParams{H: xs[1], W: xs[2], C: xs[3], KH: k[0], KW: k[1], StrideH: st[0], StrideW: st[1],
		PadTop: pt, PadBottom: pb, PadLeft: pl, PadRight: pr, CountIncludePad: c.n.Attrs.Int("count_include_pad", 0) != 0}
	if err := p.Validate(); err != nil {
		return prepared{}, err
	}
	n, isMax := xs[0], c.n.Op == model.OpMaxPool
	return prepared{bind: func(in, out [][]float32, _ []float32) func() {
		x, y := in[0], out[0]
		if isMax {
			return func() { kernels.MaxPool(p, n, x, y) }
		}
		return func() { kernels.AvgPool(p, n, x, y) }
	}}, nil
}

func prepGlobalAvgPool(c *opCtx) (prepared, error) {
	xs := c.inShapes[0]
	if len(xs) != 4 {
		return prepared{}, errors.New("GlobalAvgPool needs a 4-D NHWC input")
	}
	n, hw, ch := xs[0], xs[1]*xs[2], xs[3]
	return prepared{bind: func(in, out [][]float32, _ []float32) func() {
		x, y := in[0], out[0]
		return func() { kernels.GlobalAvgPool(n, hw, ch, x, y) }
	}}, nil
}

func prepMean(c *opCtx) (prepared, error) {
	m, err := kernels.NewMean(c.inShapes[0], c.n.Attrs.Ints("axes", nil), c.n.Attrs.Int("keepdims", 1) != 0)
	if err != nil {
		return prepared{}, err
	}
	return prepared{bind: func(in, out [][]float32, _ []float32) func() {
		x, y := in[0], out[0]
		return func() { m.Run(x, y) }
	}}, nil
}

func prepPad(c *opCtx) (prepared, error) {
	p, err := kernels.NewPad(c.inShapes[0], c.n.Attrs.Ints("pads", nil), c.n.Attrs.String("mode", "constant"), c.n.Attrs.Float("value", 0))
	if err != nil {
		return prepared{}, err
	}
	return prepared{bind: func(in, out [][]float32, _ []float32) func() {
		x, y := in[0], out[0]
		return func() { p.Run(x, y) }
	}}, nil
}

func prepConcat(c *opCtx) (prepared, error) {
	k, err := kernels.NewConcat(c.inShapes, c.n.Attrs.Int("axis", 0))
	if err != nil {
		return prepared{}, err
	}
	return prepared{bind: func(in, out [][]float32, _ []float32) func() {
		xs, y := in, out[0]
		return func() { k.Run(xs, y) }
	}}, nil
}

// prepView serves Reshape, Flatten and Dropout (the identity at inference):
// the output is the input's buffer.
func prepView(c *opCtx) (prepared, error) {
	if model.NumElements(c.inShapes[0]) != model.NumElements(c.outShapes[0]) {
		return prepared{}, errors.New("view changes the element count")
	}
	return prepared{alias: true, bind: func(_, _ [][]float32, _ []float32) func() { return nil }}, nil
}

func prepTranspose(c *opCtx) (prepared, error) {
	t, err := kernels.NewTranspose(c.inShapes[0], c.n.Attrs.Ints("perm", nil))
	if err != nil {
		return prepared{}, err
	}
	return prepared{bind: func(in, out [][]float32, _ []float32) func() {
		x, y := in[0], out[0]
		return func() { t.Run(x, y) }
	}}, nil
}

func prepBatchNorm(c *opCtx) (prepared, error) {
	xs := c.inShapes[0]
	ch := xs[len(xs)-1]
	var p [4][]float32
	for i, what := range []string{"scale", "bias", "mean", "variance"} {
		d, err := constData(c, i+1, what)
		if err != nil {
			return prepared{}, err
		}
		if len(d) != ch {
			return prepared{}, errors.New("BatchNorm " + what + " has " + strconv.Itoa(len(d)) + " values for " + strconv.Itoa(ch) + " channels")
		}
		p[i] = d
	}
	eps := c.n.Attrs.Float("epsilon", 1e-3)
	return prepared{bind: func(in, out [][]float32, _ []float32) func() {
		x, y := in[0], out[0]
		return func() { kernels.BatchNorm(x, y, ch, p[0], p[1], p[2], p[3], eps) }
	}}, nil
}

func prepResize(c *opCtx) (prepared, error) {
	xs, ys := c.inShapes[0], c.outShapes[0]
	if len(xs) != 4 || len(ys) != 4 {
		return prepared{}, errors.New("Resize needs 4-D NHWC tensors")
	}
	r, err := kernels.NewResize(xs[0], xs[1], xs[2], xs[3], ys[1], ys[2], c.n.Attrs.String("mode", "nearest"), c.n.Attrs.String("coord", "half_pixel"))
	if err != nil {
		return prepared{}, err
	}
	return prepared{bind: func(in, out [][]float32, _ []float32) func() {
		x, y := in[0], out[0]
		return func() { r.Run(x, y) }
	}}, nil
}

func normAxis(axis, rank int) (int, error) {
	if axis < 0 {
		axis += rank
	}
	if axis < 0 || axis >= rank {
		return 0, errors.New("axis " + strconv.Itoa(axis) + " out of range for rank " + strconv.Itoa(rank))
	}
	return axis, nil
}
