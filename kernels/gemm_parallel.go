//go:build !wasm

package kernels

// gemmTask is a Gemm cut into a grid of blocks: rc blocks of rstep rows by
// cc blocks of cstep columns (whole panels), each a serial Gemm on its own
// slot's scratch. Every micro-kernel sums an element in the same order (p
// from zero, then the bias, then the clamp), so a block boundary changes no
// bits.
type gemmTask struct {
	m         int
	a         []float32
	lda       int
	b         PackedB
	ep        Epilogue
	c         []float32
	ldc       int
	scratch   []float32
	rstep, rc int
	cstep     int
}

var gemmTasks parFree[gemmTask]

// gemmParallel runs a checked Gemm across the slots its scratch has room
// for, each block a Gemm of one slot's scratch, and reports false, having
// done nothing, when the product is too small to pay for the split (or
// the arguments are wrong: Gemm then panics, on the caller's goroutine).
func gemmParallel(m int, a []float32, lda int, b PackedB, ep Epilogue, c []float32, ldc int, scratch []float32) bool {
	k, n := b.K, b.N
	slots := len(scratch) / gemmScratchOne
	if slots < 2 || m <= 0 || n <= 0 || lda < k || ldc < n || len(a) < (m-1)*lda+k || len(c) < (m-1)*ldc+n ||
		len(b.Data) < PackedBLen(k, n) || (ep.Bias != nil && len(ep.Bias) < n) {
		return false
	}
	tiles, panels := (m+gemmMR-1)/gemmMR, (n+gemmNR-1)/gemmNR
	want := parChunks(int64(m)*int64(k)*int64(n), slots, tiles*panels)
	if want == 0 {
		return false
	}
	// Rows first: a row block reads its rows of A once and every panel; a
	// column split (batch-1 dense layers, few rows) reads all of A per block.
	rt, rc := parSplit(tiles, want)
	ct, cc := parSplit(panels, (want+rc-1)/rc)
	t := gemmTasks.get()
	*t = gemmTask{m: m, a: a, lda: lda, b: b, ep: ep, c: c, ldc: ldc, scratch: scratch,
		rstep: rt * gemmMR, rc: rc, cstep: ct * gemmNR}
	parRun(t, rc*cc, slots)
	*t = gemmTask{}
	gemmTasks.put(t)
	return true
}

func (t *gemmTask) runChunk(i, slot int) {
	k := t.b.K
	r0, j0 := i%t.rc*t.rstep, i/t.rc*t.cstep
	rows, w := min(t.rstep, t.m-r0), min(t.cstep, t.b.N-j0)
	// Panels are contiguous (panel q at q*K*8), so whole panels from j0 on
	// are a packed B of their own.
	b := PackedB{K: k, N: w, Data: t.b.Data[j0*k:]}
	ep := t.ep
	if ep.Bias != nil {
		ep.Bias = ep.Bias[j0 : j0+w]
	}
	// One slot's scratch: this Gemm runs serially.
	Gemm(rows, t.a[r0*t.lda:], t.lda, b, ep, t.c[r0*t.ldc+j0:], t.ldc, t.scratch[slot*gemmScratchOne:(slot+1)*gemmScratchOne])
}
