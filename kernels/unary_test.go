package kernels

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestActivateInPlace(t *testing.T) {
	eps := []Epilogue{
		{Act: ActNone}, {Act: ActReLU}, {Act: ActReLU6}, {Act: ActLeakyReLU, Alpha: 0.1},
		{Act: ActClip, Lo: -0.5, Hi: 1.5}, {Act: ActHardSwish}, {Act: ActSigmoid}, {Act: ActTanh},
	}
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 6))
		for _, n := range []int{1, 3, 4, 7, 64, 1029} {
			x := randVec(r, n)
			for i := range x {
				x[i] *= 4 // reach past the ReLU6 and HardSwish knees
			}
			for _, ep := range eps {
				want := slices.Clone(x)
				Activate(want, ep)
				got := slices.Clone(x)
				ActivateInPlace(got, ep)
				checkExact(t, "act "+string('0'+rune(ep.Act)), got, want)
			}
		}
		// ReLU keeps -0 and NaN (v < 0 is false for both), in every
		// lane position of the 16-wide loop, the 4-wide loop and the tail.
		nan := float32(math.NaN())
		special := make([]float32, 23)
		for i := range special {
			special[i] = []float32{float32(math.Copysign(0, -1)), nan, -1.5, 2, 0}[i%5]
		}
		got := slices.Clone(special)
		ActivateInPlace(got, Epilogue{Act: ActReLU})
		for i, v := range special {
			want := v
			if v < 0 {
				want = 0
			}
			if math.Float32bits(got[i]) != math.Float32bits(want) && !(want != want && got[i] != got[i]) {
				t.Errorf("relu(%v) at %d = %v (bits %#x), want bits %#x", v, i, got[i], math.Float32bits(got[i]), math.Float32bits(want))
			}
		}
		checkActivateSpecial(t)
		x := make([]float32, 4096)
		checkNoAllocs(t, "ActivateInPlace", func() { ActivateInPlace(x, Epilogue{Act: ActReLU6}) })
	})
}

// checkActivateSpecial holds Activate and ActivateInPlace to the plain
// comparisons that define ReLU, LeakyReLU, ReLU6 and Clip on the values
// where selecting bits instead of branching could go wrong: both zeros,
// NaN of either sign, the infinities, the denormals next to zero and the
// largest finite values.
func checkActivateSpecial(t *testing.T) {
	t.Helper()
	var special []float32
	for _, b := range []uint32{0, 0x80000000, 1, 0x80000001, 0x7f7fffff, 0xff7fffff, 0x7f800000, 0xff800000,
		0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001, 0x3f800000, 0xbf800000, 0x40c00000, 0x40c00001, 0xbf000001} {
		special = append(special, math.Float32frombits(b))
	}
	// Repeated so that every value meets every lane of the SIMD loops.
	x := slices.Repeat(special, 5)
	cmp := func(v, lo, hi float32) float32 {
		if v < lo {
			return lo
		}
		if v > hi {
			return hi
		}
		return v
	}
	for _, c := range []struct {
		ep  Epilogue
		ref func(v float32) float32
	}{
		{Epilogue{Act: ActReLU}, func(v float32) float32 {
			if v < 0 {
				return 0
			}
			return v
		}},
		{Epilogue{Act: ActLeakyReLU, Alpha: 0.25}, func(v float32) float32 {
			if v < 0 {
				return v * 0.25
			}
			return v
		}},
		{Epilogue{Act: ActReLU6}, func(v float32) float32 { return cmp(v, 0, 6) }},
		{Epilogue{Act: ActClip, Lo: -0.5, Hi: 1}, func(v float32) float32 { return cmp(v, -0.5, 1) }},
	} {
		for k, f := range []func([]float32, Epilogue){Activate, ActivateInPlace} {
			// ActivateInPlace's SIMD ReLU6 and Clip may give +0 for -0.
			inPlace := k == 1
			got := slices.Clone(x)
			f(got, c.ep)
			for i, v := range x {
				want := c.ref(v)
				if math.Float32bits(got[i]) != math.Float32bits(want) && !(want != want && got[i] != got[i]) &&
					!(inPlace && want == 0 && got[i] == 0 && (c.ep.Act == ActReLU6 || c.ep.Act == ActClip)) {
					t.Errorf("act %d of %v (bits %#x) at %d = %v (bits %#x), want bits %#x", c.ep.Act, v, math.Float32bits(v), i,
						got[i], math.Float32bits(got[i]), math.Float32bits(want))
				}
			}
		}
	}
}

func BenchmarkActivateInPlace(b *testing.B) {
	x := make([]float32, 1<<16)
	r := rand.New(rand.NewPCG(1, 1))
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	for _, act := range []struct {
		name string
		ep   Epilogue
	}{{"relu", Epilogue{Act: ActReLU}}, {"relu6", Epilogue{Act: ActReLU6}}, {"hardswish", Epilogue{Act: ActHardSwish}}} {
		for _, impl := range benchImpls() {
			b.Run(act.name+"/"+impl.name, func(b *testing.B) {
				saved := hot
				hot = impl.k
				defer func() { hot = saved }()
				b.SetBytes(int64(4 * len(x)))
				for b.Loop() {
					ActivateInPlace(x, act.ep)
				}
			})
		}
	}
}
