//go:build goexperiment.simd && go1.27 && wasm

// Built for wasm only, like the forward SIMD kernels (see gemm_simd.go).

package kernels

import "simd/archsimd"

func init() {
	gradHot.binGradSameA, gradHotSIMD.binGradSameA = binGradSameASIMD, binGradSameASIMD
	gradHot.binGradSameB, gradHotSIMD.binGradSameB = binGradSameBSIMD, binGradSameBSIMD
	gradHot.binGradChannelB, gradHotSIMD.binGradChannelB = binGradChannelBSIMD, binGradChannelBSIMD
	haveGradSIMD = true
}

// binGradSameASIMD is binGradSameAScalar four lanes at a time, each op
// rounding as its scalar twin does; the tail goes to the scalar loop.
func binGradSameASIMD(op BinaryOp, a, b, dy, da []float32) {
	if op == BinAdd || op == BinSub {
		copy(da[:len(dy)], dy)
		return
	}
	if i := binGradSameASIMD4(op, a, b, dy, da); i < len(dy) {
		var ar []float32
		if op == BinPRelu {
			ar = a[i:]
		}
		binGradSameAScalar(op, ar, b[i:], dy[i:], da[i:])
	}
}

// binGradSameASIMD4 runs the whole groups of four lanes of Mul, Div and
// PRelu and returns how many elements it did. It calls nothing inside its
// loops (a call in the loop's function slows the loop down in Go's wasm port).
func binGradSameASIMD4(op BinaryOp, a, b, dy, da []float32) int {
	n := len(dy)
	b, da = b[:n], da[:n]
	i := 0
	switch op {
	case BinMul:
		for ; i <= n-4; i += 4 {
			archsimd.LoadFloat32x4(dy[i:]).Mul(archsimd.LoadFloat32x4(b[i:])).Store(da[i:])
		}
	case BinDiv:
		for ; i <= n-4; i += 4 {
			archsimd.LoadFloat32x4(dy[i:]).Div(archsimd.LoadFloat32x4(b[i:])).Store(da[i:])
		}
	case BinPRelu:
		a = a[:n]
		zero := archsimd.BroadcastFloat32x4(0)
		for ; i <= n-4; i += 4 {
			g := archsimd.LoadFloat32x4(dy[i:])
			neg := archsimd.LoadFloat32x4(a[i:]).Less(zero)
			g.Mul(archsimd.LoadFloat32x4(b[i:])).IfElse(neg, g).Store(da[i:])
		}
	}
	return i
}

// binGradSameBSIMD is binGradSameBScalar four lanes at a time.
func binGradSameBSIMD(op BinaryOp, a, b, dy, db []float32) {
	if op == BinAdd {
		copy(db[:len(dy)], dy)
		return
	}
	if i := binGradSameBSIMD4(op, a, b, dy, db); i < len(dy) {
		var ar, br []float32
		if op != BinSub {
			ar = a[i:]
		}
		if op == BinDiv {
			br = b[i:]
		}
		binGradSameBScalar(op, ar, br, dy[i:], db[i:])
	}
}

// binGradSameBSIMD4 runs the whole groups of four lanes of Sub, Mul, Div and
// PRelu and returns how many elements it did. It calls nothing inside its
// loops.
func binGradSameBSIMD4(op BinaryOp, a, b, dy, db []float32) int {
	n := len(dy)
	db = db[:n]
	i := 0
	switch op {
	case BinSub:
		for ; i <= n-4; i += 4 {
			archsimd.LoadFloat32x4(dy[i:]).Neg().Store(db[i:])
		}
	case BinMul:
		a = a[:n]
		for ; i <= n-4; i += 4 {
			archsimd.LoadFloat32x4(dy[i:]).Mul(archsimd.LoadFloat32x4(a[i:])).Store(db[i:])
		}
	case BinDiv:
		a, b = a[:n], b[:n]
		for ; i <= n-4; i += 4 {
			vb := archsimd.LoadFloat32x4(b[i:])
			q := archsimd.LoadFloat32x4(dy[i:]).Div(vb)
			q.Mul(archsimd.LoadFloat32x4(a[i:]).Div(vb)).Neg().Store(db[i:])
		}
	case BinPRelu:
		a = a[:n]
		zero := archsimd.BroadcastFloat32x4(0)
		for ; i <= n-4; i += 4 {
			va := archsimd.LoadFloat32x4(a[i:])
			archsimd.LoadFloat32x4(dy[i:]).Mul(va).Masked(va.Less(zero)).Store(db[i:])
		}
	}
	return i
}

// binGradAccBSIMD is binGradAccBScalar four lanes at a time. PRelu adds a
// masked +0 where the scalar twin adds nothing: the same bits, since a sum
// that starts at +0 never becomes -0.
func binGradAccBSIMD(op BinaryOp, a, b, dy, acc []float32) {
	if i := binGradAccBSIMD4(op, a, b, dy, acc); i < len(dy) {
		var ar, br []float32
		if op != BinAdd && op != BinSub {
			ar = a[i:]
		}
		if op == BinDiv {
			br = b[i:]
		}
		binGradAccBScalar(op, ar, br, dy[i:], acc[i:])
	}
}

// binGradAccBSIMD4 runs the whole groups of four lanes and returns how many
// elements it did. It calls nothing inside its loops.
func binGradAccBSIMD4(op BinaryOp, a, b, dy, acc []float32) int {
	n := len(dy)
	acc = acc[:n]
	i := 0
	switch op {
	case BinAdd:
		for ; i <= n-4; i += 4 {
			archsimd.LoadFloat32x4(acc[i:]).Add(archsimd.LoadFloat32x4(dy[i:])).Store(acc[i:])
		}
	case BinSub:
		for ; i <= n-4; i += 4 {
			archsimd.LoadFloat32x4(acc[i:]).Sub(archsimd.LoadFloat32x4(dy[i:])).Store(acc[i:])
		}
	case BinMul:
		a = a[:n]
		for ; i <= n-4; i += 4 {
			t := archsimd.LoadFloat32x4(dy[i:]).Mul(archsimd.LoadFloat32x4(a[i:]))
			archsimd.LoadFloat32x4(acc[i:]).Add(t).Store(acc[i:])
		}
	case BinDiv:
		a, b = a[:n], b[:n]
		for ; i <= n-4; i += 4 {
			vb := archsimd.LoadFloat32x4(b[i:])
			t := archsimd.LoadFloat32x4(dy[i:]).Div(vb).Mul(archsimd.LoadFloat32x4(a[i:]).Div(vb))
			archsimd.LoadFloat32x4(acc[i:]).Sub(t).Store(acc[i:])
		}
	case BinPRelu:
		a = a[:n]
		zero := archsimd.BroadcastFloat32x4(0)
		for ; i <= n-4; i += 4 {
			va := archsimd.LoadFloat32x4(a[i:])
			t := archsimd.LoadFloat32x4(dy[i:]).Mul(va).Masked(va.Less(zero))
			archsimd.LoadFloat32x4(acc[i:]).Add(t).Store(acc[i:])
		}
	}
	return i
}

// binGradChannelBSIMD is binGradChannelBScalar with binGradAccBSIMD for the
// float32 block sums; the loop is repeated rather than shared so that its
// stack arrays stay on the stack.
func binGradChannelBSIMD(op BinaryOp, a, b, dy, db []float32, c int) {
	rows := len(dy) / c
	const chunk = 64
	var part [chunk]float32
	var acc [chunk]float64
	for c0 := 0; c0 < c; c0 += chunk {
		cn := min(chunk, c-c0)
		clear(acc[:cn])
		for r0 := 0; r0 < rows; r0 += gapBlock {
			clear(part[:cn])
			for r := r0; r < min(r0+gapBlock, rows); r++ {
				o := r*c + c0
				var ar, br []float32
				if op != BinAdd && op != BinSub {
					ar, br = a[o:o+cn], b[c0:c0+cn]
				}
				binGradAccBSIMD(op, ar, br, dy[o:o+cn], part[:cn])
			}
			for j := range cn {
				acc[j] += float64(part[j])
			}
		}
		for j := range cn {
			db[c0+j] = float32(acc[j])
		}
	}
}
