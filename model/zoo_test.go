package model

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// anchorsDir finds /work/shared/anchors: $EDGENN_ANCHORS, else a "shared/anchors"
// beside the module root or one of its parents (CI clones the repo next to a
// copy of shared/).
func anchorsDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("EDGENN_ANCHORS"); d != "" {
		return d
	}
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for { // up to the module root
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
	for {
		cand := filepath.Join(filepath.Dir(dir), "shared", "anchors")
		if _, err := os.Stat(filepath.Join(cand, "gen_models.js")); err == nil {
			return cand
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// skipOrFail skips a test that needs the anchors, unless EDGENN_REQUIRE_ANCHORS=1.
func skipOrFail(t *testing.T, reason string) {
	t.Helper()
	if os.Getenv("EDGENN_REQUIRE_ANCHORS") == "1" {
		t.Fatal(reason + " (EDGENN_REQUIRE_ANCHORS=1)")
	}
	t.Skip(reason + "; set EDGENN_ANCHORS or put shared/anchors beside the clone, and install node")
}

type genSpec struct {
	Name       string `json:"name"`
	InputShape []int  `json:"input_shape"`
	Layers     []struct {
		Name     string `json:"name"`
		Type     string `json:"type"`
		PadsTBLR []int  `json:"pads_tblr"`
		OutShape []int  `json:"out_shape"`
	} `json:"layers"`
	Tensors []struct {
		Name   string `json:"name"`
		Shape  []int  `json:"shape"`
		Layout string `json:"layout"`
		Offset int    `json:"offset_bytes"`
		Count  int    `json:"count"`
	} `json:"tensors"`
}

// TestZooMatchesGenModels runs gen_models.js and holds the zoo's weights,
// reference inputs, pads and shapes to what it wrote, byte for byte.
func TestZooMatchesGenModels(t *testing.T) {
	var out string
	if runtime.GOOS == "js" {
		// No subprocesses under js/wasm: read what make refs had
		// gen_models.js write.
		if out = os.Getenv("EDGENN_REFS"); out == "" {
			skipOrFail(t, "EDGENN_REFS (gen_models.js output) is not set")
		}
	} else {
		dir := anchorsDir(t)
		if dir == "" {
			skipOrFail(t, "anchors dir (shared/anchors/gen_models.js) not found")
		}
		node, err := exec.LookPath("node")
		if err != nil {
			skipOrFail(t, "node is not installed")
		}
		out = t.TempDir()
		cmd := exec.Command(node, filepath.Join(dir, "gen_models.js"), out)
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("gen_models.js: %v\n%s", err, msg)
		}
	}
	for _, name := range []string{"lenet5", "mobilenet_v1_025_128"} {
		t.Run(name, func(t *testing.T) {
			var spec genSpec
			js, err := os.ReadFile(filepath.Join(out, name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(js, &spec); err != nil {
				t.Fatal(err)
			}
			weights, err := os.ReadFile(filepath.Join(out, name+".weights.bin"))
			if err != nil {
				t.Fatal(err)
			}
			g, err := Zoo(name)
			if err != nil {
				t.Fatal(err)
			}
			if len(g.Tensors) != len(spec.Tensors) {
				t.Fatalf("zoo has %d tensors, gen_models %d", len(g.Tensors), len(spec.Tensors))
			}
			for i, st := range spec.Tensors {
				zt := g.Tensors[i]
				wantShape := st.Shape
				if st.Layout == "HWC1" { // depthwise [k,k,C,1] is our [k,k,1,C]
					wantShape = []int{st.Shape[0], st.Shape[1], 1, st.Shape[2]}
				}
				if zt.Name != st.Name || !equalShape(zt.Shape, wantShape) {
					t.Fatalf("tensor %d: zoo %s %v, gen_models %s %v", i, zt.Name, zt.Shape, st.Name, wantShape)
				}
				if !bytes.Equal(f32bytes(zt.Data), weights[st.Offset:st.Offset+4*st.Count]) {
					t.Fatalf("tensor %s: bytes differ from gen_models", st.Name)
				}
			}
			in, err := os.ReadFile(filepath.Join(out, name+".input.bin"))
			if err != nil {
				t.Fatal(err)
			}
			zin, shape, err := ZooInput(name)
			if err != nil {
				t.Fatal(err)
			}
			if !equalShape(shape, spec.InputShape) || !bytes.Equal(f32bytes(zin), in) {
				t.Fatalf("reference input differs from gen_models (shape %v vs %v)", shape, spec.InputShape)
			}
			// The same pads and shapes, layer by layer.
			shapes, err := InferShapes(g, 1)
			if err != nil {
				t.Fatal(err)
			}
			nodes := map[string]*Node{}
			for _, n := range g.Nodes {
				nodes[n.Name] = n
			}
			for _, l := range spec.Layers {
				n := nodes[l.Name]
				if n == nil {
					t.Fatalf("no node for layer %s", l.Name)
				}
				if got := shapes[n.Outputs[0]]; !equalShape(got, l.OutShape) {
					t.Errorf("layer %s: shape %v, gen_models %v", l.Name, got, l.OutShape)
				}
				if l.PadsTBLR != nil {
					x, w := shapes[n.Inputs[0]], shapes[n.Inputs[1]]
					pt, pb, pl, pr, _, _, err := ConvPads(n, x[1], x[2], w[0], w[1])
					if err != nil || !equalShape([]int{pt, pb, pl, pr}, l.PadsTBLR) {
						t.Errorf("layer %s: pads %v (%v), gen_models %v", l.Name, []int{pt, pb, pl, pr}, err, l.PadsTBLR)
					}
				}
			}
		})
	}
}

func f32bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// TestZooTextbookCounts holds the MobileNets to their published sizes
// (Howard et al. 2017: v1 1.0-224 4.2M parameters, 569M mult-adds; Sandler et
// al. 2018: v2 1.0-224 3.4M parameters, 300M mult-adds; ours count folded
// batch-norm biases, hence 3.49M) and the anchors' figures for the small nets.
func TestZooTextbookCounts(t *testing.T) {
	cases := []struct {
		name          string
		params        int64
		paramTol      float64
		macs, macsTol float64
	}{
		{"lenet5", 61706, 0, 0.4165e6, 0.01},               // gen_models: 61,706 params, 416,520 MACs
		{"mobilenet_v1_025_128", 467336, 0, 13.57e6, 0.01}, // gen_models: 467,336 params, 13.57M MACs
		{"mobilenet_v1_100_224", 4.2e6, 0.02, 569e6, 0.01},
		{"mobilenet_v2_100_224", 3.5e6, 0.03, 300e6, 0.01},
	}
	for _, c := range cases {
		g, err := Zoo(c.name)
		if err != nil {
			t.Fatal(err)
		}
		shapes, err := InferShapes(g, 1)
		if err != nil {
			t.Fatal(err)
		}
		params := CountParams(g)
		macs := float64(CountFLOPs(g, shapes)) / 2
		if math.Abs(float64(params)-float64(c.params)) > c.paramTol*float64(c.params) {
			t.Errorf("%s: %d parameters, want %d within %.0f%%", c.name, params, c.params, 100*c.paramTol)
		}
		if math.Abs(macs-c.macs) > c.macsTol*c.macs {
			t.Errorf("%s: %.4gM MACs, want %.4gM within %.0f%%", c.name, macs/1e6, c.macs/1e6, 100*c.macsTol)
		}
	}
}

func TestZooV2Structure(t *testing.T) {
	g, err := MobileNetV2(1.0, 224)
	if err != nil {
		t.Fatal(err)
	}
	shapes, err := InferShapes(g, 1)
	if err != nil {
		t.Fatal(err)
	}
	adds := 0
	for _, n := range g.Nodes {
		if n.Op == OpAdd {
			adds++
		}
	}
	if adds != 10 { // Keras MobileNetV2: 10 residual adds
		t.Errorf("%d residual adds, want 10", adds)
	}
	for name, want := range map[string][]int{
		"Conv1": {1, 112, 112, 32}, "expanded_conv_project": {1, 112, 112, 16},
		"block_16_project": {1, 7, 7, 320}, "Conv_1": {1, 7, 7, 1280}, "output": {1, 1000},
	} {
		if !equalShape(shapes[name], want) {
			t.Errorf("%s: shape %v, want %v", name, shapes[name], want)
		}
	}
	for _, c := range []struct {
		v    float64
		want int
	}{{32 * 0.35, 16}, {16 * 0.35, 8}, {24 * 0.35, 8}, {33, 32}, {320 * 1.4, 448}, {32, 32}} {
		if got := makeDivisible(c.v, 8); got != c.want {
			t.Errorf("makeDivisible(%g) = %d, want %d", c.v, got, c.want)
		}
	}
}

func TestZooNames(t *testing.T) {
	for _, name := range ZooNames() {
		g, err := Zoo(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if g.Name != name || g.Inputs[0].Name != "input" || g.Outputs[0].Name != "output" {
			t.Errorf("%s: graph %q input %q output %q", name, g.Name, g.Inputs[0].Name, g.Outputs[0].Name)
		}
		if g.Metadata["licence"] != zooLicence || g.Metadata["source"] == "" || g.Metadata["preprocessing"] == "" {
			t.Errorf("%s: metadata %v", name, g.Metadata)
		}
		in, shape, err := ZooInput(name)
		if err != nil || len(in) != NumElements(shape) || !equalShape(shape[1:], g.Inputs[0].Shape[1:]) {
			t.Errorf("%s: ZooInput shape %v, %v", name, shape, err)
		}
	}
	for _, bad := range []string{"", "resnet50", "mobilenet_v3_100_224", "mobilenet_v1_25_128", "mobilenet_v1_100_16", "mobilenet_v1_100_0224", "mobilenet_v2_999_224"} {
		if _, err := Zoo(bad); err == nil {
			t.Errorf("Zoo(%q) succeeded", bad)
		}
	}
}
