package kernels

import (
	"math/rand/v2"
	"testing"

	"github.com/edgenn/edgenn/internal/naive"
)

func poolCases(r *rand.Rand) []naive.Pool2D {
	cs := []naive.Pool2D{
		{N: 1, H: 4, W: 4, C: 1, KH: 2, KW: 2, SH: 2, SW: 2},
		{N: 2, H: 7, W: 5, C: 3, KH: 3, KW: 3, SH: 1, SW: 1, PT: 1, PB: 1, PL: 1, PR: 1},
		{N: 1, H: 9, W: 9, C: 17, KH: 3, KW: 2, SH: 2, SW: 3, PT: 2, PB: 0, PL: 0, PR: 1},
		{N: 1, H: 10, W: 11, C: 8, KH: 2, KW: 2, SH: 4, SW: 3}, // stride > kernel
		{N: 1, H: 5, W: 5, C: 5, KH: 5, KW: 5, SH: 1, SW: 1, PT: 4, PB: 4, PL: 4, PR: 4},
		{N: 1, H: 1, W: 1, C: 33, KH: 1, KW: 1, SH: 1, SW: 1},
		// 3x3 max pools on C >= 4 (the SIMD path that clamps taps into the
		// image): Xception's SAME 3x3/2 on odd and even sizes, whole and
		// overlapping vectors, stride 1, uneven and maximal pads, batch 2.
		{N: 2, H: 9, W: 9, C: 8, KH: 3, KW: 3, SH: 2, SW: 2, PT: 1, PB: 1, PL: 1, PR: 1},
		{N: 1, H: 8, W: 10, C: 6, KH: 3, KW: 3, SH: 2, SW: 2, PT: 0, PB: 1, PL: 0, PR: 1},
		{N: 1, H: 5, W: 7, C: 13, KH: 3, KW: 3, SH: 1, SW: 1, PT: 2, PB: 2, PL: 2, PR: 1},
		{N: 1, H: 2, W: 3, C: 4, KH: 3, KW: 3, SH: 1, SW: 2, PT: 1, PB: 2, PL: 2, PR: 0},
		{N: 1, H: 7, W: 6, C: 5, KH: 3, KW: 3, SH: 3, SW: 1},
	}
	// kernel == stride, unpadded (LeNet's 2x2/2): every C from 1 to 9 (the
	// SIMD path's scalar C < 4, whole vectors, and an overlapping last
	// vector), odd H and W (a row or column left out), batch 3.
	for c := 1; c <= 9; c++ {
		cs = append(cs, naive.Pool2D{N: 3, H: 7 + c%2, W: 9 - c%2, C: c, KH: 2, KW: 2, SH: 2, SW: 2})
		cs = append(cs, naive.Pool2D{N: 1, H: 9, W: 10, C: c, KH: 3, KW: 3, SH: 3, SW: 3})
	}
	for range 30 {
		p := naive.Pool2D{N: 1 + r.IntN(2), H: 1 + r.IntN(9), W: 1 + r.IntN(9), C: 1 + r.IntN(19),
			KH: 1 + r.IntN(4), KW: 1 + r.IntN(4), SH: 1 + r.IntN(4), SW: 1 + r.IntN(4)}
		p.PT, p.PB, p.PL, p.PR = r.IntN(p.KH), r.IntN(p.KH), r.IntN(p.KW), r.IntN(p.KW)
		if p.H+p.PT+p.PB < p.KH || p.W+p.PL+p.PR < p.KW {
			continue
		}
		cs = append(cs, p)
	}
	return cs
}

func toPoolParams(p naive.Pool2D, includePad bool) PoolParams {
	return PoolParams{H: p.H, W: p.W, C: p.C, KH: p.KH, KW: p.KW, StrideH: p.SH, StrideW: p.SW,
		PadTop: p.PT, PadBottom: p.PB, PadLeft: p.PL, PadRight: p.PR, CountIncludePad: includePad}
}

func TestPool(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(7, 8))
		for _, np := range poolCases(r) {
			x := randVec(r, np.N*np.H*np.W*np.C)
			for i := range x {
				x[i] -= 3 // mostly negative: a padding zero would win a max
			}
			for _, inc := range []bool{false, true} {
				np.CountIncludePad = inc
				p := toPoolParams(np, inc)
				if err := p.Validate(); err != nil {
					t.Fatalf("%+v: %v", p, err)
				}
				oh, ow := p.OutSize()
				noh, now := np.Out()
				if oh != noh || ow != now {
					t.Fatalf("%+v: OutSize %d,%d want %d,%d", p, oh, ow, noh, now)
				}
				y := make([]float32, np.N*oh*ow*np.C)
				MaxPool(p, np.N, x, y)
				checkExact(t, "MaxPool", y, naive.MaxPool(np, x))
				AvgPool(p, np.N, x, y)
				checkClose(t, "AvgPool", y, naive.AvgPool(np, x), 1e-6)
			}
		}
	})
}

func TestPoolValidate(t *testing.T) {
	ok := PoolParams{H: 5, W: 5, C: 2, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadTop: 1, PadBottom: 1, PadLeft: 1, PadRight: 1}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		edit func(*PoolParams)
		has  string
	}{
		{"zero H", func(p *PoolParams) { p.H = 0 }, "H = 0"},
		{"zero C", func(p *PoolParams) { p.C = 0 }, "C = 0"},
		{"zero stride", func(p *PoolParams) { p.StrideW = 0 }, "StrideW"},
		{"negative pad", func(p *PoolParams) { p.PadLeft = -1 }, "PadLeft"},
		{"pad as large as kernel", func(p *PoolParams) { p.PadBottom = 3 }, "PadBottom"},
		{"kernel larger than input", func(p *PoolParams) { p.KW = 8; p.PadLeft, p.PadRight = 0, 0 }, "larger than the padded input"},
		{"too many elements", func(p *PoolParams) { p.H, p.W, p.C = 1<<12, 1<<12, 1<<8 }, "2^31"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := ok
			c.edit(&p)
			wantErr(t, c.name, p.Validate(), c.has)
		})
	}
}

func TestGlobalAvgPool(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(9, 10))
		for _, s := range [][3]int{{1, 1, 1}, {2, 49, 7}, {1, 16, 4}, {1, 17, 64}, {3, 5, 130}, {1, 1024, 33}, {2, 20, 300}} {
			n, hw, c := s[0], s[1], s[2]
			x := randVec(r, n*hw*c)
			y := make([]float32, n*c)
			GlobalAvgPool(n, hw, c, x, y)
			want, _ := naive.Mean(x, []int{n, hw, c}, []int{1})
			checkClose(t, "GlobalAvgPool", y, want, 1e-6)
		}
	})
}

// TestPoolSIMDMatchesScalar holds the SIMD inner loops to the scalar ones bit
// for bit: same operations in the same order.
func TestPoolSIMDMatchesScalar(t *testing.T) {
	if !haveSIMD {
		t.Skip("scalar build")
	}
	r := rand.New(rand.NewPCG(11, 12))
	saved := hot
	defer func() { hot = saved }()
	run := func(k hotKernels, f func() []float32) []float32 {
		hot = k
		return f()
	}
	for _, np := range poolCases(r) {
		x := randVec(r, np.N*np.H*np.W*np.C)
		p := toPoolParams(np, false)
		oh, ow := p.OutSize()
		for _, f := range []func(PoolParams, int, []float32, []float32){MaxPool, AvgPool} {
			g := func() []float32 { y := make([]float32, np.N*oh*ow*np.C); f(p, np.N, x, y); return y }
			checkExact(t, "pool simd vs scalar", run(hotSIMD, g), run(hotScalar, g))
		}
		g := func() []float32 {
			y := make([]float32, np.N*np.C)
			GlobalAvgPool(np.N, np.H*np.W, np.C, x, y)
			return y
		}
		checkExact(t, "gap simd vs scalar", run(hotSIMD, g), run(hotScalar, g))
	}
}

func TestPoolNoAllocs(t *testing.T) {
	p := PoolParams{H: 9, W: 9, C: 16, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadTop: 1, PadBottom: 1, PadLeft: 1, PadRight: 1}
	oh, ow := p.OutSize()
	x, y := make([]float32, 2*9*9*16), make([]float32, 2*oh*ow*16)
	checkNoAllocs(t, "MaxPool", func() { MaxPool(p, 2, x, y) })
	checkNoAllocs(t, "AvgPool", func() { AvgPool(p, 2, x, y) })
	checkNoAllocs(t, "GlobalAvgPool", func() { GlobalAvgPool(2, 81, 16, x, y) })
}

func BenchmarkPool(b *testing.B) {
	p := PoolParams{H: 56, W: 56, C: 64, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadTop: 1, PadBottom: 1, PadLeft: 1, PadRight: 1}
	oh, ow := p.OutSize()
	x, y := make([]float32, 56*56*64), make([]float32, oh*ow*64)
	for _, impl := range benchImpls() {
		saved := hot
		hot = impl.k
		b.Run("max/"+impl.name, func(b *testing.B) {
			for b.Loop() {
				MaxPool(p, 1, x, y)
			}
		})
		b.Run("avg/"+impl.name, func(b *testing.B) {
			for b.Loop() {
				AvgPool(p, 1, x, y)
			}
		})
		b.Run("global/"+impl.name, func(b *testing.B) {
			for b.Loop() {
				GlobalAvgPool(1, 56*56, 64, x, y)
			}
		})
		hot = saved
	}
}
