// Package naive holds plain, obviously-correct reference implementations of
// edgenn's kernels. Tests across the module compare the fast kernels against
// them; nothing in a shipped build should call them.
//
// They accumulate in float64 and round once, so they are at least as accurate
// as any float32 kernel, and they check nothing: callers pass valid shapes.
package naive

// Gemm computes C = A·B + bias for row-major A [m,k] (row stride lda),
// B [k,n] (row stride ldb) and C [m,n] (row stride ldc). bias is [n] or nil
// and is indexed by column. Accumulation is in float64.
func Gemm(m, n, k int, a []float32, lda int, b []float32, ldb int, bias []float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			if bias != nil {
				s = float64(bias[j])
			}
			for p := 0; p < k; p++ {
				s += float64(a[i*lda+p]) * float64(b[p*ldb+j])
			}
			c[i*ldc+j] = float32(s)
		}
	}
}
