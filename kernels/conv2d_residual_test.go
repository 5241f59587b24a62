package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// convResTestCases adds to convTestCases 1x1 convolutions whose GEMM spans
// several row blocks (gemmBlockRows), leaves rows after the last tile of a
// block (m % 4 != 0), has a panel narrower than 8 (OC % 8 != 0) and, for
// OC = 44, enough panels for the leftover rows' 4-panel kernel: every part
// of gemm's residual path.
var convResTestCases = []convTestCase{
	{"res_1x1_h24w25_c5_oc11", ConvParams{H: 24, W: 25, C: 5, KH: 1, KW: 1, OC: 11}},
	{"res_1x1_h16w16_c24_oc24", ConvParams{H: 16, W: 16, C: 24, KH: 1, KW: 1, OC: 24}},
	{"res_1x1_h16w16_c24_oc28", ConvParams{H: 16, W: 16, C: 24, KH: 1, KW: 1, OC: 28}},
	{"res_1x1_h7w9_c24_oc28", ConvParams{H: 7, W: 9, C: 24, KH: 1, KW: 1, OC: 28}},
	{"res_1x1_h9w11_c100_oc44", ConvParams{H: 9, W: 11, C: 100, KH: 1, KW: 1, OC: 44}},
	{"res_1x1_h3w1_c6_oc16", ConvParams{H: 3, W: 1, C: 6, KH: 1, KW: 1, OC: 16}},
}

// TestConv2DRunAdd checks RunAdd on every path against the three steps it
// fuses (the convolution without activation, hot.binSame's add, then
// ActivateInPlace), bit for bit, with the build's micro-kernels and their
// scalar twins, and Run on the same convolution against the linear one
// followed by ActivateInPlace.
func TestConv2DRunAdd(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, tc := range append(append([]convTestCase(nil), convTestCases...), convResTestCases...) {
		p := convTestP(tc.p)
		for ei, ep := range gemmTestEpilogues {
			for _, n := range []int{1, 3} {
				withBias := (ei+n)%2 == 1
				convTestRunAdd(t, r, fmt.Sprintf("%s/act%d/n%d/bias%v", tc.name, ep.Act, n, withBias), p, n, ep, withBias, ei == 1)
			}
		}
	}
}

func convTestRunAdd(t *testing.T, r *rand.Rand, name string, p ConvParams, n int, ep Epilogue, withBias, allocs bool) {
	t.Helper()
	w := gemmTestRand(r, p.KH*p.KW*p.C/p.Group*p.OC)
	for i := range w {
		w[i] *= 3 // reach the clamps
	}
	if withBias {
		ep.Bias = gemmTestRand(r, p.OC)
	}
	lin, err := NewConv2D(p, w, Epilogue{Bias: ep.Bias})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	ep.Residual = true
	c, err := NewConv2D(p, w, ep)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	oh, ow := p.OutSize()
	out := n * oh * ow * p.OC
	x := gemmTestRand(r, n*p.H*p.W*p.C)
	res := gemmTestRand(r, out)
	for i := range res {
		res[i] *= 4
	}
	// Special residuals: NaN, infinities (the sum then is one, or NaN),
	// signed zeros.
	for i, v := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.Copysign(0, -1)), 0} {
		if j := i * 7; j < out {
			res[j] = v
		}
	}
	xc, resc := append([]float32(nil), x...), append([]float32(nil), res...)

	scratch := make([]float32, max(c.ScratchLen(), lin.ScratchLen())+5)
	want := make([]float32, out)
	lin.Run(n, x, want, scratch)
	lact := append([]float32(nil), want...)
	ActivateInPlace(lact, ep)
	hot.binSame(BinAdd, want, res, want)
	ActivateInPlace(want, ep)

	// y and scratch carry sentinels past their ends: RunAdd must not touch them.
	y := make([]float32, out+5)
	for i := range y {
		y[i] = 777
	}
	for i := range scratch {
		scratch[i] = 777
	}
	sl := c.ScratchLen()
	c.RunAdd(n, x, res, y[:out], scratch[:sl])
	gemmTestIdenticalNaN(t, name+"/RunAdd", y[:out], want)
	for _, v := range append(y[out:], scratch[sl:sl+5]...) {
		if v != 777 {
			t.Fatalf("%s: RunAdd wrote past the end of y or scratch", name)
		}
	}
	gemmTestIdenticalNaN(t, name+"/x unchanged", x, xc)
	gemmTestIdenticalNaN(t, name+"/res unchanged", res, resc)

	y2 := make([]float32, out)
	gemmUseScalar(func() { c.RunAdd(n, x, res, y2, scratch) })
	gemmTestIdenticalNaN(t, name+"/RunAdd scalar", y2, want)
	if c.path == convPointwise {
		// gemm's residual path itself, which native builds' RunAdd leaves
		// to the post pass (parSlots > 1).
		epr := c.act
		epr.Bias = c.ep.Bias
		m := n * p.H * p.W
		for _, scalar := range []bool{false, true} {
			clear(y2)
			run := func() { gemm(m, x, p.C, c.b[0], epr, y2, p.OC, scratch, res) }
			if scalar {
				gemmUseScalar(run)
			} else {
				run()
			}
			gemmTestIdenticalNaN(t, fmt.Sprintf("%s/gemm scalar=%v", name, scalar), y2, want)
		}
	}

	clear(y2)
	c.Run(n, x, y2, scratch)
	gemmTestIdenticalNaN(t, name+"/Run", y2, lact)

	if allocs {
		if a := testing.AllocsPerRun(3, func() { c.RunAdd(n, x, res, y[:out], scratch) }); a != 0 {
			t.Errorf("%s: RunAdd allocates %v times", name, a)
		}
	}
}

// TestConv2DRunAddPanics checks that RunAdd names what is wrong: a
// convolution built without Residual, a short residual.
func TestConv2DRunAddPanics(t *testing.T) {
	p := convTestP(ConvParams{H: 4, W: 4, C: 3, KH: 1, KW: 1, OC: 8})
	w := make([]float32, p.C*p.OC)
	plain, err := NewConv2D(p, w, Epilogue{Act: ActReLU})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewConv2D(p, w, Epilogue{Act: ActReLU, Residual: true})
	if err != nil {
		t.Fatal(err)
	}
	x, y, s := make([]float32, 16*3), make([]float32, 16*8), make([]float32, c.ScratchLen())
	for _, tc := range []struct {
		name, want string
		f          func()
	}{
		{"no residual", "without Epilogue.Residual", func() { plain.RunAdd(1, x, y, make([]float32, len(y)), s) }},
		{"short res", "len(res)=127", func() { c.RunAdd(1, x, y[:127], make([]float32, len(y)), s) }},
		{"short y", "RunAdd", func() { c.RunAdd(1, x, y, y[:127], s) }},
	} {
		func() {
			defer func() {
				msg, _ := recover().(string)
				if !strings.Contains(msg, tc.want) {
					t.Errorf("%s: panic %q, want one naming %q", tc.name, msg, tc.want)
				}
			}()
			tc.f()
		}()
	}
}
