package model

import (
	"strings"
	"testing"
)

// one builds a graph of one node over inputs of the given shapes (named a, b,
// c... as graph inputs; names listed in consts become zero tensors).
func one(op string, attrs Attrs, shapes [][]int, consts ...int) *Graph {
	g := &Graph{Name: "t"}
	n := &Node{Op: op, Name: "n", Outputs: []string{"y"}, Attrs: attrs}
	for i, s := range shapes {
		name := string(rune('a' + i))
		n.Inputs = append(n.Inputs, name)
		isConst := false
		for _, c := range consts {
			isConst = isConst || c == i
		}
		if isConst {
			g.Tensors = append(g.Tensors, &Tensor{Name: name, DType: Float32, Shape: s, Data: make([]float32, NumElements(s))})
		} else {
			g.Inputs = append(g.Inputs, ValueInfo{Name: name, Shape: s, DType: Float32})
		}
	}
	g.Nodes = []*Node{n}
	g.Outputs = []ValueInfo{{Name: "y", DType: Float32}}
	return g
}

func TestInferShapes(t *testing.T) {
	x := []int{-1, 28, 28, 3}
	cases := []struct {
		name  string
		g     *Graph
		want  []int // at batch 2
		error string
	}{
		{"conv same s2", one(OpConv2D, Attrs{"padding": "SAME", "strides": []int{2, 2}}, [][]int{x, {3, 3, 3, 8}, {8}}, 1, 2), []int{2, 14, 14, 8}, ""},
		{"conv same odd", one(OpConv2D, Attrs{"padding": "SAME", "strides": []int{2, 2}}, [][]int{{1, 7, 7, 3}, {3, 3, 3, 8}}, 1), []int{1, 4, 4, 8}, ""},
		{"conv valid dilated", one(OpConv2D, Attrs{"dilations": []int{2, 2}}, [][]int{x, {3, 3, 3, 8}}, 1), []int{2, 24, 24, 8}, ""},
		{"conv explicit", one(OpConv2D, Attrs{"padding": "EXPLICIT", "pads": []int{1, 0, 2, 0}}, [][]int{x, {3, 3, 3, 8}}, 1), []int{2, 27, 28, 8}, ""},
		{"depthwise", one(OpConv2D, Attrs{"group": 3}, [][]int{x, {3, 3, 1, 6}}, 1), []int{2, 26, 26, 6}, ""},
		{"conv channels", one(OpConv2D, nil, [][]int{x, {3, 3, 4, 8}}, 1), nil, "channel mismatch: input has 3 channels"},
		{"conv group", one(OpConv2D, Attrs{"group": 2}, [][]int{x, {3, 3, 1, 8}}, 1), nil, "group 2 does not divide"},
		{"conv rank", one(OpConv2D, nil, [][]int{{1, 28, 3}, {3, 3, 3, 8}}, 1), nil, "is not rank 4 NHWC"},
		{"conv kernel too big", one(OpConv2D, nil, [][]int{{1, 2, 2, 3}, {3, 3, 3, 8}}, 1), nil, "kernel 3x3 (dilated) is larger than the padded input 2x2"},
		{"conv bias", one(OpConv2D, nil, [][]int{x, {3, 3, 3, 8}, {4}}, 1, 2), nil, "bias shape [4] is not [8]"},
		{"conv padding", one(OpConv2D, Attrs{"padding": "same"}, [][]int{x, {3, 3, 3, 8}}, 1), nil, `unknown padding "same"`},
		{"conv pads with same", one(OpConv2D, Attrs{"padding": "SAME", "pads": []int{1, 1, 1, 1}}, [][]int{x, {3, 3, 3, 8}}, 1), nil, "pads given but padding is SAME"},
		{"conv bad pads", one(OpConv2D, Attrs{"padding": "EXPLICIT", "pads": []int{1, 1}}, [][]int{x, {3, 3, 3, 8}}, 1), nil, "needs pads [top,bottom,left,right]"},
		{"conv strides", one(OpConv2D, Attrs{"strides": []int{0, 1}}, [][]int{x, {3, 3, 3, 8}}, 1), nil, "strides must be 2 positive integers"},
		{"conv inputs", one(OpConv2D, nil, [][]int{x}), nil, "has 1 inputs, want 2 to 4"},
		{"conv residual", one(OpConv2D, Attrs{"padding": "SAME"}, [][]int{x, {1, 1, 3, 8}, {8}, {-1, 28, 28, 8}}, 1, 2), []int{2, 28, 28, 8}, ""},
		{"conv residual shape", one(OpConv2D, nil, [][]int{x, {1, 1, 3, 8}, {8}, {-1, 28, 28, 3}}, 1, 2), nil, "residual shape [2,28,28,3] is not the output's [2,28,28,8]"},
		{"dense", one(OpDense, Attrs{"activation": "relu"}, [][]int{{-1, 400}, {400, 120}, {120}}, 1, 2), []int{2, 120}, ""},
		{"dense act", one(OpDense, Attrs{"activation": "gelu"}, [][]int{{-1, 400}, {400, 120}}, 1), nil, `unknown activation "gelu"`},
		{"matmul", one(OpMatMul, nil, [][]int{{-1, 1, 4, 5}, {3, 5, 6}}), []int{2, 3, 4, 6}, ""},
		{"matmul inner", one(OpMatMul, nil, [][]int{{4, 5}, {4, 6}}), nil, "inner dimensions differ"},
		{"gemm", one(OpGemm, Attrs{"transA": 1, "transB": 1}, [][]int{{5, 4}, {6, 5}, {6}}), []int{4, 6}, ""},
		{"add", one(OpAdd, nil, [][]int{{-1, 1, 3}, {4, 1}}), []int{2, 4, 3}, ""},
		{"add mismatch", one(OpMul, nil, [][]int{{2, 3}, {4}}), nil, "do not broadcast"},
		{"prelu", one(OpPRelu, nil, [][]int{x, {3}}, 1), []int{2, 28, 28, 3}, ""},
		{"clip", one(OpClip, Attrs{"min": 6, "max": float32(0)}, [][]int{x}), nil, "min is greater than max"},
		{"softmax axis", one(OpSoftmax, Attrs{"axis": 4}, [][]int{x}), nil, "bad axis 4 for rank 4"},
		{"maxpool", one(OpMaxPool, Attrs{"kernel": []int{2, 2}}, [][]int{x}), []int{2, 14, 14, 3}, ""},
		{"maxpool same", one(OpMaxPool, Attrs{"kernel": []int{3, 3}, "strides": []int{2, 2}, "padding": "SAME"}, [][]int{{1, 7, 7, 1}}), []int{1, 4, 4, 1}, ""},
		{"pool no kernel", one(OpAvgPool, nil, [][]int{x}), nil, "kernel must be 2 positive integers"},
		{"pool pads", one(OpAvgPool, Attrs{"kernel": []int{2, 2}, "padding": "EXPLICIT", "pads": []int{2, 0, 0, 0}}, [][]int{x}), nil, "must be smaller than the window"},
		{"gap", one(OpGlobalAvgPool, nil, [][]int{x}), []int{2, 3}, ""},
		{"gap keep", one(OpGlobalAvgPool, Attrs{"keepdims": 1}, [][]int{x}), []int{2, 1, 1, 3}, ""},
		{"mean", one(OpMean, Attrs{"axes": []int{1, -2}}, [][]int{x}), []int{2, 1, 1, 3}, ""},
		{"mean dup axis", one(OpMean, Attrs{"axes": []int{1, -3}}, [][]int{x}), nil, "repeat axis 1"},
		{"pad", one(OpPad, Attrs{"pads": []int{0, 1, 2, 0, 0, 3, 4, 0}}, [][]int{x}), []int{2, 32, 34, 3}, ""},
		{"pad count", one(OpPad, Attrs{"pads": []int{1, 1}}, [][]int{x}), nil, "must have 2*rank = 8 values"},
		{"pad reflect", one(OpPad, Attrs{"pads": []int{0, 0, 0, 3, 0, 0, 0, 0}, "mode": "reflect"}, [][]int{x}), nil, "reflect pads"},
		{"concat", one(OpConcat, Attrs{"axis": -1}, [][]int{x, {-1, 28, 28, 5}}), []int{2, 28, 28, 8}, ""},
		{"concat axis", one(OpConcat, nil, [][]int{x, x}), nil, "attribute axis is required"},
		{"concat mismatch", one(OpConcat, Attrs{"axis": 3}, [][]int{x, {-1, 27, 28, 5}}), nil, "off the concat axis"},
		{"reshape", one(OpReshape, Attrs{"shape": []int{0, -1}}, [][]int{x}), []int{2, 2352}, ""},
		{"reshape size", one(OpReshape, Attrs{"shape": []int{0, 100}}, [][]int{x}), nil, "reshape size mismatch"},
		{"reshape two -1", one(OpReshape, Attrs{"shape": []int{-1, -1}}, [][]int{x}), nil, "more than one -1"},
		{"flatten", one(OpFlatten, Attrs{"axis": 2}, [][]int{x}), []int{56, 84}, ""},
		{"transpose", one(OpTranspose, Attrs{"perm": []int{0, 3, 1, 2}}, [][]int{x}), []int{2, 3, 28, 28}, ""},
		{"transpose default", one(OpTranspose, nil, [][]int{{-1, 4, 5}}), []int{5, 4, 2}, ""},
		{"transpose perm", one(OpTranspose, Attrs{"perm": []int{0, 1, 1, 2}}, [][]int{x}), nil, "is not a permutation"},
		{"batchnorm", one(OpBatchNorm, nil, [][]int{x, {3}, {3}, {3}, {3}}, 1, 2, 3, 4), []int{2, 28, 28, 3}, ""},
		{"batchnorm channels", one(OpBatchNorm, nil, [][]int{x, {3}, {3}, {4}, {3}}, 1, 2, 3, 4), nil, "parameter 3 has shape [4], want [3]"},
		{"resize", one(OpResize, Attrs{"size": []int{56, 56}, "mode": "bilinear"}, [][]int{x}), []int{2, 56, 56, 3}, ""},
		{"resize mode", one(OpResize, Attrs{"size": []int{56, 56}, "mode": "cubic"}, [][]int{x}), nil, `unknown mode "cubic"`},
		{"unknown op", one("Conv3D", nil, [][]int{x}), nil, `unknown op "Conv3D"`},
		{"unknown attr", one(OpRelu, Attrs{"inplace": 1}, [][]int{x}), nil, `unknown attribute "inplace"`},
		{"attr type", one(OpConv2D, Attrs{"strides": 2}, [][]int{x, {3, 3, 3, 8}}, 1), nil, `attribute "strides" has the wrong type, want int list`},
		{"huge output", one(OpResize, Attrs{"size": []int{1 << 24, 1 << 24}}, [][]int{x}), nil, "is too large"},
	}
	for _, c := range cases {
		shapes, err := InferShapes(c.g, 2)
		if c.error != "" {
			if err == nil || !strings.Contains(err.Error(), c.error) || !strings.Contains(err.Error(), `node "n"`) {
				t.Errorf("%s: error %v, want one naming node \"n\" and %q", c.name, err, c.error)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !equalShape(shapes["y"], c.want) {
			t.Errorf("%s: shape %v, want %v", c.name, shapes["y"], c.want)
		}
	}
}

// TestConvPadsSame holds SAME padding to TensorFlow's rule, odd pixel at the
// bottom/right, on cases worked by hand.
func TestConvPadsSame(t *testing.T) {
	cases := []struct {
		in, k, stride, dil int
		before, after, out int
	}{
		{28, 5, 1, 1, 2, 2, 28},
		{224, 3, 2, 1, 0, 1, 112}, // total 1: all at the bottom
		{225, 3, 2, 1, 1, 1, 113},
		{7, 3, 2, 1, 1, 1, 4},
		{8, 1, 2, 1, 0, 0, 4},
		{10, 3, 1, 2, 2, 2, 10}, // effective kernel 5
		{5, 4, 1, 1, 1, 2, 5},
		{3, 7, 4, 1, 2, 2, 1},
	}
	for _, c := range cases {
		n := &Node{Op: OpConv2D, Name: "c", Attrs: Attrs{"padding": "SAME", "strides": []int{c.stride, 1}, "dilations": []int{c.dil, 1}}}
		top, bottom, left, right, oh, ow, err := ConvPads(n, c.in, 9, c.k, 1)
		if err != nil || top != c.before || bottom != c.after || oh != c.out || left != 0 || right != 0 || ow != 9 {
			t.Errorf("in %d k %d s %d d %d: pads %d,%d out %d (w: %d,%d,%d) %v; want %d,%d out %d",
				c.in, c.k, c.stride, c.dil, top, bottom, oh, left, right, ow, err, c.before, c.after, c.out)
		}
	}
	n := &Node{Op: OpMaxPool, Name: "p", Attrs: Attrs{"kernel": []int{3, 3}, "strides": []int{2, 2}, "padding": "SAME"}}
	if top, bottom, _, _, oh, _, err := PoolPads(n, 112, 112); err != nil || top != 0 || bottom != 1 || oh != 56 {
		t.Errorf("PoolPads SAME 112/3/2: %d,%d out %d %v", top, bottom, oh, err)
	}
}

func TestCountFLOPs(t *testing.T) {
	g := one(OpConv2D, Attrs{"padding": "SAME"}, [][]int{{-1, 8, 8, 4}, {3, 3, 4, 16}}, 1)
	shapes, err := InferShapes(g, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := CountFLOPs(g, shapes), int64(2*8*8*16*3*3*4); got != want {
		t.Errorf("conv FLOPs %d, want %d", got, want)
	}
	g = one(OpAdd, nil, [][]int{{-1, 10}, {10}})
	shapes, _ = InferShapes(g, 3)
	if got := CountFLOPs(g, shapes); got != 30 {
		t.Errorf("add FLOPs %d, want 30", got)
	}
}

func TestOpSpec(t *testing.T) {
	for _, op := range Ops() {
		info, ok := OpSpec(op)
		if !ok || info.MinInputs < 1 || (info.MaxInputs >= 0 && info.MaxInputs < info.MinInputs) || info.Attrs == nil {
			t.Errorf("%s: bad spec %+v", op, info)
		}
	}
	if info, _ := OpSpec(OpConv2D); len(info.ConstInputs) != 2 || info.Attrs["strides"] != AttrInts {
		t.Errorf("Conv2D spec %+v", info)
	}
	if _, ok := OpSpec("Conv3D"); ok {
		t.Error("OpSpec knows Conv3D")
	}
}
