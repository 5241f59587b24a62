//go:build goexperiment.simd && go1.27 && (wasm || amd64)

// The GEMM micro-kernels (and, built under the same condition, the direct
// and depthwise convolution ones in conv2d_simd.go and depthwise_simd.go) are
// built for wasm (SIMD128) and for amd64, where archsimd.Float32x4 is AVX and
// its broadcast needs AVX2 at run time: there the init functions install them
// only when the CPU has it (gemmSIMDOK). They clamp through gemmMax and
// gemmMin, which give Go's max and min on the values these kernels clamp
// (sums, never -0) on both targets. The other SIMD kernels (activations,
// pooling) stay wasm-only: they apply max and min to arbitrary inputs, where
// amd64's VMAXPS and VMINPS do not follow Go on NaN and signed zeros.

package kernels

import (
	"simd/archsimd"
	"unsafe"
)

func init() {
	if !gemmSIMDOK {
		return
	}
	gemmSIMD = true
	gemmPanel = gemmPanelSIMD
	gemmRow = gemmRowSIMD
	gemmRow4 = gemmRow4SIMD
}

// gemmLoad loads the 4 float32s at p.
func gemmLoad(p unsafe.Pointer) archsimd.Float32x4 {
	return archsimd.LoadFloat32x4Array((*[4]float32)(p))
}

// gemmSplat broadcasts the float32 at p to 4 lanes.
func gemmSplat(p unsafe.Pointer) archsimd.Float32x4 {
	return archsimd.BroadcastFloat32x4(*(*float32)(p))
}

// gemmStoreSIMD stores clamp(c0|c1 + bias) into the 8 float32s at d.
func gemmStoreSIMD(d unsafe.Pointer, c0, c1, bv0, bv1, lo, hi archsimd.Float32x4) {
	gemmMin(gemmMax(c0.Add(bv0), lo), hi).StoreArray((*[4]float32)(d))
	gemmMin(gemmMax(c1.Add(bv1), lo), hi).StoreArray((*[4]float32)(unsafe.Add(d, 16)))
}

// gemmRowSIMD is one row of gemmPanelSIMD.
func gemmRowSIMD(k int, a []float32, bp []float32, bias *[gemmNR]float32, lo, hi float32, dst []float32) {
	// Invariant for the unsafe addressing: a holds k values, bp k*8, dst 8.
	if k < 0 || len(a) < k || len(bp) < k*gemmNR || len(dst) < gemmNR {
		panic("kernels: gemm row out of bounds")
	}
	pa, pb := unsafe.Pointer(unsafe.SliceData(a)), unsafe.Pointer(unsafe.SliceData(bp))
	var c0, c1 archsimd.Float32x4
	for range k {
		x := gemmSplat(pa)
		c0 = c0.Add(x.Mul(gemmLoad(pb)))
		c1 = c1.Add(x.Mul(gemmLoad(unsafe.Add(pb, 16))))
		pa, pb = unsafe.Add(pa, 4), unsafe.Add(pb, 32)
	}
	bv0 := archsimd.LoadFloat32x4Array((*[4]float32)(bias[0:4]))
	bv1 := archsimd.LoadFloat32x4Array((*[4]float32)(bias[4:8]))
	gemmStoreSIMD(unsafe.Pointer(unsafe.SliceData(dst)), c0, c1, bv0, bv1, archsimd.BroadcastFloat32x4(lo), archsimd.BroadcastFloat32x4(hi))
}

// gemmRow4SIMD is gemmRowSIMD against 4 consecutive panels at once: 8
// independent accumulators instead of 2 dependent chains, for batch-1 dense
// layers and the rows left over after the last full tile.
func gemmRow4SIMD(k int, a []float32, bp []float32, bias *[gemmRowPanels * gemmNR]float32, lo, hi float32, dst []float32) {
	const w = gemmRowPanels * gemmNR
	// Invariant for the unsafe addressing: a holds k values, bp the 4 panels
	// (4*k*8 values, panel q at q*k*8), dst 32.
	if k < 0 || len(a) < k || len(bp) < gemmRowPanels*k*gemmNR || len(dst) < w {
		panic("kernels: gemm row out of bounds")
	}
	pa, pb0 := unsafe.Pointer(unsafe.SliceData(a)), unsafe.Pointer(unsafe.SliceData(bp))
	ps := uintptr(k) * gemmNR * 4 // bytes between panels
	pb1 := unsafe.Add(pb0, ps)
	pb2 := unsafe.Add(pb1, ps)
	pb3 := unsafe.Add(pb2, ps)
	var c0, c1, c2, c3, c4, c5, c6, c7 archsimd.Float32x4
	for range k {
		x := gemmSplat(pa)
		c0 = c0.Add(x.Mul(gemmLoad(pb0)))
		c1 = c1.Add(x.Mul(gemmLoad(unsafe.Add(pb0, 16))))
		c2 = c2.Add(x.Mul(gemmLoad(pb1)))
		c3 = c3.Add(x.Mul(gemmLoad(unsafe.Add(pb1, 16))))
		c4 = c4.Add(x.Mul(gemmLoad(pb2)))
		c5 = c5.Add(x.Mul(gemmLoad(unsafe.Add(pb2, 16))))
		c6 = c6.Add(x.Mul(gemmLoad(pb3)))
		c7 = c7.Add(x.Mul(gemmLoad(unsafe.Add(pb3, 16))))
		pa = unsafe.Add(pa, 4)
		pb0, pb1, pb2, pb3 = unsafe.Add(pb0, 32), unsafe.Add(pb1, 32), unsafe.Add(pb2, 32), unsafe.Add(pb3, 32)
	}
	vlo, vhi := archsimd.BroadcastFloat32x4(lo), archsimd.BroadcastFloat32x4(hi)
	pbias, d := unsafe.Pointer(bias), unsafe.Pointer(unsafe.SliceData(dst))
	gemmStoreSIMD(d, c0, c1, gemmLoad(pbias), gemmLoad(unsafe.Add(pbias, 16)), vlo, vhi)
	gemmStoreSIMD(unsafe.Add(d, 32), c2, c3, gemmLoad(unsafe.Add(pbias, 32)), gemmLoad(unsafe.Add(pbias, 48)), vlo, vhi)
	gemmStoreSIMD(unsafe.Add(d, 64), c4, c5, gemmLoad(unsafe.Add(pbias, 64)), gemmLoad(unsafe.Add(pbias, 80)), vlo, vhi)
	gemmStoreSIMD(unsafe.Add(d, 96), c6, c7, gemmLoad(unsafe.Add(pbias, 96)), gemmLoad(unsafe.Add(pbias, 112)), vlo, vhi)
}

// checkGemmPanel panics unless a holds the 4*mt rows of k values, lda
// apart, that a panel kernel reads, bp its k steps of nr values, and dst
// its 4*mt rows of nr values, ldd apart: the extent the kernels then
// address from the bases, unchecked.
func checkGemmPanel(k, mt int, a []float32, lda int, bp, dst []float32, ldd, nr int) {
	rows := mt * gemmMR
	if k < 0 || lda < k || ldd < nr || len(a) < (rows-1)*lda+k || len(bp) < k*nr || len(dst) < (rows-1)*ldd+nr {
		panic("kernels: gemm panel out of bounds")
	}
}
