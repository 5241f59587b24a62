//go:build goexperiment.simd && go1.27 && wasm

package kernels

import (
	"math"
	"simd/archsimd"
	"testing"
)

// TestExpfSIMDMatchesExpf holds every lane of expfSIMD to Expf bit for bit
// (NaN to NaN) over a sample of all float32s, edges included.
func TestExpfSIMDMatchesExpf(t *testing.T) {
	xs := []float32{0, -0, 1, -1, 88.72, 88.73, 88.8, 89, -87.33, -87.34, -103.9, -104, -105,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 0x1p-149, -0x1p-149}
	for b := uint32(0); b < 1<<32-65521; b += 65521 {
		xs = append(xs, math.Float32frombits(b))
	}
	for len(xs)%4 != 0 {
		xs = append(xs, 0)
	}
	got := make([]float32, len(xs))
	for i := 0; i < len(xs); i += 4 {
		expfSIMD(archsimd.LoadFloat32x4(xs[i:])).Store(got[i:])
	}
	for i, x := range xs {
		want := Expf(x)
		if math.Float32bits(got[i]) != math.Float32bits(want) && !(got[i] != got[i] && want != want) {
			t.Fatalf("expfSIMD(%v) = %v, Expf %v", x, got[i], want)
		}
	}
}
