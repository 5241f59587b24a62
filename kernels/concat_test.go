package kernels

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/edgenn/edgenn/internal/naive"
)

func TestConcat(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	for range 40 {
		base := randShape(r, 1+r.IntN(5), 5)
		axis := r.IntN(len(base))
		k := 1 + r.IntN(4)
		shapes := make([][]int, k)
		xs := make([][]float32, k)
		for i := range shapes {
			shapes[i] = slices.Clone(base)
			shapes[i][axis] = 1 + r.IntN(4)
			xs[i] = randVec(r, naive.Count(shapes[i]))
		}
		want, ws := naive.Concat(xs, shapes, axis)
		for _, ax := range []int{axis, axis - len(base)} {
			c, err := NewConcat(shapes, ax)
			if err != nil {
				t.Fatalf("%v axis %d: %v", shapes, ax, err)
			}
			checkShape(t, "Concat", c.OutShape(), ws)
			y := make([]float32, len(want))
			c.Run(xs, y)
			checkExact(t, "Concat", y, want)
			checkNoAllocs(t, "Concat.Run", func() { c.Run(xs, y) })
		}
	}
}

func TestConcatErrors(t *testing.T) {
	cases := []struct {
		name   string
		shapes [][]int
		axis   int
		has    []string
	}{
		{"none", nil, 0, []string{"no inputs"}},
		{"axis", [][]int{{2, 3}, {2, 3}}, 2, []string{"axis 2 out of range"}},
		{"rank", [][]int{{2, 3}, {2, 3, 1}}, 1, []string{"input 1", "rank 3"}},
		{"other axis", [][]int{{2, 3}, {2, 3}, {4, 3}}, 1, []string{"input 2", "[4 3]", "axis 0"}},
		{"bad dim", [][]int{{2, 3}, {2, 0}}, 1, []string{"input 1", "non-positive"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewConcat(c.shapes, c.axis)
			wantErr(t, c.name, err, c.has...)
		})
	}
}
