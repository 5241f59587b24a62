package model

import (
	"errors"
	"math"
	"slices"
	"strconv"

	"github.com/edgenn/edgenn/internal/msgp"
)

// The .enn file: one msgpack map.
//
//	"format":   "edgenn" (first key)
//	"version":  1        (second key)
//	"name":     string
//	"inputs", "outputs": [{"name", "shape": [int] (output shape may be nil), "dtype": "float32"|"int8"|"int32"}]
//	"nodes":    [{"op", "name", "inputs": [string], "outputs": [string], "attrs": {string: value}}]
//	"tensors":  [{"name", "dtype", "shape": [int], "data": bin (raw little-endian)}]
//	"metadata": {string: string}
//
// An attribute value is an int, a float (float32 or float64 on the wire, float32
// in memory), a string, or a flat list of ints or of floats; an empty list reads
// back as []int{}. The encoder writes map keys in a fixed order (attributes and
// metadata sorted) so that the same graph always gives the same bytes and so
// the same Digest.

// FormatTag and FormatVersion identify the .enn files this package reads and writes.
const (
	FormatTag     = "edgenn"
	FormatVersion = 1
)

// Encode validates g and returns its .enn encoding.
func Encode(g *Graph) ([]byte, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	w := &writer{msgp.Writer{Buf: make([]byte, 0, encodedSizeHint(g))}}
	w.MapLen(8)
	w.Str("format")
	w.Str(FormatTag)
	w.Str("version")
	w.int(FormatVersion)
	w.Str("name")
	w.Str(g.Name)
	w.Str("inputs")
	w.valueInfos(g.Inputs)
	w.Str("outputs")
	w.valueInfos(g.Outputs)
	w.Str("nodes")
	w.ArrayLen(len(g.Nodes))
	for _, n := range g.Nodes {
		w.node(n)
	}
	w.Str("tensors")
	w.ArrayLen(len(g.Tensors))
	for _, t := range g.Tensors {
		w.tensor(t)
	}
	w.Str("metadata")
	keys := sortedKeys(g.Metadata)
	w.MapLen(len(keys))
	for _, k := range keys {
		w.Str(k)
		w.Str(g.Metadata[k])
	}
	if err := w.Err(); err != nil {
		return nil, errors.New("enn: encode: " + err.Error())
	}
	return w.Buf, nil
}

func encodedSizeHint(g *Graph) int {
	n := 1024 + 256*len(g.Nodes)
	for _, t := range g.Tensors {
		n += 64 + len(t.Name) + t.NumElements()*t.DType.Size()
	}
	return n
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// writer writes the parts of a .enn file, keeping the first error.
type writer struct{ msgp.Writer }

func (w *writer) int(v int)       { w.Int(int64(v)) }
func (w *writer) float(v float32) { w.Float32(v) }
func (w *writer) dtype(d DType)   { w.Str(d.String()) }
func (w *writer) strs(ss []string) {
	w.ArrayLen(len(ss))
	for _, s := range ss {
		w.Str(s)
	}
}
func (w *writer) ints(v []int) {
	w.ArrayLen(len(v))
	for _, x := range v {
		w.int(x)
	}
}
func (w *writer) floats(v []float32) {
	w.ArrayLen(len(v))
	for _, x := range v {
		w.float(x)
	}
}

func (w *writer) valueInfos(vs []ValueInfo) {
	w.ArrayLen(len(vs))
	for _, v := range vs {
		w.MapLen(3)
		w.Str("name")
		w.Str(v.Name)
		w.Str("shape")
		if v.Shape == nil {
			w.Nil()
		} else {
			w.ints(v.Shape)
		}
		w.Str("dtype")
		w.dtype(v.DType)
	}
}

func (w *writer) node(n *Node) {
	w.MapLen(5)
	w.Str("op")
	w.Str(n.Op)
	w.Str("name")
	w.Str(n.Name)
	w.Str("inputs")
	w.strs(n.Inputs)
	w.Str("outputs")
	w.strs(n.Outputs)
	w.Str("attrs")
	keys := sortedKeys(n.Attrs)
	w.MapLen(len(keys))
	for _, k := range keys {
		w.Str(k)
		switch v := n.Attrs[k].(type) {
		case int:
			w.int(v)
		case float32:
			w.float(v)
		case string:
			w.Str(v)
		case []int:
			w.ints(v)
		case []float32:
			w.floats(v)
		default:
			w.Fail("node " + strconv.Quote(n.Name) + ": attribute " + strconv.Quote(k) + " has an unsupported type")
		}
	}
}

func (w *writer) tensor(t *Tensor) {
	w.MapLen(4)
	w.Str("name")
	w.Str(t.Name)
	w.Str("dtype")
	w.dtype(t.DType)
	w.Str("shape")
	w.ints(t.Shape)
	w.Str("data")
	if t.DType != Float32 {
		w.Bin(t.Raw)
		return
	}
	// The float32 payload goes straight into the output: a bin header, then
	// the little-endian bytes.
	w.BinHeader(4 * len(t.Data))
	for _, v := range t.Data {
		u := math.Float32bits(v)
		w.Buf = append(w.Buf, byte(u), byte(u>>8), byte(u>>16), byte(u>>24))
	}
}

// Decode reads a .enn file and validates the graph. It rejects, with an error
// that names the problem, a wrong format tag or newer version, truncated or
// corrupt bytes, an unknown op, a shape that disagrees with its data, a
// dangling edge, a cycle and sizes beyond the Max* limits; it checks every size
// it reads against those limits and against the bytes that remain before it
// allocates. It never panics. The graph does not alias data.
func Decode(data []byte) (*Graph, error) {
	if len(data) > MaxFileBytes {
		return nil, errors.New("enn: file of " + itoa(len(data)) + " bytes is larger than the limit " + itoa(MaxFileBytes))
	}
	r := &reader{msgp.NewReader(data)}
	g, err := r.graph()
	if err != nil {
		return nil, errors.New("enn: " + err.Error())
	}
	if err := g.Validate(); err != nil {
		return nil, errors.New("enn: " + err.Error())
	}
	return g, nil
}

// reader decodes the parts of a .enn file, checking every type byte against
// what the format expects there and every length against the limits and
// against the bytes that remain.
type reader struct{ msgp.Reader }

// failAt reports a problem with the value that starts at byte off.
func (r *reader) failAt(where, msg string, off int) error {
	return errors.New(where + ": " + msg + " (at byte " + itoa(off) + ")")
}

func (r *reader) fail(where, msg string) error { return r.failAt(where, msg, r.Offset()) }

// wrap names where an error of the msgpack layer (truncation, an integer
// out of range) happened.
func (r *reader) wrap(where string, err error, off int) error {
	if errors.Is(err, msgp.ErrTruncated) {
		return r.failAt(where, "truncated file", off)
	}
	return r.failAt(where, err.Error(), off)
}

func (r *reader) peek(where string) (byte, error) {
	c, err := r.Reader.Peek()
	if err != nil {
		return 0, r.wrap(where, err, r.Offset())
	}
	return c, nil
}

// expect peeks at the next type byte and checks that it starts a value of
// kind want, which the error calls what.
func (r *reader) expect(where string, want msgp.Kind, what string) error {
	c, err := r.peek(where)
	if err != nil {
		return err
	}
	if msgp.KindOf(c) != want {
		return r.fail(where, "expected "+what+", found "+msgp.TypeName(c))
	}
	return nil
}

// mapLen reads a map header of at most limit entries.
func (r *reader) mapLen(where string, limit int) (int, error) {
	if err := r.expect(where, msgp.KindMap, "a map"); err != nil {
		return 0, err
	}
	at := r.Offset()
	n, err := r.Length(msgp.KindMap)
	if err != nil {
		return 0, r.wrap(where, err, at)
	}
	if n > limit {
		return 0, r.failAt(where, "map of "+itoa(n)+" entries, more than the limit "+itoa(limit), at)
	}
	if 2*n > r.Remaining() {
		return 0, r.failAt(where, "truncated file: map of "+itoa(n)+" entries in "+itoa(r.Remaining())+" bytes", at)
	}
	return n, nil
}

// arrayLen reads an array header of at most limit elements.
func (r *reader) arrayLen(where string, limit int) (int, error) {
	if err := r.expect(where, msgp.KindArray, "an array"); err != nil {
		return 0, err
	}
	at := r.Offset()
	n, err := r.Length(msgp.KindArray)
	if err != nil {
		return 0, r.wrap(where, err, at)
	}
	if n > limit {
		return 0, r.failAt(where, "array of "+itoa(n)+" elements, more than the limit "+itoa(limit), at)
	}
	if n > r.Remaining() {
		return 0, r.failAt(where, "truncated file: array of "+itoa(n)+" elements in "+itoa(r.Remaining())+" bytes", at)
	}
	return n, nil
}

// raw reads a str (or, unless wantStr, a bin) of at most limit bytes and
// returns the payload as a sub-slice of the input.
func (r *reader) raw(where string, limit int, wantStr bool) ([]byte, error) {
	c, err := r.peek(where)
	if err != nil {
		return nil, err
	}
	k := msgp.KindOf(c)
	if wantStr && k != msgp.KindStr {
		return nil, r.fail(where, "expected a string, found "+msgp.TypeName(c))
	}
	if !wantStr && k != msgp.KindStr && k != msgp.KindBin {
		return nil, r.fail(where, "expected bytes, found "+msgp.TypeName(c))
	}
	at := r.Offset()
	n, err := r.Length(k)
	if err != nil {
		return nil, r.wrap(where, err, at)
	}
	if n > limit {
		return nil, r.failAt(where, itoa(n)+" bytes, more than the limit "+itoa(limit), at)
	}
	if n > r.Remaining() {
		return nil, r.failAt(where, "truncated file: "+itoa(n)+" bytes wanted, "+itoa(r.Remaining())+" left", at)
	}
	return r.Bytes(n), nil
}

func (r *reader) str(where string, limit int) (string, error) {
	b, err := r.raw(where, limit, true)
	return string(b), err
}

func (r *reader) int(where string) (int, error) {
	if err := r.expect(where, msgp.KindInt, "an integer"); err != nil {
		return 0, err
	}
	at := r.Offset()
	v, err := r.Reader.Int()
	if err != nil {
		return 0, r.wrap(where, err, at)
	}
	if int64(int(v)) != v {
		return 0, r.failAt(where, "integer out of range", at)
	}
	return int(v), nil
}

func (r *reader) float(where string) (float32, error) {
	if err := r.expect(where, msgp.KindFloat, "a float"); err != nil {
		return 0, err
	}
	at := r.Offset()
	v, err := r.Reader.Float32()
	if err != nil {
		return 0, r.wrap(where, err, at)
	}
	return v, nil
}

func (r *reader) ints(where string, limit int) ([]int, error) {
	n, err := r.arrayLen(where, limit)
	if err != nil {
		return nil, err
	}
	v := make([]int, n)
	for i := range v {
		if v[i], err = r.int(where); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func (r *reader) strs(where string, limit int) ([]string, error) {
	n, err := r.arrayLen(where, limit)
	if err != nil {
		return nil, err
	}
	v := make([]string, n)
	for i := range v {
		if v[i], err = r.str(where, MaxNameLen); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// shape reads a shape; nil on the wire gives a nil shape when nilOK.
func (r *reader) shape(where string, nilOK bool) ([]int, error) {
	if c, err := r.peek(where); err != nil {
		return nil, err
	} else if c == msgp.NilByte && nilOK {
		return nil, r.Nil()
	}
	return r.ints(where, MaxRank)
}

func (r *reader) dtype(where string) (DType, error) {
	s, err := r.str(where, MaxNameLen)
	if err != nil {
		return 0, err
	}
	for _, d := range []DType{Float32, Int8, Int32} {
		if s == d.String() {
			return d, nil
		}
	}
	return 0, r.fail(where, "unknown dtype "+quoteShort(s))
}

// keys reads a map of n entries whose keys must be distinct members of allowed,
// calling field for each value.
func (r *reader) fields(where string, allowed []string, field func(key, where string) error) error {
	n, err := r.mapLen(where, MaxAttrs) // extra entries are unknown or duplicate fields, reported below
	if err != nil {
		return err
	}
	var seen uint32
	for i := 0; i < n; i++ {
		k, err := r.str(where+" key", MaxNameLen)
		if err != nil {
			return err
		}
		idx := slices.Index(allowed, k)
		if idx < 0 {
			return r.fail(where, "unknown field "+quoteShort(k))
		}
		if seen&(1<<idx) != 0 {
			return r.fail(where, "duplicate field "+strconv.Quote(k))
		}
		seen |= 1 << idx
		if err := field(k, where+"."+k); err != nil {
			return err
		}
	}
	return nil
}

var topFields = []string{"format", "version", "name", "inputs", "outputs", "nodes", "tensors", "metadata"}

func (r *reader) graph() (*Graph, error) {
	c, err := r.peek("file")
	if err != nil {
		return nil, errors.New("not an edgenn file: empty or truncated")
	}
	if msgp.KindOf(c) != msgp.KindMap {
		return nil, errors.New("not an edgenn file: does not start with a msgpack map")
	}
	g := &Graph{}
	var seen []string
	err = r.fields("file", topFields, func(k, where string) error {
		var err error
		switch {
		case len(seen) == 0 && k != "format":
			return errors.New("not an edgenn file: first field is " + quoteShort(k) + ", not \"format\"")
		case len(seen) == 1 && k != "version":
			return r.fail("file", "second field is "+quoteShort(k)+", not \"version\"")
		}
		seen = append(seen, k)
		switch k {
		case "format":
			var tag string
			tag, err = r.str(where, 64)
			if err == nil && tag != FormatTag {
				return errors.New("not an edgenn file: format tag " + quoteShort(tag) + ", want \"" + FormatTag + "\"")
			}
		case "version":
			var v int
			v, err = r.int(where)
			if err == nil && v > FormatVersion {
				return errors.New("file version " + itoa(v) + " is newer than this reader (version " + itoa(FormatVersion) + ")")
			}
			if err == nil && v < 1 {
				return r.fail(where, "bad version "+itoa(v))
			}
		case "name":
			g.Name, err = r.str(where, MaxNameLen)
		case "inputs":
			g.Inputs, err = r.valueInfos(where)
		case "outputs":
			g.Outputs, err = r.valueInfos(where)
		case "nodes":
			g.Nodes, err = r.nodes(where)
		case "tensors":
			g.Tensors, err = r.tensors(where)
		case "metadata":
			g.Metadata, err = r.metadata(where)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, k := range []string{"format", "version", "inputs", "outputs", "nodes", "tensors"} {
		if !slices.Contains(seen, k) {
			return nil, errors.New("file: missing field \"" + k + "\"")
		}
	}
	if r.Remaining() != 0 {
		return nil, r.fail("file", itoa(r.Remaining())+" trailing bytes after the model")
	}
	return g, nil
}

func (r *reader) valueInfos(where string) ([]ValueInfo, error) {
	n, err := r.arrayLen(where, MaxIO)
	if err != nil {
		return nil, err
	}
	vs := make([]ValueInfo, n)
	for i := range vs {
		v := &vs[i]
		w := where + "[" + itoa(i) + "]"
		err := r.fields(w, []string{"name", "shape", "dtype"}, func(k, where string) error {
			var err error
			switch k {
			case "name":
				v.Name, err = r.str(where, MaxNameLen)
			case "shape":
				v.Shape, err = r.shape(where, true)
			case "dtype":
				v.DType, err = r.dtype(where)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return vs, nil
}

func (r *reader) nodes(where string) ([]*Node, error) {
	n, err := r.arrayLen(where, MaxNodes)
	if err != nil {
		return nil, err
	}
	nodes := make([]*Node, n)
	for i := range nodes {
		nd := &Node{}
		nodes[i] = nd
		w := where + "[" + itoa(i) + "]"
		err := r.fields(w, []string{"op", "name", "inputs", "outputs", "attrs"}, func(k, where string) error {
			var err error
			switch k {
			case "op":
				nd.Op, err = r.str(where, MaxNameLen)
			case "name":
				nd.Name, err = r.str(where, MaxNameLen)
			case "inputs":
				nd.Inputs, err = r.strs(where, MaxNodeInputs)
			case "outputs":
				nd.Outputs, err = r.strs(where, MaxNodeInputs)
			case "attrs":
				nd.Attrs, err = r.attrs(where)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return nodes, nil
}

func (r *reader) attrs(where string) (Attrs, error) {
	n, err := r.mapLen(where, MaxAttrs)
	if err != nil || n == 0 {
		return nil, err
	}
	a := make(Attrs, n)
	for i := 0; i < n; i++ {
		k, err := r.str(where+" key", MaxNameLen)
		if err != nil {
			return nil, err
		}
		if _, dup := a[k]; dup {
			return nil, r.fail(where, "duplicate attribute "+quoteShort(k))
		}
		w := where + "." + k
		c, err := r.peek(w)
		if err != nil {
			return nil, err
		}
		switch msgp.KindOf(c) {
		case msgp.KindInt:
			a[k], err = r.int(w)
		case msgp.KindFloat:
			a[k], err = r.float(w)
		case msgp.KindStr:
			a[k], err = r.str(w, MaxAttrLen)
		case msgp.KindArray:
			a[k], err = r.list(w)
		default:
			return nil, r.fail(w, "unsupported attribute value, "+msgp.TypeName(c))
		}
		if err != nil {
			return nil, err
		}
	}
	return a, nil
}

// list reads a flat list of ints ([]int, also for the empty list) or floats.
func (r *reader) list(where string) (any, error) {
	n, err := r.arrayLen(where, MaxAttrLen)
	if err != nil || n == 0 {
		return []int{}, err
	}
	c, err := r.peek(where)
	if err != nil {
		return nil, err
	}
	if msgp.KindOf(c) == msgp.KindFloat {
		v := make([]float32, n)
		for i := range v {
			if c, err := r.peek(where); err != nil {
				return nil, err
			} else if msgp.KindOf(c) != msgp.KindFloat {
				return nil, r.fail(where, "list mixes floats with "+msgp.TypeName(c))
			}
			if v[i], err = r.float(where); err != nil {
				return nil, err
			}
		}
		return v, nil
	}
	if msgp.KindOf(c) != msgp.KindInt {
		return nil, r.fail(where, "list element is not an int or float, "+msgp.TypeName(c))
	}
	v := make([]int, n)
	for i := range v {
		if v[i], err = r.int(where); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func (r *reader) tensors(where string) ([]*Tensor, error) {
	n, err := r.arrayLen(where, MaxTensors)
	if err != nil {
		return nil, err
	}
	ts := make([]*Tensor, n)
	total := 0
	for i := range ts {
		t := &Tensor{}
		ts[i] = t
		w := where + "[" + itoa(i) + "]"
		var data []byte
		hasData := false
		err := r.fields(w, []string{"name", "dtype", "shape", "data"}, func(k, where string) error {
			var err error
			switch k {
			case "name":
				t.Name, err = r.str(where, MaxNameLen)
			case "dtype":
				t.DType, err = r.dtype(where)
			case "shape":
				t.Shape, err = r.shape(where, false)
			case "data":
				data, err = r.raw(where, MaxTotalBytes, false)
				hasData = true
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		w = "tensor " + strconv.Quote(t.Name)
		if t.DType == 0 || !hasData {
			return nil, errors.New(w + ": missing dtype or data")
		}
		if err := checkShape(t.Shape); err != nil {
			return nil, errors.New(w + ": " + err.Error())
		}
		want := t.NumElements() * t.DType.Size()
		if len(data) != want {
			return nil, errors.New(w + ": shape " + ShapeString(t.Shape) + " of " + t.DType.String() +
				" needs " + itoa(want) + " bytes, data has " + itoa(len(data)))
		}
		if total += want; total > MaxTotalBytes {
			return nil, errors.New(w + ": tensors hold more than " + itoa(MaxTotalBytes) + " bytes")
		}
		if t.DType != Float32 {
			t.Raw = slices.Clone(data)
			continue
		}
		t.Data = make([]float32, len(data)/4)
		for j := range t.Data {
			b := data[4*j : 4*j+4]
			t.Data[j] = math.Float32frombits(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24)
		}
	}
	return ts, nil
}

func (r *reader) metadata(where string) (map[string]string, error) {
	n, err := r.mapLen(where, MaxMetadata)
	if err != nil || n == 0 {
		return nil, err
	}
	m := make(map[string]string, n)
	for i := 0; i < n; i++ {
		k, err := r.str(where+" key", MaxNameLen)
		if err != nil {
			return nil, err
		}
		if _, dup := m[k]; dup {
			return nil, r.fail(where, "duplicate key "+quoteShort(k))
		}
		if m[k], err = r.str(where+"."+k, MaxMetadataBytes); err != nil {
			return nil, err
		}
	}
	return m, nil
}
