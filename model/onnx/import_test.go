package onnx

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgenn/edgenn/model"
)

// TestUnsupportedListsAll: every node Import cannot map is in the report and
// the error, not just the first; a supported node that only depends on a
// refused one is not blamed.
func TestUnsupportedListsAll(t *testing.T) {
	m := newModel("bad", 13)
	m.input("x", 1, 3, 4, 4)
	e := m.node("Elu", []string{"x"}, "e")
	ls := m.node("LogSoftmax", []string{e}, "ls")
	r := m.node("Relu", []string{ls}, "r")
	m.node("Erf", []string{r}, "erf")
	m.node("Conv", []string{"x", "x"}, "cw")
	m.node("Custom", []string{"x"}, "cu")
	m.nodes[len(m.nodes)-1].str(fNodeDomain, "com.example")
	m.output("erf")
	m.output("cw")
	m.output("cu")
	g, rep, err := Import(m.bytes())
	if err == nil || g != nil {
		t.Fatalf("Import = %v, %v; want an error and no graph", g, err)
	}
	want := map[string]string{"e_node": "Elu", "ls_node": "LogSoftmax", "erf_node": "Erf", "cw_node": "Conv", "cu_node": "com.example.Custom"}
	if len(rep.Unsupported) != len(want) {
		t.Errorf("unsupported %+v, want %d nodes", rep.Unsupported, len(want))
	}
	for _, u := range rep.Unsupported {
		if want[u.Node] != u.Op {
			t.Errorf("unexpected refusal %+v", u)
		}
		if !strings.Contains(err.Error(), `"`+u.Node+`"`) {
			t.Errorf("error does not name node %s:\n%v", u.Node, err)
		}
	}
	if !strings.Contains(err.Error(), "must be a constant") || !strings.Contains(err.Error(), "com.example") {
		t.Errorf("error lacks the reasons:\n%v", err)
	}
}

// modelWith returns a one-Conv model whose weight initializer is w.
func modelWith(w *pb, opset int64) []byte {
	m := newModel("m", opset)
	m.input("x", 1, 1, 4, 4)
	m.inits = append(m.inits, w)
	m.node("Conv", []string{"x", "w"}, "y")
	m.output("y")
	return m.bytes()
}

// TestBadModels: broken, hostile or unsupported files give an error that
// names the place, the node or the tensor at fault; never a panic.
func TestBadModels(t *testing.T) {
	good := tFloat("w", []int{1, 1, 1, 1}, []float32{2})
	ext := tFloat("w", []int{1, 1, 1, 1}, []float32{2}).varint(fTensorLocation, 1)
	short := new(pb).varint(fTensorDims, 2).varint(fTensorDims, 2).varint(fTensorDataType, dtFloat).str(fTensorName, "w").raw(fTensorRaw, make([]byte, 12))
	huge := new(pb).varint(fTensorDims, 1<<20).varint(fTensorDims, 1<<20).varint(fTensorDataType, dtFloat).str(fTensorName, "w")
	str := new(pb).varint(fTensorDims, 1).varint(fTensorDataType, dtString).str(fTensorName, "w")
	valid := modelWith(good, 13)

	symbolic := newModel("m", 13)
	symbolic.inputs = append(symbolic.inputs, valueInfoPB("x", dtFloat, []int{1, 3, -1, 4}))
	symbolic.node("Relu", []string{"x"}, "y")
	symbolic.output("y")

	ints := newModel("m", 13)
	ints.inputs = append(ints.inputs, valueInfoPB("ids", dtInt64, []int{1, 8}))
	ints.node("Relu", []string{"ids"}, "y")
	ints.output("y")

	order := newModel("m", 13)
	order.input("x", 1, 4)
	order.node("Relu", []string{"later"}, "y")
	order.node("Relu", []string{"x"}, "later")
	order.output("y")

	missing := newModel("m", 13)
	missing.input("x", 1, 4)
	missing.node("Relu", []string{"x"}, "y")
	missing.output("z")

	twice := newModel("m", 13)
	twice.input("x", 1, 4)
	twice.node("Relu", []string{"x"}, "y")
	twice.node("Sigmoid", []string{"x"}, "y")
	twice.output("y")

	for _, c := range []struct {
		name string
		data []byte
		want []string
	}{
		{"empty", nil, []string{"no graph"}},
		{"truncated", valid[:len(valid)-3], []string{"bad protobuf at model.graph"}},
		{"hostile length", append([]byte{0x3a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f}, valid...), []string{"runs past the end"}},
		{"long varint", []byte{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, []string{"varint"}},
		{"group wire type", []byte{0x0b, 0x0c}, []string{"wire type 3"}},
		{"external data", modelWith(ext, 13), []string{`"y_node"`, "initializer \"w\"", "external file"}},
		{"raw size", modelWith(short, 13), []string{"initializer \"w\"", "needs 16 bytes", "raw_data has 12"}},
		{"huge dims", modelWith(huge, 13), []string{"initializer \"w\"", "more than 268435456 elements"}},
		{"string weights", modelWith(str, 13), []string{"string"}},
		{"opset too new", modelWith(good, 22), []string{"operator set version 22"}},
		{"no opset", new(pb).msg(fModelGraph, new(pb).str(fGraphName, "g")).b, []string{"no version of the default operator set"}},
		{"symbolic dim", symbolic.bytes(), []string{`"x"`, "symbolic dimension 2"}},
		{"int64 input", ints.bytes(), []string{`"ids"`, "int64"}},
		{"not topological", order.bytes(), []string{`"y_node"`, "not defined before the node"}},
		{"output not produced", missing.bytes(), []string{`"z"`, "not produced"}},
		{"defined twice", twice.bytes(), []string{`"y_node"`, "already defined"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			g, rep, err := Import(c.data)
			if err == nil || g != nil || rep == nil {
				t.Fatalf("Import = %v, %v, %v; want an error", g, rep, err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	if _, _, err := Import(valid); err != nil {
		t.Fatalf("the valid model of the table does not import: %v", err)
	}
}

// TestLayout checks the shape of imported graphs where the layout work
// shows: an NHWC source model needs no Transpose at all, Flatten before a
// constant Gemm re-lays the Gemm's rows instead of transposing activations,
// a free batch stays free through a Shape chain, and the interface stays the
// source's.
func TestLayout(t *testing.T) {
	count := func(g *model.Graph, op string) int {
		k := 0
		for _, n := range g.Nodes {
			if n.Op == op {
				k++
			}
		}
		return k
	}
	load := func(name string) *model.Graph {
		t.Helper()
		data, err := os.ReadFile(filepath.Join("testdata", "ort", name+".onnx"))
		if err != nil {
			t.Fatal(err)
		}
		g, _, err := Import(data)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	g := load("nhwc_model")
	if k := count(g, model.OpTranspose); k != 0 {
		t.Errorf("NHWC source model: %d Transpose nodes, want 0 (its transposes cancel the IR's)", k)
	}
	if !equal(g.Inputs[0].Shape, []int{1, 8, 8, 3}) || !equal(g.Outputs[0].Shape, []int{1, 8, 8, 4}) {
		t.Errorf("interface %v -> %v, want the source's NHWC shapes", g.Inputs[0].Shape, g.Outputs[0].Shape)
	}

	m := newModel("flat", 13)
	m.input("x", 1, 2, 3, 3)
	c := m.node("Conv", []string{"x", m.weights("w", 0.5, 4, 2, 1, 1)}, "c")
	f := m.node("Flatten", []string{c}, "f")
	m.node("Gemm", []string{f, m.weights("fc", 0.5, 36, 5)}, "y")
	m.output("y")
	g, rep, err := Import(m.bytes())
	if err != nil {
		t.Fatal(err)
	}
	if k := count(g, model.OpTranspose); k != 1 {
		t.Errorf("%d Transpose nodes, want 1 (the NCHW input only)", k)
	}
	if count(g, model.OpDense) != 1 || count(g, model.OpGemm) != 0 {
		t.Errorf("the constant-weight Gemm is not a Dense")
	}
	if !strings.Contains(strings.Join(rep.Folded, ";"), "Gemm (rows to NHWC flatten order)") {
		t.Errorf("folded %v does not report the re-laid Gemm rows", rep.Folded)
	}

	m = newModel("fixed", 13)
	m.input("x", -1, 2, 2, 2)
	m.node("Reshape", []string{"x", m.initInts("s", 1, -1)}, "y")
	m.output("y")
	g, rep, err = Import(m.bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !equal(g.Inputs[0].Shape, []int{1, 2, 2, 2}) || !strings.Contains(strings.Join(rep.Notes, ";"), "imported with batch 1") {
		t.Errorf("a symbolic batch the graph fixes: input %v, notes %v; want batch 1 and a note", g.Inputs[0].Shape, rep.Notes)
	}

	g = load("free_batch_shape_chain")
	if !equal(g.Inputs[0].Shape, []int{-1, 3, 6, 6}) || !equal(g.Outputs[0].Shape, []int{-1, 5}) {
		t.Errorf("interface %v -> %v, want a free batch in and out", g.Inputs[0].Shape, g.Outputs[0].Shape)
	}
}
