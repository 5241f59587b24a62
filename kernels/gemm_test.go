package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
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
			t.Fatalf("%s: SIMD and scalar differ at [%d]: %v vs %v", name, i, got[i], want[i])
		}
	}
}

// gemmUseScalar runs f with every micro-kernel of this file family switched
// to its scalar twin, then restores the build's choice.
func gemmUseScalar(f func()) {
	panel, row, row4, dw, ct := gemmPanel, gemmRow, gemmRow4, dwRow, convTile
	gemmPanel, gemmRow, gemmRow4, dwRow, convTile = gemmPanelScalar, gemmRowScalar, gemmRow4Scalar, dwRowScalar, convTileScalar
	defer func() { gemmPanel, gemmRow, gemmRow4, dwRow, convTile = panel, row, row4, dw, ct }()
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
