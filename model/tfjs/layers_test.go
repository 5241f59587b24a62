package tfjs

import (
	"encoding/binary"
	"math"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/edgenn/edgenn/model"
)

func f32bytes(v ...float32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

// TestLayersDenseByHand: a Sequential Dense(3 -> 2, relu) with known
// weights gives relu(x.W + b).
func TestLayersDenseByHand(t *testing.T) {
	// kernel [[1,-1],[2,0],[0,3]], bias [0.5,-1].
	fsys := fstest.MapFS{"model.json": {Data: []byte(layersJSON)}, "w.bin": {Data: f32bytes(1, -1, 2, 0, 0, 3, 0.5, -1)}}
	if k, err := Sniff(fsys, "model.json"); err != nil || k != FormatLayers {
		t.Fatalf("Sniff = %q, %v", k, err)
	}
	g, outs := run(t, fsys, []float32{1, 2, 3, -1, 0, 1})
	if !slices.Equal(ops(g), []string{model.OpDense}) || g.Inputs[0].Name != "fc_input" || g.Outputs[0].Name != "fc" {
		t.Errorf("graph: ops %v, inputs %v, outputs %v", ops(g), g.Inputs, g.Outputs)
	}
	// [1,2,3]: (1+4+0.5, -1+9-1) = (5.5, 7); [-1,0,1]: relu(-1+0.5), relu(1+3-1) = (0, 3).
	if want := []float32{5.5, 7, 0, 3}; !slices.Equal(outs[0], want) {
		t.Errorf("got %v, want %v", outs[0], want)
	}
}

// TestLayersUnsupportedListsAll: a functional model with two layers the IR
// cannot express lists both, and a mappable layer after them is not listed.
func TestLayersUnsupportedListsAll(t *testing.T) {
	js := `{"modelTopology": {"model_config": {"class_name": "Functional", "config": {"name": "f",
 "layers": [
  {"name": "in", "class_name": "InputLayer", "config": {"batch_input_shape": [null, 4, 4, 2], "name": "in"}, "inbound_nodes": []},
  {"name": "lstm", "class_name": "LSTM", "config": {"name": "lstm"}, "inbound_nodes": [[["in", 0, 0, {}]]]},
  {"name": "after", "class_name": "Flatten", "config": {"name": "after"}, "inbound_nodes": [[["lstm", 0, 0, {}]]]},
  {"name": "act", "class_name": "Activation", "config": {"name": "act", "activation": "softplus"}, "inbound_nodes": [[["in", 0, 0, {}]]]},
  {"name": "lam", "class_name": "Lambda", "config": {"name": "lam"}, "inbound_nodes": [[["act", 0, 0, {}]]]},
  {"name": "cat", "class_name": "Concatenate", "config": {"name": "cat"}, "inbound_nodes": [[["after", 0, 0, {}], ["lam", 0, 0, {}]]]}
 ],
 "input_layers": [["in", 0, 0]], "output_layers": [["cat", 0, 0]]}}},
 "weightsManifest": []}`
	g, rep, err := Import(fstest.MapFS{"model.json": {Data: []byte(js)}}, "model.json")
	if err == nil || g != nil {
		t.Fatalf("no error")
	}
	got := map[string]string{}
	for _, u := range rep.Unsupported {
		got[u.Node] = u.Op
	}
	want := map[string]string{"lstm": "LSTM", "act": "Activation", "lam": "Lambda"}
	if len(got) != len(want) {
		t.Errorf("unsupported %v, want %v", rep.Unsupported, want)
	}
	for n, op := range want {
		if got[n] != op || !strings.Contains(err.Error(), `"`+n+`"`) {
			t.Errorf("%q (%s) missing: %v", n, op, err)
		}
	}
}

// TestLayersOrderFree: a functional model whose layers are listed in any
// order imports the same.
func TestLayersOrderFree(t *testing.T) {
	js := `{"modelTopology": {"class_name": "Model", "config": {"name": "f",
 "layers": [
  {"name": "sum", "class_name": "Add", "config": {"name": "sum"}, "inbound_nodes": [[["r", 0, 0, {}], ["in", 0, 0, {}]]]},
  {"name": "r", "class_name": "ReLU", "config": {"name": "r", "max_value": 1.5}, "inbound_nodes": [[["in", 0, 0, {}]]]},
  {"name": "in", "class_name": "InputLayer", "config": {"batch_input_shape": [null, 3], "name": "in"}, "inbound_nodes": []}
 ],
 "input_layers": [["in", 0, 0]], "output_layers": [["sum", 0, 0]]}},
 "weightsManifest": []}`
	_, outs := run(t, fstest.MapFS{"model.json": {Data: []byte(js)}}, []float32{-1, 1, 3})
	if want := []float32{-1, 2, 4.5}; !slices.Equal(outs[0], want) {
		t.Errorf("got %v, want %v", outs[0], want)
	}
}
