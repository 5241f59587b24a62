package tfjs

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"strconv"
	"testing"
	"testing/fstest"

	"github.com/edgenn/edgenn/engine"
	"github.com/edgenn/edgenn/model"
)

// graphModel writes small TF.js graph models by hand, as the converter
// lays them out, into an in-memory file system.
type graphModel struct {
	nodes []map[string]any
	specs []map[string]any
	data  []byte
}

func aS(s string) map[string]any {
	return map[string]any{"s": base64.StdEncoding.EncodeToString([]byte(s))}
}
func aI(i int) map[string]any { return map[string]any{"i": strconv.Itoa(i)} }
func aF(f float64) map[string]any {
	return map[string]any{"f": f}
}
func aB(b bool) map[string]any { return map[string]any{"b": b} }
func aInts(v ...int) map[string]any {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return map[string]any{"list": map[string]any{"i": s}}
}
func aStrs(v ...string) map[string]any {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = base64.StdEncoding.EncodeToString([]byte(x))
	}
	return map[string]any{"list": map[string]any{"s": s}}
}

func (m *graphModel) input(name string, shape ...int) string {
	dims := make([]map[string]any, len(shape))
	for i, d := range shape {
		dims[i] = map[string]any{"size": strconv.Itoa(d)}
	}
	m.nodes = append(m.nodes, map[string]any{"name": name, "op": "Placeholder",
		"attr": map[string]any{"dtype": map[string]any{"type": "DT_FLOAT"}, "shape": map[string]any{"shape": map[string]any{"dim": dims}}}})
	return name
}

func (m *graphModel) node(name, op string, inputs []string, attr map[string]any) string {
	if attr == nil {
		attr = map[string]any{}
	}
	m.nodes = append(m.nodes, map[string]any{"name": name, "op": op, "input": inputs, "attr": attr})
	return name
}

// konst adds a float32 constant.
func (m *graphModel) konst(name string, shape []int, v ...float32) string {
	for _, x := range v {
		m.data = binary.LittleEndian.AppendUint32(m.data, math.Float32bits(x))
	}
	return m.spec(name, shape, "float32", "DT_FLOAT", nil)
}

// ints adds an int32 constant.
func (m *graphModel) ints(name string, shape []int, v ...int) string {
	for _, x := range v {
		m.data = binary.LittleEndian.AppendUint32(m.data, uint32(int32(x)))
	}
	return m.spec(name, shape, "int32", "DT_INT32", nil)
}

// raw adds a constant stored as the given bytes with a quantization entry.
func (m *graphModel) raw(name string, shape []int, dtype string, q map[string]any, b []byte) string {
	m.data = append(m.data, b...)
	return m.spec(name, shape, dtype, "DT_FLOAT", q)
}

func (m *graphModel) spec(name string, shape []int, dtype, dt string, q map[string]any) string {
	s := map[string]any{"name": name, "shape": shape, "dtype": dtype}
	if q != nil {
		s["quantization"] = q
	}
	m.specs = append(m.specs, s)
	m.nodes = append(m.nodes, map[string]any{"name": name, "op": "Const", "attr": map[string]any{"dtype": map[string]any{"type": dt}}})
	return name
}

// files returns model.json and weights.bin, with the outputs as the
// signature's (none: TF.js's leaf-node rule).
func (m *graphModel) files(t testing.TB, outputs ...string) fstest.MapFS {
	t.Helper()
	mj := map[string]any{
		"format":          "graph-model",
		"modelTopology":   map[string]any{"node": m.nodes},
		"weightsManifest": []any{map[string]any{"paths": []string{"weights.bin"}, "weights": m.specs}},
	}
	if len(outputs) > 0 {
		o := map[string]any{}
		for _, n := range outputs {
			o[n+":0"] = map[string]any{"name": n + ":0"}
		}
		mj["signature"] = map[string]any{"outputs": o}
	}
	js, err := json.Marshal(mj)
	if err != nil {
		t.Fatal(err)
	}
	return fstest.MapFS{"model.json": {Data: js}, "weights.bin": {Data: m.data}}
}

// run imports fsys's model.json and runs it on the inputs.
func run(t *testing.T, fsys fstest.MapFS, inputs ...[]float32) (*model.Graph, [][]float32) {
	t.Helper()
	g, _, err := Import(fsys, "model.json")
	if err != nil {
		t.Fatal(err)
	}
	s, err := engine.NewSession(g)
	if err != nil {
		t.Fatal(err)
	}
	outs, err := s.Run(inputs...)
	if err != nil {
		t.Fatal(err)
	}
	return g, outs
}

func ops(g *model.Graph) []string {
	var o []string
	for _, n := range g.Nodes {
		o = append(o, n.Op)
	}
	return o
}
