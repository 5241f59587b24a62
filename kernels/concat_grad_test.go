package kernels

import (
	"math/rand/v2"
	"testing"
)

// TestConcatGrad checks that ConcatGrad inverts Concat exactly: each input's
// gradient is its own block of dy (Concat is a copy, so its Jacobian is a
// permutation and the gradient is exact, with nothing to difference), and a
// nil gradient is skipped.
func TestConcatGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	for range 60 {
		rank := 1 + r.IntN(4)
		base := randShape(r, rank, 5)
		axis := r.IntN(rank)
		shapes := make([][]int, 1+r.IntN(4))
		for i := range shapes {
			s := append([]int(nil), base...)
			s[axis] = 1 + r.IntN(4)
			shapes[i] = s
		}
		neg := axis - rank*r.IntN(2) // also as a negative axis
		g, err := NewConcatGrad(shapes, neg)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := NewConcat(shapes, axis)
		checkShape(t, "concat grad out", g.OutShape(), c.OutShape())
		dy := randVec(r, naiveCount(g.OutShape()))
		dxs := make([][]float32, len(shapes))
		for i, s := range shapes {
			dxs[i] = randVec(r, naiveCount(s))
		}
		g.Run(dy, dxs)
		back := make([]float32, len(dy))
		c.Run(dxs, back)
		checkExact(t, "concat grad roundtrip", back, dy)
		// Element by element, with the index arithmetic written out.
		out := g.OutShape()
		for o := range dy {
			idx := make([]int, rank)
			rem := o
			for d := rank - 1; d >= 0; d-- {
				idx[d] = rem % out[d]
				rem /= out[d]
			}
			k := 0
			for idx[axis] >= shapes[k][axis] {
				idx[axis] -= shapes[k][axis]
				k++
			}
			flat := 0
			for d := range rank {
				flat = flat*shapes[k][d] + idx[d]
			}
			if dxs[k][flat] != dy[o] {
				t.Fatalf("concat grad: dy[%d] = %v went to input %d [%d] = %v", o, dy[o], k, flat, dxs[k][flat])
			}
		}
		// A nil gradient is skipped, the others are still written.
		if len(shapes) > 1 {
			keep := append([]float32(nil), dxs[1]...)
			clear(dxs[1])
			dxs[0] = nil
			g.Run(dy, dxs)
			checkExact(t, "concat grad with nil", dxs[1], keep)
		}
	}
	_, err := NewConcatGrad([][]int{{2, 3}, {3, 3}}, 1)
	wantErr(t, "concat grad mismatch", err, "NewConcat", "input 1")
	dxs := [][]float32{make([]float32, 6), make([]float32, 9)}
	g, _ := NewConcatGrad([][]int{{3, 2}, {3, 3}}, 1)
	dy := make([]float32, 15)
	checkNoAllocs(t, "ConcatGrad.Run", func() { g.Run(dy, dxs) })
}
