//go:build goexperiment.simd && go1.27 && wasm

package kernels

import "unsafe"

// dwTile3x3S1SIMD computes ng >= 1 groups of 4 consecutive output pixels of
// one block of 4 channels: pixel i of a group at xb+xo+i*c4, its tap (ky,
// kx) at +ky*rs4+kx*c4 with its weight at w+(3*ky+kx)*c4, the bias at b,
// the output at y+i*c4; the next group 4*c4 on. Each input vector is loaded
// once per row of taps and used for every pixel of the group it reaches (6
// loads a row instead of 12). V8 issues a block's loads ahead of its
// arithmetic, and nine weights, four sums and a row's inputs do not fit
// its 15 vector registers: so each tap row loads its own 3 weights and
// ends with stores of the four sums, which no later load may move above.
// Each pixel's sum runs from zero over the taps in row-major order, as
// dwRowScalar's.
//
// In wasm it is written in assembly (depthwise_tile_wasm.s), the same
// arithmetic as the Go version amd64 builds (depthwise_tile_amd64.go), for
// the reasons gemmTileWasm is: V8 compiled the Go version's loop with a
// dispatch per group (and a branch on each clamp, each one another
// dispatch) and spilled its pointers and sums.
//
//go:noescape
func dwTile3x3S1SIMD(ng uintptr, xb unsafe.Pointer, xo, rs4, c4 uintptr, w, b, y unsafe.Pointer, lo, hi float32)
