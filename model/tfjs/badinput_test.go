package tfjs

import (
	"encoding/json"
	"strings"
	"testing"
	"testing/fstest"
)

// baseGraph is y = x + w, the model the bad-input cases break.
func baseGraph(t testing.TB, edit func(m *graphModel)) fstest.MapFS {
	m := &graphModel{}
	x := m.input("x", 1, 2)
	w := m.konst("w", []int{2}, 1, 2)
	if edit == nil {
		m.node("y", "AddV2", []string{x, w}, nil)
	} else {
		edit(m)
	}
	return m.files(t)
}

// editJSON rewrites model.json through a generic map.
func editJSON(t testing.TB, fsys fstest.MapFS, edit func(mj map[string]any)) fstest.MapFS {
	var mj map[string]any
	if err := json.Unmarshal(fsys["model.json"].Data, &mj); err != nil {
		t.Fatal(err)
	}
	edit(mj)
	b, err := json.Marshal(mj)
	if err != nil {
		t.Fatal(err)
	}
	fsys["model.json"] = &fstest.MapFile{Data: b}
	return fsys
}

func firstSpec(mj map[string]any) map[string]any {
	return mj["weightsManifest"].([]any)[0].(map[string]any)["weights"].([]any)[0].(map[string]any)
}

// TestBadGraphInput: broken files, manifests and graphs give an error that
// names the file, weight or node at fault, and never a panic.
func TestBadGraphInput(t *testing.T) {
	cases := []struct {
		name string
		fsys func() fstest.MapFS
		want []string
	}{
		{"missing model.json", func() fstest.MapFS { return fstest.MapFS{} }, []string{`"model.json"`}},
		{"truncated JSON", func() fstest.MapFS {
			return fstest.MapFS{"model.json": {Data: []byte(`{"modelTopology": {"node": [`)}}
		}, []string{`"model.json"`, "bad JSON"}},
		{"no topology", func() fstest.MapFS { return fstest.MapFS{"model.json": {Data: []byte(`{}`)}} }, []string{"no modelTopology"}},
		{"unknown kind", func() fstest.MapFS {
			return fstest.MapFS{"model.json": {Data: []byte(`{"modelTopology": {"x": 1}}`)}}
		}, []string{"neither a graph model"}},
		{"missing shard", func() fstest.MapFS {
			f := baseGraph(t, nil)
			delete(f, "weights.bin")
			return f
		}, []string{`"weights.bin"`}},
		{"short shard", func() fstest.MapFS {
			f := baseGraph(t, nil)
			f["weights.bin"].Data = f["weights.bin"].Data[:5]
			return f
		}, []string{"hold 5 bytes", "need 8"}},
		{"long shard", func() fstest.MapFS {
			f := baseGraph(t, nil)
			f["weights.bin"].Data = append(f["weights.bin"].Data, 0)
			return f
		}, []string{"more than 8"}},
		{"shard outside the model's folder", func() fstest.MapFS {
			return editJSON(t, baseGraph(t, nil), func(mj map[string]any) {
				mj["weightsManifest"].([]any)[0].(map[string]any)["paths"] = []string{"../secret.bin"}
			})
		}, []string{"../secret.bin"}},
		{"string weight", func() fstest.MapFS {
			return editJSON(t, baseGraph(t, nil), func(mj map[string]any) { firstSpec(mj)["dtype"] = "string" })
		}, []string{`weight "w"`, "string"}},
		{"unknown quantisation", func() fstest.MapFS {
			return editJSON(t, baseGraph(t, nil), func(mj map[string]any) {
				firstSpec(mj)["quantization"] = map[string]any{"dtype": "int4"}
			})
		}, []string{`weight "w"`, "int4"}},
		{"uint8 without min", func() fstest.MapFS {
			return editJSON(t, baseGraph(t, nil), func(mj map[string]any) {
				firstSpec(mj)["quantization"] = map[string]any{"dtype": "uint8"}
			})
		}, []string{`weight "w"`, "min and scale"}},
		{"negative dimension", func() fstest.MapFS {
			return editJSON(t, baseGraph(t, nil), func(mj map[string]any) { firstSpec(mj)["shape"] = []int{-2} })
		}, []string{`weight "w"`, "bad shape"}},
		{"huge weight", func() fstest.MapFS {
			return editJSON(t, baseGraph(t, nil), func(mj map[string]any) { firstSpec(mj)["shape"] = []int{1 << 20, 1 << 20} })
		}, []string{`weight "w"`, "elements"}},
		{"weight listed twice", func() fstest.MapFS {
			return editJSON(t, baseGraph(t, nil), func(mj map[string]any) {
				g := mj["weightsManifest"].([]any)[0].(map[string]any)
				g["weights"] = append(g["weights"].([]any), firstSpec(mj))
			})
		}, []string{`weight "w"`, "twice"}},
		{"constant without weight", func() fstest.MapFS {
			return baseGraph(t, func(m *graphModel) {
				m.node("c", "Const", nil, nil)
				m.node("y", "AddV2", []string{"x", "c"}, nil)
			})
		}, []string{`node "c"`, "no weight"}},
		{"dangling input", func() fstest.MapFS {
			return baseGraph(t, func(m *graphModel) { m.node("y", "AddV2", []string{"x", "nope"}, nil) })
		}, []string{`node "y"`, `"nope"`}},
		{"missing output index", func() fstest.MapFS {
			return baseGraph(t, func(m *graphModel) { m.node("y", "AddV2", []string{"x", "w:3"}, nil) })
		}, []string{`"y"`, `"w:3"`}},
		{"cycle", func() fstest.MapFS {
			return baseGraph(t, func(m *graphModel) {
				m.node("a", "AddV2", []string{"x", "b"}, nil)
				m.node("b", "Relu", []string{"a"}, nil)
				m.node("y", "Relu", []string{"b"}, nil)
			})
		}, []string{"cycle"}},
		{"node defined twice", func() fstest.MapFS {
			return baseGraph(t, func(m *graphModel) {
				m.node("y", "Relu", []string{"x"}, nil)
				m.node("y", "Relu", []string{"x"}, nil)
			})
		}, []string{`node "y"`, "twice"}},
		{"input with a free spatial size", func() fstest.MapFS {
			m := &graphModel{}
			m.node("y", "Relu", []string{m.input("img", -1, -1, 3)}, nil)
			return m.files(t)
		}, []string{`"img"`, "fixed"}},
		{"constant output", func() fstest.MapFS {
			return editJSON(t, baseGraph(t, nil), func(mj map[string]any) {
				mj["signature"] = map[string]any{"outputs": map[string]any{"w:0": map[string]any{"name": "w:0"}}}
			})
		}, []string{`"w"`, "constant"}},
		{"shapes that do not broadcast", func() fstest.MapFS {
			return baseGraph(t, func(m *graphModel) {
				m.node("y", "AddV2", []string{"x", m.konst("w3", []int{3}, 1, 2, 3)}, nil)
			})
		}, []string{`node "y"`, "broadcast"}},
		{"bad base64 attribute", func() fstest.MapFS {
			return baseGraph(t, func(m *graphModel) {
				x4 := m.node("x4", "Reshape", []string{"x", m.ints("s", []int{4}, 1, 1, 1, 2)}, nil)
				m.node("y", "MaxPool", []string{x4}, map[string]any{"padding": map[string]any{"s": "!!"}, "ksize": aInts(1, 1, 1, 1)})
			})
		}, []string{`"y"`, "base64"}},
		{"integer out of range", func() fstest.MapFS {
			return baseGraph(t, func(m *graphModel) {
				m.node("y", "LeakyRelu", []string{"x"}, map[string]any{"n": map[string]any{"i": "99999999999999999999999"}})
			})
		}, []string{"bad integer"}},
		{"unknown op", func() fstest.MapFS {
			return baseGraph(t, func(m *graphModel) { m.node("y", "Fancy", []string{"x"}, nil) })
		}, []string{`"y"`, "Fancy"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g, _, err := Import(c.fsys(), "model.json")
			if err == nil || g != nil {
				t.Fatalf("no error (graph %v)", g != nil)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// layersJSON is a tiny Sequential: Dense(3 -> 2, relu) named "fc".
const layersJSON = `{"format": "layers-model", "modelTopology": {"class_name": "Sequential", "config": {"name": "s", "layers": [
 {"class_name": "Dense", "config": {"name": "fc", "units": 2, "activation": "relu", "use_bias": true, "batch_input_shape": [null, 3]}}]}},
 "weightsManifest": [{"paths": ["w.bin"], "weights": [
  {"name": "fc/kernel", "shape": [3, 2], "dtype": "float32"}, {"name": "fc/bias", "shape": [2], "dtype": "float32"}]}]}`

func layersFS(js string, nbytes int) fstest.MapFS {
	return fstest.MapFS{"model.json": {Data: []byte(js)}, "w.bin": {Data: make([]byte, nbytes)}}
}

func TestBadLayersInput(t *testing.T) {
	cases := []struct {
		name, from, to string
		nbytes         int
		want           []string
	}{
		{"missing weight", `"fc/bias"`, `"fc/offset"`, 32, []string{`"fc/bias"`, "not in the weights manifest"}},
		{"wrong weight shape", `"shape": [3, 2]`, `"shape": [2, 3]`, 32, []string{`"fc/kernel"`, "[2,3]"}},
		{"no input shape", `, "batch_input_shape": [null, 3]`, ``, 32, []string{`"fc"`, "batch_input_shape"}},
		{"free feature size", `[null, 3]`, `[null, null]`, 32, []string{`"fc"`, "fixed"}},
		{"unknown model class", `"Sequential"`, `"Graph"`, 32, []string{`"Graph"`}},
		{"layers not a list", `"layers": [`, `"layers": {"a": [`, 32, []string{"model.json"}},
		{"short shard", ``, ``, 20, []string{"hold 20 bytes", "need 32"}},
		{"only an input layer", `{"class_name": "Dense", "config": {"name": "fc", "units": 2, "activation": "relu", "use_bias": true, "batch_input_shape": [null, 3]}}`,
			`{"class_name": "InputLayer", "config": {"name": "in", "batch_input_shape": [null, 3]}}`, 32, []string{"no layers besides its input"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			js := strings.Replace(layersJSON, c.from, c.to, 1)
			if c.name == "layers not a list" {
				js = strings.Replace(js, `}]}},`, `}]}}},`, 1)
			}
			g, _, err := Import(layersFS(js, c.nbytes), "model.json")
			if err == nil || g != nil {
				t.Fatalf("no error (graph %v)", g != nil)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
