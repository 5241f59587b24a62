package kernels

import (
	"math/rand/v2"
	"testing"

	"github.com/edgenn/edgenn/internal/naive"
)

func TestMean(t *testing.T) {
	type tc struct {
		shape, axes []int
	}
	cases := []tc{
		{[]int{2, 5, 5, 8}, []int{1, 2}},   // spatial mean: the GlobalAvgPool path
		{[]int{2, 5, 5, 8}, []int{-3, -2}}, // negative axes
		{[]int{2, 5, 5, 8}, []int{3}},      // last axis
		{[]int{2, 5, 5, 8}, []int{0, 2}},   // two reduced runs: the general path
		{[]int{2, 5, 5, 8}, nil},           // everything
		{[]int{3, 1, 4}, []int{1}},         // size-1 axis only: a copy
		{[]int{7}, []int{0}},
		{[]int{2, 3, 4, 5, 6}, []int{0, 2, 4}},
	}
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(21, 22))
		all := append([]tc(nil), cases...)
		for range 30 {
			s := randShape(r, 1+r.IntN(5), 5)
			var axes []int
			for i := range s {
				if r.IntN(2) == 0 {
					axes = append(axes, i)
				}
			}
			if len(axes) == 0 {
				axes = []int{r.IntN(len(s))}
			}
			all = append(all, tc{s, axes})
		}
		for _, c := range all {
			x := randVec(r, naive.Count(c.shape))
			norm := make([]int, len(c.axes))
			for i, a := range c.axes {
				norm[i] = (a + len(c.shape)) % len(c.shape)
			}
			want, keepShape := naive.Mean(x, c.shape, norm)
			for _, keep := range []bool{true, false} {
				m, err := NewMean(c.shape, c.axes, keep)
				if err != nil {
					t.Fatalf("%v %v: %v", c.shape, c.axes, err)
				}
				ws := keepShape
				if !keep {
					ws = []int{}
					for i, d := range c.shape {
						if len(c.axes) > 0 && !contains(norm, i) {
							ws = append(ws, d)
						}
					}
				}
				checkShape(t, "Mean", m.OutShape(), ws)
				y := make([]float32, len(want))
				m.Run(x, y)
				checkClose(t, "Mean "+layoutDims(c.shape)+" axes "+layoutDims(c.axes), y, want, 1e-6)
				checkNoAllocs(t, "Mean.Run", func() { m.Run(x, y) })
			}
		}
	})
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestMeanErrors(t *testing.T) {
	cases := []struct {
		name        string
		shape, axes []int
		has         []string
	}{
		{"axis out of range", []int{2, 3}, []int{2}, []string{"axis 2", "rank 2"}},
		{"negative out of range", []int{2, 3}, []int{-3}, []string{"axis -3"}},
		{"repeated", []int{2, 3}, []int{1, -1}, []string{"repeated"}},
		{"bad shape", []int{2, 0}, []int{0}, []string{"non-positive"}},
		{"rank 0", []int{}, nil, []string{"rank 0"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewMean(c.shape, c.axes, true)
			wantErr(t, c.name, err, c.has...)
		})
	}
}
