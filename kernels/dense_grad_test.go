package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/edgenn/edgenn/internal/naive"
)

// denseGradShapes cover m, k and n below, at and past the 4-row blocks,
// and LeNet-5's dense layers at batch 3.
var denseGradShapes = []struct{ m, k, n int }{
	{1, 1, 1}, {1, 7, 3}, {3, 5, 9}, {4, 4, 4}, {5, 13, 1}, {7, 3, 17}, {9, 33, 8},
	{3, 400, 120}, {3, 120, 84}, {3, 84, 10},
}

func TestDenseGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	for _, s := range denseGradShapes {
		m, k, n := s.m, s.k, s.n
		x, w, dy := gemmTestRand(r, m*k), gemmTestRand(r, k*n), gemmTestRand(r, m*n)
		x64, w64, dy64 := convGradF64(x), convGradF64(w), convGradF64(dy)

		// Forward: naive.Gemm, and the same in float64 for the identities.
		y := make([]float32, m*n)
		naive.Gemm(m, n, k, x, k, w, n, nil, y, n)
		y64 := make([]float64, m*n)
		forward := func() {
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					var s float64
					for p := 0; p < k; p++ {
						s += x64[i*k+p] * w64[p*n+j]
					}
					y64[i*n+j] = s
				}
			}
		}
		forward()
		for i := range y {
			if float32(y64[i]) != y[i] {
				t.Fatalf("%v: float64 forward y[%d] = %v, naive.Gemm %v", s, i, y64[i], y[i])
			}
		}

		// Backward by definition, with the sums of absolute terms.
		wantDx, dxAbs := make([]float64, m*k), make([]float64, m*k)
		wantDw, dwAbs := make([]float64, k*n), make([]float64, k*n)
		for i := 0; i < m; i++ {
			for p := 0; p < k; p++ {
				for j := 0; j < n; j++ {
					wantDx[i*k+p] += dy64[i*n+j] * w64[p*n+j]
					dxAbs[i*k+p] += math.Abs(dy64[i*n+j] * w64[p*n+j])
					wantDw[p*n+j] += x64[i*k+p] * dy64[i*n+j]
					dwAbs[p*n+j] += math.Abs(x64[i*k+p] * dy64[i*n+j])
				}
			}
		}
		dx, dw := convGradNaN(m*k), convGradNaN(k*n)
		DenseInputGrad(m, k, n, dy, w, dx)
		DenseWeightGrad(m, k, n, x, dy, dw, false)
		convGradClose(t, "dx", dx, wantDx, dxAbs, 1e-5)
		convGradClose(t, "dw", dw, wantDw, dwAbs, 1e-5)

		// Adjoint identities and central differences of <x·w, dy>.
		lhs, lhsAbs := convGradDot(y64, dy64)
		if rx, _ := convGradDot(x64, convGradF64(dx)); math.Abs(lhs-rx) > 1e-5*lhsAbs {
			t.Errorf("%v: <x,dx> = %v, <x·w,dy> = %v", s, rx, lhs)
		}
		if rw, _ := convGradDot(w64, convGradF64(dw)); math.Abs(lhs-rw) > 1e-5*lhsAbs {
			t.Errorf("%v: <w,dw> = %v, <x·w,dy> = %v", s, rw, lhs)
		}
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
				forward()
				lp, _ := convGradDot(y64, dy64)
				c.v[i] = v - h
				forward()
				lm, _ := convGradDot(y64, dy64)
				c.v[i] = v
				fd := (lp - lm) / (2 * h)
				if math.Abs(fd-float64(c.grad[i])) > 1e-5*c.abs[i]+1e-9*lhsAbs {
					t.Errorf("%v: %s[%d] = %v, central difference %v", s, c.name, i, c.grad[i], fd)
				}
			}
		}

		// accumulate adds to what dw holds.
		base := gemmTestRand(r, k*n)
		acc := append([]float32(nil), base...)
		DenseWeightGrad(m, k, n, x, dy, acc, true)
		for i := range wantDw {
			wantDw[i] += float64(base[i])
			dwAbs[i] += math.Abs(float64(base[i]))
		}
		convGradClose(t, "dw accumulated", acc, wantDw, dwAbs, 1e-5)

		if a := testing.AllocsPerRun(3, func() {
			DenseInputGrad(m, k, n, dy, w, dx)
			DenseWeightGrad(m, k, n, x, dy, dw, true)
		}); a != 0 {
			t.Errorf("%v: %v allocations per run", s, a)
		}
	}
}
