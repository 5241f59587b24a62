package engine

import (
	"math"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/edgenn/edgenn/data"
	"github.com/edgenn/edgenn/model"
)

// TestFitLearnsMNIST trains LeNet-5 from the zoo's initial weights with Fit
// (shuffled batches, cosine schedule, gradient clipping) on 4,800 MNIST
// images for one epoch, and checks the accuracy on 1,000 test images it
// never saw, through Evaluate (a Session on the trained graph).
func TestFitLearnsMNIST(t *testing.T) {
	train, err := data.MNIST("train")
	if err != nil {
		t.Skip("MNIST not available: " + err.Error())
	}
	test, err := data.MNIST("test")
	if err != nil {
		t.Skip("MNIST not available: " + err.Error())
	}
	head, _ := train.Split(4800)
	eval, _ := test.Split(1000)
	g, err := model.Zoo("lenet5")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(g, TrainOptions{Batch: 32, Optimizer: SGD{LR: 0.05, Momentum: 0.9}})
	if err != nil {
		t.Fatal(err)
	}
	batches := 0
	stats, err := tr.Fit(head, FitOptions{Epochs: 1, Seed: 1, Schedule: Cosine(0.1), ClipNorm: 5, Eval: eval,
		OnBatch: func(_, _, _ int, _ float64) { batches++ }})
	if err != nil {
		t.Fatal(err)
	}
	if len(stats) != 1 || batches != 150 {
		t.Fatalf("%d epochs, %d batches; want 1 and 150", len(stats), batches)
	}
	t.Logf("epoch loss %.3f; test loss %.3f, accuracy %.1f%%", stats[0].Loss, stats[0].EvalLoss, 100*stats[0].EvalAccuracy)
	if stats[0].EvalAccuracy < 0.85 {
		t.Fatalf("test accuracy %.3f after one epoch of 4,800 images, want at least 0.85", stats[0].EvalAccuracy)
	}
}

func randomDataset(r *rand.Rand, n int, shape []int, classes int) *data.Dataset {
	ds := &data.Dataset{Shape: shape, Classes: classes, X: randData(r, n*model.NumElements(shape), -1, 1), Y: make([]int32, n)}
	for i := range ds.Y {
		ds.Y[i] = int32(r.Intn(classes))
	}
	return ds
}

// TestFitDivergence: a learning rate that blows the loss up stops Fit with
// an error and leaves the weights of the last completed epoch.
func TestFitDivergence(t *testing.T) {
	r := rand.New(rand.NewSource(11))
	g := smallNet(t, r)
	ds := randomDataset(r, 40, []int{6, 6, 2}, 3)
	tr, err := NewTrainer(g, TrainOptions{Batch: 4, Optimizer: SGD{LR: 0.01}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Fit(ds, FitOptions{Epochs: 1, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	good := tr.Graph()
	tr, err = NewTrainer(good, TrainOptions{Batch: 4, Optimizer: SGD{LR: 1e8}})
	if err != nil {
		t.Fatal(err)
	}
	stats, err := tr.Fit(ds, FitOptions{Epochs: 3, Seed: 4})
	if err == nil || !strings.Contains(err.Error(), "weights of the last completed epoch were kept") {
		t.Fatalf("error %v, want a divergence stop", err)
	}
	if len(stats) != 0 {
		t.Errorf("%d epochs reported as completed", len(stats))
	}
	now := tr.Graph()
	for _, name := range tr.Params() {
		for i, v := range now.Tensor(name).Data {
			if v != good.Tensor(name).Data[i] {
				t.Fatalf("%s changed after the stopped run", name)
			}
		}
	}
}

func TestFitDeterministic(t *testing.T) {
	run := func() []EpochStats {
		r := rand.New(rand.NewSource(12))
		g := smallNet(t, r)
		ds := randomDataset(r, 30, []int{6, 6, 2}, 3)
		tr, err := NewTrainer(g, TrainOptions{Batch: 4, Optimizer: Adam{LR: 1e-2}})
		if err != nil {
			t.Fatal(err)
		}
		st, err := tr.Fit(ds, FitOptions{Epochs: 2, Seed: 9, Schedule: StepDecay(5, 0.5)})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	a, b := run(), run()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("epoch %d differs between two runs with one seed: %+v vs %+v", i, a[i], b[i])
		}
	}
}

// TestFitInSlices runs three epochs with a cosine schedule in one Fit and
// one epoch per Fit (FirstEpoch, EpochsNow): the weights and the epochs'
// statistics must be identical.
func TestFitInSlices(t *testing.T) {
	r := rand.New(rand.NewSource(14))
	g := smallNet(t, r)
	ds := randomDataset(r, 30, []int{6, 6, 2}, 3)
	o := FitOptions{Epochs: 3, Seed: 5, Schedule: Cosine(0.1), ClipNorm: 1}
	whole, _ := NewTrainer(g, TrainOptions{Batch: 4, Optimizer: SGD{LR: 0.1, Momentum: 0.9}})
	want, err := whole.Fit(ds, o)
	if err != nil {
		t.Fatal(err)
	}
	sliced, _ := NewTrainer(g, TrainOptions{Batch: 4, Optimizer: SGD{LR: 0.1, Momentum: 0.9}})
	var got []EpochStats
	for e := range 3 {
		o.FirstEpoch, o.EpochsNow = e, 1
		st, err := sliced.Fit(ds, o)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, st...)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("epoch %d: sliced %+v, whole %+v", i, got[i], want[i])
		}
	}
	if !slices.Equal(sliced.Graph().Tensor("c1/w").Data, whole.Graph().Tensor("c1/w").Data) {
		t.Fatal("the sliced run's weights differ")
	}
	o.FirstEpoch, o.EpochsNow = 2, 2
	if _, err := sliced.Fit(ds, o); err == nil || !strings.Contains(err.Error(), "not within a run of 3") {
		t.Errorf("epochs past the run: %v", err)
	}
}

func TestSchedules(t *testing.T) {
	s := StepDecay(10, 0.5)
	for _, c := range []struct {
		step int
		want float32
	}{{0, 1}, {9, 1}, {10, 0.5}, {25, 0.25}} {
		if got := s(c.step, 100); got != c.want {
			t.Errorf("StepDecay step %d = %v, want %v", c.step, got, c.want)
		}
	}
	cos := Cosine(0.1)
	if cos(0, 11) != 1 || math.Abs(float64(cos(10, 11))-0.1) > 1e-6 || math.Abs(float64(cos(5, 11))-0.55) > 1e-6 {
		t.Errorf("Cosine(0.1) = %v %v %v over 11 steps, want 1 0.55 0.1", cos(0, 11), cos(5, 11), cos(10, 11))
	}
}

func TestClip(t *testing.T) {
	r := rand.New(rand.NewSource(13))
	tr, err := NewTrainer(smallNet(t, r), TrainOptions{Batch: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.lossAndGrad(randData(r, 144, -1, 1), []int32{0, 1}, nil); err != nil {
		t.Fatal(err)
	}
	norm := func() float64 {
		ss := 0.0
		for _, p := range tr.params {
			for _, g := range p.g {
				ss += float64(g) * float64(g)
			}
		}
		return math.Sqrt(ss)
	}
	before := norm()
	tr.clip(float32(before / 4))
	if after := norm(); math.Abs(after-before/4) > 1e-4*before {
		t.Fatalf("clipped norm %g, want %g", after, before/4)
	}
	tr.clip(float32(before)) // above the norm: unchanged
	if after := norm(); math.Abs(after-before/4) > 1e-4*before {
		t.Fatalf("a clip above the norm changed it to %g", after)
	}
}

func TestFitErrors(t *testing.T) {
	r := rand.New(rand.NewSource(14))
	tr, err := NewTrainer(smallNet(t, r), TrainOptions{Batch: 4})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ds   *data.Dataset
		o    FitOptions
		want string
	}{
		{randomDataset(r, 8, []int{5, 5, 2}, 3), FitOptions{Epochs: 1}, "do not fit the model's input"},
		{randomDataset(r, 40, []int{6, 6, 2}, 9), FitOptions{Epochs: 1}, "outside the model's 3 classes"},
		{randomDataset(r, 3, []int{6, 6, 2}, 3), FitOptions{Epochs: 1}, "fewer than one batch"},
		{randomDataset(r, 8, []int{6, 6, 2}, 3), FitOptions{}, "at least one epoch"},
		{&data.Dataset{Shape: []int{6, 6, 2}, Classes: 3}, FitOptions{Epochs: 1}, "empty dataset"},
	} {
		if _, err := tr.Fit(c.ds, c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want one mentioning %q", err, c.want)
		}
	}
}

// TestCheckpointResumes: training 3 steps, checkpointing with the optimiser
// state through the .enn codec, and training 2 more in a new Trainer gives
// bit for bit the weights of 5 uninterrupted steps.
// TestCheckpointResumes stops training after three steps, saves a checkpoint
// with the optimiser's state and resumes from the decoded file: the weights,
// BatchNorm's running statistics and the Dropout masks continue exactly as
// an uninterrupted run's.
func TestCheckpointResumes(t *testing.T) {
	for _, c := range []struct {
		name string
		net  func(*testing.T, *rand.Rand) *model.Graph
		item int
	}{{"small", smallNet, 72}, {"wide (BatchNorm, Dropout)", wideNet, 75}} {
		t.Run(c.name, func(t *testing.T) { checkResume(t, c.net, c.item) })
	}
}

func checkResume(t *testing.T, net func(*testing.T, *rand.Rand) *model.Graph, item int) {
	r := rand.New(rand.NewSource(15))
	g := net(t, r)
	xs := [][]float32{}
	for i := 0; i < 5; i++ {
		xs = append(xs, randData(r, 2*item, -1, 1))
	}
	labels := []int32{0, 2}
	opts := TrainOptions{Batch: 2, Optimizer: Adam{LR: 1e-2}, Seed: 9}
	whole, err := NewTrainer(g, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range xs {
		if _, err := whole.Step(x, labels, nil); err != nil {
			t.Fatal(err)
		}
	}
	first, err := NewTrainer(g, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range xs[:3] {
		first.Step(x, labels, nil)
	}
	enc, err := model.Encode(first.Checkpoint(true))
	if err != nil {
		t.Fatal(err)
	}
	saved, err := model.Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewSession(saved); err != nil {
		t.Fatalf("a Session cannot load a checkpoint with optimiser state: %v", err)
	}
	second, err := NewTrainer(saved, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range xs[3:] {
		second.Step(x, labels, nil)
	}
	a, b := whole.Graph(), second.Graph()
	for _, tn := range a.Tensors {
		for i, v := range tn.Data {
			if b.Tensor(tn.Name).Data[i] != v {
				t.Fatalf("%s[%d]: resumed %v, uninterrupted %v", tn.Name, i, b.Tensor(tn.Name).Data[i], v)
			}
		}
	}
	// Without the state, the resumed run differs (Adam restarts its moments).
	plain, _ := model.Decode(must(model.Encode(first.Checkpoint(false))))
	third, _ := NewTrainer(plain, opts)
	for _, x := range xs[3:] {
		third.Step(x, labels, nil)
	}
	same := true
	for i, v := range third.Graph().Tensor("fc/w").Data {
		same = same && v == a.Tensor("fc/w").Data[i]
	}
	if same {
		t.Error("resuming without optimiser state matched too: the test cannot tell state from no state")
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestFitRejectsBadData(t *testing.T) {
	r := rand.New(rand.NewSource(16))
	tr, err := NewTrainer(smallNet(t, r), TrainOptions{Batch: 4})
	if err != nil {
		t.Fatal(err)
	}
	nan := randomDataset(r, 8, []int{6, 6, 2}, 3)
	nan.X[3*72+5] = float32(math.Inf(1))
	if _, err := tr.Fit(nan, FitOptions{Epochs: 1}); err == nil || !strings.Contains(err.Error(), "example 3 holds a non-finite value (+Inf) at element 5") {
		t.Errorf("Inf in data: %v", err)
	}
	bad := randomDataset(r, 8, []int{6, 6, 2}, 3)
	bad.Y[6] = -1
	if _, err := tr.Fit(bad, FitOptions{Epochs: 1}); err == nil || !strings.Contains(err.Error(), "example 6 has label -1") {
		t.Errorf("label out of range: %v", err)
	}
}
