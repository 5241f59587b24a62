//go:build goexperiment.simd && go1.27 && wasm

package kernels

import "unsafe"

// convTileSIMD is the direct convolution's micro-kernel: gemmTileWasm with
// each row of A gathered from kh segments of seg contiguous values (the
// patch rows of one output pixel), swept over mt tiles; see convTileScalar
// for what it computes. It checks the extent of x, bp and dst once
// (convTileCheck); the kernel then addresses them from their bases.
func convTileSIMD(x []float32, o0, o1, o2, o3, step, mt, kh, seg, rs int, bp []float32, bias *[gemmNR]float32, lo, hi float32, dst []float32, ldd int) {
	if mt <= 0 {
		return
	}
	convTileCheck(x, o0, o1, o2, o3, step, mt, kh, seg, rs, bp, dst, ldd)
	xb, bb, db := unsafe.Pointer(unsafe.SliceData(x)), unsafe.Pointer(unsafe.SliceData(bp)), unsafe.Pointer(unsafe.SliceData(dst))
	gemmTileWasm(uintptr(mt), uintptr(seg), uintptr(kh), xb, uintptr(o0)*4, uintptr(o1)*4, uintptr(o2)*4, uintptr(o3)*4,
		uintptr(step)*4, uintptr(rs)*4, bb, db, uintptr(ldd)*4, bias, lo, hi, nil)
}
