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
	hot.activate, hotSIMD.activate = activateSIMD, activateSIMD
	haveSIMD = true
}

// activateSIMD is Activate four lanes at a time for the piecewise-linear
// activations and HardSwish, with the same operations in the same order;
// the rest, and the tail, go to Activate.
func activateSIMD(x []float32, ep Epilogue) {
	if i := activateSIMD4(x, ep); i < len(x) {
		Activate(x[i:], ep)
	}
}

// activateSIMD4 runs the whole groups of four lanes it has a SIMD loop for
// and returns how many elements it did. It calls nothing: a call inside the
// loop's function slows the loop down in Go's wasm port.
func activateSIMD4(x []float32, ep Epilogue) int {
	n := len(x)
	i := 0
	zero := archsimd.BroadcastFloat32x4(0)
	switch ep.Act {
	case ActReLU:
		if n >= 16 {
			i = n &^ 15 // x holds n values: reLU16SIMD's invariant
			reLU16SIMD(uintptr(i/16), unsafe.Pointer(unsafe.SliceData(x)))
		}
		for ; i <= n-4; i += 4 {
			reLU4(archsimd.LoadFloat32x4(x[i:])).Store(x[i:])
		}
	case ActReLU6:
		six := archsimd.BroadcastFloat32x4(6)
		for ; i <= n-4; i += 4 {
			archsimd.LoadFloat32x4(x[i:]).Max(zero).Min(six).Store(x[i:])
		}
	case ActClip:
		lo, hi := archsimd.BroadcastFloat32x4(ep.Lo), archsimd.BroadcastFloat32x4(ep.Hi)
		for ; i <= n-4; i += 4 {
			archsimd.LoadFloat32x4(x[i:]).Max(lo).Min(hi).Store(x[i:])
		}
	case ActLeakyReLU:
		alpha := archsimd.BroadcastFloat32x4(ep.Alpha)
		for ; i <= n-4; i += 4 {
			v := archsimd.LoadFloat32x4(x[i:])
			v.Mul(alpha).IfElse(v.Less(zero), v).Store(x[i:])
		}
	case ActHardSwish:
		three, six := archsimd.BroadcastFloat32x4(3), archsimd.BroadcastFloat32x4(6)
		for ; i <= n-4; i += 4 {
			v := archsimd.LoadFloat32x4(x[i:])
			v.Mul(v.Add(three).Max(zero).Min(six)).Div(six).Store(x[i:])
		}
	}
	return i
}

// reLU4 is Activate's ReLU (v < 0 becomes +0; -0 and NaN stay) on 4 lanes:
// clear the lanes where v < 0. Two wasm instructions, where Max(v, 0)
// costs V8 about eight (and turns -0 into +0, which the scalar twin does
// not).
func reLU4(v archsimd.Float32x4) archsimd.Float32x4 {
	neg := v.Less(archsimd.BroadcastFloat32x4(0)).ToInt32x4().ToBits()
	return v.ToBits().AndNot(neg).BitsToFloat32()
}

// reLU16SIMD applies reLU4 in place to the n16*16 (n16 >= 1) float32s at p,
// 16 per iteration, in the loop shape of binAdd16SIMD.
//
//go:noinline
func reLU16SIMD(n16 uintptr, p unsafe.Pointer) {
	zero := archsimd.BroadcastFloat32x4(0)
	for {
		v0 := archsimd.LoadFloat32x4Array((*[4]float32)(p))
		v1 := archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(p, 16)))
		v0.ToBits().AndNot(v0.Less(zero).ToInt32x4().ToBits()).BitsToFloat32().StoreArray((*[4]float32)(p))
		v1.ToBits().AndNot(v1.Less(zero).ToInt32x4().ToBits()).BitsToFloat32().StoreArray((*[4]float32)(unsafe.Add(p, 16)))
		v2 := archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(p, 32)))
		v3 := archsimd.LoadFloat32x4Array((*[4]float32)(unsafe.Add(p, 48)))
		v2.ToBits().AndNot(v2.Less(zero).ToInt32x4().ToBits()).BitsToFloat32().StoreArray((*[4]float32)(unsafe.Add(p, 32)))
		v3.ToBits().AndNot(v3.Less(zero).ToInt32x4().ToBits()).BitsToFloat32().StoreArray((*[4]float32)(unsafe.Add(p, 48)))
		if n16--; n16 == 0 {
			return
		}
		p = unsafe.Add(p, 64)
	}
}
