package tfjs

import (
	"errors"
	"strconv"
	"strings"

	"github.com/edgenn/edgenn/model"
)

// graphOps are the TF ops mapNode knows (some attribute values of them may
// still be refused).
var graphOps = map[string]bool{}

func init() {
	for _, op := range strings.Fields(`Const Identity StopGradient Snapshot IdentityN NoOp
		Conv2D _FusedConv2D DepthwiseConv2dNative DepthwiseConv2d FusedDepthwiseConv2dNative
		MatMul BatchMatMul BatchMatMulV2 _FusedMatMul BiasAdd BiasAddV1 Add AddV2 Sub Mul RealDiv Div
		Maximum Minimum Relu Relu6 Sigmoid Tanh Elu LeakyRelu Prelu Softmax Square Neg
		MaxPool AvgPool Mean Pad PadV2 MirrorPad Reshape Squeeze ExpandDims ConcatV2 Concat
		Transpose ResizeBilinear ResizeNearestNeighbor FusedBatchNorm FusedBatchNormV2
		FusedBatchNormV3 Cast Shape Pack Sqrt Rsqrt Placeholder PlaceholderWithDefault`) {
		graphOps[op] = true
	}
}

// mapNode maps one TF node whose inputs are all available. It returns the
// node's outputs, and whether they were computed at import (folded).
func (gi *graphImporter) mapNode(n *nodeDef, in []*gval) ([]*gval, bool, error) {
	switch n.Op {
	case "Const":
		t := gi.weights[n.Name]
		if t == nil {
			return nil, false, errors.New("constant has no weight in the weights manifest")
		}
		return []*gval{{c: t}}, false, nil
	case "Identity", "StopGradient", "Snapshot":
		if len(in) < 1 {
			return nil, false, refuse("no input")
		}
		return in[:1], false, nil
	case "IdentityN":
		return in, false, nil
	case "NoOp":
		return nil, false, nil
	}
	if len(in) > 0 && allConst(in) {
		outs, err := gi.fold(n, in)
		if err != errNotFoldable {
			return outs, err == nil, err
		}
	}
	outs, err := gi.mapRunTime(n, in)
	return outs, false, err
}

func allConst(in []*gval) bool {
	for _, v := range in {
		if v.c == nil {
			return false
		}
	}
	return true
}

func one(v string, batched bool) ([]*gval, error) {
	return []*gval{{ir: v, batched: batched}}, nil
}

func need(in []*gval, k int) error {
	if len(in) < k {
		return refuse("has " + strconv.Itoa(len(in)) + " inputs, needs " + strconv.Itoa(k))
	}
	return nil
}

// rt returns v as an IR value, turning a constant into a tensor.
func (gi *graphImporter) rt(v *gval) (string, error) {
	if v.ir != "" {
		return v.ir, nil
	}
	return gi.e.constant(v.c, v.name, nil)
}

// constInts returns the integer values of a constant input (shapes, axes,
// paddings), within +-MaxDim.
func constInts(v *gval, what string) ([]int, error) {
	if v.c == nil {
		return nil, refuse(what + " is computed at run time; edgenn needs it constant")
	}
	vals, ok := v.c.ints()
	if !ok {
		return nil, refuse(what + " holds non-integer values")
	}
	out := make([]int, len(vals))
	for i, x := range vals {
		if x < -model.MaxDim || x > model.MaxDim {
			return nil, refuse(what + " value " + strconv.FormatInt(x, 10) + " out of range")
		}
		out[i] = int(x)
	}
	return out, nil
}

func (gi *graphImporter) mapRunTime(n *nodeDef, in []*gval) ([]*gval, error) {
	e := gi.e
	switch n.Op {
	case "Conv2D":
		return gi.conv(n, in, false, false)
	case "_FusedConv2D":
		return gi.conv(n, in, false, true)
	case "DepthwiseConv2dNative", "DepthwiseConv2d":
		return gi.conv(n, in, true, false)
	case "FusedDepthwiseConv2dNative":
		return gi.conv(n, in, true, true)
	case "MatMul", "BatchMatMul", "BatchMatMulV2":
		return gi.matMul(n, in, false)
	case "_FusedMatMul":
		return gi.matMul(n, in, true)
	case "BiasAdd", "BiasAddV1":
		if err := tfjsIgnoresNCHW(n); err != nil {
			return nil, err
		}
		return gi.binary(n, in, model.OpAdd)
	case "Add", "AddV2":
		return gi.binary(n, in, model.OpAdd)
	case "Sub":
		return gi.binary(n, in, model.OpSub)
	case "Mul":
		return gi.binary(n, in, model.OpMul)
	case "RealDiv", "Div":
		return gi.binary(n, in, model.OpDiv)
	case "Maximum":
		return gi.maxMin(n, in, true)
	case "Minimum":
		return gi.maxMin(n, in, false)
	case "Relu", "Relu6", "Sigmoid", "Tanh", "Elu", "LeakyRelu":
		if err := need(in, 1); err != nil {
			return nil, err
		}
		x, err := gi.rt(in[0])
		if err != nil {
			return nil, err
		}
		act := map[string]string{"Relu": "relu", "Relu6": "relu6", "Sigmoid": "sigmoid", "Tanh": "tanh", "Elu": "elu", "LeakyRelu": "leakyrelu"}[n.Op]
		alpha := float32(1)
		if act == "leakyrelu" {
			alpha = n.float("alpha", 0.2) // TF.js's default
		}
		y, err := e.activation(x, act, alpha, n.Name)
		if err != nil {
			return nil, err
		}
		return one(y, in[0].batched)
	case "Prelu":
		if err := need(in, 2); err != nil {
			return nil, err
		}
		x, err := gi.rt(in[0])
		if err != nil {
			return nil, err
		}
		if in[1].c == nil {
			return nil, refuse("alpha is computed at run time; edgenn's PRelu needs a constant slope")
		}
		s, err := gi.rt(in[1])
		if err != nil {
			return nil, err
		}
		return one(e.node(model.OpPRelu, []string{x, s}, nil, n.Name), in[0].batched)
	case "Softmax":
		if err := need(in, 1); err != nil {
			return nil, err
		}
		x, err := gi.rt(in[0])
		if err != nil {
			return nil, err
		}
		return one(e.node(model.OpSoftmax, []string{x}, nil, n.Name), in[0].batched)
	case "Square":
		if err := need(in, 1); err != nil {
			return nil, err
		}
		x, err := gi.rt(in[0])
		if err != nil {
			return nil, err
		}
		return one(e.node(model.OpMul, []string{x, x}, nil, n.Name), in[0].batched)
	case "Neg":
		if err := need(in, 1); err != nil {
			return nil, err
		}
		x, err := gi.rt(in[0])
		if err != nil {
			return nil, err
		}
		return one(e.node(model.OpMul, []string{x, e.scalar(-1)}, nil, n.Name), in[0].batched)
	case "MaxPool", "AvgPool":
		return gi.pool(n, in)
	case "Mean":
		return gi.mean(n, in)
	case "Pad", "PadV2", "MirrorPad":
		return gi.pad(n, in)
	case "Reshape":
		return gi.reshape(n, in)
	case "Squeeze", "ExpandDims":
		return gi.squeezeExpand(n, in)
	case "ConcatV2", "Concat":
		return gi.concat(n, in)
	case "Transpose":
		return gi.transpose(n, in)
	case "ResizeBilinear", "ResizeNearestNeighbor":
		return gi.resize(n, in)
	case "FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3":
		return gi.batchNorm(n, in)
	case "Cast":
		if err := need(in, 1); err != nil {
			return nil, err
		}
		if n.dtype("DstT") != "DT_FLOAT" || n.dtype("SrcT") != "DT_FLOAT" {
			return nil, refuse("cast from " + n.dtype("SrcT") + " to " + n.dtype("DstT") + " at run time; edgenn values are float32")
		}
		return in[:1], nil
	case "Shape":
		if err := need(in, 1); err != nil {
			return nil, err
		}
		if gi.freeBatch {
			return nil, refuse("the shape of a run-time value depends on the batch size, which the graph leaves free")
		}
		s := e.shape(in[0].ir)
		t := &tensor{shape: []int{len(s)}, isInt: true, i: make([]int64, len(s))}
		for i, d := range s {
			t.i[i] = int64(d)
		}
		gi.report.Folded = append(gi.report.Folded, "Shape "+strconv.Quote(n.Name)+" (fixed input shape)")
		return []*gval{{c: t}}, nil
	}
	return nil, refuse("no mapping to edgenn ops")
}

// nchw reads data_format: false for NHWC (the default), true for NCHW.
// An NCHW node is computed in NHWC between two Transposes, so that the
// values around it keep TF's layout.
func nchw(n *nodeDef) (bool, error) {
	df, err := n.str("data_format", "NHWC")
	if err != nil {
		return false, err
	}
	switch df {
	case "NHWC":
		return false, nil
	case "NCHW":
		return true, nil
	}
	return false, refuse("data_format " + df)
}

// tfjsIgnoresNCHW refuses an NCHW node of an op whose TF.js kernel ignores
// data_format (BiasAdd, pools, FusedBatchNorm, depthwise convolutions): TF.js
// computes it as NHWC,
// TensorFlow as NCHW, and edgenn cannot agree with both.
func tfjsIgnoresNCHW(n *nodeDef) error {
	cf, err := nchw(n)
	if err == nil && cf {
		err = refuse("data_format NCHW, which TF.js ignores for " + n.Op + " (TF.js and TensorFlow disagree on this node)")
	}
	return err
}

// window4 reads a 4-element window attribute (strides, dilations, ksize) as
// its two spatial values; batch and channel entries must be 1.
func window4(n *nodeDef, key string, cf bool) ([2]int, error) {
	v, err := n.ints(key)
	if err != nil {
		return [2]int{}, err
	}
	if v == nil {
		return [2]int{1, 1}, nil
	}
	h, w, c := 1, 2, 3
	if cf {
		c, h, w = 1, 2, 3
	}
	if len(v) != 4 || v[0] != 1 || v[c] != 1 || v[h] < 1 || v[w] < 1 {
		return [2]int{}, refuse(key + " " + model.ShapeString(v) + " is not 1 on the batch and channel axes")
	}
	return [2]int{v[h], v[w]}, nil
}

// toNHWC and fromNHWC wrap an NCHW node: x is transposed in, the result out.
func (gi *graphImporter) toNHWC(x string, n *nodeDef) (string, error) {
	if s := gi.e.shape(x); len(s) != 4 {
		return "", refuse("NCHW input " + model.ShapeString(s) + " is not 4-D")
	}
	return gi.e.node(model.OpTranspose, []string{x}, model.Attrs{"perm": []int{0, 2, 3, 1}}, n.Name+"/to_nhwc"), nil
}

func (gi *graphImporter) fromNHWC(y string, n *nodeDef) string {
	gi.report.Notes = append(gi.report.Notes, n.Op+" "+strconv.Quote(n.Name)+" is NCHW: computed in NHWC between Transposes")
	return gi.e.node(model.OpTranspose, []string{y}, model.Attrs{"perm": []int{0, 3, 1, 2}}, n.Name)
}

// padding reads padding (and explicit_paddings) into IR attributes.
func padding(n *nodeDef, a model.Attrs, cf bool) error {
	p, err := n.str("padding", "VALID")
	if err != nil {
		return err
	}
	switch p {
	case "VALID":
	case "SAME":
		a["padding"] = "SAME"
	case "EXPLICIT":
		ep, err := n.ints("explicit_paddings")
		if err != nil {
			return err
		}
		h, c := 2, 6 // NHWC: [0,0,t,b,l,r,0,0]
		if cf {
			h, c = 4, 2 // NCHW: [0,0,0,0,t,b,l,r]
		}
		if len(ep) != 8 || ep[0] != 0 || ep[1] != 0 || ep[c] != 0 || ep[c+1] != 0 {
			return refuse("explicit_paddings " + model.ShapeString(ep) + " pads the batch or channel axis")
		}
		for _, v := range ep {
			if v < 0 {
				return refuse("negative explicit_paddings")
			}
		}
		a["padding"] = "EXPLICIT"
		a["pads"] = []int{ep[h], ep[h+1], ep[h+2], ep[h+3]}
	default:
		return refuse("padding " + strconv.Quote(p))
	}
	return nil
}

// fusion is what _FusedConv2D, FusedDepthwiseConv2dNative and _FusedMatMul
// apply after the product: a bias, then an activation (with PRelu's slope).
type fusion struct {
	bias  *gval
	act   string // edgenn activation name, "prelu" or "elu"
	alpha float32
	slope *gval
}

func readFusion(n *nodeDef, args []*gval) (fusion, error) {
	var f fusion
	ops, err := n.strs("fused_ops")
	if err != nil {
		return f, err
	}
	numArgs, err := n.intv("num_args", len(args))
	if err != nil {
		return f, err
	}
	if numArgs != len(args) {
		return f, refuse("num_args is " + strconv.Itoa(numArgs) + " but the node has " + strconv.Itoa(len(args)) + " extra inputs")
	}
	if len(ops) == 0 {
		return f, nil
	}
	if ops[0] != "BiasAdd" || len(ops) > 2 {
		return f, refuse("fused_ops " + strings.Join(ops, ",") + " (TF.js and edgenn take BiasAdd then one activation)")
	}
	want := 1
	if len(ops) == 2 && ops[1] == "Prelu" {
		want = 2
	}
	if len(args) != want {
		return f, refuse("fused_ops " + strings.Join(ops, ",") + " need " + strconv.Itoa(want) + " extra inputs, the node has " + strconv.Itoa(len(args)))
	}
	f.bias = args[0]
	if len(ops) == 1 {
		return f, nil
	}
	switch ops[1] {
	case "Relu":
		f.act = "relu"
	case "Relu6":
		f.act = "relu6"
	case "LeakyRelu":
		f.act, f.alpha = "leakyrelu", n.float("leakyrelu_alpha", 0.2)
	case "Sigmoid":
		f.act = "sigmoid"
	case "Tanh":
		f.act = "tanh"
	case "Elu":
		f.act, f.alpha = "elu", 1
	case "Prelu":
		f.act, f.slope = "prelu", args[1]
		if f.slope.c == nil {
			return f, refuse("PRelu slope is computed at run time; edgenn needs it constant")
		}
	default:
		return f, refuse("fused activation " + strconv.Quote(ops[1]) + " has no edgenn equivalent")
	}
	return f, nil
}

// applyFusion emits what remains of a fusion after the product y: a bias the
// product could not take (biasDone false), and an activation it could not
// fuse. The last node is called name.
func (gi *graphImporter) applyFusion(y string, f fusion, biasDone, actDone bool, name string) (string, error) {
	e := gi.e
	last := func(final bool, part string) string {
		if final {
			return name
		}
		return name + "/" + part
	}
	actLeft := !actDone && f.act != ""
	if f.bias != nil && !biasDone {
		b, err := gi.rt(f.bias)
		if err != nil {
			return "", err
		}
		y = e.node(model.OpAdd, []string{y, b}, nil, last(!actLeft, "bias"))
	}
	if !actLeft {
		return y, nil
	}
	if f.act == "prelu" {
		s, err := gi.rt(f.slope)
		if err != nil {
			return "", err
		}
		return e.node(model.OpPRelu, []string{y, s}, nil, name), nil
	}
	return e.activation(y, f.act, f.alpha, name)
}

func (gi *graphImporter) conv(n *nodeDef, in []*gval, depthwise, fused bool) ([]*gval, error) {
	e := gi.e
	if err := need(in, 2); err != nil {
		return nil, err
	}
	cf, err := nchw(n)
	if err != nil {
		return nil, err
	}
	if cf && depthwise {
		return nil, tfjsIgnoresNCHW(n) // TF.js's depthwise kernels assume NHWC
	}
	x, w := in[0], in[1]
	if w.c == nil || w.c.isInt {
		return nil, refuse("filter is computed at run time; edgenn needs constant weights")
	}
	var f fusion
	if fused {
		var err error
		if f, err = readFusion(n, in[2:]); err != nil {
			return nil, err
		}
	} else if len(in) > 2 {
		return nil, refuse("unexpected extra inputs")
	}
	a := model.Attrs{}
	st, err := window4(n, "strides", cf)
	if err != nil {
		return nil, err
	}
	dl, err := window4(n, "dilations", cf)
	if err != nil {
		return nil, err
	}
	if st != [2]int{1, 1} {
		a["strides"] = st[:]
	}
	if dl != [2]int{1, 1} {
		a["dilations"] = dl[:]
	}
	if err := padding(n, a, cf); err != nil {
		return nil, err
	}
	xv, err := gi.rt(x)
	if err != nil {
		return nil, err
	}
	final := n.Name
	if cf {
		if xv, err = gi.toNHWC(xv, n); err != nil {
			return nil, err
		}
		final = n.Name + "/nhwc"
	}
	xs, ws := e.shape(xv), w.c.shape
	if len(xs) != 4 || len(ws) != 4 {
		return nil, refuse("input " + model.ShapeString(xs) + " and filter " + model.ShapeString(ws) + " are not both 4-D")
	}
	wshape := ws
	if depthwise {
		// [KH,KW,C,M] is, in memory, the grouped filter [KH,KW,1,C*M].
		if xs[3] != ws[2] {
			return nil, refuse("input has " + strconv.Itoa(xs[3]) + " channels, depthwise filter " + model.ShapeString(ws) + " expects " + strconv.Itoa(ws[2]))
		}
		wshape = []int{ws[0], ws[1], 1, ws[2] * ws[3]}
		if ws[2] > 1 {
			a["group"] = ws[2]
		}
	} else if xs[3] != ws[2] {
		// TF infers groups from the channels.
		if ws[2] < 1 || xs[3]%ws[2] != 0 || ws[3]%(xs[3]/ws[2]) != 0 {
			return nil, refuse("input has " + strconv.Itoa(xs[3]) + " channels, filter " + model.ShapeString(ws) + " expects " + strconv.Itoa(ws[2]))
		}
		a["group"] = xs[3] / ws[2]
	}
	wv, err := e.constant(w.c, w.name, wshape)
	if err != nil {
		return nil, err
	}
	inputs := []string{xv, wv}
	biasDone := false
	if f.bias != nil && f.bias.c != nil && len(f.bias.c.shape) == 1 && f.bias.c.shape[0] == wshape[3] {
		b, err := gi.rt(f.bias)
		if err != nil {
			return nil, err
		}
		inputs = append(inputs, b)
		biasDone = true
	}
	actDone := fusable(f.act)
	if actDone {
		activationAttrs(a, f.act, f.alpha)
	}
	name := final
	if !biasDone && f.bias != nil || !actDone {
		name += "/conv"
	}
	y := e.node(model.OpConv2D, inputs, a, name)
	if y, err = gi.applyFusion(y, f, biasDone || f.bias == nil, actDone, final); err != nil {
		return nil, err
	}
	if cf {
		y = gi.fromNHWC(y, n)
	}
	return one(y, x.batched)
}

func (gi *graphImporter) matMul(n *nodeDef, in []*gval, fused bool) ([]*gval, error) {
	e := gi.e
	if err := need(in, 2); err != nil {
		return nil, err
	}
	var f fusion
	if fused {
		var err error
		if f, err = readFusion(n, in[2:]); err != nil {
			return nil, err
		}
	} else if len(in) > 2 {
		return nil, refuse("unexpected extra inputs")
	}
	ta := n.boolean("transpose_a", false) || n.boolean("adj_x", false)
	tb := n.boolean("transpose_b", false) || n.boolean("adj_y", false)
	a, b := in[0], in[1]
	av, err := gi.rt(a)
	if err != nil {
		return nil, err
	}
	as := e.shape(av)
	if len(as) < 2 {
		return nil, refuse("operand a " + model.ShapeString(as) + " has rank < 2")
	}
	if b.c != nil && len(b.c.shape) == 2 && len(as) == 2 && !ta && !b.c.isInt {
		// A constant right operand: Dense, the weights laid out [K,M] now.
		wt := b.c
		if tb {
			if err := gi.spend(b.c.size()); err != nil {
				return nil, err
			}
			wt = transposeConst(b.c, []int{1, 0})
			gi.report.Folded = append(gi.report.Folded, "MatMul "+strconv.Quote(n.Name)+": weights transposed at import")
		}
		wv, err := e.constant(wt, b.name, nil)
		if err != nil {
			return nil, err
		}
		inputs := []string{av, wv}
		biasDone := false
		if f.bias != nil && f.bias.c != nil && len(f.bias.c.shape) == 1 && f.bias.c.shape[0] == wt.shape[1] {
			bv, err := gi.rt(f.bias)
			if err != nil {
				return nil, err
			}
			inputs = append(inputs, bv)
			biasDone = true
		}
		attrs := model.Attrs{}
		actDone := fusable(f.act)
		if actDone {
			activationAttrs(attrs, f.act, f.alpha)
		}
		name := n.Name
		if !biasDone && f.bias != nil || !actDone {
			name += "/dense"
		}
		y := e.node(model.OpDense, inputs, attrs, name)
		if y, err = gi.applyFusion(y, f, biasDone || f.bias == nil, actDone, n.Name); err != nil {
			return nil, err
		}
		return one(y, a.batched)
	}
	swap := func(v string, rank int, what string) string {
		perm := make([]int, rank)
		for i := range perm {
			perm[i] = i
		}
		perm[rank-1], perm[rank-2] = rank-2, rank-1
		return e.node(model.OpTranspose, []string{v}, model.Attrs{"perm": perm}, n.Name+"/transpose_"+what)
	}
	if ta {
		av = swap(av, len(as), "a")
	}
	var bv string
	if b.c != nil && tb && len(b.c.shape) >= 2 {
		perm := make([]int, len(b.c.shape))
		for i := range perm {
			perm[i] = i
		}
		perm[len(perm)-1], perm[len(perm)-2] = len(perm)-2, len(perm)-1
		if err := gi.spend(b.c.size()); err != nil {
			return nil, err
		}
		if bv, err = e.constant(transposeConst(b.c, perm), b.name+"/transposed", nil); err != nil {
			return nil, err
		}
		tb = false
	} else if bv, err = gi.rt(b); err != nil {
		return nil, err
	}
	if tb {
		bs := e.shape(bv)
		if len(bs) < 2 {
			return nil, refuse("operand b " + model.ShapeString(bs) + " has rank < 2")
		}
		bv = swap(bv, len(bs), "b")
	}
	name := n.Name
	if f.bias != nil || f.act != "" {
		name += "/matmul"
	}
	y := e.node(model.OpMatMul, []string{av, bv}, nil, name)
	if y, err = gi.applyFusion(y, f, f.bias == nil, false, n.Name); err != nil {
		return nil, err
	}
	return one(y, a.batched && !ta)
}

func (gi *graphImporter) binary(n *nodeDef, in []*gval, op string) ([]*gval, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	if t := n.dtype("T"); t != "" && t != "DT_FLOAT" {
		return nil, refuse("arithmetic on " + t + " at run time; edgenn values are float32")
	}
	a, err := gi.rt(in[0])
	if err != nil {
		return nil, err
	}
	b, err := gi.rt(in[1])
	if err != nil {
		return nil, err
	}
	return one(gi.e.node(op, []string{a, b}, nil, n.Name), in[0].batched || in[1].batched)
}

// maxMin lowers Maximum and Minimum, which the IR lacks, where an exact
// equivalent exists: against a uniform constant c, max(x, 0) = Relu,
// min(relu(x), 6) = Relu6, and otherwise Clip(min=c) or Clip(max=c);
// max(x, alpha*x) with 0 < alpha < 1 is LeakyRelu.
func (gi *graphImporter) maxMin(n *nodeDef, in []*gval, isMax bool) ([]*gval, error) {
	e := gi.e
	if err := need(in, 2); err != nil {
		return nil, err
	}
	what := "Minimum"
	if isMax {
		what = "Maximum"
	}
	x, c := in[0], in[1]
	if x.c != nil && c.c == nil {
		x, c = c, x
	}
	if c.c != nil {
		v, ok := uniform(c.c)
		xs := e.shape(x.ir)
		if !ok || !broadcastKeeps(xs, c.c.shape) {
			return nil, refuse(what + " with a non-uniform constant has no exact lowering (the IR has no elementwise " + strings.ToLower(what[:3]) + ")")
		}
		note := func(to string) {
			gi.report.Notes = append(gi.report.Notes, what+" "+strconv.Quote(n.Name)+" lowered to "+to)
		}
		switch {
		case isMax && v == 0:
			note("Relu")
			return one(e.node(model.OpRelu, []string{x.ir}, nil, n.Name), x.batched)
		case !isMax && v == 6 && e.prod[x.ir] != nil && e.prod[x.ir].Op == model.OpRelu:
			note("Relu6 (with the Relu before it)")
			return one(e.node(model.OpRelu6, []string{e.prod[x.ir].Inputs[0]}, nil, n.Name), x.batched)
		case isMax:
			note("Clip(min)")
			return one(e.node(model.OpClip, []string{x.ir}, model.Attrs{"min": v}, n.Name), x.batched)
		default:
			note("Clip(max)")
			return one(e.node(model.OpClip, []string{x.ir}, model.Attrs{"max": v}, n.Name), x.batched)
		}
	}
	if isMax {
		for _, p := range [][2]*gval{{in[0], in[1]}, {in[1], in[0]}} {
			if alpha, ok := gi.scaledBy(p[1].ir, p[0].ir); ok && alpha > 0 && alpha < 1 {
				gi.report.Notes = append(gi.report.Notes, "Maximum "+strconv.Quote(n.Name)+" of x and alpha*x lowered to LeakyRelu")
				return one(e.node(model.OpLeakyRelu, []string{p[0].ir}, model.Attrs{"alpha": alpha}, n.Name), p[0].batched)
			}
		}
	}
	return nil, refuse(what + " of two run-time tensors has no exact lowering (the IR has no elementwise " + strings.ToLower(what[:3]) + ")")
}

// scaledBy reports whether IR value y is Mul(x, alpha) or Mul(alpha, x) with
// alpha a one-value constant, and returns alpha.
func (gi *graphImporter) scaledBy(y, x string) (float32, bool) {
	p := gi.e.prod[y]
	if p == nil || p.Op != model.OpMul || len(p.Inputs) != 2 {
		return 0, false
	}
	for k := 0; k < 2; k++ {
		if p.Inputs[k] == x {
			if t := gi.e.values[p.Inputs[1-k]]; t != nil && t.size() == 1 {
				return t.f[0], true
			}
		}
	}
	return 0, false
}

// broadcastKeeps reports whether broadcasting c against x leaves x's shape.
func broadcastKeeps(x, c []int) bool {
	if len(c) > len(x) {
		return false
	}
	off := len(x) - len(c)
	for i, d := range c {
		if d != 1 && d != x[off+i] {
			return false
		}
	}
	return true
}

func (gi *graphImporter) pool(n *nodeDef, in []*gval) ([]*gval, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	if err := tfjsIgnoresNCHW(n); err != nil {
		return nil, err
	}
	const cf = false
	k, err := window4(n, "ksize", cf)
	if err != nil {
		return nil, err
	}
	st, err := window4(n, "strides", cf)
	if err != nil {
		return nil, err
	}
	a := model.Attrs{"kernel": k[:]}
	if st != k {
		a["strides"] = st[:]
	}
	if err := padding(n, a, cf); err != nil {
		return nil, err
	}
	x, err := gi.rt(in[0])
	if err != nil {
		return nil, err
	}
	op := model.OpMaxPool
	if n.Op == "AvgPool" {
		op = model.OpAvgPool // SAME averages exclude the padding, as TF does
	}
	return one(gi.e.node(op, []string{x}, a, n.Name), in[0].batched)
}

func (gi *graphImporter) mean(n *nodeDef, in []*gval) ([]*gval, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	axes, err := constInts(in[1], "reduction axes")
	if err != nil {
		return nil, err
	}
	x, err := gi.rt(in[0])
	if err != nil {
		return nil, err
	}
	rank := len(gi.e.shape(x))
	keep := n.boolean("keep_dims", false) || n.boolean("keepdims", false)
	seen := map[int]bool{}
	for _, ax := range axes {
		a := ax
		if a < 0 {
			a += rank
		}
		if a < 0 || a >= rank || seen[a] {
			return nil, refuse("bad reduction axes " + model.ShapeString(axes) + " for rank " + strconv.Itoa(rank))
		}
		seen[a] = true
	}
	keepInt := 0
	if keep {
		keepInt = 1
	}
	batched := in[0].batched && !seen[0]
	if len(axes) == 0 {
		return in[:1], nil // reduces nothing
	}
	if rank == 4 && len(seen) == 2 && seen[1] && seen[2] {
		a := model.Attrs{}
		if keep {
			a["keepdims"] = 1
		}
		return one(gi.e.node(model.OpGlobalAvgPool, []string{x}, a, n.Name), batched)
	}
	return one(gi.e.node(model.OpMean, []string{x}, model.Attrs{"axes": axes, "keepdims": keepInt}, n.Name), batched)
}

func (gi *graphImporter) pad(n *nodeDef, in []*gval) ([]*gval, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	p, err := constInts(in[1], "paddings")
	if err != nil {
		return nil, err
	}
	x, err := gi.rt(in[0])
	if err != nil {
		return nil, err
	}
	rank := len(gi.e.shape(x))
	if len(p) != 2*rank {
		return nil, refuse("paddings has " + strconv.Itoa(len(p)) + " values for a rank-" + strconv.Itoa(rank) + " input")
	}
	pads := make([]int, 2*rank)
	for i := 0; i < rank; i++ {
		pads[i], pads[rank+i] = p[2*i], p[2*i+1]
	}
	a := model.Attrs{"pads": pads}
	switch n.Op {
	case "Pad":
		if v := n.float("constant_value", 0); v != 0 {
			a["value"] = v
		}
	case "PadV2":
		if len(in) > 2 {
			if in[2].c == nil || in[2].c.size() != 1 {
				return nil, refuse("constant_values is not a constant scalar")
			}
			if v := in[2].c.float()[0]; v != 0 {
				a["value"] = v
			}
		}
	case "MirrorPad":
		mode, err := n.str("mode", "REFLECT")
		if err != nil {
			return nil, err
		}
		if mode != "REFLECT" {
			return nil, refuse("MirrorPad mode " + mode + " (edgenn's Pad reflects without repeating the edge; SYMMETRIC has no equivalent)")
		}
		a["mode"] = "reflect"
	}
	return one(gi.e.node(model.OpPad, []string{x}, a, n.Name), in[0].batched && pads[0] == 0 && pads[rank] == 0)
}

func (gi *graphImporter) reshape(n *nodeDef, in []*gval) ([]*gval, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	shape, err := constInts(in[1], "shape")
	if err != nil {
		return nil, err
	}
	for _, d := range shape {
		if d == 0 || d < -1 {
			return nil, refuse("target shape " + model.ShapeString(shape) + " has an empty or negative dimension")
		}
	}
	x, err := gi.rt(in[0])
	if err != nil {
		return nil, err
	}
	xs := gi.e.shape(x)
	batched := false
	if in[0].batched && len(shape) > 0 && shape[0] == -1 && len(xs) > 0 {
		rest := 1
		for _, d := range shape[1:] {
			rest *= d
		}
		batched = rest == model.NumElements(xs[1:])
	}
	return one(gi.e.node(model.OpReshape, []string{x}, model.Attrs{"shape": shape}, n.Name), batched)
}

// squeezeExpand lowers Squeeze and ExpandDims to a Reshape to the output
// shape, with the free batch dimension (when the input has one) left to be
// copied or inferred.
func (gi *graphImporter) squeezeExpand(n *nodeDef, in []*gval) ([]*gval, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x, err := gi.rt(in[0])
	if err != nil {
		return nil, err
	}
	xs := gi.e.shape(x)
	rank := len(xs)
	var out []int
	batchAt := -1 // where input dimension 0 lands
	if n.Op == "Squeeze" {
		axes, err := n.ints("squeeze_dims")
		if err != nil {
			return nil, err
		}
		if !n.has("squeeze_dims") {
			if axes, err = n.ints("axis"); err != nil {
				return nil, err
			}
		}
		drop := map[int]bool{}
		for _, ax := range axes {
			a := ax
			if a < 0 {
				a += rank
			}
			if a < 0 || a >= rank || xs[a] != 1 {
				return nil, refuse("cannot squeeze axis " + strconv.Itoa(ax) + " of " + model.ShapeString(xs))
			}
			if a == 0 && in[0].batched {
				return nil, refuse("squeezes the free batch dimension")
			}
			drop[a] = true
		}
		if len(axes) == 0 {
			for i, d := range xs {
				if d == 1 && !(i == 0 && in[0].batched) {
					drop[i] = true
				}
			}
			if in[0].batched {
				gi.report.Notes = append(gi.report.Notes, "Squeeze "+strconv.Quote(n.Name)+" without axes keeps the free batch dimension")
			}
		}
		for i, d := range xs {
			if !drop[i] {
				if i == 0 {
					batchAt = len(out)
				}
				out = append(out, d)
			}
		}
	} else {
		if err := need(in, 2); err != nil {
			return nil, err
		}
		ax, err := constInts(in[1], "axis")
		if err != nil {
			return nil, err
		}
		if len(ax) != 1 {
			return nil, refuse("axis is not a scalar")
		}
		a := ax[0]
		if a < 0 {
			a += rank + 1
		}
		if a < 0 || a > rank {
			return nil, refuse("axis " + strconv.Itoa(ax[0]) + " out of range for rank " + strconv.Itoa(rank))
		}
		out = append(append(append(out, xs[:a]...), 1), xs[a:]...)
		batchAt = 0
		if a == 0 {
			batchAt = 1
		}
	}
	batched := in[0].batched && batchAt >= 0
	if batched {
		if batchAt == 0 {
			out[0] = 0 // copy the batch
		} else {
			out[batchAt] = -1
		}
	}
	return one(gi.e.node(model.OpReshape, []string{x}, model.Attrs{"shape": out}, n.Name), batched && batchAt == 0)
}

func (gi *graphImporter) concat(n *nodeDef, in []*gval) ([]*gval, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	axv, data := in[len(in)-1], in[:len(in)-1]
	if n.Op == "Concat" {
		axv, data = in[0], in[1:]
	}
	ax, err := constInts(axv, "axis")
	if err != nil {
		return nil, err
	}
	if len(ax) != 1 {
		return nil, refuse("axis is not a scalar")
	}
	if len(data) > model.MaxNodeInputs {
		return nil, refuse("too many inputs")
	}
	names := make([]string, len(data))
	batched := true
	for i, v := range data {
		if names[i], err = gi.rt(v); err != nil {
			return nil, err
		}
		batched = batched && v.batched
	}
	rank := len(gi.e.shape(names[0]))
	a := ax[0]
	if a < 0 {
		a += rank
	}
	if len(data) == 1 {
		return data, nil
	}
	return one(gi.e.node(model.OpConcat, names, model.Attrs{"axis": ax[0]}, n.Name), batched && a != 0)
}

func (gi *graphImporter) transpose(n *nodeDef, in []*gval) ([]*gval, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	perm, err := constInts(in[1], "perm")
	if err != nil {
		return nil, err
	}
	x, err := gi.rt(in[0])
	if err != nil {
		return nil, err
	}
	return one(gi.e.node(model.OpTranspose, []string{x}, model.Attrs{"perm": perm}, n.Name), in[0].batched && len(perm) > 0 && perm[0] == 0)
}

func (gi *graphImporter) resize(n *nodeDef, in []*gval) ([]*gval, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	size, err := constInts(in[1], "size")
	if err != nil {
		return nil, err
	}
	if len(size) != 2 {
		return nil, refuse("size " + model.ShapeString(size) + " is not [h,w]")
	}
	ac, hp := n.boolean("align_corners", false), n.boolean("half_pixel_centers", false)
	coord := "asymmetric"
	switch {
	case ac && hp:
		return nil, refuse("align_corners and half_pixel_centers both set")
	case ac:
		coord = "align_corners"
	case hp:
		coord = "half_pixel"
	}
	mode := "nearest"
	if n.Op == "ResizeBilinear" {
		mode = "bilinear"
	}
	x, err := gi.rt(in[0])
	if err != nil {
		return nil, err
	}
	return one(gi.e.node(model.OpResize, []string{x}, model.Attrs{"size": size, "mode": mode, "coord": coord}, n.Name), in[0].batched)
}

func (gi *graphImporter) batchNorm(n *nodeDef, in []*gval) ([]*gval, error) {
	if err := need(in, 5); err != nil {
		return nil, err
	}
	if err := tfjsIgnoresNCHW(n); err != nil {
		return nil, err
	}
	if n.boolean("is_training", false) {
		return nil, refuse("is_training is set (batch statistics at inference)")
	}
	x, err := gi.rt(in[0])
	if err != nil {
		return nil, err
	}
	inputs := []string{x}
	for k, what := range []string{"scale", "offset", "mean", "variance"} {
		if in[k+1].c == nil {
			return nil, refuse(what + " is computed at run time")
		}
		v, err := gi.rt(in[k+1])
		if err != nil {
			return nil, err
		}
		inputs = append(inputs, v)
	}
	a := model.Attrs{"epsilon": n.float("epsilon", 1e-4)}
	return one(gi.e.node(model.OpBatchNorm, inputs, a, n.Name), in[0].batched)
}
