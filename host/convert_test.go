//go:build !js

package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/edgenn/edgenn/engine"
	"github.com/edgenn/edgenn/model"
)

// importRef returns a file make import-refs or make refs put in .cache, and
// fails the test when it is missing (skips with EDGENN_SKIP_IMPORT_REFS=1).
func importRef(t *testing.T, rel string) string {
	t.Helper()
	p := filepath.Join("..", ".cache", rel)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("EDGENN_SKIP_IMPORT_REFS") != "" {
			t.Skipf("%s missing (EDGENN_SKIP_IMPORT_REFS set)", p)
		}
		t.Fatalf("%s missing: run make import-refs refs", p)
	}
	return p
}

// TestConvert runs the convert command on a real ONNX file and a real
// TensorFlow.js graph model: the report names what was mapped, the .enn
// decodes, carries the --meta entries and runs; the ONNX one keeps its NCHW
// interface.
func TestConvert(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		in, format string
		input      []int
		meta       []string
	}{
		{importRef(t, "anchors-models/lenet5.onnx"), "import   onnx: ", []int{1, 1, 28, 28}, nil},
		{importRef(t, "human-models/emotion.json"), "import   tfjs-graph: ", []int{-1, 64, 64, 1},
			[]string{"--meta", "labels=angry,disgust,fear,happy,sad,surprise,neutral"}},
		{importRef(t, "human-models/blazeface.json"), "import   tfjs-graph: ", []int{1, 256, 256, 3},
			[]string{"--meta", "postprocess=blazeface input=256 strides=16,32 anchors=2,6 keypoints=6"}},
	} {
		out := filepath.Join(dir, strings.TrimSuffix(filepath.Base(c.in), filepath.Ext(c.in))+".enn")
		text, err := run(t, append([]string{"convert", c.in, "-o", out}, c.meta...)...)
		if err != nil {
			t.Fatalf("convert %s: %v\n%s", c.in, err, text)
		}
		if !strings.Contains(text, c.format) || !strings.Contains(text, "nodes mapped") || !strings.Contains(text, "file     "+out) {
			t.Errorf("convert %s printed:\n%s", c.in, text)
		}
		g, _, err := loadModel(out)
		if err != nil {
			t.Fatal(err)
		}
		if got := g.Inputs[0].Shape; !slices.Equal(got, c.input) {
			t.Errorf("%s: input shape %v, want %v", out, got, c.input)
		}
		for i := 0; i+1 < len(c.meta); i += 2 {
			k, v, _ := strings.Cut(c.meta[i+1], "=")
			if g.Metadata[k] != v {
				t.Errorf("%s: metadata %s = %q, want %q", out, k, g.Metadata[k], v)
			}
		}
		s, err := engine.NewSession(g)
		if err != nil {
			t.Fatal(err)
		}
		x := make([]float32, model.NumElements(s.Inputs()[0].Shape[1:]))
		if _, err := s.Run(x); err != nil {
			t.Fatal(err)
		}
	}
}

// TestConvertErrors: a model with ops the importer cannot take is not
// written, and the error and report list every such node, not the first.
func TestConvertErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "model.json")
	const graph = `{"format": "graph-model", "modelTopology": {"node": [
		{"name": "x", "op": "Placeholder", "attr": {"dtype": {"type": "DT_FLOAT"}, "shape": {"shape": {"dim": [{"size": "-1"}, {"size": "4"}]}}}},
		{"name": "e", "op": "Erf", "input": ["x"], "attr": {"T": {"type": "DT_FLOAT"}}},
		{"name": "c", "op": "Cumsum", "input": ["e"], "attr": {"T": {"type": "DT_FLOAT"}}},
		{"name": "y", "op": "Erf", "input": ["c"], "attr": {"T": {"type": "DT_FLOAT"}}}]},
		"weightsManifest": []}`
	if err := os.WriteFile(bad, []byte(graph), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.enn")
	text, err := run(t, "convert", bad, "-o", out)
	if err == nil {
		t.Fatalf("converted a model of unsupported ops:\n%s", text)
	}
	for _, want := range []string{`"e"`, `"c"`, `"y"`, "Erf", "Cumsum"} {
		if !strings.Contains(err.Error(), want) || !strings.Contains(text, want) {
			t.Errorf("error and report should name %s:\nerror: %v\nreport:\n%s", want, err, text)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("%s was written", out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"convert", bad}, "-o OUT.enn is required"},
		{[]string{"convert", filepath.Join(dir, "model.txt"), "-o", out}, "want a .onnx file or a TensorFlow.js model.json"},
		{[]string{"convert", filepath.Join(dir, "missing.onnx"), "-o", out}, "no such file"},
		{[]string{"convert", bad, "-o", out, "--meta", "novalue"}, "want KEY=VALUE"},
	} {
		if _, err := run(t, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one mentioning %q", c.args, err, c.want)
		}
	}
}
