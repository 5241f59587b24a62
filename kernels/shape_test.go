package kernels

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// forEachImpl runs f once with the scalar inner loops and, in the SIMD
// build, once with the SIMD ones, so that one table holds both.
func forEachImpl(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	sets := benchImpls()
	saved := hot
	defer func() { hot = saved }()
	for _, s := range sets {
		hot = s.k
		t.Run(s.name, f)
	}
}

func randVec(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// closeTo reports whether got is within tol of want, relative to max(1, |want|).
func closeTo(got, want float32, tol float64) bool {
	if math.IsNaN(float64(want)) {
		return math.IsNaN(float64(got))
	}
	return math.Abs(float64(got)-float64(want)) <= tol*max(1, math.Abs(float64(want)))
}

func checkClose(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: len %d, want %d", what, len(got), len(want))
	}
	for i := range got {
		if !closeTo(got[i], want[i], tol) {
			t.Fatalf("%s: [%d] = %v, want %v (tol %g)", what, i, got[i], want[i], tol)
		}
	}
}

func checkExact(t *testing.T, what string, got, want []float32) {
	t.Helper()
	checkClose(t, what, got, want, 0)
}

func checkShape(t *testing.T, what string, got, want []int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: shape %v, want %v", what, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: shape %v, want %v", what, got, want)
		}
	}
}

// wantErr checks that err is non-nil and mentions every fragment.
func wantErr(t *testing.T, what string, err error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error", what)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Fatalf("%s: error %q does not mention %q", what, err, f)
		}
	}
}

func checkNoAllocs(t *testing.T, what string, f func()) {
	t.Helper()
	// 50 runs: a kernel that allocates does so on every run, while the wasm
	// runtime's own rare allocation (seen once in CI-like runs) rounds away.
	if n := testing.AllocsPerRun(50, f); n != 0 {
		t.Fatalf("%s: %v allocations per run, want 0", what, n)
	}
}

func randShape(r *rand.Rand, rank, maxDim int) []int {
	s := make([]int, rank)
	for i := range s {
		s[i] = 1 + r.IntN(maxDim)
	}
	return s
}

type implSet struct {
	name string
	k    hotKernels
}

func benchImpls() []implSet {
	s := []implSet{{"scalar", hotScalar}}
	if haveSIMD {
		s = append(s, implSet{"simd", hotSIMD})
	}
	return s
}
