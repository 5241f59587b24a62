package onnx

import (
	"encoding/binary"
	"math"
)

// A small ONNX writer for the tests: hand-made models for the layout cases
// that ONNX Runtime checks (testdata/ort), the error paths and the fuzz
// seeds. Field numbers are those proto.go reads.

type pb struct{ b []byte }

func (p *pb) key(field, wt int) *pb {
	p.b = binary.AppendUvarint(p.b, uint64(field<<3|wt))
	return p
}

func (p *pb) varint(field int, v int64) *pb {
	p.key(field, wireVarint)
	p.b = binary.AppendUvarint(p.b, uint64(v))
	return p
}

func (p *pb) raw(field int, b []byte) *pb {
	p.key(field, wireBytes)
	p.b = binary.AppendUvarint(p.b, uint64(len(b)))
	p.b = append(p.b, b...)
	return p
}

func (p *pb) str(field int, s string) *pb { return p.raw(field, []byte(s)) }
func (p *pb) msg(field int, m *pb) *pb    { return p.raw(field, m.b) }

func (p *pb) f32(field int, v float32) *pb {
	p.key(field, wireFixed32)
	p.b = binary.LittleEndian.AppendUint32(p.b, math.Float32bits(v))
	return p
}

// Attributes.

func aInt(name string, v int64) *pb {
	return new(pb).str(fAttrName, name).varint(fAttrType, attrInt).varint(fAttrI, v)
}

func aFloat(name string, v float32) *pb {
	return new(pb).str(fAttrName, name).varint(fAttrType, attrFloat).f32(fAttrF, v)
}

func aStr(name, v string) *pb {
	return new(pb).str(fAttrName, name).varint(fAttrType, attrString).str(fAttrS, v)
}

func aInts(name string, v ...int64) *pb {
	p := new(pb).str(fAttrName, name).varint(fAttrType, attrInts)
	var packed []byte
	for _, x := range v {
		packed = binary.AppendUvarint(packed, uint64(x))
	}
	return p.raw(fAttrInts, packed)
}

func aFloats(name string, v ...float32) *pb {
	p := new(pb).str(fAttrName, name).varint(fAttrType, attrFloats)
	var packed []byte
	for _, x := range v {
		packed = binary.LittleEndian.AppendUint32(packed, math.Float32bits(x))
	}
	return p.raw(fAttrFloats, packed)
}

func aTensor(name string, t *pb) *pb {
	return new(pb).str(fAttrName, name).varint(fAttrType, attrTensor).msg(fAttrT, t)
}

// Tensors.

func tFloat(name string, dims []int, data []float32) *pb {
	p := new(pb)
	for _, d := range dims {
		p.varint(fTensorDims, int64(d))
	}
	p.varint(fTensorDataType, dtFloat).str(fTensorName, name)
	raw := make([]byte, 0, 4*len(data))
	for _, x := range data {
		raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(x))
	}
	return p.raw(fTensorRaw, raw)
}

func tInt64(name string, dims []int, data []int64) *pb {
	p := new(pb)
	for _, d := range dims {
		p.varint(fTensorDims, int64(d))
	}
	p.varint(fTensorDataType, dtInt64).str(fTensorName, name)
	var packed []byte
	for _, x := range data {
		packed = binary.AppendUvarint(packed, uint64(x))
	}
	return p.raw(fTensorInt64, packed)
}

// modelBuilder writes a ModelProto.
type modelBuilder struct {
	opset   int64
	name    string
	nodes   []*pb
	inits   []*pb
	inputs  []*pb
	outputs []*pb
	seq     int
}

func newModel(name string, opset int64) *modelBuilder { return &modelBuilder{name: name, opset: opset} }

// valueInfo: a dimension of -1 is the symbolic batch "N".
func valueInfoPB(name string, elem int64, dims []int) *pb {
	shape := new(pb)
	for _, d := range dims {
		dim := new(pb)
		if d < 0 {
			dim.str(fDimParam, "N")
		} else {
			dim.varint(fDimValue, int64(d))
		}
		shape.msg(fShapeDim, dim)
	}
	tt := new(pb).varint(fTypeElem, elem)
	if dims != nil {
		tt.msg(fTypeShape, shape)
	}
	return new(pb).str(fValueName, name).msg(fValueType, new(pb).msg(fTypeTensor, tt))
}

func (m *modelBuilder) input(name string, dims ...int) string {
	m.inputs = append(m.inputs, valueInfoPB(name, dtFloat, dims))
	return name
}

func (m *modelBuilder) output(name string) {
	m.outputs = append(m.outputs, valueInfoPB(name, dtFloat, nil))
}

func (m *modelBuilder) init(name string, dims []int, data []float32) string {
	m.inits = append(m.inits, tFloat(name, dims, data))
	return name
}

func (m *modelBuilder) initInts(name string, data ...int64) string {
	m.inits = append(m.inits, tInt64(name, []int{len(data)}, data))
	return name
}

// weights adds an initializer with reproducible values in [-scale, scale).
func (m *modelBuilder) weights(name string, scale float32, dims ...int) string {
	n := 1
	for _, d := range dims {
		n *= d
	}
	data := make([]float32, n)
	for i := range data {
		m.seq++
		data[i] = scale * float32(math.Sin(float64(m.seq)*12.9898+float64(i)*0.731))
	}
	return m.init(name, dims, data)
}

// node adds a node with one output named out and returns out.
func (m *modelBuilder) node(op string, inputs []string, out string, attrs ...*pb) string {
	m.nodeN(op, inputs, []string{out}, attrs...)
	return out
}

func (m *modelBuilder) nodeN(op string, inputs, outputs []string, attrs ...*pb) {
	n := new(pb)
	for _, in := range inputs {
		n.str(fNodeInput, in)
	}
	for _, o := range outputs {
		n.str(fNodeOutput, o)
	}
	n.str(fNodeName, outputs[0]+"_node").str(fNodeOpType, op)
	for _, a := range attrs {
		n.msg(fNodeAttr, a)
	}
	m.nodes = append(m.nodes, n)
}

func (m *modelBuilder) bytes() []byte {
	g := new(pb)
	for _, n := range m.nodes {
		g.msg(fGraphNode, n)
	}
	g.str(fGraphName, m.name)
	for _, t := range m.inits {
		g.msg(fGraphInitializer, t)
	}
	for _, v := range m.inputs {
		g.msg(fGraphInput, v)
	}
	for _, v := range m.outputs {
		g.msg(fGraphOutput, v)
	}
	p := new(pb).varint(fModelIRVersion, 8).str(fModelProducer, "edgenn-tests")
	p.msg(fModelOpset, new(pb).str(fOpsetDomain, "").varint(fOpsetVersion, m.opset))
	return p.msg(fModelGraph, g).b
}
