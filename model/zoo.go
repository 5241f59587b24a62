package model

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// The zoo's networks have deterministic generated weights, drawn exactly as
// shared/anchors/gen_models.js draws them, so that one network runs in
// edgenn, TensorFlow.js and ONNX Runtime and the outputs can be compared:
// tensor i (in the order the network adds them) uses mulberry32 seeded with
// seedBase+i, value = float32((2u-1)*limit) in float64, limit = sqrt(6/fan_in)
// for kernels (fan_in = kh*kw*cin, depthwise kh*kw, dense in) and 0.1 for
// biases. Batch norm is taken as folded: every conv has a bias.
const (
	lenetSeedBase, lenetInputSeed = 1000, 7
	mnv1SeedBase, mnv1InputSeed   = 2000, 8
	mnv2SeedBase, mnv2InputSeed   = 3000, 9
	zooLicence                    = "generated weights, no licence restrictions"
	zooPreprocessing              = "NHWC float32; the reference input is uniform in [0,1)"
)

// ZooNames returns the names of the zoo's networks. Zoo also accepts any
// "mobilenet_v1_<alpha*100>_<resolution>" and "mobilenet_v2_<alpha*100>_<resolution>"
// with alpha*100 in [10, 200] written with three digits and resolution in [32, 512].
func ZooNames() []string {
	return []string{"lenet5", "mobilenet_v1_025_128", "mobilenet_v1_050_160", "mobilenet_v1_100_224",
		"mobilenet_v2_035_128", "mobilenet_v2_100_224"}
}

// Zoo returns a freshly built network from the zoo.
func Zoo(name string) (*Graph, error) {
	if name == "lenet5" {
		return LeNet5()
	}
	v, alpha, res, err := parseMobileNet(name)
	if err != nil {
		return nil, err
	}
	if v == 1 {
		return MobileNetV1(alpha, res)
	}
	return MobileNetV2(alpha, res)
}

// ZooInput returns the reference input of a zoo network (uniform in [0,1),
// drawn as gen_models.js draws it) and its shape [1,H,W,C].
func ZooInput(name string) ([]float32, []int, error) {
	shape, seed := []int{1, 28, 28, 1}, uint32(lenetInputSeed)
	if name != "lenet5" {
		v, _, res, err := parseMobileNet(name)
		if err != nil {
			return nil, nil, err
		}
		shape, seed = []int{1, res, res, 3}, mnv1InputSeed
		if v == 2 {
			seed = mnv2InputSeed
		}
	}
	data := make([]float32, NumElements(shape))
	next := mulberry32(seed)
	for i := range data {
		data[i] = float32(next())
	}
	return data, shape, nil
}

func parseMobileNet(name string) (version int, alpha float64, res int, err error) {
	bad := errors.New("zoo: unknown network " + quoteShort(name) + " (want one of ZooNames, or mobilenet_v1|v2_<alpha*100, 3 digits>_<resolution>)")
	rest, ok := strings.CutPrefix(name, "mobilenet_v")
	if !ok || len(rest) < 2 || (rest[0] != '1' && rest[0] != '2') || rest[1] != '_' {
		return 0, 0, 0, bad
	}
	a, r, ok := strings.Cut(rest[2:], "_")
	if !ok || len(a) != 3 {
		return 0, 0, 0, bad
	}
	ai, err1 := strconv.Atoi(a)
	ri, err2 := strconv.Atoi(r)
	if err1 != nil || err2 != nil || ai < 10 || ai > 200 || ri < 32 || ri > 512 || r != itoa(ri) {
		return 0, 0, 0, bad
	}
	return int(rest[0] - '0'), float64(ai) / 100, ri, nil
}

// mulberry32 is gen_models.js's PRNG: uniform float64 in [0,1).
func mulberry32(seed uint32) func() float64 {
	s := seed
	return func() float64 {
		s += 0x6D2B79F5
		t := s
		t = (t ^ (t >> 15)) * (t | 1)
		t ^= t + (t^(t>>7))*(t|61)
		return float64(t^(t>>14)) / 4294967296
	}
}

// genValues draws n values float32((2u-1)*limit), the arithmetic in float64.
func genValues(n int, seed uint32, limit float64) []float32 {
	next := mulberry32(seed)
	v := make([]float32, n)
	for i := range v {
		u2 := float64(2 * next()) // explicit conversions keep the compiler from fusing
		v[i] = float32(float64((u2 - 1) * limit))
	}
	return v
}

// zooNet builds a zoo network, numbering its tensors for their seeds.
type zooNet struct {
	*Builder
	seedBase int
	tensors  int
}

func (z *zooNet) weights(name string, shape []int, limit float64) string {
	data := genValues(NumElements(shape), uint32(z.seedBase+z.tensors), limit)
	z.tensors++
	return z.Tensor(name, shape, data)
}

// conv adds a kxk convolution to filters channels, with bias, as gen_models
// draws it (kernel HWIO, then bias).
func (z *zooNet) conv(x, name string, k, filters, stride int, padding, act string) string {
	cin := z.channels(x)
	w := z.weights(name+"/kernel", []int{k, k, cin, filters}, math.Sqrt(6/float64(k*k*cin)))
	b := z.weights(name+"/bias", []int{filters}, 0.1)
	return z.Conv2D(x, w, b, Conv2DOpts{Name: name, Strides: [2]int{stride, stride}, Padding: padding, Activation: act})
}

// depthwise adds a kxk depthwise convolution with bias. gen_models' kernel is
// [k,k,C,1], the same memory as our [k,k,1,C] with group C.
func (z *zooNet) depthwise(x, name string, k, stride int, act string) string {
	c := z.channels(x)
	w := z.weights(name+"/kernel", []int{k, k, 1, c}, math.Sqrt(6/float64(k*k)))
	b := z.weights(name+"/bias", []int{c}, 0.1)
	return z.DepthwiseConv2D(x, w, b, Conv2DOpts{Name: name, Strides: [2]int{stride, stride}, Padding: "SAME", Activation: act})
}

func (z *zooNet) dense(x, name string, units int, act string) string {
	s := z.Shape(x)
	in := 1
	if len(s) == 2 {
		in = s[1]
	}
	w := z.weights(name+"/kernel", []int{in, units}, math.Sqrt(6/float64(in)))
	b := z.weights(name+"/bias", []int{units}, 0.1)
	return z.Dense(x, w, b, DenseOpts{Name: name, Activation: act})
}

func (z *zooNet) channels(x string) int {
	if s := z.Shape(x); len(s) == 4 {
		return s[3]
	}
	return 1
}

func newZooNet(name string, seedBase int, inputShape []int) (*zooNet, string) {
	z := &zooNet{Builder: NewBuilder(name), seedBase: seedBase}
	z.Metadata("source", "edgenn model zoo (model.Zoo); weights drawn as shared/anchors/gen_models.js draws them, mulberry32 seed base "+itoa(seedBase))
	z.Metadata("licence", zooLicence)
	z.Metadata("preprocessing", zooPreprocessing)
	return z, z.Input("input", inputShape)
}

// LeNet5 returns gen_models.js's "lenet5": 28x28x1 -> conv5x5x6 SAME relu ->
// maxpool2 -> conv5x5x16 VALID relu -> maxpool2 -> flatten (NHWC, 400) ->
// dense120 relu -> dense84 relu -> dense10 -> softmax.
func LeNet5() (*Graph, error) {
	z, x := newZooNet("lenet5", lenetSeedBase, []int{-1, 28, 28, 1})
	x = z.conv(x, "conv2d_0", 5, 6, 1, "SAME", "relu")
	x = z.MaxPool(x, PoolOpts{Name: "maxpool2d_1", Kernel: [2]int{2, 2}})
	x = z.conv(x, "conv2d_2", 5, 16, 1, "VALID", "relu")
	x = z.MaxPool(x, PoolOpts{Name: "maxpool2d_3", Kernel: [2]int{2, 2}})
	x = z.Flatten(x, "flatten_4")
	x = z.dense(x, "dense_5", 120, "relu")
	x = z.dense(x, "dense_6", 84, "relu")
	x = z.dense(x, "dense_7", 10, "")
	z.Output(z.Softmax(x, "dense_7_softmax"), "output")
	return z.Build()
}

// MobileNetV1 returns MobileNet v1 with width multiplier alpha at resolution
// res, as gen_models.js builds it (channels max(8, floor(n*alpha)), batch norm
// folded into conv biases, relu6, SAME padding, global average pool, dense
// 1000, softmax). MobileNetV1(0.25, 128) is gen_models' "mobilenet_v1_025_128".
func MobileNetV1(alpha float64, res int) (*Graph, error) {
	if !(alpha > 0 && alpha <= 4) || res < 32 || res > 1024 {
		return nil, errors.New("zoo: MobileNetV1: alpha must be in (0,4] and res in [32,1024]")
	}
	c := func(n int) int { return max(8, int(math.Floor(float64(n)*alpha))) }
	z, x := newZooNet("mobilenet_v1_"+alphaName(alpha)+"_"+itoa(res), mnv1SeedBase, []int{-1, res, res, 3})
	x = z.conv(x, "conv2d_0", 3, c(32), 2, "SAME", "relu6")
	blocks := [][2]int{{64, 1}, {128, 2}, {128, 1}, {256, 2}, {256, 1}, {512, 2},
		{512, 1}, {512, 1}, {512, 1}, {512, 1}, {512, 1}, {1024, 2}, {1024, 1}}
	idx := 1
	for _, blk := range blocks {
		x = z.depthwise(x, "depthwise2d_"+itoa(idx), 3, blk[1], "relu6")
		x = z.conv(x, "conv2d_"+itoa(idx+1), 1, c(blk[0]), 1, "SAME", "relu6")
		idx += 2
	}
	x = z.GlobalAvgPool(x, "globalavgpool_"+itoa(idx))
	x = z.dense(x, "dense_"+itoa(idx+1), 1000, "")
	z.Output(z.Softmax(x, "dense_"+itoa(idx+1)+"_softmax"), "output")
	return z.Build()
}

// MobileNetV2 returns MobileNet v2 with width multiplier alpha at resolution
// res, laid out as Keras' MobileNetV2: first conv 32*alpha channels, inverted
// residual blocks (1x1 expansion by 6 with relu6, 3x3 depthwise with relu6,
// linear 1x1 projection, residual Add where the stride is 1 and the channels
// match), channels rounded to multiples of 8 as Keras' _make_divisible does,
// last conv 1280 (more when alpha > 1), global average pool, dense 1000,
// softmax. Batch norm is folded: every conv has a bias.
func MobileNetV2(alpha float64, res int) (*Graph, error) {
	if !(alpha > 0 && alpha <= 4) || res < 32 || res > 1024 {
		return nil, errors.New("zoo: MobileNetV2: alpha must be in (0,4] and res in [32,1024]")
	}
	z, x := newZooNet("mobilenet_v2_"+alphaName(alpha)+"_"+itoa(res), mnv2SeedBase, []int{-1, res, res, 3})
	x = z.conv(x, "Conv1", 3, makeDivisible(32*alpha, 8), 2, "SAME", "relu6")
	blocks := []struct{ filters, stride, expansion int }{
		{16, 1, 1}, {24, 2, 6}, {24, 1, 6}, {32, 2, 6}, {32, 1, 6}, {32, 1, 6},
		{64, 2, 6}, {64, 1, 6}, {64, 1, 6}, {64, 1, 6}, {96, 1, 6}, {96, 1, 6}, {96, 1, 6},
		{160, 2, 6}, {160, 1, 6}, {160, 1, 6}, {320, 1, 6},
	}
	for id, blk := range blocks {
		in := x
		inC := z.channels(x)
		out := makeDivisible(float64(int(float64(blk.filters)*alpha)), 8)
		prefix := "block_" + itoa(id) + "_"
		if id == 0 {
			prefix = "expanded_conv_"
		} else {
			x = z.conv(x, prefix+"expand", 1, blk.expansion*inC, 1, "SAME", "relu6")
		}
		x = z.depthwise(x, prefix+"depthwise", 3, blk.stride, "relu6")
		x = z.conv(x, prefix+"project", 1, out, 1, "SAME", "")
		if blk.stride == 1 && inC == out {
			x = z.Add(in, x, prefix+"add")
		}
	}
	last := 1280
	if alpha > 1 {
		last = makeDivisible(1280*alpha, 8)
	}
	x = z.conv(x, "Conv_1", 1, last, 1, "SAME", "relu6")
	x = z.GlobalAvgPool(x, "global_average_pooling2d")
	x = z.dense(x, "predictions", 1000, "")
	z.Output(z.Softmax(x, "predictions_softmax"), "output")
	return z.Build()
}

// makeDivisible is Keras' _make_divisible: v rounded to the nearest multiple
// of d, at least d, and not below 90% of v.
func makeDivisible(v float64, d int) int {
	n := max(d, int(v+float64(d)/2)/d*d)
	if float64(n) < 0.9*v {
		n += d
	}
	return n
}

// alphaName writes alpha as three digits of hundredths: 0.25 -> "025".
func alphaName(alpha float64) string {
	s := itoa(int(math.Round(alpha * 100)))
	for len(s) < 3 {
		s = "0" + s
	}
	return s
}
