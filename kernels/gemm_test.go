package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"testing"

	"github.com/edgenn/edgenn/internal/naive"
)

// gemmTestEpilogues is every activation an epilogue can apply, with
// parameters that make each one do something on values in [-8, 8].
var gemmTestEpilogues = []Epilogue{
	{Act: ActNone}, {Act: ActReLU}, {Act: ActReLU6}, {Act: ActLeakyReLU, Alpha: 0.1},
	{Act: ActSigmoid}, {Act: ActTanh}, {Act: ActHardSwish}, {Act: ActClip, Lo: -0.5, Hi: 0.7},
}

func gemmTestRand(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

func gemmTestAbs(s []float32) []float32 {
	a := make([]float32, len(s))
	for i, v := range s {
		a[i] = float32(math.Abs(float64(v)))
	}
	return a
}

// gemmTestClose checks got against want element by element. mag[i] is the
// sum of the absolute values of the terms behind want[i] (the reference run
// on absolute inputs): float32 summation in another order may differ from the
// float64 reference by a few ulps of mag, not of want.
func gemmTestClose(t *testing.T, name string, got, want, mag []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: len %d, want %d", name, len(got), len(want))
	}
	bad := 0
	for i := range got {
		tol := 1e-5*float64(mag[i]) + 1e-6
		if d := math.Abs(float64(got[i]) - float64(want[i])); !(d <= tol) {
			if bad < 5 {
				t.Errorf("%s: [%d] = %v, want %v (tol %.3g)", name, i, got[i], want[i], tol)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d elements differ", name, bad, len(got))
	}
}

// gemmTestIdentical checks that got and want have the same bits.
func gemmTestIdentical(t *testing.T, name string, got, want []float32) {
	t.Helper()
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: SIMD and scalar differ at [%d]: %v (%#08x) vs %v (%#08x)", name, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
}

// gemmTestIdenticalNaN is gemmTestIdentical where a NaN may have any bits:
// which NaN an operation returns is the hardware's (or V8's) choice, and Go's
// scalar max and min do not keep a NaN operand's bits either.
func gemmTestIdenticalNaN(t *testing.T, name string, got, want []float32) {
	t.Helper()
	for i := range got {
		g, w := got[i], want[i]
		if g != g && w != w {
			continue
		}
		if math.Float32bits(g) != math.Float32bits(w) {
			t.Fatalf("%s: SIMD and scalar differ at [%d]: %v (%#08x) vs %v (%#08x)", name, i, g, math.Float32bits(g), w, math.Float32bits(w))
		}
	}
}

// gemmUseScalar runs f with every micro-kernel of this file family switched
// to its scalar twin, then restores the build's choice.
func gemmUseScalar(f func()) {
	panel, panel2, row, row4, pres, dw, ct := gemmPanel, gemmPanel2, gemmRow, gemmRow4, gemmPanelRes, dwRow, convTile
	gemmPanel, gemmPanel2, gemmRow, gemmRow4, gemmPanelRes = gemmPanelScalar, gemmPanel2Scalar, gemmRowScalar, gemmRow4Scalar, gemmPanelResScalar
	dwRow, convTile = dwRowScalar, convTileScalar
	defer func() {
		gemmPanel, gemmPanel2, gemmRow, gemmRow4, gemmPanelRes, dwRow, convTile = panel, panel2, row, row4, pres, dw, ct
	}()
	f()
}

func TestGemm(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	shapes := []struct{ m, k, n int }{
		{1, 1, 1}, {1, 400, 120}, {1, 120, 84}, {3, 84, 10}, {4, 8, 8}, {5, 7, 9},
		{7, 27, 8}, {13, 33, 17}, {64, 16, 32}, {100, 150, 16}, {33, 256, 24}, {9, 0, 5},
		// row kernel on 4 panels (m < 4 and leftover rows), an edge panel after
		// them, and several row blocks (gemmBlockRows) with leftover rows
		{3, 40, 70}, {6, 17, 64}, {2, 5, 33}, {1030, 8, 21}, {70, 150, 40}, {4, 0, 32},
	}
	for _, s := range shapes {
		for ei, ep := range gemmTestEpilogues {
			for _, withBias := range []bool{false, true} {
				name := fmt.Sprintf("m%d_k%d_n%d_act%d_bias%v", s.m, s.k, s.n, ep.Act, withBias)
				lda, ldc := s.k+ei%3, s.n+(ei+1)%3 // strides wider than the rows, sometimes
				a := gemmTestRand(r, max(0, (s.m-1)*lda+s.k))
				b := gemmTestRand(r, s.k*s.n)
				for i := range b {
					b[i] *= 4 // reach the clamps
				}
				if withBias {
					ep.Bias = gemmTestRand(r, s.n)
				} else {
					ep.Bias = nil
				}
				want := make([]float32, s.m*s.n)
				mag := make([]float32, s.m*s.n)
				naive.Gemm(s.m, s.n, s.k, a, lda, b, s.n, ep.Bias, want, s.n)
				var absBias []float32
				if withBias {
					absBias = gemmTestAbs(ep.Bias)
				}
				naive.Gemm(s.m, s.n, s.k, gemmTestAbs(a), lda, gemmTestAbs(b), s.n, absBias, mag, s.n)
				Activate(want, ep)

				pb := PackB(b, s.k, s.n, make([]float32, PackedBLen(s.k, s.n)))
				c := make([]float32, max(0, (s.m-1)*ldc+s.n)+3)
				for i := range c {
					c[i] = 1234 // sentinel: columns past n and the tail must survive
				}
				Gemm(s.m, a, lda, pb, ep, c, ldc, make([]float32, GemmScratchLen(s.k)))
				got := make([]float32, 0, s.m*s.n)
				for i := 0; i < s.m; i++ {
					got = append(got, c[i*ldc:i*ldc+s.n]...)
					for j := s.n; j < ldc && i*ldc+j < len(c); j++ {
						if c[i*ldc+j] != 1234 {
							t.Fatalf("%s: wrote c[%d,%d] past n", name, i, j)
						}
					}
				}
				for _, v := range c[len(c)-3:] {
					if v != 1234 {
						t.Fatalf("%s: wrote past the end of c", name)
					}
				}
				gemmTestClose(t, name, got, want, mag)

				c2 := make([]float32, len(c))
				gemmUseScalar(func() { Gemm(s.m, a, lda, pb, ep, c2, ldc, make([]float32, GemmScratchLen(s.k))) })
				for i := 0; i < s.m; i++ {
					gemmTestIdentical(t, name, c[i*ldc:i*ldc+s.n], c2[i*ldc:i*ldc+s.n])
				}
			}
		}
	}
}

func TestDense(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, s := range []struct{ m, k, n int }{{1, 400, 120}, {3, 120, 84}, {32, 84, 10}} {
		w := gemmTestRand(r, s.k*s.n)
		bias := gemmTestRand(r, s.n)
		wOrig, biasOrig := append([]float32(nil), w...), append([]float32(nil), bias...)
		ep := Epilogue{Bias: bias, Act: ActReLU}
		d, err := NewDense(s.k, s.n, w, ep)
		if err != nil {
			t.Fatal(err)
		}
		w[0], bias[0] = 100, 100 // NewDense must have copied both
		x := gemmTestRand(r, s.m*s.k)
		y := make([]float32, s.m*s.n)
		scratch := make([]float32, d.ScratchLen())
		d.Run(s.m, x, y, scratch)
		want := make([]float32, s.m*s.n)
		mag := make([]float32, s.m*s.n)
		naive.Gemm(s.m, s.n, s.k, x, s.k, wOrig, s.n, biasOrig, want, s.n)
		naive.Gemm(s.m, s.n, s.k, gemmTestAbs(x), s.k, gemmTestAbs(wOrig), s.n, gemmTestAbs(biasOrig), mag, s.n)
		Activate(want, ep)
		gemmTestClose(t, fmt.Sprint("dense", s), y, want, mag)
		if n := testing.AllocsPerRun(5, func() { d.Run(s.m, x, y, scratch) }); n != 0 {
			t.Errorf("Dense.Run allocates %v times", n)
		}
	}
}

func TestNewDenseErrors(t *testing.T) {
	for _, c := range []struct {
		k, n int
		w    []float32
		ep   Epilogue
	}{
		{0, 3, nil, Epilogue{}},
		{2, -1, nil, Epilogue{}},
		{2, 3, make([]float32, 5), Epilogue{}},
		{2, 3, make([]float32, 6), Epilogue{Bias: make([]float32, 2)}},
		{2, 3, make([]float32, 6), Epilogue{Act: ActClip, Lo: 1, Hi: 0}},
		{1 << 30, 1 << 30, nil, Epilogue{}},
	} {
		if _, err := NewDense(c.k, c.n, c.w, c.ep); err == nil {
			t.Errorf("NewDense(%d, %d, len %d, %+v) succeeded", c.k, c.n, len(c.w), c.ep)
		}
	}
}

// gemmTestSpecialEpilogues are clamps at and around the signed zeros, where
// a vector max or min may disagree with Go's, and NaN bounds.
var gemmTestSpecialEpilogues = []Epilogue{
	{Act: ActNone}, {Act: ActReLU}, {Act: ActReLU6},
	{Act: ActClip, Lo: float32(math.Copysign(0, -1)), Hi: 1},
	{Act: ActClip, Lo: float32(math.Copysign(0, -1)), Hi: 0},
	{Act: ActClip, Lo: -1, Hi: float32(math.Copysign(0, -1))},
	{Act: ActClip, Lo: 0, Hi: 0},
	{Act: ActClip, Lo: float32(math.NaN()), Hi: 1},
	{Act: ActClip, Lo: -1, Hi: float32(math.NaN())},
}

// gemmTestSpecials fills a [m,k] and b [k,n] with values that reach NaN,
// infinities, signed zeros and sums of exactly zero, each output element
// meeting at most one NaN payload (which of two a sum keeps is the
// hardware's choice, not the kernel's order): row 1 of a is zero (sums of
// +0, and -0 products), row 2 carries a NaN with a payload, row 3 an
// infinity, row 5 is negated zero; column 2 of b is zero, column 9 has an
// infinity that meets a zero of row 4 (Inf*0, the default NaN).
func gemmTestSpecials(r *rand.Rand, m, k, n int) (a, b []float32) {
	negz := float32(math.Copysign(0, -1))
	a, b = gemmTestRand(r, m*k), gemmTestRand(r, k*n)
	for p := 0; p < k; p++ {
		a[1*k+p] = 0
		a[5*k+p] = negz
		b[p*n+2] = 0
	}
	a[2*k+3] = math.Float32frombits(0x7fc01234)
	a[3*k+1] = float32(math.Inf(-1))
	a[4*k+5] = 0
	b[5*n+9] = float32(math.Inf(1))
	return a, b
}

// TestGemmSpecialValues holds the build's micro-kernels to their scalar
// twins, bit for bit (NaN for NaN), on NaN, infinities and signed zeros, through every
// kernel Gemm has (4-row tiles, the 4-panel and 1-panel row kernels and the
// narrow edge panel), with and without a bias that holds -0 and +0.
func TestGemmSpecialValues(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const m, k, n = 11, 13, 45 // 2 tiles + 3 rows; 5 full panels + 5 columns
	a, b := gemmTestSpecials(r, m, k, n)
	pb := PackB(b, k, n, make([]float32, PackedBLen(k, n)))
	bias := gemmTestRand(r, n)
	bias[0], bias[1], bias[2] = 0, float32(math.Copysign(0, -1)), float32(math.Copysign(0, -1))
	for ei, ep := range gemmTestSpecialEpilogues {
		for _, ep.Bias = range [][]float32{nil, bias} {
			name := fmt.Sprintf("ep%d_bias%v", ei, ep.Bias != nil)
			got, want := make([]float32, m*n), make([]float32, m*n)
			Gemm(m, a, k, pb, ep, got, n, make([]float32, GemmScratchLen(k)))
			gemmUseScalar(func() { Gemm(m, a, k, pb, ep, want, n, make([]float32, GemmScratchLen(k))) })
			gemmTestIdenticalNaN(t, name, got, want)
		}
	}
}

// TestConv2DSpecialValues is TestGemmSpecialValues for the direct
// convolution's micro-kernel (convTile, both of its SIMD loops) and the
// depthwise one (dwRow).
func TestConv2DSpecialValues(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 6))
	for _, p := range []ConvParams{
		convTestP(ConvParams{H: 9, W: 11, C: 3, KH: 3, KW: 3, OC: 13, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1}),
		convTestP(ConvParams{H: 9, W: 11, C: 1, KH: 3, KW: 3, OC: 13, StrideH: 2, StrideW: 2}),
		// depthwise: the 3x3 stride-1 tile, the 3x3 row, the KxK row
		convTestP(ConvParams{H: 9, W: 11, C: 13, KH: 3, KW: 3, OC: 13, Group: 13, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1}),
		convTestP(ConvParams{H: 9, W: 11, C: 13, KH: 3, KW: 3, OC: 13, Group: 13, StrideH: 2, StrideW: 2}),
		convTestP(ConvParams{H: 9, W: 11, C: 13, KH: 5, KW: 5, OC: 13, Group: 13, PadTop: 2, PadLeft: 2, PadBottom: 2, PadRight: 2}),
	} {
		w := gemmTestRand(r, p.KH*p.KW*p.C/p.Group*p.OC)
		w[5*p.OC+9%p.OC] = float32(math.Inf(1))
		x := gemmTestRand(r, p.H*p.W*p.C)
		negz := float32(math.Copysign(0, -1))
		for i := 0; i < p.W*p.C; i++ {
			x[2*p.W*p.C+i] = 0 // an input row of zeros
			x[6*p.W*p.C+i] = negz
		}
		x[4*p.W*p.C+3] = math.Float32frombits(0x7fc04321)
		for ei, ep := range gemmTestSpecialEpilogues {
			for _, ep.Bias = range [][]float32{nil, gemmTestRand(r, p.OC)} {
				name := fmt.Sprintf("%+v/ep%d_bias%v", p, ei, ep.Bias != nil)
				c, err := NewConv2D(p, w, ep)
				if err != nil {
					if ep.Act == ActClip && (ep.Lo != ep.Lo || ep.Hi != ep.Hi) {
						continue // NewConv2D may refuse NaN bounds
					}
					t.Fatalf("%s: %v", name, err)
				}
				oh, ow := p.OutSize()
				got, want := make([]float32, oh*ow*p.OC), make([]float32, oh*ow*p.OC)
				scratch := make([]float32, c.ScratchLen())
				c.Run(1, x, got, scratch)
				gemmUseScalar(func() { c.Run(1, x, want, scratch) })
				gemmTestIdenticalNaN(t, name, got, want)
			}
		}
	}
}

// TestGemmPath checks which micro-kernels this process runs: all SIMD
// exactly when GemmSIMD says so, else all scalar. With EDGENN_WANT_SIMD_GEMM
// set to 1 or 0 (a make target that builds for SIMD sets 1) it also checks
// that GemmSIMD says what the caller built for, so that a build that lost
// the simd experiment, or a CPU check that failed, cannot pass as SIMD.
func TestGemmPath(t *testing.T) {
	pc := func(f any) uintptr { return reflect.ValueOf(f).Pointer() }
	type kernel struct {
		name        string
		cur, scalar any
	}
	kernels := []kernel{
		{"gemmPanel", gemmPanel, gemmPanelScalar},
		{"gemmRow", gemmRow, gemmRowScalar},
		{"gemmRow4", gemmRow4, gemmRow4Scalar},
		{"convTile", convTile, convTileScalar},
		{"dwRow", dwRow, dwRowScalar},
	}
	if gemmWide {
		kernels = append(kernels, kernel{"gemmPanel2", gemmPanel2, gemmPanel2Scalar})
	}
	for _, k := range kernels {
		if simd := pc(k.cur) != pc(k.scalar); simd != GemmSIMD() {
			t.Errorf("%s: SIMD %v, but GemmSIMD() = %v", k.name, simd, GemmSIMD())
		}
	}
	switch want := os.Getenv("EDGENN_WANT_SIMD_GEMM"); want {
	case "":
	case "0", "1":
		if GemmSIMD() != (want == "1") {
			t.Fatalf("EDGENN_WANT_SIMD_GEMM=%s but GemmSIMD() = %v", want, GemmSIMD())
		}
	default:
		t.Fatalf("EDGENN_WANT_SIMD_GEMM=%q: want 0, 1 or unset", want)
	}
}
