package model

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// The codec reads and writes msgpack by hand (msgpack.go). These tests hold it
// to vmihailenco/msgpack/v5, a general msgpack library used as an independent
// oracle: it must read what we write, we must read what it writes, and our
// encoding must be the bytes its Encoder gives for the same calls (the codec
// used it until the wasm size budget pushed it out), so Digests do not move.

// oracleGraphs are the graphs the oracle tests encode: every op and attribute
// kind, and the zoo.
func oracleGraphs(t testing.TB) map[string]*Graph {
	t.Helper()
	gs := map[string]*Graph{"all_ops": allOpsGraph(t)}
	names := ZooNames()
	if testing.Short() {
		names = []string{"lenet5", "mobilenet_v2_035_128"}
	}
	for _, n := range names {
		gs[n] = mustZoo(t, n)
	}
	return gs
}

// oracleEncode writes g with msgpack/v5's Encoder, making the same calls the
// codec made when it was built on it.
func oracleEncode(g *Graph) ([]byte, error) {
	var buf bytes.Buffer
	e := msgpack.NewEncoder(&buf)
	var err error
	keep := func(e error) {
		if err == nil {
			err = e
		}
	}
	str := func(s string) { keep(e.EncodeString(s)) }
	ints := func(v []int) {
		keep(e.EncodeArrayLen(len(v)))
		for _, x := range v {
			keep(e.EncodeInt(int64(x)))
		}
	}
	strs := func(v []string) {
		keep(e.EncodeArrayLen(len(v)))
		for _, s := range v {
			str(s)
		}
	}
	infos := func(vs []ValueInfo) {
		keep(e.EncodeArrayLen(len(vs)))
		for _, v := range vs {
			keep(e.EncodeMapLen(3))
			str("name")
			str(v.Name)
			str("shape")
			if v.Shape == nil {
				keep(e.EncodeNil())
			} else {
				ints(v.Shape)
			}
			str("dtype")
			str(v.DType.String())
		}
	}
	keep(e.EncodeMapLen(8))
	str("format")
	str(FormatTag)
	str("version")
	keep(e.EncodeInt(FormatVersion))
	str("name")
	str(g.Name)
	str("inputs")
	infos(g.Inputs)
	str("outputs")
	infos(g.Outputs)
	str("nodes")
	keep(e.EncodeArrayLen(len(g.Nodes)))
	for _, n := range g.Nodes {
		keep(e.EncodeMapLen(5))
		str("op")
		str(n.Op)
		str("name")
		str(n.Name)
		str("inputs")
		strs(n.Inputs)
		str("outputs")
		strs(n.Outputs)
		str("attrs")
		keys := sortedKeys(n.Attrs)
		keep(e.EncodeMapLen(len(keys)))
		for _, k := range keys {
			str(k)
			switch v := n.Attrs[k].(type) {
			case int:
				keep(e.EncodeInt(int64(v)))
			case float32:
				keep(e.EncodeFloat32(v))
			case string:
				str(v)
			case []int:
				ints(v)
			case []float32:
				keep(e.EncodeArrayLen(len(v)))
				for _, x := range v {
					keep(e.EncodeFloat32(x))
				}
			}
		}
	}
	str("tensors")
	keep(e.EncodeArrayLen(len(g.Tensors)))
	for _, t := range g.Tensors {
		keep(e.EncodeMapLen(4))
		str("name")
		str(t.Name)
		str("dtype")
		str(t.DType.String())
		str("shape")
		ints(t.Shape)
		str("data")
		keep(e.EncodeBytes(tensorBytes(t)))
	}
	str("metadata")
	keys := sortedKeys(g.Metadata)
	keep(e.EncodeMapLen(len(keys)))
	for _, k := range keys {
		str(k)
		str(g.Metadata[k])
	}
	return buf.Bytes(), err
}

// tensorBytes returns a tensor's payload as it is stored in the file.
func tensorBytes(t *Tensor) []byte {
	if t.DType != Float32 {
		return t.Raw
	}
	b := make([]byte, 4*len(t.Data))
	for i, v := range t.Data {
		u := math.Float32bits(v)
		b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
	}
	return b
}

// oracleDecode reads a .enn file with msgpack/v5's generic decoder (into
// map[string]any, []any, int8..uint64, float32/float64, string, []byte) and
// builds the graph from that tree. It checks structure and types, not the
// graph's validity: it is meant for bytes that Decode has accepted.
func oracleDecode(data []byte) (*Graph, error) {
	br := bytes.NewReader(data)
	d := msgpack.NewDecoder(br)
	tree, err := d.DecodeInterface()
	if err != nil {
		return nil, err
	}
	if br.Len() != 0 {
		return nil, errors.New("trailing bytes")
	}
	top, ok := tree.(map[string]any)
	if !ok {
		return nil, errors.New("top level is not a map with string keys")
	}
	if top["format"] != FormatTag {
		return nil, errors.New("format tag")
	}
	if v, ok := oracleInt(top["version"]); !ok || v != FormatVersion {
		return nil, errors.New("version")
	}
	o := &oracle{}
	g := &Graph{
		Name:    o.str(top["name"], true),
		Inputs:  o.infos(top["inputs"]),
		Outputs: o.infos(top["outputs"]),
	}
	for _, x := range o.list(top["nodes"]) {
		m := o.fields(x)
		n := &Node{Op: o.str(m["op"], false), Name: o.str(m["name"], true),
			Inputs: o.strs(m["inputs"]), Outputs: o.strs(m["outputs"])}
		if a, ok := m["attrs"]; ok {
			for k, v := range o.fields(a) {
				if n.Attrs == nil {
					n.Attrs = Attrs{}
				}
				n.Attrs[k] = o.attr(v)
			}
		}
		g.Nodes = append(g.Nodes, n)
	}
	for _, x := range o.list(top["tensors"]) {
		m := o.fields(x)
		t := &Tensor{Name: o.str(m["name"], true), DType: o.dtype(m["dtype"]), Shape: o.ints(m["shape"])}
		var b []byte
		switch v := m["data"].(type) {
		case []byte:
			b = v
		case string:
			b = []byte(v)
		default:
			o.bad("tensor data %T", v)
		}
		if t.DType == Float32 {
			t.Data = make([]float32, len(b)/4)
			for i := range t.Data {
				t.Data[i] = math.Float32frombits(uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24)
			}
		} else {
			t.Raw = bytes.Clone(b)
		}
		g.Tensors = append(g.Tensors, t)
	}
	if md, ok := top["metadata"]; ok {
		for k, v := range o.fields(md) {
			if g.Metadata == nil {
				g.Metadata = map[string]string{}
			}
			g.Metadata[k] = o.str(v, true)
		}
	}
	return g, o.err
}

// oracle converts msgpack/v5's generic values, keeping the first mismatch.
type oracle struct{ err error }

func (o *oracle) bad(format string, v any) {
	if o.err == nil {
		o.err = errors.New(strings.Replace(format, "%T", reflect.TypeOf(v).String(), 1))
	}
}

func oracleInt(v any) (int, bool) {
	switch x := v.(type) {
	case int8:
		return int(x), true
	case int16:
		return int(x), true
	case int32:
		return int(x), true
	case int64:
		return int(x), true
	case uint8:
		return int(x), true
	case uint16:
		return int(x), true
	case uint32:
		return int(x), true
	case uint64:
		return int(x), x <= math.MaxInt64
	}
	return 0, false
}

func (o *oracle) str(v any, missingOK bool) string {
	s, ok := v.(string)
	if !ok && !(missingOK && v == nil) {
		o.bad("want a string, got %T", v)
	}
	return s
}

func (o *oracle) list(v any) []any {
	l, ok := v.([]any)
	if !ok {
		o.bad("want a list, got %T", v)
	}
	return l
}

func (o *oracle) fields(v any) map[string]any {
	m, ok := v.(map[string]any)
	if !ok {
		o.bad("want a map with string keys, got %T", v)
	}
	return m
}

func (o *oracle) ints(v any) []int {
	if v == nil {
		return nil
	}
	l := o.list(v)
	out := make([]int, len(l))
	for i, x := range l {
		var ok bool
		if out[i], ok = oracleInt(x); !ok {
			o.bad("want an int, got %T", x)
		}
	}
	return out
}

func (o *oracle) strs(v any) []string {
	l := o.list(v)
	out := make([]string, len(l))
	for i, x := range l {
		out[i] = o.str(x, false)
	}
	return out
}

func (o *oracle) dtype(v any) DType {
	for _, d := range []DType{Float32, Int8, Int32} {
		if v == d.String() {
			return d
		}
	}
	o.bad("unknown dtype (%T)", v)
	return 0
}

func (o *oracle) infos(v any) []ValueInfo {
	l := o.list(v)
	out := make([]ValueInfo, len(l))
	for i, x := range l {
		m := o.fields(x)
		out[i] = ValueInfo{Name: o.str(m["name"], true), Shape: o.ints(m["shape"]), DType: o.dtype(m["dtype"])}
	}
	return out
}

func (o *oracle) attr(v any) any {
	if n, ok := oracleInt(v); ok {
		return n
	}
	switch x := v.(type) {
	case float32:
		return x
	case float64:
		return float32(x)
	case string:
		return x
	case []any:
		if len(x) == 0 {
			return []int{}
		}
		if _, ok := x[0].(float32); ok {
			return o.floats(x)
		}
		if _, ok := x[0].(float64); ok {
			return o.floats(x)
		}
		return o.ints(x)
	}
	o.bad("attribute of type %T", v)
	return nil
}

func (o *oracle) floats(l []any) []float32 {
	out := make([]float32, len(l))
	for i, x := range l {
		switch f := x.(type) {
		case float32:
			out[i] = f
		case float64:
			out[i] = float32(f)
		default:
			o.bad("list mixes floats with %T", x)
		}
	}
	return out
}

// sameGraph reports whether a and b are equal, with NaN weights equal to
// themselves: a graph with a NaN compares by its canonical encoding.
func sameGraph(a, b *Graph) bool {
	if !hasNaN(a) && !hasNaN(b) {
		return reflect.DeepEqual(a, b)
	}
	ea, err1 := Encode(a)
	eb, err2 := Encode(b)
	return err1 == nil && err2 == nil && bytes.Equal(ea, eb)
}

// TestEncodeMatchesMsgpack: our encoding of every zoo model is byte for byte
// what msgpack/v5's Encoder writes, so files and Digests are unchanged.
func TestEncodeMatchesMsgpack(t *testing.T) {
	for name, g := range oracleGraphs(t) {
		ours, err := Encode(g)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		theirs, err := oracleEncode(g)
		if err != nil {
			t.Fatalf("%s: msgpack/v5: %v", name, err)
		}
		if !bytes.Equal(ours, theirs) {
			i := 0
			for i < min(len(ours), len(theirs)) && ours[i] == theirs[i] {
				i++
			}
			t.Errorf("%s: encoding differs from msgpack/v5's at byte %d (lengths %d and %d)", name, i, len(ours), len(theirs))
		}
	}
}

// TestMsgpackReadsOurEncoding: msgpack/v5's generic decoder reads our
// encodings, and the tree it gets holds the format tag, the version, the node
// list and the tensor bytes of the graph we encoded.
func TestMsgpackReadsOurEncoding(t *testing.T) {
	for name, g := range oracleGraphs(t) {
		data, err := Encode(g)
		if err != nil {
			t.Fatal(err)
		}
		var tree map[string]any
		if err := msgpack.Unmarshal(data, &tree); err != nil {
			t.Fatalf("%s: msgpack/v5 cannot read our encoding: %v", name, err)
		}
		if tree["format"] != "edgenn" || tree["version"] != int8(1) {
			t.Errorf("%s: format %#v, version %#v", name, tree["format"], tree["version"])
		}
		nodes := tree["nodes"].([]any)
		if len(nodes) != len(g.Nodes) {
			t.Fatalf("%s: %d nodes, want %d", name, len(nodes), len(g.Nodes))
		}
		for i, x := range nodes {
			n := x.(map[string]any)
			if n["op"] != g.Nodes[i].Op || n["name"] != g.Nodes[i].Name {
				t.Errorf("%s: node %d is %v %v, want %s %s", name, i, n["op"], n["name"], g.Nodes[i].Op, g.Nodes[i].Name)
			}
		}
		tensors := tree["tensors"].([]any)
		if len(tensors) != len(g.Tensors) {
			t.Fatalf("%s: %d tensors, want %d", name, len(tensors), len(g.Tensors))
		}
		for i, x := range tensors {
			tm := x.(map[string]any)
			if tm["name"] != g.Tensors[i].Name || !bytes.Equal(tm["data"].([]byte), tensorBytes(g.Tensors[i])) {
				t.Errorf("%s: tensor %d (%v) differs", name, i, tm["name"])
			}
		}
		// And the whole graph, field by field.
		back, err := oracleDecode(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(back, g) {
			t.Errorf("%s: msgpack/v5 reads a different graph from our encoding", name)
		}
	}
}

// intStyle writes an int as one Go type, so that msgpack/v5 picks a width.
type intStyle func(v int) any

var intStyles = map[string]intStyle{
	// Go int with UseCompactInts: fixint, uint8..uint64, int8..int64 by value.
	"compact": func(v int) any { return v },
	// Go int64 without it: always int64 (0xd3).
	"int64": func(v int) any { return int64(v) },
	// The narrowest signed Go type: int8..int64 (0xd0..0xd3).
	"signed": func(v int) any {
		switch {
		case v == int(int8(v)):
			return int8(v)
		case v == int(int16(v)):
			return int16(v)
		case v == int(int32(v)):
			return int32(v)
		}
		return int64(v)
	},
	// Unsigned Go types where the value allows: uint8..uint64 (0xcc..0xcf).
	"unsigned": func(v int) any {
		switch {
		case v < 0:
			return int32(v)
		case v <= math.MaxUint8:
			return uint8(v)
		case v <= math.MaxUint16:
			return uint16(v)
		case v <= math.MaxUint32:
			return uint32(v)
		}
		return uint64(v)
	},
	"uint64": func(v int) any {
		if v < 0 {
			return int16(v)
		}
		return uint64(v)
	},
}

// genericFile returns the fields of g's file as Go maps and slices, with ints
// written in style, floats as float64 when wide, and tensor data as str when
// asStr, in the field order Decode needs (format, version first).
func genericFile(g *Graph, style intStyle, wide, asStr bool) []any {
	ints := func(v []int) any {
		if v == nil {
			return nil
		}
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = style(x)
		}
		return out
	}
	float := func(f float32) any {
		if wide {
			return float64(f)
		}
		return f
	}
	infos := func(vs []ValueInfo) []any {
		out := []any{}
		for _, v := range vs {
			out = append(out, map[string]any{"name": v.Name, "shape": ints(v.Shape), "dtype": v.DType.String()})
		}
		return out
	}
	nodes := []any{}
	for _, n := range g.Nodes {
		attrs := map[string]any{}
		for k, v := range n.Attrs {
			switch x := v.(type) {
			case int:
				attrs[k] = style(x)
			case float32:
				attrs[k] = float(x)
			case []int:
				attrs[k] = ints(x)
			case []float32:
				l := make([]any, len(x))
				for i, f := range x {
					l[i] = float(f)
				}
				attrs[k] = l
			default:
				attrs[k] = v
			}
		}
		nodes = append(nodes, map[string]any{"op": n.Op, "name": n.Name, "inputs": n.Inputs, "outputs": n.Outputs, "attrs": attrs})
	}
	tensors := []any{}
	for _, t := range g.Tensors {
		var data any = tensorBytes(t)
		if asStr {
			data = string(tensorBytes(t))
		}
		tensors = append(tensors, map[string]any{"name": t.Name, "dtype": t.DType.String(), "shape": ints(t.Shape), "data": data})
	}
	return []any{"format", FormatTag, "version", style(FormatVersion), "name", g.Name,
		"inputs", infos(g.Inputs), "outputs", infos(g.Outputs), "nodes", nodes, "tensors", tensors, "metadata", g.Metadata}
}

// TestDecodeReadsMsgpackEncodings: files that msgpack/v5 writes from Go maps
// and slices, with ints in every width, float32 or float64 attributes, tensor
// data as bin or str, and str8/16/32 metadata, decode to the same graph.
func TestDecodeReadsMsgpackEncodings(t *testing.T) {
	gs := map[string]*Graph{"all_ops": allOpsGraph(t), "lenet5": mustZoo(t, "lenet5")}
	// Long metadata values, so that str16 and str32 appear.
	gs["all_ops"].Metadata["str16"] = strings.Repeat("s", 300)
	gs["all_ops"].Metadata["str32"] = strings.Repeat("l", 70000)
	for name, g := range gs {
		for sname, style := range intStyles {
			for _, wide := range []bool{false, true} {
				for _, asStr := range []bool{false, true} {
					var buf bytes.Buffer
					e := msgpack.NewEncoder(&buf)
					e.UseCompactInts(sname == "compact")
					e.SetSortMapKeys(true)
					kv := genericFile(g, style, wide, asStr)
					if err := e.EncodeMapLen(len(kv) / 2); err != nil {
						t.Fatal(err)
					}
					for _, v := range kv {
						if err := e.Encode(v); err != nil {
							t.Fatal(err)
						}
					}
					back, err := Decode(buf.Bytes())
					if err != nil {
						t.Errorf("%s, ints %s, wide floats %v, data as str %v: %v", name, sname, wide, asStr, err)
						continue
					}
					if !reflect.DeepEqual(back, g) {
						t.Errorf("%s, ints %s, wide floats %v, data as str %v: decoded graph differs", name, sname, wide, asStr)
					}
				}
			}
		}
	}
}
