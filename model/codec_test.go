package model

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// allOpsGraph uses every op once, with every attribute kind, an int8 and an
// int32 tensor and metadata, so that a round trip covers the whole format.
func allOpsGraph(t testing.TB) *Graph {
	t.Helper()
	b := NewBuilder("all_ops")
	b.Metadata("labels", "a,b,c")
	b.Metadata("licence", "test")
	x := b.Input("x", []int{-1, 8, 8, 4})
	ones := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(i%7)/7 - 0.5
		}
		return v
	}
	w := b.Tensor("w", []int{3, 3, 4, 8}, ones(3*3*4*8))
	bias := b.Tensor("b", []int{8}, ones(8))
	y := b.Conv2D(x, w, bias, Conv2DOpts{Strides: [2]int{2, 2}, Padding: "SAME", Activation: "leakyrelu", Alpha: 0.2})
	dw := b.Tensor("dw", []int{3, 3, 1, 8}, ones(72))
	y = b.DepthwiseConv2D(y, dw, "", Conv2DOpts{Padding: "EXPLICIT", Pads: [4]int{1, 1, 1, 1}, Dilations: [2]int{1, 1}})
	y = b.Node(OpBatchNorm, []string{y, b.Tensor("s", []int{8}, ones(8)), b.Tensor("o", []int{8}, ones(8)),
		b.Tensor("m", []int{8}, ones(8)), b.Tensor("v", []int{8}, make([]float32, 8))}, Attrs{"epsilon": float32(1e-3), "momentum": float32(0.9)}, "")
	y = b.Node(OpDropout, []string{y}, Attrs{"rate": float32(0.1)}, "")
	y = b.Node(OpPRelu, []string{y, b.Tensor("slope", []int{8}, ones(8))}, nil, "")
	y = b.Node(OpClip, []string{y}, Attrs{"min": float32(-1), "max": 6}, "")
	y = b.MaxPool(y, PoolOpts{Kernel: [2]int{2, 2}, Strides: [2]int{1, 1}, Padding: "SAME"})
	y = b.AvgPool(y, PoolOpts{Kernel: [2]int{3, 3}, Padding: "EXPLICIT", Pads: [4]int{1, 1, 1, 1}, CountIncludePad: true})
	y = b.Node(OpResize, []string{y}, Attrs{"size": []int{8, 8}, "mode": "bilinear", "coord": "align_corners"}, "")
	y = b.Node(OpPad, []string{y}, Attrs{"pads": []int{0, 1, 1, 0, 0, 1, 1, 0}, "mode": "reflect"}, "")
	a := b.Node(OpRelu, []string{y}, nil, "")
	c := b.Node(OpSigmoid, []string{y}, nil, "")
	y = b.Node(OpConcat, []string{a, c, b.Node(OpTanh, []string{y}, nil, "")}, Attrs{"axis": -1}, "")
	y = b.Node(OpMul, []string{y, b.Node(OpHardSwish, []string{y}, nil, "")}, nil, "")
	y = b.Node(OpSub, []string{y, b.Node(OpLeakyRelu, []string{y}, Attrs{"alpha": float32(0.1)}, "")}, nil, "")
	y = b.Node(OpDiv, []string{y, b.Relu6(y, "")}, nil, "")
	y = b.Node(OpTranspose, []string{y}, Attrs{"perm": []int{0, 3, 1, 2}}, "")
	y = b.Node(OpMean, []string{y}, Attrs{"axes": []int{-1}, "keepdims": 0}, "")
	y = b.Reshape(y, []int{0, -1}, "")
	fc := b.Tensor("fc", []int{240, 10}, ones(2400))
	y = b.Dense(y, fc, "", DenseOpts{Activation: "relu6"})
	y = b.Node(OpMatMul, []string{y, b.Tensor("mm", []int{10, 6}, ones(60))}, nil, "")
	y = b.Node(OpGemm, []string{y, b.Tensor("gm", []int{5, 6}, ones(30)), b.Tensor("gc", []int{5}, ones(5))},
		Attrs{"transB": 1, "alpha": float32(0.5), "beta": 1}, "")
	pooled := b.Node(OpFlatten, []string{b.Node(OpGlobalAvgPool, []string{x}, Attrs{"keepdims": 1}, "")}, Attrs{"axis": 1}, "")
	y = b.Add(y, b.Node(OpMatMul, []string{pooled, b.Tensor("proj", []int{4, 5}, ones(20))}, nil, ""), "")
	b.Output(b.Softmax(y, ""), "probs")
	g, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	g.Tensors = append(g.Tensors,
		&Tensor{Name: "q8", DType: Int8, Shape: []int{3}, Raw: []byte{1, 2, 255}},
		&Tensor{Name: "i32", DType: Int32, Shape: []int{2}, Raw: []byte{1, 0, 0, 0, 255, 255, 255, 255}})
	return g
}

func TestRoundTrip(t *testing.T) {
	for _, name := range []string{"all_ops", "lenet5", "mobilenet_v2_035_128"} {
		var g *Graph
		if name == "all_ops" {
			g = allOpsGraph(t)
		} else {
			var err error
			if g, err = Zoo(name); err != nil {
				t.Fatal(err)
			}
		}
		data, err := Encode(g)
		if err != nil {
			t.Fatalf("%s: encode: %v", name, err)
		}
		back, err := Decode(data)
		if err != nil {
			t.Fatalf("%s: decode: %v", name, err)
		}
		if !reflect.DeepEqual(g, back) {
			t.Fatalf("%s: decoded graph differs from the original", name)
		}
		again, err := Encode(back)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("%s: re-encoding is not byte-identical (%v)", name, err)
		}
	}
}

// enc writes one msgpack map from alternating keys and values, through the
// reflection encoder, so that tests can write files the Encoder would refuse.
func enc(t testing.TB, kv ...any) []byte {
	t.Helper()
	var buf bytes.Buffer
	e := msgpack.NewEncoder(&buf)
	e.SetSortMapKeys(true) // the same bytes on every run, for the fuzz seeds
	if err := e.EncodeMapLen(len(kv) / 2); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(kv); i += 2 {
		if err := e.Encode(kv[i]); err != nil {
			t.Fatal(err)
		}
		if err := e.Encode(kv[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

type m = map[string]any

// tinyFile returns the fields of a valid file: x [-1,4] -> Dense(w [4,2]) -> y.
func tinyFile(edit func(f m)) []any {
	f := m{
		"name":     "tiny",
		"inputs":   []any{m{"name": "x", "shape": []int{-1, 4}, "dtype": "float32"}},
		"outputs":  []any{m{"name": "y", "shape": []int{-1, 2}, "dtype": "float32"}},
		"nodes":    []any{m{"op": "Dense", "name": "fc", "inputs": []string{"x", "w"}, "outputs": []string{"y"}, "attrs": m{}}},
		"tensors":  []any{m{"name": "w", "dtype": "float32", "shape": []int{4, 2}, "data": make([]byte, 32)}},
		"metadata": map[string]string{"licence": "none"},
	}
	if edit != nil {
		edit(f)
	}
	kv := []any{"format", "edgenn", "version", 1}
	for _, k := range []string{"name", "inputs", "outputs", "nodes", "tensors", "metadata"} {
		if v, ok := f[k]; ok {
			kv = append(kv, k, v)
		}
	}
	return kv
}

func node(f m) m       { return f["nodes"].([]any)[0].(m) }
func tensor(f m) m     { return f["tensors"].([]any)[0].(m) }
func addNode(f m, n m) { f["nodes"] = append(f["nodes"].([]any), n) }

func TestDecodeRejects(t *testing.T) {
	valid := enc(t, tinyFile(nil)...)
	if _, err := Decode(valid); err != nil {
		t.Fatalf("the valid tiny file does not decode: %v", err)
	}
	cases := []struct {
		name string
		data []byte
		want string // a part of the error message that names the problem
	}{
		{"empty", nil, "not an edgenn file"},
		{"not a map", []byte{0x93, 1, 2, 3}, "not an edgenn file"},
		{"wrong tag", enc(t, "format", "onnx", "version", 1), `format tag "onnx"`},
		{"format not first", enc(t, "version", 1, "format", "edgenn"), `first field is "version"`},
		{"newer version", enc(t, "format", "edgenn", "version", 2), "version 2 is newer"},
		{"version zero", enc(t, "format", "edgenn", "version", 0), "bad version 0"},
		{"version string", enc(t, "format", "edgenn", "version", "1"), "expected an integer"},
		{"missing nodes", enc(t, "format", "edgenn", "version", 1, "inputs", []any{}, "outputs", []any{}, "tensors", []any{}), `missing field "nodes"`},
		{"unknown field", enc(t, append(tinyFile(nil), "extra", 1)...), `unknown field "extra"`},
		{"duplicate field", enc(t, append(tinyFile(nil), "name", "again")...), `duplicate field "name"`},
		{"truncated", valid[:len(valid)-5], "truncated"},
		{"truncated header", valid[:3], "truncated"},
		{"trailing bytes", append(append([]byte{}, valid...), 0xc0), "trailing bytes"},
		{"unknown op", enc(t, tinyFile(func(f m) { node(f)["op"] = "Conv3D" })...), `unknown op "Conv3D"`},
		{"unknown dtype", enc(t, tinyFile(func(f m) { tensor(f)["dtype"] = "float16" })...), `unknown dtype "float16"`},
		{"shape vs bytes", enc(t, tinyFile(func(f m) { tensor(f)["data"] = make([]byte, 28) })...), "needs 32 bytes, data has 28"},
		{"zero dim", enc(t, tinyFile(func(f m) { tensor(f)["shape"] = []int{4, 0} })...), "out of range"},
		{"absurd dim", enc(t, tinyFile(func(f m) { tensor(f)["shape"] = []int{1 << 30, 1 << 30} })...), "out of range"},
		{"absurd elements", enc(t, tinyFile(func(f m) { tensor(f)["shape"] = []int{1 << 20, 1 << 20} })...), "more than 268435456 elements"},
		{"rank too high", enc(t, tinyFile(func(f m) { tensor(f)["shape"] = make([]int, 9) })...), "more than the limit 8"},
		{"dangling edge", enc(t, tinyFile(func(f m) { node(f)["inputs"] = []string{"x", "nowhere"} })...), `dangling edge: input "nowhere"`},
		{"cycle", enc(t, tinyFile(func(f m) {
			node(f)["inputs"] = []string{"z", "w"}
			addNode(f, m{"op": "Relu", "name": "r", "inputs": []string{"y"}, "outputs": []string{"z"}})
		})...), `cycle or bad order: input "z" is produced by later node "r"`},
		{"self loop", enc(t, tinyFile(func(f m) { node(f)["inputs"] = []string{"y", "w"} })...), "cycle: input \"y\" is the node's own output"},
		{"duplicate name", enc(t, tinyFile(func(f m) { node(f)["outputs"] = []string{"w"} })...), `"w": duplicate name`},
		{"output undefined", enc(t, tinyFile(func(f m) { f["outputs"] = []any{m{"name": "q", "shape": nil, "dtype": "float32"}} })...), `output "q" is not defined`},
		{"output shape", enc(t, tinyFile(func(f m) { f["outputs"] = []any{m{"name": "y", "shape": []int{-1, 3}, "dtype": "float32"}} })...), "declared shape [-1,3] but the graph computes [1,2]"},
		{"weights not constant", enc(t, tinyFile(func(f m) {
			f["inputs"] = append(f["inputs"].([]any), m{"name": "w2", "shape": []int{4, 2}, "dtype": "float32"})
			node(f)["inputs"] = []string{"x", "w2"}
		})...), "must be a constant tensor"},
		{"channel mismatch", enc(t, tinyFile(func(f m) { tensor(f)["shape"] = []int{2, 4} })...), "input has 4 features but weight [2,4] expects 2"},
		{"wrong input count", enc(t, tinyFile(func(f m) { node(f)["inputs"] = []string{"x"} })...), "has 1 inputs, want 2 to 3"},
		{"unknown attribute", enc(t, tinyFile(func(f m) { node(f)["attrs"] = m{"ceil_mode": 1} })...), `unknown attribute "ceil_mode"`},
		{"attribute type", enc(t, tinyFile(func(f m) { node(f)["attrs"] = m{"activation": 1} })...), `attribute "activation" has the wrong type`},
		{"attribute nested", enc(t, tinyFile(func(f m) { node(f)["attrs"] = m{"activation": []any{[]int{1}}} })...), "list element is not an int or float"},
		{"attribute mixed list", enc(t, tinyFile(func(f m) { node(f)["attrs"] = m{"x": []any{float32(1), 2}} })...), "list mixes floats"},
		{"attribute bool", enc(t, tinyFile(func(f m) { node(f)["attrs"] = m{"x": true} })...), "unsupported attribute value"},
		{"nodes not array", enc(t, tinyFile(func(f m) { f["nodes"] = "x" })...), "expected an array"},
		{"name not string", enc(t, tinyFile(func(f m) { node(f)["name"] = 7 })...), "expected a string"},
		{"empty node name", enc(t, tinyFile(func(f m) { node(f)["name"] = "" })...), "has an empty name"},
		{"two outputs", enc(t, tinyFile(func(f m) { node(f)["outputs"] = []string{"y", "y2"} })...), "has 2 outputs, want 1"},
		{"free dim not first", enc(t, tinyFile(func(f m) { f["inputs"] = []any{m{"name": "x", "shape": []int{1, -1}, "dtype": "float32"}} })...), "only dimension 0 may be -1"},
		{"hostile array length", hostile(valid, []byte("nodes"), []byte{0xdd, 0x7f, 0xff, 0xff, 0xff}), "more than the limit 65536"},
		{"hostile array vs bytes", hostile(valid, []byte("nodes"), []byte{0xdd, 0x00, 0x00, 0xff, 0xff}), "truncated file: array of 65535 elements"},
		{"hostile bin length", hostile(valid, []byte("data"), []byte{0xc6, 0x3f, 0xff, 0xff, 0xff}), "truncated file: 1073741823 bytes wanted"},
		{"hostile bin over limit", hostile(valid, []byte("data"), []byte{0xc6, 0xff, 0xff, 0xff, 0xff}), "more than the limit 1073741824"},
		{"hostile string length", hostile(valid, []byte("name"), []byte{0xdb, 0x7f, 0xff, 0xff, 0xff}), "bytes, more than the limit 4096"},
		{"hostile map length", hostile(valid, []byte("metadata"), []byte{0xdf, 0x00, 0x00, 0xff, 0xff}), "map of 65535 entries, more than the limit 1024"},
		{"ext type", hostile(valid, []byte("metadata"), []byte{0xd4, 0x01, 0x00}), "expected a map, found msgpack type 0xd4 (ext"},
		{"ext attribute", enc(t, tinyFile(func(f m) { node(f)["attrs"] = m{"x": m{}} })...), "unsupported attribute value, msgpack type 0x80 (map)"},
		{"uint64 beyond int64", hostile(valid, []byte("version"), []byte{0xcf, 0x80, 0, 0, 0, 0, 0, 0, 1}), "version: integer out of range (at byte 23)"},
		{"truncated int", hostile(valid, []byte("version"), []byte{0xd2, 0, 0}), "version: truncated file (at byte 23)"},
		{"never-used type byte", hostile(valid, []byte("name"), []byte{0xc1}), "expected a string, found msgpack type 0xc1 (never used by msgpack)"},
	}
	for _, c := range cases {
		g, err := Decode(c.data)
		if err == nil {
			t.Errorf("%s: decoded (%v), want an error naming %q", c.name, g != nil, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not name %q", c.name, err, c.want)
		}
		if !strings.HasPrefix(err.Error(), "enn: ") {
			t.Errorf("%s: error %q lacks the enn: prefix", c.name, err)
		}
	}
}

// hostile returns data with the value after the msgpack string key replaced
// by header (a hostile length with nothing behind it); the rest is dropped.
func hostile(data, key, header []byte) []byte {
	k := append([]byte{0xa0 | byte(len(key))}, key...)
	i := bytes.LastIndex(data, k)
	if i < 0 {
		panic("key not found")
	}
	out := append([]byte{}, data[:i+len(k)]...)
	return append(out, header...)
}

func TestDecodeCopiesInput(t *testing.T) {
	g := allOpsGraph(t)
	data, err := Encode(g)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	for i := range data {
		data[i] = 0
	}
	if !reflect.DeepEqual(g, back) {
		t.Fatal("decoded graph aliases the input bytes")
	}
}
