package kernels

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/edgenn/edgenn/internal/naive"
)

func TestSoftmax(t *testing.T) { softmaxEachRow(t, testSoftmax) }

func testSoftmax(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 20))
	for _, s := range [][3]int{{1, 1, 1}, {1, 10, 1}, {4, 1001, 1}, {3, 7, 5}, {2, 3, 64}, {1, 2, 1}} {
		outer, axis, inner := s[0], s[1], s[2]
		x := randVec(r, outer*axis*inner)
		for i := range x {
			x[i] *= 10
		}
		x[0] = 80 // exp(80) overflows float32 without the max subtraction
		want := naive.Softmax(x, outer, axis, inner)
		y := make([]float32, len(x))
		Softmax(x, y, outer, axis, inner)
		checkClose(t, "Softmax", y, want, 1e-6)
		// Relative error where the float32 subtraction of the maximum (which
		// TF.js does too) leaves enough digits: probabilities above 1e-4.
		for i := range y {
			if want[i] > 1e-4 && math.Abs(float64(y[i]-want[i])) > 1e-6*float64(want[i]) {
				t.Fatalf("Softmax %v: [%d] = %v, want %v (relative error above 1e-6)", s, i, y[i], want[i])
			}
		}
		for o := range outer {
			for in := range inner {
				var sum float64
				for k := range axis {
					sum += float64(y[(o*axis+k)*inner+in])
				}
				if math.Abs(sum-1) > 1e-5 {
					t.Fatalf("Softmax %v: row sums to %v", s, sum)
				}
			}
		}
		xa := slices.Clone(x)
		Softmax(xa, xa, outer, axis, inner) // y aliases x
		checkExact(t, "Softmax in place", xa, y)
	}
	x := make([]float32, 1000)
	checkNoAllocs(t, "Softmax", func() { Softmax(x, x, 10, 10, 10) })
}

// TestSoftmaxSmall is a hand-computed case: softmax([0, ln 3]) = [1/4, 3/4].
func TestSoftmaxSmall(t *testing.T) {
	y := make([]float32, 2)
	Softmax([]float32{0, float32(math.Log(3))}, y, 1, 2, 1)
	checkClose(t, "Softmax", y, []float32{0.25, 0.75}, 1e-7)
}

// TestSoftmaxTFJS compares against tf.softmax of TensorFlow.js 4.22.0's cpu
// backend on a [6,5] input (printed under Node; matched bit for bit when
// this was written).
func TestSoftmaxTFJS(t *testing.T) {
	x := make([]float32, 30)
	for i := range x {
		x[i] = float32(math.Sin(float64(i)*1.7) * 12)
	}
	want := []float32{6.773218e-06, 0.9974468, 3.155252e-07, 1.0136324e-10, 0.0025461474, 0.32476026, 5.044285e-09, 1.3451709e-08, 0.6726225, 0.0026172618, 6.014352e-11, 1.0304591e-06, 0.99999726, 1.6725572e-06, 5.3086497e-11, 0.0015165607, 0.779788, 1.8094475e-08, 3.2639098e-09, 0.2186954, 0.0041593704, 1.3211027e-10, 2.1183816e-07, 0.99582857, 1.1851401e-05, 8.085582e-11, 0.00016767751, 0.9998323, 5.1318167e-08, 6.505531e-10}
	softmaxEachRow(t, func(t *testing.T) {
		y := make([]float32, 30)
		Softmax(x, y, 6, 5, 1)
		for i := range y {
			// TF.js rounds a float64 exp to float32 (0.5 ulp), Expf is within
			// 1 ulp: with the sum and the division, 4 ulps apart at most.
			if math.Abs(float64(y[i]-want[i])) > 4*softmaxULP(want[i]) {
				t.Fatalf("[%d] = %v, TF.js %v", i, y[i], want[i])
			}
		}
	})
}

// softmaxULP is the spacing of float32s just above |v|.
func softmaxULP(v float32) float64 {
	a := float32(math.Abs(float64(v)))
	return float64(math.Nextafter32(a, float32(math.Inf(1))) - a)
}

// softmaxEachRow runs f with the build's row kernel and, in a SIMD build,
// again with the scalar twin.
func softmaxEachRow(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	t.Run("build", f)
	if SIMD {
		saved := softmaxRow
		softmaxRow = softmaxRowScalar
		defer func() { softmaxRow = saved }()
		t.Run("scalar", f)
	}
}

// TestExpf checks Expf against float64 math.Exp: within 1 ulp over a sample
// of every float32 whose exp is normal, within one denormal step where it is
// denormal, and the edges exactly.
func TestExpf(t *testing.T) {
	for _, c := range []struct{ x, want float32 }{
		{0, 1}, {float32(math.Inf(-1)), 0}, {float32(math.Inf(1)), float32(math.Inf(1))},
		{88.8, float32(math.Inf(1))}, {88.73, float32(math.Inf(1))}, {1e30, float32(math.Inf(1))},
		{-104, 0}, {-1e30, 0},
	} {
		if got := Expf(c.x); got != c.want {
			t.Errorf("Expf(%v) = %v, want %v", c.x, got, c.want)
		}
	}
	if got := Expf(float32(math.NaN())); got == got {
		t.Errorf("Expf(NaN) = %v", got)
	}
	const minNormal = 0x1p-126
	for b := uint32(0); b < 1<<32-4099; b += 4099 {
		x := math.Float32frombits(b)
		if x != x || x < -110 || x > 88.72 {
			continue
		}
		got, want := float64(Expf(x)), math.Exp(float64(x))
		tol := softmaxULP(float32(want))
		if want < minNormal {
			tol = 0x1p-149
		}
		if math.Abs(got-want) > tol {
			t.Fatalf("Expf(%v) = %v, want %v (%.2f ulp)", x, got, want, math.Abs(got-want)/tol)
		}
	}
}

// TestSoftmaxSIMDMatchesScalar holds the SIMD row kernel to its scalar twin
// bit for bit: row lengths around the vector width, a long row, rows with
// -Inf, huge and NaN values.
func TestSoftmaxSIMDMatchesScalar(t *testing.T) {
	if !SIMD {
		t.Skip("scalar build")
	}
	r := rand.New(rand.NewPCG(21, 22))
	for _, n := range []int{1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 1000, 1001, 1003} {
		for k := range 4 {
			x := randVec(r, n)
			for i := range x {
				x[i] *= 30
			}
			switch k {
			case 1:
				x[r.IntN(n)] = float32(math.Inf(-1))
			case 2:
				x[r.IntN(n)] = 3e38
			case 3:
				x[r.IntN(n)] = float32(math.NaN())
			}
			got, want := make([]float32, n), make([]float32, n)
			softmaxRow(x, got)
			softmaxRowScalar(x, want)
			checkExact(t, "softmax row simd vs scalar", got, want)
		}
	}
}
