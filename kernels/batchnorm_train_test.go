package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// bnTrain64 is training-mode batch norm in float64: y = (x-m)/sqrt(v+eps)*s+b
// with the batch mean m and biased variance v per channel.
func bnTrain64(x, s, b []float64, rows, c int, eps float64) []float64 {
	y := make([]float64, len(x))
	for j := range c {
		var m, v float64
		for i := range rows {
			m += x[i*c+j]
		}
		m /= float64(rows)
		for i := range rows {
			v += (x[i*c+j] - m) * (x[i*c+j] - m)
		}
		v /= float64(rows)
		for i := range rows {
			y[i*c+j] = (x[i*c+j]-m)/math.Sqrt(v+eps)*s[j] + b[j]
		}
	}
	return y
}

func TestBatchNormTrain(t *testing.T) {
	r := rand.New(rand.NewPCG(61, 62))
	const eps, mom = 1e-3, 0.9
	for _, s := range [][2]int{{2, 1}, {5, 3}, {16, 7}, {33, 4}, {3, 300}} {
		rows, c := s[0], s[1]
		x := randVec(r, rows*c)
		for i := range x {
			x[i] = x[i]*2 + 1
		}
		scale, bias := randVec(r, c), randVec(r, c)
		runMean, runVar := randVec(r, c), randVec(r, c)
		for i := range runVar {
			runVar[i] = float32(math.Abs(float64(runVar[i])))
		}
		rm0, rv0 := append([]float32(nil), runMean...), append([]float32(nil), runVar...)
		y, sm, si := make([]float32, rows*c), make([]float32, c), make([]float32, c)
		BatchNormTrain(x, y, rows, c, scale, bias, runMean, runVar, mom, eps, sm, si)
		x64, s64, b64 := to64(x), to64(scale), to64(bias)
		want := bnTrain64(x64, s64, b64, rows, c, eps)
		for i := range y {
			checkGrad(t, "bn train y", i, y[i], want[i], 1e-6, 1)
		}
		for j := range c {
			var m, v float64
			for i := range rows {
				m += x64[i*c+j]
			}
			m /= float64(rows)
			for i := range rows {
				v += (x64[i*c+j] - m) * (x64[i*c+j] - m)
			}
			v /= float64(rows)
			checkGrad(t, "bn saved mean", j, sm[j], m, 1e-7, 1)
			checkGrad(t, "bn saved invstd", j, si[j], 1/math.Sqrt(v+eps), 1e-7, 0)
			m32 := float64(float32(mom)) // the momentum as the kernel receives it
			checkGrad(t, "bn running mean", j, runMean[j], float64(rm0[j])*m32+m*(1-m32), 1e-7, 1)
			checkGrad(t, "bn running var (biased)", j, runVar[j], float64(rv0[j])*m32+v*(1-m32), 1e-7, 1)
		}
		// The three gradients against central differences of the float64
		// forward (the batch statistics depend on x, so this checks the
		// correction terms too).
		dy := randVec(r, rows*c)
		dx, ds, db := randVec(r, rows*c), randVec(r, c), randVec(r, c)
		BatchNormTrainGrad(x, dy, rows, c, scale, sm, si, dx, ds, db)
		fx := func(v []float64) float64 { return dot64(dy, bnTrain64(v, s64, b64, rows, c, eps)) }
		fs := func(v []float64) float64 { return dot64(dy, bnTrain64(x64, v, b64, rows, c, eps)) }
		fb := func(v []float64) float64 { return dot64(dy, bnTrain64(x64, s64, v, rows, c, eps)) }
		for _, i := range fdCoords(r, len(x), 60) {
			checkGrad(t, "bn dx", i, dx[i], fdAt(fx, x64, i), 1e-4, 0.1)
		}
		for _, j := range fdCoords(r, c, 20) {
			checkGrad(t, "bn dscale", j, ds[j], fdAt(fs, s64, j), 1e-5, 1)
			checkGrad(t, "bn dbias", j, db[j], fdAt(fb, b64, j), 1e-5, 1)
		}
		// dx in place over dy, no parameter gradients wanted.
		in := append([]float32(nil), dy...)
		BatchNormTrainGrad(x, in, rows, c, scale, sm, si, in, nil, nil)
		checkExact(t, "bn dx in place", in, dx)
		// y in place over x, no running statistics.
		yi := append([]float32(nil), x...)
		BatchNormTrain(yi, yi, rows, c, scale, bias, nil, nil, mom, eps, sm, si)
		checkExact(t, "bn y in place", yi, y)
	}
	// Hand case: one channel [1 2 3 4], mean 2.5, biased variance 1.25 (the
	// unbiased one would be 5/3), momentum 0.9 from (0, 1).
	rm, rv := []float32{0}, []float32{1}
	y, sm, si := make([]float32, 4), make([]float32, 1), make([]float32, 1)
	BatchNormTrain([]float32{1, 2, 3, 4}, y, 4, 1, []float32{1}, []float32{0}, rm, rv, 0.9, 0, sm, si)
	checkClose(t, "bn hand running", []float32{rm[0], rv[0]}, []float32{0.25, 1.025}, 1e-7)
	checkClose(t, "bn hand y", y, []float32{float32(-1.5 / math.Sqrt(1.25)), float32(-0.5 / math.Sqrt(1.25)), float32(0.5 / math.Sqrt(1.25)), float32(1.5 / math.Sqrt(1.25))}, 1e-7)

	x, dy := randVec(r, 32*300), randVec(r, 32*300)
	p, q := randVec(r, 300), randVec(r, 300)
	out, g1, g2 := make([]float32, 32*300), make([]float32, 300), make([]float32, 300)
	checkNoAllocs(t, "BatchNormTrain", func() { BatchNormTrain(x, out, 32, 300, p, q, g1, g2, 0.99, 1e-3, g1, g2) })
	checkNoAllocs(t, "BatchNormTrainGrad", func() { BatchNormTrainGrad(x, dy, 32, 300, p, g1, g2, out, p, q) })
}
