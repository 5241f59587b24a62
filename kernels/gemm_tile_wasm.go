//go:build goexperiment.simd && go1.27 && wasm

package kernels

import "unsafe"

// gemmTileWasm computes mt 4x8 tiles of C, each in 8 accumulators of 4
// lanes, in gemmPanelScalar's and convTileScalar's per-element order (so
// with the same bits). Row r of tile t's A is kh segments of n values, the
// first at xb+o_r+t*astep and each next one rs4 bytes after the start of
// the one before (a direct convolution's patch rows; kh = 1 for a GEMM); B
// is the packed panel at pb (kh*n steps of 8). Row r of tile t's
// clamp(sum + bias, lo, hi) goes to d+(4t+r)*ldd4; with a residual res (nil:
// none), clamp((sum + bias) + res row, lo, hi), the row's 8 values read at
// res+(4t+r)*ldd4 (laid out as the output). The caller guarantees
// all of these are in range. Each k step is one broadcast of A per row and
// two loads of B.
//
// It is written in assembly (gemm_tile_wasm.s) because Go's wasm backend
// sends every jump, a loop's back edge included, through a dispatch on the
// function's block index at its top, which V8 compiles to a stack check
// and an indirect jump per k step, and spills a pointer around it; the
// assembly's loops are wasm loops, its broadcasts of A are single loads
// (v128.load32_splat, which Go's compiler does not emit), and the patch
// rows of a convolution are summed in registers where Go's version carried
// them through memory between calls. amd64 builds keep the Go version
// (gemm_tile_amd64.go).
//
//go:noescape
func gemmTileWasm(mt, n, kh uintptr, xb unsafe.Pointer, o0, o1, o2, o3, astep, rs4 uintptr, pb, d unsafe.Pointer, ldd4 uintptr, bias *[gemmNR]float32, lo, hi float32, res unsafe.Pointer)

// The residual's tile kernel has a SIMD version in wasm only: only wasm's
// RunAdd fuses the residual into the GEMM.
func init() {
	if gemmSIMDOK {
		gemmPanelRes, gemmResFused = gemmPanelResSIMD, true
	}
}

// gemmPanelSIMD is the 4x8 register-tiled micro-kernel (gemmTileWasm)
// swept over mt tiles of 4 rows. It checks the extent of a, bp and dst once;
// the kernel then addresses them from their bases.
func gemmPanelSIMD(k, mt int, a []float32, lda int, bp []float32, bias *[gemmNR]float32, lo, hi float32, dst []float32, ldd int) {
	gemmPanelResSIMD(k, mt, a, lda, bp, bias, lo, hi, dst, ldd, nil)
}

// gemmPanelResSIMD is gemmPanelSIMD adding the residual res (nil: none),
// laid out as dst, in the tile's registers: see gemmPanelRes.
func gemmPanelResSIMD(k, mt int, a []float32, lda int, bp []float32, bias *[gemmNR]float32, lo, hi float32, dst []float32, ldd int, res []float32) {
	if mt <= 0 {
		return
	}
	// Invariant for the unsafe addressing in gemmTileWasm: row r < 4*mt of
	// A is a[r*lda : r*lda+k], bp holds k*8 values and row r of dst (and
	// of res) is dst[r*ldd : r*ldd+8].
	checkGemmPanel(k, mt, a, lda, bp, dst, ldd, gemmNR)
	var rb unsafe.Pointer
	if res != nil {
		if len(res) < (mt*gemmMR-1)*ldd+gemmNR {
			panic("kernels: gemm panel residual out of bounds")
		}
		rb = unsafe.Pointer(unsafe.SliceData(res))
	}
	ab, bb, db := unsafe.Pointer(unsafe.SliceData(a)), unsafe.Pointer(unsafe.SliceData(bp)), unsafe.Pointer(unsafe.SliceData(dst))
	lda4 := uintptr(lda) * 4
	gemmTileWasm(uintptr(mt), uintptr(k), 1, ab, 0, lda4, 2*lda4, 3*lda4, gemmMR*lda4, 0, bb, db, uintptr(ldd)*4, bias, lo, hi, rb)
}
