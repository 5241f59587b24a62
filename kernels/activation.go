package kernels

import "math"

// Activation is an elementwise function applied after an op, usually fused
// into the op's epilogue.
type Activation uint8

// The activations an epilogue can apply.
const (
	ActNone Activation = iota
	ActReLU
	ActReLU6
	ActLeakyReLU // x if x >= 0 else Alpha*x
	ActSigmoid
	ActTanh
	ActHardSwish // x * relu6(x+3) / 6
	ActClip      // min(max(x, Lo), Hi)
)

// Epilogue is what a producing kernel applies to each output element before it
// stores it: y = act(acc + Bias[channel]). Bias may be nil.
type Epilogue struct {
	Bias     []float32
	Act      Activation
	Alpha    float32 // LeakyReLU slope
	Lo       float32 // Clip bounds
	Hi       float32
	Residual bool // (Conv2D only) builds the convolution for RunAdd: a tensor shaped like the output is added after the bias and before Act.
}

// Activate applies act to x in place. It is the reference for every fused
// activation and the fallback for the ones a micro-kernel does not fuse.
func Activate(x []float32, ep Epilogue) {
	switch ep.Act {
	case ActNone:
	case ActReLU:
		for i, v := range x {
			x[i] = math.Float32frombits(reluBits(v))
		}
	case ActReLU6:
		for i, v := range x {
			x[i] = clamp(v, 0, 6)
		}
	case ActClip:
		for i, v := range x {
			x[i] = clamp(v, ep.Lo, ep.Hi)
		}
	case ActLeakyReLU:
		for i, v := range x {
			u, s := math.Float32bits(v), math.Float32bits(v*ep.Alpha)
			if negBits(u) {
				u = s
			}
			x[i] = math.Float32frombits(u)
		}
	case ActSigmoid:
		for i, v := range x {
			x[i] = Sigmoid32(v)
		}
	case ActTanh:
		for i, v := range x {
			x[i] = float32(math.Tanh(float64(v)))
		}
	case ActHardSwish:
		for i, v := range x {
			x[i] = v * clamp(v+3, 0, 6) / 6
		}
	}
}

// clamp bounds v to [lo, hi]: lo if v < lo, else hi if v > hi, else v
// (NaN passes through). It selects bits rather than branching on the
// comparisons: activations have random signs, and a mispredicted branch a
// value made the native loops 4x slower. The min and max builtins on float32
// are many times slower in wasm.
func clamp(v, lo, hi float32) float32 {
	u := math.Float32bits(v)
	if v > hi {
		u = math.Float32bits(hi)
	}
	if v < lo {
		u = math.Float32bits(lo)
	}
	return math.Float32frombits(u)
}

// negBits reports whether the float32 with bits u is below zero: the sign
// set, and neither -0 nor NaN. An integer test, so that callers select
// without a branch.
func negBits(u uint32) bool { return u-0x80000001 < 0x7f800000 }

// reluBits returns the bits of v < 0 ? 0 : v (so -0 and NaN pass through).
func reluBits(v float32) uint32 {
	u := math.Float32bits(v)
	if negBits(u) {
		u = 0
	}
	return u
}

// Sigmoid32 is the logistic function in float32, computed in float64 so that
// it matches a float64 reference to float32 rounding.
func Sigmoid32(v float32) float32 {
	return float32(1 / (1 + math.Exp(-float64(v))))
}
