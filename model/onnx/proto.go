package onnx

import (
	"errors"
	"math"
	"strconv"

	"github.com/edgenn/edgenn/model"
)

// This file reads the subset of onnx.proto that import needs, straight from
// the protobuf wire format. Every length is checked against the bytes that
// remain before it is used, every count against model's limits before
// anything is allocated for it, and tensor payloads stay as slices of the
// input until a constant is actually needed.

// Field numbers of onnx.proto (onnx/onnx.proto3, IR version 10).
const (
	fModelIRVersion = 1
	fModelOpset     = 8
	fModelProducer  = 2
	fModelProdVer   = 3
	fModelGraph     = 7
	fModelMetadata  = 14

	fOpsetDomain  = 1
	fOpsetVersion = 2

	fGraphNode        = 1
	fGraphName        = 2
	fGraphInitializer = 5
	fGraphSparseInit  = 15
	fGraphInput       = 11
	fGraphOutput      = 12
	fGraphValueInfo   = 13

	fNodeInput  = 1
	fNodeOutput = 2
	fNodeName   = 3
	fNodeOpType = 4
	fNodeAttr   = 5
	fNodeDomain = 7

	fAttrName     = 1
	fAttrF        = 2
	fAttrI        = 3
	fAttrS        = 4
	fAttrT        = 5
	fAttrG        = 6
	fAttrFloats   = 7
	fAttrInts     = 8
	fAttrStrings  = 9
	fAttrTensors  = 10
	fAttrGraphs   = 11
	fAttrType     = 20
	fAttrRefName  = 21
	fAttrSparseT  = 22
	fAttrSparseTs = 23

	fTensorDims     = 1
	fTensorDataType = 2
	fTensorSegment  = 3
	fTensorFloat    = 4
	fTensorInt32    = 5
	fTensorString   = 6
	fTensorInt64    = 7
	fTensorName     = 8
	fTensorRaw      = 9
	fTensorDouble   = 10
	fTensorUint64   = 11
	fTensorExternal = 13
	fTensorLocation = 14

	fValueName = 1
	fValueType = 2

	fTypeTensor    = 1
	fTypeElem      = 1
	fTypeShape     = 2
	fShapeDim      = 1
	fDimValue      = 1
	fDimParam      = 2
	fStringKey     = 1
	fStringValue   = 2
	wireVarint     = 0
	wireFixed64    = 1
	wireBytes      = 2
	wireFixed32    = 5
	maxSourceNodes = 4 * model.MaxNodes   // ONNX nodes, before folding
	maxSourceInits = 4 * model.MaxTensors // ONNX initializers
	maxStringAttr  = 1 << 16              // bytes of one string attribute
	maxDimsRead    = 64                   // dims a TensorProto or shape may list
)

// AttributeProto.AttributeType values.
const (
	attrFloat   = 1
	attrInt     = 2
	attrString  = 3
	attrTensor  = 4
	attrGraph   = 5
	attrFloats  = 6
	attrInts    = 7
	attrStrings = 8
	attrTensors = 9
	attrGraphs  = 10
	attrSparse  = 11
	attrSparses = 12
	attrTypeP   = 13
	attrTypePs  = 14
)

type modelProto struct {
	size      int // bytes of the file
	irVersion int64
	opsets    map[string]int64 // domain ("" is ai.onnx) -> version
	producer  string
	metadata  [][2]string
	graph     *graphProto
}

type graphProto struct {
	name         string
	nodes        []*nodeProto
	initializers []*tensorProto
	inputs       []*valueInfo
	outputs      []*valueInfo
	sparseInits  int
}

type nodeProto struct {
	inputs, outputs []string
	name, opType    string
	domain          string
	attrs           []*attrProto
	index           int // position in the graph
}

type attrProto struct {
	name    string
	typ     int32
	f       float32
	i       int64
	s       []byte
	t       *tensorProto
	floats  []float32
	ints    []int64
	strings [][]byte
	refName string
	// which value fields were present, for models that leave type unset
	hasF, hasI, hasS, hasT, hasFloats, hasInts, hasStrings, hasGraph bool
}

// tensorProto keeps a TensorProto's header decoded and its payload as the
// message bytes, decoded by constantOf only when the constant is used.
type tensorProto struct {
	name     string
	dims     []int64
	dataType int32
	msg      []byte
	external bool
	segment  bool
}

type valueInfo struct {
	name      string
	elemType  int32   // 0 when the type is not a tensor or not given
	hasShape  bool    // the tensor type has a shape
	dims      []int64 // -1 where the dimension is symbolic or unknown
	params    []string
	notTensor bool
}

// wire is a cursor over one protobuf message.
type wire struct {
	b   []byte
	off int
}

var errTruncated = errors.New("truncated")

func (r *wire) done() bool { return r.off >= len(r.b) }

func (r *wire) varint() (uint64, error) {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if r.off >= len(r.b) {
			return 0, errTruncated
		}
		c := r.b[r.off]
		r.off++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			if shift == 63 && c > 1 {
				return 0, errors.New("varint overflows 64 bits")
			}
			return v, nil
		}
	}
	return 0, errors.New("varint longer than 10 bytes")
}

// key reads a field key: field number and wire type.
func (r *wire) key() (int, int, error) {
	k, err := r.varint()
	if err != nil {
		return 0, 0, err
	}
	field, wt := k>>3, int(k&7)
	if field == 0 || field > 1<<29-1 {
		return 0, 0, errors.New("bad field number " + strconv.FormatUint(field, 10))
	}
	return int(field), wt, nil
}

func (r *wire) fixed32() (uint32, error) {
	if len(r.b)-r.off < 4 {
		return 0, errTruncated
	}
	b := r.b[r.off:]
	r.off += 4
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24, nil
}

func (r *wire) fixed64() (uint64, error) {
	lo, err := r.fixed32()
	if err != nil {
		return 0, err
	}
	hi, err := r.fixed32()
	return uint64(lo) | uint64(hi)<<32, err
}

// bytes reads a length-delimited field's payload (a slice of the input).
func (r *wire) bytes() ([]byte, error) {
	n, err := r.varint()
	if err != nil {
		return nil, err
	}
	if n > uint64(len(r.b)-r.off) {
		return nil, errors.New("length " + strconv.FormatUint(n, 10) + " runs past the end (" + strconv.Itoa(len(r.b)-r.off) + " bytes left)")
	}
	b := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return b, nil
}

func (r *wire) str(limit int, what string) (string, error) {
	b, err := r.bytes()
	if err != nil {
		return "", err
	}
	if len(b) > limit {
		return "", errors.New(what + " is " + strconv.Itoa(len(b)) + " bytes, more than the limit " + strconv.Itoa(limit))
	}
	return string(b), nil
}

func (r *wire) skip(wt int) error {
	switch wt {
	case wireVarint:
		_, err := r.varint()
		return err
	case wireFixed64:
		_, err := r.fixed64()
		return err
	case wireBytes:
		_, err := r.bytes()
		return err
	case wireFixed32:
		_, err := r.fixed32()
		return err
	}
	return errors.New("unsupported wire type " + strconv.Itoa(wt))
}

func (r *wire) int64v(wt int) (int64, error) {
	if wt != wireVarint {
		return 0, errors.New("integer field has wire type " + strconv.Itoa(wt))
	}
	v, err := r.varint()
	return int64(v), err
}

// strField reads a length-delimited string field of at most limit bytes,
// after checking its wire type; errors carry path.
func (r *wire) strField(wt, limit int, what, path string) (string, error) {
	if err := expect(wt, wireBytes); err != nil {
		return "", perr(path, err)
	}
	s, err := r.str(limit, what)
	if err != nil {
		return "", perr(path, err)
	}
	return s, nil
}

// bytesField reads a length-delimited field (a nested message, raw bytes)
// after checking its wire type; errors carry path.
func (r *wire) bytesField(wt int, path string) ([]byte, error) {
	if err := expect(wt, wireBytes); err != nil {
		return nil, perr(path, err)
	}
	b, err := r.bytes()
	if err != nil {
		return nil, perr(path, err)
	}
	return b, nil
}

// expect checks a field's wire type.
func expect(wt, want int) error {
	if wt != want {
		return errors.New("wire type " + strconv.Itoa(wt) + ", want " + strconv.Itoa(want))
	}
	return nil
}

// appendInt64s reads one occurrence of a repeated int64 field, packed or
// not, appending at most limit values in all.
func appendInt64s(r *wire, wt int, dst []int64, limit int) ([]int64, error) {
	if wt == wireVarint {
		if len(dst) >= limit {
			return nil, errors.New("more than " + strconv.Itoa(limit) + " values")
		}
		v, err := r.varint()
		return append(dst, int64(v)), err
	}
	if wt != wireBytes {
		return nil, errors.New("integer list has wire type " + strconv.Itoa(wt))
	}
	b, err := r.bytes()
	if err != nil {
		return nil, err
	}
	n := countVarints(b)
	if len(dst)+n > limit {
		return nil, errors.New("more than " + strconv.Itoa(limit) + " values")
	}
	p := wire{b: b}
	for !p.done() {
		v, err := p.varint()
		if err != nil {
			return nil, err
		}
		dst = append(dst, int64(v))
	}
	return dst, nil
}

// appendFloats reads one occurrence of a repeated float field.
func appendFloats(r *wire, wt int, dst []float32, limit int) ([]float32, error) {
	if wt == wireFixed32 {
		if len(dst) >= limit {
			return nil, errors.New("more than " + strconv.Itoa(limit) + " values")
		}
		v, err := r.fixed32()
		return append(dst, math.Float32frombits(v)), err
	}
	if wt != wireBytes {
		return nil, errors.New("float list has wire type " + strconv.Itoa(wt))
	}
	b, err := r.bytes()
	if err != nil {
		return nil, err
	}
	if len(b)%4 != 0 {
		return nil, errors.New("packed floats of " + strconv.Itoa(len(b)) + " bytes")
	}
	if len(dst)+len(b)/4 > limit {
		return nil, errors.New("more than " + strconv.Itoa(limit) + " values")
	}
	for i := 0; i < len(b); i += 4 {
		dst = append(dst, math.Float32frombits(uint32(b[i])|uint32(b[i+1])<<8|uint32(b[i+2])<<16|uint32(b[i+3])<<24))
	}
	return dst, nil
}

// countVarints counts the varints in a packed field: the bytes without the
// continuation bit.
func countVarints(b []byte) int {
	n := 0
	for _, c := range b {
		if c < 0x80 {
			n++
		}
	}
	return n
}

type protoError struct {
	path string
	err  error
}

func (e *protoError) Error() string { return "onnx: bad protobuf at " + e.path + ": " + e.err.Error() }

func perr(path string, err error) error {
	if pe, ok := err.(*protoError); ok {
		return &protoError{path: path + "." + pe.path, err: pe.err}
	}
	return &protoError{path: path, err: err}
}

func idx(name string, i int) string { return name + "[" + strconv.Itoa(i) + "]" }

// parseModel reads a ModelProto.
func parseModel(data []byte) (*modelProto, error) {
	m := &modelProto{opsets: map[string]int64{}, size: len(data)}
	r := &wire{b: data}
	graphs := 0
	for !r.done() {
		field, wt, err := r.key()
		if err != nil {
			return nil, perr("model", err)
		}
		switch field {
		case fModelIRVersion:
			if m.irVersion, err = r.int64v(wt); err != nil {
				return nil, perr("model.ir_version", err)
			}
		case fModelOpset:
			b, err := r.bytesField(wt, "model.opset_import")
			if err != nil {
				return nil, err
			}
			if len(m.opsets) > 256 {
				return nil, perr("model.opset_import", errors.New("more than 256 entries"))
			}
			dom, ver, err := parseOpset(b)
			if err != nil {
				return nil, perr(idx("model.opset_import", len(m.opsets)), err)
			}
			m.opsets[dom] = ver
		case fModelProducer, fModelProdVer:
			s, err := r.strField(wt, model.MaxNameLen, "producer", "model.producer")
			if err != nil {
				return nil, err
			}
			if m.producer != "" {
				m.producer += " "
			}
			m.producer += s
		case fModelGraph:
			b, err := r.bytesField(wt, "model.graph")
			if err != nil {
				return nil, err
			}
			if graphs++; graphs > 1 {
				return nil, perr("model.graph", errors.New("more than one graph"))
			}
			if m.graph, err = parseGraph(b); err != nil {
				return nil, perr("model.graph", err)
			}
		case fModelMetadata:
			b, err := r.bytesField(wt, "model.metadata_props")
			if err != nil {
				return nil, err
			}
			if len(m.metadata) >= model.MaxMetadata/2 {
				continue // keep what fits; metadata is informational
			}
			kv, err := parseStringPair(b)
			if err != nil {
				return nil, perr(idx("model.metadata_props", len(m.metadata)), err)
			}
			m.metadata = append(m.metadata, kv)
		default:
			if err := r.skip(wt); err != nil {
				return nil, perr("model.field "+strconv.Itoa(field), err)
			}
		}
	}
	if m.graph == nil {
		return nil, errors.New("onnx: model has no graph")
	}
	return m, nil
}

func parseOpset(b []byte) (string, int64, error) {
	r := &wire{b: b}
	var dom string
	var ver int64
	for !r.done() {
		field, wt, err := r.key()
		if err != nil {
			return "", 0, err
		}
		switch field {
		case fOpsetDomain:
			if err := expect(wt, wireBytes); err != nil {
				return "", 0, err
			}
			if dom, err = r.str(model.MaxNameLen, "domain"); err != nil {
				return "", 0, err
			}
		case fOpsetVersion:
			if ver, err = r.int64v(wt); err != nil {
				return "", 0, err
			}
		default:
			if err := r.skip(wt); err != nil {
				return "", 0, err
			}
		}
	}
	return dom, ver, nil
}

func parseStringPair(b []byte) ([2]string, error) {
	r := &wire{b: b}
	var kv [2]string
	for !r.done() {
		field, wt, err := r.key()
		if err != nil {
			return kv, err
		}
		if (field == fStringKey || field == fStringValue) && wt == wireBytes {
			limit := model.MaxNameLen
			if field == fStringValue {
				limit = model.MaxMetadataBytes
			}
			if kv[field-1], err = r.str(limit, "metadata entry"); err != nil {
				return kv, err
			}
			continue
		}
		if err := r.skip(wt); err != nil {
			return kv, err
		}
	}
	return kv, nil
}

func parseGraph(b []byte) (*graphProto, error) {
	g := &graphProto{}
	r := &wire{b: b}
	for !r.done() {
		field, wt, err := r.key()
		if err != nil {
			return nil, err
		}
		if field == fGraphName {
			if g.name, err = r.strField(wt, model.MaxNameLen, "name", "name"); err != nil {
				return nil, err
			}
			continue
		}
		switch field {
		case fGraphNode, fGraphInitializer, fGraphInput, fGraphOutput, fGraphSparseInit:
		default:
			if err := r.skip(wt); err != nil {
				return nil, perr("field "+strconv.Itoa(field), err)
			}
			continue
		}
		msg, err := r.bytesField(wt, "field "+strconv.Itoa(field))
		if err != nil {
			return nil, err
		}
		switch field {
		case fGraphNode:
			if len(g.nodes) >= maxSourceNodes {
				return nil, perr("node", errors.New("more than "+strconv.Itoa(maxSourceNodes)+" nodes"))
			}
			n, err := parseNode(msg)
			if err != nil {
				return nil, perr(idx("node", len(g.nodes)), err)
			}
			n.index = len(g.nodes)
			g.nodes = append(g.nodes, n)
		case fGraphInitializer:
			if len(g.initializers) >= maxSourceInits {
				return nil, perr("initializer", errors.New("more than "+strconv.Itoa(maxSourceInits)+" initializers"))
			}
			t, err := parseTensor(msg)
			if err != nil {
				return nil, perr(idx("initializer", len(g.initializers)), err)
			}
			g.initializers = append(g.initializers, t)
		case fGraphInput, fGraphOutput:
			list := &g.inputs
			what := "input"
			if field == fGraphOutput {
				list, what = &g.outputs, "output"
			}
			if len(*list) >= maxSourceInits {
				return nil, perr(what, errors.New("too many entries"))
			}
			v, err := parseValueInfo(msg)
			if err != nil {
				return nil, perr(idx(what, len(*list)), err)
			}
			*list = append(*list, v)
		case fGraphSparseInit:
			g.sparseInits++
		}
	}
	return g, nil
}

func parseNode(b []byte) (*nodeProto, error) {
	n := &nodeProto{}
	r := &wire{b: b}
	for !r.done() {
		field, wt, err := r.key()
		if err != nil {
			return nil, err
		}
		switch field {
		case fNodeInput, fNodeOutput:
			s, err := r.strField(wt, model.MaxNameLen, "value name", "input/output")
			if err != nil {
				return nil, err
			}
			if len(n.inputs)+len(n.outputs) >= 2*model.MaxNodeInputs {
				return nil, errors.New("more than " + strconv.Itoa(2*model.MaxNodeInputs) + " inputs and outputs")
			}
			if field == fNodeInput {
				n.inputs = append(n.inputs, s)
			} else {
				n.outputs = append(n.outputs, s)
			}
		case fNodeName, fNodeOpType, fNodeDomain:
			s, err := r.strField(wt, model.MaxNameLen, "name", "name")
			if err != nil {
				return nil, err
			}
			switch field {
			case fNodeName:
				n.name = s
			case fNodeOpType:
				n.opType = s
			default:
				n.domain = s
			}
		case fNodeAttr:
			msg, err := r.bytesField(wt, "attribute")
			if err != nil {
				return nil, err
			}
			if len(n.attrs) >= model.MaxAttrs {
				return nil, errors.New("more than " + strconv.Itoa(model.MaxAttrs) + " attributes")
			}
			a, err := parseAttr(msg)
			if err != nil {
				return nil, perr(idx("attribute", len(n.attrs)), err)
			}
			n.attrs = append(n.attrs, a)
		default:
			if err := r.skip(wt); err != nil {
				return nil, perr("field "+strconv.Itoa(field), err)
			}
		}
	}
	return n, nil
}

func parseAttr(b []byte) (*attrProto, error) {
	a := &attrProto{}
	r := &wire{b: b}
	for !r.done() {
		field, wt, err := r.key()
		if err != nil {
			return nil, err
		}
		switch field {
		case fAttrName, fAttrRefName:
			s, err := r.strField(wt, model.MaxNameLen, "attribute name", "name")
			if err != nil {
				return nil, err
			}
			if field == fAttrName {
				a.name = s
			} else {
				a.refName = s
			}
		case fAttrType:
			v, err := r.int64v(wt)
			if err != nil {
				return nil, perr("type", err)
			}
			a.typ = int32(v)
		case fAttrF:
			if err := expect(wt, wireFixed32); err != nil {
				return nil, perr("f", err)
			}
			v, err := r.fixed32()
			if err != nil {
				return nil, perr("f", err)
			}
			a.f, a.hasF = math.Float32frombits(v), true
		case fAttrI:
			if a.i, err = r.int64v(wt); err != nil {
				return nil, perr("i", err)
			}
			a.hasI = true
		case fAttrS:
			if a.s, err = r.bytesField(wt, "s"); err != nil {
				return nil, err
			}
			if len(a.s) > maxStringAttr {
				return nil, perr("s", errors.New("string longer than "+strconv.Itoa(maxStringAttr)+" bytes"))
			}
			a.hasS = true
		case fAttrT:
			msg, err := r.bytesField(wt, "t")
			if err != nil {
				return nil, err
			}
			if a.t, err = parseTensor(msg); err != nil {
				return nil, perr("t", err)
			}
			a.hasT = true
		case fAttrFloats:
			if a.floats, err = appendFloats(r, wt, a.floats, model.MaxAttrLen); err != nil {
				return nil, perr("floats", err)
			}
			a.hasFloats = true
		case fAttrInts:
			if a.ints, err = appendInt64s(r, wt, a.ints, model.MaxAttrLen); err != nil {
				return nil, perr("ints", err)
			}
			a.hasInts = true
		case fAttrStrings:
			s, err := r.bytesField(wt, "strings")
			if err != nil {
				return nil, err
			}
			if len(a.strings) >= model.MaxAttrLen || len(s) > maxStringAttr {
				return nil, perr("strings", errors.New("too many or too long"))
			}
			a.strings = append(a.strings, s)
			a.hasStrings = true
		case fAttrG, fAttrGraphs:
			a.hasGraph = true
			if err := r.skip(wt); err != nil {
				return nil, perr("g", err)
			}
		default:
			if err := r.skip(wt); err != nil {
				return nil, perr("field "+strconv.Itoa(field), err)
			}
		}
	}
	if a.typ == 0 { // IR version < 0.0.2 left type unset: infer it.
		switch {
		case a.hasF:
			a.typ = attrFloat
		case a.hasI:
			a.typ = attrInt
		case a.hasS:
			a.typ = attrString
		case a.hasT:
			a.typ = attrTensor
		case a.hasFloats:
			a.typ = attrFloats
		case a.hasInts:
			a.typ = attrInts
		case a.hasStrings:
			a.typ = attrStrings
		case a.hasGraph:
			a.typ = attrGraph
		}
	}
	return a, nil
}

// parseTensor reads a TensorProto's header; its data stays in msg.
func parseTensor(b []byte) (*tensorProto, error) {
	t := &tensorProto{msg: b}
	r := &wire{b: b}
	for !r.done() {
		field, wt, err := r.key()
		if err != nil {
			return nil, err
		}
		switch field {
		case fTensorDims:
			if t.dims, err = appendInt64s(r, wt, t.dims, maxDimsRead); err != nil {
				return nil, perr("dims", err)
			}
		case fTensorDataType:
			v, err := r.int64v(wt)
			if err != nil {
				return nil, perr("data_type", err)
			}
			t.dataType = int32(v)
		case fTensorName:
			if t.name, err = r.strField(wt, model.MaxNameLen, "tensor name", "name"); err != nil {
				return nil, err
			}
		case fTensorExternal:
			t.external = true
			if err := r.skip(wt); err != nil {
				return nil, perr("external_data", err)
			}
		case fTensorLocation:
			v, err := r.int64v(wt)
			if err != nil {
				return nil, perr("data_location", err)
			}
			if v != 0 {
				t.external = true
			}
		case fTensorSegment:
			t.segment = true
			if err := r.skip(wt); err != nil {
				return nil, perr("segment", err)
			}
		default:
			if err := r.skip(wt); err != nil {
				return nil, perr("field "+strconv.Itoa(field), err)
			}
		}
	}
	return t, nil
}

func parseValueInfo(b []byte) (*valueInfo, error) {
	v := &valueInfo{}
	r := &wire{b: b}
	for !r.done() {
		field, wt, err := r.key()
		if err != nil {
			return nil, err
		}
		switch field {
		case fValueName:
			if v.name, err = r.strField(wt, model.MaxNameLen, "value name", "name"); err != nil {
				return nil, err
			}
		case fValueType:
			msg, err := r.bytesField(wt, "type")
			if err != nil {
				return nil, err
			}
			if err := parseType(msg, v); err != nil {
				return nil, perr("type", err)
			}
		default:
			if err := r.skip(wt); err != nil {
				return nil, perr("field "+strconv.Itoa(field), err)
			}
		}
	}
	return v, nil
}

// parseType reads a TypeProto: only a tensor type says anything to import.
func parseType(b []byte, v *valueInfo) error {
	r := &wire{b: b}
	for !r.done() {
		field, wt, err := r.key()
		if err != nil {
			return err
		}
		if field != fTypeTensor {
			if field >= 4 && field <= 9 && field != 6 { // sequence, map, sparse, optional
				v.notTensor = true
			}
			if err := r.skip(wt); err != nil {
				return err
			}
			continue
		}
		msg, err := r.bytesField(wt, "tensor_type")
		if err != nil {
			return err
		}
		tr := &wire{b: msg}
		for !tr.done() {
			f, wt, err := tr.key()
			if err != nil {
				return perr("tensor_type", err)
			}
			switch f {
			case fTypeElem:
				e, err := tr.int64v(wt)
				if err != nil {
					return perr("tensor_type.elem_type", err)
				}
				v.elemType = int32(e)
			case fTypeShape:
				s, err := tr.bytesField(wt, "tensor_type.shape")
				if err != nil {
					return err
				}
				v.hasShape = true
				v.dims, v.params = v.dims[:0], v.params[:0]
				if err := parseShape(s, v); err != nil {
					return perr("tensor_type.shape", err)
				}
			default:
				if err := tr.skip(wt); err != nil {
					return perr("tensor_type", err)
				}
			}
		}
	}
	return nil
}

func parseShape(b []byte, v *valueInfo) error {
	r := &wire{b: b}
	for !r.done() {
		field, wt, err := r.key()
		if err != nil {
			return err
		}
		if field != fShapeDim {
			if err := r.skip(wt); err != nil {
				return err
			}
			continue
		}
		if err := expect(wt, wireBytes); err != nil {
			return err
		}
		msg, err := r.bytes()
		if err != nil {
			return err
		}
		if len(v.dims) >= maxDimsRead {
			return errors.New("more than " + strconv.Itoa(maxDimsRead) + " dimensions")
		}
		d, p := int64(-1), ""
		dr := &wire{b: msg}
		for !dr.done() {
			f, wt, err := dr.key()
			if err != nil {
				return err
			}
			switch {
			case f == fDimValue && wt == wireVarint:
				if d, err = dr.int64v(wt); err != nil {
					return err
				}
			case f == fDimParam && wt == wireBytes:
				if p, err = dr.str(model.MaxNameLen, "dim_param"); err != nil {
					return err
				}
			default:
				if err := dr.skip(wt); err != nil {
					return err
				}
			}
		}
		if p != "" {
			d = -1
		}
		v.dims = append(v.dims, d)
		v.params = append(v.params, p)
	}
	return nil
}
