package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/edgenn/edgenn/engine"
)

// pipelineEnv returns the models folder and the photo, skipping when
// make run-models or scripts/fetch_photos.sh has not been run.
func pipelineEnv(t testing.TB) (models, photo string) {
	t.Helper()
	models = filepath.Join("..", "build", "run-models")
	photo = filepath.Join("..", ".cache", "photos", "astronaut.png")
	for _, f := range []struct{ path, how string }{
		{filepath.Join(models, "blazeface.enn"), "make run-models"},
		{filepath.Join(models, "emotion.enn"), "make run-models"},
		{filepath.Join(models, "mobilenet_v1_025_128.enn"), "make run-models"},
		{photo, "scripts/fetch_photos.sh (make import-refs runs it)"},
	} {
		if _, err := os.Stat(f.path); err != nil {
			t.Skipf("%s is missing (%s makes it): the pipeline test needs the real models and photo", f.path, f.how)
		}
	}
	return models, photo
}

// TestPipelineCommand runs edgenn pipeline end to end on a few frames and
// checks its report: every mode, the solo run added, one JSON line each.
func TestPipelineCommand(t *testing.T) {
	models, photo := pipelineEnv(t)
	var out bytes.Buffer
	if err := cmdPipeline([]string{"--models", models, "--photo", photo, "--frames", "3", "--tasks", "4", "--mode", "all", "--lanes", "2"}, &out); err != nil {
		t.Fatal(err)
	}
	var got []pipeReport
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var r pipeReport
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%v in %q", err, line)
		}
		got = append(got, r)
	}
	want := []struct {
		mode  string
		tasks int
		views float64 // a face per frame: its crop is one more view
	}{
		{"provider", 1, 1}, {"provider", 4, 3},
		{"naive", 1, 1}, {"naive", 4, 4},
		{"naive-tfjs", 1, 1}, {"naive-tfjs", 4, 4},
		{"isolated", 1, 1}, {"isolated", 4, 5}, // emotion makes the face view again
	}
	if len(got) != len(want) {
		t.Fatalf("%d report lines, want %d:\n%s", len(got), len(want), out.String())
	}
	for i, w := range want {
		r := got[i]
		if r.Mode != w.mode || r.Tasks != w.tasks || len(r.PerTask) != w.tasks {
			t.Errorf("line %d: %s with %d tasks (%d per-task rows), want %s with %d", i, r.Mode, r.Tasks, len(r.PerTask), w.mode, w.tasks)
			continue
		}
		if r.FramesComplete != 3 || r.Results != 3*w.tasks || r.ViewsPerFrame != w.views {
			t.Errorf("%s, %d tasks: %d frames complete, %d results, %.2f views a frame; want 3, %d, %v", w.mode, w.tasks, r.FramesComplete, r.Results, r.ViewsPerFrame, 3*w.tasks, w.views)
		}
		if w.tasks > 1 && !(r.TopP95VsSolo > 0) {
			t.Errorf("%s, %d tasks: no p95 ratio against the solo run", w.mode, w.tasks)
		}
		if r.ResultsPerSec <= 0 || r.PerTask[0].P95MS <= 0 || r.Memory.HeapInuse == 0 || r.Memory.FramesBytes != 3*640*480*4 {
			t.Errorf("%s, %d tasks: throughput %v, p95 %v ms, memory %+v", w.mode, w.tasks, r.ResultsPerSec, r.PerTask[0].P95MS, r.Memory)
		}
	}
}

// TestPipelineResults checks what the tasks find on the recorded frames:
// the astronaut's face where it is in each frame, her emotion read on it
// (she smiles), views made once per frame each with the Provider and once
// per task without, and the same detections either way.
func TestPipelineResults(t *testing.T) {
	models, photo := pipelineEnv(t)
	const frames = 4
	seq, err := recordFrames(photo, frames)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	results := map[string][]engine.Result{}
	b := &pipeBench{models: models, frames: seq, lanes: 2, minScore: 0.5, keep: func(mode string, r engine.Result) {
		mu.Lock()
		results[mode] = append(results[mode], r)
		mu.Unlock()
	}}
	reports := map[string]*pipeReport{}
	for _, mode := range []string{"provider", "naive", "naive-tfjs", "isolated"} {
		if reports[mode], err = b.run(mode, 4); err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
	}
	happy := 3 // angry,disgust,fear,happy,sad,surprise,neutral
	faces := map[string]map[uint64]engine.Box{}
	emotion := map[string]map[uint64][]float32{}
	for mode, rs := range results {
		faces[mode] = map[uint64]engine.Box{}
		emotion[mode] = map[uint64][]float32{}
		emotions := map[uint64]bool{}
		for _, r := range rs {
			if r.Err != nil {
				t.Errorf("%s: %s on frame %d: %v", mode, r.Task, r.Frame, r.Err)
				continue
			}
			switch r.Task {
			case "face":
				if len(r.Boxes) != 1 {
					t.Errorf("%s: frame %d: %d faces, want 1: %v", mode, r.Frame, len(r.Boxes), r.Boxes)
					continue
				}
				faces[mode][r.Frame] = r.Boxes[0]
				checkFaceBox(t, mode, int(r.Frame-1), frames, r.Boxes[0])
			case "emotion":
				emotions[r.Frame] = true
				if r.Batch != 1 || len(r.Outputs) != 1 || len(r.Outputs[0]) != 7 {
					t.Errorf("%s: frame %d: emotion batch %d, outputs %d", mode, r.Frame, r.Batch, len(r.Outputs))
					continue
				}
				p := r.Outputs[0]
				emotion[mode][r.Frame] = p
				sum := float32(0)
				for _, v := range p {
					sum += v
				}
				if math.Abs(float64(sum)-1) > 1e-3 || argmax(p) != happy {
					t.Errorf("%s: frame %d: emotion probabilities %v (sum %.4f), want happy (class %d) first", mode, r.Frame, p, sum, happy)
				}
			}
		}
		if len(faces[mode]) != frames || len(emotions) != frames {
			t.Errorf("%s: faces on %d frames, emotions on %d, want %d each", mode, len(faces[mode]), len(emotions), frames)
		}
	}
	// The Provider makes the face view, the face's crop and the classifier
	// view once a frame, and classify2 shares classify's; each naive task
	// makes its own.
	if r := reports["provider"]; r.ViewsPrepared != 3*frames || r.ViewsShared != frames {
		t.Errorf("provider: %d views made, %d shared over %d frames; want %d and %d", r.ViewsPrepared, r.ViewsShared, frames, 3*frames, frames)
	}
	for _, mode := range []string{"naive", "naive-tfjs"} {
		if r := reports[mode]; r.ViewsPrepared != 4*frames || r.ViewsShared != 0 {
			t.Errorf("%s: %d views made, %d shared over %d frames; want %d and 0", mode, r.ViewsPrepared, r.ViewsShared, frames, 4*frames)
		}
	}
	// An isolated emotion task finds the face itself: the face view twice.
	if r := reports["isolated"]; r.ViewsPrepared != 5*frames || r.ViewsShared != 0 {
		t.Errorf("isolated: %d views made, %d shared over %d frames; want %d and 0", r.ViewsPrepared, r.ViewsShared, frames, 5*frames)
	}
	if r := reports["naive-tfjs"]; r.FrameConversions != 4*frames {
		t.Errorf("naive-tfjs: %d whole-frame conversions, want one per task and frame (%d)", r.FrameConversions, 4*frames)
	}
	// The Provider and naive engine.Prepare make the same views for the
	// same Sessions: the same boxes to float rounding.
	for id, p := range faces["provider"] {
		n := faces["naive"][id]
		if d := max(abs32(p.X0-n.X0), abs32(p.Y0-n.Y0), abs32(p.X1-n.X1), abs32(p.Y1-n.Y1)); d > 0.01 {
			t.Errorf("frame %d: provider's face %v, naive's %v", id, p, n)
		}
		// The isolated emotion task's own detection gives the same crop,
		// so the same probabilities as the Provider's chain.
		pe, ie := emotion["provider"][id], emotion["isolated"][id]
		for k := range pe {
			if k >= len(ie) || math.Abs(float64(pe[k]-ie[k])) > 1e-5 {
				t.Errorf("frame %d: emotion %v with the Provider, %v isolated", id, pe, ie)
				break
			}
		}
	}
}

// checkFaceBox holds a face box, mapped back to the photo through frame
// i's window, to where her face is in the 512x512 photo (as TestE2EFaces
// does: brows to chin, ear to ear, about x 170..280, y 60..200).
func checkFaceBox(t *testing.T, mode string, i, n int, b engine.Box) {
	t.Helper()
	x0, y0, w := pipeWindow(i, n, 512, 512)
	k := w / pipeFrameW
	px := [4]float64{x0 + float64(b.X0)*k, y0 + float64(b.Y0)*k, x0 + float64(b.X1)*k, y0 + float64(b.Y1)*k}
	lo := [4]float64{150, 40, 250, 160}
	hi := [4]float64{200, 110, 300, 220}
	for j := range px {
		if px[j] < lo[j] || px[j] > hi[j] {
			t.Errorf("%s: frame %d: face box %v px is (%.0f, %.0f)-(%.0f, %.0f) in the photo, want within %v..%v", mode, i+1, b, px[0], px[1], px[2], px[3], lo, hi)
			return
		}
	}
}

func abs32(x float32) float32 { return float32(math.Abs(float64(x))) }

// BenchmarkPipelinePrepare times the views the tasks make from one
// 640x480 frame with engine.Prepare, and naive-tfjs's way.
func BenchmarkPipelinePrepare(b *testing.B) {
	_, photo := pipelineEnv(b)
	seq, err := recordFrames(photo, 2)
	if err != nil {
		b.Fatal(err)
	}
	box := engine.Box{X0: 250, Y0: 100, X1: 380, Y1: 260}
	for _, task := range pipeTasks(3) {
		dst := make([]float32, task.view.Len())
		b.Run(task.name+"/prepare", func(b *testing.B) {
			for range b.N {
				if err := engine.Prepare(dst, &seq[0], task.view, box); err != nil {
					b.Fatal(err)
				}
			}
		})
		nt := &naiveTask{pipeTask: task, p: &naivePipeline{}}
		b.Run(task.name+"/tfjs", func(b *testing.B) {
			for range b.N {
				if err := nt.prepareTFJS(dst, &seq[0], []engine.Box{box}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
