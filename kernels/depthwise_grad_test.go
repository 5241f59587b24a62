package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// dwGradTestCases are depthwise shapes wide enough for the micro-kernels'
// four-pixel blocks and their channel tails: MobileNet's 3x3 SAME at stride
// 1 and 2, dilation, VALID, and kernels that are not 3x3.
var dwGradTestCases = []convTestCase{
	{"3x3_s1_same_c20", ConvParams{H: 11, W: 13, C: 20, KH: 3, KW: 3, OC: 20, Group: 20, PadTop: 1, PadBottom: 1, PadLeft: 1, PadRight: 1}},
	{"3x3_s2_same_c7", ConvParams{H: 14, W: 17, C: 7, KH: 3, KW: 3, OC: 7, Group: 7, StrideH: 2, StrideW: 2, PadBottom: 1, PadRight: 1}},
	{"3x3_s2_same_odd_c16", ConvParams{H: 13, W: 15, C: 16, KH: 3, KW: 3, OC: 16, Group: 16, StrideH: 2, StrideW: 2, PadTop: 1, PadBottom: 1, PadLeft: 1, PadRight: 1}},
	{"3x3_s1_dil2_c9", ConvParams{H: 12, W: 14, C: 9, KH: 3, KW: 3, OC: 9, Group: 9, DilationH: 2, DilationW: 2, PadTop: 2, PadBottom: 2, PadLeft: 2, PadRight: 2}},
	{"3x3_s2_dil2_c5", ConvParams{H: 15, W: 16, C: 5, KH: 3, KW: 3, OC: 5, Group: 5, StrideH: 2, StrideW: 2, DilationH: 2, DilationW: 2, PadTop: 1, PadLeft: 3}},
	{"3x3_valid_c4", ConvParams{H: 9, W: 12, C: 4, KH: 3, KW: 3, OC: 4, Group: 4}},
	{"5x5_s1_same_c6", ConvParams{H: 10, W: 11, C: 6, KH: 5, KW: 5, OC: 6, Group: 6, PadTop: 2, PadBottom: 2, PadLeft: 2, PadRight: 2}},
	{"7x4_s3x2_c13", ConvParams{H: 17, W: 12, C: 13, KH: 7, KW: 4, OC: 13, Group: 13, StrideH: 3, StrideW: 2, PadTop: 3, PadBottom: 2, PadLeft: 1, PadRight: 2}},
	{"1x1_s2_c8", ConvParams{H: 7, W: 9, C: 8, KH: 1, KW: 1, OC: 8, Group: 8, StrideH: 2, StrideW: 2}},
	{"3x3_mult2_s2_c6", ConvParams{H: 9, W: 11, C: 6, KH: 3, KW: 3, OC: 12, Group: 6, StrideH: 2, StrideW: 2, PadTop: 1, PadBottom: 1, PadLeft: 1, PadRight: 1}},
	{"pad_beyond_kernel_c5", ConvParams{H: 4, W: 5, C: 5, KH: 2, KW: 3, OC: 5, Group: 5, StrideH: 2, StrideW: 3, PadTop: 3, PadBottom: 2, PadLeft: 4, PadRight: 3}},
}

// dwGradRandomShape returns a random depthwise convolution: C not a
// multiple of 4 as often as not, odd sizes, strides 1 to 3, dilation 1 or
// 2, pads from none past the kernel, and a multiplier of 2 now and then.
func dwGradRandomShape(r *rand.Rand) ConvParams {
	for {
		p := ConvParams{H: 1 + r.IntN(14), W: 1 + r.IntN(14), C: 1 + r.IntN(13), KH: 1 + r.IntN(5), KW: 1 + r.IntN(5),
			StrideH: 1 + r.IntN(3), StrideW: 1 + r.IntN(3), DilationH: 1 + r.IntN(2), DilationW: 1 + r.IntN(2)}
		if r.IntN(3) == 0 { // SAME as TensorFlow pads it
			p.KH, p.KW, p.DilationH, p.DilationW = 3, 3, 1, 1
			p.PadBottom, p.PadRight = 1, 1
			if p.StrideH == 1 {
				p.PadTop = 1
			}
			if p.StrideW == 1 {
				p.PadLeft = 1
			}
		} else {
			p.PadTop, p.PadBottom, p.PadLeft, p.PadRight = r.IntN(4), r.IntN(4), r.IntN(4), r.IntN(4)
		}
		p.Group, p.OC = p.C, p.C
		if r.IntN(5) == 0 {
			p.OC *= 2
		}
		if p.C > 1 && p.Validate() == nil {
			return p
		}
	}
}

// TestDepthwiseGrad checks the depthwise InputGrad and FilterGrad
// (overwrite and accumulate) against the float64 backward by definition,
// the adjoint identities and central differences (convGradRun), on the
// table and on random shapes, at batch 1 to 3.
func TestDepthwiseGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(61, 62))
	for i, tc := range dwGradTestCases {
		p := convTestP(tc.p)
		if g, err := NewConv2DGrad(p); err != nil || g.path != convGradDepthwise {
			t.Fatalf("%s: not a depthwise gradient (%v)", tc.name, err)
		}
		convGradRun(t, r, tc.name, p, 1+i%3)
	}
	for i := 0; i < 60; i++ {
		p := dwGradRandomShape(r)
		convGradRun(t, r, fmt.Sprintf("rand%d_%+v", i, p), p, 1+r.IntN(3))
	}
}

// TestDepthwiseGradTapRun holds dwGradTapRun to a brute-force list of the
// taps that reach each coordinate, and dwGradClassOf to dwGradTapRun: its
// interior members, and only they, see all the class's taps.
func TestDepthwiseGradTapRun(t *testing.T) {
	for kn := 1; kn <= 5; kn++ {
		for dil := 1; dil <= 3; dil++ {
			for s := 1; s <= 3; s++ {
				for pad := 0; pad <= 4; pad++ {
					for on := 1; on <= 4; on++ {
						for i := 0; i < 10; i++ {
							var want []int
							for k := kn - 1; k >= 0; k-- {
								if v := i + pad - k*dil; v >= 0 && v%s == 0 && v/s < on {
									want = append(want, k)
								}
							}
							k0, cnt, o0 := dwGradTapRun(i, pad, kn, dil, s, on)
							dk, do := dwGradTapStep(s, dil)
							if cnt != len(want) {
								t.Fatalf("dwGradTapRun(%d,%d,%d,%d,%d,%d) = %d taps, want %v", i, pad, kn, dil, s, on, cnt, want)
							}
							for j, k := range want {
								if k != k0-j*dk || (i+pad-k*dil)/s != o0+j*do {
									t.Fatalf("dwGradTapRun(%d,%d,%d,%d,%d,%d) = %d,%d,%d step %d,%d; want taps %v", i, pad, kn, dil, s, on, k0, cnt, o0, dk, do, want)
								}
							}
						}
						for size := 1; size <= 10; size++ {
							for r := 0; r < min(s, size); r++ {
								n := (size - r + s - 1) / s
								c := dwGradClassOf(r, n, pad, kn, dil, s, on)
								for j := 0; j < n; j++ {
									k0, cnt, o0 := dwGradTapRun(r+j*s, pad, kn, dil, s, on)
									inner := j >= c.lo && j < c.hi
									full := cnt == c.cnt && (cnt == 0 || k0 == c.k0 && o0 == c.o0+j)
									if inner != full {
										t.Fatalf("dwGradClassOf(%d,%d,%d,%d,%d,%d,%d) = %+v; member %d sees %d taps from %d at %d",
											r, n, pad, kn, dil, s, on, c, j, cnt, k0, o0)
									}
								}
							}
						}
					}
				}
			}
		}
	}
}

func TestDepthwiseGradAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(63, 64))
	for _, tc := range dwGradTestCases {
		p := convTestP(tc.p)
		g, err := NewConv2DGrad(p)
		if err != nil {
			t.Fatal(err)
		}
		oh, ow := p.OutSize()
		x, dx := gemmTestRand(r, 2*p.H*p.W*p.C), make([]float32, 2*p.H*p.W*p.C)
		w, dw := gemmTestRand(r, p.KH*p.KW*p.OC), make([]float32, p.KH*p.KW*p.OC)
		dy := gemmTestRand(r, 2*oh*ow*p.OC)
		if a := testing.AllocsPerRun(3, func() {
			g.InputGrad(2, dy, w, dx, nil)
			g.FilterGrad(2, x, dy, dw, nil, true)
		}); a != 0 {
			t.Errorf("%s: %v allocations per run", tc.name, a)
		}
	}
}
