package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestRNGReference pins the generator to xoshiro128**'s published outputs
// for the state {1, 2, 3, 4} and checks that a seed reproduces its stream.
func TestRNGReference(t *testing.T) {
	r := RNG{s: [4]uint32{1, 2, 3, 4}}
	for i, want := range []uint32{11520, 0, 5927040, 70819200} {
		if got := r.Uint32(); got != want {
			t.Fatalf("xoshiro128** output %d = %d, want %d", i, got, want)
		}
	}
	a, b, c := NewRNG(7), NewRNG(7), NewRNG(8)
	same, diff := true, 0
	for range 100 {
		x, y, z := a.Uint32(), b.Uint32(), c.Uint32()
		same = same && x == y
		if x != z {
			diff++
		}
	}
	if !same || diff < 95 {
		t.Fatalf("seeds: same seed equal %v, other seed differs %d/100", same, diff)
	}
	if NewRNG(0).s == [4]uint32{} {
		t.Fatal("seed 0 gives the all-zero state")
	}
	for range 1000 {
		if f := a.Float32(); !(f >= 0 && f < 1) {
			t.Fatalf("Float32 = %v, outside [0, 1)", f)
		}
	}
}

func TestDropout(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	const n = 200000
	x := randVec(r, n)
	for _, rate := range []float32{0.1, 0.3, 0.5, 0.9} {
		rng := NewRNG(uint64(rate * 100))
		y, mask := make([]float32, n), make([]uint8, n)
		Dropout(x, y, mask, rate, &rng)
		scale := float32(1 / (1 - float64(rate)))
		kept := 0
		for i := range x {
			switch mask[i] {
			case 1:
				kept++
				if y[i] != x[i]*scale {
					t.Fatalf("rate %v: kept y[%d] = %v, want %v", rate, i, y[i], x[i]*scale)
				}
			case 0:
				if y[i] != 0 {
					t.Fatalf("rate %v: dropped y[%d] = %v", rate, i, y[i])
				}
			default:
				t.Fatalf("mask[%d] = %d", i, mask[i])
			}
		}
		// The kept fraction within 5 standard deviations of 1-rate.
		p := 1 - float64(rate)
		if f := float64(kept) / n; math.Abs(f-p) > 5*math.Sqrt(p*(1-p)/n) {
			t.Fatalf("rate %v: kept %v, want %v", rate, f, p)
		}
		// The gradient is the same linear map with the recorded mask: the
		// Jacobian is diag(mask*scale), so dx = dy*mask*scale exactly, and
		// applying it to x gives y back.
		dx := make([]float32, n)
		DropoutGrad(mask, rate, x, dx)
		checkExact(t, "dropout grad = forward with the mask", dx, y)
		dy := randVec(r, n)
		DropoutGrad(mask, rate, dy, dy) // in place
		for i := range dy {
			if mask[i] == 0 && dy[i] != 0 {
				t.Fatalf("dropout grad through a dropped element: %v", dy[i])
			}
		}
		// Determinism: the same seed gives the same mask, in place too.
		rng2 := NewRNG(uint64(rate * 100))
		y2, mask2 := append([]float32(nil), x...), make([]uint8, n)
		Dropout(y2, y2, mask2, rate, &rng2)
		checkExact(t, "dropout same seed", y2, y)
		for i := range mask {
			if mask[i] != mask2[i] {
				t.Fatalf("same seed, mask differs at %d", i)
			}
		}
	}
	// rate 0 keeps everything unchanged, rate 1 drops everything.
	rng := NewRNG(1)
	y, mask := make([]float32, 100), make([]uint8, 100)
	Dropout(x[:100], y, mask, 0, &rng)
	checkExact(t, "rate 0", y, x[:100])
	Dropout(x[:100], y, mask, 1, &rng)
	checkExact(t, "rate 1", y, make([]float32, 100))
	DropoutGrad(mask, 1, x[:100], y)
	checkExact(t, "rate 1 grad", y, make([]float32, 100))
	// The threshold is exact: at rate 2^-24 only a draw whose top 24 bits
	// are 0 is dropped; the reference state's first two draws are 11520
	// (kept) and 0 (dropped).
	ref := RNG{s: [4]uint32{1, 2, 3, 4}}
	Dropout([]float32{1, 1}, y[:2], mask[:2], 0x1p-24, &ref)
	if mask[0] != 1 || mask[1] != 0 {
		t.Fatalf("threshold: mask %v, want [1 0]", mask[:2])
	}
	// The first draw's top 24 bits are 45: kept at rate 45/2^24 (u >= rate),
	// dropped at rate 45.5/2^24.
	for _, c := range []struct {
		rate float32
		want uint8
	}{{45 * 0x1p-24, 1}, {45.5 * 0x1p-24, 0}, {44.5 * 0x1p-24, 1}} {
		ref = RNG{s: [4]uint32{1, 2, 3, 4}}
		Dropout([]float32{1}, y[:1], mask[:1], c.rate, &ref)
		if mask[0] != c.want {
			t.Fatalf("threshold at rate %v*2^-24: mask %d, want %d", c.rate*0x1p24, mask[0], c.want)
		}
	}
	checkNoAllocs(t, "Dropout", func() { Dropout(x[:100], y, mask, 0.5, &rng) })
	checkNoAllocs(t, "DropoutGrad", func() { DropoutGrad(mask, 0.5, x[:100], y) })
}
