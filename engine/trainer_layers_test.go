package engine

import (
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/edgenn/edgenn/model"
)

// wideNet uses every op bindMore trains, plus the fused activations that need
// their pre-activation kept: Pad (reflect), Conv2D with a fused HardSwish,
// BatchNorm, a depthwise Conv2D with a fused ReLU6 and a Clip, a 1x1 Conv2D
// with a fused negative-slope LeakyReLU, Concat, a second BatchNorm, Transpose, Mean, MatMul with a
// constant operand and between two computed ones (reading the Mean twice),
// Softmax over a middle axis, a Mul by a trained gain with a fused HardSwish,
// Dropout and a Dense head.
func wideNet(t *testing.T, r *rand.Rand) *model.Graph {
	t.Helper()
	b := model.NewBuilder("wide")
	x := b.Input("x", []int{-1, 5, 5, 3})
	bn := func(in, name string, c int) string {
		return b.Node(model.OpBatchNorm, []string{in, tensor(b, r, name+"/gamma", []int{c}), tensor(b, r, name+"/beta", []int{c}),
			tensor(b, r, name+"/mean", []int{c}), b.Tensor(name+"/var", []int{c}, randData(r, c, 0.5, 2))},
			model.Attrs{"momentum": float32(0.9)}, name)
	}
	p := b.Node(model.OpPad, []string{x}, model.Attrs{"pads": []int{0, 1, 1, 0, 0, 1, 1, 0}, "mode": "reflect"}, "pad")
	c1 := b.Node(model.OpConv2D, []string{p, tensor(b, r, "c1/w", []int{3, 3, 3, 4}), tensor(b, r, "c1/b", []int{4})},
		model.Attrs{"strides": []int{2, 2}, "activation": "hardswish"}, "c1")
	n1 := bn(c1, "bn1", 4)
	dw := b.Node(model.OpConv2D, []string{n1, tensor(b, r, "dw/w", []int{3, 3, 1, 4})},
		model.Attrs{"padding": "SAME", "group": 4, "activation": "relu6"}, "dw")
	dw = b.Node(model.OpClip, []string{dw}, model.Attrs{"min": float32(-0.5), "max": float32(0.8)}, "clip")
	c2 := b.Node(model.OpConv2D, []string{n1, tensor(b, r, "c2/w", []int{1, 1, 4, 2})},
		model.Attrs{"activation": "leakyrelu", "alpha": float32(-0.3)}, "c2")
	cat := b.Node(model.OpConcat, []string{dw, c2}, model.Attrs{"axis": -1}, "cat")
	n2 := bn(cat, "bn2", 6)
	tr := b.Node(model.OpTranspose, []string{n2}, model.Attrs{"perm": []int{0, 3, 1, 2}}, "nchw")  // [N,6,3,3]
	mn := b.Node(model.OpMean, []string{tr}, model.Attrs{"axes": []int{3}, "keepdims": 0}, "mean") // [N,6,3]
	mm := b.Node(model.OpMatMul, []string{mn, tensor(b, r, "proj/w", []int{3, 4})}, nil, "proj")   // [N,6,4]
	sm := b.Node(model.OpSoftmax, []string{mm}, model.Attrs{"axis": 1}, "attn")                    // over the 6 rows
	st := b.Node(model.OpTranspose, []string{sm}, model.Attrs{"perm": []int{0, 2, 1}}, "attnT")    // [N,4,6]
	mix := b.Node(model.OpMatMul, []string{st, mn}, nil, "mix")                                    // [N,4,3]
	mix = b.Node(model.OpMul, []string{mix, tensor(b, r, "gain/g", []int{3})}, model.Attrs{"activation": "hardswish"}, "gain")
	f := b.Node(model.OpFlatten, []string{mix}, nil, "flat")
	do := b.Node(model.OpDropout, []string{f}, model.Attrs{"rate": float32(0.25)}, "drop")
	d := b.Node(model.OpDense, []string{do, tensor(b, r, "fc/w", []int{12, 3}), tensor(b, r, "fc/b", []int{3})}, nil, "fc")
	b.Output(b.Node(model.OpSoftmax, []string{d}, nil, "probs"), "probs")
	g, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestTrainerLayerGradients checks the backward pass of wideNet against
// finite differences, with every BatchNorm trained (batch statistics) and
// with the second one frozen (inference statistics, gradient passed
// through).
func TestTrainerLayerGradients(t *testing.T) {
	for _, c := range []struct {
		name      string
		trainable []string
		params    int
	}{
		{"all", nil, 12},
		{"bn2 frozen", []string{"c1/", "bn1/", "dw/", "c2/", "proj/", "gain/", "fc/"}, 10},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := rand.New(rand.NewSource(11))
			tr, err := NewTrainer(wideNet(t, r), TrainOptions{Batch: 3, Seed: 4, Trainable: c.trainable})
			if err != nil {
				t.Fatal(err)
			}
			if len(tr.params) != c.params {
				t.Fatalf("trained %v, want %d tensors", tr.Params(), c.params)
			}
			for _, name := range tr.Params() {
				if strings.HasSuffix(name, "/mean") || strings.HasSuffix(name, "/var") {
					t.Fatalf("BatchNorm statistic %s is trained", name)
				}
			}
			checkTrainerGradients(t, tr, randData(r, 3*5*5*3, -1, 1), []int32{2, 0, 1})
		})
	}
}

// TestTrainerLayersSteps trains wideNet for a few steps: the loss falls,
// steps allocate nothing, the trained BatchNorm's running statistics move
// (the frozen parts stay), and a Session runs the trained model (Dropout the
// identity there) to the same outputs as a decoded copy of it.
func TestTrainerLayersSteps(t *testing.T) {
	r := rand.New(rand.NewSource(12))
	g := wideNet(t, r)
	tr, err := NewTrainer(g, TrainOptions{Batch: 4, Seed: 1, Optimizer: Adam{LR: 0.02}})
	if err != nil {
		t.Fatal(err)
	}
	x := randData(r, 4*5*5*3, -1, 1)
	labels := []int32{0, 1, 2, 1}
	first, err := tr.Step(x, labels, nil)
	if err != nil {
		t.Fatal(err)
	}
	var last float64
	for range 60 {
		if last, err = tr.Step(x, labels, nil); err != nil {
			t.Fatal(err)
		}
	}
	if !(last < first/2) {
		t.Fatalf("loss %g -> %g: not learning", first, last)
	}
	if a := testing.AllocsPerRun(5, func() { tr.Step(x, labels, nil) }); a != 0 {
		t.Errorf("Step allocates %v times", a)
	}
	out := tr.Graph()
	for _, name := range []string{"bn1/mean", "bn1/var", "bn2/mean"} {
		if slices.Equal(out.Tensor(name).Data, g.Tensor(name).Data) {
			t.Errorf("%s did not move", name)
		}
	}
	if !slices.Equal(tr.Checkpoint(false).Tensor("bn1/var").Data, out.Tensor("bn1/var").Data) {
		t.Error("Checkpoint and Graph disagree on the running variance")
	}
	s, err := NewSession(out)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Run(x)
	if err != nil {
		t.Fatal(err)
	}
	probs := append([]float32(nil), res[0]...)
	if len(probs) != 12 {
		t.Fatalf("%d outputs", len(probs))
	}
	data, err := model.Encode(out)
	if err != nil {
		t.Fatal(err)
	}
	g2, err := model.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := NewSession(g2)
	if err != nil {
		t.Fatal(err)
	}
	res2, err := s2.Run(x)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res2[0], probs) {
		t.Fatal("the saved model runs differently")
	}
}

// TestTrainerMatMulBroadcastGradients trains a 2-D left operand that
// broadcasts over the batch of its right one: its gradient sums over the
// batch.
func TestTrainerMatMulBroadcastGradients(t *testing.T) {
	r := rand.New(rand.NewSource(13))
	b := model.NewBuilder("mm")
	x := b.Input("x", []int{-1, 3, 4})
	m := b.Node(model.OpMatMul, []string{tensor(b, r, "mix/a", []int{2, 3}), x}, nil, "mix") // [N,2,4]
	f := b.Node(model.OpFlatten, []string{m}, nil, "flat")
	b.Output(b.Node(model.OpDense, []string{f, tensor(b, r, "fc/w", []int{8, 3})}, nil, "fc"), "logits")
	g, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(g, TrainOptions{Batch: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(tr.Params(), ","); got != "mix/a,fc/w" {
		t.Fatalf("trained %s", got)
	}
	checkTrainerGradients(t, tr, randData(r, 3*3*4, -1, 1), []int32{1, 0, 2})
}
