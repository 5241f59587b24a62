// Package model says what an edgenn model is: a graph of named operations over
// named tensors (the IR), the metadata and shape inference of each operation,
// the .enn file codec with its validation, a Builder for writing graphs in Go,
// and a zoo of reference networks.
//
// All activations are NHWC. Convolution weights are HWIO with I = Cin/group
// ([KH, KW, Cin/group, Cout]); Dense weights are [in, out]. The first dimension
// of a graph input may be -1: the free batch dimension.
package model

// DType is the element type of a tensor.
type DType uint8

// The element types a model may hold. Only Float32 runs today; Int8 and Int32
// are reserved for quantised models and index tensors.
const (
	Float32 DType = 1
	Int8    DType = 2
	Int32   DType = 3
)

// Size returns the width of one element in bytes, or 0 for an unknown type.
func (d DType) Size() int {
	switch d {
	case Float32, Int32:
		return 4
	case Int8:
		return 1
	}
	return 0
}

// String returns the type's name as it appears in error messages.
func (d DType) String() string {
	switch d {
	case Float32:
		return "float32"
	case Int8:
		return "int8"
	case Int32:
		return "int32"
	}
	return "dtype(" + itoa(int(d)) + ")"
}

// ValueInfo names a graph input or output with its shape and element type.
// Shape[0] may be -1 (free batch dimension); every other dimension is fixed.
type ValueInfo struct {
	Name  string
	Shape []int
	DType DType
}

// Tensor is a constant: weights, biases, shape operands.
// Data holds the values for Float32 tensors; Raw holds the bytes of any other
// type (little-endian). Exactly one of them is set.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []float32
	Raw   []byte
}

// NumElements returns the product of the tensor's dimensions.
func (t *Tensor) NumElements() int { return NumElements(t.Shape) }

// Node is one operation. Inputs and Outputs name values: graph inputs, tensors,
// or other nodes' outputs. An empty input name marks an omitted optional input.
type Node struct {
	Op      string
	Name    string
	Inputs  []string
	Outputs []string
	Attrs   Attrs
}

// Graph is a whole model: inputs, outputs, nodes in topological order,
// constant tensors, and free-form metadata (labels, preprocessing, source,
// licence).
type Graph struct {
	Name     string
	Inputs   []ValueInfo
	Outputs  []ValueInfo
	Nodes    []*Node
	Tensors  []*Tensor
	Metadata map[string]string
}

// Tensor returns the constant tensor with the given name, or nil.
func (g *Graph) Tensor(name string) *Tensor {
	for _, t := range g.Tensors {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// NumElements returns the product of dims (1 for a scalar).
func NumElements(dims []int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}

func itoa(v int) string {
	if v == 0 {
		return "0"
	}
	neg := v < 0
	if neg {
		v = -v
	}
	var b [20]byte
	i := len(b)
	for v > 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
