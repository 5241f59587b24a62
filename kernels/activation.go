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
	Bias  []float32
	Act   Activation
	Alpha float32 // LeakyReLU slope
	Lo    float32 // Clip bounds
	Hi    float32
}

// Activate applies act to x in place. It is the reference for every fused
// activation and the fallback for the ones a micro-kernel does not fuse.
func Activate(x []float32, ep Epilogue) {
	switch ep.Act {
	case ActNone:
	case ActReLU:
		for i, v := range x {
			if v < 0 {
				x[i] = 0
			}
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
			if v < 0 {
				x[i] = v * ep.Alpha
			}
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

// clamp bounds v to [lo, hi] with plain comparisons: the min and max builtins
// on float32 are many times slower in wasm. NaN passes through.
func clamp(v, lo, hi float32) float32 {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// Sigmoid32 is the logistic function in float32, computed in float64 so that
// it matches a float64 reference to float32 rounding.
func Sigmoid32(v float32) float32 {
	return float32(1 / (1 + math.Exp(-float64(v))))
}
