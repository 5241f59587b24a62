package kernels

import "strconv"

// denseGradCheck panics, naming the function, unless a [m,k], b [m,n] and
// c [k,n] hold their matrices.
func denseGradCheck(name string, m, k, n int, a, b, c []float32, an, bn, cn string) {
	if m < 0 || k < 0 || n < 0 || len(a) < m*k || len(b) < m*n || len(c) < k*n {
		panic("kernels." + name + ": m=" + strconv.Itoa(m) + " k=" + strconv.Itoa(k) + " n=" + strconv.Itoa(n) +
			" with len(" + an + ")=" + strconv.Itoa(len(a)) + " len(" + bn + ")=" + strconv.Itoa(len(b)) +
			" len(" + cn + ")=" + strconv.Itoa(len(c)))
	}
}

// DenseInputGrad computes dx [m,k] = dy [m,n] · wᵀ, the gradient with
// respect to the input of the dense layer y [m,n] = x [m,k] · w [k,n]; all
// row-major, w as NewDense takes it. It overwrites dx. It allocates nothing,
// reads only dy and w, writes only dx, and panics if a buffer is short.
// dx[i][p] is the dot product of row i of dy with row p of w (see
// denseDotScalar for its order of summation), four rows of dy at a time so
// that each row of w is read once per four.
func DenseInputGrad(m, k, n int, dy, w, dx []float32) {
	denseGradCheck("DenseInputGrad", m, k, n, dx, dy, w, "dx", "dy", "w")
	i := 0
	for ; i+4 <= m; i += 4 {
		d0 := dy[i*n : i*n+n]
		d1 := dy[(i+1)*n : (i+1)*n+n]
		d2 := dy[(i+2)*n : (i+2)*n+n]
		d3 := dy[(i+3)*n : (i+3)*n+n]
		for p := 0; p < k; p++ {
			s0, s1, s2, s3 := denseDot4(w[p*n:p*n+n], d0, d1, d2, d3)
			dx[i*k+p] = s0
			dx[(i+1)*k+p] = s1
			dx[(i+2)*k+p] = s2
			dx[(i+3)*k+p] = s3
		}
	}
	for ; i < m; i++ {
		d0 := dy[i*n : i*n+n]
		for p := 0; p < k; p++ {
			dx[i*k+p] = denseDotScalar(w[p*n:p*n+n], d0)
		}
	}
}

// DenseWeightGrad computes dw [k,n] = xᵀ · dy, the gradient with respect to
// w of y [m,n] = x [m,k] · w [k,n], summed over the m rows of the batch.
// With accumulate false it overwrites dw; with accumulate true it adds to it
// (gradient accumulation over micro-batches). It allocates nothing, reads
// only x and dy, writes only dw, and panics if a buffer is short. It adds
// four rows of the batch at a time, so each row of dw is loaded and stored
// once per four.
func DenseWeightGrad(m, k, n int, x, dy, dw []float32, accumulate bool) {
	denseGradCheck("DenseWeightGrad", m, k, n, x, dy, dw, "x", "dy", "dw")
	dw = dw[:k*n]
	if !accumulate {
		clear(dw)
	}
	i := 0
	for ; i+4 <= m; i += 4 {
		d0 := dy[i*n : i*n+n]
		d1 := dy[(i+1)*n : (i+1)*n+n]
		d2 := dy[(i+2)*n : (i+2)*n+n]
		d3 := dy[(i+3)*n : (i+3)*n+n]
		x0 := x[i*k : i*k+k]
		x1 := x[(i+1)*k : (i+1)*k+k]
		x2 := x[(i+2)*k : (i+2)*k+k]
		x3 := x[(i+3)*k : (i+3)*k+k]
		for p := 0; p < k; p++ {
			denseAxpy4(dw[p*n:p*n+n], d0, d1, d2, d3, x0[p], x1[p], x2[p], x3[p])
		}
	}
	for ; i < m; i++ {
		d0 := dy[i*n : i*n+n]
		x0 := x[i*k : i*k+k]
		for p, a0 := range x0 {
			row := dw[p*n : p*n+n]
			d0 := d0[:len(row)]
			for j := range row {
				row[j] += float32(a0 * d0[j])
			}
		}
	}
}

// denseDot4 and denseAxpy4 are DenseInputGrad's and DenseWeightGrad's
// micro-kernels: SIMD in a build with the simd experiment, the scalar twins
// otherwise; the two agree bit for bit.
var (
	denseDot4  = denseDot4Scalar
	denseAxpy4 = denseAxpy4Scalar
)

// denseDot4Scalar returns the dot products of w with d0, d1, d2 and d3
// (each at least len(w) long), each as denseDotScalar computes it.
func denseDot4Scalar(w, d0, d1, d2, d3 []float32) (s0, s1, s2, s3 float32) {
	return denseDotScalar(w, d0), denseDotScalar(w, d1), denseDotScalar(w, d2), denseDotScalar(w, d3)
}

// denseDotScalar returns the dot product of w and d[:len(w)] summed as four
// lanes of a vector would: element j goes to partial sum j%4 over the first
// len(w)&^3 elements, the partial sums are combined as (l0+l1)+(l2+l3), and
// the last len(w)%4 products are added in order. Each product is rounded
// before it is added (no FMA), as in the SIMD twin.
func denseDotScalar(w, d []float32) float32 {
	d = d[:len(w)]
	var l0, l1, l2, l3 float32
	j := 0
	for ; j+4 <= len(w); j += 4 {
		l0 += float32(d[j] * w[j])
		l1 += float32(d[j+1] * w[j+1])
		l2 += float32(d[j+2] * w[j+2])
		l3 += float32(d[j+3] * w[j+3])
	}
	s := (l0 + l1) + (l2 + l3)
	for ; j < len(w); j++ {
		s += float32(d[j] * w[j])
	}
	return s
}

// denseAxpy4Scalar adds a0*d0 + a1*d1 + a2*d2 + a3*d3 to row, element by
// element, summing the four rounded products left to right before adding
// the sum to row[j].
func denseAxpy4Scalar(row, d0, d1, d2, d3 []float32, a0, a1, a2, a3 float32) {
	d0, d1, d2, d3 = d0[:len(row)], d1[:len(row)], d2[:len(row)], d3[:len(row)]
	for j := range row {
		row[j] += float32(float32(float32(a0*d0[j])+float32(a1*d1[j]))+float32(a2*d2[j])) + float32(a3*d3[j])
	}
}
