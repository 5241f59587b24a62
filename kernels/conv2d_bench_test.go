package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// convBenchLayer is one layer of a benchmark network.
type convBenchLayer struct {
	name string
	p    ConvParams
}

// convBenchMobileNet returns the convolutions of MobileNetV1 alpha 0.25 at
// 128x128 (TF SAME padding): the 3x3/s2 stem, then 13 depthwise 3x3 +
// pointwise 1x1 blocks.
func convBenchMobileNet() []convBenchLayer {
	same := func(p ConvParams) ConvParams {
		p.StrideW, p.DilationH, p.DilationW = p.StrideH, 1, 1
		if p.KH == 3 {
			if p.StrideH == 1 {
				p.PadTop, p.PadBottom, p.PadLeft, p.PadRight = 1, 1, 1, 1
			} else {
				p.PadBottom, p.PadRight = 1, 1
			}
		}
		return p
	}
	ls := []convBenchLayer{{"stem", same(ConvParams{H: 128, W: 128, C: 3, KH: 3, KW: 3, OC: 8, StrideH: 2, Group: 1})}}
	hw, c := 64, 8
	for i, b := range []struct{ oc, s int }{{16, 1}, {32, 2}, {32, 1}, {64, 2}, {64, 1}, {128, 2},
		{128, 1}, {128, 1}, {128, 1}, {128, 1}, {128, 1}, {256, 2}, {256, 1}} {
		dw := same(ConvParams{H: hw, W: hw, C: c, KH: 3, KW: 3, OC: c, StrideH: b.s, Group: c})
		ls = append(ls, convBenchLayer{fmt.Sprintf("dw%d", i+1), dw})
		hw, _ = dw.OutSize()
		ls = append(ls, convBenchLayer{fmt.Sprintf("pw%d", i+1), same(ConvParams{H: hw, W: hw, C: c, KH: 1, KW: 1, OC: b.oc, StrideH: 1, Group: 1})})
		c = b.oc
	}
	return ls
}

// convBenchLeNet returns LeNet-5's convolutions (the pools between them are
// not convolutions and are left out; the dense layers are in the benchmark).
func convBenchLeNet() []convBenchLayer {
	return []convBenchLayer{
		{"conv1", convTestP(ConvParams{H: 28, W: 28, C: 1, KH: 5, KW: 5, OC: 6, PadTop: 2, PadBottom: 2, PadLeft: 2, PadRight: 2})},
		{"conv2", convTestP(ConvParams{H: 14, W: 14, C: 6, KH: 5, KW: 5, OC: 16})},
	}
}

type convBenchCompiled struct {
	name   string
	c      *Conv2D
	x, y   []float32
	macs   float64
	params ConvParams
}

func convBenchCompile(b *testing.B, ls []convBenchLayer) ([]convBenchCompiled, []float32) {
	r := rand.New(rand.NewPCG(15, 16))
	var out []convBenchCompiled
	maxScratch := 0
	for _, l := range ls {
		p := l.p
		c, err := NewConv2D(p, gemmTestRand(r, p.KH*p.KW*p.C/p.Group*p.OC), Epilogue{Bias: gemmTestRand(r, p.OC), Act: ActReLU6})
		if err != nil {
			b.Fatal(l.name, err)
		}
		oh, ow := p.OutSize()
		out = append(out, convBenchCompiled{l.name, c, gemmTestRand(r, p.H*p.W*p.C), make([]float32, oh*ow*p.OC),
			float64(oh * ow * p.OC * p.KH * p.KW * p.C / p.Group), p})
		maxScratch = max(maxScratch, c.ScratchLen())
	}
	return out, make([]float32, maxScratch)
}

// BenchmarkConvMobileNet times every convolution of MobileNetV1 0.25/128
// (batch 1, relu6 fused), each layer alone and the whole set, which is all of
// the network's arithmetic but the final pool and classifier.
func BenchmarkConvMobileNet(b *testing.B) { convBenchNet(b, convBenchMobileNet(), nil) }

// BenchmarkConvLeNet times LeNet-5's two convolutions and three dense layers.
func BenchmarkConvLeNet(b *testing.B) {
	r := rand.New(rand.NewPCG(17, 18))
	var ds []*Dense
	for _, s := range [][2]int{{400, 120}, {120, 84}, {84, 10}} {
		d, err := NewDense(s[0], s[1], gemmTestRand(r, s[0]*s[1]), Epilogue{Bias: gemmTestRand(r, s[1]), Act: ActReLU})
		if err != nil {
			b.Fatal(err)
		}
		ds = append(ds, d)
	}
	convBenchNet(b, convBenchLeNet(), ds)
}

func convBenchNet(b *testing.B, ls []convBenchLayer, dense []*Dense) {
	layers, scratch := convBenchCompile(b, ls)
	dx := gemmTestRand(rand.New(rand.NewPCG(1, 1)), 400)
	dy := make([]float32, 400)
	total := 0.0
	for _, l := range layers {
		total += l.macs
	}
	b.Run("all", func(b *testing.B) {
		for range b.N {
			for _, l := range layers {
				l.c.Run(1, l.x, l.y, scratch)
			}
			for _, d := range dense {
				d.Run(1, dx, dy, scratch)
			}
		}
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)*1e3, "ms/op")
		b.ReportMetric(2*total*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
	for _, l := range layers {
		b.Run(l.name, func(b *testing.B) {
			for range b.N {
				l.c.Run(1, l.x, l.y, scratch)
			}
			gemmBenchReport(b, 2*l.macs)
		})
	}
}

// BenchmarkConvResidual times BlazeFace's pointwise convolution followed
// by a residual add and ReLU (128x128, 24 -> 24, batch 1): fused (RunAdd,
// the residual added in the GEMM's tile kernel in wasm), the three steps
// an engine runs without it (the linear convolution, hot.binSame's add,
// ActivateInPlace), and the convolution with ReLU alone for scale.
func BenchmarkConvResidual(b *testing.B) {
	r := rand.New(rand.NewPCG(19, 20))
	p := convTestP(ConvParams{H: 128, W: 128, C: 24, KH: 1, KW: 1, OC: 24})
	w, bias := gemmTestRand(r, p.C*p.OC), gemmTestRand(r, p.OC)
	fused, err := NewConv2D(p, w, Epilogue{Bias: bias, Act: ActReLU, Residual: true})
	if err != nil {
		b.Fatal(err)
	}
	lin, _ := NewConv2D(p, w, Epilogue{Bias: bias})
	relu, _ := NewConv2D(p, w, Epilogue{Bias: bias, Act: ActReLU})
	x, res, y := gemmTestRand(r, p.H*p.W*p.C), gemmTestRand(r, p.H*p.W*p.OC), make([]float32, p.H*p.W*p.OC)
	scratch := make([]float32, max(fused.ScratchLen(), lin.ScratchLen()))
	ep := Epilogue{Act: ActReLU}
	for _, c := range []struct {
		name string
		f    func()
	}{
		{"fused", func() { fused.RunAdd(1, x, res, y, scratch) }},
		{"unfused", func() {
			lin.Run(1, x, y, scratch)
			hot.binSame(BinAdd, y, res, y)
			ActivateInPlace(y, ep)
		}},
		{"conv_relu", func() { relu.Run(1, x, y, scratch) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				c.f()
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)*1e6, "us/op")
		})
	}
}
