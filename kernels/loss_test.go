package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// ce64 is the mean softmax cross-entropy in float64 against target rows t
// (one-hot rows for labels), written out without the max shift.
func ce64(x, t []float64, n, k int) float64 {
	var l float64
	for i := range n {
		var s float64
		for j := range k {
			s += math.Exp(x[i*k+j])
		}
		for j := range k {
			if t[i*k+j] != 0 {
				l -= t[i*k+j] * (x[i*k+j] - math.Log(s))
			}
		}
	}
	return l / float64(n)
}

func TestSoftmaxCrossEntropy(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for _, s := range [][2]int{{1, 1}, {1, 2}, {3, 5}, {8, 10}, {2, 100}} {
		n, k := s[0], s[1]
		x := randVec(r, n*k)
		for i := range x {
			x[i] *= 3
		}
		labels := make([]int32, n)
		onehot := make([]float64, n*k)
		for i := range labels {
			labels[i] = int32(r.IntN(k))
			onehot[i*k+int(labels[i])] = 1
		}
		d := randVec(r, n*k)
		loss, err := SoftmaxCrossEntropy(x, labels, n, k, d)
		if err != nil {
			t.Fatal(err)
		}
		x64 := to64(x)
		if want := ce64(x64, onehot, n, k); math.Abs(loss-want) > 1e-12*max(1, want) {
			t.Fatalf("ce %dx%d: loss %v, want %v", n, k, loss, want)
		}
		f := func(v []float64) float64 { return ce64(v, onehot, n, k) }
		for i := range x {
			checkGrad(t, "ce grad", i, d[i], fdAt(f, x64, i), 1e-6, 1/float64(n))
		}
		// In place, and without a gradient.
		in := append([]float32(nil), x...)
		if l2, _ := SoftmaxCrossEntropy(in, labels, n, k, in); l2 != loss {
			t.Fatalf("ce in place: loss %v, want %v", l2, loss)
		}
		checkExact(t, "ce in place", in, d)
		if l3, _ := SoftmaxCrossEntropy(x, labels, n, k, nil); l3 != loss {
			t.Fatalf("ce without grad: loss %v, want %v", l3, loss)
		}
		// Soft targets: the one-hot rows give the same loss and gradient.
		t32 := make([]float32, n*k)
		for i, v := range onehot {
			t32[i] = float32(v)
		}
		ds := make([]float32, n*k)
		if ls := SoftmaxCrossEntropySoft(x, t32, n, k, ds); math.Abs(ls-loss) > 1e-12*max(1, loss) {
			t.Fatalf("soft ce with one-hot: %v, want %v", ls, loss)
		}
		checkClose(t, "soft ce grad one-hot", ds, d, 1e-7)
	}
}

// TestSoftmaxCrossEntropyHand pins small cases worked by hand, large
// logits included.
func TestSoftmaxCrossEntropyHand(t *testing.T) {
	cases := []struct {
		x     []float32
		label []int32
		k     int
		loss  float64
		grad  []float32
	}{
		{[]float32{0, 0}, []int32{0}, 2, math.Ln2, []float32{-0.5, 0.5}},
		// log(e+e^2+e^3) - 3
		{[]float32{1, 2, 3}, []int32{2}, 3, math.Log(math.E+math.Exp(2)+math.Exp(3)) - 3,
			[]float32{float32(math.E / (math.E + math.Exp(2) + math.Exp(3))), float32(math.Exp(2) / (math.E + math.Exp(2) + math.Exp(3))), float32(math.Exp(3)/(math.E+math.Exp(2)+math.Exp(3)) - 1)}},
		// Two rows, mean: row 0 loss 1000 (no overflow), row 1 loss ln 2.
		{[]float32{1000, 0, 5, 5}, []int32{1, 0}, 2, (1000 + math.Ln2) / 2, []float32{0.5, -0.5, -0.25, 0.25}},
		{[]float32{-1000, 1000}, []int32{1}, 2, 0, []float32{0, 0}},
	}
	for _, c := range cases {
		n := len(c.label)
		d := make([]float32, len(c.x))
		loss, err := SoftmaxCrossEntropy(c.x, c.label, n, c.k, d)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(loss-c.loss) > 1e-12*max(1, c.loss) {
			t.Fatalf("ce %v: loss %v, want %v", c.x, loss, c.loss)
		}
		checkClose(t, "ce hand grad", d, c.grad, 1e-7)
	}
	d := []float32{0.5, 0.5, 0.5, 0.5, 0.5, 0.5}
	_, err := SoftmaxCrossEntropy(make([]float32, 6), []int32{0, 3, -1}, 3, 2, d)
	wantErr(t, "label out of range", err, "SoftmaxCrossEntropy", "label 3", "row 1", "[0, 2)")
	checkExact(t, "nothing written on error", d, []float32{0.5, 0.5, 0.5, 0.5, 0.5, 0.5})
	_, err = SoftmaxCrossEntropy(make([]float32, 4), []int32{0, -1}, 2, 2, nil)
	wantErr(t, "negative label", err, "label -1", "row 1")
}

func TestSoftmaxCrossEntropySoft(t *testing.T) {
	r := rand.New(rand.NewPCG(43, 44))
	for _, s := range [][2]int{{1, 3}, {4, 6}, {3, 20}} {
		n, k := s[0], s[1]
		x := randVec(r, n*k)
		for _, norm := range []bool{true, false} {
			tg := make([]float32, n*k)
			for i := range n {
				var sum float32
				for j := range k {
					tg[i*k+j] = r.Float32()
					sum += tg[i*k+j]
				}
				if norm {
					for j := range k {
						tg[i*k+j] /= sum
					}
				}
			}
			d := make([]float32, n*k)
			loss := SoftmaxCrossEntropySoft(x, tg, n, k, d)
			x64, t64 := to64(x), to64(tg)
			if want := ce64(x64, t64, n, k); math.Abs(loss-want) > 1e-12*max(1, want) {
				t.Fatalf("soft ce: loss %v, want %v", loss, want)
			}
			f := func(v []float64) float64 { return ce64(v, t64, n, k) }
			for i := range x {
				checkGrad(t, "soft ce grad", i, d[i], fdAt(f, x64, i), 1e-6, 1/float64(n))
			}
		}
	}
	// Hand case: uniform logits, target [1, 0]: loss ln 2, grad [-0.5, 0.5].
	d := make([]float32, 2)
	if l := SoftmaxCrossEntropySoft([]float32{3, 3}, []float32{1, 0}, 1, 2, d); math.Abs(l-math.Ln2) > 1e-15 {
		t.Fatalf("soft ce hand: %v", l)
	}
	checkExact(t, "soft ce hand grad", d, []float32{-0.5, 0.5})
}

func TestMSE(t *testing.T) {
	r := rand.New(rand.NewPCG(45, 46))
	for _, n := range []int{1, 7, 100} {
		p, q := randVec(r, n), randVec(r, n)
		d := make([]float32, n)
		loss := MSE(p, q, d)
		q64 := to64(q)
		f := func(v []float64) float64 {
			var s float64
			for i := range v {
				s += (v[i] - q64[i]) * (v[i] - q64[i])
			}
			return s / float64(n)
		}
		p64 := to64(p)
		if want := f(p64); math.Abs(loss-want) > 1e-13*max(1, want) {
			t.Fatalf("mse: %v, want %v", loss, want)
		}
		for i := range p {
			checkGrad(t, "mse grad", i, d[i], fdAt(f, p64, i), 1e-6, 1/float64(n))
		}
	}
	d := make([]float32, 2)
	if l := MSE([]float32{1, 3}, []float32{0, 0}, d); l != 5 {
		t.Fatalf("mse hand: %v, want 5", l)
	}
	checkExact(t, "mse hand grad", d, []float32{1, 3})
	if l := MSE(nil, nil, nil); l != 0 {
		t.Fatalf("mse empty: %v", l)
	}
}

func TestLossNoAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(47, 48))
	x, tg, d := randVec(r, 320), randVec(r, 320), make([]float32, 320)
	labels := make([]int32, 32)
	checkNoAllocs(t, "SoftmaxCrossEntropy", func() { _, _ = SoftmaxCrossEntropy(x, labels, 32, 10, d) })
	checkNoAllocs(t, "SoftmaxCrossEntropySoft", func() { SoftmaxCrossEntropySoft(x, tg, 32, 10, d) })
	checkNoAllocs(t, "MSE", func() { MSE(x, tg, d) })
}
