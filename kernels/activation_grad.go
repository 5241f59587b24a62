package kernels

// ActivationGrad computes the gradient through an activation:
// dx[i] = dy[i] * act'(x[i]) for ep.Act (ep.Bias is ignored: the bias
// gradient is a reduction the caller does). x is the activation's input
// (pre-activation) and y its output; both hold len(dy) elements, and the one
// an activation does not need may be nil (Sigmoid and Tanh read only y, None
// neither, every other activation only x). dx may be the same slice as dy (in place); other
// overlaps are not allowed. It does not allocate.
//
// The derivatives, with TensorFlow's choices at the kinks:
//
//	ReLU       1 if x > 0, else 0 (ReLU'(0) = 0)
//	ReLU6      1 if 0 < x < 6, else 0
//	LeakyReLU  1 if x > 0, else Alpha
//	Sigmoid    y*(1-y)
//	Tanh       1 - y*y
//	HardSwish  0 if x <= -3, 1 if x >= 3, else (2x+3)/6
//	Clip       1 if Lo <= x <= Hi, else 0 (TensorFlow's ClipByValue gradient:
//	           inclusive, unlike ReLU6)
//	None       1
//
// Everything is float32, products rounded in the order written.
func ActivationGrad(ep Epilogue, x, y, dy, dx []float32) {
	dx = dx[:len(dy)]
	switch ep.Act {
	case ActNone:
		copy(dx, dy)
	case ActReLU, ActReLU6:
		gradHot.reluGrad(ep.Act == ActReLU6, x[:len(dy)], dy, dx)
	case ActLeakyReLU:
		x = x[:len(dy)]
		for i, g := range dy {
			if x[i] <= 0 {
				g *= ep.Alpha
			}
			dx[i] = g
		}
	case ActSigmoid:
		y = y[:len(dy)]
		for i, g := range dy {
			v := y[i]
			dx[i] = g * float32(v*(1-v))
		}
	case ActTanh:
		y = y[:len(dy)]
		for i, g := range dy {
			v := y[i]
			dx[i] = g * (1 - float32(v*v))
		}
	case ActHardSwish:
		x = x[:len(dy)]
		for i, g := range dy {
			switch v := x[i]; {
			case v <= -3:
				dx[i] = 0
			case v >= 3:
				dx[i] = g
			default:
				dx[i] = g * float32((2*v+3)/6)
			}
		}
	case ActClip:
		x = x[:len(dy)]
		for i, g := range dy {
			if v := x[i]; !(v >= ep.Lo && v <= ep.Hi) {
				g = 0
			}
			dx[i] = g
		}
	}
}

// reluGradScalar is the scalar twin of the ReLU/ReLU6 gradient: dx = dy where
// x > 0 (and x < 6 for ReLU6), else 0. A NaN x gives 0.
func reluGradScalar(six bool, x, dy, dx []float32) {
	x, dx = x[:len(dy)], dx[:len(dy)]
	if six {
		for i, g := range dy {
			if v := x[i]; !(v > 0 && v < 6) {
				g = 0
			}
			dx[i] = g
		}
		return
	}
	for i, g := range dy {
		if !(x[i] > 0) {
			g = 0
		}
		dx[i] = g
	}
}

// gradKernels holds the backward inner loops that have a SIMD version, the
// way hotKernels does for the forward ones: gradHot is the set the kernels
// call, gradHotScalar and gradHotSIMD stay reachable for the tests.
type gradKernels struct {
	reluGrad    func(six bool, x, dy, dx []float32)
	avgPoolGrad func(p PoolParams, n int, dy, dx []float32)
	// binGradSameA and binGradSameB write da and db for operands of one
	// shape (BinaryGrad's same-shape path and its per-channel da rows).
	binGradSameA func(op BinaryOp, a, b, dy, da []float32)
	binGradSameB func(op BinaryOp, a, b, dy, db []float32)
	// binGradChannelB sums db over rows for a per-channel b.
	binGradChannelB func(op BinaryOp, a, b, dy, db []float32, c int)
}

var gradHotScalar = gradKernels{
	reluGrad:        reluGradScalar,
	avgPoolGrad:     avgPoolGradScalar,
	binGradSameA:    binGradSameAScalar,
	binGradSameB:    binGradSameBScalar,
	binGradChannelB: binGradChannelBScalar,
}

var (
	gradHot      = gradHotScalar
	gradHotSIMD  = gradHotScalar // SIMD entries replace scalar ones where they exist
	haveGradSIMD bool            // set by the *_grad_simd.go files
)
