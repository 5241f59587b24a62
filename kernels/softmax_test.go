package kernels

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/edgenn/edgenn/internal/naive"
)

func TestSoftmax(t *testing.T) {
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
