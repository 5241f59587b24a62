package engine

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgenn/edgenn/model"
)

// refDir is where `make refs` leaves the anchors' models and TensorFlow.js cpu
// outputs. Under make test it must exist (EDGENN_REQUIRE_ANCHORS=1).
func refDir(t *testing.T) string {
	t.Helper()
	d := os.Getenv("EDGENN_REFS")
	if d == "" {
		if os.Getenv("EDGENN_REQUIRE_ANCHORS") == "1" {
			t.Fatal("EDGENN_REFS is not set: run through make test")
		}
		t.Skip("EDGENN_REFS not set (make refs writes TensorFlow.js reference outputs; make test sets it)")
	}
	return d
}

func readF32(t *testing.T, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f := make([]float32, len(b)/4)
	for i := range f {
		f[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return f
}

func maxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

func zooSession(t testing.TB, name string) (*Session, []float32) {
	t.Helper()
	g, err := model.Zoo(name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSession(g)
	if err != nil {
		t.Fatal(err)
	}
	x, _, err := model.ZooInput(name)
	if err != nil {
		t.Fatal(err)
	}
	return s, x
}

var referenceModels = []string{"lenet5", "mobilenet_v1_025_128"}

// TestMatchesTensorFlowJS runs the reference models on their reference inputs
// and compares with TensorFlow.js cpu's outputs on the same weights.
func TestMatchesTensorFlowJS(t *testing.T) {
	dir := refDir(t)
	for _, name := range referenceModels {
		t.Run(name, func(t *testing.T) {
			s, x := zooSession(t, name)
			out, err := s.Run(x)
			if err != nil {
				t.Fatal(err)
			}
			ref := readF32(t, filepath.Join(dir, name+".ref_output.bin"))
			if d := maxAbsDiff(out[0], ref); d > 1e-5 {
				t.Fatalf("max abs diff vs TensorFlow.js cpu = %g, want <= 1e-5", d)
			} else {
				t.Logf("max abs diff vs TensorFlow.js cpu = %.3g", d)
			}
		})
	}
}

// TestBatch checks that a batch of three items gives each item's batch-1
// result, and that switching batch sizes back and forth keeps both plans right.
func TestBatch(t *testing.T) {
	for _, name := range referenceModels {
		t.Run(name, func(t *testing.T) {
			s, x := zooSession(t, name)
			items := [][]float32{x, make([]float32, len(x)), make([]float32, len(x))}
			for i := range items[1] {
				items[1][i] = 1 - x[i]
				items[2][i] = x[(i*7)%len(x)]
			}
			var single [][]float32
			for _, it := range items {
				out, err := s.Run(it)
				if err != nil {
					t.Fatal(err)
				}
				single = append(single, append([]float32(nil), out[0]...))
			}
			var batch []float32
			for _, it := range items {
				batch = append(batch, it...)
			}
			out, err := s.Run(batch)
			if err != nil {
				t.Fatal(err)
			}
			per := len(single[0])
			if len(out[0]) != 3*per {
				t.Fatalf("batch output has %d values, want %d", len(out[0]), 3*per)
			}
			for i := range items {
				if d := maxAbsDiff(out[0][i*per:(i+1)*per], single[i]); d > 1e-6 {
					t.Errorf("item %d: batch-3 result differs from batch-1 by %g", i, d)
				}
			}
			again, err := s.Run(items[1])
			if err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiff(again[0], single[1]); d != 0 {
				t.Errorf("batch 1 after batch 3 differs by %g", d)
			}
		})
	}
}

// TestRunAllocatesNothing holds a steady-state Run to zero allocations.
func TestRunAllocatesNothing(t *testing.T) {
	for _, name := range referenceModels {
		t.Run(name, func(t *testing.T) {
			s, x := zooSession(t, name)
			if _, err := s.Run(x); err != nil {
				t.Fatal(err)
			}
			if a := testing.AllocsPerRun(20, func() { s.Run(x) }); a != 0 {
				t.Fatalf("Run allocates %v times per call, want 0", a)
			}
		})
	}
}

// TestArenaSharing checks the memory plan: buffers that are live at the same
// time never overlap, and the arena is smaller than one buffer per value.
func TestArenaSharing(t *testing.T) {
	s, _ := zooSession(t, "mobilenet_v1_025_128")
	p, err := s.plan(1)
	if err != nil {
		t.Fatal(err)
	}
	shapes, err := model.InferShapes(s.g, 1)
	if err != nil {
		t.Fatal(err)
	}
	sum := 0
	for _, n := range s.g.Nodes {
		for _, o := range n.Outputs {
			sum += model.NumElements(shapes[o])
		}
	}
	if len(p.arena) >= sum/2 {
		t.Errorf("arena %d floats for %d floats of values: expected sharing to at least halve it", len(p.arena), sum)
	}
	t.Logf("arena %d floats, values %d floats, scratch %d floats", len(p.arena), sum, len(p.scratch))
	// Every pair of buffers that are live at the same time must not overlap.
	total := len(p.arena)
	var list []*value
	for _, v := range p.values {
		if v.isConstant || v.aliasOf != nil {
			continue
		}
		list = append(list, v)
		if v.offset+v.size > total {
			t.Fatalf("%s placed past the arena end", v.name)
		}
	}
	for i, a := range list {
		for _, b := range list[i+1:] {
			live := a.first <= b.last && b.first <= a.last
			overlap := a.offset < b.offset+b.size && b.offset < a.offset+a.size
			if live && overlap {
				t.Fatalf("%s [%d,%d) and %s [%d,%d) are live together and overlap", a.name, a.offset, a.offset+a.size, b.name, b.offset, b.offset+b.size)
			}
		}
	}
}

func TestBadInputs(t *testing.T) {
	s, x := zooSession(t, "lenet5")
	cases := []struct {
		name string
		in   [][]float32
		want string
	}{
		{"short", [][]float32{x[:100]}, "input \"input\""},
		{"empty", [][]float32{nil}, "needs a multiple of 784"},
		{"not a whole batch", [][]float32{append(append([]float32(nil), x...), 1)}, "needs a multiple of 784"},
		{"two inputs", [][]float32{x, x}, "Run got 2 inputs"},
		{"huge batch", [][]float32{make([]float32, 784*(maxBatch+1))}, "exceeds the limit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.Run(c.in...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

func TestProfile(t *testing.T) {
	s, x := zooSession(t, "lenet5")
	costs, err := s.Profile(5, x)
	if err != nil {
		t.Fatal(err)
	}
	if len(costs) != len(s.Graph().Nodes)-1 { // Flatten is a view: no step
		t.Fatalf("%d costs for %d compiled nodes (one of them a view)", len(costs), len(s.Graph().Nodes))
	}
	var total time.Duration
	var flops int64
	for _, c := range costs {
		if c.Min < 0 || c.Median < c.Min || c.Mean < c.Min || c.Op == "" {
			t.Errorf("cost %+v: want 0 <= Min <= Median, Min <= Mean and an op", c)
		}
		total += c.Median
		flops += c.FLOPs
	}
	if total <= 0 {
		t.Error("profiled nodes took no time at all")
	}
	// Fusion moves arithmetic between nodes but must not change its total:
	// the compiled nodes' FLOPs add up to the source graph's.
	g, _ := model.Zoo("lenet5")
	shapes, err := model.InferShapes(g, 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := model.CountFLOPs(g, shapes); flops != want {
		t.Errorf("profiled FLOPs %d, the model has %d", flops, want)
	}
	if _, err := s.Profile(1, x[:5]); err == nil {
		t.Error("Profile accepted an input of the wrong length")
	}
}

// TestZooMatchesNaive runs zoo networks that have no TensorFlow.js reference
// here (MobileNetV2's inverted residuals, linear bottlenecks and residual
// Adds) against the naive interpreter on the uncompiled graph.
func TestZooMatchesNaive(t *testing.T) {
	for _, name := range []string{"mobilenet_v2_035_64", "mobilenet_v1_050_64"} {
		t.Run(name, func(t *testing.T) {
			s, x := zooSession(t, name)
			out, err := s.Run(x)
			if err != nil {
				t.Fatal(err)
			}
			g, _ := model.Zoo(name)
			want := naiveRun(t, g, 1, x)[g.Outputs[0].Name]
			closeEnough(t, name, out[0], want, 1e-5)
		})
	}
}
