//go:build goexperiment.simd && go1.27 && wasm

#include "textflag.h"

// func dwTile3x3S1SIMD(ng uintptr, xb unsafe.Pointer, xo, rs4, c4 uintptr, w, b, y unsafe.Pointer, lo, hi float32)
//
// Locals: R0 the groups left, R1 the group's first input (tap 0,0 of pixel
// 0), R2 = c4, R3 = rs4, R4 = w, R5 the group's first output, R6 and R7
// walk a tap row's inputs and the weights; V0-V3 the sums of pixels 0-3,
// V4-V6 a tap row's weights, V7 an input, V8 the bias or a bound.
TEXT ·dwTile3x3S1SIMD(SB), NOSPLIT, $0-72
	MOVD ng+0(FP), R0
	MOVD xb+8(FP), R1
	Get R1
	I64Load xo+16(FP)
	I64Add
	Set R1
	MOVD c4+32(FP), R2
	MOVD rs4+24(FP), R3
	MOVD w+40(FP), R4
	MOVD y+56(FP), R5
	Loop
		I32Const $0
		I32x4Splat
		Tee V0
		Tee V1
		Tee V2
		Set V3
		MOVD R4, R7
		// Tap row 0.
		MOVD R1, R6
		Get R7
		I32WrapI64
		V128Load $0
		Set V4
		Get R7
		Get R2
		I64Add
		Set R7
		Get R7
		I32WrapI64
		V128Load $0
		Set V5
		Get R7
		Get R2
		I64Add
		Set R7
		Get R7
		I32WrapI64
		V128Load $0
		Set V6
		Get R7
		Get R2
		I64Add
		Set R7
		Get R6
		I32WrapI64
		V128Load $0
		Set V7
		Get V0
		Get V7
		Get V4
		F32x4Mul
		F32x4Add
		Set V0
		Get R6
		Get R2
		I64Add
		Set R6
		Get R6
		I32WrapI64
		V128Load $0
		Set V7
		Get V0
		Get V7
		Get V5
		F32x4Mul
		F32x4Add
		Set V0
		Get V1
		Get V7
		Get V4
		F32x4Mul
		F32x4Add
		Set V1
		Get R6
		Get R2
		I64Add
		Set R6
		Get R6
		I32WrapI64
		V128Load $0
		Set V7
		Get V0
		Get V7
		Get V6
		F32x4Mul
		F32x4Add
		Set V0
		Get V1
		Get V7
		Get V5
		F32x4Mul
		F32x4Add
		Set V1
		Get V2
		Get V7
		Get V4
		F32x4Mul
		F32x4Add
		Set V2
		Get R6
		Get R2
		I64Add
		Set R6
		Get R6
		I32WrapI64
		V128Load $0
		Set V7
		Get V1
		Get V7
		Get V6
		F32x4Mul
		F32x4Add
		Set V1
		Get V2
		Get V7
		Get V5
		F32x4Mul
		F32x4Add
		Set V2
		Get V3
		Get V7
		Get V4
		F32x4Mul
		F32x4Add
		Set V3
		Get R6
		Get R2
		I64Add
		Set R6
		Get R6
		I32WrapI64
		V128Load $0
		Set V7
		Get V2
		Get V7
		Get V6
		F32x4Mul
		F32x4Add
		Set V2
		Get V3
		Get V7
		Get V5
		F32x4Mul
		F32x4Add
		Set V3
		Get R6
		Get R2
		I64Add
		Set R6
		Get R6
		I32WrapI64
		V128Load $0
		Set V7
		Get V3
		Get V7
		Get V6
		F32x4Mul
		F32x4Add
		Set V3
		// Stores V8 cannot move the next row's loads above, of every sum
		// (the final values overwrite them): without them it hoists those loads
		// above this row's last additions, and spills.
		Get R5
		I32WrapI64
		Get V0
		V128Store $0
		Get R5
		I32WrapI64
		Get V1
		V128Store $0
		Get R5
		I32WrapI64
		Get V2
		V128Store $0
		Get R5
		I32WrapI64
		Get V3
		V128Store $0
		// Tap row 1.
		Get R1
		Get R3
		I64Add
		Set R6
		Get R7
		I32WrapI64
		V128Load $0
		Set V4
		Get R7
		Get R2
		I64Add
		Set R7
		Get R7
		I32WrapI64
		V128Load $0
		Set V5
		Get R7
		Get R2
		I64Add
		Set R7
		Get R7
		I32WrapI64
		V128Load $0
		Set V6
		Get R7
		Get R2
		I64Add
		Set R7
		Get R6
		I32WrapI64
		V128Load $0
		Set V7
		Get V0
		Get V7
		Get V4
		F32x4Mul
		F32x4Add
		Set V0
		Get R6
		Get R2
		I64Add
		Set R6
		Get R6
		I32WrapI64
		V128Load $0
		Set V7
		Get V0
		Get V7
		Get V5
		F32x4Mul
		F32x4Add
		Set V0
		Get V1
		Get V7
		Get V4
		F32x4Mul
		F32x4Add
		Set V1
		Get R6
		Get R2
		I64Add
		Set R6
		Get R6
		I32WrapI64
		V128Load $0
		Set V7
		Get V0
		Get V7
		Get V6
		F32x4Mul
		F32x4Add
		Set V0
		Get V1
		Get V7
		Get V5
		F32x4Mul
		F32x4Add
		Set V1
		Get V2
		Get V7
		Get V4
		F32x4Mul
		F32x4Add
		Set V2
		Get R6
		Get R2
		I64Add
		Set R6
		Get R6
		I32WrapI64
		V128Load $0
		Set V7
		Get V1
		Get V7
		Get V6
		F32x4Mul
		F32x4Add
		Set V1
		Get V2
		Get V7
		Get V5
		F32x4Mul
		F32x4Add
		Set V2
		Get V3
		Get V7
		Get V4
		F32x4Mul
		F32x4Add
		Set V3
		Get R6
		Get R2
		I64Add
		Set R6
		Get R6
		I32WrapI64
		V128Load $0
		Set V7
		Get V2
		Get V7
		Get V6
		F32x4Mul
		F32x4Add
		Set V2
		Get V3
		Get V7
		Get V5
		F32x4Mul
		F32x4Add
		Set V3
		Get R6
		Get R2
		I64Add
		Set R6
		Get R6
		I32WrapI64
		V128Load $0
		Set V7
		Get V3
		Get V7
		Get V6
		F32x4Mul
		F32x4Add
		Set V3
		// Stores V8 cannot move the next row's loads above, of every sum
		// (the final values overwrite them): without them it hoists those loads
		// above this row's last additions, and spills.
		Get R5
		I32WrapI64
		Get V0
		V128Store $0
		Get R5
		I32WrapI64
		Get V1
		V128Store $0
		Get R5
		I32WrapI64
		Get V2
		V128Store $0
		Get R5
		I32WrapI64
		Get V3
		V128Store $0
		// Tap row 2.
		Get R1
		Get R3
		I64Const $2
		I64Mul
		I64Add
		Set R6
		Get R7
		I32WrapI64
		V128Load $0
		Set V4
		Get R7
		Get R2
		I64Add
		Set R7
		Get R7
		I32WrapI64
		V128Load $0
		Set V5
		Get R7
		Get R2
		I64Add
		Set R7
		Get R7
		I32WrapI64
		V128Load $0
		Set V6
		Get R7
		Get R2
		I64Add
		Set R7
		Get R6
		I32WrapI64
		V128Load $0
		Set V7
		Get V0
		Get V7
		Get V4
		F32x4Mul
		F32x4Add
		Set V0
		Get R6
		Get R2
		I64Add
		Set R6
		Get R6
		I32WrapI64
		V128Load $0
		Set V7
		Get V0
		Get V7
		Get V5
		F32x4Mul
		F32x4Add
		Set V0
		Get V1
		Get V7
		Get V4
		F32x4Mul
		F32x4Add
		Set V1
		Get R6
		Get R2
		I64Add
		Set R6
		Get R6
		I32WrapI64
		V128Load $0
		Set V7
		Get V0
		Get V7
		Get V6
		F32x4Mul
		F32x4Add
		Set V0
		Get V1
		Get V7
		Get V5
		F32x4Mul
		F32x4Add
		Set V1
		Get V2
		Get V7
		Get V4
		F32x4Mul
		F32x4Add
		Set V2
		Get R6
		Get R2
		I64Add
		Set R6
		Get R6
		I32WrapI64
		V128Load $0
		Set V7
		Get V1
		Get V7
		Get V6
		F32x4Mul
		F32x4Add
		Set V1
		Get V2
		Get V7
		Get V5
		F32x4Mul
		F32x4Add
		Set V2
		Get V3
		Get V7
		Get V4
		F32x4Mul
		F32x4Add
		Set V3
		Get R6
		Get R2
		I64Add
		Set R6
		Get R6
		I32WrapI64
		V128Load $0
		Set V7
		Get V2
		Get V7
		Get V6
		F32x4Mul
		F32x4Add
		Set V2
		Get V3
		Get V7
		Get V5
		F32x4Mul
		F32x4Add
		Set V3
		Get R6
		Get R2
		I64Add
		Set R6
		Get R6
		I32WrapI64
		V128Load $0
		Set V7
		Get V3
		Get V7
		Get V6
		F32x4Mul
		F32x4Add
		Set V3
		// Bias, clamps (pmax and pmin: see gemm_tile_wasm.s), stores.
		MOVD b+48(FP), R6
		Get R6
		I32WrapI64
		V128Load $0
		Set V8
		Get V0
		Get V8
		F32x4Add
		Set V0
		Get V1
		Get V8
		F32x4Add
		Set V1
		Get V2
		Get V8
		F32x4Add
		Set V2
		Get V3
		Get V8
		F32x4Add
		Set V3

		F32Load lo+64(FP)
		F32Const $-3.4028234663852886e+38
		F32Ge
		If
			F32Load lo+64(FP)
			F32x4Splat
			Set V8
			Get V0
			Get V8
			F32x4Pmax
			Set V0
			Get V1
			Get V8
			F32x4Pmax
			Set V1
			Get V2
			Get V8
			F32x4Pmax
			Set V2
			Get V3
			Get V8
			F32x4Pmax
			Set V3
		End
		F32Load hi+68(FP)
		F32Const $3.4028234663852886e+38
		F32Le
		If
			F32Load hi+68(FP)
			F32x4Splat
			Set V8
			Get V0
			Get V8
			F32x4Pmin
			Set V0
			Get V1
			Get V8
			F32x4Pmin
			Set V1
			Get V2
			Get V8
			F32x4Pmin
			Set V2
			Get V3
			Get V8
			F32x4Pmin
			Set V3
		End
		Get R5
		I32WrapI64
		Get V0
		V128Store $0
		Get R5
		Get R2
		I64Add
		Set R5
		Get R5
		I32WrapI64
		Get V1
		V128Store $0
		Get R5
		Get R2
		I64Add
		Set R5
		Get R5
		I32WrapI64
		Get V2
		V128Store $0
		Get R5
		Get R2
		I64Add
		Set R5
		Get R5
		I32WrapI64
		Get V3
		V128Store $0
		// The next group: 4 pixels on.
		Get R5
		Get R2
		I64Add
		Set R5
		Get R1
		Get R2
		I64Const $2
		I64Shl
		I64Add
		Set R1
		Get R0
		I64Const $1
		I64Sub
		Tee R0
		I64Eqz
		I32Eqz
		BrIf $0
	End
	RET
