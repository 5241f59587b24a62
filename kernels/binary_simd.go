//go:build goexperiment.simd && go1.27 && wasm

// Built for wasm only, like gemm_simd.go: on amd64 archsimd.Float32x4 compiles
// but needs AVX/AVX2 at run time (CPU dispatch we do not need on the host)
// and VMAXPS/VMINPS do not follow Go's max/min on NaN and signed zeros.

package kernels

import (
	"simd/archsimd"
	"unsafe"
)

func init() {
	hot.binSame, hotSIMD.binSame = binSameSIMD, binSameSIMD
	hot.binScalarB, hotSIMD.binScalarB = binScalarBSIMD, binScalarBSIMD
	hot.binScalarA, hotSIMD.binScalarA = binScalarASIMD, binScalarASIMD
	hot.binChannel, hotSIMD.binChannel = binChannelSIMD, binChannelSIMD
	haveSIMD = true
}

// binSameSIMD is binSameScalar four lanes at a time; the tail goes to the
// scalar loop. Every op rounds as its scalar twin does.
func binSameSIMD(op BinaryOp, a, b, out []float32) {
	if i := binSameSIMD4(op, a, b, out); i < len(out) {
		binSameScalar(op, a[i:], b[i:], out[i:])
	}
}

// binSameSIMD4 runs the whole groups of four lanes and returns how many elements
// it did. It calls nothing: a call inside the loop's function slows the
// loop down in Go's wasm port.
func binSameSIMD4(op BinaryOp, a, b, out []float32) int {
	n := len(out)
	a, b = a[:n], b[:n]
	i := 0
	switch op {
	case BinAdd:
		if n >= 16 {
			// a, b and out hold n values (sliced above): binAdd16SIMD's
			// invariant.
			i = n &^ 15
			binAdd16SIMD(uintptr(i/16), unsafe.Pointer(unsafe.SliceData(a)), unsafe.Pointer(unsafe.SliceData(b)), unsafe.Pointer(unsafe.SliceData(out)))
		}
		for ; i <= n-4; i += 4 {
			archsimd.LoadFloat32x4(a[i:]).Add(archsimd.LoadFloat32x4(b[i:])).Store(out[i:])
		}
	case BinSub:
		for ; i <= n-4; i += 4 {
			archsimd.LoadFloat32x4(a[i:]).Sub(archsimd.LoadFloat32x4(b[i:])).Store(out[i:])
		}
	case BinMul:
		for ; i <= n-4; i += 4 {
			archsimd.LoadFloat32x4(a[i:]).Mul(archsimd.LoadFloat32x4(b[i:])).Store(out[i:])
		}
	case BinDiv:
		for ; i <= n-4; i += 4 {
			archsimd.LoadFloat32x4(a[i:]).Div(archsimd.LoadFloat32x4(b[i:])).Store(out[i:])
		}
	case BinPRelu:
		zero := archsimd.BroadcastFloat32x4(0)
		for ; i <= n-4; i += 4 {
			va := archsimd.LoadFloat32x4(a[i:])
			va.IfElse(va.GreaterEqual(zero), va.Mul(archsimd.LoadFloat32x4(b[i:]))).Store(out[i:])
		}
	case BinMax:
		for ; i <= n-4; i += 4 {
			archsimd.LoadFloat32x4(a[i:]).Max(archsimd.LoadFloat32x4(b[i:])).Store(out[i:])
		}
	case BinMin:
		for ; i <= n-4; i += 4 {
			archsimd.LoadFloat32x4(a[i:]).Min(archsimd.LoadFloat32x4(b[i:])).Store(out[i:])
		}
	}
	return i
}

// binAdd16SIMD stores a[i]+b[i] at out[i] for the n16*16 (n16 >= 1) float32s
// at a, b and out, 16 per iteration: a residual Add's sweep over a whole
// activation (BlazeFace's blocks), where the checked, one-vector loop spent
// more on its loop than on the adds. One loop in its own function, no test
// at its head, pointers bumped: the shape Go's wasm port and V8 keep in
// registers (see gemmTileSIMD). out may be a or b (in place).
//
//go:noinline
func binAdd16SIMD(n16 uintptr, a, b, out unsafe.Pointer) {
	for {
		x0 := archsimd.LoadFloat32x4Array((*[4]float32)(a)).Add(archsimd.LoadFloat32x4Array((*[4]float32)(b)))
		x1 := archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(a, 16))).Add(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(b, 16))))
		x0.StoreArray((*[4]float32)(out))
		x1.StoreArray((*[4]float32)(unsafe.Add(out, 16)))
		x2 := archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(a, 32))).Add(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(b, 32))))
		x3 := archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(a, 48))).Add(archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(b, 48))))
		x2.StoreArray((*[4]float32)(unsafe.Add(out, 32)))
		x3.StoreArray((*[4]float32)(unsafe.Add(out, 48)))
		if n16--; n16 == 0 {
			return
		}
		a, b, out = unsafe.Add(a, 64), unsafe.Add(b, 64), unsafe.Add(out, 64)
	}
}

// binScalarBSIMD is binScalarBScalar four lanes at a time.
func binScalarBSIMD(op BinaryOp, a []float32, s float32, out []float32) {
	if i := binScalarBSIMD4(op, a, s, out); i < len(out) {
		binScalarBScalar(op, a[i:], s, out[i:])
	}
}

// binScalarBSIMD4 runs the whole groups of four lanes and returns how many elements
// it did. It calls nothing: a call inside the loop's function slows the
// loop down in Go's wasm port.
func binScalarBSIMD4(op BinaryOp, a []float32, s float32, out []float32) int {
	n := len(out)
	a = a[:n]
	vs := archsimd.BroadcastFloat32x4(s)
	i := 0
	switch op {
	case BinAdd:
		for ; i <= n-4; i += 4 {
			archsimd.LoadFloat32x4(a[i:]).Add(vs).Store(out[i:])
		}
	case BinSub:
		for ; i <= n-4; i += 4 {
			archsimd.LoadFloat32x4(a[i:]).Sub(vs).Store(out[i:])
		}
	case BinMul:
		for ; i <= n-4; i += 4 {
			archsimd.LoadFloat32x4(a[i:]).Mul(vs).Store(out[i:])
		}
	case BinDiv:
		for ; i <= n-4; i += 4 {
			archsimd.LoadFloat32x4(a[i:]).Div(vs).Store(out[i:])
		}
	case BinPRelu:
		zero := archsimd.BroadcastFloat32x4(0)
		for ; i <= n-4; i += 4 {
			va := archsimd.LoadFloat32x4(a[i:])
			va.IfElse(va.GreaterEqual(zero), va.Mul(vs)).Store(out[i:])
		}
	case BinMax:
		for ; i <= n-4; i += 4 {
			archsimd.LoadFloat32x4(a[i:]).Max(vs).Store(out[i:])
		}
	case BinMin:
		for ; i <= n-4; i += 4 {
			archsimd.LoadFloat32x4(a[i:]).Min(vs).Store(out[i:])
		}
	}
	return i
}

// binScalarASIMD is binScalarAScalar four lanes at a time.
func binScalarASIMD(op BinaryOp, s float32, b, out []float32) {
	if i := binScalarASIMD4(op, s, b, out); i < len(out) {
		binScalarAScalar(op, s, b[i:], out[i:])
	}
}

// binScalarASIMD4 runs the whole groups of four lanes and returns how many elements
// it did. It calls nothing: a call inside the loop's function slows the
// loop down in Go's wasm port.
func binScalarASIMD4(op BinaryOp, s float32, b, out []float32) int {
	n := len(out)
	b = b[:n]
	vs := archsimd.BroadcastFloat32x4(s)
	i := 0
	switch op {
	case BinAdd:
		for ; i <= n-4; i += 4 {
			vs.Add(archsimd.LoadFloat32x4(b[i:])).Store(out[i:])
		}
	case BinSub:
		for ; i <= n-4; i += 4 {
			vs.Sub(archsimd.LoadFloat32x4(b[i:])).Store(out[i:])
		}
	case BinMul:
		for ; i <= n-4; i += 4 {
			vs.Mul(archsimd.LoadFloat32x4(b[i:])).Store(out[i:])
		}
	case BinDiv:
		for ; i <= n-4; i += 4 {
			vs.Div(archsimd.LoadFloat32x4(b[i:])).Store(out[i:])
		}
	case BinMax:
		for ; i <= n-4; i += 4 {
			vs.Max(archsimd.LoadFloat32x4(b[i:])).Store(out[i:])
		}
	case BinMin:
		for ; i <= n-4; i += 4 {
			vs.Min(archsimd.LoadFloat32x4(b[i:])).Store(out[i:])
		}
	default: // PRelu with a scalar x is rare: one branch for the row
	}
	return i
}

// binChannelSIMD is binChannelScalar with the rows' loop inside one
// function (a call per row costs more than the row in Go's wasm port) and
// four channels at a time; the last len(b)%4 channels of each row go to the
// scalar loop.
func binChannelSIMD(op BinaryOp, a, b, out []float32) {
	c := len(b)
	c4 := c &^ 3
	n := len(out) / c * c
	a, out = a[:n], out[:n]
	binChannelSIMD4(op, a, b, out)
	if c4 < c {
		for o := 0; o < n; o += c {
			binSameScalar(op, a[o+c4:o+c], b[c4:], out[o+c4:o+c])
		}
	}
}

func binChannelSIMD4(op BinaryOp, a, b, out []float32) {
	c := len(b)
	n := len(out)
	switch op {
	case BinAdd:
		for o := 0; o < n; o += c {
			ar, or := a[o:o+c], out[o:o+c]
			for j := 0; j <= c-4; j += 4 {
				archsimd.LoadFloat32x4(ar[j:]).Add(archsimd.LoadFloat32x4(b[j:])).Store(or[j:])
			}
		}
	case BinSub:
		for o := 0; o < n; o += c {
			ar, or := a[o:o+c], out[o:o+c]
			for j := 0; j <= c-4; j += 4 {
				archsimd.LoadFloat32x4(ar[j:]).Sub(archsimd.LoadFloat32x4(b[j:])).Store(or[j:])
			}
		}
	case BinMul:
		for o := 0; o < n; o += c {
			ar, or := a[o:o+c], out[o:o+c]
			for j := 0; j <= c-4; j += 4 {
				archsimd.LoadFloat32x4(ar[j:]).Mul(archsimd.LoadFloat32x4(b[j:])).Store(or[j:])
			}
		}
	case BinDiv:
		for o := 0; o < n; o += c {
			ar, or := a[o:o+c], out[o:o+c]
			for j := 0; j <= c-4; j += 4 {
				archsimd.LoadFloat32x4(ar[j:]).Div(archsimd.LoadFloat32x4(b[j:])).Store(or[j:])
			}
		}
	case BinPRelu:
		zero := archsimd.BroadcastFloat32x4(0)
		for o := 0; o < n; o += c {
			ar, or := a[o:o+c], out[o:o+c]
			for j := 0; j <= c-4; j += 4 {
				va := archsimd.LoadFloat32x4(ar[j:])
				va.IfElse(va.GreaterEqual(zero), va.Mul(archsimd.LoadFloat32x4(b[j:]))).Store(or[j:])
			}
		}
	case BinMax:
		for o := 0; o < n; o += c {
			ar, or := a[o:o+c], out[o:o+c]
			for j := 0; j <= c-4; j += 4 {
				archsimd.LoadFloat32x4(ar[j:]).Max(archsimd.LoadFloat32x4(b[j:])).Store(or[j:])
			}
		}
	case BinMin:
		for o := 0; o < n; o += c {
			ar, or := a[o:o+c], out[o:o+c]
			for j := 0; j <= c-4; j += 4 {
				archsimd.LoadFloat32x4(ar[j:]).Min(archsimd.LoadFloat32x4(b[j:])).Store(or[j:])
			}
		}
	}
}
