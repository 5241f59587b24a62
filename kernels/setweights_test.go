package kernels

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestSetWeights: a convolution or dense layer built with one set of weights
// and given another by SetWeights computes exactly what one built with the
// second set computes, on every path, without allocating.
func TestSetWeights(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	for _, tc := range convTestCases {
		p := convTestP(tc.p)
		n := p.KH * p.KW * p.C / p.Group * p.OC
		for _, withBias := range []bool{false, true} {
			ep := Epilogue{Act: ActReLU6}
			var b1, b2 []float32
			if withBias {
				b1, b2 = gemmTestRand(r, p.OC), gemmTestRand(r, p.OC)
				ep.Bias = b1
			}
			w1, w2 := gemmTestRand(r, n), gemmTestRand(r, n)
			c, err := NewConv2D(p, w1, ep)
			if err != nil {
				t.Fatal(err)
			}
			if a := testing.AllocsPerRun(5, func() { c.SetWeights(w2, b2) }); a != 0 {
				t.Errorf("%s: SetWeights allocates %v times", tc.name, a)
			}
			ep.Bias = b2
			fresh, err := NewConv2D(p, w2, ep)
			if err != nil {
				t.Fatal(err)
			}
			oh, ow := p.OutSize()
			x := gemmTestRand(r, 2*p.H*p.W*p.C)
			got, want := make([]float32, 2*oh*ow*p.OC), make([]float32, 2*oh*ow*p.OC)
			c.Run(2, x, got, make([]float32, c.ScratchLen()))
			fresh.Run(2, x, want, make([]float32, fresh.ScratchLen()))
			gemmTestIdentical(t, tc.name+"/SetWeights", got, want)
		}
	}
	c, _ := NewConv2D(convTestP(convTestCases[0].p), make([]float32, 9*11), Epilogue{})
	if err := c.SetWeights(make([]float32, 3), nil); err == nil || !strings.Contains(err.Error(), "len(w)") {
		t.Errorf("short weights: %v", err)
	}
	if err := c.SetWeights(make([]float32, 9*11), make([]float32, 11)); err == nil || !strings.Contains(err.Error(), "bias") {
		t.Errorf("bias for a bias-less conv: %v", err)
	}

	d, err := NewDense(7, 5, gemmTestRand(r, 35), Epilogue{Bias: gemmTestRand(r, 5)})
	if err != nil {
		t.Fatal(err)
	}
	w2, b2 := gemmTestRand(r, 35), gemmTestRand(r, 5)
	if err := d.SetWeights(w2, b2); err != nil {
		t.Fatal(err)
	}
	fresh, _ := NewDense(7, 5, w2, Epilogue{Bias: b2})
	x := gemmTestRand(r, 3*7)
	got, want := make([]float32, 15), make([]float32, 15)
	d.Run(3, x, got, make([]float32, d.ScratchLen()))
	fresh.Run(3, x, want, make([]float32, fresh.ScratchLen()))
	gemmTestIdentical(t, "Dense/SetWeights", got, want)
	if err := d.SetWeights(w2[:3], nil); err == nil {
		t.Error("Dense.SetWeights accepted short weights")
	}
}
