package kernels

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// bcastIndex maps output element o of shape out to the element of an
// operand of shape s (right-aligned, size-1 axes broadcast).
func bcastIndex(out, s []int, o int) int {
	idx, st := 0, 1
	for d := len(out) - 1; d >= 0; d-- {
		k := o % out[d]
		o /= out[d]
		if j := d - (len(out) - len(s)); j >= 0 {
			if s[j] != 1 {
				idx += k * st
			}
			st *= s[j]
		}
	}
	return idx
}

func binOp64(op BinaryOp, a, b float64) float64 {
	switch op {
	case BinAdd:
		return a + b
	case BinSub:
		return a - b
	case BinMul:
		return a * b
	case BinDiv:
		return a / b
	case BinPRelu:
		if a >= 0 {
			return a
		}
		return a * b
	}
	panic("op")
}

// binGradOperands draws a and b for op away from where its derivative
// jumps or blows up: |b| >= 0.5 for Div, |a| >= 0.01 for PRelu.
func binGradOperands(r *rand.Rand, op BinaryOp, an, bn int) (a, b []float32) {
	a, b = randVec(r, an), randVec(r, bn)
	for i, v := range b {
		if op == BinDiv && math.Abs(float64(v)) < 0.5 {
			b[i] = float32(math.Copysign(0.5+math.Abs(float64(v)), float64(v)))
		}
	}
	for i, v := range a {
		if op == BinPRelu && math.Abs(float64(v)) < 0.01 {
			a[i] = 0.01 + v
		}
	}
	return a, b
}

func TestBinaryGrad(t *testing.T) {
	forEachGradImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(21, 22))
		pairs := [][2][]int{
			{{2, 3, 5, 7}, {2, 3, 5, 7}},    // same shape
			{{2, 3, 5, 7}, {}},              // b scalar
			{{}, {2, 3, 5, 7}},              // a scalar
			{{4, 4, 6, 5}, {5}},             // per channel, C < 64
			{{3, 7, 70}, {70}},              // per channel, two channel chunks
			{{40, 9}, {9}},                  // per channel, 16-row blocks
			{{9}, {40, 9}},                  // a broadcast over rows
			{{2, 1, 5, 1}, {1, 3, 1, 4}},    // both broadcast
			{{3, 1}, {1, 3}},                // outer product
			{{1}, {1}},                      // one element
			{{6, 1, 1}, {6, 5, 4}},          // a broadcast inner
			{{2, 3, 4, 5}, {3, 1, 5}},       // b broadcast middle
			{{5, 4, 3, 2}, {5, 1, 3, 1}},    // strided b
			{{2, 2, 2, 2, 3}, {2, 1, 2, 1}}, // rank 5
		}
		for range 40 {
			a, b := broadcastPair(r)
			pairs = append(pairs, [2][]int{a, b})
		}
		for _, sh := range pairs {
			for op := BinAdd; op <= BinPRelu; op++ {
				g, err := NewBinaryGrad(op, sh[0], sh[1])
				if err != nil {
					t.Fatalf("%v %v: %v", sh[0], sh[1], err)
				}
				out := g.OutShape()
				an, bn, n := naiveCount(sh[0]), naiveCount(sh[1]), naiveCount(out)
				a, b := binGradOperands(r, op, an, bn)
				dy := randVec(r, n)
				da, db := randVec(r, an), randVec(r, bn) // garbage: Run overwrites
				g.Run(a, b, dy, da, db)
				// Each element against the reduction written out in float64,
				// tolerance relative to the sum of the magnitudes reduced
				// (Run sums broadcast gradients in float32).
				wa, wb := make([]float64, an), make([]float64, bn)
				ma, mb := make([]float64, an), make([]float64, bn)
				for o := range n {
					ia, ib := bcastIndex(out, sh[0], o), bcastIndex(out, sh[1], o)
					va, vb, gy := float64(a[ia]), float64(b[ib]), float64(dy[o])
					var ga, gb float64
					switch op {
					case BinAdd:
						ga, gb = gy, gy
					case BinSub:
						ga, gb = gy, -gy
					case BinMul:
						ga, gb = gy*vb, gy*va
					case BinDiv:
						ga, gb = gy/vb, -gy*va/(vb*vb)
					case BinPRelu:
						ga = gy
						if va < 0 {
							ga, gb = gy*vb, gy*va
						}
					}
					wa[ia] += ga
					wb[ib] += gb
					ma[ia] += math.Abs(ga)
					mb[ib] += math.Abs(gb)
				}
				what := "binary grad op " + strconv.Itoa(int(op)) + " " + layoutDims(sh[0]) + " " + layoutDims(sh[1])
				for i := range wa {
					checkGrad(t, what+" da", i, da[i], wa[i], 1e-5, ma[i]+1e-3)
				}
				for i := range wb {
					checkGrad(t, what+" db", i, db[i], wb[i], 1e-5, mb[i]+1e-3)
				}
				// The formulas against central differences of the forward.
				loss := func(av, bv []float64) float64 {
					var l float64
					for o := range n {
						l += float64(dy[o]) * binOp64(op, av[bcastIndex(out, sh[0], o)], bv[bcastIndex(out, sh[1], o)])
					}
					return l
				}
				a64, b64 := to64(a), to64(b)
				for _, i := range fdCoords(r, an, 8) {
					checkGrad(t, what+" da fd", i, da[i], fdAt(func(v []float64) float64 { return loss(v, b64) }, a64, i), 1e-4, ma[i]+1e-3)
				}
				for _, i := range fdCoords(r, bn, 8) {
					checkGrad(t, what+" db fd", i, db[i], fdAt(func(v []float64) float64 { return loss(a64, v) }, b64, i), 1e-4, mb[i]+1e-3)
				}
				// One output alone, and neither.
				da2, db2 := make([]float32, an), make([]float32, bn)
				g.Run(a, b, dy, nil, db2)
				g.Run(a, b, dy, da2, nil)
				g.Run(a, b, dy, nil, nil)
				checkExact(t, what+" da alone", da2, da)
				checkExact(t, what+" db alone", db2, db)
				if op == BinAdd || op == BinSub { // a and b are not read
					g.Run(nil, nil, dy, da2, db2)
					checkExact(t, what+" da without operands", da2, da)
					checkExact(t, what+" db without operands", db2, db)
				}
			}
		}
	})
}

func naiveCount(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

func TestBinaryGradErrors(t *testing.T) {
	_, err := NewBinaryGrad(BinMax, []int{2}, []int{2})
	wantErr(t, "max", err, "NewBinaryGrad", "no gradient")
	_, err = NewBinaryGrad(BinMin, []int{2}, []int{2})
	wantErr(t, "min", err, "op 6")
	_, err = NewBinaryGrad(BinAdd, []int{2, 3}, []int{4})
	wantErr(t, "shapes", err, "do not broadcast", "[2 3]", "[4]")
	_, err = NewBinaryGrad(BinAdd, []int{2, 0}, []int{2})
	wantErr(t, "zero dim", err, "non-positive")
}

func TestBinaryGradNoAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	for _, sh := range [][2][]int{{{4, 6, 5}, {4, 6, 5}}, {{8, 70}, {70}}, {{2, 1, 5}, {3, 1}}, {{3, 4}, {}}} {
		for op := BinAdd; op <= BinPRelu; op++ {
			g, err := NewBinaryGrad(op, sh[0], sh[1])
			if err != nil {
				t.Fatal(err)
			}
			an, bn := naiveCount(sh[0]), naiveCount(sh[1])
			a, b, dy := randVec(r, an), randVec(r, bn), randVec(r, naiveCount(g.OutShape()))
			da, db := make([]float32, an), make([]float32, bn)
			checkNoAllocs(t, "BinaryGrad.Run", func() { g.Run(a, b, dy, da, db) })
		}
	}
}

// TestBinaryGradSIMDMatchesScalar holds the SIMD same-shape gradients to
// their scalar twins bit for bit, edge values and every tail length included.
func TestBinaryGradSIMDMatchesScalar(t *testing.T) {
	if !haveGradSIMD {
		t.Skip("no SIMD in this build")
	}
	r := rand.New(rand.NewPCG(25, 26))
	edges := []float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()), float32(math.Inf(1)), 1e-45}
	pick := func(n int) []float32 {
		v := randVec(r, n)
		for i := range v {
			if r.IntN(4) == 0 {
				v[i] = edges[r.IntN(len(edges))]
			}
		}
		return v
	}
	bits := func(what string, x, y []float32) {
		t.Helper()
		for i := range x {
			// NaN to NaN: a wasm NaN's sign and payload are not specified.
			if math.Float32bits(x[i]) != math.Float32bits(y[i]) && !(x[i] != x[i] && y[i] != y[i]) {
				t.Fatalf("%s [%d]: simd %v, scalar %v", what, i, x[i], y[i])
			}
		}
	}
	// The per-channel reduction over rows (several 16-row blocks, a second
	// channel chunk, tails).
	for _, c := range []int{1, 3, 4, 9, 64, 70, 131} {
		rows := 1 + r.IntN(40)
		a, b, dy := pick(rows*c), pick(c), pick(rows*c)
		for op := BinAdd; op <= BinPRelu; op++ {
			x, y := make([]float32, c), make([]float32, c)
			gradHotSIMD.binGradChannelB(op, a, b, dy, x, c)
			gradHotScalar.binGradChannelB(op, a, b, dy, y, c)
			bits("channel db op "+strconv.Itoa(int(op)), x, y)
		}
	}
	for n := range 30 {
		a, b, dy := pick(n), pick(n), pick(n)
		for op := BinAdd; op <= BinPRelu; op++ {
			x, y := make([]float32, n), make([]float32, n)
			gradHotSIMD.binGradSameA(op, a, b, dy, x)
			gradHotScalar.binGradSameA(op, a, b, dy, y)
			bits("da op "+strconv.Itoa(int(op)), x, y)
			gradHotSIMD.binGradSameB(op, a, b, dy, x)
			gradHotScalar.binGradSameB(op, a, b, dy, y)
			bits("db op "+strconv.Itoa(int(op)), x, y)
		}
	}
}

func BenchmarkBinaryGrad(b *testing.B) {
	r := rand.New(rand.NewPCG(27, 28))
	for _, sh := range [][2][]int{{{8, 28, 28, 16}, {8, 28, 28, 16}}, {{8, 28, 28, 16}, {16}}} {
		for _, op := range []BinaryOp{BinAdd, BinMul, BinPRelu} {
			g, _ := NewBinaryGrad(op, sh[0], sh[1])
			an, bn := naiveCount(sh[0]), naiveCount(sh[1])
			a, bv, dy := randVec(r, an), randVec(r, bn), randVec(r, an)
			da, db := make([]float32, an), make([]float32, bn)
			for _, impl := range []struct {
				name string
				k    gradKernels
			}{{"scalar", gradHotScalar}, {"simd", gradHotSIMD}} {
				if impl.name == "simd" && !haveGradSIMD {
					continue
				}
				b.Run(impl.name+"/op"+strconv.Itoa(int(op))+layoutDims(sh[1]), func(b *testing.B) {
					saved := gradHot
					gradHot = impl.k
					defer func() { gradHot = saved }()
					for b.Loop() {
						g.Run(a, bv, dy, da, db)
					}
				})
			}
		}
	}
}
