//go:build goexperiment.simd && go1.27 && wasm

package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestDepthwiseGradSIMDMatchesScalar runs the depthwise InputGrad and
// FilterGrad (accumulating into a random dw) with the SIMD micro-kernels and
// with their scalar twins, on the table and on random shapes, with values
// that include NaN, infinities, signed zeros and subnormals, and requires
// the same bits (any NaN matching any NaN).
func TestDepthwiseGradSIMDMatchesScalar(t *testing.T) {
	r := rand.New(rand.NewPCG(65, 66))
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
		float32(math.NaN()), 0x1p-149, 3e38, -3e38}
	fill := func(n int) []float32 {
		s := gemmTestRand(r, n)
		for i := range s {
			if r.IntN(64) == 0 {
				s[i] = special[r.IntN(len(special))]
			}
		}
		return s
	}
	var ps []ConvParams
	for _, tc := range dwGradTestCases {
		ps = append(ps, convTestP(tc.p))
	}
	for range 100 {
		ps = append(ps, dwGradRandomShape(r))
	}
	defer func() { dwGradInputRow, dwGradFilterRow = dwGradInputRowSIMD, dwGradFilterRowSIMD }()
	for i, p := range ps {
		g, err := NewConv2DGrad(p)
		if err != nil {
			t.Fatal(err)
		}
		n := 1 + i%3
		oh, ow := p.OutSize()
		x, w, dy := fill(n*p.H*p.W*p.C), fill(p.KH*p.KW*p.OC), fill(n*oh*ow*p.OC)
		dw0 := fill(len(w))
		run := func() (dx, dw []float32) {
			dx, dw = convGradNaN(len(x)), append([]float32(nil), dw0...)
			g.InputGrad(n, dy, w, dx, nil)
			g.FilterGrad(n, x, dy, dw, nil, true)
			return dx, dw
		}
		dwGradInputRow, dwGradFilterRow = dwGradInputRowSIMD, dwGradFilterRowSIMD
		dx, dw := run()
		dwGradInputRow, dwGradFilterRow = dwGradInputRowScalar, dwGradFilterRowScalar
		dx2, dw2 := run()
		for _, c := range []struct {
			name      string
			got, want []float32
		}{{"dx", dx, dx2}, {"dw", dw, dw2}} {
			for j := range c.got {
				a, b := c.got[j], c.want[j]
				if math.Float32bits(a) != math.Float32bits(b) && !(a != a && b != b) {
					t.Fatalf("%s %+v n=%d %s[%d]: SIMD %v, scalar %v", fmt.Sprint(i), p, n, c.name, j, a, b)
				}
			}
		}
	}
}
