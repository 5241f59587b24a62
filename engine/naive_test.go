package engine

import (
	"math"
	"testing"

	"github.com/edgenn/edgenn/internal/naive"
	"github.com/edgenn/edgenn/model"
)

// naiveRun evaluates the uncompiled graph node by node with the plain
// reference kernels of internal/naive: the oracle the engine's compiled,
// fused, arena-planned run is held to.
func naiveRun(t *testing.T, g *model.Graph, batch int, inputs ...[]float32) map[string][]float32 {
	t.Helper()
	shapes, err := model.InferShapes(g, batch)
	if err != nil {
		t.Fatal(err)
	}
	v := map[string][]float32{}
	for _, tn := range g.Tensors {
		v[tn.Name] = tn.Data
	}
	for i, in := range g.Inputs {
		v[in.Name] = inputs[i]
	}
	for _, n := range g.Nodes {
		in := func(i int) []float32 { return v[n.Inputs[i]] }
		sh := func(i int) []int { return shapes[n.Inputs[i]] }
		out := shapes[n.Outputs[0]]
		var y []float32
		a := n.Attrs
		switch n.Op {
		case model.OpConv2D:
			xs, ws := sh(0), sh(1)
			pt, pb, pl, pr, _, _, err := model.ConvPads(n, xs[1], xs[2], ws[0], ws[1])
			if err != nil {
				t.Fatal(err)
			}
			st, dl := a.Ints("strides", []int{1, 1}), a.Ints("dilations", []int{1, 1})
			p := naive.ConvParams{H: xs[1], W: xs[2], C: xs[3], KH: ws[0], KW: ws[1], OC: ws[3], StrideH: st[0], StrideW: st[1],
				DilationH: dl[0], DilationW: dl[1], PadTop: pt, PadBottom: pb, PadLeft: pl, PadRight: pr, Group: a.Int("group", 1)}
			y = make([]float32, model.NumElements(out))
			var bias []float32
			if len(n.Inputs) > 2 && n.Inputs[2] != "" {
				bias = in(2)
			}
			naive.Conv2D(p, xs[0], in(0), in(1), bias, y)
			y = naiveActivation(a.String("activation", ""), a, y)
		case model.OpDense:
			k, m := sh(1)[0], sh(1)[1]
			bias := make([]float32, m)
			if len(n.Inputs) > 2 && n.Inputs[2] != "" {
				bias = in(2)
			}
			y = naive.Affine(in(0), in(1), bias, sh(0)[0], k, m)
			y = naiveActivation(a.String("activation", ""), a, y)
		case model.OpMatMul:
			as, bs := sh(0), sh(1)
			m, k, nn := as[len(as)-2], as[len(as)-1], bs[len(bs)-1]
			batches := model.NumElements(as[:len(as)-2])
			bBatches := model.NumElements(bs[:len(bs)-2])
			y = make([]float32, model.NumElements(out))
			for i := 0; i < batches; i++ {
				j := i % bBatches
				naive.Gemm(m, nn, k, in(0)[i*m*k:], k, in(1)[j*k*nn:], nn, nil, y[i*m*nn:], nn)
			}
		case model.OpGemm:
			as, bs := sh(0), sh(1)
			ta, tb := a.Int("transA", 0) != 0, a.Int("transB", 0) != 0
			av, bv := in(0), in(1)
			m, k := as[0], as[1]
			if ta {
				av, _ = naive.Transpose(av, as, []int{1, 0})
				m, k = k, m
			}
			nn := bs[1]
			if tb {
				bv, _ = naive.Transpose(bv, bs, []int{1, 0})
				nn = bs[0]
			}
			y = make([]float32, m*nn)
			naive.Gemm(m, nn, k, av, k, bv, nn, nil, y, nn)
			alpha, beta := a.Float("alpha", 1), a.Float("beta", 1)
			for i := range y {
				y[i] *= alpha
			}
			if len(n.Inputs) > 2 && n.Inputs[2] != "" {
				c := in(2)
				cs := make([]float32, len(c))
				for i := range c {
					cs[i] = beta * c[i]
				}
				y, _ = naive.Binary(func(x, z float32) float32 { return x + z }, []int{m, nn}, y, sh(2), cs)
			}
		case model.OpAdd, model.OpSub, model.OpMul, model.OpDiv, model.OpPRelu:
			f := map[string]func(x, z float32) float32{
				model.OpAdd: func(x, z float32) float32 { return x + z },
				model.OpSub: func(x, z float32) float32 { return x - z },
				model.OpMul: func(x, z float32) float32 { return x * z },
				model.OpDiv: func(x, z float32) float32 { return x / z },
				model.OpPRelu: func(x, z float32) float32 {
					if x >= 0 {
						return x
					}
					return x * z
				},
			}[n.Op]
			y, _ = naive.Binary(f, sh(0), in(0), sh(1), in(1))
			y = naiveActivation(a.String("activation", ""), a, y) // fused by the compiler, or written so
		case model.OpRelu, model.OpRelu6, model.OpLeakyRelu, model.OpSigmoid, model.OpTanh, model.OpHardSwish, model.OpClip:
			act := map[string]string{model.OpRelu: "relu", model.OpRelu6: "relu6", model.OpLeakyRelu: "leakyrelu",
				model.OpSigmoid: "sigmoid", model.OpTanh: "tanh", model.OpHardSwish: "hardswish", model.OpClip: "clip"}[n.Op]
			attrs := model.Attrs{"alpha": a.Float("alpha", 0.01), "clip_min": a.Float("min", float32(math.Inf(-1))), "clip_max": a.Float("max", float32(math.Inf(1)))}
			y = naiveActivation(act, attrs, append([]float32(nil), in(0)...))
		case model.OpSoftmax:
			s := sh(0)
			ax := a.Int("axis", -1)
			if ax < 0 {
				ax += len(s)
			}
			y = naive.Softmax(in(0), model.NumElements(s[:ax]), s[ax], model.NumElements(s[ax+1:]))
		case model.OpMaxPool, model.OpAvgPool:
			s := sh(0)
			pt, pb, pl, pr, _, _, err := model.PoolPads(n, s[1], s[2])
			if err != nil {
				t.Fatal(err)
			}
			k := a.Ints("kernel", nil)
			st := a.Ints("strides", k)
			p := naive.Pool2D{N: s[0], H: s[1], W: s[2], C: s[3], KH: k[0], KW: k[1], SH: st[0], SW: st[1], PT: pt, PB: pb, PL: pl, PR: pr,
				CountIncludePad: a.Int("count_include_pad", 0) != 0}
			if n.Op == model.OpMaxPool {
				y = naive.MaxPool(p, in(0))
			} else {
				y = naive.AvgPool(p, in(0))
			}
		case model.OpGlobalAvgPool:
			y, _ = naive.Mean(in(0), sh(0), []int{1, 2})
		case model.OpMean:
			var axes []int
			for _, ax := range a.Ints("axes", nil) {
				if ax < 0 {
					ax += len(sh(0))
				}
				axes = append(axes, ax)
			}
			y, _ = naive.Mean(in(0), sh(0), axes)
		case model.OpPad:
			y, _ = naive.Pad(in(0), sh(0), a.Ints("pads", nil), a.String("mode", "constant"), a.Float("value", 0))
		case model.OpConcat:
			var xs [][]float32
			var ss [][]int
			for i := range n.Inputs {
				xs, ss = append(xs, in(i)), append(ss, sh(i))
			}
			ax := a.Int("axis", 0)
			if ax < 0 {
				ax += len(ss[0])
			}
			y, _ = naive.Concat(xs, ss, ax)
		case model.OpReshape, model.OpFlatten, model.OpDropout:
			y = in(0)
		case model.OpTranspose:
			y, _ = naive.Transpose(in(0), sh(0), a.Ints("perm", nil))
		case model.OpBatchNorm:
			s := sh(0)
			y = naive.BatchNorm(in(0), s[len(s)-1], in(1), in(2), in(3), in(4), a.Float("epsilon", 1e-3))
		case model.OpResize:
			s := sh(0)
			if a.String("mode", "nearest") == "bilinear" {
				y = naive.ResizeBilinear(in(0), s[0], s[1], s[2], s[3], out[1], out[2], a.String("coord", "half_pixel"))
			} else {
				y = naive.ResizeNearest(in(0), s[0], s[1], s[2], s[3], out[1], out[2], a.String("coord", "half_pixel"))
			}
		default:
			t.Fatalf("naiveRun: no reference for op %s", n.Op)
		}
		if len(y) != model.NumElements(out) {
			t.Fatalf("naiveRun: node %s produced %d values for shape %v", n.Name, len(y), out)
		}
		v[n.Outputs[0]] = y
	}
	return v
}

func naiveActivation(act string, a model.Attrs, y []float32) []float32 {
	for i, x := range y {
		f := float64(x)
		switch act {
		case "relu":
			f = math.Max(f, 0)
		case "relu6":
			f = math.Min(math.Max(f, 0), 6)
		case "leakyrelu":
			if f < 0 {
				f *= float64(a.Float("alpha", 0.01))
			}
		case "sigmoid":
			f = 1 / (1 + math.Exp(-f))
		case "tanh":
			f = math.Tanh(f)
		case "hardswish":
			f = f * math.Min(math.Max(f+3, 0), 6) / 6
		case "clip":
			f = math.Min(math.Max(f, float64(a.Float("clip_min", float32(math.Inf(-1))))), float64(a.Float("clip_max", float32(math.Inf(1)))))
		}
		y[i] = float32(f)
	}
	return y
}

// closeEnough compares with a tolerance scaled to the values' magnitude: the
// engine accumulates in float32 in a different order than the float64 oracle.
func closeEnough(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		d := math.Abs(float64(got[i] - want[i]))
		if d > tol*(1+math.Abs(float64(want[i]))) || math.IsNaN(float64(got[i])) != math.IsNaN(float64(want[i])) {
			t.Fatalf("%s: element %d = %v, want %v (diff %g)", what, i, got[i], want[i], d)
		}
	}
}
