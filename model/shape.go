package model

import (
	"errors"
	"math"
	"strconv"
)

// AttrKind is the type an attribute's value must have.
type AttrKind uint8

// The attribute kinds, one for each type an Attrs value may hold. AttrFloat
// also accepts an int; AttrFloats also accepts an empty []int (an empty list
// read from a file has no element type).
const (
	AttrInt AttrKind = iota + 1
	AttrFloat
	AttrString
	AttrInts
	AttrFloats
)

// OpInfo is what the model package knows about an op besides its shape rule.
// The slices and map are shared: callers must not modify them.
type OpInfo struct {
	// MinInputs and MaxInputs bound the number of inputs; MaxInputs < 0 means
	// any number. Inputs at index >= MinInputs are optional and may be "".
	MinInputs, MaxInputs int
	// ConstInputs are the indices of inputs that must name constant tensors
	// (weights, biases, normalisation parameters).
	ConstInputs []int
	// Attrs are the attributes the op accepts, with their kinds. Any other
	// attribute name is an error.
	Attrs map[string]AttrKind
	// Elementwise ops produce one output element per element of the
	// broadcast inputs, at one FLOP each.
	Elementwise bool
}

var (
	convAttrs = map[string]AttrKind{"strides": AttrInts, "dilations": AttrInts, "padding": AttrString,
		"pads": AttrInts, "group": AttrInt, "activation": AttrString, "alpha": AttrFloat, "clip_min": AttrFloat, "clip_max": AttrFloat}
	// actAttrs are a fused activation's attributes (Dense, the binary ops).
	actAttrs  = map[string]AttrKind{"activation": AttrString, "alpha": AttrFloat, "clip_min": AttrFloat, "clip_max": AttrFloat}
	poolAttrs = map[string]AttrKind{"kernel": AttrInts, "strides": AttrInts, "padding": AttrString,
		"pads": AttrInts}
	avgPoolAttrs = map[string]AttrKind{"kernel": AttrInts, "strides": AttrInts, "padding": AttrString,
		"pads": AttrInts, "count_include_pad": AttrInt}
	noAttrs = map[string]AttrKind{}
)

var opInfos = map[string]OpInfo{
	OpConv2D:        {MinInputs: 2, MaxInputs: 4, ConstInputs: []int{1, 2}, Attrs: convAttrs},
	OpDense:         {MinInputs: 2, MaxInputs: 3, ConstInputs: []int{1, 2}, Attrs: actAttrs},
	OpMatMul:        {MinInputs: 2, MaxInputs: 2, Attrs: noAttrs},
	OpGemm:          {MinInputs: 2, MaxInputs: 3, Attrs: map[string]AttrKind{"transA": AttrInt, "transB": AttrInt, "alpha": AttrFloat, "beta": AttrFloat}},
	OpAdd:           {MinInputs: 2, MaxInputs: 2, Attrs: actAttrs, Elementwise: true},
	OpSub:           {MinInputs: 2, MaxInputs: 2, Attrs: actAttrs, Elementwise: true},
	OpMul:           {MinInputs: 2, MaxInputs: 2, Attrs: actAttrs, Elementwise: true},
	OpDiv:           {MinInputs: 2, MaxInputs: 2, Attrs: actAttrs, Elementwise: true},
	OpRelu:          {MinInputs: 1, MaxInputs: 1, Attrs: noAttrs, Elementwise: true},
	OpRelu6:         {MinInputs: 1, MaxInputs: 1, Attrs: noAttrs, Elementwise: true},
	OpLeakyRelu:     {MinInputs: 1, MaxInputs: 1, Attrs: map[string]AttrKind{"alpha": AttrFloat}, Elementwise: true},
	OpSigmoid:       {MinInputs: 1, MaxInputs: 1, Attrs: noAttrs, Elementwise: true},
	OpTanh:          {MinInputs: 1, MaxInputs: 1, Attrs: noAttrs, Elementwise: true},
	OpHardSwish:     {MinInputs: 1, MaxInputs: 1, Attrs: noAttrs, Elementwise: true},
	OpClip:          {MinInputs: 1, MaxInputs: 1, Attrs: map[string]AttrKind{"min": AttrFloat, "max": AttrFloat}, Elementwise: true},
	OpPRelu:         {MinInputs: 2, MaxInputs: 2, ConstInputs: []int{1}, Attrs: noAttrs, Elementwise: true},
	OpSoftmax:       {MinInputs: 1, MaxInputs: 1, Attrs: map[string]AttrKind{"axis": AttrInt}},
	OpMaxPool:       {MinInputs: 1, MaxInputs: 1, Attrs: poolAttrs},
	OpAvgPool:       {MinInputs: 1, MaxInputs: 1, Attrs: avgPoolAttrs},
	OpGlobalAvgPool: {MinInputs: 1, MaxInputs: 1, Attrs: map[string]AttrKind{"keepdims": AttrInt}},
	OpMean:          {MinInputs: 1, MaxInputs: 1, Attrs: map[string]AttrKind{"axes": AttrInts, "keepdims": AttrInt}},
	OpPad:           {MinInputs: 1, MaxInputs: 1, Attrs: map[string]AttrKind{"pads": AttrInts, "mode": AttrString, "value": AttrFloat}},
	OpConcat:        {MinInputs: 1, MaxInputs: -1, Attrs: map[string]AttrKind{"axis": AttrInt}},
	OpReshape:       {MinInputs: 1, MaxInputs: 1, Attrs: map[string]AttrKind{"shape": AttrInts}},
	OpFlatten:       {MinInputs: 1, MaxInputs: 1, Attrs: map[string]AttrKind{"axis": AttrInt}},
	OpTranspose:     {MinInputs: 1, MaxInputs: 1, Attrs: map[string]AttrKind{"perm": AttrInts}},
	OpBatchNorm:     {MinInputs: 5, MaxInputs: 5, ConstInputs: []int{1, 2, 3, 4}, Attrs: map[string]AttrKind{"epsilon": AttrFloat, "momentum": AttrFloat}},
	OpDropout:       {MinInputs: 1, MaxInputs: 1, Attrs: map[string]AttrKind{"rate": AttrFloat}, Elementwise: true},
	OpResize:        {MinInputs: 1, MaxInputs: 1, Attrs: map[string]AttrKind{"size": AttrInts, "mode": AttrString, "coord": AttrString}},
}

// OpSpec returns the metadata of op, and false if op is unknown.
func OpSpec(op string) (OpInfo, bool) {
	info, ok := opInfos[op]
	return info, ok
}

// Ops returns the names of all known ops, in no particular order.
func Ops() []string {
	names := make([]string, 0, len(opInfos))
	for name := range opInfos {
		names = append(names, name)
	}
	return names
}

// Activations lists the values the "activation" attribute of Conv2D, Dense
// and the binary ops may take ("" is none; "clip" reads clip_min and
// clip_max).
var Activations = []string{"", "relu", "relu6", "leakyrelu", "sigmoid", "tanh", "hardswish", "clip"}

// maxShapeElements bounds every value InferShapes derives, whatever the batch,
// so that element counts never overflow; Validate applies the tighter
// MaxTensorElements at batch 1.
const maxShapeElements = 1 << 46

func nodeErr(n *Node, msg string) error {
	return errors.New("node " + strconv.Quote(n.Name) + " (" + n.Op + "): " + msg)
}

// ShapeString formats a shape for error messages: [1,28,28,1].
func ShapeString(s []int) string {
	b := []byte{'['}
	for i, d := range s {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(d), 10)
	}
	return string(append(b, ']'))
}

// InferShapes returns the concrete shape of every value in g: graph inputs
// (with a free batch dimension -1 replaced by batch), tensors, and every
// node's outputs. It does not need Validate to have run, and reports the first
// problem it meets naming the node, its op and what is wrong.
func InferShapes(g *Graph, batch int) (map[string][]int, error) {
	if g == nil {
		return nil, errors.New("model: nil graph")
	}
	if batch < 1 || batch > MaxDim {
		return nil, errors.New("model: batch " + itoa(batch) + " out of range [1, " + itoa(MaxDim) + "]")
	}
	shapes := make(map[string][]int, len(g.Inputs)+len(g.Tensors)+len(g.Nodes))
	for i, in := range g.Inputs {
		s := append([]int(nil), in.Shape...)
		for j, d := range s {
			if d == -1 && j == 0 {
				s[0] = batch
			} else if d < 1 {
				return nil, errors.New("model: input " + strconv.Quote(in.Name) + ": bad shape " + ShapeString(in.Shape) + " (only dimension 0 may be -1)")
			}
		}
		if in.Name == "" {
			return nil, errors.New("model: input " + itoa(i) + " has no name")
		}
		shapes[in.Name] = s
	}
	for _, t := range g.Tensors {
		if t == nil {
			return nil, errors.New("model: nil tensor")
		}
		shapes[t.Name] = t.Shape
	}
	in := make([][]int, 0, 8)
	for i, n := range g.Nodes {
		if n == nil {
			return nil, errors.New("model: node " + itoa(i) + " is nil")
		}
		in = in[:0]
		for j, name := range n.Inputs {
			if name == "" {
				in = append(in, nil)
				continue
			}
			s, ok := shapes[name]
			if !ok {
				return nil, nodeErr(n, "input "+itoa(j)+" "+strconv.Quote(name)+" is not defined before the node")
			}
			in = append(in, s)
		}
		out, err := inferNode(n, in)
		if err != nil {
			return nil, err
		}
		if len(n.Outputs) != 1 {
			return nil, nodeErr(n, "has "+itoa(len(n.Outputs))+" outputs, want 1")
		}
		if _, dup := shapes[n.Outputs[0]]; dup {
			return nil, nodeErr(n, "output "+strconv.Quote(n.Outputs[0])+" is already defined")
		}
		shapes[n.Outputs[0]] = out
	}
	return shapes, nil
}

// inferNode checks n against its input shapes (nil for an omitted optional
// input) and returns its output shape.
func inferNode(n *Node, in [][]int) ([]int, error) {
	info, ok := opInfos[n.Op]
	if !ok {
		return nil, errors.New("node " + strconv.Quote(n.Name) + ": unknown op " + strconv.Quote(n.Op))
	}
	if len(in) < info.MinInputs || (info.MaxInputs >= 0 && len(in) > info.MaxInputs) {
		want := itoa(info.MinInputs)
		if info.MaxInputs < 0 {
			want = "at least " + want
		} else if info.MaxInputs != info.MinInputs {
			want += " to " + itoa(info.MaxInputs)
		}
		return nil, nodeErr(n, "has "+itoa(len(in))+" inputs, want "+want)
	}
	for i := 0; i < info.MinInputs; i++ {
		if in[i] == nil {
			return nil, nodeErr(n, "required input "+itoa(i)+" is empty")
		}
	}
	for i, s := range in {
		if s != nil && len(s) > MaxRank {
			return nil, nodeErr(n, "input "+itoa(i)+" has rank "+itoa(len(s))+", more than "+itoa(MaxRank))
		}
	}
	if err := checkAttrs(n, info); err != nil {
		return nil, err
	}
	out, err := inferOp(n, in)
	if err != nil {
		return nil, err
	}
	if len(out) > MaxRank {
		return nil, nodeErr(n, "output rank "+itoa(len(out))+" is more than "+itoa(MaxRank))
	}
	total := 1
	for _, d := range out {
		if d < 1 || d > MaxDim {
			return nil, nodeErr(n, "output shape "+ShapeString(out)+" has a dimension out of range [1, "+itoa(MaxDim)+"]")
		}
		if total > maxShapeElements/d {
			return nil, nodeErr(n, "output shape "+ShapeString(out)+" is too large")
		}
		total *= d
	}
	return out, nil
}

// checkAttrs rejects unknown attributes and values of the wrong type.
func checkAttrs(n *Node, info OpInfo) error {
	for name, v := range n.Attrs {
		kind, ok := info.Attrs[name]
		if !ok {
			return nodeErr(n, "unknown attribute "+strconv.Quote(name))
		}
		good := false
		switch v := v.(type) {
		case int:
			good = kind == AttrInt || kind == AttrFloat
		case float32:
			good = kind == AttrFloat
		case string:
			good = kind == AttrString
		case []int:
			good = kind == AttrInts || (kind == AttrFloats && len(v) == 0)
		case []float32:
			good = kind == AttrFloats
		}
		if !good {
			return nodeErr(n, "attribute "+strconv.Quote(name)+" has the wrong type, want "+kind.String())
		}
	}
	if act, ok := n.Attrs["activation"].(string); ok && !oneOf(act, Activations...) {
		return nodeErr(n, "unknown activation "+strconv.Quote(act))
	}
	if lo, hi := n.Attrs.Float("clip_min", -inf32), n.Attrs.Float("clip_max", inf32); !(lo <= hi) {
		return nodeErr(n, "clip_min is greater than clip_max (or NaN)")
	}
	return nil
}

// String returns the kind's name as it appears in error messages.
func (k AttrKind) String() string {
	switch k {
	case AttrInt:
		return "int"
	case AttrFloat:
		return "float"
	case AttrString:
		return "string"
	case AttrInts:
		return "int list"
	case AttrFloats:
		return "float list"
	}
	return "attrkind(" + itoa(int(k)) + ")"
}

func oneOf(s string, set ...string) bool {
	for _, v := range set {
		if s == v {
			return true
		}
	}
	return false
}

func inferOp(n *Node, in [][]int) ([]int, error) {
	x := in[0]
	switch n.Op {
	case OpConv2D:
		return inferConv(n, in)
	case OpDense:
		w := in[1]
		if len(x) != 2 {
			return nil, nodeErr(n, "input shape "+ShapeString(x)+" is not rank 2 [N,K]")
		}
		if len(w) != 2 {
			return nil, nodeErr(n, "weight shape "+ShapeString(w)+" is not rank 2 [K,M]")
		}
		if w[0] != x[1] {
			return nil, nodeErr(n, "input has "+itoa(x[1])+" features but weight "+ShapeString(w)+" expects "+itoa(w[0]))
		}
		if len(in) > 2 && in[2] != nil && !equalShape(in[2], []int{w[1]}) {
			return nil, nodeErr(n, "bias shape "+ShapeString(in[2])+" is not ["+itoa(w[1])+"]")
		}
		return []int{x[0], w[1]}, nil
	case OpMatMul:
		a, b := x, in[1]
		if len(a) < 2 || len(b) < 2 {
			return nil, nodeErr(n, "operands "+ShapeString(a)+" and "+ShapeString(b)+" must have rank >= 2")
		}
		m, k := a[len(a)-2], a[len(a)-1]
		k2, nn := b[len(b)-2], b[len(b)-1]
		if k != k2 {
			return nil, nodeErr(n, "inner dimensions differ: "+ShapeString(a)+" x "+ShapeString(b))
		}
		batch, ok := Broadcast(a[:len(a)-2], b[:len(b)-2])
		if !ok {
			return nil, nodeErr(n, "batch dimensions of "+ShapeString(a)+" and "+ShapeString(b)+" do not broadcast")
		}
		return append(batch, m, nn), nil
	case OpGemm:
		a, b := x, in[1]
		if len(a) != 2 || len(b) != 2 {
			return nil, nodeErr(n, "operands "+ShapeString(a)+" and "+ShapeString(b)+" must be rank 2")
		}
		m, k := a[0], a[1]
		if n.Attrs.Int("transA", 0) != 0 {
			m, k = k, m
		}
		k2, nn := b[0], b[1]
		if n.Attrs.Int("transB", 0) != 0 {
			k2, nn = nn, k2
		}
		if k != k2 {
			return nil, nodeErr(n, "inner dimensions differ: "+ShapeString(a)+" x "+ShapeString(b)+" (after transA/transB)")
		}
		out := []int{m, nn}
		if len(in) > 2 && in[2] != nil {
			if s, ok := Broadcast(out, in[2]); !ok || !equalShape(s, out) {
				return nil, nodeErr(n, "c shape "+ShapeString(in[2])+" does not broadcast to "+ShapeString(out))
			}
		}
		return out, nil
	case OpAdd, OpSub, OpMul, OpDiv:
		s, ok := Broadcast(x, in[1])
		if !ok {
			return nil, nodeErr(n, "shapes "+ShapeString(x)+" and "+ShapeString(in[1])+" do not broadcast")
		}
		return s, nil
	case OpRelu, OpRelu6, OpLeakyRelu, OpSigmoid, OpTanh, OpHardSwish:
		return x, nil
	case OpClip:
		lo, hi := n.Attrs.Float("min", -inf32), n.Attrs.Float("max", inf32)
		if !(lo <= hi) {
			return nil, nodeErr(n, "min is greater than max (or NaN)")
		}
		return x, nil
	case OpPRelu:
		if s, ok := Broadcast(x, in[1]); !ok || !equalShape(s, x) {
			return nil, nodeErr(n, "slope shape "+ShapeString(in[1])+" does not broadcast to "+ShapeString(x))
		}
		return x, nil
	case OpSoftmax:
		if _, err := axisIndex(n, "axis", n.Attrs.Int("axis", -1), len(x), false); err != nil {
			return nil, err
		}
		return x, nil
	case OpMaxPool, OpAvgPool:
		if len(x) != 4 {
			return nil, nodeErr(n, "input shape "+ShapeString(x)+" is not rank 4 NHWC")
		}
		_, _, _, _, oh, ow, err := PoolPads(n, x[1], x[2])
		if err != nil {
			return nil, err
		}
		return []int{x[0], oh, ow, x[3]}, nil
	case OpGlobalAvgPool:
		if len(x) != 4 {
			return nil, nodeErr(n, "input shape "+ShapeString(x)+" is not rank 4 NHWC")
		}
		switch n.Attrs.Int("keepdims", 0) {
		case 0:
			return []int{x[0], x[3]}, nil
		case 1:
			return []int{x[0], 1, 1, x[3]}, nil
		}
		return nil, nodeErr(n, "keepdims must be 0 or 1")
	case OpMean:
		return inferMean(n, x)
	case OpPad:
		return inferPad(n, x)
	case OpConcat:
		return inferConcat(n, in)
	case OpReshape:
		return inferReshape(n, x)
	case OpFlatten:
		a, err := axisIndex(n, "axis", n.Attrs.Int("axis", 1), len(x), true)
		if err != nil {
			return nil, err
		}
		return []int{NumElements(x[:a]), NumElements(x[a:])}, nil
	case OpTranspose:
		perm := n.Attrs.Ints("perm", nil)
		if perm == nil {
			perm = make([]int, len(x))
			for i := range perm {
				perm[i] = len(x) - 1 - i
			}
		}
		if len(perm) != len(x) {
			return nil, nodeErr(n, "perm "+ShapeString(perm)+" has length "+itoa(len(perm))+", input rank is "+itoa(len(x)))
		}
		out := make([]int, len(x))
		seen := make([]bool, len(x))
		for i, p := range perm {
			if p < 0 || p >= len(x) || seen[p] {
				return nil, nodeErr(n, "perm "+ShapeString(perm)+" is not a permutation of 0.."+itoa(len(x)-1))
			}
			seen[p] = true
			out[i] = x[p]
		}
		return out, nil
	case OpBatchNorm:
		if len(x) < 1 {
			return nil, nodeErr(n, "input is a scalar")
		}
		c := x[len(x)-1]
		for i := 1; i < 5; i++ {
			if !equalShape(in[i], []int{c}) {
				return nil, nodeErr(n, "parameter "+itoa(i)+" has shape "+ShapeString(in[i])+", want ["+itoa(c)+"] (channels)")
			}
		}
		if eps := n.Attrs.Float("epsilon", 1e-3); !(eps >= 0) {
			return nil, nodeErr(n, "epsilon must be >= 0")
		}
		if m := n.Attrs.Float("momentum", 0.99); !(m >= 0 && m <= 1) {
			return nil, nodeErr(n, "momentum must be in [0, 1]")
		}
		return x, nil
	case OpDropout:
		if r := n.Attrs.Float("rate", 0.5); !(r >= 0 && r < 1) {
			return nil, nodeErr(n, "rate must be in [0, 1)")
		}
		return x, nil
	case OpResize:
		if len(x) != 4 {
			return nil, nodeErr(n, "input shape "+ShapeString(x)+" is not rank 4 NHWC")
		}
		size := n.Attrs.Ints("size", nil)
		if len(size) != 2 || size[0] < 1 || size[1] < 1 {
			return nil, nodeErr(n, "size must be 2 positive integers [OH,OW], got "+ShapeString(size))
		}
		if m := n.Attrs.String("mode", "nearest"); !oneOf(m, "nearest", "bilinear") {
			return nil, nodeErr(n, "unknown mode "+strconv.Quote(m))
		}
		if c := n.Attrs.String("coord", "half_pixel"); !oneOf(c, "half_pixel", "align_corners", "asymmetric") {
			return nil, nodeErr(n, "unknown coord "+strconv.Quote(c))
		}
		return []int{x[0], size[0], size[1], x[3]}, nil
	}
	return nil, nodeErr(n, "no shape rule for op")
}

var inf32 = float32(math.Inf(1))

func inferConv(n *Node, in [][]int) ([]int, error) {
	x, w := in[0], in[1]
	if len(x) != 4 {
		return nil, nodeErr(n, "input shape "+ShapeString(x)+" is not rank 4 NHWC")
	}
	if len(w) != 4 {
		return nil, nodeErr(n, "weight shape "+ShapeString(w)+" is not rank 4 [KH,KW,Cin/group,Cout]")
	}
	cin, cout := x[3], w[3]
	group := n.Attrs.Int("group", 1)
	if group < 1 || cin%group != 0 || cout%group != 0 {
		return nil, nodeErr(n, "group "+itoa(group)+" does not divide input channels "+itoa(cin)+" and output channels "+itoa(cout))
	}
	if w[2] != cin/group {
		return nil, nodeErr(n, "channel mismatch: input has "+itoa(cin)+" channels, group "+itoa(group)+
			", so weight "+ShapeString(w)+" needs dimension 2 = "+itoa(cin/group))
	}
	if len(in) > 2 && in[2] != nil && !equalShape(in[2], []int{cout}) {
		return nil, nodeErr(n, "bias shape "+ShapeString(in[2])+" is not ["+itoa(cout)+"]")
	}
	_, _, _, _, oh, ow, err := ConvPads(n, x[1], x[2], w[0], w[1])
	if err != nil {
		return nil, err
	}
	out := []int{x[0], oh, ow, cout}
	if len(in) > 3 && in[3] != nil && !equalShape(in[3], out) {
		return nil, nodeErr(n, "residual shape "+ShapeString(in[3])+" is not the output's "+ShapeString(out))
	}
	return out, nil
}

// ConvPads returns the padding and output size of Conv2D node n over an input
// of h x w pixels with a kh x kw kernel, from n's strides, dilations, padding
// and pads attributes. SAME is TensorFlow's: out = ceil(in/stride), total pad
// = max((out-1)*stride + (k-1)*dilation + 1 - in, 0), the odd pixel at the
// bottom/right. The engine must use this arithmetic and no other.
func ConvPads(n *Node, h, w, kh, kw int) (top, bottom, left, right, oh, ow int, err error) {
	strides, err := pairAttr(n, "strides", []int{1, 1})
	if err != nil {
		return
	}
	dil, err := pairAttr(n, "dilations", []int{1, 1})
	if err != nil {
		return
	}
	return windowPads(n, h, w, kh, kw, strides, dil, false)
}

// PoolPads is ConvPads for MaxPool and AvgPool node n over an h x w input:
// the window comes from the kernel attribute, strides default to the kernel,
// and explicit pads must be smaller than the window.
func PoolPads(n *Node, h, w int) (top, bottom, left, right, oh, ow int, err error) {
	kernel := n.Attrs.Ints("kernel", nil)
	if len(kernel) != 2 || kernel[0] < 1 || kernel[1] < 1 {
		err = nodeErr(n, "kernel must be 2 positive integers [KH,KW], got "+ShapeString(kernel))
		return
	}
	strides, err := pairAttr(n, "strides", kernel)
	if err != nil {
		return
	}
	if v := n.Attrs.Int("count_include_pad", 0); v != 0 && v != 1 {
		err = nodeErr(n, "count_include_pad must be 0 or 1")
		return
	}
	return windowPads(n, h, w, kernel[0], kernel[1], strides, []int{1, 1}, true)
}

func pairAttr(n *Node, name string, def []int) ([]int, error) {
	v := n.Attrs.Ints(name, def)
	if len(v) != 2 || v[0] < 1 || v[1] < 1 || v[0] > MaxDim || v[1] > MaxDim {
		return nil, nodeErr(n, name+" must be 2 positive integers, got "+ShapeString(v))
	}
	return v, nil
}

func windowPads(n *Node, h, w, kh, kw int, strides, dil []int, pool bool) (top, bottom, left, right, oh, ow int, err error) {
	if kh < 1 || kw < 1 || kh > MaxDim || kw > MaxDim || h < 1 || w < 1 {
		err = nodeErr(n, "bad window "+itoa(kh)+"x"+itoa(kw)+" over "+itoa(h)+"x"+itoa(w))
		return
	}
	ekh, ekw := (kh-1)*dil[0]+1, (kw-1)*dil[1]+1
	switch p := n.Attrs.String("padding", "VALID"); p {
	case "SAME":
		if _, ok := n.Attrs["pads"]; ok {
			err = nodeErr(n, "pads given but padding is SAME (use EXPLICIT)")
			return
		}
		oh, ow = (h+strides[0]-1)/strides[0], (w+strides[1]-1)/strides[1]
		ph := max((oh-1)*strides[0]+ekh-h, 0)
		pw := max((ow-1)*strides[1]+ekw-w, 0)
		top, left = ph/2, pw/2
		bottom, right = ph-top, pw-left
		return
	case "VALID", "EXPLICIT":
		if p == "EXPLICIT" {
			pads := n.Attrs.Ints("pads", nil)
			if len(pads) != 4 {
				err = nodeErr(n, "padding EXPLICIT needs pads [top,bottom,left,right], got "+ShapeString(pads))
				return
			}
			for _, v := range pads {
				if v < 0 || v > MaxDim {
					err = nodeErr(n, "bad pads "+ShapeString(pads))
					return
				}
			}
			top, bottom, left, right = pads[0], pads[1], pads[2], pads[3]
			if pool && (top >= ekh || bottom >= ekh || left >= ekw || right >= ekw) {
				err = nodeErr(n, "pads "+ShapeString(pads)+" must be smaller than the window "+itoa(kh)+"x"+itoa(kw))
				return
			}
		} else if _, ok := n.Attrs["pads"]; ok {
			err = nodeErr(n, "pads given but padding is VALID (use EXPLICIT)")
			return
		}
		ph, pw := h+top+bottom, w+left+right
		if ekh > ph || ekw > pw {
			err = nodeErr(n, "kernel "+itoa(ekh)+"x"+itoa(ekw)+" (dilated) is larger than the padded input "+itoa(ph)+"x"+itoa(pw))
			return
		}
		oh, ow = (ph-ekh)/strides[0]+1, (pw-ekw)/strides[1]+1
		return
	default:
		err = nodeErr(n, "unknown padding "+strconv.Quote(p)+" (want SAME, VALID or EXPLICIT)")
		return
	}
}

// axisIndex resolves a possibly negative axis against rank; with end, rank
// itself is a valid axis (Flatten).
func axisIndex(n *Node, name string, axis, rank int, end bool) (int, error) {
	hi := rank
	if end {
		hi++
	}
	a := axis
	if a < 0 {
		a += rank
	}
	if a < 0 || a >= hi {
		return 0, nodeErr(n, "bad "+name+" "+itoa(axis)+" for rank "+itoa(rank))
	}
	return a, nil
}

func inferMean(n *Node, x []int) ([]int, error) {
	axes := n.Attrs.Ints("axes", nil)
	keep := n.Attrs.Int("keepdims", 1)
	if keep != 0 && keep != 1 {
		return nil, nodeErr(n, "keepdims must be 0 or 1")
	}
	red := make([]bool, len(x))
	if len(axes) == 0 {
		for i := range red {
			red[i] = true
		}
	}
	for _, ax := range axes {
		a, err := axisIndex(n, "axis", ax, len(x), false)
		if err != nil {
			return nil, err
		}
		if red[a] {
			return nil, nodeErr(n, "axes "+ShapeString(axes)+" repeat axis "+itoa(a))
		}
		red[a] = true
	}
	out := []int{}
	for i, d := range x {
		if !red[i] {
			out = append(out, d)
		} else if keep == 1 {
			out = append(out, 1)
		}
	}
	return out, nil
}

func inferPad(n *Node, x []int) ([]int, error) {
	pads := n.Attrs.Ints("pads", nil)
	if len(pads) != 2*len(x) {
		return nil, nodeErr(n, "pads "+ShapeString(pads)+" must have 2*rank = "+itoa(2*len(x))+" values")
	}
	mode := n.Attrs.String("mode", "constant")
	if !oneOf(mode, "constant", "reflect", "edge") {
		return nil, nodeErr(n, "unknown mode "+strconv.Quote(mode))
	}
	out := make([]int, len(x))
	for i, d := range x {
		b, e := pads[i], pads[len(x)+i]
		if b < 0 || e < 0 || b > MaxDim || e > MaxDim {
			return nil, nodeErr(n, "bad pads "+ShapeString(pads)+" (must be >= 0)")
		}
		if mode == "reflect" && (b >= d || e >= d) {
			return nil, nodeErr(n, "reflect pads "+ShapeString(pads)+" must be smaller than the input dimensions "+ShapeString(x))
		}
		out[i] = d + b + e
	}
	return out, nil
}

func inferConcat(n *Node, in [][]int) ([]int, error) {
	ax, ok := n.Attrs["axis"].(int)
	if !ok {
		return nil, nodeErr(n, "attribute axis is required")
	}
	for i, s := range in {
		if s == nil {
			return nil, nodeErr(n, "input "+itoa(i)+" is empty")
		}
	}
	x := in[0]
	a, err := axisIndex(n, "axis", ax, len(x), false)
	if err != nil {
		return nil, err
	}
	out := append([]int(nil), x...)
	for i, s := range in[1:] {
		if len(s) != len(x) {
			return nil, nodeErr(n, "input "+itoa(i+1)+" has rank "+itoa(len(s))+", input 0 has rank "+itoa(len(x)))
		}
		for j := range s {
			if j != a && s[j] != x[j] {
				return nil, nodeErr(n, "input "+itoa(i+1)+" shape "+ShapeString(s)+" differs from "+ShapeString(x)+" off the concat axis")
			}
		}
		out[a] += s[a]
		if out[a] > MaxDim {
			return nil, nodeErr(n, "concatenated dimension is too large")
		}
	}
	return out, nil
}

func inferReshape(n *Node, x []int) ([]int, error) {
	shape, ok := n.Attrs["shape"].([]int)
	if !ok {
		return nil, nodeErr(n, "attribute shape is required")
	}
	if len(shape) > MaxRank {
		return nil, nodeErr(n, "shape "+ShapeString(shape)+" has rank more than "+itoa(MaxRank))
	}
	out := make([]int, len(shape))
	infer := -1
	known := 1
	for i, d := range shape {
		switch {
		case d == 0:
			if i >= len(x) {
				return nil, nodeErr(n, "shape "+ShapeString(shape)+" copies dimension "+itoa(i)+" which the input "+ShapeString(x)+" lacks")
			}
			d = x[i]
		case d == -1:
			if infer >= 0 {
				return nil, nodeErr(n, "shape "+ShapeString(shape)+" has more than one -1")
			}
			infer = i
			continue
		case d < 0 || d > MaxDim:
			return nil, nodeErr(n, "bad shape "+ShapeString(shape))
		}
		out[i] = d
		if known > maxShapeElements/d {
			return nil, nodeErr(n, "shape "+ShapeString(shape)+" is too large")
		}
		known *= d
	}
	total := NumElements(x)
	if infer >= 0 {
		if total%known != 0 {
			return nil, nodeErr(n, "reshape size mismatch: cannot reshape "+ShapeString(x)+" into "+ShapeString(shape))
		}
		out[infer] = total / known
	} else if known != total {
		return nil, nodeErr(n, "reshape size mismatch: "+ShapeString(x)+" has "+itoa(total)+" elements, shape "+ShapeString(shape)+" has "+itoa(known))
	}
	return out, nil
}

// Broadcast returns the NumPy broadcast of shapes a and b, and false when
// they do not broadcast.
func Broadcast(a, b []int) ([]int, bool) {
	if len(a) < len(b) {
		a, b = b, a
	}
	out := append([]int(nil), a...)
	off := len(a) - len(b)
	for i, d := range b {
		switch o := out[off+i]; {
		case o == d, d == 1:
		case o == 1:
			out[off+i] = d
		default:
			return nil, false
		}
	}
	return out, true
}

func equalShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// NodeFLOPs returns the floating-point operations of one run of n given the
// shapes of InferShapes: 2 per multiply-accumulate for Conv2D, Dense, MatMul
// and Gemm (bias and activation not counted), one per output element for
// elementwise ops, Softmax and Resize, one per window element for pools, one
// per input element for reductions, two per element for BatchNorm, none for
// layout ops.
func NodeFLOPs(n *Node, shapes map[string][]int) int64 {
	if n == nil || len(n.Inputs) == 0 || len(n.Outputs) == 0 {
		return 0
	}
	x, out := shapes[n.Inputs[0]], shapes[n.Outputs[0]]
	if out == nil {
		return 0
	}
	outN := int64(NumElements(out))
	switch n.Op {
	case OpConv2D:
		w := shapes[n.Inputs[1]]
		if len(w) != 4 {
			return 0
		}
		return 2 * outN * int64(w[0]*w[1]*w[2])
	case OpDense:
		if len(x) != 2 {
			return 0
		}
		return 2 * outN * int64(x[1])
	case OpMatMul:
		if len(x) < 2 {
			return 0
		}
		return 2 * outN * int64(x[len(x)-1])
	case OpGemm:
		if len(x) != 2 {
			return 0
		}
		k := x[1]
		if n.Attrs.Int("transA", 0) != 0 {
			k = x[0]
		}
		return 2 * outN * int64(k)
	case OpMaxPool, OpAvgPool:
		k := n.Attrs.Ints("kernel", nil)
		if len(k) != 2 {
			return 0
		}
		return outN * int64(k[0]*k[1])
	case OpGlobalAvgPool, OpMean:
		return int64(NumElements(x))
	case OpBatchNorm:
		return 2 * outN
	case OpPad, OpConcat, OpReshape, OpFlatten, OpTranspose, OpDropout:
		return 0
	}
	return outN
}

// CountFLOPs returns the sum of NodeFLOPs over g's nodes.
func CountFLOPs(g *Graph, shapes map[string][]int) int64 {
	var total int64
	for _, n := range g.Nodes {
		total += NodeFLOPs(n, shapes)
	}
	return total
}

// CountParams returns the number of elements in g's constant tensors.
func CountParams(g *Graph) int64 {
	var total int64
	for _, t := range g.Tensors {
		if t != nil {
			total += int64(t.NumElements())
		}
	}
	return total
}
