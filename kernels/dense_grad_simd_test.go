//go:build goexperiment.simd && go1.27 && wasm

package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestDenseGradSIMDMatchesScalar holds the SIMD micro-kernels to their
// scalar twins bit for bit, on every length from 0 to 40 (full vectors and
// every tail) and on values that include NaN, infinities, signed zeros and
// subnormals.
func TestDenseGradSIMDMatchesScalar(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
		float32(math.NaN()), 0x1p-149, 3e38, -3e38}
	fill := func(n int) []float32 {
		s := gemmTestRand(r, n)
		for i := range s {
			if r.IntN(16) == 0 {
				s[i] = special[r.IntN(len(special))]
			}
		}
		return s
	}
	same := func(a, b float32) bool {
		return math.Float32bits(a) == math.Float32bits(b) || (a != a && b != b)
	}
	for n := 0; n <= 40; n++ {
		for range 20 {
			w, d0, d1, d2, d3 := fill(n), fill(n), fill(n), fill(n), fill(n)
			g0, g1, g2, g3 := denseDot4SIMD(w, d0, d1, d2, d3)
			e0, e1, e2, e3 := denseDot4Scalar(w, d0, d1, d2, d3)
			if !same(g0, e0) || !same(g1, e1) || !same(g2, e2) || !same(g3, e3) {
				t.Fatalf("n=%d: denseDot4SIMD = %v %v %v %v, scalar %v %v %v %v", n, g0, g1, g2, g3, e0, e1, e2, e3)
			}
			a := fill(4)
			row := fill(n)
			want := append([]float32(nil), row...)
			denseAxpy4SIMD(row, d0, d1, d2, d3, a[0], a[1], a[2], a[3])
			denseAxpy4Scalar(want, d0, d1, d2, d3, a[0], a[1], a[2], a[3])
			for j := range row {
				if !same(row[j], want[j]) {
					t.Fatalf("n=%d: denseAxpy4SIMD[%d] = %v, scalar %v", n, j, row[j], want[j])
				}
			}
		}
	}
}

// TestDenseGradSIMDWhole runs DenseInputGrad and DenseWeightGrad on the
// shared shape table with the SIMD micro-kernels and with the scalar twins
// and requires the same bits.
func TestDenseGradSIMDWhole(t *testing.T) {
	r := rand.New(rand.NewPCG(53, 54))
	for _, s := range denseGradShapes {
		x, w, dy := gemmTestRand(r, s.m*s.k), gemmTestRand(r, s.k*s.n), gemmTestRand(r, s.m*s.n)
		run := func() (dx, dw []float32) {
			dx, dw = make([]float32, s.m*s.k), gemmTestRand(rand.New(rand.NewPCG(1, 2)), s.k*s.n)
			DenseInputGrad(s.m, s.k, s.n, dy, w, dx)
			DenseWeightGrad(s.m, s.k, s.n, x, dy, dw, true)
			return dx, dw
		}
		dx, dw := run()
		denseDot4, denseAxpy4 = denseDot4Scalar, denseAxpy4Scalar
		dx2, dw2 := run()
		denseDot4, denseAxpy4 = denseDot4SIMD, denseAxpy4SIMD
		for _, c := range []struct {
			name      string
			got, want []float32
		}{{"dx", dx, dx2}, {"dw", dw, dw2}} {
			for i := range c.got {
				if math.Float32bits(c.got[i]) != math.Float32bits(c.want[i]) {
					t.Fatalf("%v %s[%d]: SIMD %v, scalar %v", s, c.name, i, c.got[i], c.want[i])
				}
			}
		}
	}
}
