package tfjs

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
)

// fuzzSeed turns a model.json and its shards into one (JSON, shard) pair:
// the manifest rewritten to a single group read from "w.bin".
func fuzzSeed(dir, name string) (js, shard []byte, ok bool) {
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return nil, nil, false
	}
	var mj map[string]json.RawMessage
	var groups []manifestGroup
	if json.Unmarshal(data, &mj) != nil || json.Unmarshal(mj["weightsManifest"], &groups) != nil {
		return nil, nil, false
	}
	one := manifestGroup{Paths: []string{"w.bin"}}
	for _, g := range groups {
		one.Weights = append(one.Weights, g.Weights...)
		for _, p := range g.Paths {
			b, err := os.ReadFile(filepath.Join(dir, filepath.Dir(name), p))
			if err != nil {
				return nil, nil, false
			}
			shard = append(shard, b...)
		}
	}
	mj["weightsManifest"], _ = json.Marshal([]manifestGroup{one})
	js, _ = json.Marshal(mj)
	return js, shard, true
}

// FuzzImport feeds model.json and weight bytes to Import: it must return a
// valid graph or an error, never panic. The seeds are the hand-made models
// of the tests and, when scripts/fetch_tfjs_models.sh has run, the real
// ones (whole, truncated and mutated).
func FuzzImport(f *testing.F) {
	base := baseGraph(f, nil)
	f.Add(base["model.json"].Data, base["weights.bin"].Data)
	f.Add([]byte(layersJSON), f32bytes(1, -1, 2, 0, 0, 3, 0.5, -1))
	m := &graphModel{}
	x := m.input("x", -1, 4, 4, 2)
	y := m.node("c", "_FusedConv2D", []string{x, m.raw("w", []int{1, 1, 2, 2}, "float32", map[string]any{"dtype": "uint8", "min": -1, "scale": 0.01}, []byte{1, 2, 3, 4}),
		m.konst("b", []int{2}, 0, 1)}, map[string]any{"padding": aS("SAME"), "fused_ops": aStrs("BiasAdd", "Relu6"), "num_args": aI(1)})
	m.node("y", "Mean", []string{y, m.ints("ax", []int{2}, 1, 2)}, nil)
	small := m.files(f)
	f.Add(small["model.json"].Data, small["weights.bin"].Data)

	models, refs := os.Getenv("EDGENN_TFJS_MODELS"), os.Getenv("EDGENN_TFJS_REFS")
	if models == "" {
		models = filepath.Join("..", "..", ".cache", "human-models")
	}
	if refs == "" {
		refs = filepath.Join("..", "..", ".cache", "tfjs-refs")
	}
	for _, s := range []struct{ dir, name string }{{"testdata/tiny", "model.json"}, {models, "emotion.json"}, {models, "blazeface.json"},
		{refs, "ops.json"}, {refs, "layers_seq/model.json"}, {refs, "layers_fn/model.json"}} {
		js, shard, ok := fuzzSeed(s.dir, s.name)
		if !ok {
			continue
		}
		f.Add(js, shard)
		f.Add(js[:len(js)/2], shard)
		f.Add(js, shard[:len(shard)-3])
		f.Add(js, []byte{})
		for _, at := range []int{len(js) / 3, len(js) / 2, 2 * len(js) / 3} {
			mut := append([]byte(nil), js...)
			mut[at] ^= 0x04
			f.Add(mut, shard)
		}
	}
	f.Fuzz(func(t *testing.T, js, shard []byte) {
		fsys := fstest.MapFS{"model.json": {Data: js}, "w.bin": {Data: shard}}
		g, _, err := Import(fsys, "model.json")
		if err != nil {
			if g != nil {
				t.Fatalf("graph and error %v", err)
			}
			return
		}
		if err := g.Validate(); err != nil {
			t.Fatalf("imported graph does not validate: %v", err)
		}
	})
}
