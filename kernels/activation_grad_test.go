package kernels

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// Shared by the gradient tests: central differences on float64 versions of
// the forward ops. With a step h the truncation error is O(h^2 * f''') and
// the rounding error O(1e-16/h); h = 1e-5 keeps both near 1e-10, far below
// the float32 rounding of the kernels under test, so the tolerances below
// are set by float32 arithmetic (a few 1e-7 relative per operation, more
// where a kernel sums many float32 terms).

const fdStep = 1e-5

// fdAt returns the central difference of f at x along coordinate i.
func fdAt(f func([]float64) float64, x []float64, i int) float64 {
	v := x[i]
	x[i] = v + fdStep
	p := f(x)
	x[i] = v - fdStep
	m := f(x)
	x[i] = v
	return (p - m) / (2 * fdStep)
}

// fdCoords returns every index below n when n <= limit, else limit random
// ones (a finite-difference check of every coordinate would cost a forward
// pass each).
func fdCoords(r *rand.Rand, n, limit int) []int {
	if n <= limit {
		s := make([]int, n)
		for i := range s {
			s[i] = i
		}
		return s
	}
	s := make([]int, limit)
	for i := range s {
		s[i] = r.IntN(n)
	}
	return s
}

// checkGrad compares got[i] with want within tol*(mag+|want|), mag being the
// gradient's typical size.
func checkGrad(t *testing.T, what string, i int, got float32, want, tol, mag float64) {
	t.Helper()
	if math.Abs(float64(got)-want) > tol*(mag+math.Abs(want)) || math.IsNaN(float64(got)) != math.IsNaN(want) {
		t.Fatalf("%s: [%d] = %v, want %v (tol %g, mag %g)", what, i, got, want, tol, mag)
	}
}

func to64(v []float32) []float64 {
	o := make([]float64, len(v))
	for i, x := range v {
		o[i] = float64(x)
	}
	return o
}

// dot64 is sum(w*y): the scalar loss whose gradient with respect to y is w.
func dot64(w []float32, y []float64) float64 {
	var s float64
	for i, v := range y {
		s += float64(w[i]) * v
	}
	return s
}

// forEachGradImpl runs f with the scalar backward loops and, in the SIMD
// build, with the SIMD ones.
func forEachGradImpl(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	saved := gradHot
	defer func() { gradHot = saved }()
	gradHot = gradHotScalar
	t.Run("scalar", f)
	if haveGradSIMD {
		gradHot = gradHotSIMD
		t.Run("simd", f)
	}
}

// act64 is the activation in float64.
func act64(ep Epilogue, v float64) float64 {
	switch ep.Act {
	case ActReLU:
		return max(v, 0)
	case ActReLU6:
		return min(max(v, 0), 6)
	case ActLeakyReLU:
		if v < 0 {
			return v * float64(ep.Alpha)
		}
		return v
	case ActSigmoid:
		return 1 / (1 + math.Exp(-v))
	case ActTanh:
		return math.Tanh(v)
	case ActHardSwish:
		return v * min(max(v+3, 0), 6) / 6
	case ActClip:
		return min(max(v, float64(ep.Lo)), float64(ep.Hi))
	}
	return v
}

var gradActs = []Epilogue{
	{Act: ActNone}, {Act: ActReLU}, {Act: ActReLU6}, {Act: ActLeakyReLU, Alpha: 0.1},
	{Act: ActSigmoid}, {Act: ActTanh}, {Act: ActHardSwish}, {Act: ActClip, Lo: -1.5, Hi: 2.5},
}

func TestActivationGrad(t *testing.T) {
	forEachGradImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		kinks := []float32{0, 6, -3, 3, -1.5, 2.5}
		for _, ep := range gradActs {
			for _, n := range []int{1, 3, 4, 5, 17, 64, 203} {
				x := make([]float32, n)
				for i := range x {
					v := float32(r.NormFloat64() * 4)
					for _, k := range kinks { // keep the step off the kinks
						if math.Abs(float64(v-k)) < 1e-3 {
							v += 0.01
						}
					}
					x[i] = v
				}
				y := append([]float32(nil), x...)
				Activate(y, ep)
				dy := randVec(r, n)
				dx := make([]float32, n)
				ActivationGrad(ep, x, y, dy, dx)
				for i := range x {
					f := func(v []float64) float64 { return act64(ep, v[0]) }
					want := float64(dy[i]) * fdAt(f, []float64{float64(x[i])}, 0)
					checkGrad(t, "act "+strconv.Itoa(int(ep.Act)), i, dx[i], want, 1e-5, 1)
				}
				// In place: dx is dy.
				ActivationGrad(ep, x, y, dy, dy)
				checkExact(t, "act in place", dy, dx)
			}
		}
	})
}

// TestActivationGradKinks pins the derivative at the kinks (TensorFlow's
// choices) and at NaN.
func TestActivationGradKinks(t *testing.T) {
	forEachGradImpl(t, func(t *testing.T) {
		nan := float32(math.NaN())
		cases := []struct {
			ep   Epilogue
			x    []float32
			want []float32 // dx for dy = 1
		}{
			{Epilogue{Act: ActReLU}, []float32{0, float32(math.Copysign(0, -1)), 1e-30, -1e-30, nan, 5, -5, 1}, []float32{0, 0, 1, 0, 0, 1, 0, 1}},
			{Epilogue{Act: ActReLU6}, []float32{0, 6, 5.999999, 1e-30, 6.000001, nan, -1, 3}, []float32{0, 0, 1, 1, 0, 0, 0, 1}},
			{Epilogue{Act: ActLeakyReLU, Alpha: 0.25}, []float32{0, 1, -1}, []float32{0.25, 1, 0.25}},
			{Epilogue{Act: ActHardSwish}, []float32{-3, 3, 0, -4, 4}, []float32{0, 1, 0.5, 0, 1}},
			{Epilogue{Act: ActClip, Lo: -1, Hi: 2}, []float32{-1, 2, -1.0000001, 2.0000002, 0, nan}, []float32{1, 1, 0, 0, 1, 0}},
		}
		for _, c := range cases {
			dy := make([]float32, len(c.x))
			for i := range dy {
				dy[i] = 1
			}
			dx := make([]float32, len(c.x))
			ActivationGrad(c.ep, c.x, nil, dy, dx)
			checkExact(t, "kink act "+strconv.Itoa(int(c.ep.Act)), dx, c.want)
		}
	})
}

func TestActivationGradNoAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	x, dy := randVec(r, 100), randVec(r, 100)
	y, dx := make([]float32, 100), make([]float32, 100)
	for _, ep := range gradActs {
		checkNoAllocs(t, "ActivationGrad", func() { ActivationGrad(ep, x, y, dy, dx) })
	}
}

// TestReLUGradSIMDMatchesScalar holds the SIMD ReLU/ReLU6 gradient to its
// scalar twin bit for bit, edge values (NaN, signed zeros, 6) and every
// tail length included.
func TestReLUGradSIMDMatchesScalar(t *testing.T) {
	if !haveGradSIMD {
		t.Skip("no SIMD in this build")
	}
	r := rand.New(rand.NewPCG(17, 18))
	edges := []float32{0, float32(math.Copysign(0, -1)), 6, 5.9999995, 6.0000005, float32(math.NaN()),
		float32(math.Inf(1)), float32(math.Inf(-1)), 1e-45, -1e-45}
	for n := range 40 {
		x := randVec(r, n)
		for i := range x {
			if r.IntN(3) == 0 {
				x[i] = edges[r.IntN(len(edges))]
			} else {
				x[i] *= 5
			}
		}
		dy := randVec(r, n)
		for _, six := range []bool{false, true} {
			a, b := make([]float32, n), make([]float32, n)
			gradHotSIMD.reluGrad(six, x, dy, a)
			gradHotScalar.reluGrad(six, x, dy, b)
			for i := range a {
				if math.Float32bits(a[i]) != math.Float32bits(b[i]) && !(a[i] != a[i] && b[i] != b[i]) {
					t.Fatalf("relu grad six=%v n=%d [%d] x=%v: simd %v, scalar %v", six, n, i, x[i], a[i], b[i])
				}
			}
		}
	}
}

func BenchmarkActivationGrad(b *testing.B) {
	r := rand.New(rand.NewPCG(19, 20))
	const n = 1 << 16
	x, dy, dx := randVec(r, n), randVec(r, n), make([]float32, n)
	for _, impl := range []struct {
		name string
		k    gradKernels
	}{{"scalar", gradHotScalar}, {"simd", gradHotSIMD}} {
		if impl.name == "simd" && !haveGradSIMD {
			continue
		}
		for _, ep := range []Epilogue{{Act: ActReLU}, {Act: ActReLU6}} {
			b.Run(impl.name+"/act"+strconv.Itoa(int(ep.Act)), func(b *testing.B) {
				saved := gradHot
				gradHot = impl.k
				defer func() { gradHot = saved }()
				b.SetBytes(3 * 4 * n)
				for b.Loop() {
					ActivationGrad(ep, x, nil, dy, dx)
				}
			})
		}
	}
}
