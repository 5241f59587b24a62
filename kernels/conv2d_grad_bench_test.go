package kernels

import (
	"math/rand/v2"
	"testing"
)

// The backward kernels of one batch-32 SGD step of LeNet-5: conv1 (5x5 SAME
// 28x28x1 -> 6), conv2 (5x5 VALID 14x14x6 -> 16), then the dense layers
// 400x120, 120x84, 84x10. conv1's InputGrad is benchmarked though a
// network's first layer does not need it.
const convGradBenchBatch = 32

func BenchmarkConv2DGradLeNet(b *testing.B) {
	r := rand.New(rand.NewPCG(41, 42))
	n := convGradBenchBatch
	for _, l := range convBenchLeNet() {
		p := l.p
		g, err := NewConv2DGrad(p)
		if err != nil {
			b.Fatal(err)
		}
		oh, ow := p.OutSize()
		x, dx := gemmTestRand(r, n*p.H*p.W*p.C), make([]float32, n*p.H*p.W*p.C)
		w, dw := gemmTestRand(r, p.KH*p.KW*p.C/p.Group*p.OC), make([]float32, p.KH*p.KW*p.C/p.Group*p.OC)
		dy, db := gemmTestRand(r, n*oh*ow*p.OC), make([]float32, p.OC)
		scratch := make([]float32, g.ScratchLen())
		flops := 2 * float64(n*oh*ow*p.OC*p.KH*p.KW*p.C/p.Group)
		b.Run(l.name+"/FilterGrad", func(b *testing.B) {
			for range b.N {
				g.FilterGrad(n, x, dy, dw, scratch, false)
			}
			gemmBenchReport(b, flops)
		})
		b.Run(l.name+"/InputGrad", func(b *testing.B) {
			for range b.N {
				g.InputGrad(n, dy, w, dx, scratch)
			}
			gemmBenchReport(b, flops)
		})
		b.Run(l.name+"/BiasGrad", func(b *testing.B) {
			for range b.N {
				BiasGrad(n*oh*ow, p.OC, dy, db, false)
			}
			gemmBenchReport(b, float64(n*oh*ow*p.OC))
		})
	}
}

func BenchmarkDenseGradLeNet(b *testing.B) {
	r := rand.New(rand.NewPCG(43, 44))
	m := convGradBenchBatch
	for _, s := range []struct {
		name string
		k, n int
	}{{"fc1_400x120", 400, 120}, {"fc2_120x84", 120, 84}, {"fc3_84x10", 84, 10}} {
		x, dx := gemmTestRand(r, m*s.k), make([]float32, m*s.k)
		w, dw := gemmTestRand(r, s.k*s.n), make([]float32, s.k*s.n)
		dy := gemmTestRand(r, m*s.n)
		flops := 2 * float64(m*s.k*s.n)
		b.Run(s.name+"/InputGrad", func(b *testing.B) {
			for range b.N {
				DenseInputGrad(m, s.k, s.n, dy, w, dx)
			}
			gemmBenchReport(b, flops)
		})
		b.Run(s.name+"/WeightGrad", func(b *testing.B) {
			for range b.N {
				DenseWeightGrad(m, s.k, s.n, x, dy, dw, false)
			}
			gemmBenchReport(b, flops)
		})
	}
}
