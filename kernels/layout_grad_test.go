package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/edgenn/edgenn/internal/naive"
)

// Pad and Mean are linear, so their gradient is their adjoint: dx[i] is the
// dot product of dy with the op applied to the unit tensor e_i. The naive
// forward ops give that independently of the kernels' index walks.
func checkAdjoint(t *testing.T, what string, n int, fwd func(e []float32) []float32, dy, dx []float32) {
	t.Helper()
	e := make([]float32, n)
	for i := range n {
		e[i] = 1
		var want float64
		for j, v := range fwd(e) {
			want += float64(v) * float64(dy[j])
		}
		e[i] = 0
		checkGrad(t, what, i, dx[i], want, 1e-6, 1)
	}
}

func TestPadGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 1))
	for trial := range 40 {
		rank := 1 + r.IntN(4)
		shape := make([]int, rank)
		pads := make([]int, 2*rank)
		for d := range shape {
			shape[d] = 1 + r.IntN(4)
		}
		mode := []string{"constant", "reflect", "edge"}[trial%3]
		for d := range pads {
			lim := 3
			if mode == "reflect" {
				lim = shape[d%rank] // each pad below its axis's size
			}
			pads[d] = r.IntN(lim)
		}
		what := mode + " " + fmt.Sprint(shape) + " pads " + fmt.Sprint(pads)
		p, err := NewPad(shape, pads, mode, 0.5)
		if err != nil {
			t.Fatal(what, err)
		}
		n := layoutProd(shape)
		dy := randVec(r, layoutProd(p.OutShape()))
		dx := randVec(r, n) // overwritten
		p.Grad(dy, dx)
		checkAdjoint(t, what, n, func(e []float32) []float32 {
			y, _ := naive.Pad(e, shape, pads, mode, 0)
			return y
		}, dy, dx)
	}
}

func TestMeanGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 2))
	for trial := range 40 {
		rank := 1 + r.IntN(5)
		shape := make([]int, rank)
		for d := range shape {
			shape[d] = 1 + r.IntN(4)
		}
		var axes, pos []int
		for d := range rank {
			if r.IntN(2) == 0 {
				axes = append(axes, d-rank*(trial%2)) // negative axes half the time
				pos = append(pos, d)
			}
		}
		keep := trial%3 == 0
		what := fmt.Sprint(shape) + " axes " + fmt.Sprint(axes)
		m, err := NewMean(shape, axes, keep)
		if err != nil {
			t.Fatal(what, err)
		}
		n := layoutProd(shape)
		dy := randVec(r, layoutProd(m.OutShape()))
		dx := randVec(r, n)
		m.Grad(dy, dx)
		checkAdjoint(t, what, n, func(e []float32) []float32 {
			y, _ := naive.Mean(e, shape, pos)
			return y
		}, dy, dx)
	}
}

func TestSoftmaxGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 3))
	for range 30 {
		outer, axis, inner := 1+r.IntN(3), 1+r.IntN(7), 1+r.IntN(3)
		n := outer * axis * inner
		x := randVec(r, n)
		for i := range x {
			x[i] *= 4
		}
		w := randVec(r, n) // loss = sum(w*softmax(x))
		y := make([]float32, n)
		Softmax(x, y, outer, axis, inner)
		dx := make([]float32, n)
		copy(dx, w)
		SoftmaxGrad(y, dx, dx, outer, axis, inner) // in place, as the Trainer calls it
		loss := func(x64 []float64) float64 {
			var s float64
			for o := range outer {
				for i := range inner {
					mx, sum := math.Inf(-1), 0.0
					for a := range axis {
						mx = math.Max(mx, x64[(o*axis+a)*inner+i])
					}
					for a := range axis {
						sum += math.Exp(x64[(o*axis+a)*inner+i] - mx)
					}
					for a := range axis {
						k := (o*axis+a)*inner + i
						s += float64(w[k]) * math.Exp(x64[k]-mx) / sum
					}
				}
			}
			return s
		}
		x64 := to64(x)
		for i := range n {
			checkGrad(t, fmt.Sprint("softmax ", outer, "x", axis, "x", inner), i, dx[i], fdAt(loss, x64, i), 1e-4, 0.1)
		}
	}
}

func TestLayoutGradsDoNotAllocate(t *testing.T) {
	p, _ := NewPad([]int{2, 3, 4}, []int{1, 0, 2, 0, 1, 1}, "reflect", 0)
	m, _ := NewMean([]int{2, 3, 4}, []int{0, 2}, false)
	dyp, dx := make([]float32, layoutProd(p.OutShape())), make([]float32, 24)
	dym := make([]float32, 3)
	y := make([]float32, 24)
	if a := testing.AllocsPerRun(10, func() {
		p.Grad(dyp, dx)
		m.Grad(dym, dx)
		SoftmaxGrad(y, dx, dx, 2, 3, 4)
	}); a != 0 {
		t.Fatalf("%v allocations per run", a)
	}
}
