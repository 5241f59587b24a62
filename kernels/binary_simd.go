//go:build goexperiment.simd && go1.27

package kernels

import "simd/archsimd"

func init() {
	hot.binSame, hotSIMD.binSame = binSameSIMD, binSameSIMD
	hot.binScalarB, hotSIMD.binScalarB = binScalarBSIMD, binScalarBSIMD
	hot.binScalarA, hotSIMD.binScalarA = binScalarASIMD, binScalarASIMD
	haveSIMD = true
}

// binSameSIMD is binSameScalar four lanes at a time; the tail goes to the
// scalar loop. Every op rounds as its scalar twin does.
func binSameSIMD(op BinaryOp, a, b, out []float32) {
	n := len(out)
	a, b = a[:n], b[:n]
	i := 0
	switch op {
	case BinAdd:
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
	if i < n {
		binSameScalar(op, a[i:], b[i:], out[i:])
	}
}

// binScalarBSIMD is binScalarBScalar four lanes at a time.
func binScalarBSIMD(op BinaryOp, a []float32, s float32, out []float32) {
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
	if i < n {
		binScalarBScalar(op, a[i:], s, out[i:])
	}
}

// binScalarASIMD is binScalarAScalar four lanes at a time.
func binScalarASIMD(op BinaryOp, s float32, b, out []float32) {
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
	if i < n {
		binScalarAScalar(op, s, b[i:], out[i:])
	}
}
