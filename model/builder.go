package model

import (
	"errors"
	"strconv"
	"strings"
)

// Builder writes a Graph in Go. Every method returns the name of the value it
// made, to pass on to the next; shapes are inferred as nodes are added (at
// batch 1), so a mistake is caught at the node that makes it. The first error
// is kept and returned by Build, and later calls do nothing, so a chain of
// calls needs one error check at the end:
//
//	b := model.NewBuilder("tiny")
//	x := b.Input("input", []int{-1, 28, 28, 1})
//	w := b.Tensor("conv/kernel", []int{3, 3, 1, 8}, kernel)
//	y := b.Conv2D(x, w, "", model.Conv2DOpts{Padding: "SAME", Activation: "relu"})
//	y = b.Softmax(b.Dense(b.Flatten(y, ""), fc, "", model.DenseOpts{}), "")
//	b.Output(y, "output")
//	g, err := b.Build()
//
// A Builder makes one graph; do not use it after Build.
type Builder struct {
	g      *Graph
	shapes map[string][]int // every value at batch 1
	names  map[string]bool  // value and node names taken
	err    error
}

// NewBuilder starts a graph called name.
func NewBuilder(name string) *Builder {
	return &Builder{
		g:      &Graph{Name: name, Metadata: map[string]string{}},
		shapes: map[string][]int{},
		names:  map[string]bool{},
	}
}

// Err returns the first error met so far.
func (b *Builder) Err() error { return b.err }

func (b *Builder) fail(msg string) {
	if b.err == nil {
		b.err = errors.New("builder " + strconv.Quote(b.g.Name) + ": " + msg)
	}
}

func (b *Builder) take(name string) bool {
	if name == "" || b.names[name] {
		b.fail("name " + strconv.Quote(name) + " is empty or already used")
		return false
	}
	b.names[name] = true
	return true
}

// Shape returns the shape of value v at batch 1, or nil if v is unknown.
func (b *Builder) Shape(v string) []int { return b.shapes[v] }

// Input declares a float32 graph input. shape[0] may be -1, the free batch
// dimension.
func (b *Builder) Input(name string, shape []int) string {
	if b.err != nil || !b.take(name) {
		return name
	}
	vi := ValueInfo{Name: name, Shape: append([]int(nil), shape...), DType: Float32}
	if err := checkValueInfo(vi, true); err != nil {
		b.fail("input " + strconv.Quote(name) + ": " + err.Error())
		return name
	}
	b.g.Inputs = append(b.g.Inputs, vi)
	s := append([]int(nil), shape...)
	if len(s) > 0 && s[0] == -1 {
		s[0] = 1
	}
	b.shapes[name] = s
	return name
}

// Tensor adds a float32 constant. The builder keeps data; do not modify it.
func (b *Builder) Tensor(name string, shape []int, data []float32) string {
	if b.err != nil || !b.take(name) {
		return name
	}
	t := &Tensor{Name: name, DType: Float32, Shape: append([]int(nil), shape...), Data: data}
	if err := checkTensor(t); err != nil {
		b.fail("tensor " + strconv.Quote(name) + ": " + err.Error())
		return name
	}
	b.g.Tensors = append(b.g.Tensors, t)
	b.shapes[name] = t.Shape
	return name
}

// Metadata sets a metadata entry (source, licence, labels, preprocessing...).
func (b *Builder) Metadata(key, value string) { b.g.Metadata[key] = value }

// Node adds a node of any op with the given inputs and attributes and returns
// its output. An empty name is replaced by one made from the op.
func (b *Builder) Node(op string, inputs []string, attrs Attrs, name string) string {
	if b.err != nil {
		return name
	}
	if name == "" {
		base := strings.ToLower(op) + "_"
		for i := len(b.g.Nodes); ; i++ {
			if name = base + itoa(i); !b.names[name] {
				break
			}
		}
	}
	if !b.take(name) {
		return name
	}
	if len(attrs) == 0 {
		attrs = nil
	}
	n := &Node{Op: op, Name: name, Inputs: append([]string(nil), inputs...), Outputs: []string{name}, Attrs: attrs}
	in := make([][]int, len(inputs))
	for i, v := range inputs {
		if v == "" {
			continue
		}
		if in[i] = b.shapes[v]; in[i] == nil {
			b.fail("node " + strconv.Quote(name) + " (" + op + "): input " + strconv.Quote(v) + " is not defined")
			return name
		}
	}
	out, err := inferNode(n, in)
	if err != nil {
		b.fail(err.Error())
		return name
	}
	b.g.Nodes = append(b.g.Nodes, n)
	b.shapes[name] = out
	return name
}

// Conv2DOpts are Conv2D's attributes; zero values are the defaults.
type Conv2DOpts struct {
	Name       string
	Strides    [2]int // (1,1) when zero
	Dilations  [2]int // (1,1) when zero
	Padding    string // "SAME", "VALID" (when empty) or "EXPLICIT"
	Pads       [4]int // top, bottom, left, right; EXPLICIT only
	Group      int    // 1 when zero; DepthwiseConv2D sets it
	Activation string // "", "relu", "relu6", ... (see Activations)
	Alpha      float32
}

func (o Conv2DOpts) attrs() Attrs {
	a := Attrs{}
	if o.Strides != [2]int{} && o.Strides != [2]int{1, 1} {
		a["strides"] = o.Strides[:]
	}
	if o.Dilations != [2]int{} && o.Dilations != [2]int{1, 1} {
		a["dilations"] = o.Dilations[:]
	}
	if o.Padding != "" && o.Padding != "VALID" {
		a["padding"] = o.Padding
	}
	if o.Padding == "EXPLICIT" {
		a["pads"] = o.Pads[:]
	}
	if o.Group > 1 {
		a["group"] = o.Group
	}
	if o.Activation != "" {
		a["activation"] = o.Activation
	}
	if o.Alpha != 0 {
		a["alpha"] = o.Alpha
	}
	return a
}

// Conv2D adds a convolution of x [N,H,W,Cin] with weights w [KH,KW,Cin/group,Cout]
// and optional bias [Cout] ("" for none).
func (b *Builder) Conv2D(x, w, bias string, o Conv2DOpts) string {
	return b.Node(OpConv2D, trimInputs(x, w, bias), o.attrs(), o.Name)
}

// DepthwiseConv2D adds a depthwise convolution: a Conv2D whose group is the
// number of channels of x, with weights [KH,KW,1,C*multiplier] (the memory of
// TensorFlow's [KH,KW,C,multiplier] kernel when multiplier is 1).
func (b *Builder) DepthwiseConv2D(x, w, bias string, o Conv2DOpts) string {
	if s := b.shapes[x]; len(s) == 4 {
		o.Group = s[3]
	}
	return b.Conv2D(x, w, bias, o)
}

// DenseOpts are Dense's attributes.
type DenseOpts struct {
	Name       string
	Activation string
	Alpha      float32
}

// Dense adds a fully connected layer: x [N,K] times w [K,M] plus optional bias [M].
func (b *Builder) Dense(x, w, bias string, o DenseOpts) string {
	a := Attrs{}
	if o.Activation != "" {
		a["activation"] = o.Activation
	}
	if o.Alpha != 0 {
		a["alpha"] = o.Alpha
	}
	return b.Node(OpDense, trimInputs(x, w, bias), a, o.Name)
}

// PoolOpts are MaxPool's and AvgPool's attributes.
type PoolOpts struct {
	Name            string
	Kernel          [2]int
	Strides         [2]int // the kernel when zero
	Padding         string // "SAME", "VALID" (when empty) or "EXPLICIT"
	Pads            [4]int // EXPLICIT only
	CountIncludePad bool   // AvgPool only
}

func (o PoolOpts) attrs(avg bool) Attrs {
	a := Attrs{"kernel": o.Kernel[:]}
	if o.Strides != [2]int{} && o.Strides != o.Kernel {
		a["strides"] = o.Strides[:]
	}
	if o.Padding != "" && o.Padding != "VALID" {
		a["padding"] = o.Padding
	}
	if o.Padding == "EXPLICIT" {
		a["pads"] = o.Pads[:]
	}
	if avg && o.CountIncludePad {
		a["count_include_pad"] = 1
	}
	return a
}

// MaxPool adds a max pooling of x [N,H,W,C].
func (b *Builder) MaxPool(x string, o PoolOpts) string {
	return b.Node(OpMaxPool, []string{x}, o.attrs(false), o.Name)
}

// AvgPool adds an average pooling of x [N,H,W,C].
func (b *Builder) AvgPool(x string, o PoolOpts) string {
	return b.Node(OpAvgPool, []string{x}, o.attrs(true), o.Name)
}

// GlobalAvgPool averages x [N,H,W,C] over H and W, giving [N,C].
func (b *Builder) GlobalAvgPool(x, name string) string {
	return b.Node(OpGlobalAvgPool, []string{x}, nil, name)
}

// Flatten reshapes x to [N, rest] (NHWC order).
func (b *Builder) Flatten(x, name string) string {
	return b.Node(OpFlatten, []string{x}, nil, name)
}

// Reshape reshapes x to shape (0 copies a dimension, one -1 is inferred).
func (b *Builder) Reshape(x string, shape []int, name string) string {
	return b.Node(OpReshape, []string{x}, Attrs{"shape": append([]int(nil), shape...)}, name)
}

// Softmax adds a softmax over the last axis of x.
func (b *Builder) Softmax(x, name string) string {
	return b.Node(OpSoftmax, []string{x}, nil, name)
}

// Add adds x and y elementwise with broadcasting.
func (b *Builder) Add(x, y, name string) string {
	return b.Node(OpAdd, []string{x, y}, nil, name)
}

// Relu6 clamps x to [0, 6].
func (b *Builder) Relu6(x, name string) string {
	return b.Node(OpRelu6, []string{x}, nil, name)
}

// Output makes value v, which must be a node's output, a graph output called
// name, renaming the value if name differs.
func (b *Builder) Output(v, name string) {
	if b.err != nil {
		return
	}
	var producer *Node
	for _, n := range b.g.Nodes {
		if n.Outputs[0] == v {
			producer = n
		}
	}
	if producer == nil {
		b.fail("output " + strconv.Quote(name) + ": " + strconv.Quote(v) + " is not a node output")
		return
	}
	if name != v {
		if !b.take(name) {
			return
		}
		producer.Outputs[0] = name
		for _, n := range b.g.Nodes {
			for i, in := range n.Inputs {
				if in == v {
					n.Inputs[i] = name
				}
			}
		}
		for i := range b.g.Outputs {
			if b.g.Outputs[i].Name == v {
				b.g.Outputs[i].Name = name
			}
		}
		b.shapes[name] = b.shapes[v]
		delete(b.shapes, v)
	}
	b.g.Outputs = append(b.g.Outputs, ValueInfo{Name: name, DType: Float32})
}

// Build declares the outputs' shapes (with -1 for the batch dimension when
// an input has a free batch), validates the graph and returns it.
func (b *Builder) Build() (*Graph, error) {
	if b.err != nil {
		return nil, b.err
	}
	g := b.g
	if len(g.Metadata) == 0 {
		g.Metadata = nil
	}
	s1, err := InferShapes(g, 1)
	if err != nil {
		return nil, err
	}
	s2, err := InferShapes(g, 2)
	if err != nil {
		return nil, err
	}
	for i := range g.Outputs {
		a, c := s1[g.Outputs[i].Name], s2[g.Outputs[i].Name]
		shape := append([]int(nil), a...)
		for j := range a {
			if a[j] != c[j] {
				if j != 0 {
					shape = nil // the batch moves into another dimension: leave undeclared
					break
				}
				shape[0] = -1
			}
		}
		g.Outputs[i].Shape = shape
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	return g, nil
}

// trimInputs drops trailing empty optional inputs.
func trimInputs(in ...string) []string {
	for len(in) > 0 && in[len(in)-1] == "" {
		in = in[:len(in)-1]
	}
	return in
}
