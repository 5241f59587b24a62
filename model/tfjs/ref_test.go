package tfjs

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgenn/edgenn/engine"
	"github.com/edgenn/edgenn/model"
)

// The reference data comes from scripts/fetch_tfjs_models.sh: the human
// models in .cache/human-models, and TensorFlow.js cpu's inputs and outputs
// (plus the hand-made models) in .cache/tfjs-refs.

func refDirs(t *testing.T) (models, refs string) {
	t.Helper()
	models, refs = os.Getenv("EDGENN_TFJS_MODELS"), os.Getenv("EDGENN_TFJS_REFS")
	if models == "" {
		models = filepath.Join("..", "..", ".cache", "human-models")
	}
	if refs == "" {
		refs = filepath.Join("..", "..", ".cache", "tfjs-refs")
	}
	if _, err := os.Stat(filepath.Join(refs, "refs.json")); err != nil {
		if os.Getenv("EDGENN_SKIP_IMPORT_REFS") == "1" {
			t.Skip("TF.js reference data missing and EDGENN_SKIP_IMPORT_REFS=1")
		}
		t.Fatalf("TF.js reference data missing (%v): run scripts/fetch_tfjs_models.sh, or set EDGENN_SKIP_IMPORT_REFS=1 to skip", err)
	}
	return models, refs
}

type refCase struct {
	Name    string   `json:"name"`
	Kind    string   `json:"kind"`
	Dir     string   `json:"dir"`
	Model   string   `json:"model"`
	Inputs  []refVal `json:"inputs"`
	Outputs []refVal `json:"outputs"`
}

type refVal struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
	File  string `json:"file"`
}

func readRefs(t *testing.T) (models, refs string, cases []refCase) {
	models, refs = refDirs(t)
	data, err := os.ReadFile(filepath.Join(refs, "refs.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Cases []refCase `json:"cases"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Cases) < 7 {
		t.Fatalf("refs.json lists %d cases, want 7: regenerate with scripts/fetch_tfjs_models.sh", len(r.Cases))
	}
	return models, refs, r.Cases
}

func readF32(t *testing.T, path string, n int) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 4*n {
		t.Fatalf("%s: %d bytes, want %d float32s", path, len(b), n)
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// TestAgainstTFJS imports every reference model (the human models as
// shipped and re-quantised, the hand-made graph model using every mapped
// op, two layers models), runs it in the engine on TF.js's inputs and holds
// every output to TF.js cpu's within 1e-4 (emotion also before its softmax).
func TestAgainstTFJS(t *testing.T) {
	models, refs, cases := readRefs(t)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			dir := refs
			if c.Dir == "models" {
				dir = models
			}
			fsys := os.DirFS(dir)
			kind, err := Sniff(fsys, c.Model)
			if err != nil {
				t.Fatal(err)
			}
			if want := "tfjs-" + c.Kind; kind != want {
				t.Fatalf("Sniff = %q, want %q", kind, want)
			}
			g, rep, err := Import(fsys, c.Model)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Unsupported) != 0 || len(rep.Mapped) == 0 {
				t.Fatalf("report: %+v", rep)
			}
			// Intermediate values TF.js was asked for become outputs too.
			declared := map[string]bool{}
			for _, o := range g.Outputs {
				declared[o.Name] = true
			}
			for _, o := range c.Outputs {
				if !declared[o.Name] {
					g.Outputs = append(g.Outputs, model.ValueInfo{Name: o.Name, DType: model.Float32})
				}
			}
			s, err := engine.NewSession(g)
			if err != nil {
				t.Fatal(err)
			}
			in := make([][]float32, len(s.Inputs()))
			for i, vi := range s.Inputs() {
				for _, r := range c.Inputs {
					if r.Name == vi.Name {
						in[i] = readF32(t, filepath.Join(refs, r.File), model.NumElements(r.Shape))
					}
				}
				if in[i] == nil {
					t.Fatalf("no reference input for %q", vi.Name)
				}
			}
			outs, err := s.Run(in...)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range c.Outputs {
				k := -1
				for i, vi := range s.Outputs() {
					if vi.Name == r.Name {
						k = i
					}
				}
				if k < 0 {
					t.Fatalf("output %q missing from the session", r.Name)
				}
				want := readF32(t, filepath.Join(refs, r.File), model.NumElements(r.Shape))
				got := outs[k]
				if len(got) != len(want) {
					t.Fatalf("output %q: %d values, TF.js has %d (shape %v)", r.Name, len(got), len(want), r.Shape)
				}
				var diff, mag float64
				for i := range got {
					diff = math.Max(diff, math.Abs(float64(got[i])-float64(want[i])))
					mag = math.Max(mag, math.Abs(float64(want[i])))
				}
				// 1e-4, or 2e-6 of the largest value for outputs far above 1
				// (BlazeFace's logits reach 95, where TF.js itself is 2.5e-4
				// from a float64-accumulated evaluation: the bound there is
				// float32 rounding, not the mapping).
				tol := math.Max(1e-4, 2e-6*mag)
				t.Logf("%s: max abs diff %.3g (values up to %.3g, tolerance %.2g)", r.Name, diff, mag, tol)
				if !(diff <= tol) {
					t.Errorf("output %q: max abs diff %.3g vs TF.js, want <= %.2g", r.Name, diff, tol)
				}
			}
		})
	}
}
