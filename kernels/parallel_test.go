//go:build !wasm

package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
)

// parTestSlots are the slot counts the parallel tests split across: more
// than this machine may have cores, and odd ones, so that chunks outnumber
// slots unevenly and a slot may get none.
var parTestSlots = []int{2, 3, 4, 7}

// parTestWith runs f with parSlots = slots and every call big enough to
// split, then restores the build's settings.
func parTestWith(slots int, f func()) {
	s, w := parSlots, parMinWork
	parSlots, parMinWork = slots, 0
	defer func() { parSlots, parMinWork = s, w }()
	f()
}

// parTestSerial runs f with one slot: every kernel takes its serial path.
func parTestSerial(f func()) { parTestWith(1, f) }

// parTestSame checks that got and want have the same bits. It reports with
// Errorf, so that goroutines other than the test's may call it.
func parTestSame(t *testing.T, name string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: len %d, want %d", name, len(got), len(want))
		return
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Errorf("%s: parallel and serial differ at [%d]: %v vs %v", name, i, got[i], want[i])
			return
		}
	}
}

// TestGemmParallel holds the split GEMM to the serial one, bit for bit:
// shapes whose rows and columns leave partial tiles, partial panels and
// partial row-kernel groups at every chunk edge, with strided A and C.
func TestGemmParallel(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	shapes := []struct{ m, k, n int }{
		{1, 1, 1}, {1, 64, 8}, {1, 37, 9}, {1, 300, 1001}, {1, 16, 33}, {2, 5, 64}, {3, 40, 70},
		{4, 8, 8}, {5, 7, 9}, {7, 27, 8}, {8, 3, 40}, {9, 100, 31}, {13, 33, 17}, {17, 64, 130},
		{49, 96, 100}, {64, 16, 32}, {130, 9, 7}, {1030, 8, 21}, {257, 300, 12}, {9, 0, 5},
	}
	for _, s := range shapes {
		for ei, ep := range gemmTestEpilogues {
			if ei%2 == 1 {
				ep.Bias = gemmTestRand(r, s.n)
			}
			lda, ldc := s.k+ei%3, s.n+(ei+1)%3
			a := gemmTestRand(r, max(0, (s.m-1)*lda+s.k))
			b := gemmTestRand(r, s.k*s.n)
			for i := range b {
				b[i] *= 4 // reach the clamps
			}
			pb := PackB(b, s.k, s.n, make([]float32, PackedBLen(s.k, s.n)))
			run := func() []float32 {
				c := make([]float32, max(0, (s.m-1)*ldc+s.n)+3)
				for i := range c {
					c[i] = 1234 // columns past n and the tail must survive
				}
				Gemm(s.m, a, lda, pb, ep, c, ldc, make([]float32, GemmScratchLen(s.k)))
				return c
			}
			var want []float32
			parTestSerial(func() { want = run() })
			for _, slots := range parTestSlots {
				var got []float32
				parTestWith(slots, func() { got = run() })
				parTestSame(t, fmt.Sprintf("m%d_k%d_n%d_act%d_slots%d", s.m, s.k, s.n, ep.Act, slots), got, want)
			}
		}
	}
}

// parTestConvCases adds to the shared table convolutions with enough rows
// and row blocks to cut into many chunks: MobileNet's and BlazeFace's
// layers, scaled down, and im2col shapes of several blocks.
var parTestConvCases = []convTestCase{
	{"stem_s2", ConvParams{H: 33, W: 31, C: 3, KH: 3, KW: 3, OC: 16, StrideH: 2, StrideW: 2, PadBottom: 1, PadRight: 1}},
	{"direct_oc5_tall", ConvParams{H: 37, W: 7, C: 1, KH: 3, KW: 3, OC: 5, PadTop: 1, PadBottom: 1, PadLeft: 1, PadRight: 1}},
	{"direct_oc3_w6", ConvParams{H: 23, W: 6, C: 2, KH: 2, KW: 3, OC: 3, PadLeft: 1}},
	{"pointwise_big", ConvParams{H: 19, W: 17, C: 24, KH: 1, KW: 1, OC: 40}},
	{"im2col_dil_blocks", ConvParams{H: 40, W: 37, C: 5, KH: 3, KW: 2, OC: 7, DilationH: 2, DilationW: 2, PadTop: 2, PadLeft: 1}},
	{"im2col_group2_blocks", ConvParams{H: 30, W: 29, C: 8, KH: 3, KW: 3, OC: 12, Group: 2, PadTop: 1, PadBottom: 1, PadLeft: 1, PadRight: 1}},
	{"dw3x3_mobilenet", ConvParams{H: 28, W: 28, C: 32, KH: 3, KW: 3, OC: 32, Group: 32, PadTop: 1, PadBottom: 1, PadLeft: 1, PadRight: 1}},
	{"dw3x3_s2_odd", ConvParams{H: 29, W: 27, C: 13, KH: 3, KW: 3, OC: 13, Group: 13, StrideH: 2, StrideW: 2, PadBottom: 1, PadRight: 1}},
	{"dw5x5_blazeface", ConvParams{H: 32, W: 32, C: 24, KH: 5, KW: 5, OC: 24, Group: 24, PadTop: 2, PadBottom: 2, PadLeft: 2, PadRight: 2}},
	{"dw3x3_valid", ConvParams{H: 21, W: 9, C: 6, KH: 3, KW: 3, OC: 6, Group: 6}},
}

// TestConv2DParallel holds every path of the split convolution (pointwise,
// direct, im2col, depthwise, and the depthwise border path) to the serial
// one, bit for bit, at batch sizes 1 to 3.
func TestConv2DParallel(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	lim := dwPadLimit
	defer func() { dwPadLimit = lim }()
	for _, padLimit := range []int{lim, 0} {
		dwPadLimit = padLimit
		for _, tc := range append(append([]convTestCase(nil), convTestCases...), parTestConvCases...) {
			p := convTestP(tc.p)
			if padLimit == 0 && p.Group != p.C {
				continue // the border path is depthwise only
			}
			for _, n := range []int{1, 2, 3} {
				ep := gemmTestEpilogues[r.IntN(len(gemmTestEpilogues))]
				ep.Bias = gemmTestRand(r, p.OC)
				w := gemmTestRand(r, p.KH*p.KW*p.C/p.Group*p.OC)
				for i := range w {
					w[i] *= 3
				}
				c, err := NewConv2D(p, w, ep)
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				oh, ow := p.OutSize()
				x := gemmTestRand(r, n*p.H*p.W*p.C)
				run := func() []float32 {
					y := make([]float32, n*oh*ow*p.OC+5)
					for i := range y {
						y[i] = 777
					}
					c.Run(n, x, y[:n*oh*ow*p.OC], make([]float32, c.ScratchLen()))
					return y
				}
				var want []float32
				parTestSerial(func() { want = run() })
				for _, slots := range parTestSlots {
					var got []float32
					parTestWith(slots, func() { got = run() })
					parTestSame(t, fmt.Sprintf("%s_n%d_pad%d_slots%d", tc.name, n, padLimit, slots), got, want)
				}
			}
		}
	}
}

// TestParallelConcurrent runs split kernels from several goroutines at once,
// as several sessions of a worker do: each must still get the serial bits
// (and -race must find nothing).
func TestParallelConcurrent(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	p := convTestP(ConvParams{H: 24, W: 24, C: 16, KH: 3, KW: 3, OC: 16, Group: 16, PadTop: 1, PadBottom: 1, PadLeft: 1, PadRight: 1})
	dw, err := NewConv2D(p, gemmTestRand(r, 9*16), Epilogue{Act: ActReLU6})
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDense(64, 72, gemmTestRand(r, 64*72), Epilogue{Bias: gemmTestRand(r, 72), Act: ActTanh})
	if err != nil {
		t.Fatal(err)
	}
	const m = 37
	x := gemmTestRand(r, 2*24*24*16)
	xd := gemmTestRand(r, m*64)
	var wantC, wantD []float32
	parTestSerial(func() {
		wantC = make([]float32, len(x))
		dw.Run(2, x, wantC, make([]float32, dw.ScratchLen()))
		wantD = make([]float32, m*72)
		d.Run(m, xd, wantD, make([]float32, d.ScratchLen()))
	})
	parTestWith(3, func() {
		var wg sync.WaitGroup
		for g := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				yc, yd := make([]float32, len(wantC)), make([]float32, len(wantD))
				sc, sd := make([]float32, dw.ScratchLen()), make([]float32, d.ScratchLen())
				for range 20 {
					dw.Run(2, x, yc, sc)
					d.Run(m, xd, yd, sd)
				}
				parTestSame(t, fmt.Sprintf("goroutine%d/depthwise", g), yc, wantC)
				parTestSame(t, fmt.Sprintf("goroutine%d/dense", g), yd, wantD)
			}()
		}
		wg.Wait()
	})
}

// TestParallelAllocs holds a split call to zero allocations once warm.
func TestParallelAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(27, 28))
	parTestWith(3, func() {
		for _, tc := range parTestConvCases {
			p := convTestP(tc.p)
			c, err := NewConv2D(p, gemmTestRand(r, p.KH*p.KW*p.C/p.Group*p.OC), Epilogue{Act: ActReLU6})
			if err != nil {
				t.Fatal(err)
			}
			oh, ow := p.OutSize()
			x, y := gemmTestRand(r, 2*p.H*p.W*p.C), make([]float32, 2*oh*ow*p.OC)
			scratch := make([]float32, c.ScratchLen())
			c.Run(2, x, y, scratch)
			if a := testing.AllocsPerRun(10, func() { c.Run(2, x, y, scratch) }); a != 0 {
				t.Errorf("%s: Run allocates %v times", tc.name, a)
			}
		}
	})
}

// TestParallelThreshold checks that small calls stay on the caller: with the
// default threshold a small GEMM must not need more than one slot's scratch.
func TestParallelThreshold(t *testing.T) {
	pb := PackB(make([]float32, 8*8), 8, 8, make([]float32, PackedBLen(8, 8)))
	if gemmParallel(4, make([]float32, 32), 8, pb, Epilogue{}, make([]float32, 32), 8, make([]float32, 8*gemmScratchOne)) {
		t.Error("a 4x8x8 GEMM was split")
	}
	if n, _ := parSplit(10, 4); n != 3 {
		t.Errorf("parSplit(10, 4) per = %d, want 3", n)
	}
	if per, chunks := parSplit(10, 4); per*chunks < 10 || (chunks-1)*per >= 10 {
		t.Errorf("parSplit(10, 4) = %d, %d: does not cover 10 exactly", per, chunks)
	}
}
