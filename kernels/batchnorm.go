package kernels

import "math"

// bnChunk is how many channels BatchNorm prepares at a time in a stack array,
// so that it neither allocates nor recomputes a square root per element.
const bnChunk = 256

// BatchNorm computes inference batch normalisation over the last axis:
// y[i] = (x[i] - mean[ch]) * scale[ch] / sqrt(variance[ch] + eps) + bias[ch]
// with ch = i % c. x and y hold a whole number of rows of c channels (NHWC,
// any leading shape); y may be x. scale, bias, mean and variance hold c values
// each. The per-channel factor scale/sqrt(variance+eps) is computed in
// float64 and rounded once; the rest is float32 in the order written above.
// It does not allocate.
func BatchNorm(x, y []float32, c int, scale, bias, mean, variance []float32, eps float32) {
	if c <= 0 || len(x) == 0 {
		return
	}
	hot.batchNorm(x, y[:len(x)], c, scale[:c], bias[:c], mean[:c], variance[:c], eps)
}

// bnFactors sets a[j] = scale[j]/sqrt(variance[j]+eps), in float64 rounded once.
func bnFactors(a, scale, variance []float32, eps float32) {
	scale, variance = scale[:len(a)], variance[:len(a)]
	for j := range a {
		a[j] = float32(float64(scale[j]) / math.Sqrt(float64(variance[j])+float64(eps)))
	}
}

func batchNormScalar(x, y []float32, c int, scale, bias, mean, variance []float32, eps float32) {
	var a [bnChunk]float32
	for c0 := 0; c0 < c; c0 += bnChunk {
		cn := min(bnChunk, c-c0)
		bnFactors(a[:cn], scale[c0:], variance[c0:], eps)
		m, b := mean[c0:c0+cn], bias[c0:c0+cn]
		for o := c0; o+cn <= len(x); o += c {
			xr, yr := x[o:o+cn], y[o:o+cn]
			for j := range xr {
				// The conversion keeps the compiler from fusing into an FMA,
				// so that every build rounds as the SIMD version does.
				yr[j] = float32((xr[j]-m[j])*a[j]) + b[j]
			}
		}
	}
}

// FoldBatchNorm folds an inference BatchNorm that follows a convolution or
// dense layer into the layer's weights and bias, so that the layer alone
// computes BN(layer(x)). w holds the weights with the output channel as its
// last axis (HWIO convolution, [K,N] dense): len(w) is a multiple of cout.
// b holds cout biases (zeros, allocated by the caller, when the layer had
// none). Both are rewritten in place: w[...,j] *= s_j and
// b[j] = (b[j]-mean[j])*s_j + bias[j] with s_j = scale[j]/sqrt(variance[j]+eps),
// all in float64 and rounded once. It does not allocate.
func FoldBatchNorm(w, b []float32, cout int, scale, bias, mean, variance []float32, eps float32) {
	if cout <= 0 {
		return
	}
	b = b[:cout]
	scale, bias, mean, variance = scale[:cout], bias[:cout], mean[:cout], variance[:cout]
	for j := range cout {
		s := float64(scale[j]) / math.Sqrt(float64(variance[j])+float64(eps))
		for i := j; i < len(w); i += cout {
			w[i] = float32(float64(w[i]) * s)
		}
		b[j] = float32((float64(b[j])-float64(mean[j]))*s + float64(bias[j]))
	}
}
