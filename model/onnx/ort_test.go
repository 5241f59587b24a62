package onnx

import (
	"encoding/json"
	"testing"

	"github.com/edgenn/edgenn/model"
)

// TestORTAnchors imports the anchors' ONNX models (NCHW, opset 13) and holds
// edgenn's outputs and pre-softmax scores to ONNX Runtime Web's on the same
// fixed inputs (scripts/onnxrefs/ort_ref.js): within 1e-4.
func TestORTAnchors(t *testing.T) {
	for _, name := range []string{"lenet5", "mobilenet_v1_025_128"} {
		t.Run(name, func(t *testing.T) {
			var spec struct {
				InputShape []int  `json:"input_shape"`
				Samples    int    `json:"samples"`
				Logits     string `json:"logits"`
				Version    string `json:"version"`
			}
			if err := json.Unmarshal(readFile(t, refPath(t, "ort", name+".json")), &spec); err != nil {
				t.Fatal(err)
			}
			inputs := readFloats(t, refPath(t, "ort", name+".input.bin"))
			wantOut := readFloats(t, refPath(t, "ort", name+".output.bin"))
			wantLogits := readFloats(t, refPath(t, "ort", name+".logits.bin"))
			per := numel(spec.InputShape)
			if spec.Samples < 1 || len(inputs) != per*spec.Samples {
				t.Fatalf("%d input values for %d samples of %v", len(inputs), spec.Samples, spec.InputShape)
			}
			g, rep, err := Import(readFile(t, refPath(t, "ort", name+".onnx")))
			if err != nil {
				t.Fatal(err)
			}
			if !equal(g.Inputs[0].Shape, spec.InputShape) {
				t.Errorf("input shape %v, want ORT's NCHW %v", g.Inputs[0].Shape, spec.InputShape)
			}
			t.Logf("mapped %v; folded %v; notes %v", rep.Mapped, rep.Folded, rep.Notes)
			aug, _, err := Import(readFile(t, refPath(t, "ort", name+".logits.onnx")))
			if err != nil {
				t.Fatal(err)
			}
			if len(aug.Outputs) != 2 || aug.Outputs[1].Name != spec.Logits {
				t.Fatalf("outputs %v, want output and %s", aug.Outputs, spec.Logits)
			}
			transposes := 0
			for _, n := range g.Nodes {
				if n.Op == model.OpGemm || n.Op == model.OpMatMul {
					t.Errorf("node %s is %s; a constant-weight Gemm should be a Dense", n.Name, n.Op)
				}
				if n.Op == model.OpTranspose {
					transposes++
				}
			}
			// LeNet's 1-channel input moves to NHWC by a free Reshape, and its
			// Flatten feeds a Dense whose rows are re-laid instead; MobileNet's
			// 3-channel input needs the one Transpose.
			if want := map[string]int{"lenet5": 0, "mobilenet_v1_025_128": 1}[name]; transposes != want {
				t.Errorf("%d Transpose nodes, want %d", transposes, want)
			}
			nOut, nLogits := len(wantOut)/spec.Samples, len(wantLogits)/spec.Samples
			for i := 0; i < spec.Samples; i++ {
				x := inputs[i*per : (i+1)*per]
				got := run(t, g, x)[0]
				d, _ := maxDiff(got, wantOut[i*nOut:(i+1)*nOut])
				outs := run(t, aug, x)
				dl, scale := maxDiff(outs[1], wantLogits[i*nLogits:(i+1)*nLogits])
				d2, _ := maxDiff(outs[0], got)
				t.Logf("input %d: max abs diff vs onnxruntime-web %s: output %.3g, pre-softmax scores %.3g (up to %.3g)", i, spec.Version, d, dl, scale)
				if !(d <= 1e-4) || !(dl <= 1e-4) || d2 != 0 {
					t.Errorf("input %d: max abs diff %g (output), %g (scores), %g (output of the two imports), want <= 1e-4", i, d, dl, d2)
				}
			}
		})
	}
}
