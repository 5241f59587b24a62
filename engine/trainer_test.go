package engine

import (
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/edgenn/edgenn/kernels"
	"github.com/edgenn/edgenn/model"
)

// smallNet is a conv net whose first convolution's output is read twice (a
// residual Add), so that gradients summed over readers are exercised.
func smallNet(t *testing.T, r *rand.Rand) *model.Graph {
	t.Helper()
	b := model.NewBuilder("small")
	x := b.Input("x", []int{-1, 6, 6, 2})
	c := b.Node(model.OpConv2D, []string{x, tensor(b, r, "c1/w", []int{3, 3, 2, 4}), tensor(b, r, "c1/b", []int{4})},
		model.Attrs{"padding": "SAME"}, "c1")
	// c1 has no fused activation; c2 fuses tanh, fc sigmoid, c3 relu6.
	h := b.Node(model.OpRelu, []string{c}, nil, "relu")
	s := b.Node(model.OpAdd, []string{h, c}, nil, "res")
	c2 := b.Node(model.OpConv2D, []string{s, tensor(b, r, "c2/w", []int{3, 3, 4, 4}), tensor(b, r, "c2/b", []int{4})},
		model.Attrs{"padding": "VALID", "strides": []int{1, 1}, "activation": "tanh"}, "c2")
	c3 := b.Node(model.OpConv2D, []string{c2, tensor(b, r, "c3/w", []int{1, 1, 4, 4}), tensor(b, r, "c3/b", []int{4})},
		model.Attrs{"activation": "relu6"}, "c3")
	p := b.Node(model.OpMaxPool, []string{c3}, model.Attrs{"kernel": []int{2, 2}}, "pool")
	f := b.Node(model.OpFlatten, []string{p}, nil, "flat")
	d := b.Node(model.OpDense, []string{f, tensor(b, r, "fc/w", []int{16, 5}), tensor(b, r, "fc/b", []int{5})},
		model.Attrs{"activation": "sigmoid"}, "fc")
	o := b.Node(model.OpDense, []string{d, tensor(b, r, "out/w", []int{5, 3})}, nil, "logits")
	b.Output(b.Node(model.OpSoftmax, []string{o}, nil, "sm"), "probs")
	g, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestTrainerGradients holds every parameter gradient of the backward pass
// to central finite differences of the loss.
func TestTrainerGradients(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	g := smallNet(t, r)
	tr, err := NewTrainer(g, TrainOptions{Batch: 3})
	if err != nil {
		t.Fatal(err)
	}
	x := randData(r, 3*6*6*2, -1, 1)
	labels := []int32{0, 2, 1}
	if _, err := tr.lossAndGrad(x, labels, nil); err != nil {
		t.Fatal(err)
	}
	if len(tr.params) != 9 {
		t.Fatalf("%d trained tensors, want 9", len(tr.params))
	}
	checkTrainerGradients(t, tr, x, labels)
}

// checkTrainerGradients holds every trained parameter's gradient (after a
// lossAndGrad on x and labels) to central differences of the loss. Dropout
// masks are redrawn from the same seed for every evaluation.
func checkTrainerGradients(t *testing.T, tr *Trainer, x []float32, labels []int32) {
	t.Helper()
	loss := func() float64 {
		tr.rng = kernels.NewRNG(tr.opts.Seed)
		l, err := tr.lossAndGrad(x, labels, nil)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	loss()
	// Central differences at two step sizes: where they disagree the step
	// crossed a kink (ReLU6, a max-pool switch) and the point is skipped.
	fd := func(p *param, i int, eps float32) float64 {
		w0 := p.w[i]
		p.w[i] = w0 + eps
		tr.sync()
		lp := loss()
		p.w[i] = w0 - eps
		tr.sync()
		lm := loss()
		p.w[i] = w0
		tr.sync()
		return (lp - lm) / (2 * float64(eps))
	}
	checked, skipped := 0, 0
	for _, p := range tr.params {
		grad := append([]float32(nil), p.g...)
		for _, i := range []int{0, len(p.w) / 3, len(p.w) / 2, len(p.w) - 1} {
			f1, f2 := fd(p, i, 2e-3), fd(p, i, 1e-3)
			if math.Abs(f1-f2) > 1e-3+1e-2*math.Abs(f2) {
				skipped++
				continue
			}
			checked++
			if d := math.Abs(f2 - float64(grad[i])); d > 1e-3+1e-2*math.Abs(f2) {
				t.Errorf("%s[%d]: backward %g, finite difference %g", p.name, i, grad[i], f2)
			}
		}
	}
	if skipped > checked/4 {
		t.Fatalf("%d points skipped at kinks, %d checked: the check is too weak", skipped, checked)
	}
}

func argmaxF(v []float32) int {
	b := 0
	for i, x := range v {
		if x > v[b] {
			b = i
		}
	}
	return b
}

func TestTrainerStepAllocatesNothing(t *testing.T) {
	r := rand.New(rand.NewSource(6))
	for _, opt := range []Optimizer{SGD{LR: 0.1, Momentum: 0.9, Nesterov: true}, Adam{LR: 1e-3, WeightDecay: 1e-4, Decoupled: true}} {
		tr, err := NewTrainer(smallNet(t, r), TrainOptions{Batch: 2, Optimizer: opt})
		if err != nil {
			t.Fatal(err)
		}
		x := randData(r, 2*72, -1, 1)
		labels := []int32{1, 2}
		if a := testing.AllocsPerRun(10, func() { tr.Step(x, labels, nil) }); a != 0 {
			t.Errorf("%T: Step allocates %v times", opt, a)
		}
	}
}

// TestTrainerFreeze trains only the head: the frozen convolution's weights
// must not move, the head's must.
func TestTrainerFreeze(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	g := smallNet(t, r)
	tr, err := NewTrainer(g, TrainOptions{Batch: 2, Trainable: []string{"fc/", "out/"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(tr.Params(), ","); got != "fc/w,fc/b,out/w" {
		t.Fatalf("trained %s", got)
	}
	x := randData(r, 2*72, -1, 1)
	for i := 0; i < 3; i++ {
		if _, err := tr.Step(x, []int32{0, 1}, nil); err != nil {
			t.Fatal(err)
		}
	}
	after := tr.Graph()
	for _, name := range []string{"c1/w", "c2/b", "fc/w"} {
		moved := false
		for i, v := range after.Tensor(name).Data {
			moved = moved || v != g.Tensor(name).Data[i]
		}
		if moved != strings.HasPrefix(name, "fc/") {
			t.Errorf("%s moved = %v", name, moved)
		}
	}
}

func TestTrainerErrors(t *testing.T) {
	r := rand.New(rand.NewSource(8))
	g := smallNet(t, r)
	cases := []struct {
		o    TrainOptions
		want string
	}{
		{TrainOptions{Batch: 0}, "batch 0"},
		{TrainOptions{Batch: 2, Loss: "hinge"}, `unknown loss "hinge"`},
		{TrainOptions{Batch: 2, Trainable: []string{"conv9/"}}, `prefix "conv9/" matches no weight`},
		{TrainOptions{Batch: 2, Optimizer: SGD{}}, "LR > 0"},
		{TrainOptions{Batch: 2, Optimizer: Adam{LR: 1, Beta1: 1}}, "betas"},
	}
	for _, c := range cases {
		if _, err := NewTrainer(g, c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one mentioning %q", c.o, err, c.want)
		}
	}
	tr, err := NewTrainer(g, TrainOptions{Batch: 2})
	if err != nil {
		t.Fatal(err)
	}
	x := randData(r, 2*72, -1, 1)
	before := append([]float32(nil), tr.byName["fc/w"].w...)
	if _, err := tr.Step(x, []int32{0, 7}, nil); err == nil || !strings.Contains(err.Error(), "label 7") {
		t.Errorf("label out of range: %v", err)
	}
	if _, err := tr.Step(x[:5], []int32{0, 1}, nil); err == nil || !strings.Contains(err.Error(), "input values") {
		t.Errorf("short input: %v", err)
	}
	for i, v := range tr.byName["fc/w"].w {
		if v != before[i] {
			t.Fatal("a refused step changed the weights")
		}
	}
	b := model.NewBuilder("resize")
	in := b.Input("x", []int{-1, 4, 4, 1})
	c := b.Node(model.OpConv2D, []string{in, tensor(b, r, "w", []int{1, 1, 1, 2})}, nil, "c")
	b.Output(b.Node(model.OpResize, []string{c}, model.Attrs{"size": []int{8, 8}}, "rs"), "y")
	rg, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewTrainer(rg, TrainOptions{Batch: 1, Loss: "mse"}); err == nil || !strings.Contains(err.Error(), `"Resize" cannot be trained yet`) {
		t.Errorf("untrainable op: %v", err)
	}
	// A compiled graph's Conv2D with a residual input (Session.Graph) is
	// for inference: the trainer says so.
	b = model.NewBuilder("residual")
	in = b.Input("x", []int{-1, 4, 4, 2})
	c = b.Node(model.OpConv2D, []string{in, tensor(b, r, "w", []int{1, 1, 2, 2})}, nil, "c")
	b.Output(b.Node(model.OpAdd, []string{c, in}, nil, "add"), "y")
	rg, err = b.Build()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSession(rg)
	if err != nil {
		t.Fatal(err)
	}
	if n := s.Graph().Nodes; len(n) != 1 || len(n[0].Inputs) != 4 {
		t.Fatalf("compiled graph %v: want the Add fused into the Conv2D as its residual", n)
	}
	if _, err := NewTrainer(s.Graph(), TrainOptions{Batch: 1, Loss: "mse"}); err == nil || !strings.Contains(err.Error(), "residual input") {
		t.Errorf("Conv2D with a residual: %v", err)
	}
}

// BenchmarkTrainerStepLeNet times one batch-32 SGD step of LeNet-5 (forward,
// loss, backward, update): the full network (the step TensorFlow.js cpu takes
// 2.6 s for) and the head only (dense layers trained, convolutions frozen).
func BenchmarkTrainerStepLeNet(b *testing.B) {
	for _, c := range []struct {
		name      string
		trainable []string
	}{{"full", nil}, {"head", []string{"dense_"}}} {
		b.Run(c.name, func(b *testing.B) {
			g, err := model.Zoo("lenet5")
			if err != nil {
				b.Fatal(err)
			}
			tr, err := NewTrainer(g, TrainOptions{Batch: 32, Optimizer: SGD{LR: 0.01}, Trainable: c.trainable})
			if err != nil {
				b.Fatal(err)
			}
			r := rand.New(rand.NewSource(1))
			x, y := randData(r, 32*784, 0, 1), make([]int32, 32)
			for i := range y {
				y[i] = int32(i * 7 % 10)
			}
			for b.Loop() {
				if _, err := tr.Step(x, y, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(32*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}
