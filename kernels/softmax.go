package kernels

import "math"

// Softmax computes softmax along the middle axis of x viewed as
// [outer, axis, inner] (row major) into y of the same size; y may be x.
// It matches TensorFlow.js's cpu backend: subtract the maximum (in float32),
// exp in float64 rounded to float32, sum the exps in float64 and round, then
// divide in float32. It does not allocate.
func Softmax(x, y []float32, outer, axis, inner int) {
	if outer <= 0 || axis <= 0 || inner <= 0 {
		return
	}
	n := outer * axis * inner
	x, y = x[:n], y[:n]
	for o := range outer {
		base := o * axis * inner
		for in := range inner {
			xs := x[base+in : base+(axis-1)*inner+in+1]
			ys := y[base+in : base+(axis-1)*inner+in+1]
			m := xs[0]
			for i := 0; i < len(xs); i += inner {
				m = max(m, xs[i])
			}
			var sum float64
			for i := 0; i < len(xs); i += inner {
				e := float32(math.Exp(float64(xs[i] - m)))
				ys[i] = e
				sum += float64(e)
			}
			s := float32(sum)
			for i := 0; i < len(ys); i += inner {
				ys[i] /= s
			}
		}
	}
}
