package onnx

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzImport holds Import to its contract on any bytes: no panic; a graph
// exactly when there is no error; an imported graph that validates; a
// refusal that lists its nodes. The seed corpus (the hand-made models, the
// reference models when fetched, their truncations and flipped bytes,
// hostile lengths) runs as an ordinary test.
func FuzzImport(f *testing.F) {
	var models [][]byte
	files, _ := filepath.Glob(filepath.Join("testdata", "ort", "*.onnx"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			models = append(models, b)
		}
	}
	// The real models, when scripts/fetch_onnx_refs.sh has run (the tests
	// that need them fail without; the fuzz seeds only gain from them).
	root := os.Getenv("EDGENN_ONNX_REFS")
	if root == "" {
		root = filepath.Join("..", "..", ".cache", "onnx-refs")
	}
	for _, p := range []string{"ort/lenet5.onnx", "ort/mobilenet_v1_025_128.onnx"} {
		if b, err := os.ReadFile(filepath.Join(root, p)); err == nil {
			models = append(models, b)
		}
	}
	if len(models) < 10 {
		f.Fatalf("only %d seed models in testdata/ort", len(models))
	}
	for _, m := range models {
		f.Add(m)
		for _, cut := range []int{1, 2, 9, len(m) / 7, len(m) / 3, len(m) / 2, len(m) - 5, len(m) - 1} {
			if cut > 0 && cut < len(m) {
				f.Add(m[:cut])
			}
		}
	}
	for _, m := range models[:4] {
		step := max(1, len(m)/61)
		for i := 0; i < len(m); i += step {
			for _, x := range []byte{0x01, 0x80, 0xff} {
				b := bytes.Clone(m)
				b[i] ^= x
				f.Add(b)
			}
		}
	}
	// Hostile lengths and counts after each kind of key.
	for _, key := range []byte{0x3a, 0x0a, 0x2a, 0x42, 0x4a, 0x12} {
		for _, n := range [][]byte{{0xff, 0xff, 0xff, 0xff, 0x0f}, {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, {0x7f}} {
			f.Add(append([]byte{key}, n...))
		}
	}
	big := newModel("big", 13)
	big.input("x", 1, 1)
	big.node("ConstantOfShape", []string{big.initInts("s", 16384, 16384)}, "k")
	big.node("Add", []string{"x", "k"}, "y")
	big.output("y")
	f.Add(big.bytes())

	f.Fuzz(func(t *testing.T, data []byte) {
		g, rep, err := Import(data)
		if rep == nil {
			t.Fatal("nil report")
		}
		if (g == nil) == (err == nil) {
			t.Fatalf("graph %v with error %v", g != nil, err)
		}
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if len(rep.Unsupported) > 0 {
			t.Fatalf("graph returned with unsupported nodes %v", rep.Unsupported)
		}
		if verr := g.Validate(); verr != nil {
			t.Fatalf("imported graph does not validate: %v", verr)
		}
	})
}
