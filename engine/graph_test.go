package engine

import (
	"math/rand"
	"strconv"
	"testing"

	"github.com/edgenn/edgenn/model"
)

func randData(r *rand.Rand, n int, lo, hi float32) []float32 {
	d := make([]float32, n)
	for i := range d {
		d[i] = lo + (hi-lo)*r.Float32()
	}
	return d
}

// graphCase builds a small graph around one op (or one pattern the compiler
// rewrites). wantNodes, when set, is how many nodes the compiled graph keeps.
type graphCase struct {
	name      string
	build     func(b *model.Builder, r *rand.Rand, x string)
	input     []int // per item, without batch
	wantNodes int
}

func tensor(b *model.Builder, r *rand.Rand, name string, shape []int) string {
	return b.Tensor(name, shape, randData(r, model.NumElements(shape), -1, 1))
}

var graphCases = []graphCase{
	{name: "conv+batchnorm+add+relu6 fuse to one node", input: []int{9, 7, 5}, wantNodes: 1, build: func(b *model.Builder, r *rand.Rand, x string) {
		y := b.Node(model.OpConv2D, []string{x, tensor(b, r, "w", []int{3, 3, 5, 6})}, model.Attrs{"padding": "SAME", "strides": []int{2, 1}}, "conv")
		bn := b.Node(model.OpBatchNorm, []string{y, tensor(b, r, "g", []int{6}), tensor(b, r, "beta", []int{6}), tensor(b, r, "mu", []int{6}),
			b.Tensor("var", []int{6}, randData(r, 6, 0.5, 2))}, model.Attrs{"epsilon": float32(1e-3)}, "bn")
		a := b.Node(model.OpAdd, []string{bn, tensor(b, r, "c", []int{6})}, nil, "add")
		b.Output(b.Node(model.OpRelu6, []string{a}, nil, "act"), "out")
	}},
	{name: "dense+sigmoid", input: []int{12}, wantNodes: 1, build: func(b *model.Builder, r *rand.Rand, x string) {
		y := b.Node(model.OpDense, []string{x, tensor(b, r, "w", []int{12, 7}), tensor(b, r, "bias", []int{7})}, nil, "fc")
		b.Output(b.Node(model.OpSigmoid, []string{y}, nil, "sig"), "out")
	}},
	{name: "residual add + relu fuse into the conv", input: []int{6, 6, 4}, wantNodes: 2, build: func(b *model.Builder, r *rand.Rand, x string) {
		c := b.Node(model.OpConv2D, []string{x, tensor(b, r, "w", []int{3, 3, 4, 4})}, model.Attrs{"padding": "SAME"}, "conv")
		d := b.Node(model.OpConv2D, []string{x, tensor(b, r, "w2", []int{1, 1, 4, 4})}, nil, "proj")
		a := b.Node(model.OpAdd, []string{c, d}, nil, "res")
		b.Output(b.Node(model.OpRelu6, []string{a}, nil, "act"), "out")
	}},
	{name: "residual computed after the conv (BlazeFace's pool branch) fuses, the conv moving after it", input: []int{8, 8, 4}, wantNodes: 2, build: func(b *model.Builder, r *rand.Rand, x string) {
		c := b.Node(model.OpConv2D, []string{x, tensor(b, r, "w", []int{1, 1, 4, 4}), tensor(b, r, "bias", []int{4})}, nil, "conv")
		m := b.Node(model.OpMaxPool, []string{x}, model.Attrs{"kernel": []int{3, 3}, "padding": "SAME", "strides": []int{1, 1}}, "pool")
		a := b.Node(model.OpAdd, []string{m, c}, nil, "res")
		b.Output(b.Node(model.OpRelu, []string{a}, nil, "act"), "out")
	}},
	{name: "residual with leakyrelu and a 1x1 conv of 28 channels (leftover rows, a narrow panel)", input: []int{5, 7, 28}, wantNodes: 1, build: func(b *model.Builder, r *rand.Rand, x string) {
		c := b.Node(model.OpConv2D, []string{x, tensor(b, r, "w", []int{1, 1, 28, 28}), tensor(b, r, "bias", []int{28})}, nil, "conv")
		a := b.Node(model.OpAdd, []string{c, x}, nil, "res")
		b.Output(b.Node(model.OpLeakyRelu, []string{a}, model.Attrs{"alpha": float32(0.2)}, "act"), "out")
	}},
	{name: "a residual that broadcasts stays an Add", input: []int{6, 6, 4}, wantNodes: 3, build: func(b *model.Builder, r *rand.Rand, x string) {
		c := b.Node(model.OpConv2D, []string{x, tensor(b, r, "w", []int{1, 1, 4, 4})}, nil, "conv")
		m := b.Node(model.OpMean, []string{x}, model.Attrs{"axes": []int{1, 2}, "keepdims": 1}, "mean")
		b.Output(b.Node(model.OpAdd, []string{c, m}, nil, "res"), "out")
	}},
	{name: "batchnorm after a residual conv is not folded into its weights", input: []int{5, 5, 3}, wantNodes: 3, build: func(b *model.Builder, r *rand.Rand, x string) {
		c := b.Node(model.OpConv2D, []string{x, tensor(b, r, "w", []int{3, 3, 3, 3})}, model.Attrs{"padding": "SAME"}, "conv")
		a := b.Node(model.OpAdd, []string{c, x}, nil, "res")
		bn := b.Node(model.OpBatchNorm, []string{a, tensor(b, r, "g", []int{3}), tensor(b, r, "beta", []int{3}), tensor(b, r, "mu", []int{3}),
			b.Tensor("var", []int{3}, randData(r, 3, 0.5, 2))}, nil, "bn")
		b.Output(b.Node(model.OpRelu6, []string{bn}, nil, "act"), "out")
	}},
	{name: "mul + leakyrelu fuse, keeping alpha", input: []int{3}, wantNodes: 2, build: func(b *model.Builder, r *rand.Rand, x string) {
		d := b.Node(model.OpDense, []string{x, tensor(b, r, "w", []int{3, 3})}, nil, "fc")
		m := b.Node(model.OpMul, []string{d, x}, nil, "gate")
		b.Output(b.Node(model.OpLeakyRelu, []string{m}, model.Attrs{"alpha": float32(0.3)}, "act"), "out")
	}},
	{name: "conv + clip fuse (clip_min, clip_max)", input: []int{5, 5, 3}, wantNodes: 1, build: func(b *model.Builder, r *rand.Rand, x string) {
		c := b.Node(model.OpConv2D, []string{x, tensor(b, r, "w", []int{3, 3, 3, 4})}, model.Attrs{"padding": "SAME"}, "conv")
		b.Output(b.Node(model.OpClip, []string{c}, model.Attrs{"min": float32(-0.4), "max": float32(0.3)}, "clip"), "out")
	}},
	{name: "add + clip fuse", input: []int{6}, wantNodes: 2, build: func(b *model.Builder, r *rand.Rand, x string) {
		d := b.Node(model.OpDense, []string{x, tensor(b, r, "w", []int{6, 6})}, nil, "fc")
		a := b.Node(model.OpAdd, []string{d, x}, nil, "res")
		b.Output(b.Node(model.OpClip, []string{a}, model.Attrs{"min": float32(-0.2)}, "clip"), "out")
	}},
	{name: "dropout is the identity at inference", input: []int{12}, build: func(b *model.Builder, r *rand.Rand, x string) {
		y := b.Node(model.OpDense, []string{x, tensor(b, r, "w", []int{12, 7})}, nil, "fc")
		b.Output(b.Node(model.OpDropout, []string{y}, model.Attrs{"rate": float32(0.5)}, "drop"), "out")
	}},
	{name: "depthwise multiplier 2 explicit pads + leakyrelu", input: []int{6, 6, 3}, wantNodes: 1, build: func(b *model.Builder, r *rand.Rand, x string) {
		y := b.Node(model.OpConv2D, []string{x, tensor(b, r, "w", []int{3, 3, 1, 6}), tensor(b, r, "bias", []int{6})},
			model.Attrs{"padding": "EXPLICIT", "pads": []int{1, 0, 2, 1}, "group": 3, "dilations": []int{1, 2}}, "dw")
		b.Output(b.Node(model.OpLeakyRelu, []string{y}, model.Attrs{"alpha": float32(0.2)}, "lrelu"), "out")
	}},
	{name: "conv with an output also read elsewhere keeps relu separate", input: []int{5, 5, 2}, wantNodes: 3, build: func(b *model.Builder, r *rand.Rand, x string) {
		y := b.Node(model.OpConv2D, []string{x, tensor(b, r, "w", []int{1, 1, 2, 4})}, nil, "conv")
		z := b.Node(model.OpRelu, []string{y}, nil, "relu")
		b.Output(b.Node(model.OpSub, []string{z, y}, nil, "sub"), "out")
	}},
	{name: "constant transpose folds into matmul weights", input: []int{3, 8}, wantNodes: 1, build: func(b *model.Builder, r *rand.Rand, x string) {
		wt := b.Node(model.OpTranspose, []string{tensor(b, r, "wT", []int{5, 8})}, model.Attrs{"perm": []int{1, 0}}, "t")
		b.Output(b.Node(model.OpMatMul, []string{x, wt}, nil, "mm"), "out")
	}},
	{name: "constant reshape folds", input: []int{2, 3}, wantNodes: 1, build: func(b *model.Builder, r *rand.Rand, x string) {
		c := b.Node(model.OpReshape, []string{tensor(b, r, "c", []int{6})}, model.Attrs{"shape": []int{2, 3}}, "re")
		b.Output(b.Node(model.OpAdd, []string{x, c}, nil, "add"), "out")
	}},
	{name: "matmul of two computed operands", input: []int{4, 6}, build: func(b *model.Builder, r *rand.Rand, x string) {
		xt := b.Node(model.OpTranspose, []string{x}, model.Attrs{"perm": []int{0, 2, 1}}, "xt")
		b.Output(b.Node(model.OpMatMul, []string{x, xt}, nil, "gram"), "out")
	}},
	{name: "gemm transB alpha beta", input: []int{6}, build: func(b *model.Builder, r *rand.Rand, x string) {
		b.Output(b.Node(model.OpGemm, []string{x, tensor(b, r, "w", []int{5, 6}), tensor(b, r, "c", []int{5})},
			model.Attrs{"transB": 1, "alpha": float32(0.5), "beta": float32(2)}, "gemm"), "out")
	}},
	{name: "elementwise broadcasting", input: []int{4, 3, 2}, build: func(b *model.Builder, r *rand.Rand, x string) {
		m := b.Node(model.OpMul, []string{x, tensor(b, r, "s", []int{3, 1})}, nil, "mul")
		d := b.Node(model.OpDiv, []string{m, b.Tensor("d", []int{2}, []float32{2, -4})}, nil, "div")
		p := b.Node(model.OpPRelu, []string{d, tensor(b, r, "slope", []int{2})}, nil, "prelu")
		b.Output(b.Node(model.OpAdd, []string{p, x}, nil, "add"), "out")
	}},
	{name: "unary activations", input: []int{3, 5}, build: func(b *model.Builder, r *rand.Rand, x string) {
		a := b.Node(model.OpTanh, []string{x}, nil, "tanh")
		h := b.Node(model.OpHardSwish, []string{x}, nil, "hs")
		c := b.Node(model.OpClip, []string{x}, model.Attrs{"min": float32(-0.3), "max": float32(0.4)}, "clip")
		s := b.Node(model.OpAdd, []string{a, h}, nil, "s1")
		b.Output(b.Node(model.OpAdd, []string{s, c}, nil, "s2"), "out")
	}},
	{name: "pools, pad, concat, resize, mean", input: []int{8, 6, 3}, build: func(b *model.Builder, r *rand.Rand, x string) {
		mp := b.Node(model.OpMaxPool, []string{x}, model.Attrs{"kernel": []int{3, 3}, "strides": []int{2, 2}, "padding": "SAME"}, "mp")
		ap := b.Node(model.OpAvgPool, []string{x}, model.Attrs{"kernel": []int{3, 3}, "strides": []int{2, 2}, "padding": "SAME"}, "ap")
		cat := b.Node(model.OpConcat, []string{mp, ap}, model.Attrs{"axis": -1}, "cat")
		pad := b.Node(model.OpPad, []string{cat}, model.Attrs{"pads": []int{0, 1, 0, 0, 0, 2, 1, 0}, "mode": "reflect"}, "pad")
		rs := b.Node(model.OpResize, []string{pad}, model.Attrs{"size": []int{9, 5}, "mode": "bilinear"}, "rs")
		b.Output(b.Node(model.OpMean, []string{rs}, model.Attrs{"axes": []int{1}, "keepdims": 0}, "mean"), "out")
	}},
	{name: "nearest resize, transpose, flatten, softmax over axis 1", input: []int{3, 4, 2}, build: func(b *model.Builder, r *rand.Rand, x string) {
		rs := b.Node(model.OpResize, []string{x}, model.Attrs{"size": []int{5, 7}, "mode": "nearest", "coord": "asymmetric"}, "rs")
		tr := b.Node(model.OpTranspose, []string{rs}, model.Attrs{"perm": []int{0, 3, 1, 2}}, "tr")
		fl := b.Node(model.OpFlatten, []string{tr}, nil, "fl")
		re := b.Node(model.OpReshape, []string{fl}, model.Attrs{"shape": []int{0, 2, -1}}, "re")
		b.Output(b.Node(model.OpSoftmax, []string{re}, model.Attrs{"axis": 1}, "sm"), "out")
	}},
	{name: "global average pool and unfused batchnorm", input: []int{5, 4, 6}, build: func(b *model.Builder, r *rand.Rand, x string) {
		bn := b.Node(model.OpBatchNorm, []string{x, tensor(b, r, "g", []int{6}), tensor(b, r, "beta", []int{6}), tensor(b, r, "mu", []int{6}),
			b.Tensor("var", []int{6}, randData(r, 6, 0.5, 2))}, nil, "bn")
		b.Output(b.Node(model.OpGlobalAvgPool, []string{bn}, nil, "gap"), "out")
	}},
}

// TestGraphsMatchNaive runs small graphs covering every op and every compile
// rewrite through a Session, at batch 1 and 3, against the naive interpreter
// on the uncompiled graph.
func TestGraphsMatchNaive(t *testing.T) {
	for i, c := range graphCases {
		t.Run(c.name, func(t *testing.T) {
			r := rand.New(rand.NewSource(int64(i) + 1))
			b := model.NewBuilder("case")
			x := b.Input("x", append([]int{-1}, c.input...))
			c.build(b, r, x)
			g, err := b.Build()
			if err != nil {
				t.Fatal(err)
			}
			s, err := NewSession(g)
			if err != nil {
				t.Fatal(err)
			}
			if c.wantNodes > 0 && len(s.Graph().Nodes) != c.wantNodes {
				var ops []string
				for _, n := range s.Graph().Nodes {
					ops = append(ops, n.Op)
				}
				t.Errorf("compiled graph has nodes %v, want %d", ops, c.wantNodes)
			}
			for _, batch := range []int{1, 3} {
				in := randData(r, batch*model.NumElements(c.input), -2, 2)
				got, err := s.Run(in)
				if err != nil {
					t.Fatal(err)
				}
				want := naiveRun(t, g, batch, in)[g.Outputs[0].Name]
				closeEnough(t, "batch "+strconv.Itoa(batch), got[0], want, 1e-5)
			}
		})
	}
}

// TestSessionDoesNotModifyGraph checks that folding works on copies: the
// caller's graph stays runnable and unchanged.
func TestSessionDoesNotModifyGraph(t *testing.T) {
	r := rand.New(rand.NewSource(9))
	b := model.NewBuilder("case")
	graphCases[0].build(b, r, b.Input("x", []int{-1, 9, 7, 5}))
	g, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	before, err := model.Encode(g)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewSession(g); err != nil {
		t.Fatal(err)
	}
	after, err := model.Encode(g)
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Fatal("NewSession modified the caller's graph")
	}
}
