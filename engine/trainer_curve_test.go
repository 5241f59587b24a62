package engine

import (
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/edgenn/edgenn/data"
	"github.com/edgenn/edgenn/model"
)

// lossCurve trains LeNet-5 from the zoo's weights for steps batch-32 SGD
// steps over the first MNIST training images and returns every step's loss.
func lossCurve(t *testing.T, steps int) []float64 {
	t.Helper()
	train, err := data.MNIST("train")
	if err != nil {
		t.Skip("MNIST not available: " + err.Error())
	}
	g, err := model.Zoo("lenet5")
	if err != nil {
		t.Fatal(err)
	}
	const batch = 32
	tr, err := NewTrainer(g, TrainOptions{Batch: batch, Optimizer: SGD{LR: 0.02, Momentum: 0.9}})
	if err != nil {
		t.Fatal(err)
	}
	x, y, idx := make([]float32, batch*784), make([]int32, batch), make([]int, batch)
	losses := make([]float64, steps)
	for s := range losses {
		for i := range idx {
			idx[i] = s*batch + i
		}
		train.Batch(idx, x, y)
		if losses[s], err = tr.Step(x, y, nil); err != nil {
			t.Fatal(err)
		}
	}
	return losses
}

// TestTrainerLossCurveMatchesNative: the same 100 training steps in wasm give
// the native loss curve within 1e-4. make test runs the native tests first,
// which write the curve to $EDGENN_CURVE; the wasm runs (SIMD and scalar)
// read it back.
func TestTrainerLossCurveMatchesNative(t *testing.T) {
	path := os.Getenv("EDGENN_CURVE")
	if path == "" {
		if os.Getenv("EDGENN_REQUIRE_ANCHORS") == "1" {
			t.Fatal("EDGENN_CURVE is not set: run through make test")
		}
		t.Skip("EDGENN_CURVE not set (make test sets it)")
	}
	losses := lossCurve(t, 100)
	if runtime.GOARCH != "wasm" {
		var b strings.Builder
		for _, l := range losses {
			b.WriteString(strconv.FormatFloat(l, 'g', 17, 64) + "\n")
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		if !(losses[99] < losses[0]) {
			t.Fatalf("loss did not fall: %g -> %g", losses[0], losses[99])
		}
		return
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal("the native curve is missing (make test writes it in its native pass): " + err.Error())
	}
	lines := strings.Fields(string(raw))
	if len(lines) != len(losses) {
		t.Fatalf("native curve has %d steps, want %d", len(lines), len(losses))
	}
	worst := 0.0
	for i, s := range lines {
		want, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatal(err)
		}
		d := math.Abs(losses[i] - want)
		worst = math.Max(worst, d)
		if d > 1e-4 {
			t.Fatalf("step %d: wasm loss %.8f, native %.8f (diff %.2g > 1e-4)", i, losses[i], want, d)
		}
	}
	t.Logf("100 steps, loss %.4f -> %.4f; largest difference from native %.2g", losses[0], losses[99], worst)
}
