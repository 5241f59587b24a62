//go:build wasm

package kernels

// parSlots is 1 in wasm, which runs one thread: every parallel branch of the
// kernels is dead code and the functions below are never called (nor linked).
const parSlots = 1

func gemmParallel(m int, a []float32, lda int, b PackedB, ep Epilogue, c []float32, ldc int, scratch []float32) bool {
	return false
}

func convDirectParallel(c *Conv2D, img, yb, tiles []float32) bool { return false }

func convIm2colParallel(c *Conv2D, n int, x, y, scratch []float32) bool { return false }

func dwRowsParallel(d *dwConv, img, yb []float32) bool { return false }
