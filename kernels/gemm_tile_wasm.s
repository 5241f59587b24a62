//go:build goexperiment.simd && go1.27 && wasm

#include "textflag.h"

// func gemmTileWasm(mt, n, kh uintptr, xb unsafe.Pointer, o0, o1, o2, o3, astep, rs4 uintptr, pb, d unsafe.Pointer, ldd4 uintptr, bias *[gemmNR]float32, lo, hi float32, res unsafe.Pointer)
//
// Locals: R0 = n; R1-R4 walk rows 0-3 of A (the patch rows of 4 pixels)
// and R5 the packed panel of B; R6 counts the k steps left in a segment,
// R8 the segments left, R9 the tiles left; R7 = rs4 - 4n, the step from the
// end of one segment to the start of the next; R10 = t*astep, the offset of
// tile t's rows; R11 is tile t's output, R12 a scratch pointer, R13 tile t's
// residual (0 without one). V0-V7 hold
// the sums (row r, half h in V(2r+h)), V8 and V9 the two halves of B's
// step (then the bias, a bound), V10 the broadcast of A.
//
// Two gaps in the assembler (Go 1.27) are worked around here, and the
// kernel tests would fail at once if either changed:
//   - it writes no memory immediate after V128Load32Splat, so each one is
//     followed by Nop (0x01) and Unreachable (0x00): the bytes of the
//     immediate "align 2^1, offset 0". One v128.load32_splat is one
//     vbroadcastss from memory in V8, where f32.load and f32x4.splat are two
//     instructions;
//   - it encodes V128Store's offset as 0 whatever it is given (the op is
//     missing from its table of stores), so the stores add their offsets
//     to the address; V128Load's offsets are encoded.
TEXT ·gemmTileWasm(SB), NOSPLIT, $0-128
	MOVD n+8(FP), R0
	I64Load rs4+72(FP)
	Get R0
	I64Const $2
	I64Shl
	I64Sub
	Set R7
	MOVD mt+0(FP), R9
	MOVD d+88(FP), R11
	MOVD res+120(FP), R13
	I64Const $0
	Set R10
	Get R9
	I64Eqz
	I32Eqz
	If
		Loop
			// Tile t: rows at xb + o_r + t*astep, sums from zero.
			MOVD xb+24(FP), R12
			Get R12
			I64Load o0+32(FP)
			I64Add
			Get R10
			I64Add
			Set R1

			MOVD xb+24(FP), R12
			Get R12
			I64Load o1+40(FP)
			I64Add
			Get R10
			I64Add
			Set R2

			MOVD xb+24(FP), R12
			Get R12
			I64Load o2+48(FP)
			I64Add
			Get R10
			I64Add
			Set R3

			MOVD xb+24(FP), R12
			Get R12
			I64Load o3+56(FP)
			I64Add
			Get R10
			I64Add
			Set R4

			MOVD pb+80(FP), R5
			I32Const $0
			I32x4Splat
			Tee V0
			Tee V1
			Tee V2
			Tee V3
			Tee V4
			Tee V5
			Tee V6
			Set V7
			MOVD kh+16(FP), R8
			// kh segments of n steps, in order.
			Get R0
			I64Eqz
			Get R8
			I64Eqz
			I32Or
			I32Eqz
			If
				Loop
					MOVD R0, R6
					Loop
						V128Load 0(R5)
						Set V8
						V128Load 16(R5)
						Set V9
						Get R1
						I32WrapI64
						V128Load32Splat
						Nop
						Unreachable
						Set V10
						Get V0
						Get V10
						Get V8
						F32x4Mul
						F32x4Add
						Set V0
						Get V1
						Get V10
						Get V9
						F32x4Mul
						F32x4Add
						Set V1
						Get R2
						I32WrapI64
						V128Load32Splat
						Nop
						Unreachable
						Set V10
						Get V2
						Get V10
						Get V8
						F32x4Mul
						F32x4Add
						Set V2
						Get V3
						Get V10
						Get V9
						F32x4Mul
						F32x4Add
						Set V3
						Get R3
						I32WrapI64
						V128Load32Splat
						Nop
						Unreachable
						Set V10
						Get V4
						Get V10
						Get V8
						F32x4Mul
						F32x4Add
						Set V4
						Get V5
						Get V10
						Get V9
						F32x4Mul
						F32x4Add
						Set V5
						Get R4
						I32WrapI64
						V128Load32Splat
						Nop
						Unreachable
						Set V10
						Get V6
						Get V10
						Get V8
						F32x4Mul
						F32x4Add
						Set V6
						Get V7
						Get V10
						Get V9
						F32x4Mul
						F32x4Add
						Set V7
						Get R5
						I64Const $32
						I64Add
						Set R5
						Get R1
						I64Const $4
						I64Add
						Set R1
						Get R2
						I64Const $4
						I64Add
						Set R2
						Get R3
						I64Const $4
						I64Add
						Set R3
						Get R4
						I64Const $4
						I64Add
						Set R4
						Get R6
						I64Const $1
						I64Sub
						Tee R6
						I64Eqz
						I32Eqz
						BrIf $0
					End
					Get R8
					I64Const $1
					I64Sub
					Tee R8
					I64Eqz
					I32Eqz
					If
						Get R1
						Get R7
						I64Add
						Set R1
						Get R2
						Get R7
						I64Add
						Set R2
						Get R3
						Get R7
						I64Add
						Set R3
						Get R4
						Get R7
						I64Add
						Set R4
						Br $1
					End
				End
			End

			// Add the bias.
			MOVD bias+104(FP), R12
			V128Load 0(R12)
			Set V8
			V128Load 16(R12)
			Set V9
			Get V0
			Get V8
			F32x4Add
			Set V0
			Get V1
			Get V9
			F32x4Add
			Set V1
			Get V2
			Get V8
			F32x4Add
			Set V2
			Get V3
			Get V9
			F32x4Add
			Set V3
			Get V4
			Get V8
			F32x4Add
			Set V4
			Get V5
			Get V9
			F32x4Add
			Set V5
			Get V6
			Get V8
			F32x4Add
			Set V6
			Get V7
			Get V9
			F32x4Add
			Set V7

			// Add the residual (after the bias, before the clamps, as the
			// unfused add would): tile t's row r at R13 + r*ldd4, as its
			// output's at R11 + r*ldd4, each half one load (V128Load's
			// offsets are encoded); then step R13 to the next tile's.
			Get R13
			I64Eqz
			I32Eqz
			If
				MOVD R13, R12
				Get V0
				V128Load 0(R12)
				F32x4Add
				Set V0
				Get V1
				V128Load 16(R12)
				F32x4Add
				Set V1
				Get R12
				I64Load ldd4+96(FP)
				I64Add
				Set R12
				Get V2
				V128Load 0(R12)
				F32x4Add
				Set V2
				Get V3
				V128Load 16(R12)
				F32x4Add
				Set V3
				Get R12
				I64Load ldd4+96(FP)
				I64Add
				Set R12
				Get V4
				V128Load 0(R12)
				F32x4Add
				Set V4
				Get V5
				V128Load 16(R12)
				F32x4Add
				Set V5
				Get R12
				I64Load ldd4+96(FP)
				I64Add
				Set R12
				Get V6
				V128Load 0(R12)
				F32x4Add
				Set V6
				Get V7
				V128Load 16(R12)
				F32x4Add
				Set V7
				Get R13
				I64Load ldd4+96(FP)
				I64Const $2
				I64Shl
				I64Add
				Set R13
			End

			// The clamps are wasm's pseudo-maximum and minimum, one instruction
			// each in V8 where f32x4.max and min are about 8: pmax(c, lo) is
			// c < lo ? lo : c and pmin(c, hi) is hi < c ? hi : c, which are Go's
			// max and min here: a sum is never -0 (it starts from +0 and rounds
			// to nearest), a NaN sum passes through, and gemmClamp keeps NaN
			// bounds and an upper bound of -0 out of the kernels (as on amd64,
			// whose gemmMax and gemmMin are the same compare and select).
			// max(x, -Inf) and min(x, +Inf) are x: skip them.
			F32Load lo+112(FP)
			F32Const $-3.4028234663852886e+38
			F32Ge
			If
				F32Load lo+112(FP)
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
				Get V4
				Get V8
				F32x4Pmax
				Set V4
				Get V5
				Get V8
				F32x4Pmax
				Set V5
				Get V6
				Get V8
				F32x4Pmax
				Set V6
				Get V7
				Get V8
				F32x4Pmax
				Set V7
			End
			F32Load hi+116(FP)
			F32Const $3.4028234663852886e+38
			F32Le
			If
				F32Load hi+116(FP)
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
				Get V4
				Get V8
				F32x4Pmin
				Set V4
				Get V5
				Get V8
				F32x4Pmin
				Set V5
				Get V6
				Get V8
				F32x4Pmin
				Set V6
				Get V7
				Get V8
				F32x4Pmin
				Set V7
			End

			// Row r to d + (4t + r)*ldd4; then the next tile.
			MOVD R11, R12
			Get R12
			I32WrapI64
			Get V0
			V128Store $0
			Get R12
			I64Const $16
			I64Add
			I32WrapI64
			Get V1
			V128Store $0
			Get R12
			I64Load ldd4+96(FP)
			I64Add
			Set R12
			Get R12
			I32WrapI64
			Get V2
			V128Store $0
			Get R12
			I64Const $16
			I64Add
			I32WrapI64
			Get V3
			V128Store $0
			Get R12
			I64Load ldd4+96(FP)
			I64Add
			Set R12
			Get R12
			I32WrapI64
			Get V4
			V128Store $0
			Get R12
			I64Const $16
			I64Add
			I32WrapI64
			Get V5
			V128Store $0
			Get R12
			I64Load ldd4+96(FP)
			I64Add
			Set R12
			Get R12
			I32WrapI64
			Get V6
			V128Store $0
			Get R12
			I64Const $16
			I64Add
			I32WrapI64
			Get V7
			V128Store $0

			Get R11
			I64Load ldd4+96(FP)
			I64Const $2
			I64Shl
			I64Add
			Set R11
			Get R10
			I64Load astep+64(FP)
			I64Add
			Set R10
			Get R9
			I64Const $1
			I64Sub
			Tee R9
			I64Eqz
			I32Eqz
			BrIf $0
		End
	End
	RET
