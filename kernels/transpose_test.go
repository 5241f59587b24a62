package kernels

import (
	"math/rand/v2"
	"testing"

	"github.com/edgenn/edgenn/internal/naive"
)

// perms returns every permutation of 0..n-1.
func perms(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range perms(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int{}, p[:i]...), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}

func TestTranspose(t *testing.T) {
	r := rand.New(rand.NewPCG(27, 28))
	check := func(shape, perm []int) {
		t.Helper()
		x := randVec(r, naive.Count(shape))
		tr, err := NewTranspose(shape, perm)
		if err != nil {
			t.Fatalf("%v %v: %v", shape, perm, err)
		}
		want, ws := naive.Transpose(x, shape, perm)
		checkShape(t, "Transpose", tr.OutShape(), ws)
		y := make([]float32, len(x))
		tr.Run(x, y)
		checkExact(t, "Transpose "+layoutDims(shape)+" "+layoutDims(perm), y, want)
	}
	t.Run("every 4-D perm", func(t *testing.T) {
		for _, shape := range [][]int{{2, 3, 5, 7}, {1, 17, 19, 3}, {3, 1, 4, 1}} {
			for _, p := range perms(4) {
				check(shape, p)
			}
		}
	})
	t.Run("2-D and NHWC-NCHW sizes past a tile", func(t *testing.T) {
		check([]int{37, 45}, []int{1, 0})
		check([]int{2, 33, 17, 40}, []int{0, 3, 1, 2})
		check([]int{2, 40, 33, 17}, []int{0, 2, 3, 1})
	})
	t.Run("random ranks 1-5", func(t *testing.T) {
		for range 40 {
			shape := randShape(r, 1+r.IntN(5), 5)
			p := r.Perm(len(shape))
			check(shape, p)
		}
	})
	t.Run("default reverses", func(t *testing.T) {
		x := []float32{1, 2, 3, 4, 5, 6}
		tr, err := NewTranspose([]int{2, 3}, nil)
		if err != nil {
			t.Fatal(err)
		}
		checkShape(t, "Transpose", tr.OutShape(), []int{3, 2})
		y := make([]float32, 6)
		tr.Run(x, y)
		checkExact(t, "Transpose", y, []float32{1, 4, 2, 5, 3, 6})
	})
	tr, _ := NewTranspose([]int{2, 8, 8, 16}, []int{0, 3, 1, 2})
	tg, _ := NewTranspose([]int{2, 8, 8, 16}, []int{3, 1, 0, 2})
	x, y := make([]float32, 2*8*8*16), make([]float32, 2*8*8*16)
	checkNoAllocs(t, "Transpose.Run", func() { tr.Run(x, y); tg.Run(x, y) })
}

func TestTransposeErrors(t *testing.T) {
	cases := []struct {
		name        string
		shape, perm []int
		has         []string
	}{
		{"length", []int{2, 3}, []int{0}, []string{"perm [0]", "has 1 axes"}},
		{"range", []int{2, 3}, []int{0, 2}, []string{"axis 2 out of range"}},
		{"repeat", []int{2, 3, 4}, []int{0, 1, 1}, []string{"repeats axis 1"}},
		{"shape", []int{2, -3}, []int{1, 0}, []string{"non-positive"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewTranspose(c.shape, c.perm)
			wantErr(t, c.name, err, c.has...)
		})
	}
}
