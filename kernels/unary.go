package kernels

// ActivateInPlace applies ep.Act to x in place, with the same results as
// Activate (ep.Bias is ignored, as Activate ignores it). In the SIMD build
// ReLU, ReLU6, Clip, LeakyReLU and HardSwish run four lanes at a time;
// ReLU there may turn -0 into +0, which compares equal. Sigmoid and Tanh
// fall back to Activate. It does not allocate.
func ActivateInPlace(x []float32, ep Epilogue) {
	hot.activate(x, ep)
}

// vecMaxScalar computes y[i] = max(y[i], x[i]), NaN winning. It compares
// instead of calling the max builtin, which Go's wasm port runs several
// times slower; the two differ only on the sign of a zero result.
func vecMaxScalar(y, x []float32) {
	x = x[:len(y)]
	for i, v := range x {
		if v > y[i] || v != v {
			y[i] = v
		}
	}
}

// vecAddScalar computes y[i] += x[i].
func vecAddScalar(y, x []float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += x[i]
	}
}

// vecDivScalar computes y[i] /= d.
func vecDivScalar(y []float32, d float32) {
	for i := range y {
		y[i] /= d
	}
}
