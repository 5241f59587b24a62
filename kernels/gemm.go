package kernels

import (
	"errors"
	"fmt"
	"math"
)

// The GEMM register tile: gemmMR rows of A by gemmNR columns of B. B is packed
// in panels of gemmNR columns; the SIMD micro-kernel holds a gemmMR x gemmNR
// tile of C in 2*gemmMR vector registers.
const (
	gemmMR = 4
	gemmNR = 8
)

// gemmMaxElems (2^31-1) caps every tensor a kernel is built for, so that no index
// product can overflow int (32-bit on some targets) and no request can ask
// for an absurd amount of memory.
const gemmMaxElems = math.MaxInt32

// PackedB is the right-hand side of a GEMM, packed once for the micro-kernel:
// panels of 8 columns, each panel K rows of 8 values (k-major), the last
// panel padded with zeros. Build it with PackB; treat Data as opaque.
type PackedB struct {
	K, N int
	Data []float32
}

// PackedBLen returns the number of float32s PackB writes for a [k,n] matrix.
func PackedBLen(k, n int) int {
	return k * ((n + gemmNR - 1) / gemmNR * gemmNR)
}

// PackB packs the row-major matrix b [k,n] into dst, which must hold at least
// PackedBLen(k, n) values, and returns the packed view of dst. It allocates
// nothing; the result aliases dst.
func PackB(b []float32, k, n int, dst []float32) PackedB {
	if k < 0 || n < 0 || len(b) < k*n || len(dst) < PackedBLen(k, n) {
		panic(fmt.Sprintf("kernels.PackB: k=%d n=%d with len(b)=%d len(dst)=%d", k, n, len(b), len(dst)))
	}
	dst = dst[:PackedBLen(k, n)]
	for j0 := 0; j0 < n; j0 += gemmNR {
		w := min(gemmNR, n-j0)
		panel := dst[j0*k : j0*k+k*gemmNR]
		for p := 0; p < k; p++ {
			d := panel[p*gemmNR : p*gemmNR+gemmNR : p*gemmNR+gemmNR]
			copy(d, b[p*n+j0:p*n+j0+w])
			clear(d[w:])
		}
	}
	return PackedB{K: k, N: n, Data: dst}
}

// GemmScratchLen returns the float32s of scratch Gemm needs for inner
// dimension k: a few dozen whatever k and m (an edge tile and the bias of a
// panel; the micro-kernels read A in place, row stride lda).
func GemmScratchLen(k int) int { return gemmMR*gemmNR + gemmNR }

// gemmClamp returns the clamp bounds that implement ep's activation inside
// the micro-kernel, and fused=false when the activation must be applied to
// the finished rows with Activate instead.
func gemmClamp(ep Epilogue) (lo, hi float32, fused bool) {
	inf := float32(math.Inf(1))
	switch ep.Act {
	case ActNone:
		return -inf, inf, true
	case ActReLU:
		return 0, inf, true
	case ActReLU6:
		return 0, 6, true
	case ActClip:
		return ep.Lo, ep.Hi, true
	}
	return -inf, inf, false
}

// Gemm computes C = ep(A·B) for A [m,K] (row-major, row stride lda), the
// packed B [K,N] and C [m,N] (row stride ldc): c[i*ldc+j] = act(sum_p
// a[i*lda+p]*B[p][j] + ep.Bias[j]). ep.Bias is [N] or nil. scratch must hold
// GemmScratchLen(K) values. Gemm allocates nothing, reads only a and b.Data,
// writes only the first N columns of the m rows of c, and panics if a buffer
// is too short. Each element is summed in order p = 0..K-1 from zero, then
// the bias is added; the SIMD and scalar builds give identical bits.
func Gemm(m int, a []float32, lda int, b PackedB, ep Epilogue, c []float32, ldc int, scratch []float32) {
	k, n := b.K, b.N
	if m <= 0 || n <= 0 {
		return
	}
	if lda < k || ldc < n || len(a) < (m-1)*lda+k || len(c) < (m-1)*ldc+n ||
		len(b.Data) < PackedBLen(k, n) || (ep.Bias != nil && len(ep.Bias) < n) {
		panic(fmt.Sprintf("kernels.Gemm: m=%d k=%d n=%d lda=%d ldc=%d with len(a)=%d len(b)=%d len(c)=%d len(bias)=%d",
			m, k, n, lda, ldc, len(a), len(b.Data), len(c), len(ep.Bias)))
	}
	lo, hi, fused := gemmClamp(ep)
	// The edge tile and panel bias live in scratch: as locals they would
	// escape through the micro-kernel function values and allocate.
	scratch = scratch[:GemmScratchLen(k)]
	tile := scratch[:gemmMR*gemmNR]
	bb := (*[gemmNR]float32)(scratch[gemmMR*gemmNR:])
	i := 0
	for ; i < m; i += gemmMR {
		rows := min(gemmMR, m-i)
		ai := a[i*lda:]
		ci := c[i*ldc:]
		for j0 := 0; j0 < n; j0 += gemmNR {
			w := min(gemmNR, n-j0)
			clear(bb[:])
			if ep.Bias != nil {
				copy(bb[:], ep.Bias[j0:j0+w])
			}
			panel := b.Data[j0*k : j0*k+k*gemmNR]
			if rows == gemmMR {
				if w == gemmNR {
					gemmTile(k, ai, lda, panel, bb, lo, hi, ci[j0:], ldc)
				} else {
					gemmTile(k, ai, lda, panel, bb, lo, hi, tile, gemmNR)
					for r := 0; r < gemmMR; r++ {
						copy(ci[r*ldc+j0:r*ldc+j0+w], tile[r*gemmNR:])
					}
				}
				continue
			}
			for r := 0; r < rows; r++ {
				if w == gemmNR {
					gemmRow(k, ai[r*lda:], panel, bb, lo, hi, ci[r*ldc+j0:])
				} else {
					gemmRow(k, ai[r*lda:], panel, bb, lo, hi, tile)
					copy(ci[r*ldc+j0:r*ldc+j0+w], tile[:w])
				}
			}
		}
		if !fused {
			for r := 0; r < rows; r++ {
				Activate(ci[r*ldc:r*ldc+n], ep)
			}
		}
	}
}

// gemmTile and gemmRow are the micro-kernels Gemm uses: the SIMD ones in a
// build with the simd experiment, the scalar twins otherwise. Tests reach
// both through the *Scalar and *SIMD names.
//
// gemmTile computes the gemmMR x 8 tile dst[r*ldd+j] = min(max(sum_p
// a[r*lda+p]*bp[p*8+j] + bias[j], lo), hi) for r < gemmMR, j < 8; gemmRow does
// the same for one row.
var (
	gemmTile = gemmTileScalar
	gemmRow  = gemmRowScalar
)

// Dense is a fully connected layer y = ep(x·W) with W packed once.
type Dense struct {
	k, n int
	b    PackedB
	ep   Epilogue
}

// NewDense builds a Dense layer from w, row-major [k,n], and ep, whose Bias
// is [n] or nil. It copies w (packed) and the bias; the caller may reuse them.
func NewDense(k, n int, w []float32, ep Epilogue) (*Dense, error) {
	if k <= 0 || n <= 0 {
		return nil, fmt.Errorf("kernels.NewDense: sizes k=%d n=%d must be positive", k, n)
	}
	if k > gemmMaxElems/n || PackedBLen(k, n) > gemmMaxElems {
		return nil, fmt.Errorf("kernels.NewDense: weights [%d,%d] exceed %d elements", k, n, gemmMaxElems)
	}
	if len(w) != k*n {
		return nil, fmt.Errorf("kernels.NewDense: len(w)=%d, want k*n=%d", len(w), k*n)
	}
	if ep.Bias != nil && len(ep.Bias) != n {
		return nil, fmt.Errorf("kernels.NewDense: len(bias)=%d, want n=%d", len(ep.Bias), n)
	}
	if ep.Act == ActClip && !(ep.Lo <= ep.Hi) {
		return nil, errors.New("kernels.NewDense: clip needs Lo <= Hi")
	}
	d := &Dense{k: k, n: n, ep: ep}
	if ep.Bias != nil {
		d.ep.Bias = append([]float32(nil), ep.Bias...)
	}
	d.b = PackB(w, k, n, make([]float32, PackedBLen(k, n)))
	return d, nil
}

// ScratchLen returns the float32s of scratch Run needs, for any m.
func (d *Dense) ScratchLen() int { return GemmScratchLen(d.k) }

// Run computes y [m,N] = ep(x [m,K] · W). It allocates nothing, reads only x
// and scratch, writes only y and scratch, and panics if a buffer is short.
func (d *Dense) Run(m int, x, y, scratch []float32) {
	if len(x) < m*d.k || len(y) < m*d.n {
		panic(fmt.Sprintf("kernels.Dense.Run: m=%d k=%d n=%d with len(x)=%d len(y)=%d", m, d.k, d.n, len(x), len(y)))
	}
	Gemm(m, x, d.k, d.b, d.ep, y, d.n, scratch)
}
