package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestDepthwiseMobileNetShapes runs the depthwise layers of MobileNetV1
// (3x3, stride 1 and 2, SAME padding as TF pads it) at reduced size against
// the reference, with relu6 fused and not.
func TestDepthwiseMobileNetShapes(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, s := range []struct{ hw, c, stride int }{
		{16, 8, 1}, {16, 16, 2}, {8, 32, 1}, {8, 64, 2}, {5, 128, 1}, {4, 256, 2}, {3, 4, 1}, {2, 4, 2}, {1, 8, 1},
		// Stride-1 rows of 4k+1..4k+3 pixels (an overlapping last group of
		// 4) and C not a multiple of 4 (channels left to the scalar twin).
		{6, 12, 1}, {7, 6, 1}, {11, 5, 1}, {9, 24, 1},
	} {
		p := ConvParams{H: s.hw, W: s.hw, C: s.c, KH: 3, KW: 3, OC: s.c, Group: s.c,
			StrideH: s.stride, StrideW: s.stride, DilationH: 1, DilationW: 1}
		if s.stride == 1 {
			p.PadTop, p.PadBottom, p.PadLeft, p.PadRight = 1, 1, 1, 1
		} else {
			p.PadBottom, p.PadRight = 1, 1 // TF SAME with stride 2 on even sizes
		}
		for _, ep := range []Epilogue{{Act: ActReLU6}, {Act: ActHardSwish}} {
			for _, n := range []int{1, 3} {
				convTestRun(t, r, fmt.Sprintf("dw_%dx%dx%d_s%d/act%d/n%d", s.hw, s.hw, s.c, s.stride, ep.Act, n), p, n, ep, true)
			}
		}
	}
}

// TestDepthwiseInterior checks the split of a row into border and interior
// pixels against the definition, for strides, pads and dilations that move
// the interior's ends.
func TestDepthwiseInterior(t *testing.T) {
	for _, p := range []ConvParams{
		{H: 1, W: 10, C: 4, KH: 1, KW: 3, StrideW: 1, DilationW: 1, PadLeft: 1, PadRight: 1},
		{H: 1, W: 10, C: 4, KH: 1, KW: 3, StrideW: 2, DilationW: 1, PadLeft: 2, PadRight: 0},
		{H: 1, W: 10, C: 4, KH: 1, KW: 3, StrideW: 3, DilationW: 2, PadLeft: 3, PadRight: 5},
		{H: 1, W: 3, C: 4, KH: 1, KW: 3, StrideW: 1, DilationW: 2, PadLeft: 2, PadRight: 2},
	} {
		p.OC, p.Group, p.StrideH, p.DilationH = p.C, p.C, 1, 1
		defer func(l int) { dwPadLimit = l }(dwPadLimit)
		dwPadLimit = 0 // the split is for images too large to pad
		d := newDWConv(p, make([]float32, p.KW*p.C), Epilogue{})
		if d.q != p || d.padLen != 0 {
			t.Fatalf("%+v: padded with dwPadLimit 0", p)
		}
		for ox := 0; ox < d.ow; ox++ {
			ix0 := ox*p.StrideW - p.PadLeft
			lo, hi := dwTapRange(ix0, p.KW, p.DilationW, p.W)
			full := lo == 0 && hi == p.KW
			if in := ox >= d.oxA && ox < d.oxB; in && !full {
				t.Errorf("%+v: ox %d treated as interior, taps [%d,%d)", p, ox, lo, hi)
			}
		}
	}
}

// TestDepthwiseBorders runs every depthwise case of the conv table with
// padding done by the border split instead of a padded copy.
func TestDepthwiseBorders(t *testing.T) {
	defer func(l int) { dwPadLimit = l }(dwPadLimit)
	dwPadLimit = 0
	r := rand.New(rand.NewPCG(19, 20))
	for _, tc := range convTestCases {
		p := convTestP(tc.p)
		if p.Group != p.C || p.OC != p.C || p.C == 1 {
			continue
		}
		for _, ep := range []Epilogue{{Act: ActReLU6}, {Act: ActTanh}} {
			convTestRun(t, r, fmt.Sprintf("%s/borders/act%d", tc.name, ep.Act), p, 2, ep, true)
		}
	}
}
