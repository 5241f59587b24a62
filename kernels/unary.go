package kernels

// ActivateInPlace applies ep.Act to x in place, with the same results as
// Activate (ep.Bias is ignored, as Activate ignores it). In the SIMD build
// ReLU, ReLU6, Clip, LeakyReLU and HardSwish run four lanes at a time;
// ReLU6 and Clip there may turn -0 into +0, which compares equal. Sigmoid and Tanh
// fall back to Activate. It does not allocate.
func ActivateInPlace(x []float32, ep Epilogue) {
	hot.activate(x, ep)
}
