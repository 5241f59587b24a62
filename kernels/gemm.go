package kernels

import (
	"errors"
	"math"
	"strconv"
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
		panic("kernels.PackB: k=" + strconv.Itoa(k) + " n=" + strconv.Itoa(n) + " with len(b)=" + strconv.Itoa(len(b)) +
			" len(dst)=" + strconv.Itoa(len(dst)))
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
// dimension k: a few dozen whatever k and m (an edge tile and the bias of
// gemmRowPanels panels; the micro-kernels read A in place, row stride lda),
// once per goroutine a native build may split the product across.
func GemmScratchLen(k int) int { return parSlots * gemmScratchOne }

// gemmScratchOne is the scratch of one serial Gemm.
const gemmScratchOne = gemmMR*gemmNR + gemmRowPanels*gemmNR

// gemmRowPanels is how many panels the row micro-kernel covers at once: one
// row of A against 4 panels keeps 8 independent accumulators in flight,
// where one panel would leave a single dependent add chain per column.
const gemmRowPanels = 4

// gemmBlockRows returns the rows of A that Gemm sweeps against every panel
// before it moves on: a multiple of gemmMR whose A block is about 32 KiB, so
// it stays in L1 while the panels pass over it.
func gemmBlockRows(k int) int {
	return max(gemmMR, 8192/max(k, 1)/gemmMR*gemmMR)
}

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
		// NaN bounds and an upper bound of -0 go to Activate, the
		// reference: the SIMD clamps skip a NaN bound, and VMINPS cannot
		// give min(+0, -0) = -0 with the operand order that keeps NaN sums.
		if ep.Lo == ep.Lo && ep.Hi == ep.Hi && (ep.Hi != 0 || !math.Signbit(float64(ep.Hi))) {
			return ep.Lo, ep.Hi, true
		}
	}
	return -inf, inf, false
}

// Gemm computes C = ep(A·B) for A [m,K] (row-major, row stride lda), the
// packed B [K,N] and C [m,N] (row stride ldc): c[i*ldc+j] = act(sum_p
// a[i*lda+p]*B[p][j] + ep.Bias[j]). ep.Bias is [N] or nil. scratch should
// hold GemmScratchLen(K) values (a native build splits a large product
// across as many goroutines as it has room for; one share is the minimum). Gemm allocates nothing, reads only a and b.Data,
// writes only the first N columns of the m rows of c, and panics if a buffer
// is too short. Each element is summed in order p = 0..K-1 from zero, then
// the bias is added; the SIMD and scalar builds give identical bits (NaN
// where the other has NaN, not necessarily the same NaN).
func Gemm(m int, a []float32, lda int, b PackedB, ep Epilogue, c []float32, ldc int, scratch []float32) {
	gemm(m, a, lda, b, ep, c, ldc, scratch, nil)
}

// gemm is Gemm with an optional residual res (nil, or [m,N] with row stride
// ldc, not overlapping c): c[i*ldc+j] = act((sum + ep.Bias[j]) +
// res[i*ldc+j]), with the same bits (NaN: a NaN) as the linear Gemm, then
// hot.binSame's add of res, then hot.activate, the steps it fuses (Conv2D's
// RunAdd). The tile kernel (gemmPanelRes) adds the residual of whole 4x8
// tiles in registers, before its clamps; the rows after the block's last
// tile and a panel narrower than 8 are computed unclamped and get the
// residual and the activation in a pass over just those elements. With a
// residual it runs serially.
func gemm(m int, a []float32, lda int, b PackedB, ep Epilogue, c []float32, ldc int, scratch []float32, res []float32) {
	k, n := b.K, b.N
	if m <= 0 || n <= 0 {
		return
	}
	if lda < k || ldc < n || len(a) < (m-1)*lda+k || len(c) < (m-1)*ldc+n ||
		len(b.Data) < PackedBLen(k, n) || (ep.Bias != nil && len(ep.Bias) < n) || len(scratch) < gemmScratchOne ||
		(res != nil && len(res) < (m-1)*ldc+n) {
		panic("kernels.Gemm: m=" + strconv.Itoa(m) + " k=" + strconv.Itoa(k) + " n=" + strconv.Itoa(n) +
			" lda=" + strconv.Itoa(lda) + " ldc=" + strconv.Itoa(ldc) + " with len(a)=" + strconv.Itoa(len(a)) +
			" len(b)=" + strconv.Itoa(len(b.Data)) + " len(c)=" + strconv.Itoa(len(c)) +
			" len(bias)=" + strconv.Itoa(len(ep.Bias)) + " len(scratch)=" + strconv.Itoa(len(scratch)) +
			" len(res)=" + strconv.Itoa(len(res)))
	}
	if res == nil && parSlots > 1 && gemmParallel(m, a, lda, b, ep, c, ldc, scratch) {
		return
	}
	lo, hi, fused := gemmClamp(ep)
	// elo and ehi clamp what the kernels compute without the residual:
	// nothing when there is one, since the clamps come after it.
	elo, ehi := lo, hi
	if res != nil {
		elo, ehi = float32(math.Inf(-1)), float32(math.Inf(1))
	}
	// The edge tile and the padded bias live in scratch: as locals they
	// would escape through the micro-kernel function values and allocate.
	scratch = scratch[:gemmScratchOne]
	tile := scratch[:gemmMR*gemmNR]
	zb := scratch[gemmMR*gemmNR:] // gemmRowPanels*gemmNR: zero or padded bias
	clear(zb)
	np := n / gemmNR // full panels
	w := n - np*gemmNR
	// bias returns the bias of the nb full panels from j0 on (nb*8 values):
	// the caller's own when it has one, else zeros.
	bias := func(j0, nb int) []float32 {
		if ep.Bias == nil {
			return zb[:nb*gemmNR]
		}
		return ep.Bias[j0 : j0+nb*gemmNR]
	}
	mb := gemmBlockRows(k)
	for i0 := 0; i0 < m; i0 += mb {
		rows := min(mb, m-i0)
		mt := rows / gemmMR
		ai, ci := a[i0*lda:], c[i0*ldc:]
		if mt > 0 {
			q := 0
			if gemmWide && res == nil {
				for ; q+2 <= np; q += 2 {
					j0 := q * gemmNR
					gemmPanel2(k, mt, ai, lda, b.Data[j0*k:j0*k+2*k*gemmNR], (*[2 * gemmNR]float32)(bias(j0, 2)), lo, hi, ci[j0:], ldc)
				}
			}
			for ; q < np; q++ {
				j0 := q * gemmNR
				bp, bj := b.Data[j0*k:j0*k+k*gemmNR], (*[gemmNR]float32)(bias(j0, 1))
				if res != nil {
					gemmPanelRes(k, mt, ai, lda, bp, bj, lo, hi, ci[j0:], ldc, res[i0*ldc+j0:])
				} else {
					gemmPanel(k, mt, ai, lda, bp, bj, lo, hi, ci[j0:], ldc)
				}
			}
		}
		for r := mt * gemmMR; r < rows; r++ {
			ar, cr := ai[r*lda:], ci[r*ldc:]
			q := 0
			for ; q+gemmRowPanels <= np; q += gemmRowPanels {
				j0 := q * gemmNR
				gemmRow4(k, ar, b.Data[j0*k:], (*[gemmRowPanels * gemmNR]float32)(bias(j0, gemmRowPanels)), elo, ehi, cr[j0:])
			}
			if q < np && np >= gemmRowPanels {
				// The last panels again as one group of 4, overlapping the
				// previous group: a panel computed twice gets the same bits,
				// and 4 panels at once beat 1 to 3 dependent chains.
				j0 := (np - gemmRowPanels) * gemmNR
				gemmRow4(k, ar, b.Data[j0*k:], (*[gemmRowPanels * gemmNR]float32)(bias(j0, gemmRowPanels)), elo, ehi, cr[j0:])
				q = np
			}
			for ; q < np; q++ {
				j0 := q * gemmNR
				gemmRow(k, ar, b.Data[j0*k:j0*k+k*gemmNR], (*[gemmNR]float32)(bias(j0, 1)), elo, ehi, cr[j0:])
			}
		}
		if w > 0 {
			// The last panel is narrower than 8: compute into tile, then copy
			// its w columns, with the bias padded in zb (zeros past w).
			j0 := np * gemmNR
			panel := b.Data[j0*k : j0*k+k*gemmNR]
			pb := (*[gemmNR]float32)(zb[:gemmNR])
			if ep.Bias != nil {
				copy(pb[:], ep.Bias[j0:n])
			}
			for t := 0; t < mt; t++ {
				gemmPanel(k, 1, ai[t*gemmMR*lda:], lda, panel, pb, elo, ehi, tile, gemmNR)
				for r := 0; r < gemmMR; r++ {
					copy(ci[(t*gemmMR+r)*ldc+j0:(t*gemmMR+r)*ldc+n], tile[r*gemmNR:])
				}
			}
			for r := mt * gemmMR; r < rows; r++ {
				gemmRow(k, ai[r*lda:], panel, pb, elo, ehi, tile)
				copy(ci[r*ldc+j0:r*ldc+n], tile[:w])
			}
			clear(pb[:])
		}
		if res != nil {
			// The residual, and a fused activation, of what the tile kernel
			// did not compute: the narrow panel of the tiles' rows, and the
			// rows after them. Without a narrow panel the loop skips the
			// tiles' rows: an empty pass over them cost about 40 us in
			// wasm on a 128x128 image.
			ri, r0 := res[i0*ldc:], mt*gemmMR
			if w > 0 {
				r0 = 0
			}
			for r := r0; r < rows; r++ {
				j := 0
				if r < mt*gemmMR {
					j = np * gemmNR
				}
				cr := ci[r*ldc+j : r*ldc+n]
				hot.binSame(BinAdd, cr, ri[r*ldc+j:r*ldc+n], cr)
				if fused {
					hot.activate(cr, ep)
				}
			}
		}
		if !fused {
			for r := 0; r < rows; r++ {
				if res != nil {
					hot.activate(ci[r*ldc:r*ldc+n], ep) // as the unfused steps do
				} else {
					Activate(ci[r*ldc:r*ldc+n], ep)
				}
			}
		}
	}
}

// gemmPanel, gemmRow and gemmRow4 are the micro-kernels Gemm uses: the SIMD
// ones in a build with the simd experiment, the scalar twins otherwise. Tests
// reach both through the *Scalar and *SIMD names.
//
// gemmPanel computes mt tiles of gemmMR rows against one panel of 8 columns:
// dst[r*ldd+j] = min(max(sum_p a[r*lda+p]*bp[p*8+j] + bias[j], lo), hi) for
// r < gemmMR*mt, j < 8. gemmRow does the same for one row; gemmRow4 for one
// row against the gemmRowPanels consecutive panels that start at bp (bias and
// dst then span 32 columns).
//
// gemmPanel2 is gemmPanel on the two consecutive panels that start at bp
// (bias and dst then span 16 columns); Gemm calls it only where gemmWide is
// true, a build whose SIMD registers hold a whole panel row (amd64's AVX).
//
// gemmPanelRes is gemmPanel that adds the residual res (row stride ldd, as
// dst) after the bias and before the clamps: dst[r*ldd+j] = min(max((sum +
// bias[j]) + res[r*ldd+j], lo), hi). wasm's SIMD build has its own; the
// others run the scalar twin (only wasm's RunAdd fuses the residual).
var (
	gemmPanel    = gemmPanelScalar
	gemmRow      = gemmRowScalar
	gemmRow4     = gemmRow4Scalar
	gemmPanel2   = gemmPanel2Scalar
	gemmPanelRes = gemmPanelResScalar
)

// gemmResFused is set where gemmPanelRes has a SIMD version (wasm): there
// Conv2D.RunAdd adds a 1x1 convolution's residual in the GEMM's tiles.
// Elsewhere gemmPanelRes is the scalar twin, slower than the build's own
// panel kernel (amd64's AVX2), so RunAdd runs the GEMM and then a pass.
var gemmResFused bool

// gemmSIMD is set by the init function that installs the SIMD micro-kernels.
var gemmSIMD bool

// GemmSIMD reports whether Gemm, Dense and Conv2D (its direct, im2col and
// depthwise paths) run SIMD micro-kernels in this process: always in a wasm build with Go 1.27's simd
// experiment, in a native amd64 one with it when the CPU has AVX2, never
// otherwise. Their results have the same bits either way.
func GemmSIMD() bool { return gemmSIMD }

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
		return nil, errors.New("kernels.NewDense: sizes k=" + strconv.Itoa(k) + " n=" + strconv.Itoa(n) + " must be positive")
	}
	if k > gemmMaxElems/n || PackedBLen(k, n) > gemmMaxElems {
		return nil, errors.New("kernels.NewDense: weights [" + strconv.Itoa(k) + "," + strconv.Itoa(n) + "] exceed " +
			strconv.Itoa(gemmMaxElems) + " elements")
	}
	if len(w) != k*n {
		return nil, errors.New("kernels.NewDense: len(w)=" + strconv.Itoa(len(w)) + ", want k*n=" + strconv.Itoa(k*n))
	}
	if ep.Bias != nil && len(ep.Bias) != n {
		return nil, errors.New("kernels.NewDense: len(bias)=" + strconv.Itoa(len(ep.Bias)) + ", want n=" + strconv.Itoa(n))
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

// SetWeights replaces the layer's weights ([k,n], as NewDense took them)
// and, when it was built with a bias, its bias ([n]; nil keeps it). It
// repacks in place and allocates nothing: a trainer calls it after every
// optimiser step.
func (d *Dense) SetWeights(w, bias []float32) error {
	if len(w) != d.k*d.n {
		return errors.New("kernels.Dense.SetWeights: len(w)=" + strconv.Itoa(len(w)) + ", want " + strconv.Itoa(d.k*d.n))
	}
	if bias != nil && (d.ep.Bias == nil || len(bias) != d.n) {
		return errors.New("kernels.Dense.SetWeights: bias of " + strconv.Itoa(len(bias)) + " values for a layer built with " +
			strconv.Itoa(len(d.ep.Bias)))
	}
	copy(d.ep.Bias, bias)
	d.b = PackB(w, d.k, d.n, d.b.Data)
	return nil
}

// ScratchLen returns the float32s of scratch Run needs, for any m.
func (d *Dense) ScratchLen() int { return GemmScratchLen(d.k) }

// Run computes y [m,N] = ep(x [m,K] · W). It allocates nothing, reads only x
// and scratch, writes only y and scratch, and panics if a buffer is short.
func (d *Dense) Run(m int, x, y, scratch []float32) {
	if len(x) < m*d.k || len(y) < m*d.n {
		panic("kernels.Dense.Run: m=" + strconv.Itoa(m) + " k=" + strconv.Itoa(d.k) + " n=" + strconv.Itoa(d.n) +
			" with len(x)=" + strconv.Itoa(len(x)) + " len(y)=" + strconv.Itoa(len(y)))
	}
	Gemm(m, x, d.k, d.b, d.ep, y, d.n, scratch)
}
