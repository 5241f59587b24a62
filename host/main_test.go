package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgenn/edgenn/engine"
	"github.com/edgenn/edgenn/model"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := dispatch(args, &out)
	return out.String(), err
}

// TestCommands drives the tool the way a user does: zoo, inspect, run and
// bench on one file, checking what each prints or writes.
func TestCommands(t *testing.T) {
	dir := t.TempDir()
	enn := filepath.Join(dir, "lenet5.enn")
	if _, err := run(t, "zoo", "lenet5", "-o", enn); err != nil {
		t.Fatal(err)
	}

	out, err := run(t, "inspect", enn)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"input    input float32 [-1 28 28 1]", "params   61706 ", "0.42 MMAC", "Conv2D x2", "sha256 "} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out)
		}
	}

	// run: the file's output must equal a Session's on the same input.
	x, _, err := model.ZooInput("lenet5")
	if err != nil {
		t.Fatal(err)
	}
	in, outPath := filepath.Join(dir, "in.bin"), filepath.Join(dir, "out.bin")
	if err := os.WriteFile(in, appendFloats(nil, x), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "run", enn, "--input", in, "--output", outPath); err != nil {
		t.Fatal(err)
	}
	got, err := readFloats(outPath)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := model.Zoo("lenet5")
	s, err := engine.NewSession(g)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := s.Run(x)
	if len(got) != 10 {
		t.Fatalf("run wrote %d floats, want 10", len(got))
	}
	for i := range got {
		if got[i] != want[0][i] {
			t.Fatalf("run output[%d] = %v, Session gives %v", i, got[i], want[0][i])
		}
	}

	// bench --json with a reference: the reference is the run output, so the
	// difference must be zero and the argmax must agree.
	out, err = run(t, "bench", enn, "--runs", "5", "--warmup", "1", "--batch", "2", "--json", "--input", in, "--ref", outPath, "--growth", "500")
	if err != nil {
		t.Fatal(err)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("bench --json printed %q: %v", out, err)
	}
	for _, k := range []string{"median_ms", "p90_ms", "runs", "arena_bytes"} {
		if v, ok := r[k].(float64); !ok || v <= 0 {
			t.Errorf("bench JSON %s = %v, want a positive number", k, r[k])
		}
	}
	if r["runs"].(float64) != 5 || r["batch"].(float64) != 2 || r["runtime"] != "edgenn-native" {
		t.Errorf("bench JSON runs/batch/runtime = %v/%v/%v", r["runs"], r["batch"], r["runtime"])
	}
	chk := r["check"].(map[string]any)
	if chk["max_abs_diff_vs_ref"].(float64) != 0 || chk["argmax"] != chk["ref_argmax"] {
		t.Errorf("bench check = %v, want zero difference against the run output", chk)
	}
	// The runtime and the test framework may allocate now and then on their
	// own; Session.Run itself is held to zero by engine's AllocsPerRun test.
	if m := r["memory"].(map[string]any); m["mallocs_per_run"].(float64) > 0.2 {
		t.Errorf("bench reports %v mallocs per run, want about 0", m["mallocs_per_run"])
	}
}

func TestCommandErrors(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.enn")
	os.WriteFile(corrupt, []byte("\x82\xa6format\xa3xyz"), 0o644)
	short := filepath.Join(dir, "short.bin")
	os.WriteFile(short, []byte{1, 2, 3}, 0o644)
	good := filepath.Join(dir, "lenet5.enn")
	if _, err := run(t, "zoo", "lenet5", "-o", good); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"zoo", "alexnet", "-o", filepath.Join(dir, "x.enn")}, "alexnet"},
		{[]string{"zoo", "lenet5"}, "-o FILE.enn is required"},
		{[]string{"inspect"}, "want FILE.enn"},
		{[]string{"inspect", filepath.Join(dir, "missing.enn")}, "missing.enn"},
		{[]string{"inspect", corrupt}, "corrupt.enn"},
		{[]string{"run", good, "--input", short, "--output", filepath.Join(dir, "o.bin")}, "not a whole number of float32s"},
		{[]string{"bench", good, "--runs", "0"}, "must be positive"},
		{[]string{"bench", good, "--bogus"}, "bogus"},
	}
	for _, c := range cases {
		_, err := run(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one mentioning %q", c.args, err, c.want)
		}
	}
}

func TestFloatsRoundTrip(t *testing.T) {
	f := []float32{0, -1.5, float32(math.Inf(1)), 3e-38}
	p := filepath.Join(t.TempDir(), "f.bin")
	if err := os.WriteFile(p, appendFloats(nil, f), 0o644); err != nil {
		t.Fatal(err)
	}
	g, err := readFloats(p)
	if err != nil {
		t.Fatal(err)
	}
	for i := range f {
		if g[i] != f[i] {
			t.Fatalf("element %d: %v != %v", i, g[i], f[i])
		}
	}
}

func TestBenchTrain(t *testing.T) {
	enn := filepath.Join(t.TempDir(), "lenet5.enn")
	if _, err := run(t, "zoo", "lenet5", "-o", enn); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "bench", enn, "--train", "--batch", "8", "--runs", "3", "--warmup", "1", "--trainable", "dense_", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("bench --train --json printed %q: %v", out, err)
	}
	if r["mode"] != "train_sgd_b8_head_only" || r["runs"].(float64) != 3 {
		t.Errorf("mode %v runs %v", r["mode"], r["runs"])
	}
	if v, _ := r["samples_per_sec"].(float64); !(v > 0) || !(r["median_ms"].(float64) > 0) {
		t.Errorf("samples_per_sec %v median %v", r["samples_per_sec"], r["median_ms"])
	}
}
