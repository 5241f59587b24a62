package model

// Operation names. Inputs in brackets are optional (an empty name omits them).
// All spatial ops are NHWC. Attribute names and their defaults are listed with
// each op; "activation" (Conv2D, Dense, Add, Sub, Mul, Div) is one of "",
// "relu", "relu6", "leakyrelu" (with "alpha"), "sigmoid", "tanh",
// "hardswish", "clip" (with "clip_min", "clip_max") and is applied after the
// op (the engine fuses a following activation node into it at compile time).
const (
	// Conv2D: x [N,H,W,Cin], w [KH,KW,Cin/group,Cout], [b [Cout]], [r] -> [N,OH,OW,Cout].
	// strides [2] (1,1), dilations [2] (1,1), padding "SAME"|"VALID"|"EXPLICIT"
	// ("VALID"); pads [4] = top, bottom, left, right (EXPLICIT only; SAME puts
	// the odd pixel at bottom/right like TensorFlow), group (1), activation.
	// group == Cin with Cout a multiple of Cin is a depthwise convolution.
	// r, a tensor shaped like the output, is added after the bias and before
	// the activation: the engine fuses a residual Add into the convolution
	// this way; the importers never write it, and training refuses it.
	OpConv2D = "Conv2D"
	// Dense: x [N,K], w [K,M], [b [M]] -> [N,M]. activation.
	OpDense = "Dense"
	// MatMul: a [...,M,K], b [...,K,N] -> [...,M,N], batch dims broadcast.
	OpMatMul = "MatMul"
	// Gemm (ONNX): a, b, [c] -> alpha*op(a)*op(b) + beta*c; transA, transB (0),
	// alpha, beta (1.0). a and b are 2-D; c broadcasts to [M,N].
	OpGemm = "Gemm"

	// Elementwise binary ops with NumPy broadcasting: a, b -> broadcast shape.
	// activation.
	OpAdd = "Add"
	OpSub = "Sub"
	OpMul = "Mul"
	OpDiv = "Div"

	// Elementwise unary activations: x -> same shape.
	OpRelu      = "Relu"
	OpRelu6     = "Relu6"
	OpLeakyRelu = "LeakyRelu" // alpha (0.01)
	OpSigmoid   = "Sigmoid"
	OpTanh      = "Tanh"
	OpHardSwish = "HardSwish"
	// Clip: min, max (float32 attrs, default -Inf, +Inf).
	OpClip = "Clip"
	// PRelu: x, slope (broadcast to x; usually [C]) -> same shape as x.
	OpPRelu = "PRelu"

	// Softmax: axis (-1).
	OpSoftmax = "Softmax"

	// MaxPool, AvgPool: x [N,H,W,C] -> [N,OH,OW,C]. kernel [2], strides [2]
	// (= kernel), padding/pads as Conv2D; AvgPool: count_include_pad (0).
	OpMaxPool = "MaxPool"
	OpAvgPool = "AvgPool"
	// GlobalAvgPool: x [N,H,W,C] -> [N,C] (keepdims 0) or [N,1,1,C] (keepdims 1).
	OpGlobalAvgPool = "GlobalAvgPool"
	// Mean: axes [] (negative counts from the end), keepdims (1).
	OpMean = "Mean"

	// Pad: pads [2*rank] = begin of every axis then end of every axis;
	// mode "constant"|"reflect"|"edge" ("constant"), value (0).
	OpPad = "Pad"
	// Concat: any number of inputs, axis (required; negative counts from the end).
	OpConcat = "Concat"
	// Reshape: shape [] with 0 (copy that input dim) and one -1 (infer).
	OpReshape = "Reshape"
	// Flatten: axis (1) -> [prod(dims[:axis]), prod(dims[axis:])].
	OpFlatten = "Flatten"
	// Transpose: perm [] (reversed axes when absent).
	OpTranspose = "Transpose"
	// BatchNorm over the last axis: x, scale, bias, mean, var [C]; epsilon
	// (1e-3). Inference uses mean and var and folds into a preceding
	// Conv2D/Dense at compile time; the Trainer, when it trains scale or
	// bias, normalises with the batch's statistics and updates mean and var
	// as run = run*momentum + batch*(1-momentum); momentum (0.99, as Keras).
	OpBatchNorm = "BatchNorm"
	// Dropout: rate (0.5), in [0, 1). The identity at inference; the Trainer
	// zeroes each element with probability rate and scales the rest by
	// 1/(1-rate) (inverted dropout).
	OpDropout = "Dropout"
	// Resize: x [N,H,W,C] -> [N,OH,OW,C]. size [2] = OH, OW; mode
	// "nearest"|"bilinear" ("nearest"); coord "half_pixel"|"align_corners"|
	// "asymmetric" ("half_pixel").
	OpResize = "Resize"
)
