package onnx

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/edgenn/edgenn/model"
)

// mnistModel returns the ONNX MNIST model, which onnx-go v0.5.0 ships as a
// Go string literal in internal/examples/mnist/mnist_binary.go.
func mnistModel(t testing.TB) []byte {
	t.Helper()
	path := refPath(t, "mnist", "mnist_binary.go")
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var data []byte
	ast.Inspect(f, func(n ast.Node) bool {
		if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING && data == nil {
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatal(err)
			}
			data = []byte(s)
		}
		return data == nil
	})
	if len(data) < 1000 {
		t.Fatalf("%s: no model bytes found", path)
	}
	return data
}

// TestMNIST runs the ONNX MNIST model (CNTK, opset 7) on its three reference
// inputs and holds the scores to the reference outputs.
func TestMNIST(t *testing.T) {
	data := mnistModel(t)
	g, rep, err := Import(data)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("mapped %v, folded %v, notes %v", rep.Mapped, rep.Folded, rep.Notes)
	if got := g.Inputs[0].Shape; !equal(got, []int{1, 1, 28, 28}) {
		t.Errorf("input shape %v, want the source's NCHW [1 1 28 28]", got)
	}
	if rep.Mapped["Conv"] != 2 || rep.Mapped["MatMul"] != 1 {
		t.Errorf("mapped %v, want 2 Conv and 1 MatMul", rep.Mapped)
	}
	dense := 0
	for _, n := range g.Nodes {
		if n.Op == model.OpDense {
			dense++
		}
	}
	if dense != 1 {
		t.Errorf("%d Dense nodes, want the constant-weight MatMul as 1 Dense", dense)
	}
	for i := 0; i < 3; i++ {
		dir := refPath(t, "mnist", "test_data_set_"+strconv.Itoa(i))
		_, x := readTensorPB(t, filepath.Join(dir, "input_0.pb"))
		_, want := readTensorPB(t, filepath.Join(dir, "output_0.pb"))
		got := run(t, g, x.f)[0]
		d, scale := maxDiff(got, want.f)
		t.Logf("test_data_set_%d: max abs diff %.3g (scores up to %.4g)", i, d, scale)
		if !within(d, scale) {
			t.Errorf("test_data_set_%d: max abs diff %g\n got %v\nwant %v", i, d, got, want.f)
		}
		if argmax(got) != argmax(want.f) {
			t.Errorf("test_data_set_%d: class %d, want %d", i, argmax(got), argmax(want.f))
		}
	}
}

func argmax(a []float32) int {
	b := 0
	for i, v := range a {
		if v > a[b] {
			b = i
		}
	}
	return b
}
