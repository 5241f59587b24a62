package kernels

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/edgenn/edgenn/internal/naive"
)

func bnParams(r *rand.Rand, c int) (scale, bias, mean, variance []float32) {
	scale, bias, mean, variance = randVec(r, c), randVec(r, c), randVec(r, c), randVec(r, c)
	for i := range variance {
		variance[i] = variance[i]*variance[i] + 0.1
	}
	return
}

func TestBatchNorm(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(13, 14))
		for _, s := range [][2]int{{1, 1}, {5, 3}, {7, 4}, {3, 64}, {2, 67}, {4, 200}, {3, 300}} {
			rows, c := s[0], s[1]
			x := randVec(r, rows*c)
			scale, bias, mean, variance := bnParams(r, c)
			want := naive.BatchNorm(x, c, scale, bias, mean, variance, 1e-3)
			y := make([]float32, len(x))
			BatchNorm(x, y, c, scale, bias, mean, variance, 1e-3)
			checkClose(t, "BatchNorm", y, want, 2e-6)
			BatchNorm(x, x, c, scale, bias, mean, variance, 1e-3) // in place
			checkExact(t, "BatchNorm in place", x, y)
		}
	})
}

func TestBatchNormSIMDMatchesScalar(t *testing.T) {
	if !haveSIMD {
		t.Skip("scalar build")
	}
	r := rand.New(rand.NewPCG(15, 16))
	saved := hot
	defer func() { hot = saved }()
	for _, c := range []int{3, 8, 65, 131, 300} {
		x := randVec(r, 9*c)
		scale, bias, mean, variance := bnParams(r, c)
		y1, y2 := make([]float32, len(x)), make([]float32, len(x))
		hot = hotScalar
		BatchNorm(x, y1, c, scale, bias, mean, variance, 1e-5)
		hot = hotSIMD
		BatchNorm(x, y2, c, scale, bias, mean, variance, 1e-5)
		checkExact(t, "BatchNorm simd vs scalar", y2, y1)
	}
}

// TestFoldBatchNorm checks that a dense layer (or a convolution in HWIO
// form, whose output channel is also the last weight axis) with the
// BatchNorm folded in computes what the layer followed by BatchNorm does.
func TestFoldBatchNorm(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	for _, s := range []struct {
		rows, k, n int
		bias       bool
	}{{5, 3, 4, true}, {7, 3 * 3 * 5, 6, false}, {1, 1, 1, true}, {4, 27, 67, false}} {
		x, w := randVec(r, s.rows*s.k), randVec(r, s.k*s.n)
		b := make([]float32, s.n)
		if s.bias {
			b = randVec(r, s.n)
		}
		scale, bias, mean, variance := bnParams(r, s.n)
		want := naive.BatchNorm(naive.Affine(x, w, b, s.rows, s.k, s.n), s.n, scale, bias, mean, variance, 1e-3)
		fw, fb := slices.Clone(w), slices.Clone(b)
		FoldBatchNorm(fw, fb, s.n, scale, bias, mean, variance, 1e-3)
		got := naive.Affine(x, fw, fb, s.rows, s.k, s.n)
		checkClose(t, "FoldBatchNorm", got, want, 1e-5)
	}
}

func TestBatchNormNoAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	scale, bias, mean, variance := bnParams(r, 96)
	x := make([]float32, 96*50)
	checkNoAllocs(t, "BatchNorm", func() { BatchNorm(x, x, 96, scale, bias, mean, variance, 1e-3) })
	w, b := make([]float32, 96*9), make([]float32, 96)
	checkNoAllocs(t, "FoldBatchNorm", func() { FoldBatchNorm(w, b, 96, scale, bias, mean, variance, 1e-3) })
}

func BenchmarkBatchNorm(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	scale, bias, mean, variance := bnParams(r, 64)
	x := randVec(r, 32*32*64)
	for _, impl := range benchImpls() {
		b.Run(impl.name, func(b *testing.B) {
			saved := hot
			hot = impl.k
			defer func() { hot = saved }()
			b.SetBytes(int64(4 * len(x)))
			for b.Loop() {
				BatchNorm(x, x, 64, scale, bias, mean, variance, 1e-3)
			}
		})
	}
}
