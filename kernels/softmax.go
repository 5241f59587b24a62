package kernels

import "math"

// Softmax computes softmax along the middle axis of x viewed as
// [outer, axis, inner] (row major) into y of the same size; y may be x.
// It follows TensorFlow.js's cpu backend in its steps: subtract the maximum
// (in float32), exponentiate, sum the exps in float64 and round the sum to
// float32, then divide in float32. The exponential is Expf (within 1 ulp,
// see there) rather than float64 exp rounded to float32, so each output is
// within about 3 float32 ulps (4e-7 relative) of TensorFlow.js's. A NaN in a
// row makes the whole row NaN. It does not allocate.
func Softmax(x, y []float32, outer, axis, inner int) {
	if outer <= 0 || axis <= 0 || inner <= 0 {
		return
	}
	n := outer * axis * inner
	x, y = x[:n], y[:n]
	for o := range outer {
		base := o * axis * inner
		if inner == 1 {
			softmaxRow(x[base:base+axis], y[base:base+axis])
			continue
		}
		softmaxStrided(x[base:base+axis*inner], y[base:base+axis*inner], axis, inner)
	}
}

// softmaxRow is the softmax of one contiguous row (SIMD in a simd build, see
// softmaxRowScalar).
var softmaxRow = softmaxRowScalar

// softmaxRowScalar is the scalar twin of softmaxRow: m = max(xs); ys[i] =
// e_i = Expf(xs[i]-m); the exps summed in float64 in four partial sums, e_i
// going to sum i%4 in order of i, total (s0+s1)+(s2+s3) rounded to float32
// as s; then ys[i] = e_i/s. len(ys) must be len(xs) >= 1.
func softmaxRowScalar(xs, ys []float32) {
	ys = ys[:len(xs)]
	m := xs[0]
	for _, v := range xs {
		m = max(m, v)
	}
	var acc [4]float64
	for i, v := range xs {
		e := Expf(v - m)
		ys[i] = e
		acc[i&3] += float64(e)
	}
	s := float32((acc[0] + acc[1]) + (acc[2] + acc[3]))
	for i := range ys {
		ys[i] /= s
	}
}

// softmaxStrided is the softmax along axis of x viewed as [axis, inner],
// inner > 1: each of the inner rows is summed in float64 in order.
func softmaxStrided(x, y []float32, axis, inner int) {
	for in := range inner {
		xs := x[in : (axis-1)*inner+in+1]
		ys := y[in : (axis-1)*inner+in+1]
		m := xs[0]
		for i := 0; i < len(xs); i += inner {
			m = max(m, xs[i])
		}
		var sum float64
		for i := 0; i < len(xs); i += inner {
			e := Expf(xs[i] - m)
			ys[i] = e
			sum += float64(e)
		}
		s := float32(sum)
		for i := 0; i < len(ys); i += inner {
			ys[i] /= s
		}
	}
}

// The constants of Expf: the clamp bounds, log2(e), ln 2 split in two
// (expC1 has 9 significant bits, so n*expC1 is exact for |n| <= 150), and
// the Cephes expf polynomial for e^r - 1 - r on |r| <= ln(2)/2.
const (
	expLo    float32 = -104 // e^-104 is below half the smallest denormal: rounds to 0
	expHi    float32 = 88.8 // e^88.8 is above the largest float32: +Inf
	expLog2e float32 = 1.44269504088896341
	expC1    float32 = 0.693359375
	expC2    float32 = -2.12194440e-4
	expP0    float32 = 1.9875691500e-4
	expP1    float32 = 1.3981999507e-3
	expP2    float32 = 8.3334519073e-3
	expP3    float32 = 4.1665795894e-2
	expP4    float32 = 1.6666665459e-1
	expP5    float32 = 5.0000001201e-1
)

// Expf returns e^x in float32 arithmetic, within 1 float32 ulp of the exact
// value for results in the normal range (measured over every float32 in
// [-87.3, 88.7]; denormal results carry the denormal's absolute error), +Inf
// above 88.73, 0 below -103.98 (where e^x rounds to zero), and NaN for NaN.
// It is Cephes' expf: x = n*ln2 + r with n = round(x*log2(e)) and
// |r| <= ln2/2, a degree-5 polynomial for e^r, then a scale by 2^n done as two
// exact power-of-two multiplications so that n may reach 128 or -150. The
// SIMD softmax computes the same float32 operations lane by lane, so the two
// agree bit for bit; the explicit float32 conversions keep the compiler from
// fusing a multiply and an add.
func Expf(x float32) float32 {
	if x != x {
		return x
	}
	x = min(max(x, expLo), expHi)
	n := float32(math.RoundToEven(float64(float32(x * expLog2e))))
	r := x - float32(n*expC1)
	r = r - float32(n*expC2)
	p := expP0
	p = float32(p*r) + expP1
	p = float32(p*r) + expP2
	p = float32(p*r) + expP3
	p = float32(p*r) + expP4
	p = float32(p*r) + expP5
	z := float32(r * r)
	e := float32(p*z) + r + 1
	ni := int32(n)
	n1 := ni >> 1
	n2 := ni - n1
	e = float32(e * math.Float32frombits(uint32(n1+127)<<23))
	return float32(e * math.Float32frombits(uint32(n2+127)<<23))
}
