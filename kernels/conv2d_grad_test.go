package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/edgenn/edgenn/internal/naive"
)

// convGradTestCases add to the forward's table (convTestCases) the shapes
// the backward pass must get right in particular: blocks of pixels that span
// images, stride and dilation together, groups with padding, depthwise with
// multipliers and strides.
var convGradTestCases = []convTestCase{
	{"5x5_s2_dil2_group2", ConvParams{H: 13, W: 11, C: 4, KH: 5, KW: 3, OC: 6, StrideH: 2, StrideW: 2, DilationH: 2, DilationW: 2, Group: 2, PadTop: 3, PadBottom: 1, PadLeft: 2}},
	{"3x3_s2_dil2_asym", ConvParams{H: 9, W: 10, C: 3, KH: 3, KW: 3, OC: 9, StrideH: 2, StrideW: 2, DilationH: 2, DilationW: 2, PadBottom: 2, PadRight: 1}},
	{"1x1_group2_pointwise", ConvParams{H: 5, W: 3, C: 6, KH: 1, KW: 1, OC: 10, Group: 2}},
	{"c1_oc1", ConvParams{H: 5, W: 6, C: 1, KH: 3, KW: 2, OC: 1, PadTop: 1}},
	{"dw5x5_mult1_same", ConvParams{H: 7, W: 9, C: 5, KH: 5, KW: 5, OC: 5, Group: 5, PadTop: 2, PadBottom: 2, PadLeft: 2, PadRight: 2}},
	{"dw3x3_mult2_s2_asym", ConvParams{H: 9, W: 8, C: 3, KH: 3, KW: 3, OC: 6, Group: 3, StrideH: 2, StrideW: 2, PadBottom: 1, PadRight: 1}},
	{"dw3x3_mult3_dil2", ConvParams{H: 8, W: 7, C: 2, KH: 3, KW: 3, OC: 6, Group: 2, DilationH: 2, DilationW: 2, PadTop: 2, PadBottom: 2, PadLeft: 2, PadRight: 2}},
	{"wide_kg_many_blocks", ConvParams{H: 12, W: 12, C: 16, KH: 5, KW: 5, OC: 12, PadTop: 2, PadBottom: 2, PadLeft: 2, PadRight: 2}},
}

// convGradF64 converts to float64.
func convGradF64(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

// convGradForward64 is the convolution by its definition in float64 (no
// bias): the forward whose gradients the kernels compute.
func convGradForward64(p ConvParams, n int, x, w []float64) []float64 {
	oh, ow := p.OutSize()
	cg, ocg := p.C/p.Group, p.OC/p.Group
	y := make([]float64, n*oh*ow*p.OC)
	for b := 0; b < n; b++ {
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				for o := 0; o < p.OC; o++ {
					g := o / ocg
					var s float64
					for ky := 0; ky < p.KH; ky++ {
						iy := oy*p.StrideH - p.PadTop + ky*p.DilationH
						for kx := 0; kx < p.KW; kx++ {
							ix := ox*p.StrideW - p.PadLeft + kx*p.DilationW
							if iy < 0 || iy >= p.H || ix < 0 || ix >= p.W {
								continue
							}
							for ci := 0; ci < cg; ci++ {
								s += x[((b*p.H+iy)*p.W+ix)*p.C+g*cg+ci] * w[((ky*p.KW+kx)*cg+ci)*p.OC+o]
							}
						}
					}
					y[((b*oh+oy)*ow+ox)*p.OC+o] = s
				}
			}
		}
	}
	return y
}

// convGradBackward64 is the backward pass by its definition in float64:
// every product x*w of the forward sends dy*w to dx and dy*x to dw. It also
// returns, per element, the sum of the absolute values of the terms, which
// bounds the rounding error a float32 kernel may make.
func convGradBackward64(p ConvParams, n int, x, w, dy []float64) (dx, dw, dxAbs, dwAbs []float64) {
	oh, ow := p.OutSize()
	cg, ocg := p.C/p.Group, p.OC/p.Group
	dx, dxAbs = make([]float64, len(x)), make([]float64, len(x))
	dw, dwAbs = make([]float64, len(w)), make([]float64, len(w))
	for b := 0; b < n; b++ {
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				for o := 0; o < p.OC; o++ {
					d := dy[((b*oh+oy)*ow+ox)*p.OC+o]
					g := o / ocg
					for ky := 0; ky < p.KH; ky++ {
						iy := oy*p.StrideH - p.PadTop + ky*p.DilationH
						for kx := 0; kx < p.KW; kx++ {
							ix := ox*p.StrideW - p.PadLeft + kx*p.DilationW
							if iy < 0 || iy >= p.H || ix < 0 || ix >= p.W {
								continue
							}
							for ci := 0; ci < cg; ci++ {
								xi := ((b*p.H+iy)*p.W+ix)*p.C + g*cg + ci
								wi := ((ky*p.KW+kx)*cg+ci)*p.OC + o
								dx[xi] += d * w[wi]
								dxAbs[xi] += math.Abs(d * w[wi])
								dw[wi] += d * x[xi]
								dwAbs[wi] += math.Abs(d * x[xi])
							}
						}
					}
				}
			}
		}
	}
	return dx, dw, dxAbs, dwAbs
}

// convGradDot is the float64 inner product of a and b.
func convGradDot(a, b []float64) (s, abs float64) {
	for i := range a {
		s += a[i] * b[i]
		abs += math.Abs(a[i] * b[i])
	}
	return s, abs
}

// convGradNaN returns n float32 NaNs: buffers a kernel must overwrite, or
// scratch whose contents it must not rely on.
func convGradNaN(n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(math.NaN())
	}
	return s
}

// convGradClose fails unless got[i] is within tol*abs[i] (plus a hair for
// zero sums) of want[i].
func convGradClose(t *testing.T, what string, got []float32, want, abs []float64, tol float64) {
	t.Helper()
	bad := 0
	for i := range want {
		if d := math.Abs(float64(got[i]) - want[i]); !(d <= tol*abs[i]+1e-30) {
			if bad++; bad <= 3 {
				t.Errorf("%s[%d] = %v, want %v (abs sum %v)", what, i, got[i], want[i], abs[i])
			}
		}
	}
	if bad > 3 {
		t.Errorf("%s: %d of %d elements differ", what, bad, len(want))
	}
}

// convGradRun checks InputGrad, FilterGrad (overwrite and accumulate) and
// BiasGrad for p at batch n against the float64 definitions, the adjoint
// identities and central differences of the float64 forward.
func convGradRun(t *testing.T, r *rand.Rand, name string, p ConvParams, n int) {
	t.Run(name, func(t *testing.T) {
		g, err := NewConv2DGrad(p)
		if err != nil {
			t.Fatal(err)
		}
		oh, ow := p.OutSize()
		x := gemmTestRand(r, n*p.H*p.W*p.C)
		w := gemmTestRand(r, p.KH*p.KW*p.C/p.Group*p.OC)
		dy := gemmTestRand(r, n*oh*ow*p.OC)
		x64, w64, dy64 := convGradF64(x), convGradF64(w), convGradF64(dy)

		// The float64 forward is the naive reference's, to float32 rounding.
		y := make([]float32, len(dy))
		naive.Conv2D(naive.ConvParams(p), n, x, w, nil, y)
		y64 := convGradForward64(p, n, x64, w64)
		for i := range y {
			if float32(y64[i]) != y[i] {
				t.Fatalf("float64 forward y[%d] = %v, naive.Conv2D %v", i, y64[i], y[i])
			}
		}

		scratch := convGradNaN(g.ScratchLen())
		dx := convGradNaN(len(x))
		g.InputGrad(n, dy, w, dx, scratch)
		dw := convGradNaN(len(w))
		g.FilterGrad(n, x, dy, dw, scratch, false)

		// Element by element against the backward by definition.
		wantDx, wantDw, dxAbs, dwAbs := convGradBackward64(p, n, x64, w64, dy64)
		convGradClose(t, "dx", dx, wantDx, dxAbs, 1e-5)
		convGradClose(t, "dw", dw, wantDw, dwAbs, 1e-5)

		// The adjoint identities <conv(x,w), dy> = <x, dx> = <w, dw>.
		lhs, lhsAbs := convGradDot(y64, dy64)
		for _, c := range []struct {
			name string
			a, b []float64
		}{{"<x,dx>", x64, convGradF64(dx)}, {"<w,dw>", w64, convGradF64(dw)}} {
			rhs, _ := convGradDot(c.a, c.b)
			if math.Abs(lhs-rhs) > 1e-5*lhsAbs {
				t.Errorf("adjoint %s = %v, <conv(x,w),dy> = %v", c.name, rhs, lhs)
			}
		}
		// The reference backward itself is the adjoint of the forward to
		// float64 rounding.
		if rx, _ := convGradDot(x64, wantDx); math.Abs(lhs-rx) > 1e-12*lhsAbs {
			t.Errorf("reference <x,dx> = %v, <conv(x,w),dy> = %v", rx, lhs)
		}

		// Central differences of L(x, w) = <conv(x,w), dy> at a few random
		// coordinates of x and of w.
		loss := func() float64 { l, _ := convGradDot(convGradForward64(p, n, x64, w64), dy64); return l }
		for _, c := range []struct {
			name string
			v    []float64
			grad []float32
			abs  []float64
		}{{"dx", x64, dx, dxAbs}, {"dw", w64, dw, dwAbs}} {
			for range 3 {
				i := r.IntN(len(c.v))
				const h = 1e-3
				v := c.v[i]
				c.v[i] = v + h
				lp := loss()
				c.v[i] = v - h
				lm := loss()
				c.v[i] = v
				fd := (lp - lm) / (2 * h)
				if math.Abs(fd-float64(c.grad[i])) > 1e-5*c.abs[i]+1e-9*lhsAbs {
					t.Errorf("%s[%d] = %v, central difference %v", c.name, i, c.grad[i], fd)
				}
			}
		}

		// accumulate adds to what dw holds.
		base := gemmTestRand(r, len(w))
		acc := append([]float32(nil), base...)
		g.FilterGrad(n, x, dy, acc, scratch, true)
		accAbs := make([]float64, len(w))
		want := make([]float64, len(w))
		for i := range want {
			want[i] = float64(base[i]) + wantDw[i]
			accAbs[i] = math.Abs(float64(base[i])) + dwAbs[i]
		}
		convGradClose(t, "dw accumulated", acc, want, accAbs, 1e-5)

		// BiasGrad over the rows of dy: the gradient of a bias in the
		// forward, checked against naive.Conv2D's bias by the same identity.
		db := convGradNaN(p.OC)
		BiasGrad(n*oh*ow, p.OC, dy, db, false)
		wantDb, dbAbs := make([]float64, p.OC), make([]float64, p.OC)
		for i, v := range dy64 {
			wantDb[i%p.OC] += v
			dbAbs[i%p.OC] += math.Abs(v)
		}
		convGradClose(t, "db", db, wantDb, dbAbs, 1e-5)
		BiasGrad(n*oh*ow, p.OC, dy, db, true)
		for i := range wantDb {
			wantDb[i] *= 2
			dbAbs[i] *= 2
		}
		convGradClose(t, "db accumulated", db, wantDb, dbAbs, 1e-5)
	})
}

func TestConv2DGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for i, tc := range append(append([]convTestCase(nil), convTestCases...), convGradTestCases...) {
		convGradRun(t, r, tc.name, convTestP(tc.p), 1+2*(i%2)) // batch 1 and 3
	}
}

func TestConv2DGradRandomShapes(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	for i := 0; i < 80; i++ {
		p := ConvParams{H: 1 + r.IntN(9), W: 1 + r.IntN(9), KH: 1 + r.IntN(5), KW: 1 + r.IntN(5),
			StrideH: 1 + r.IntN(3), StrideW: 1 + r.IntN(3), DilationH: 1 + r.IntN(2), DilationW: 1 + r.IntN(2),
			PadTop: r.IntN(3), PadBottom: r.IntN(3), PadLeft: r.IntN(3), PadRight: r.IntN(3)}
		switch r.IntN(3) {
		case 0:
			p.C, p.OC, p.Group = 1+r.IntN(10), 1+r.IntN(12), 1
		case 1: // depthwise, multiplier 1 or 2
			p.C = 1 + r.IntN(12)
			p.Group, p.OC = p.C, p.C*(1+r.IntN(2))
		default:
			p.Group = 1 + r.IntN(3)
			p.C, p.OC = p.Group*(1+r.IntN(4)), p.Group*(1+r.IntN(4))
		}
		if p.Validate() != nil {
			continue
		}
		convGradRun(t, r, fmt.Sprintf("rand%d_%+v", i, p), p, 1+r.IntN(3))
	}
}

// TestConv2DGradPath checks that the tables reach every path.
func TestConv2DGradPath(t *testing.T) {
	seen := map[int]bool{}
	for _, tc := range append(append([]convTestCase(nil), convTestCases...), convGradTestCases...) {
		g, err := NewConv2DGrad(convTestP(tc.p))
		if err != nil {
			t.Fatal(tc.name, err)
		}
		seen[g.path] = true
	}
	for _, path := range []int{convGradGemm, convGradPointwise, convGradDepthwise} {
		if !seen[path] {
			t.Errorf("no test case takes path %d", path)
		}
	}
	if _, err := NewConv2DGrad(ConvParams{H: 4, W: 4, C: 3, KH: 3, KW: 3, OC: 4, StrideH: 1, StrideW: 1, DilationH: 1, DilationW: 1, Group: 2}); err == nil {
		t.Error("NewConv2DGrad accepted Group 2 with C = 3")
	}
}

func TestConv2DGradAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	for _, tc := range append(append([]convTestCase(nil), convTestCases...), convGradTestCases...) {
		p := convTestP(tc.p)
		g, err := NewConv2DGrad(p)
		if err != nil {
			t.Fatal(err)
		}
		oh, ow := p.OutSize()
		x, dx := gemmTestRand(r, 2*p.H*p.W*p.C), make([]float32, 2*p.H*p.W*p.C)
		w, dw := gemmTestRand(r, p.KH*p.KW*p.C/p.Group*p.OC), make([]float32, p.KH*p.KW*p.C/p.Group*p.OC)
		dy, db := gemmTestRand(r, 2*oh*ow*p.OC), make([]float32, p.OC)
		scratch := make([]float32, g.ScratchLen())
		if a := testing.AllocsPerRun(3, func() {
			g.InputGrad(2, dy, w, dx, scratch)
			g.FilterGrad(2, x, dy, dw, scratch, true)
			BiasGrad(2*oh*ow, p.OC, dy, db, true)
		}); a != 0 {
			t.Errorf("%s: %v allocations per run", tc.name, a)
		}
	}
}

// TestConvGradSpan holds convGradSpan to a brute-force count.
func TestConvGradSpan(t *testing.T) {
	for off := -7; off <= 7; off++ {
		for s := 1; s <= 3; s++ {
			for w := 1; w <= 5; w++ {
				for a := 0; a <= 6; a++ {
					for b := a; b <= 8; b++ {
						lo, hi := convGradSpan(off, s, w, a, b)
						if lo < a || hi < lo || hi > b {
							t.Fatalf("convGradSpan(%d,%d,%d,%d,%d) = [%d,%d) outside [a,b)", off, s, w, a, b, lo, hi)
						}
						for ox := a; ox < b; ox++ {
							in := ox*s+off >= 0 && ox*s+off < w
							if in != (ox >= lo && ox < hi) {
								t.Fatalf("convGradSpan(%d,%d,%d,%d,%d) = [%d,%d), wrong at ox=%d", off, s, w, a, b, lo, hi, ox)
							}
						}
					}
				}
			}
		}
	}
}
