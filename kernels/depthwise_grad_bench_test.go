package kernels

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkDepthwiseGrad times the backward of MobileNet-like depthwise
// layers at batch 8: 3x3 SAME at stride 1 and at stride 2 (TensorFlow's
// SAME, padded below and right only), the cases fine-tuning spends its
// depthwise time in.
func BenchmarkDepthwiseGrad(b *testing.B) {
	r := rand.New(rand.NewPCG(45, 46))
	const n = 8
	for _, l := range []struct {
		name string
		p    ConvParams
	}{
		{"56x56x32_3x3_s1", ConvParams{H: 56, W: 56, C: 32, KH: 3, KW: 3, OC: 32, Group: 32, StrideH: 1, StrideW: 1, DilationH: 1, DilationW: 1,
			PadTop: 1, PadBottom: 1, PadLeft: 1, PadRight: 1}},
		{"112x112x16_3x3_s2", ConvParams{H: 112, W: 112, C: 16, KH: 3, KW: 3, OC: 16, Group: 16, StrideH: 2, StrideW: 2, DilationH: 1, DilationW: 1,
			PadBottom: 1, PadRight: 1}},
	} {
		p := l.p
		g, err := NewConv2DGrad(p)
		if err != nil {
			b.Fatal(err)
		}
		oh, ow := p.OutSize()
		x, dx := gemmTestRand(r, n*p.H*p.W*p.C), make([]float32, n*p.H*p.W*p.C)
		w, dw := gemmTestRand(r, p.KH*p.KW*p.OC), make([]float32, p.KH*p.KW*p.OC)
		dy := gemmTestRand(r, n*oh*ow*p.OC)
		scratch := make([]float32, g.ScratchLen())
		flops := 2 * float64(n*oh*ow*p.OC*p.KH*p.KW)
		b.Run(l.name+"/InputGrad", func(b *testing.B) {
			for range b.N {
				g.InputGrad(n, dy, w, dx, scratch)
			}
			gemmBenchReport(b, flops)
		})
		b.Run(l.name+"/FilterGrad", func(b *testing.B) {
			for range b.N {
				g.FilterGrad(n, x, dy, dw, scratch, false)
			}
			gemmBenchReport(b, flops)
		})
	}
}
