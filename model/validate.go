package model

import (
	"errors"
	"strconv"
)

// Limits on what a model may hold. Validate enforces them and the codec checks
// every size it reads against them before allocating.
const (
	MaxNodes          = 1 << 16 // nodes in a graph
	MaxTensors        = 1 << 16 // constant tensors in a graph
	MaxIO             = 1 << 10 // graph inputs, and graph outputs
	MaxNodeInputs     = 1 << 10 // inputs of one node (Concat)
	MaxAttrs          = 64      // attributes of one node
	MaxAttrLen        = 1 << 16 // elements of one list attribute
	MaxNameLen        = 1 << 12 // bytes of a name, op, attribute name or metadata key
	MaxMetadata       = 1 << 10 // metadata entries
	MaxMetadataBytes  = 1 << 24 // bytes of one metadata value
	MaxRank           = 8       // dimensions of any shape
	MaxDim            = 1 << 24 // size of one dimension
	MaxTensorElements = 1 << 28 // elements of one tensor, or of one value at batch 1
	MaxTotalBytes     = 1 << 30 // bytes of all constant tensors together
	MaxFileBytes      = MaxTotalBytes + 1<<26
)

// Validate checks that g is a well-formed model: names present, unique and
// within limits; element types known; tensor data agreeing with its shape;
// every op known with the right number of inputs, constant weights where the
// op needs them, and every input defined before use (an input produced by a
// later node is an ordering error or a cycle, one produced by nothing is a
// dangling edge); outputs defined; and shape inference succeeding at batch 1
// and agreeing with the declared output shapes. Errors name the model and the
// node, tensor or value at fault.
func (g *Graph) Validate() error {
	if g == nil {
		return errors.New("model: nil graph")
	}
	if err := g.validate(); err != nil {
		return errors.New("model " + strconv.Quote(g.Name) + ": " + err.Error())
	}
	return nil
}

func (g *Graph) validate() error {
	switch {
	case len(g.Nodes) > MaxNodes:
		return errors.New(itoa(len(g.Nodes)) + " nodes, more than the limit " + itoa(MaxNodes))
	case len(g.Tensors) > MaxTensors:
		return errors.New(itoa(len(g.Tensors)) + " tensors, more than the limit " + itoa(MaxTensors))
	case len(g.Inputs) > MaxIO || len(g.Outputs) > MaxIO:
		return errors.New("more than " + itoa(MaxIO) + " inputs or outputs")
	case len(g.Outputs) == 0:
		return errors.New("no outputs")
	case len(g.Metadata) > MaxMetadata:
		return errors.New(itoa(len(g.Metadata)) + " metadata entries, more than the limit " + itoa(MaxMetadata))
	case len(g.Name) > MaxNameLen:
		return errors.New("name longer than " + itoa(MaxNameLen) + " bytes")
	}
	for k, v := range g.Metadata {
		if len(k) > MaxNameLen || len(v) > MaxMetadataBytes {
			return errors.New("metadata " + quoteShort(k) + " is too long")
		}
	}
	// kind of every defined value: 'i' input, 't' tensor, 'n' node output.
	defined := make(map[string]byte, len(g.Inputs)+len(g.Tensors)+len(g.Nodes))
	define := func(what, name string, kind byte) error {
		if name == "" {
			return errors.New(what + " has an empty name")
		}
		if len(name) > MaxNameLen {
			return errors.New(what + " name " + quoteShort(name) + " is longer than " + itoa(MaxNameLen) + " bytes")
		}
		if _, dup := defined[name]; dup {
			return errors.New(what + " " + strconv.Quote(name) + ": duplicate name")
		}
		defined[name] = kind
		return nil
	}
	for _, in := range g.Inputs {
		if err := define("input", in.Name, 'i'); err != nil {
			return err
		}
		if err := checkValueInfo(in, true); err != nil {
			return errors.New("input " + strconv.Quote(in.Name) + ": " + err.Error())
		}
	}
	var totalBytes int64
	for i, t := range g.Tensors {
		if t == nil {
			return errors.New("tensor " + itoa(i) + " is nil")
		}
		if err := define("tensor", t.Name, 't'); err != nil {
			return err
		}
		if err := checkTensor(t); err != nil {
			return errors.New("tensor " + strconv.Quote(t.Name) + ": " + err.Error())
		}
		totalBytes += int64(t.NumElements() * t.DType.Size())
		if totalBytes > MaxTotalBytes {
			return errors.New("tensors hold more than " + itoa(MaxTotalBytes) + " bytes")
		}
	}
	// producer of every node output, to tell a forward reference from a dangling edge.
	producer := make(map[string]int, len(g.Nodes))
	nodeNames := make(map[string]bool, len(g.Nodes))
	for i, n := range g.Nodes {
		if n == nil {
			return errors.New("node " + itoa(i) + " is nil")
		}
		for _, o := range n.Outputs {
			if _, ok := producer[o]; !ok {
				producer[o] = i
			}
		}
	}
	for i, n := range g.Nodes {
		if n.Name == "" {
			return errors.New("node " + itoa(i) + " (" + n.Op + ") has an empty name")
		}
		if len(n.Name) > MaxNameLen || len(n.Op) > MaxNameLen {
			return errors.New("node " + itoa(i) + ": name or op longer than " + itoa(MaxNameLen) + " bytes")
		}
		if nodeNames[n.Name] {
			return errors.New("node " + strconv.Quote(n.Name) + ": duplicate node name")
		}
		nodeNames[n.Name] = true
		info, ok := opInfos[n.Op]
		if !ok {
			return errors.New("node " + strconv.Quote(n.Name) + ": unknown op " + strconv.Quote(n.Op))
		}
		if len(n.Inputs) > MaxNodeInputs {
			return nodeErr(n, itoa(len(n.Inputs))+" inputs, more than the limit "+itoa(MaxNodeInputs))
		}
		if len(n.Attrs) > MaxAttrs {
			return nodeErr(n, itoa(len(n.Attrs))+" attributes, more than the limit "+itoa(MaxAttrs))
		}
		for k, v := range n.Attrs {
			if len(k) > MaxNameLen {
				return nodeErr(n, "attribute name longer than "+itoa(MaxNameLen)+" bytes")
			}
			if l := attrLen(v); l > MaxAttrLen {
				return nodeErr(n, "attribute "+strconv.Quote(k)+" has "+itoa(l)+" elements, more than the limit "+itoa(MaxAttrLen))
			}
		}
		for j, in := range n.Inputs {
			if in == "" {
				if j < info.MinInputs {
					return nodeErr(n, "required input "+itoa(j)+" is empty")
				}
				continue
			}
			if _, ok := defined[in]; ok {
				continue
			}
			if p, later := producer[in]; later {
				if p == i {
					return nodeErr(n, "cycle: input "+strconv.Quote(in)+" is the node's own output")
				}
				return nodeErr(n, "cycle or bad order: input "+strconv.Quote(in)+" is produced by later node "+strconv.Quote(g.Nodes[p].Name)+" (nodes must be in topological order)")
			}
			return nodeErr(n, "dangling edge: input "+strconv.Quote(in)+" is not a graph input, tensor or node output")
		}
		for _, j := range info.ConstInputs {
			if j < len(n.Inputs) && n.Inputs[j] != "" && defined[n.Inputs[j]] != 't' {
				return nodeErr(n, "input "+itoa(j)+" "+strconv.Quote(n.Inputs[j])+" must be a constant tensor (weights)")
			}
		}
		if len(n.Outputs) != 1 {
			return nodeErr(n, "has "+itoa(len(n.Outputs))+" outputs, want 1")
		}
		if err := define("node "+strconv.Quote(n.Name)+" output", n.Outputs[0], 'n'); err != nil {
			return err
		}
	}
	outNames := make(map[string]bool, len(g.Outputs))
	for _, out := range g.Outputs {
		if out.Name == "" {
			return errors.New("output has an empty name")
		}
		if outNames[out.Name] {
			return errors.New("output " + strconv.Quote(out.Name) + ": duplicate output")
		}
		outNames[out.Name] = true
		if _, ok := defined[out.Name]; !ok {
			return errors.New("output " + strconv.Quote(out.Name) + " is not defined by any node, input or tensor")
		}
		if err := checkValueInfo(out, false); err != nil {
			return errors.New("output " + strconv.Quote(out.Name) + ": " + err.Error())
		}
	}
	shapes, err := InferShapes(g, 1)
	if err != nil {
		return err
	}
	for _, n := range g.Nodes {
		if s := shapes[n.Outputs[0]]; NumElements(s) > MaxTensorElements {
			return nodeErr(n, "output "+ShapeString(s)+" has more than "+itoa(MaxTensorElements)+" elements at batch 1")
		}
	}
	for _, out := range g.Outputs {
		got := shapes[out.Name]
		if out.Shape == nil {
			continue
		}
		ok := len(got) == len(out.Shape)
		for i := 0; ok && i < len(got); i++ {
			ok = out.Shape[i] == got[i] || (i == 0 && out.Shape[i] == -1)
		}
		if !ok {
			return errors.New("output " + strconv.Quote(out.Name) + ": declared shape " + ShapeString(out.Shape) + " but the graph computes " + ShapeString(got) + " at batch 1")
		}
	}
	return nil
}

// checkValueInfo checks a graph input's or output's dtype and shape. An
// output's shape may be nil (not declared).
func checkValueInfo(v ValueInfo, isInput bool) error {
	if v.DType.Size() == 0 {
		return errors.New("unknown dtype " + v.DType.String())
	}
	if v.Shape == nil && !isInput {
		return nil
	}
	if len(v.Shape) > MaxRank {
		return errors.New("rank " + itoa(len(v.Shape)) + " is more than " + itoa(MaxRank))
	}
	total := 1
	for i, d := range v.Shape {
		if i == 0 && d == -1 {
			continue
		}
		if d < 1 || d > MaxDim {
			return errors.New("bad shape " + ShapeString(v.Shape) + ": dimension " + itoa(i) + " out of range (only dimension 0 may be -1)")
		}
		total *= d
		if total > MaxTensorElements {
			return errors.New("shape " + ShapeString(v.Shape) + " has more than " + itoa(MaxTensorElements) + " elements per batch item")
		}
	}
	return nil
}

// checkShape checks a tensor shape against the limits without overflowing.
func checkShape(shape []int) error {
	if len(shape) > MaxRank {
		return errors.New("rank " + itoa(len(shape)) + " is more than " + itoa(MaxRank))
	}
	total := 1
	for i, d := range shape {
		if d < 1 || d > MaxDim {
			return errors.New("bad shape " + ShapeString(shape) + ": dimension " + itoa(i) + " out of range [1, " + itoa(MaxDim) + "]")
		}
		total *= d
		if total > MaxTensorElements {
			return errors.New("shape " + ShapeString(shape) + " has more than " + itoa(MaxTensorElements) + " elements")
		}
	}
	return nil
}

func checkTensor(t *Tensor) error {
	size := t.DType.Size()
	if size == 0 {
		return errors.New("unknown dtype " + t.DType.String())
	}
	if err := checkShape(t.Shape); err != nil {
		return err
	}
	n := t.NumElements()
	if t.DType == Float32 {
		if t.Raw != nil {
			return errors.New("float32 tensor has Raw bytes; its values belong in Data")
		}
		if len(t.Data) != n {
			return errors.New("shape " + ShapeString(t.Shape) + " needs " + itoa(n) + " values, data has " + itoa(len(t.Data)))
		}
		return nil
	}
	if t.Data != nil {
		return errors.New(t.DType.String() + " tensor has float32 Data; its bytes belong in Raw")
	}
	if len(t.Raw) != n*size {
		return errors.New("shape " + ShapeString(t.Shape) + " needs " + itoa(n*size) + " bytes of " + t.DType.String() + ", data has " + itoa(len(t.Raw)))
	}
	return nil
}

func attrLen(v any) int {
	switch v := v.(type) {
	case []int:
		return len(v)
	case []float32:
		return len(v)
	case string:
		return len(v)
	}
	return 0
}

// quoteShort quotes s, cut to 64 bytes so that hostile names cannot flood an
// error message.
func quoteShort(s string) string {
	if len(s) > 64 {
		return strconv.Quote(s[:64]) + "..."
	}
	return strconv.Quote(s)
}
