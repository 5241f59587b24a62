package kernels

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/edgenn/edgenn/internal/naive"
)

var binaryRefs = []struct {
	name string
	op   BinaryOp
	f    func(a, b float32) float32
}{
	{"add", BinAdd, func(a, b float32) float32 { return a + b }},
	{"sub", BinSub, func(a, b float32) float32 { return a - b }},
	{"mul", BinMul, func(a, b float32) float32 { return a * b }},
	{"div", BinDiv, func(a, b float32) float32 { return a / b }},
	{"prelu", BinPRelu, func(a, b float32) float32 {
		if a >= 0 {
			return a
		}
		return a * b
	}},
	{"max", BinMax, func(a, b float32) float32 { return max(a, b) }},
	{"min", BinMin, func(a, b float32) float32 { return min(a, b) }},
}

// broadcastPair draws an output shape and two shapes that broadcast to it:
// each a suffix of it with some axes set to 1.
func broadcastPair(r *rand.Rand) (a, b []int) {
	out := randShape(r, r.IntN(6), 6)
	pick := func() []int {
		s := slices.Clone(out[len(out)-r.IntN(len(out)+1):])
		for i := range s {
			if r.IntN(3) == 0 {
				s[i] = 1
			}
		}
		return s
	}
	return pick(), pick()
}

func TestBinary(t *testing.T) {
	fixed := [][2][]int{
		{{2, 3, 5, 7}, {2, 3, 5, 7}}, // same shape
		{{2, 3, 5, 7}, {}},           // b scalar
		{{}, {2, 3, 5, 7}},           // a scalar
		{{2, 3, 5, 7}, {7}},          // b per channel
		{{7}, {2, 3, 5, 7}},          // a per channel
		{{2, 3, 5, 7}, {1, 1, 1, 7}}, // per channel, same rank
		{{2, 3, 1, 7}, {1, 5, 1}},    // both broadcast
		{{4, 1}, {1, 9}},             // outer product
		{{1}, {1}},
		{{3, 1, 5}, {3, 4, 1}},
		{{1031}, {1031}}, // odd length: SIMD tail
		{{1031}, {1}},
	}
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		cases := slices.Clone(fixed)
		for range 60 {
			a, b := broadcastPair(r)
			cases = append(cases, [2][]int{a, b})
		}
		for _, c := range cases {
			as, bs := c[0], c[1]
			a, b := randVec(r, naive.Count(as)), randVec(r, naive.Count(bs))
			for _, ref := range binaryRefs {
				k, err := NewBinary(ref.op, as, bs)
				if err != nil {
					t.Fatalf("%s %v %v: %v", ref.name, as, bs, err)
				}
				want, ws := naive.Binary(ref.f, as, a, bs, b)
				checkShape(t, ref.name, k.OutShape(), ws)
				got := make([]float32, len(want))
				k.Run(a, b, got)
				checkExact(t, ref.name+" "+layoutDims(as)+" "+layoutDims(bs), got, want)
			}
		}
	})
}

func TestBinaryInPlace(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		a, b := randVec(r, 6*37), randVec(r, 37)
		want, _ := naive.Binary(binaryRefs[1].f, []int{6, 37}, a, []int{37}, b)
		k, err := NewBinary(BinSub, []int{6, 37}, []int{37})
		if err != nil {
			t.Fatal(err)
		}
		k.Run(a, b, a)
		checkExact(t, "in place", a, want)
	})
}

func TestBinaryErrors(t *testing.T) {
	cases := []struct {
		name   string
		op     BinaryOp
		a, b   []int
		errHas []string
	}{
		{"no broadcast", BinAdd, []int{2, 3}, []int{4}, []string{"[2 3]", "[4]", "axis -1", "3 vs 4"}},
		{"no broadcast inner", BinMul, []int{5, 2, 3}, []int{4, 1}, []string{"axis -2"}},
		{"unknown op", BinaryOp(99), []int{2}, []int{2}, []string{"unknown op 99"}},
		{"zero dim", BinAdd, []int{2, 0}, []int{2}, []string{"a shape", "non-positive"}},
		{"negative dim", BinAdd, []int{2}, []int{-1}, []string{"b shape", "non-positive"}},
		{"rank 9", BinAdd, []int{1, 1, 1, 1, 1, 1, 1, 1, 2}, []int{2}, []string{"rank 9"}},
		{"too many elements", BinAdd, []int{1 << 16, 1 << 16}, []int{1}, []string{"2^31"}},
		{"output too large", BinAdd, []int{1 << 16, 1}, []int{1, 1 << 16}, []string{"output shape", "2^31"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewBinary(c.op, c.a, c.b)
			wantErr(t, c.name, err, c.errHas...)
		})
	}
}

func TestBinaryNoAllocs(t *testing.T) {
	for _, s := range [][2][]int{{{8, 8, 16}, {8, 8, 16}}, {{8, 8, 16}, {16}}, {{8, 8, 16}, {}}, {{8, 1, 16}, {1, 8, 1}}} {
		k, err := NewBinary(BinAdd, s[0], s[1])
		if err != nil {
			t.Fatal(err)
		}
		a, b := make([]float32, naive.Count(s[0])), make([]float32, naive.Count(s[1]))
		out := make([]float32, naive.Count(k.OutShape()))
		checkNoAllocs(t, "Binary.Run", func() { k.Run(a, b, out) })
	}
}

func BenchmarkBinary(b *testing.B) {
	for _, c := range []struct {
		name   string
		as, bs []int
	}{{"same", []int{1, 32, 32, 64}, []int{1, 32, 32, 64}}, {"channel", []int{1, 32, 32, 64}, []int{64}}} {
		k, _ := NewBinary(BinAdd, c.as, c.bs)
		x, y := make([]float32, naive.Count(c.as)), make([]float32, naive.Count(c.bs))
		out := make([]float32, len(x))
		for _, impl := range benchImpls() {
			b.Run(c.name+"/"+impl.name, func(b *testing.B) {
				saved := hot
				hot = impl.k
				defer func() { hot = saved }()
				b.SetBytes(int64(4 * len(x)))
				for b.Loop() {
					k.Run(x, y, out)
				}
			})
		}
	}
}
