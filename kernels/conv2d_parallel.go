//go:build !wasm

package kernels

// convTask is one Conv2D call cut into chunks: for the direct path, runs of
// output rows of one image; for the im2col path, runs of its row blocks.
// Each output pixel is computed by the same micro-kernel calls, in the same
// order, whichever chunk holds it, so the bits are the serial path's.
type convTask struct {
	c       *Conv2D
	x, y    []float32 // direct: one (padded) image and its output
	scratch []float32 // per-slot: edge tiles (direct), patch rows + GEMM scratch (im2col)
	m       int       // im2col: output pixels over the batch
	per     int       // rows (direct) or blocks (im2col) per chunk
	end     int       // output rows (direct) or blocks (im2col) in all
}

var convTasks parFree[convTask]

// convDirectParallel runs directRows for one image, img (padded) into yb, across
// the slots; tiles holds one edge tile per slot. It reports false, having
// done nothing, when the image is too small to pay for the split.
func convDirectParallel(c *Conv2D, img, yb, tiles []float32) bool {
	want := parChunks(int64(c.oh)*int64(c.ow)*int64(c.kg)*int64(c.p.OC), len(tiles)/(gemmMR*gemmNR), c.oh)
	if want == 0 {
		return false
	}
	t := convTasks.get()
	*t = convTask{c: c, x: img, y: yb, scratch: tiles, end: c.oh}
	var chunks int
	t.per, chunks = parSplit(c.oh, want)
	parRun(t, chunks, parSlots)
	*t = convTask{}
	convTasks.put(t)
	return true
}

// convIm2colParallel runs the im2col path's row blocks across the slots, each
// with its own patch rows and GEMM scratch. It reports false, having done
// nothing, when there are too few blocks to share or too little work.
func convIm2colParallel(c *Conv2D, n int, x, y, scratch []float32) bool {
	m := n * c.oh * c.ow
	blocks := (m + c.rows - 1) / c.rows
	if blocks < 2*parSlots {
		return false // too few to balance: the blocks' Gemm calls split instead
	}
	want := parChunks(int64(m)*int64(c.kg)*int64(c.p.OC), parSlots, blocks)
	if want == 0 {
		return false
	}
	t := convTasks.get()
	*t = convTask{c: c, x: x, y: y, scratch: scratch, m: m, end: blocks}
	var chunks int
	t.per, chunks = parSplit(blocks, want)
	parRun(t, chunks, parSlots)
	*t = convTask{}
	convTasks.put(t)
	return true
}

func (t *convTask) runChunk(i, slot int) {
	c := t.c
	lo, hi := i*t.per, min((i+1)*t.per, t.end)
	if c.path == convDirect {
		directRows(t.c, t.x, t.y, lo, hi, t.scratch[slot*gemmMR*gemmNR:(slot+1)*gemmMR*gemmNR])
		return
	}
	// Run's im2col loop on blocks [lo, hi), with this slot's patch rows and
	// one slot's GEMM scratch, so that each Gemm runs serially.
	p := &c.p
	ocg := p.OC / p.Group
	al := c.rows * c.kg
	a := t.scratch[slot*al : (slot+1)*al]
	gs := t.scratch[parSlots*al+slot*gemmScratchOne : parSlots*al+(slot+1)*gemmScratchOne]
	for q := lo * c.rows; q < min(hi*c.rows, t.m); q += c.rows {
		r := min(c.rows, t.m-q)
		for g := range p.Group {
			c.im2col(t.x, q, r, g, a)
			Gemm(r, a, c.kg, c.b[g], c.epg[g], t.y[q*p.OC+g*ocg:], p.OC, gs)
		}
	}
}
