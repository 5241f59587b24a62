package model

import (
	"errors"
	"math"
	"slices"
	"strconv"
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
	w := &writer{mpWriter{buf: make([]byte, 0, encodedSizeHint(g))}}
	w.mapLen(8)
	w.str("format")
	w.str(FormatTag)
	w.str("version")
	w.int(FormatVersion)
	w.str("name")
	w.str(g.Name)
	w.str("inputs")
	w.valueInfos(g.Inputs)
	w.str("outputs")
	w.valueInfos(g.Outputs)
	w.str("nodes")
	w.arrayLen(len(g.Nodes))
	for _, n := range g.Nodes {
		w.node(n)
	}
	w.str("tensors")
	w.arrayLen(len(g.Tensors))
	for _, t := range g.Tensors {
		w.tensor(t)
	}
	w.str("metadata")
	keys := sortedKeys(g.Metadata)
	w.mapLen(len(keys))
	for _, k := range keys {
		w.str(k)
		w.str(g.Metadata[k])
	}
	if w.err != nil {
		return nil, errors.New("enn: encode: " + w.err.Error())
	}
	return w.buf, nil
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
type writer struct{ mpWriter }

func (w *writer) int(v int)       { w.mpWriter.int(int64(v)) }
func (w *writer) float(v float32) { w.float32(v) }
func (w *writer) dtype(d DType)   { w.str(d.String()) }
func (w *writer) strs(ss []string) {
	w.arrayLen(len(ss))
	for _, s := range ss {
		w.str(s)
	}
}
func (w *writer) ints(v []int) {
	w.arrayLen(len(v))
	for _, x := range v {
		w.int(x)
	}
}
func (w *writer) floats(v []float32) {
	w.arrayLen(len(v))
	for _, x := range v {
		w.float(x)
	}
}

func (w *writer) valueInfos(vs []ValueInfo) {
	w.arrayLen(len(vs))
	for _, v := range vs {
		w.mapLen(3)
		w.str("name")
		w.str(v.Name)
		w.str("shape")
		if v.Shape == nil {
			w.nil()
		} else {
			w.ints(v.Shape)
		}
		w.str("dtype")
		w.dtype(v.DType)
	}
}

func (w *writer) node(n *Node) {
	w.mapLen(5)
	w.str("op")
	w.str(n.Op)
	w.str("name")
	w.str(n.Name)
	w.str("inputs")
	w.strs(n.Inputs)
	w.str("outputs")
	w.strs(n.Outputs)
	w.str("attrs")
	keys := sortedKeys(n.Attrs)
	w.mapLen(len(keys))
	for _, k := range keys {
		w.str(k)
		switch v := n.Attrs[k].(type) {
		case int:
			w.int(v)
		case float32:
			w.float(v)
		case string:
			w.str(v)
		case []int:
			w.ints(v)
		case []float32:
			w.floats(v)
		default:
			w.fail("node " + strconv.Quote(n.Name) + ": attribute " + strconv.Quote(k) + " has an unsupported type")
		}
	}
}

func (w *writer) tensor(t *Tensor) {
	w.mapLen(4)
	w.str("name")
	w.str(t.Name)
	w.str("dtype")
	w.dtype(t.DType)
	w.str("shape")
	w.ints(t.Shape)
	w.str("data")
	if t.DType != Float32 {
		w.bin(t.Raw)
		return
	}
	// The float32 payload goes straight into the output: a bin header, then
	// the little-endian bytes.
	w.header(4*len(t.Data), 0, -1, mpBin8, mpBin16, mpBin32)
	for _, v := range t.Data {
		u := math.Float32bits(v)
		w.buf = append(w.buf, byte(u), byte(u>>8), byte(u>>16), byte(u>>24))
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
	r := &reader{mpReader{data: data}}
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
type reader struct{ mpReader }

// failAt reports a problem with the value that starts at byte off.
func (r *reader) failAt(where, msg string, off int) error {
	return errors.New(where + ": " + msg + " (at byte " + itoa(off) + ")")
}

func (r *reader) fail(where, msg string) error { return r.failAt(where, msg, r.off) }

// wrap names where an error of the msgpack layer (truncation, an integer
// out of range) happened.
func (r *reader) wrap(where string, err error, off int) error {
	return r.failAt(where, err.Error(), off)
}

func (r *reader) peek(where string) (byte, error) {
	c, err := r.mpReader.peek()
	if err != nil {
		return 0, r.wrap(where, err, r.off)
	}
	return c, nil
}

// expect peeks at the next type byte and checks that it starts a value of
// kind want, which the error calls what.
func (r *reader) expect(where string, want mpKind, what string) error {
	c, err := r.peek(where)
	if err != nil {
		return err
	}
	if mpKindOf(c) != want {
		return r.fail(where, "expected "+what+", found "+mpTypeName(c))
	}
	return nil
}

// mapLen reads a map header of at most limit entries.
func (r *reader) mapLen(where string, limit int) (int, error) {
	if err := r.expect(where, mpKindMap, "a map"); err != nil {
		return 0, err
	}
	at := r.off
	n, err := r.length(mpKindMap)
	if err != nil {
		return 0, r.wrap(where, err, at)
	}
	if n > limit {
		return 0, r.failAt(where, "map of "+itoa(n)+" entries, more than the limit "+itoa(limit), at)
	}
	if 2*n > r.remaining() {
		return 0, r.failAt(where, "truncated file: map of "+itoa(n)+" entries in "+itoa(r.remaining())+" bytes", at)
	}
	return n, nil
}

// arrayLen reads an array header of at most limit elements.
func (r *reader) arrayLen(where string, limit int) (int, error) {
	if err := r.expect(where, mpKindArray, "an array"); err != nil {
		return 0, err
	}
	at := r.off
	n, err := r.length(mpKindArray)
	if err != nil {
		return 0, r.wrap(where, err, at)
	}
	if n > limit {
		return 0, r.failAt(where, "array of "+itoa(n)+" elements, more than the limit "+itoa(limit), at)
	}
	if n > r.remaining() {
		return 0, r.failAt(where, "truncated file: array of "+itoa(n)+" elements in "+itoa(r.remaining())+" bytes", at)
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
	k := mpKindOf(c)
	if wantStr && k != mpKindStr {
		return nil, r.fail(where, "expected a string, found "+mpTypeName(c))
	}
	if !wantStr && k != mpKindStr && k != mpKindBin {
		return nil, r.fail(where, "expected bytes, found "+mpTypeName(c))
	}
	at := r.off
	n, err := r.length(k)
	if err != nil {
		return nil, r.wrap(where, err, at)
	}
	if n > limit {
		return nil, r.failAt(where, itoa(n)+" bytes, more than the limit "+itoa(limit), at)
	}
	if n > r.remaining() {
		return nil, r.failAt(where, "truncated file: "+itoa(n)+" bytes wanted, "+itoa(r.remaining())+" left", at)
	}
	return r.bytes(n), nil
}

func (r *reader) str(where string, limit int) (string, error) {
	b, err := r.raw(where, limit, true)
	return string(b), err
}

func (r *reader) int(where string) (int, error) {
	if err := r.expect(where, mpKindInt, "an integer"); err != nil {
		return 0, err
	}
	at := r.off
	v, err := r.mpReader.int()
	if err != nil {
		return 0, r.wrap(where, err, at)
	}
	if int64(int(v)) != v {
		return 0, r.failAt(where, "integer out of range", at)
	}
	return int(v), nil
}

func (r *reader) float(where string) (float32, error) {
	if err := r.expect(where, mpKindFloat, "a float"); err != nil {
		return 0, err
	}
	at := r.off
	v, err := r.mpReader.float()
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
	} else if c == mpNil && nilOK {
		return nil, r.nil()
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
	if mpKindOf(c) != mpKindMap {
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
	if r.remaining() != 0 {
		return nil, r.fail("file", itoa(r.remaining())+" trailing bytes after the model")
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
		switch mpKindOf(c) {
		case mpKindInt:
			a[k], err = r.int(w)
		case mpKindFloat:
			a[k], err = r.float(w)
		case mpKindStr:
			a[k], err = r.str(w, MaxAttrLen)
		case mpKindArray:
			a[k], err = r.list(w)
		default:
			return nil, r.fail(w, "unsupported attribute value, "+mpTypeName(c))
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
	if mpKindOf(c) == mpKindFloat {
		v := make([]float32, n)
		for i := range v {
			if c, err := r.peek(where); err != nil {
				return nil, err
			} else if mpKindOf(c) != mpKindFloat {
				return nil, r.fail(where, "list mixes floats with "+mpTypeName(c))
			}
			if v[i], err = r.float(where); err != nil {
				return nil, err
			}
		}
		return v, nil
	}
	if mpKindOf(c) != mpKindInt {
		return nil, r.fail(where, "list element is not an int or float, "+mpTypeName(c))
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
