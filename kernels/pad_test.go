package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/edgenn/edgenn/internal/naive"
)

func TestPad(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	type tc struct {
		shape, pads []int
	}
	cases := []tc{
		{[]int{1, 4, 5, 3}, []int{0, 1, 2, 0, 0, 2, 1, 0}}, // NHWC spatial pad, every side
		{[]int{3}, []int{2, 1}},
		{[]int{2, 3}, []int{0, 0, 0, 0}},
		{[]int{2, 3, 4}, []int{1, 2, 3, 1, 2, 3}},
		{[]int{1, 6, 5, 24}, []int{0, 0, 0, 0, 0, 0, 0, 20}}, // a channel pad, as BlazeFace's
	}
	for range 30 {
		s := randShape(r, 1+r.IntN(5), 5)
		p := make([]int, 2*len(s))
		for i := range p {
			p[i] = r.IntN(s[i%len(s)]) // below the size, so reflect applies too
		}
		cases = append(cases, tc{s, p})
	}
	for _, c := range cases {
		x := randVec(r, naive.Count(c.shape))
		for _, m := range []struct {
			mode  string
			value float32
		}{{"constant", 0.5}, {"constant", 0}, {"constant", float32(math.Copysign(0, -1))}, {"reflect", 0.5}, {"edge", 0.5}} {
			mode := m.mode
			p, err := NewPad(c.shape, c.pads, mode, m.value)
			if err != nil {
				t.Fatalf("%s %v %v: %v", mode, c.shape, c.pads, err)
			}
			want, ws := naive.Pad(x, c.shape, c.pads, mode, m.value)
			checkShape(t, "Pad", p.OutShape(), ws)
			y := make([]float32, len(want))
			for i := range y {
				y[i] = 7 // every element is written
			}
			p.Run(x, y)
			checkExact(t, "Pad "+mode+" "+layoutDims(c.shape)+" "+layoutDims(c.pads), y, want)
			checkNoAllocs(t, "Pad.Run", func() { p.Run(x, y) })
		}
	}
}

// TestPadSmall is a hand-computed case for each mode.
func TestPadSmall(t *testing.T) {
	x := []float32{1, 2, 3}
	for _, c := range []struct {
		mode string
		want []float32
	}{
		{"constant", []float32{9, 9, 1, 2, 3, 9}},
		{"reflect", []float32{3, 2, 1, 2, 3, 2}},
		{"edge", []float32{1, 1, 1, 2, 3, 3}},
	} {
		p, err := NewPad([]int{3}, []int{2, 1}, c.mode, 9)
		if err != nil {
			t.Fatal(err)
		}
		y := make([]float32, 6)
		p.Run(x, y)
		checkExact(t, c.mode, y, c.want)
	}
}

func TestPadErrors(t *testing.T) {
	cases := []struct {
		name        string
		shape, pads []int
		mode        string
		has         []string
	}{
		{"pads length", []int{2, 3}, []int{1, 1}, "constant", []string{"2 values", "want 2*rank = 4"}},
		{"negative", []int{2, 3}, []int{0, -1, 0, 0}, "constant", []string{"negative pad -1", "axis 1"}},
		{"reflect too wide", []int{2, 3}, []int{0, 0, 0, 3}, "reflect", []string{"reflect pad 3", "axis 1 of size 3"}},
		{"mode", []int{2}, []int{0, 0}, "wrap", []string{"unknown mode \"wrap\""}},
		{"shape", []int{0}, []int{0, 0}, "edge", []string{"non-positive"}},
		{"huge", []int{2}, []int{1 << 40, 0}, "constant", []string{"too large"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewPad(c.shape, c.pads, c.mode, 0)
			wantErr(t, c.name, err, c.has...)
		})
	}
}
