//go:build goexperiment.simd && go1.27 && wasm

// Built for wasm only, for the reasons given in gemm_simd.go.

package kernels

import (
	"simd/archsimd"
	"unsafe"
)

func init() { convTile = convTileSIMD }

// convTileShort is the segment length below which convTileSIMD leaves out
// its 4-way unrolled loop (convTileShortSIMD): for LeNet's first layer
// (segments of 5) the unrolled body, run once per segment, cost more than
// it saved.
const convTileShort = 8

// convTileSIMD is gemmPanelSIMD's 4x8 tile with each row of A gathered from
// kh segments of seg contiguous values (the patch rows of one output pixel),
// swept over mt tiles; see convTileScalar for what it computes. Its
// per-element order is the scalar twin's, so results are bit-identical. It
// checks the extent of x, bp and dst once (convTileCheck), then addresses
// them with unsafe.Add. Segments shorter than convTileShort go to
// convTileShortSIMD.
func convTileSIMD(x []float32, o0, o1, o2, o3, step, mt, kh, seg, rs int, bp []float32, bias *[gemmNR]float32, lo, hi float32, dst []float32, ldd int) {
	if mt <= 0 {
		return
	}
	if seg < convTileShort {
		convTileShortSIMD(x, o0, o1, o2, o3, step, mt, kh, seg, rs, bp, bias, lo, hi, dst, ldd)
		return
	}
	convTileCheck(x, o0, o1, o2, o3, step, mt, kh, seg, rs, bp, dst, ldd)
	bv0 := archsimd.LoadFloat32x4Array((*[4]float32)(bias[0:4]))
	bv1 := archsimd.LoadFloat32x4Array((*[4]float32)(bias[4:8]))
	vlo, vhi := archsimd.BroadcastFloat32x4(lo), archsimd.BroadcastFloat32x4(hi)
	xb, bb := unsafe.Pointer(unsafe.SliceData(x)), unsafe.Pointer(unsafe.SliceData(bp))
	db, ldd4 := unsafe.Pointer(unsafe.SliceData(dst)), uintptr(ldd)*4
	rs4 := uintptr(rs) * 4
	seg4 := seg &^ 3
	for t := 0; t < mt; t++ {
		d0 := uintptr(t*step) * 4
		x0, x1 := unsafe.Add(xb, uintptr(o0)*4+d0), unsafe.Add(xb, uintptr(o1)*4+d0)
		x2, x3 := unsafe.Add(xb, uintptr(o2)*4+d0), unsafe.Add(xb, uintptr(o3)*4+d0)
		pb := bb
		var c00, c01, c10, c11, c20, c21, c30, c31 archsimd.Float32x4
		for ky := 0; ky < kh; ky++ {
			off := uintptr(ky) * rs4
			p0, p1, p2, p3 := unsafe.Add(x0, off), unsafe.Add(x1, off), unsafe.Add(x2, off), unsafe.Add(x3, off)
			for t := 0; t < seg4; t += 4 {
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
				b0, b1 = gemmLoad(unsafe.Add(pb, 32)), gemmLoad(unsafe.Add(pb, 48))
				x = gemmSplat(unsafe.Add(p0, 4))
				c00 = c00.Add(x.Mul(b0))
				c01 = c01.Add(x.Mul(b1))
				x = gemmSplat(unsafe.Add(p1, 4))
				c10 = c10.Add(x.Mul(b0))
				c11 = c11.Add(x.Mul(b1))
				x = gemmSplat(unsafe.Add(p2, 4))
				c20 = c20.Add(x.Mul(b0))
				c21 = c21.Add(x.Mul(b1))
				x = gemmSplat(unsafe.Add(p3, 4))
				c30 = c30.Add(x.Mul(b0))
				c31 = c31.Add(x.Mul(b1))
				b0, b1 = gemmLoad(unsafe.Add(pb, 64)), gemmLoad(unsafe.Add(pb, 80))
				x = gemmSplat(unsafe.Add(p0, 8))
				c00 = c00.Add(x.Mul(b0))
				c01 = c01.Add(x.Mul(b1))
				x = gemmSplat(unsafe.Add(p1, 8))
				c10 = c10.Add(x.Mul(b0))
				c11 = c11.Add(x.Mul(b1))
				x = gemmSplat(unsafe.Add(p2, 8))
				c20 = c20.Add(x.Mul(b0))
				c21 = c21.Add(x.Mul(b1))
				x = gemmSplat(unsafe.Add(p3, 8))
				c30 = c30.Add(x.Mul(b0))
				c31 = c31.Add(x.Mul(b1))
				b0, b1 = gemmLoad(unsafe.Add(pb, 96)), gemmLoad(unsafe.Add(pb, 112))
				x = gemmSplat(unsafe.Add(p0, 12))
				c00 = c00.Add(x.Mul(b0))
				c01 = c01.Add(x.Mul(b1))
				x = gemmSplat(unsafe.Add(p1, 12))
				c10 = c10.Add(x.Mul(b0))
				c11 = c11.Add(x.Mul(b1))
				x = gemmSplat(unsafe.Add(p2, 12))
				c20 = c20.Add(x.Mul(b0))
				c21 = c21.Add(x.Mul(b1))
				x = gemmSplat(unsafe.Add(p3, 12))
				c30 = c30.Add(x.Mul(b0))
				c31 = c31.Add(x.Mul(b1))
				pb = unsafe.Add(pb, 128)
				p0, p1, p2, p3 = unsafe.Add(p0, 16), unsafe.Add(p1, 16), unsafe.Add(p2, 16), unsafe.Add(p3, 16)
			}
			for t := seg4; t < seg; t++ {
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

// convTileCheck panics unless the invariant for convTileSIMD's and
// convTileShortSIMD's unsafe addressing holds (mt >= 1): for each patch start
// o = o_r+t*step (t < mt) and ky < kh, x[o+ky*rs : o+ky*rs+seg] is in range
// (step, rs >= 0, so the last segment of the last tile ends furthest); bp
// holds kh*seg*8 values; dst row i < 4*mt is dst[i*ldd : i*ldd+8]. The
// kernels form pointers at most one past a segment.
func convTileCheck(x []float32, o0, o1, o2, o3, step, mt, kh, seg, rs int, bp, dst []float32, ldd int) {
	if kh < 1 || seg < 0 || rs < 0 || step < 0 || ldd < 0 || min(o0, o1, o2, o3) < 0 ||
		max(o0, o1, o2, o3)+(mt-1)*step+(kh-1)*rs+seg > len(x) || len(bp) < kh*seg*gemmNR ||
		len(dst) < (gemmMR*mt-1)*ldd+gemmNR {
		panic("kernels: direct conv tile out of bounds")
	}
}

// convTileShortSIMD is convTileSIMD without the unrolled loop, one tap per
// iteration, for segments shorter than convTileShort; same order, same bits.
// Its own function, so that the unrolled loop's register pressure does not
// shape this loop's allocation.
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
