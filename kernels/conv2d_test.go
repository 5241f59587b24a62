package kernels

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/edgenn/edgenn/internal/naive"
)

// convTestCase is one convolution of the shared table.
type convTestCase struct {
	name string
	p    ConvParams
}

// convTestP fills in stride, dilation and group defaults of 1.
func convTestP(p ConvParams) ConvParams {
	for _, f := range []*int{&p.StrideH, &p.StrideW, &p.DilationH, &p.DilationW, &p.Group} {
		if *f == 0 {
			*f = 1
		}
	}
	return p
}

var convTestCases = []convTestCase{
	{"1x1", ConvParams{H: 5, W: 7, C: 9, KH: 1, KW: 1, OC: 11}},
	{"1x1_s2", ConvParams{H: 9, W: 8, C: 8, KH: 1, KW: 1, OC: 16, StrideH: 2, StrideW: 2}},
	{"3x3_valid", ConvParams{H: 7, W: 6, C: 3, KH: 3, KW: 3, OC: 5}},
	{"3x3_same", ConvParams{H: 8, W: 8, C: 4, KH: 3, KW: 3, OC: 8, PadTop: 1, PadBottom: 1, PadLeft: 1, PadRight: 1}},
	{"3x3_s2_sameasym", ConvParams{H: 16, W: 15, C: 3, KH: 3, KW: 3, OC: 8, StrideH: 2, StrideW: 2, PadBottom: 1, PadRight: 1}},
	{"5x5_same_lenet1", ConvParams{H: 28, W: 28, C: 1, KH: 5, KW: 5, OC: 6, PadTop: 2, PadBottom: 2, PadLeft: 2, PadRight: 2}},
	{"5x5_valid_lenet2", ConvParams{H: 14, W: 14, C: 6, KH: 5, KW: 5, OC: 16}},
	{"3x2_dil2", ConvParams{H: 9, W: 10, C: 5, KH: 3, KW: 2, OC: 7, DilationH: 2, DilationW: 2, PadTop: 2, PadLeft: 1}},
	{"explicit_pads", ConvParams{H: 6, W: 5, C: 2, KH: 3, KW: 4, OC: 3, StrideH: 1, StrideW: 3, PadTop: 3, PadBottom: 0, PadLeft: 2, PadRight: 4}},
	{"group2", ConvParams{H: 6, W: 7, C: 6, KH: 3, KW: 3, OC: 10, Group: 2, PadTop: 1, PadBottom: 1, PadLeft: 1, PadRight: 1}},
	{"group3_1x1", ConvParams{H: 4, W: 4, C: 9, KH: 1, KW: 1, OC: 6, Group: 3}},
	{"dw3x3", ConvParams{H: 9, W: 11, C: 8, KH: 3, KW: 3, OC: 8, Group: 8, PadTop: 1, PadBottom: 1, PadLeft: 1, PadRight: 1}},
	{"dw3x3_s2_oddC", ConvParams{H: 10, W: 9, C: 7, KH: 3, KW: 3, OC: 7, Group: 7, StrideH: 2, StrideW: 2, PadBottom: 1, PadRight: 1}},
	{"dw3x3_valid_c13", ConvParams{H: 6, W: 7, C: 13, KH: 3, KW: 3, OC: 13, Group: 13}},
	{"dw5x5_dil2", ConvParams{H: 12, W: 11, C: 12, KH: 5, KW: 5, OC: 12, Group: 12, DilationH: 2, DilationW: 2, PadTop: 4, PadBottom: 3, PadLeft: 2, PadRight: 4}},
	// BlazeFace's depthwise layers: 5x5, SAME, stride 1 and 2 (dwRowKxKSIMD).
	{"dw5x5_same_blazeface", ConvParams{H: 13, W: 14, C: 24, KH: 5, KW: 5, OC: 24, Group: 24, PadTop: 2, PadBottom: 2, PadLeft: 2, PadRight: 2}},
	{"dw5x5_s2_c30", ConvParams{H: 12, W: 11, C: 30, KH: 5, KW: 5, OC: 30, Group: 30, StrideH: 2, StrideW: 2, PadTop: 1, PadBottom: 2, PadLeft: 1, PadRight: 2}},
	{"dw_bigpad", ConvParams{H: 3, W: 3, C: 4, KH: 3, KW: 3, OC: 4, Group: 4, PadTop: 4, PadBottom: 4, PadLeft: 4, PadRight: 4}},
	{"dw_mult2", ConvParams{H: 7, W: 8, C: 6, KH: 3, KW: 3, OC: 12, Group: 6, PadTop: 1, PadBottom: 1, PadLeft: 1, PadRight: 1}},
	{"1x1_c1", ConvParams{H: 5, W: 5, C: 1, KH: 1, KW: 1, OC: 3, Group: 1}},
	// The direct path (one group, DilationW 1): C = 1..4, OC below, at and
	// above a panel (OC < 8 stores overlapping rows), stride 1 and 2, every
	// pad, output widths that leave 0..3 pixels after the row's last tile.
	{"direct_c1_oc5_same", ConvParams{H: 9, W: 11, C: 1, KH: 3, KW: 3, OC: 5, PadTop: 1, PadBottom: 1, PadLeft: 1, PadRight: 1}},
	{"direct_c2_oc9_s2", ConvParams{H: 13, W: 10, C: 2, KH: 3, KW: 3, OC: 9, StrideH: 2, StrideW: 2, PadBottom: 1, PadLeft: 2}},
	{"direct_c3_oc7_stem", ConvParams{H: 17, W: 16, C: 3, KH: 3, KW: 3, OC: 7, StrideH: 2, StrideW: 2, PadBottom: 1, PadRight: 1}},
	{"direct_c3_oc8_stem", ConvParams{H: 16, W: 16, C: 3, KH: 3, KW: 3, OC: 8, StrideH: 2, StrideW: 2, PadBottom: 1, PadRight: 1}},
	{"direct_c4_oc16_5x5", ConvParams{H: 10, W: 7, C: 4, KH: 5, KW: 5, OC: 16, PadTop: 2, PadBottom: 2, PadLeft: 2, PadRight: 2}},
	{"direct_c4_oc13_s1x2", ConvParams{H: 8, W: 13, C: 4, KH: 2, KW: 4, OC: 13, StrideW: 2, PadTop: 1, PadRight: 3}},
	{"direct_c3_oc8_dilh2", ConvParams{H: 12, W: 9, C: 3, KH: 3, KW: 2, OC: 8, DilationH: 2, PadTop: 1, PadLeft: 1}},
	{"direct_c1_oc3_narrow", ConvParams{H: 6, W: 3, C: 1, KH: 2, KW: 2, OC: 3}},
	{"direct_c2_oc1_asym", ConvParams{H: 5, W: 9, C: 2, KH: 1, KW: 3, OC: 1, StrideW: 2, PadLeft: 1, PadRight: 3}},
	{"direct_c1_oc6_lenet1_odd", ConvParams{H: 13, W: 13, C: 1, KH: 5, KW: 5, OC: 6, PadTop: 2, PadBottom: 2, PadLeft: 2, PadRight: 2}},
	// Segments (KW*C) either side of convTileShort (8), where the SIMD
	// build switches between its one-tap and unrolled tile loops.
	{"direct_c1_oc6_seg4", ConvParams{H: 9, W: 9, C: 1, KH: 4, KW: 4, OC: 6, StrideH: 2}},
	{"direct_c7_oc6_seg7", ConvParams{H: 6, W: 9, C: 7, KH: 3, KW: 1, OC: 6, PadTop: 1, PadBottom: 1}},
	{"direct_c2_oc10_seg8", ConvParams{H: 7, W: 10, C: 2, KH: 2, KW: 4, OC: 10, PadLeft: 1, PadRight: 2}},
}

// TestConv2DPath checks which way NewConv2D compiles a convolution: the
// table above must reach every path.
func TestConv2DPath(t *testing.T) {
	for _, c := range []struct {
		p    ConvParams
		path int
	}{
		{ConvParams{H: 128, W: 128, C: 3, KH: 3, KW: 3, OC: 8, StrideH: 2, StrideW: 2, PadBottom: 1, PadRight: 1}, convDirect},
		{ConvParams{H: 28, W: 28, C: 1, KH: 5, KW: 5, OC: 6, PadTop: 2, PadBottom: 2, PadLeft: 2, PadRight: 2}, convDirect},
		{ConvParams{H: 14, W: 14, C: 6, KH: 5, KW: 5, OC: 16}, convDirect},
		{ConvParams{H: 9, W: 8, C: 8, KH: 1, KW: 1, OC: 16, StrideH: 2, StrideW: 2}, convDirect},
		{ConvParams{H: 9, W: 10, C: 5, KH: 3, KW: 2, OC: 7, DilationW: 2}, convIm2col},
		{ConvParams{H: 6, W: 7, C: 6, KH: 3, KW: 3, OC: 10, Group: 2}, convIm2col},
		{ConvParams{H: 1100, W: 1100, C: 1, KH: 3, KW: 3, OC: 4, PadTop: 1}, convIm2col}, // padded copy too large
		{ConvParams{H: 5, W: 7, C: 9, KH: 1, KW: 1, OC: 11}, convPointwise},
		{ConvParams{H: 9, W: 11, C: 8, KH: 3, KW: 3, OC: 8, Group: 8}, convDepthwise},
	} {
		p := convTestP(c.p)
		conv, err := NewConv2D(p, make([]float32, p.KH*p.KW*p.C/p.Group*p.OC), Epilogue{})
		if err != nil {
			t.Fatal(err)
		}
		if conv.path != c.path {
			t.Errorf("%+v: path %d, want %d", p, conv.path, c.path)
		}
	}
}

// convTestRun checks one convolution against naive.Conv2D for batch n, and
// the build's micro-kernels against the scalar twins, bit for bit.
func convTestRun(t *testing.T, r *rand.Rand, name string, p ConvParams, n int, ep Epilogue, withBias bool) {
	t.Helper()
	kg := p.KH * p.KW * p.C / p.Group
	w := gemmTestRand(r, kg*p.OC)
	for i := range w {
		w[i] *= 3 // reach the clamps
	}
	if withBias {
		ep.Bias = gemmTestRand(r, p.OC)
	}
	c, err := NewConv2D(p, w, ep)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if c.Params() != p {
		t.Fatalf("%s: Params() = %+v", name, c.Params())
	}
	oh, ow := p.OutSize()
	x := gemmTestRand(r, n*p.H*p.W*p.C)
	want := make([]float32, n*oh*ow*p.OC)
	mag := make([]float32, len(want))
	naive.Conv2D(naive.ConvParams(p), n, x, w, ep.Bias, want)
	var absBias []float32
	if withBias {
		absBias = gemmTestAbs(ep.Bias)
	}
	naive.Conv2D(naive.ConvParams(p), n, gemmTestAbs(x), gemmTestAbs(w), absBias, mag)
	Activate(want, ep)

	// y and scratch carry sentinels past their ends: Run must not touch them.
	y := make([]float32, len(want)+5)
	scratch := make([]float32, c.ScratchLen()+5)
	for i := range y {
		y[i] = 777
	}
	for i := range scratch {
		scratch[i] = 777
	}
	xc := append([]float32(nil), x...)
	c.Run(n, x, y[:len(want)], scratch[:c.ScratchLen()])
	gemmTestClose(t, name, y[:len(want)], want, mag)
	for _, v := range append(y[len(want):], scratch[c.ScratchLen():]...) {
		if v != 777 {
			t.Fatalf("%s: wrote past the end of y or scratch", name)
		}
	}
	for i := range x {
		if x[i] != xc[i] {
			t.Fatalf("%s: Run wrote into x", name)
		}
	}
	y2 := make([]float32, len(want))
	gemmUseScalar(func() { c.Run(n, x, y2, scratch) })
	gemmTestIdentical(t, name+"/scalar", y[:len(want)], y2)
	c.Run(n, x, y2, scratch) // again, after the scratch was used: same result
	gemmTestIdentical(t, name+"/rerun", y[:len(want)], y2)
}

func TestConv2D(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, tc := range convTestCases {
		p := convTestP(tc.p)
		for ei, ep := range gemmTestEpilogues {
			for _, n := range []int{1, 3} {
				withBias := (ei+n)%2 == 0
				convTestRun(t, r, fmt.Sprintf("%s/act%d/n%d/bias%v", tc.name, ep.Act, n, withBias), p, n, ep, withBias)
			}
		}
	}
}

func TestConv2DRandomShapes(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for i := 0; i < 60; i++ {
		p := ConvParams{H: 1 + r.IntN(12), W: 1 + r.IntN(12), KH: 1 + r.IntN(4), KW: 1 + r.IntN(4),
			StrideH: 1 + r.IntN(3), StrideW: 1 + r.IntN(3), DilationH: 1 + r.IntN(2), DilationW: 1 + r.IntN(2),
			PadTop: r.IntN(3), PadBottom: r.IntN(3), PadLeft: r.IntN(3), PadRight: r.IntN(3)}
		switch r.IntN(3) {
		case 0: // dense
			p.C, p.OC, p.Group = 1+r.IntN(10), 1+r.IntN(20), 1
		case 1: // depthwise, multiplier 1 or 2
			p.C = 1 + r.IntN(20)
			p.Group, p.OC = p.C, p.C*(1+r.IntN(2))
		default:
			p.Group = 1 + r.IntN(3)
			p.C, p.OC = p.Group*(1+r.IntN(4)), p.Group*(1+r.IntN(5))
		}
		if p.Validate() != nil {
			continue
		}
		ep := gemmTestEpilogues[r.IntN(len(gemmTestEpilogues))]
		convTestRun(t, r, fmt.Sprintf("rand%d_%+v", i, p), p, 1+r.IntN(2), ep, r.IntN(2) == 0)
	}
}

func TestConv2DAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, tc := range convTestCases {
		p := convTestP(tc.p)
		for _, ep := range []Epilogue{{Act: ActReLU6}, {Act: ActSigmoid}} {
			c, err := NewConv2D(p, gemmTestRand(r, p.KH*p.KW*p.C/p.Group*p.OC), ep)
			if err != nil {
				t.Fatal(err)
			}
			oh, ow := p.OutSize()
			x, y := gemmTestRand(r, 2*p.H*p.W*p.C), make([]float32, 2*oh*ow*p.OC)
			scratch := make([]float32, c.ScratchLen())
			if a := testing.AllocsPerRun(3, func() { c.Run(2, x, y, scratch) }); a != 0 {
				t.Errorf("%s: Run allocates %v times", tc.name, a)
			}
		}
	}
}

func TestConvParamsValidate(t *testing.T) {
	ok := convTestP(ConvParams{H: 4, W: 4, C: 4, KH: 3, KW: 3, OC: 4})
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid params rejected: %v", err)
	}
	for _, c := range []struct {
		field string
		edit  func(*ConvParams)
	}{
		{"H", func(p *ConvParams) { p.H = 0 }},
		{"W", func(p *ConvParams) { p.W = -2 }},
		{"C", func(p *ConvParams) { p.C = 0 }},
		{"KH", func(p *ConvParams) { p.KH = 0 }},
		{"OC", func(p *ConvParams) { p.OC = -1 }},
		{"StrideW", func(p *ConvParams) { p.StrideW = 0 }},
		{"DilationH", func(p *ConvParams) { p.DilationH = 0 }},
		{"PadLeft", func(p *ConvParams) { p.PadLeft = -1 }},
		{"Group", func(p *ConvParams) { p.Group = 0 }},
		{"Group", func(p *ConvParams) { p.Group = 3 }},                     // does not divide C
		{"Group", func(p *ConvParams) { p.Group, p.OC = 2, 5 }},            // does not divide OC
		{"KH", func(p *ConvParams) { p.KH = 5 }},                           // larger than the input
		{"KW", func(p *ConvParams) { p.KW, p.DilationW = 3, 2 }},           // dilated, larger than the input
		{"H", func(p *ConvParams) { p.H = 1 << 32 }},                       // beyond the cap
		{"input", func(p *ConvParams) { p.H, p.W, p.C = 1<<16, 1<<16, 1 }}, // product beyond the cap
		{"output", func(p *ConvParams) { p.H, p.W, p.C, p.OC = 1<<15, 1<<15, 1, 4 }},
		{"weights", func(p *ConvParams) { p.C, p.OC, p.H, p.W, p.KH, p.KW = 1<<14, 1<<14, 64, 64, 4, 4 }},
	} {
		p := ok
		c.edit(&p)
		err := p.Validate()
		if err == nil {
			t.Errorf("%+v: accepted, want an error naming %s", p, c.field)
		} else if !strings.Contains(err.Error(), c.field) {
			t.Errorf("%+v: error %q does not name %s", p, err, c.field)
		}
		if _, err := NewConv2D(p, nil, Epilogue{}); err == nil {
			t.Errorf("%+v: NewConv2D accepted", p)
		}
	}
	if _, err := NewConv2D(ok, make([]float32, 5), Epilogue{}); err == nil {
		t.Error("NewConv2D accepted weights of the wrong length")
	}
	if _, err := NewConv2D(ok, make([]float32, 9*4*4), Epilogue{Bias: make([]float32, 3)}); err == nil {
		t.Error("NewConv2D accepted a bias of the wrong length")
	}
}
