package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// gemmBenchShapes are the GEMMs that matter: the 256^3 reference and the
// pointwise convolutions of MobileNetV1 alpha 0.25 at 128x128 (M = OH*OW).
var gemmBenchShapes = []struct{ m, k, n int }{
	{256, 256, 256},
	{4096, 8, 16}, {1024, 16, 32}, {1024, 32, 32}, {256, 32, 64}, {256, 64, 64},
	{64, 64, 128}, {64, 128, 128}, {16, 128, 256}, {16, 256, 256},
	{1, 400, 120}, {1, 120, 84},
}

func BenchmarkGemm(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, s := range gemmBenchShapes {
		b.Run(fmt.Sprintf("%dx%dx%d", s.m, s.k, s.n), func(b *testing.B) {
			a := gemmTestRand(r, s.m*s.k)
			pb := PackB(gemmTestRand(r, s.k*s.n), s.k, s.n, make([]float32, PackedBLen(s.k, s.n)))
			c := make([]float32, s.m*s.n)
			ep := Epilogue{Bias: gemmTestRand(r, s.n), Act: ActReLU6}
			scratch := make([]float32, GemmScratchLen(s.k))
			b.ResetTimer()
			for range b.N {
				Gemm(s.m, a, s.k, pb, ep, c, s.n, scratch)
			}
			gemmBenchReport(b, 2*float64(s.m*s.k*s.n))
		})
	}
}

// gemmBenchReport reports GFLOP/s and microseconds per op for flops per op.
func gemmBenchReport(b *testing.B, flops float64) {
	sec := b.Elapsed().Seconds()
	b.ReportMetric(flops*float64(b.N)/sec/1e9, "GFLOP/s")
	b.ReportMetric(sec/float64(b.N)*1e6, "us/op")
}
