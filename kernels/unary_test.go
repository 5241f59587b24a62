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
		x := make([]float32, 4096)
		checkNoAllocs(t, "ActivateInPlace", func() { ActivateInPlace(x, Epilogue{Act: ActReLU6}) })
	})
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
