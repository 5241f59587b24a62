//go:build !wasm

package kernels

// dwTask is one image of a depthwise convolution cut into runs of output
// rows. A row's pixels are computed by the same dwRow calls whichever chunk
// holds it, so the bits are the serial path's.
type dwTask struct {
	d      *dwConv
	img, y []float32
	per    int // output rows per chunk
}

var dwTasks parFree[dwTask]

// dwWorkScale weighs a depthwise multiply-add against parMinWork, which is
// counted in GEMM multiply-adds: the scalar depthwise kernel does several
// times fewer per second.
const dwWorkScale = 4

// dwRowsParallel runs dwRows for one image, img (padded as run) into yb, across
// the slots. It reports false, having done nothing, when the image is too
// small to pay for the split.
func dwRowsParallel(d *dwConv, img, yb []float32) bool {
	p := &d.p
	want := parChunks(dwWorkScale*int64(d.oh)*int64(d.ow)*int64(p.C)*int64(p.KH)*int64(p.KW), parSlots, d.oh)
	if want == 0 {
		return false
	}
	t := dwTasks.get()
	*t = dwTask{d: d, img: img, y: yb}
	var chunks int
	t.per, chunks = parSplit(d.oh, want)
	parRun(t, chunks, parSlots)
	*t = dwTask{}
	dwTasks.put(t)
	return true
}

func (t *dwTask) runChunk(i, _ int) {
	dwRows(t.d, t.img, t.y, i*t.per, min((i+1)*t.per, t.d.oh))
}
