package main

// edgenn pipeline: one source, many tasks (issue 6). A recorded sequence of
// 640x480 frames (a slow pan and zoom across a photo) feeds 1 to 4 tasks:
//
//	1 face      BlazeFace on the whole frame, letterboxed to 256x256, RGB in [-1, 1]
//	2 emotion   chained on the faces: a square 1.2x crop, 64x64 grey in [-1, 1]
//	3 classify  MobileNet on the whole frame, 128x128 RGB in [0, 1]
//	4 classify2 a second consumer of classify's view (the same MobileNet
//	            weights stand in for a second head)
//
// three ways:
//
//	provider    engine.Scheduler: the frame is pushed once; each distinct
//	            view of it is made once by the Provider and shared; lanes
//	            are given to tasks by priority.
//	naive       what a user writes without the Provider: each task is a
//	            goroutine that keeps the newest frame offered to it, makes
//	            its own input from the whole RGBA frame with engine.Prepare
//	            (the same views, filters and value ranges), then takes any
//	            free lane of a shared pool (first come, first served), runs,
//	            and hands its boxes to the tasks chained on it.
//	naive-tfjs  as naive, but each task makes its input as a TensorFlow.js
//	            user does: the whole frame to float32 RGB
//	            (tf.browser.fromPixels), then crop, bilinear resize and
//	            normalise (resizeBilinear, cropAndResize, rgbToGrayscale).
//	isolated    as naive, but each task is a pipeline of its own, sharing
//	            nothing with the others: a chained task finds its boxes
//	            itself (the emotion task runs the face detector on its own
//	            view of the frame first, as face-api.js's
//	            detectAllFaces().withFaceExpressions() does).
//
// Every mode has the same lanes (--lanes, each one Session per task) and the
// same models; latency runs from the frame's push to the task's result.
// --fps 0 pushes a frame when every task has finished with the one before
// (throughput); --fps N pushes at N frames a second and tasks that fall
// behind drop to the newest frame (latency under load).

import (
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/edgenn/edgenn/engine"
)

// Frame geometry of the recorded sequence.
const (
	pipeFrameW = 640
	pipeFrameH = 480
)

// pipeTask is one task of the benchmark, the same in every mode.
type pipeTask struct {
	name, model string // model: file name in --models (or build/models)
	priority    int
	view        engine.View
	from        string // the task whose boxes it runs on
}

// pipeMaxBoxes caps the faces the emotion task takes from one frame.
const pipeMaxBoxes = 8

// pipeTasks returns the first n tasks, in priority order.
func pipeTasks(n int) []pipeTask {
	unit := [3]float32{127.5, 127.5, 127.5}
	all := []pipeTask{
		{name: "face", model: "blazeface.enn", priority: 3, view: engine.View{
			Width: 256, Height: 256, Fit: "letterbox", Resize: "area", Mean: unit, Std: unit}},
		{name: "emotion", model: "emotion.enn", priority: 2, from: "face", view: engine.View{
			Crop: "face", Square: true, Enlarge: 1.2, Width: 64, Height: 64, Resize: "area", Color: "gray", Mean: unit, Std: unit}},
		{name: "classify", model: "mobilenet_v1_025_128.enn", priority: 1, view: engine.View{
			Width: 128, Height: 128, Resize: "area", Std: [3]float32{255, 255, 255}}},
		{name: "classify2", model: "mobilenet_v1_025_128.enn", priority: 0, view: engine.View{
			Width: 128, Height: 128, Resize: "area", Std: [3]float32{255, 255, 255}}},
	}
	return all[:n]
}

// pipeReport is one JSON line: one mode, one task count.
type pipeReport struct {
	Runtime string  `json:"runtime"`
	Mode    string  `json:"mode"`
	Tasks   int     `json:"tasks"`
	Lanes   int     `json:"lanes"`
	Round   int     `json:"round"`
	Frames  int     `json:"frames"`
	FPS     float64 `json:"fps"`
	// ElapsedS runs from the first push to the last frame's last result.
	ElapsedS      float64 `json:"elapsed_s"`
	Results       int     `json:"results"`
	ResultsPerSec float64 `json:"results_per_sec"`
	// FramesComplete counts frames every task ran on (emotion only where a
	// face was found).
	FramesComplete int     `json:"frames_complete"`
	FramesPerSec   float64 `json:"frames_complete_per_sec"`
	// ViewsPrepared counts the views made (Provider.Stats().Prepared, or
	// the naive tasks' Prepare calls); ViewsShared the requests served from
	// one made earlier; FrameConversions naive-tfjs's whole-frame float
	// copies.
	// LaneBusy is the tasks' compute over the lanes' time (elapsed x
	// lanes): below 1 at --fps 0, the lanes idled while a frame waited.
	LaneBusy         float64         `json:"lane_busy"`
	ViewsPrepared    uint64          `json:"views_prepared"`
	ViewsPerFrame    float64         `json:"views_prepared_per_frame"`
	ViewsShared      uint64          `json:"views_shared"`
	FrameConversions uint64          `json:"frame_conversions,omitempty"`
	PerTask          []pipeTaskStats `json:"per_task"`
	// TopP95VsSolo is the top-priority task's p95 latency over its p95
	// when it runs alone in the same mode (the tasks=1 run).
	TopP95VsSolo float64        `json:"top_p95_vs_solo,omitempty"`
	Memory       pipeMemoryStat `json:"memory"`
	GoVersion    string         `json:"go"`
}

type pipeTaskStats struct {
	Task     string  `json:"task"`
	Model    string  `json:"model"`
	Priority int     `json:"priority"`
	Runs     int     `json:"runs"`
	Samples  int     `json:"samples"`
	Dropped  uint64  `json:"dropped"`
	Errors   int     `json:"errors"`
	P50MS    float64 `json:"p50_ms"`
	P95MS    float64 `json:"p95_ms"`
	// ComputeMS is the mean time a run spends making its input, running
	// and decoding (the scheduler's lane time); ComputeShare its part of
	// all tasks' compute.
	ComputeMS    float64 `json:"compute_ms"`
	ComputeShare float64 `json:"compute_share"`
}

// pipeMemoryStat is memory after the run with the lanes still held: the
// Go heap in use after a collection (the recorded frames included: see
// FramesBytes) and, in wasm, the linear memory (it only grows, so it is
// the process's peak so far, earlier runs included).
type pipeMemoryStat struct {
	HeapInuse   uint64 `json:"heap_inuse_bytes"`
	Sys         uint64 `json:"sys_bytes"`
	FramesBytes int    `json:"frames_bytes"`
	Wasm        int    `json:"wasm_memory_bytes,omitempty"`
}

func cmdPipeline(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("pipeline", flag.ContinueOnError)
	models := fs.String("models", "build/run-models", "folder of blazeface.enn, emotion.enn, mobilenet_v1_025_128.enn")
	photo := fs.String("photo", ".cache/photos/astronaut.png", "the photo the frames pan across")
	frames := fs.Int("frames", 120, "frames in the recorded sequence")
	fps := fs.Float64("fps", 0, "frames pushed a second; 0 pushes each when every task has finished the one before")
	tasks := fs.String("tasks", "1,2,3,4", "task counts to run, comma-separated (1 face, 2 +emotion, 3 +classify, 4 +classify2)")
	modes := fs.String("mode", "both", "provider, naive, naive-tfjs, isolated, comma-separated; both = provider,naive; all = the four")
	lanes := fs.Int("lanes", defaultLanes(), "compute lanes (each holds one Session per task)")
	minScore := fs.Float64("min-score", 0.5, "face detector score threshold")
	rounds := fs.Int("rounds", 1, "times to run the modes, alternating")
	maxRuns := fs.Int("max-runs", 1, "provider: lanes the face detector may run on at once (engine.Task.MaxRuns)")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	counts, err := parseCounts(*tasks)
	if err != nil {
		return err
	}
	modeList, err := parseModes(*modes)
	if err != nil {
		return err
	}
	if *frames < 2 || *frames > 100000 || *fps < 0 || *lanes < 1 || *lanes > 64 || *rounds < 1 || *rounds > 100 || *maxRuns < 1 || *maxRuns > *lanes {
		return fmt.Errorf("--frames must be in 2..100000, --fps not negative, --lanes in 1..64, --rounds in 1..100, --max-runs in 1..lanes")
	}
	seq, err := recordFrames(*photo, *frames)
	if err != nil {
		return err
	}
	b := &pipeBench{models: *models, frames: seq, fps: *fps, lanes: *lanes, minScore: float32(*minScore), maxRuns: *maxRuns}
	// V8 first runs wasm as baseline code and optimises hot functions in
	// the background over a second or more, so whatever runs first in a
	// process runs slower. Every mode runs once unmeasured, with every task.
	warm := *b
	warm.frames, warm.fps = seq[:min(len(seq), 24)], 0
	for _, mode := range modeList {
		if _, err := warm.run(mode, slices.Max(counts)); err != nil {
			return fmt.Errorf("warming up %s: %w", mode, err)
		}
	}
	enc := json.NewEncoder(stdout)
	// The top-priority task alone is the solo reference of each mode.
	if counts[0] != 1 {
		counts = append([]int{1}, counts...)
	}
	// Rounds alternate the modes, so that the machine's slow stretches
	// and V8's late optimisation fall on every mode alike.
	for round := 1; round <= *rounds; round++ {
		for _, mode := range modeList {
			var solo time.Duration
			for _, n := range counts {
				r, err := b.run(mode, n)
				if err != nil {
					return fmt.Errorf("%s, %d tasks: %w", mode, n, err)
				}
				r.Round = round
				top := time.Duration(r.PerTask[0].P95MS * 1e6)
				if n == 1 {
					solo = top
				} else if solo > 0 {
					r.TopP95VsSolo = float64(top) / float64(solo)
				}
				if err := enc.Encode(r); err != nil {
					return err
				}
				printPipeReport(os.Stderr, r)
			}
		}
	}
	return nil
}

func defaultLanes() int {
	if runtime.GOARCH == "wasm" {
		return 1 // one thread: more lanes only interleave
	}
	return min(runtime.NumCPU(), 4)
}

func parseCounts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		var n int
		if _, err := fmt.Sscan(strings.TrimSpace(f), &n); err != nil || n < 1 || n > 4 {
			return nil, fmt.Errorf("--tasks %q: want counts in 1..4, comma-separated", s)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

func parseModes(s string) ([]string, error) {
	switch s {
	case "both":
		return []string{"provider", "naive"}, nil
	case "all":
		return []string{"provider", "naive", "naive-tfjs", "isolated"}, nil
	}
	var out []string
	for _, m := range strings.Split(s, ",") {
		switch m {
		case "provider", "naive", "naive-tfjs", "isolated":
			out = append(out, m)
		default:
			return nil, fmt.Errorf("--mode %q: want provider, naive, naive-tfjs, isolated, both or all", m)
		}
	}
	return out, nil
}

// recordFrames makes the recorded sequence: n 640x480 RGBA frames, each a
// 4:3 window of the photo scaled to fill the frame (bilinear), the window
// shrinking from 512 to 384 photo pixels wide while it drifts towards the
// face: a slow zoom and pan, the same for the same n.
func recordFrames(path string, n int) ([]engine.Frame, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w (scripts/fetch_photos.sh fetches the astronaut photo)", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	src := image.NewRGBA(img.Bounds())
	draw.Draw(src, src.Bounds(), img, img.Bounds().Min, draw.Src)
	out := make([]engine.Frame, n)
	for i := range out {
		x0, y0, w := pipeWindow(i, n, src.Rect.Dx(), src.Rect.Dy())
		out[i] = engine.Frame{ID: uint64(i + 1), Width: pipeFrameW, Height: pipeFrameH, RGBA: renderWindow(src, x0, y0, w)}
	}
	return out, nil
}

// pipeWindow returns frame i's window of a pw x ph photo: its top-left
// corner and width in photo pixels (its height is 3/4 of the width).
func pipeWindow(i, n, pw, ph int) (x0, y0, w float64) {
	t := float64(i) / float64(n-1)
	w = float64(pw) * (1 - 0.25*t)
	h := w * 3 / 4
	cx := float64(pw) * (0.5 - 0.08*t + 0.03*math.Sin(2*math.Pi*t))
	cy := float64(ph) * (0.375 - 0.08*t)
	return cx - w/2, cy - h/2, w
}

// renderWindow samples the window (x0, y0, w) of src into a 640x480 RGBA
// frame, bilinear with half-pixel centres; outside the photo is black.
func renderWindow(src *image.RGBA, x0, y0, w float64) []byte {
	px := make([]byte, pipeFrameW*pipeFrameH*4)
	k := w / pipeFrameW
	sw, sh := src.Rect.Dx(), src.Rect.Dy()
	at := func(x, y int) []uint8 {
		x, y = min(max(x, 0), sw-1), min(max(y, 0), sh-1)
		return src.Pix[y*src.Stride+x*4:]
	}
	for Y := 0; Y < pipeFrameH; Y++ {
		v := y0 + (float64(Y)+0.5)*k - 0.5
		for X := 0; X < pipeFrameW; X++ {
			u := x0 + (float64(X)+0.5)*k - 0.5
			o := px[(Y*pipeFrameW+X)*4:]
			o[3] = 255
			if u < -0.5 || v < -0.5 || u > float64(sw)-0.5 || v > float64(sh)-0.5 {
				continue
			}
			iu, iv := math.Floor(u), math.Floor(v)
			fu, fv := u-iu, v-iv
			a, b, c, d := at(int(iu), int(iv)), at(int(iu)+1, int(iv)), at(int(iu), int(iv)+1), at(int(iu)+1, int(iv)+1)
			for ch := 0; ch < 3; ch++ {
				top := float64(a[ch])*(1-fu) + float64(b[ch])*fu
				bot := float64(c[ch])*(1-fu) + float64(d[ch])*fu
				o[ch] = uint8(math.Round(top*(1-fv) + bot*fv))
			}
		}
	}
	return px
}

// pipeBench holds what every run shares.
type pipeBench struct {
	models   string
	frames   []engine.Frame
	fps      float64
	lanes    int
	minScore float32
	maxRuns  int // the face task's engine.Task.MaxRuns (provider)
	// keep, when set, receives every result (the test reads them).
	keep func(mode string, r engine.Result)
}

// modelPath finds a model in --models, else in build/models.
func (b *pipeBench) modelPath(name string) (string, error) {
	p := filepath.Join(b.models, name)
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	alt := filepath.Join(filepath.Dir(filepath.Clean(b.models)), "models", name)
	if _, err := os.Stat(alt); err == nil {
		return alt, nil
	}
	return "", fmt.Errorf("%s not found (make run-models makes it)", p)
}

// pipeLanes builds the lanes: each an engine.Sessions with one Session per
// task, run once so that no plan is built while timing.
func (b *pipeBench) pipeLanes(tasks []pipeTask) ([]engine.Sessions, error) {
	lanes := make([]engine.Sessions, b.lanes)
	for i := range lanes {
		lanes[i] = engine.Sessions{}
		for _, t := range tasks {
			p, err := b.modelPath(t.model)
			if err != nil {
				return nil, err
			}
			s, err := loadSession(p)
			if err != nil {
				return nil, err
			}
			lanes[i][t.name] = s
			if _, err := lanes[i].Run(t.name, 1, make([]float32, t.view.Len())); err != nil {
				return nil, err
			}
		}
	}
	return lanes, nil
}

// faceBoxes returns the face task's decode: the detector's outputs to boxes
// in frame pixels, through the letterbox.
func (b *pipeBench) faceBoxes(s *engine.Session, v engine.View) (func([][]float32, int, int) ([]engine.Box, error), error) {
	g := s.Graph()
	det, err := engine.ParseDetector(g.Metadata[engine.PostprocessKey])
	if err != nil {
		return nil, err
	}
	var shapes [][]int
	for _, o := range s.Outputs() {
		shapes = append(shapes, o.Shape[1:])
	}
	minScore := b.minScore
	return func(outs [][]float32, fw, fh int) ([]engine.Box, error) {
		raw, err := det.Gather(outs, shapes, nil)
		if err != nil {
			return nil, err
		}
		dets, err := det.Decode(raw, minScore, 0.3, pipeMaxBoxes)
		if err != nil {
			return nil, err
		}
		boxes := make([]engine.Box, 0, len(dets))
		for _, d := range dets {
			bx, err := v.ToFrame(fw, fh, engine.Box{}, engine.Box{X0: d.Box[0], Y0: d.Box[1], X1: d.Box[2], Y1: d.Box[3]})
			if err != nil {
				return nil, err
			}
			if bx.X1 > bx.X0 && bx.Y1 > bx.Y0 {
				boxes = append(boxes, bx)
			}
		}
		return boxes, nil
	}, nil
}

// pipeRecorder collects results and tells when a frame is complete: every
// root task has its result, and the tasks chained on one have theirs when
// it found boxes.
type pipeRecorder struct {
	mu       sync.Mutex
	tasks    []pipeTask
	idx      map[string]int
	pushed   map[uint64]time.Time
	state    map[uint64]*pipeFrameState
	lat      [][]time.Duration
	compute  []time.Duration
	runs     []int
	samples  []int
	errs     []int
	firstErr error
	results  int
	complete int
	last     time.Time   // the latest result
	doneCh   chan uint64 // frame IDs as they complete
}

type pipeFrameState struct {
	got   uint32 // tasks with a result, by index
	boxes []int  // boxes each task found; -1 before its result
}

func newPipeRecorder(tasks []pipeTask, frames int) *pipeRecorder {
	r := &pipeRecorder{tasks: tasks, idx: map[string]int{}, pushed: map[uint64]time.Time{}, state: map[uint64]*pipeFrameState{},
		lat: make([][]time.Duration, len(tasks)), compute: make([]time.Duration, len(tasks)),
		runs: make([]int, len(tasks)), samples: make([]int, len(tasks)), errs: make([]int, len(tasks)),
		doneCh: make(chan uint64, frames)}
	for i, t := range tasks {
		r.idx[t.name] = i
	}
	return r
}

// push notes a frame's push time; call it just before the push.
func (r *pipeRecorder) push(id uint64) {
	r.mu.Lock()
	r.pushed[id] = time.Now()
	st := &pipeFrameState{boxes: make([]int, len(r.tasks))}
	for i := range st.boxes {
		st.boxes[i] = -1
	}
	r.state[id] = st
	r.mu.Unlock()
}

// result books one result; compute is its lane time.
func (r *pipeRecorder) result(task string, frame uint64, batch, boxes int, compute time.Duration, err error) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	i := r.idx[task]
	r.last = now
	r.results++
	r.runs[i]++
	r.samples[i] += batch
	r.compute[i] += compute
	if err != nil {
		r.errs[i]++
		if r.firstErr == nil {
			r.firstErr = err
		}
	} else {
		r.lat[i] = append(r.lat[i], now.Sub(r.pushed[frame]))
	}
	st := r.state[frame]
	if st == nil {
		return
	}
	st.got |= 1 << i
	st.boxes[i] = boxes
	for j, t := range r.tasks {
		if st.got&(1<<j) != 0 {
			continue
		}
		if t.from == "" {
			return
		}
		if p := r.idx[t.from]; st.got&(1<<p) == 0 || st.boxes[p] > 0 {
			return
		}
	}
	delete(r.state, frame)
	r.complete++
	r.doneCh <- frame
}

// waitFrame waits until frame id is complete; earlier frames completing
// (or never completing, when dropped) do not matter.
func (r *pipeRecorder) waitFrame(id uint64, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case got := <-r.doneCh:
			if got == id {
				return nil
			}
		case <-deadline.C:
			r.mu.Lock()
			err := r.firstErr
			r.mu.Unlock()
			if err != nil {
				return fmt.Errorf("frame %d did not complete within %v: %w", id, timeout, err)
			}
			return fmt.Errorf("frame %d did not complete within %v", id, timeout)
		}
	}
}

// drain waits until frame id is complete, or no result has come for quiet.
func (r *pipeRecorder) drain(id uint64, quiet, timeout time.Duration) error {
	tick := time.NewTicker(quiet / 10)
	defer tick.Stop()
	t0 := time.Now()
	for {
		select {
		case got := <-r.doneCh:
			if got == id {
				return nil
			}
		case <-tick.C:
			r.mu.Lock()
			idle := time.Since(r.last)
			r.mu.Unlock()
			if idle > quiet && time.Since(t0) > quiet {
				return nil
			}
			if time.Since(t0) > timeout {
				return fmt.Errorf("the tasks were still busy %v after the last frame", timeout)
			}
		}
	}
}

// pipeline is one way of running the tasks over the frames.
type pipeline interface {
	push(f *engine.Frame) error
	close()
	dropped() []uint64
	views() (prepared, shared, conversions uint64)
}

// run runs one mode with the first n tasks over the recorded frames.
func (b *pipeBench) run(mode string, n int) (*pipeReport, error) {
	tasks := pipeTasks(n)
	lanes, err := b.pipeLanes(tasks)
	if err != nil {
		return nil, err
	}
	boxes, err := b.faceBoxes(lanes[0]["face"], tasks[0].view)
	if err != nil {
		return nil, err
	}
	rec := newPipeRecorder(tasks, len(b.frames))
	var p pipeline
	switch mode {
	case "provider":
		p, err = newProviderPipeline(tasks, lanes, boxes, rec, b.maxRuns, b.keepFn(mode))
	default:
		p = newNaivePipeline(tasks, lanes, boxes, rec, mode, b.keepFn(mode))
	}
	if err != nil {
		return nil, err
	}
	runtime.GC()
	const timeout = 60 * time.Second
	start := time.Now()
	var period time.Duration
	if b.fps > 0 {
		period = time.Duration(float64(time.Second) / b.fps)
	}
	for i := range b.frames {
		f := &b.frames[i]
		if period > 0 {
			if d := time.Until(start.Add(time.Duration(i) * period)); d > 0 {
				time.Sleep(d)
			}
		}
		rec.push(f.ID)
		if err := p.push(f); err != nil {
			p.close()
			return nil, err
		}
		if period == 0 {
			if err := rec.waitFrame(f.ID, timeout); err != nil {
				p.close()
				return nil, err
			}
		}
	}
	if period > 0 {
		// The tasks usually all run the last frame, as nothing replaces
		// it, but a task the scheduler has slowed passes over an input
		// too old for its next start: then wait for quiet.
		if err := rec.drain(b.frames[len(b.frames)-1].ID, 2*time.Second, timeout); err != nil {
			p.close()
			return nil, err
		}
	}
	rec.mu.Lock()
	elapsed := rec.last.Sub(start)
	rec.mu.Unlock()
	r := &pipeReport{Runtime: runtimeName(), Mode: mode, Tasks: n, Lanes: b.lanes, Frames: len(b.frames), FPS: b.fps,
		ElapsedS: elapsed.Seconds(), GoVersion: runtime.Version()}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	r.Memory = pipeMemoryStat{HeapInuse: ms.HeapInuse, Sys: ms.Sys, FramesBytes: len(b.frames) * pipeFrameW * pipeFrameH * 4, Wasm: wasmMemoryBytes()}
	p.close()
	r.ViewsPrepared, r.ViewsShared, r.FrameConversions = p.views()
	r.ViewsPerFrame = float64(r.ViewsPrepared) / float64(len(b.frames))
	drops := p.dropped()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.firstErr != nil {
		return nil, rec.firstErr
	}
	r.Results, r.FramesComplete = rec.results, rec.complete
	r.ResultsPerSec = float64(r.Results) / elapsed.Seconds()
	r.FramesPerSec = float64(r.FramesComplete) / elapsed.Seconds()
	var all time.Duration
	for _, c := range rec.compute {
		all += c
	}
	r.LaneBusy = all.Seconds() / (elapsed.Seconds() * float64(b.lanes))
	for i, t := range tasks {
		st := pipeTaskStats{Task: t.name, Model: strings.TrimSuffix(t.model, ".enn"), Priority: t.priority,
			Runs: rec.runs[i], Samples: rec.samples[i], Dropped: drops[i], Errors: rec.errs[i]}
		lat := slices.Clone(rec.lat[i])
		slices.Sort(lat)
		if len(lat) > 0 {
			q := func(p float64) float64 {
				return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Nanoseconds()) / 1e6
			}
			st.P50MS, st.P95MS = q(0.5), q(0.95)
		}
		if rec.runs[i] > 0 {
			st.ComputeMS = float64(rec.compute[i].Nanoseconds()) / 1e6 / float64(rec.runs[i])
		}
		if all > 0 {
			st.ComputeShare = float64(rec.compute[i]) / float64(all)
		}
		r.PerTask = append(r.PerTask, st)
	}
	return r, nil
}

func (b *pipeBench) keepFn(mode string) func(engine.Result) {
	if b.keep == nil {
		return nil
	}
	return func(r engine.Result) { b.keep(mode, r) }
}

// providerPipeline is the tasks on an engine.Scheduler.
type providerPipeline struct {
	s     *engine.Scheduler
	names []string
}

func newProviderPipeline(tasks []pipeTask, lanes []engine.Sessions, boxes func([][]float32, int, int) ([]engine.Box, error),
	rec *pipeRecorder, maxRuns int, keep func(engine.Result)) (*providerPipeline, error) {
	runners := make([]engine.Runner, len(lanes))
	for i, l := range lanes {
		runners[i] = l
	}
	s, err := engine.NewScheduler(engine.SchedulerOptions{Lanes: runners})
	if err != nil {
		return nil, err
	}
	p := &providerPipeline{s: s}
	for _, t := range tasks {
		et := engine.Task{Name: t.name, Priority: t.priority, View: t.view, From: t.from, MaxBoxes: pipeMaxBoxes}
		if t.name == "face" {
			et.Boxes, et.MaxRuns = boxes, maxRuns
		}
		err := s.Add(et, func(r engine.Result) {
			nb := 0
			if et.Boxes != nil {
				nb = len(r.Boxes)
			}
			if keep != nil {
				keep(r)
			}
			rec.result(r.Task, r.Frame, r.Batch, nb, r.Compute, r.Err)
		})
		if err != nil {
			s.Close()
			return nil, err
		}
		p.names = append(p.names, t.name)
	}
	return p, nil
}

func (p *providerPipeline) push(f *engine.Frame) error { return p.s.Push(*f) }
func (p *providerPipeline) close()                     { p.s.Close() }

func (p *providerPipeline) dropped() []uint64 {
	var d []uint64
	for _, m := range p.s.Metrics() {
		d = append(d, m.Dropped)
	}
	return d
}

func (p *providerPipeline) views() (prepared, shared, conversions uint64) {
	st := p.s.Provider().Stats()
	return st.Prepared, st.Shared, 0
}

// naivePipeline is the tasks as a user writes them without the Provider:
// a goroutine each, each making its own input, all taking lanes from one
// pool.
type naivePipeline struct {
	tasks       []*naiveTask
	pool        chan engine.Sessions
	rec         *pipeRecorder
	keep        func(engine.Result)
	tfjs        bool
	isolated    bool
	mu          sync.Mutex
	prepared    uint64
	conversions uint64
	quit        chan struct{}
	wg          sync.WaitGroup
}

type naiveTask struct {
	pipeTask
	p        *naivePipeline
	boxes    func([][]float32, int, int) ([]engine.Box, error)
	children []*naiveTask
	// parent, in isolated mode, is the task whose boxes this one finds
	// for itself (running parent's model on parent's view, in pin).
	parent  *naiveTask
	pin     []float32
	wake    chan struct{}
	mu      sync.Mutex
	pend    naiveJob
	hasPend bool
	drops   uint64
	in      []float32
	rgb     []float32 // naive-tfjs: the frame as float32 RGB
}

type naiveJob struct {
	f     *engine.Frame
	boxes []engine.Box
}

func newNaivePipeline(tasks []pipeTask, lanes []engine.Sessions, boxes func([][]float32, int, int) ([]engine.Box, error),
	rec *pipeRecorder, mode string, keep func(engine.Result)) *naivePipeline {
	p := &naivePipeline{pool: make(chan engine.Sessions, len(lanes)), rec: rec, keep: keep,
		tfjs: mode == "naive-tfjs", isolated: mode == "isolated", quit: make(chan struct{})}
	for _, l := range lanes {
		p.pool <- l
	}
	byName := map[string]*naiveTask{}
	for _, t := range tasks {
		nt := &naiveTask{pipeTask: t, p: p, wake: make(chan struct{}, 1)}
		if t.name == "face" {
			nt.boxes = boxes
		}
		if t.from != "" && p.isolated {
			nt.parent = byName[t.from]
		} else if t.from != "" {
			byName[t.from].children = append(byName[t.from].children, nt)
		}
		byName[t.name] = nt
		p.tasks = append(p.tasks, nt)
	}
	p.wg.Add(len(p.tasks))
	for _, t := range p.tasks {
		go t.loop()
	}
	return p
}

func (p *naivePipeline) push(f *engine.Frame) error {
	j := naiveJob{f: f}
	for _, t := range p.tasks {
		if t.from == "" || t.parent != nil {
			t.offer(j)
		}
	}
	return nil
}

func (p *naivePipeline) close() {
	close(p.quit)
	p.wg.Wait()
}

func (p *naivePipeline) dropped() []uint64 {
	d := make([]uint64, len(p.tasks))
	for i, t := range p.tasks {
		t.mu.Lock()
		d[i] = t.drops
		t.mu.Unlock()
	}
	return d
}

func (p *naivePipeline) views() (prepared, shared, conversions uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.prepared, 0, p.conversions
}

// offer makes j the task's next input, replacing an older one not started.
func (t *naiveTask) offer(j naiveJob) {
	t.mu.Lock()
	if t.hasPend {
		t.drops++
	}
	t.pend, t.hasPend = j, true
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

func (t *naiveTask) loop() {
	defer t.p.wg.Done()
	for {
		select {
		case <-t.p.quit:
			return
		case <-t.wake:
		}
		t.mu.Lock()
		j, ok := t.pend, t.hasPend
		t.pend, t.hasPend = naiveJob{}, false
		t.mu.Unlock()
		if ok {
			t.process(j)
		}
	}
}

// process makes the task's input, runs it on a free lane and passes its
// boxes on. Compute counts the input, the run and the decode, not the wait
// for a lane, as the scheduler's lane time does.
func (t *naiveTask) process(j naiveJob) {
	var own time.Duration
	if t.parent != nil {
		found, d, err := t.parent.detect(j.f, &t.pin)
		own = d
		if err == nil && len(found) == 0 {
			return // no faces: nothing to run, as a chained task is not offered the frame
		}
		if err != nil {
			t.p.rec.result(t.name, j.f.ID, 0, 0, own, err)
			return
		}
		j.boxes = found[:min(len(found), pipeMaxBoxes)]
	}
	t0 := time.Now().Add(-own)
	n := t.view.Len()
	batch := 1
	boxes := []engine.Box{{}}
	if t.from != "" {
		boxes = j.boxes
		batch = len(boxes)
	}
	if cap(t.in) < n*batch {
		t.in = make([]float32, n*batch)
	}
	in := t.in[:n*batch]
	var err error
	if t.p.tfjs {
		err = t.prepareTFJS(in, j.f, boxes)
	} else {
		for k, b := range boxes {
			if err = engine.Prepare(in[k*n:(k+1)*n], j.f, t.view, b); err != nil {
				break
			}
		}
		t.p.mu.Lock()
		t.p.prepared += uint64(len(boxes))
		t.p.mu.Unlock()
	}
	prep := time.Since(t0)
	var outs [][]float32
	var found []engine.Box
	var run time.Duration
	if err == nil {
		lane := <-t.p.pool
		t1 := time.Now()
		var o [][]float32
		o, err = lane.Run(t.name, batch, in)
		for _, x := range o {
			outs = append(outs, slices.Clone(x))
		}
		t.p.pool <- lane
		t2 := time.Now()
		if err == nil && t.boxes != nil {
			found, err = t.boxes(outs, j.f.Width, j.f.Height)
		}
		run = time.Since(t2) + t2.Sub(t1)
	}
	if t.p.keep != nil {
		r := engine.Result{Task: t.name, Frame: j.f.ID, Batch: batch, Outputs: outs, Boxes: found, Err: err}
		if t.from != "" {
			r.Boxes = boxes
		}
		t.p.keep(r)
	}
	if err == nil && len(found) > 0 {
		for _, c := range t.children {
			c.offer(naiveJob{f: j.f, boxes: found[:min(len(found), pipeMaxBoxes)]})
		}
	}
	t.p.rec.result(t.name, j.f.ID, batch, len(found), prep+run, err)
}

// detect is what an isolated task chained on t does first: it makes t's
// view of f in *in (a buffer of its own), runs t's model on a free lane
// and decodes t's boxes. compute leaves out the wait for the lane.
func (t *naiveTask) detect(f *engine.Frame, in *[]float32) (found []engine.Box, compute time.Duration, err error) {
	t0 := time.Now()
	n := t.view.Len()
	if cap(*in) < n {
		*in = make([]float32, n)
	}
	x := (*in)[:n]
	if err := engine.Prepare(x, f, t.view, engine.Box{}); err != nil {
		return nil, time.Since(t0), err
	}
	t.p.mu.Lock()
	t.p.prepared++
	t.p.mu.Unlock()
	compute = time.Since(t0)
	lane := <-t.p.pool
	t1 := time.Now()
	outs, err := lane.Run(t.name, 1, x)
	if err == nil {
		found, err = t.boxes(outs, f.Width, f.Height)
	}
	compute += time.Since(t1)
	t.p.pool <- lane
	return found, compute, err
}

// prepareTFJS makes the task's input as a TensorFlow.js pipeline does:
// tf.browser.fromPixels (the whole frame to float32 RGB), then per view a
// crop and resizeBilinear (cropAndResize for boxes; letterbox by scaling
// and padding), rgbToGrayscale when grey, and the normalisation.
func (t *naiveTask) prepareTFJS(dst []float32, f *engine.Frame, boxes []engine.Box) error {
	W, H := f.Width, f.Height
	if cap(t.rgb) < W*H*3 {
		t.rgb = make([]float32, W*H*3)
	}
	rgb := t.rgb[:W*H*3]
	for i := 0; i < W*H; i++ {
		rgb[i*3], rgb[i*3+1], rgb[i*3+2] = float32(f.RGBA[i*4]), float32(f.RGBA[i*4+1]), float32(f.RGBA[i*4+2])
	}
	v := t.view
	n := v.Len()
	for k, b := range boxes {
		var cx, cy, cw, ch float64
		if v.Crop == "" {
			cx, cy, cw, ch = 0, 0, float64(W), float64(H)
		} else {
			w, h := float64(b.X1-b.X0), float64(b.Y1-b.Y0)
			e := float64(v.Enlarge)
			if e == 0 {
				e = 1
			}
			side := math.Max(w, h) * e
			cx, cy, cw, ch = float64(b.X0)+(w-side)/2, float64(b.Y0)+(h-side)/2, side, side
		}
		sx, sy, dx, dy := float64(v.Width)/cw, float64(v.Height)/ch, 0.0, 0.0
		if v.Fit == "letterbox" {
			s := math.Min(sx, sy)
			sx, sy = s, s
			dx, dy = (float64(v.Width)-cw*s)/2, (float64(v.Height)-ch*s)/2
		}
		resizeBilinearRGB(dst[k*n:(k+1)*n], rgb, W, H, v, cx, cy, sx, sy, dx, dy)
	}
	t.p.mu.Lock()
	t.p.prepared += uint64(len(boxes))
	t.p.conversions++
	t.p.mu.Unlock()
	return nil
}

// resizeBilinearRGB samples the float RGB image into view v (NHWC): view
// pixel (x, y) reads source (cx + (x+0.5-dx)/sx - 0.5, ...), bilinear;
// pixels outside the crop or the image are black (0 before normalising).
func resizeBilinearRGB(dst, rgb []float32, W, H int, v engine.View, cx, cy, sx, sy, dx, dy float64) {
	C := v.Channels()
	var inv, sub [3]float32
	for c := 0; c < 3; c++ {
		inv[c], sub[c] = 1, v.Mean[c]
		if v.Std[c] != 0 {
			inv[c] = 1 / v.Std[c]
		}
	}
	pix := func(x, y int) []float32 {
		x, y = min(max(x, 0), W-1), min(max(y, 0), H-1)
		return rgb[(y*W+x)*3 : (y*W+x)*3+3]
	}
	for oy := 0; oy < v.Height; oy++ {
		for ox := 0; ox < v.Width; ox++ {
			var val [3]float32
			u := cx + (float64(ox)+0.5-dx)/sx - 0.5
			w := cy + (float64(oy)+0.5-dy)/sy - 0.5
			in := float64(ox)+0.5 >= dx && float64(ox)+0.5 < float64(v.Width)-dx && float64(oy)+0.5 >= dy && float64(oy)+0.5 < float64(v.Height)-dy
			if in && u >= -0.5 && w >= -0.5 && u < float64(W)-0.5 && w < float64(H)-0.5 {
				iu, iw := math.Floor(u), math.Floor(w)
				fu, fw := float32(u-iu), float32(w-iw)
				a, b, c, d := pix(int(iu), int(iw)), pix(int(iu)+1, int(iw)), pix(int(iu), int(iw)+1), pix(int(iu)+1, int(iw)+1)
				for ch := 0; ch < 3; ch++ {
					val[ch] = (a[ch]*(1-fu)+b[ch]*fu)*(1-fw) + (c[ch]*(1-fu)+d[ch]*fu)*fw
				}
			}
			o := (oy*v.Width + ox) * C
			if C == 1 {
				g := 0.2989*val[0] + 0.587*val[1] + 0.114*val[2]
				dst[o] = (g - sub[0]) * inv[0]
				continue
			}
			for ch := 0; ch < 3; ch++ {
				dst[o+ch] = (val[ch] - sub[ch]) * inv[ch]
			}
		}
	}
}

// printPipeReport prints a run as a small table.
func printPipeReport(w io.Writer, r *pipeReport) {
	fmt.Fprintf(w, "%s %s, %d task(s), %d lane(s), %d frames at %s: %.1f results/s, %.1f frames/s complete, %.2f views made a frame (%d shared)",
		r.Runtime, r.Mode, r.Tasks, r.Lanes, r.Frames, fpsString(r.FPS), r.ResultsPerSec, r.FramesPerSec, r.ViewsPerFrame, r.ViewsShared)
	if r.TopP95VsSolo > 0 {
		fmt.Fprintf(w, ", top task p95 %.2fx solo", r.TopP95VsSolo)
	}
	fmt.Fprintf(w, "; lanes %.0f%% busy; heap in use %.1f MiB (frames %.1f MiB)", 100*r.LaneBusy, float64(r.Memory.HeapInuse)/(1<<20), float64(r.Memory.FramesBytes)/(1<<20))
	if r.Memory.Wasm > 0 {
		fmt.Fprintf(w, ", wasm memory %.1f MiB", float64(r.Memory.Wasm)/(1<<20))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  %-10s %4s %5s %7s %7s %6s %9s %9s %10s %6s\n", "task", "prio", "runs", "samples", "dropped", "errors", "p50 ms", "p95 ms", "compute ms", "share")
	for _, t := range r.PerTask {
		fmt.Fprintf(w, "  %-10s %4d %5d %7d %7d %6d %9.1f %9.1f %10.2f %5.0f%%\n", t.Task, t.Priority, t.Runs, t.Samples, t.Dropped, t.Errors, t.P50MS, t.P95MS, t.ComputeMS, 100*t.ComputeShare)
	}
}

func fpsString(fps float64) string {
	if fps == 0 {
		return "the pipeline's pace"
	}
	return fmt.Sprintf("%g fps", fps)
}
