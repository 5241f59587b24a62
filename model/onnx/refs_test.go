package onnx

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgenn/edgenn/engine"
	"github.com/edgenn/edgenn/model"
)

// The reference data (scripts/fetch_onnx_refs.sh) lives in .cache/onnx-refs
// at the repository root, or in $EDGENN_ONNX_REFS. A test whose data is
// missing fails, unless EDGENN_SKIP_IMPORT_REFS=1 says to skip it.
func refPath(t testing.TB, rel ...string) string {
	t.Helper()
	root := os.Getenv("EDGENN_ONNX_REFS")
	if root == "" {
		root = filepath.Join("..", "..", ".cache", "onnx-refs")
	}
	p := filepath.Join(append([]string{root}, rel...)...)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("EDGENN_SKIP_IMPORT_REFS") == "1" {
			t.Skipf("reference data missing (%v); skipped because EDGENN_SKIP_IMPORT_REFS=1", err)
		}
		t.Fatalf("reference data missing: %v\nrun scripts/fetch_onnx_refs.sh first (or set EDGENN_SKIP_IMPORT_REFS=1 to skip)", err)
	}
	return p
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readTensorPB reads a TensorProto file (test_data_set_*/input_0.pb).
func readTensorPB(t testing.TB, path string) (string, *constant) {
	t.Helper()
	tp, err := parseTensor(readFile(t, path))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	c, err := constantOf(tp)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return tp.name, c
}

func readFloats(t testing.TB, path string) []float32 {
	t.Helper()
	b := readFile(t, path)
	if len(b)%4 != 0 {
		t.Fatalf("%s: %d bytes is not a float32 array", path, len(b))
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// run runs g once on inputs and returns copies of its outputs.
func run(t testing.TB, g *model.Graph, inputs ...[]float32) [][]float32 {
	t.Helper()
	outs, err := runGraph(g, inputs...)
	if err != nil {
		t.Fatal(err)
	}
	return outs
}

func runGraph(g *model.Graph, inputs ...[]float32) ([][]float32, error) {
	s, err := engine.NewSession(g)
	if err != nil {
		return nil, err
	}
	outs, err := s.Run(inputs...)
	if err != nil {
		return nil, err
	}
	cp := make([][]float32, len(outs))
	for i, o := range outs {
		cp[i] = append([]float32(nil), o...)
	}
	return cp, nil
}

// maxDiff returns the largest |a-b| and the largest |b|; NaN where the two
// disagree on NaN-ness or lengths differ.
func maxDiff(a, b []float32) (diff, scale float64) {
	if len(a) != len(b) {
		return math.NaN(), 0
	}
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		if math.IsNaN(x) || math.IsNaN(y) {
			if math.IsNaN(x) != math.IsNaN(y) {
				return math.NaN(), 0
			}
			continue
		}
		if math.IsInf(x, 0) || math.IsInf(y, 0) {
			if x != y {
				return math.Inf(1), 0
			}
			continue
		}
		diff = math.Max(diff, math.Abs(x-y))
		scale = math.Max(scale, math.Abs(y))
	}
	return diff, scale
}

// within is the tests' tolerance: 1e-4 absolute, or 1e-3 relative to the
// largest reference value where the values are large.
func within(diff, scale float64) bool {
	return diff <= 1e-4 || diff <= 1e-3*scale
}
