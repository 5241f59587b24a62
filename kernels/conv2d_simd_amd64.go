//go:build goexperiment.simd && go1.27 && amd64

package kernels

import (
	"simd/archsimd"
	"unsafe"
)

// convTileShort is the segment length below which convTileSIMD uses
// convTileShortSIMD: for a layer with one input channel (segments of 3 to
// 5) one gemmTileSIMD call per segment, with the sums carried through
// memory, cost more than the tile's arithmetic.
const convTileShort = 8

// convTileSIMD is the direct convolution's micro-kernel: gemmTileSIMD with
// each row of A gathered from kh segments of seg contiguous values (the
// patch rows of one output pixel), one call per segment with the sums
// carried between calls in memory, swept over mt tiles; see convTileScalar
// for what it computes. It checks the extent of x, bp and dst once
// (convTileCheck); the tiles then address them with unsafe.Add. This is
// amd64's; wasm's (conv2d_simd_wasm.go) sums the patch rows in registers,
// short segments included, in one assembly kernel.
func convTileSIMD(x []float32, o0, o1, o2, o3, step, mt, kh, seg, rs int, bp []float32, bias *[gemmNR]float32, lo, hi float32, dst []float32, ldd int) {
	if mt <= 0 {
		return
	}
	if seg < convTileShort {
		convTileShortSIMD(x, o0, o1, o2, o3, step, mt, kh, seg, rs, bp, bias, lo, hi, dst, ldd)
		return
	}
	convTileCheck(x, o0, o1, o2, o3, step, mt, kh, seg, rs, bp, dst, ldd)
	xb, bb := unsafe.Pointer(unsafe.SliceData(x)), unsafe.Pointer(unsafe.SliceData(bp))
	db, ldd4 := unsafe.Pointer(unsafe.SliceData(dst)), uintptr(ldd)*4
	n, rs4, segb := uintptr(seg), uintptr(rs)*4, uintptr(seg)*gemmNR*4
	var acc gemmAcc
	for t := 0; t < mt; t++ {
		d0 := uintptr(t*step) * 4
		q0, q1, q2, q3 := uintptr(o0)*4+d0, uintptr(o1)*4+d0, uintptr(o2)*4+d0, uintptr(o3)*4+d0
		d := unsafe.Add(db, uintptr(t)*gemmMR*ldd4)
		var in *gemmAcc
		for ky := uintptr(0); ky < uintptr(kh)-1; ky++ {
			o := ky * rs4
			gemmTileSIMD(n, xb, q0+o, q1+o, q2+o, q3+o, unsafe.Add(bb, ky*segb), in, &acc, nil, 0, nil, 0, 0)
			in = &acc
		}
		o := uintptr(kh-1) * rs4
		gemmTileSIMD(n, xb, q0+o, q1+o, q2+o, q3+o, unsafe.Add(bb, uintptr(kh-1)*segb), in, nil, d, ldd4, bias, lo, hi)
	}
}

// convTileShortSIMD is convTileSIMD for segments shorter than convTileShort:
// all kh segments of a tile in one call, one tap per iteration; same order,
// same bits.
func convTileShortSIMD(x []float32, o0, o1, o2, o3, step, mt, kh, seg, rs int, bp []float32, bias *[gemmNR]float32, lo, hi float32, dst []float32, ldd int) {
	if mt <= 0 {
		return
	}
	convTileCheck(x, o0, o1, o2, o3, step, mt, kh, seg, rs, bp, dst, ldd)
	bv0 := archsimd.LoadFloat32x4Array((*[4]float32)(bias[0:4]))
	bv1 := archsimd.LoadFloat32x4Array((*[4]float32)(bias[4:8]))
	vlo, vhi := archsimd.BroadcastFloat32x4(lo), archsimd.BroadcastFloat32x4(hi)
	xb, bb := unsafe.Pointer(unsafe.SliceData(x)), unsafe.Pointer(unsafe.SliceData(bp))
	db, ldd4 := unsafe.Pointer(unsafe.SliceData(dst)), uintptr(ldd)*4
	rs4 := uintptr(rs) * 4
	for t := 0; t < mt; t++ {
		d0 := uintptr(t*step) * 4
		x0, x1 := unsafe.Add(xb, uintptr(o0)*4+d0), unsafe.Add(xb, uintptr(o1)*4+d0)
		x2, x3 := unsafe.Add(xb, uintptr(o2)*4+d0), unsafe.Add(xb, uintptr(o3)*4+d0)
		pb := bb
		var c00, c01, c10, c11, c20, c21, c30, c31 archsimd.Float32x4
		for ky := 0; ky < kh; ky++ {
			off := uintptr(ky) * rs4
			p0, p1, p2, p3 := unsafe.Add(x0, off), unsafe.Add(x1, off), unsafe.Add(x2, off), unsafe.Add(x3, off)
			for range seg {
				b0, b1 := gemmLoad(pb), gemmLoad(unsafe.Add(pb, 16))
				x := gemmSplat(p0)
				c00 = c00.Add(x.Mul(b0))
				c01 = c01.Add(x.Mul(b1))
				x = gemmSplat(p1)
				c10 = c10.Add(x.Mul(b0))
				c11 = c11.Add(x.Mul(b1))
				x = gemmSplat(p2)
				c20 = c20.Add(x.Mul(b0))
				c21 = c21.Add(x.Mul(b1))
				x = gemmSplat(p3)
				c30 = c30.Add(x.Mul(b0))
				c31 = c31.Add(x.Mul(b1))
				pb = unsafe.Add(pb, 32)
				p0, p1, p2, p3 = unsafe.Add(p0, 4), unsafe.Add(p1, 4), unsafe.Add(p2, 4), unsafe.Add(p3, 4)
			}
		}
		d := unsafe.Add(db, uintptr(t)*gemmMR*ldd4)
		gemmStoreSIMD(d, c00, c01, bv0, bv1, vlo, vhi)
		d = unsafe.Add(d, ldd4)
		gemmStoreSIMD(d, c10, c11, bv0, bv1, vlo, vhi)
		d = unsafe.Add(d, ldd4)
		gemmStoreSIMD(d, c20, c21, bv0, bv1, vlo, vhi)
		d = unsafe.Add(d, ldd4)
		gemmStoreSIMD(d, c30, c31, bv0, bv1, vlo, vhi)
	}
}
