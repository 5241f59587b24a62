package engine

import (
	"math/rand"
	"testing"

	"github.com/edgenn/edgenn/model"
)

// FuzzSession feeds mutated .enn files through Decode, NewSession and Run: a
// file the decoder accepts must compile or be refused with an error, and a
// compiled session must run (or refuse its input) without panicking. The
// seeds are the small graphs of TestGraphsMatchNaive and LeNet-5; the seed
// corpus runs with every go test.
func FuzzSession(f *testing.F) {
	for i, c := range graphCases {
		r := rand.New(rand.NewSource(int64(i) + 1))
		b := model.NewBuilder("case")
		c.build(b, r, b.Input("x", append([]int{-1}, c.input...)))
		g, err := b.Build()
		if err != nil {
			f.Fatal(err)
		}
		data, err := model.Encode(g)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, uint8(1))
	}
	g, err := model.Zoo("lenet5")
	if err != nil {
		f.Fatal(err)
	}
	data, err := model.Encode(g)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data, uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, batch uint8) {
		g, err := model.Decode(data)
		if err != nil {
			return
		}
		s, err := NewSession(g)
		if err != nil {
			return
		}
		var ins [][]float32
		for _, in := range s.in {
			n := in.perSample * (int(batch%4) + 1)
			if in.shape[0] >= 0 {
				n = in.perSample * in.shape[0]
			}
			if n > 1<<22 {
				return
			}
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(i%7) - 3
			}
			ins = append(ins, x)
		}
		outs, err := s.Run(ins...)
		if err != nil {
			return
		}
		if len(outs) != len(g.Outputs) {
			t.Fatalf("%d outputs for %d graph outputs", len(outs), len(g.Outputs))
		}
	})
}
