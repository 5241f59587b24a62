//go:build !js

package main

// The Watch page end to end: Chromium's fake camera plays the astronaut
// photo, and one edgenn source runs three tasks on its frames (BlazeFace,
// emotion on each face, MobileNet on the whole frame), served as `make run`
// serves them (build/run-models). The figures are the source's own; no
// assertion is on wall-clock speed, which this shared machine does not give.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// watchMetrics is window.__edgenn_demo.watch.metrics: source.metrics().
type watchMetrics struct {
	Tasks []struct {
		Name                            string
		Runs, Dropped, Errors           int
		Rate, TargetRate, EffectiveRate float64
		P50Ms, P95Ms, Share             float64
	}
	Provider struct{ Frames, AgedOut, Prepared, Shared, Bytes int }
}

// TestE2EWatchCamera starts the camera on the Watch page, waits until each
// task has run several times, and checks what the page found and the
// source's figures: her face, "happy", the three tasks in the table, no
// more views prepared than the frames and tasks call for; then Stop ends
// the camera.
func TestE2EWatchCamera(t *testing.T) {
	models := []string{"build/run-models/blazeface.enn", "build/run-models/emotion.enn", "build/run-models/mobilenet_v1_025_128.enn"}
	for _, m := range models {
		if _, err := os.Stat(filepath.Join(e2eRoot, m)); err != nil {
			if os.Getenv("EDGENN_SKIP_BROWSER") == "1" || os.Getenv("EDGENN_SKIP_IMPORT_REFS") == "1" {
				t.Skipf("%s is missing (make run-models), and EDGENN_SKIP_BROWSER or EDGENN_SKIP_IMPORT_REFS is set", m)
			}
			t.Fatalf("%s is missing: run `make run-models` (or set EDGENN_SKIP_IMPORT_REFS=1 to skip this test)", m)
		}
	}
	img := facesDecode(t, filepath.Join(e2eRoot, facesPhoto))
	clip := filepath.Join(t.TempDir(), "astronaut.y4m")
	if err := os.WriteFile(clip, y4mFrame(img), 0o644); err != nil {
		t.Fatal(err)
	}
	e := newE2EWith(t, []chromedp.ExecAllocatorOption{
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-video-capture", clip),
	}, append([]string{"www/models/digits.enn"}, models...)...)
	const section = `document.getElementById("view-watch").dataset`
	e.open("#watch")
	e.wait("the models", `["ready", "missing", "failed"].includes(`+section+`.state)`, 60*time.Second)
	var st, note string
	e.eval(section+`.state`, &st)
	if st != "ready" {
		e.eval(`document.getElementById("watch-note").textContent`, &note)
		t.Fatalf("the Watch page is %q, not ready: %s", st, note)
	}

	e.run("starting the camera", chromedp.Click(chromedp.CSS("#watch-camera")))
	const runs = 5
	e.wait("each task to run several times", `(d => d.state === "running" && d.camera === "on" &&
		Number(d.runsFaces) >= `+strconv.Itoa(runs)+` && Number(d.runsEmotion) >= `+strconv.Itoa(runs)+` && Number(d.runsClassifier) >= `+strconv.Itoa(runs)+`)(`+section+`)`, 90*time.Second)
	var attrs map[string]string
	e.eval(`({...`+section+`})`, &attrs)
	var m watchMetrics
	e.eval(`window.__edgenn_demo.watch.metrics`, &m)
	var rows []struct{ Task, Runs string }
	e.eval(`[...document.querySelectorAll("#watch-tasks tbody tr")].map((tr) => ({task: tr.dataset.task, runs: tr.dataset.runs}))`, &rows)
	js, _ := json.Marshal(m)
	t.Logf("e2e: watch: %s face(s), %s, top class %s; metrics %s", attrs["faces"], attrs["topEmotion"], attrs["topClass"], js)

	if attrs["faces"] != "1" {
		t.Errorf("the page finds %q faces in the camera's frames, want 1 (the astronaut's)", attrs["faces"])
	}
	if attrs["topEmotion"] != "happy" {
		t.Errorf("the page reads %q on her face, want happy", attrs["topEmotion"])
	}
	if attrs["topClass"] == "" {
		t.Errorf("the classifier's top class is not shown")
	}

	// The table lists the three tasks, each having run.
	want := map[string]bool{"faces": true, "emotion": true, "classifier": true}
	for _, r := range rows {
		n, err := strconv.Atoi(r.Runs)
		if !want[r.Task] || err != nil || n <= 0 {
			t.Errorf("the tasks table has a row %q with %q runs", r.Task, r.Runs)
		}
		delete(want, r.Task)
	}
	if len(want) > 0 {
		t.Errorf("the tasks table lacks %v: %+v", want, rows)
	}

	// The source's figures: every task ran without an error and was timed;
	// each view was prepared at most once a frame (three views: the
	// detector's letterbox, one face crop, the whole frame for MobileNet),
	// and no more were prepared than the runs used or, prefetched when
	// the frame came (the source's worker prefetches), the frames a task
	// then dropped for a newer one, give or take one run of each task in
	// flight when the figures were read.
	total, dropped := 0, 0
	for _, tk := range m.Tasks {
		if tk.Runs <= 0 || tk.Errors != 0 || !(tk.P50Ms > 0 && tk.P95Ms >= tk.P50Ms) || !(tk.Share > 0 && tk.Share <= 1) {
			t.Errorf("task %+v: want runs, no errors, p95 >= p50 > 0 and a share in (0, 1]", tk)
		}
		total += tk.Runs
		dropped += tk.Dropped
	}
	p := m.Provider
	if p.Frames <= 0 || p.Prepared <= 0 || p.Prepared > 3*p.Frames || p.Prepared > total+dropped+len(m.Tasks) {
		t.Errorf("the provider prepared %d views for %d frames, %d runs and %d dropped inputs, want 0 < prepared <= 3 x frames and <= runs + dropped + %d in flight",
			p.Prepared, p.Frames, total, dropped, len(m.Tasks))
	}
	if attrs["frames"] == "" || attrs["prepared"] == "" {
		t.Errorf("the page shows no provider counters: %v", attrs)
	}
	e.screenshot("watch")

	// The camera's tracks, kept to see them end.
	var live int
	e.eval(`(window.__watchTracks = document.getElementById("watch-video").srcObject.getVideoTracks()).filter((t) => t.readyState === "live").length`, &live)
	if live != 1 {
		t.Errorf("%d live video tracks while the camera runs, want 1", live)
	}
	e.run("stopping", chromedp.Click(chromedp.CSS("#watch-stop")))
	e.wait("the camera stopped", `(d => d.state === "stopped" && d.camera === "off")(`+section+`) && document.getElementById("watch-video").srcObject === null &&
		window.__watchTracks.every((t) => t.readyState === "ended")`, 10*time.Second)
	// The source is closed: its figures stop coming, and no error is shown.
	var after string
	e.eval(section+`.frames`, &after)
	time.Sleep(time.Second)
	var later string
	e.eval(section+`.frames`, &later)
	if after != later {
		t.Errorf("after Stop the page still counts frames: %s, then %s", after, later)
	}
	if errs := e.pageErrors(); errs != "" {
		t.Error(errs)
	}
}

// TestE2EWatchMissing serves the detector without the emotion model: the
// Watch page says which model is missing and how to get it, and offers no
// start, rather than failing.
func TestE2EWatchMissing(t *testing.T) {
	const detector = "build/run-models/blazeface.enn"
	if _, err := os.Stat(filepath.Join(e2eRoot, detector)); err != nil {
		if os.Getenv("EDGENN_SKIP_BROWSER") == "1" || os.Getenv("EDGENN_SKIP_IMPORT_REFS") == "1" {
			t.Skipf("%s is missing (make run-models), and EDGENN_SKIP_BROWSER or EDGENN_SKIP_IMPORT_REFS is set", detector)
		}
		t.Fatalf("%s is missing: run `make run-models` (or set EDGENN_SKIP_IMPORT_REFS=1 to skip this test)", detector)
	}
	e := newE2E(t, "www/models/digits.enn", detector)
	e.open("#watch")
	e.wait("the models", `["ready", "missing", "failed"].includes(document.getElementById("view-watch").dataset.state)`, 60*time.Second)
	var got struct {
		State, Note      string
		Hidden, Disabled bool
	}
	e.eval(`({state: document.getElementById("view-watch").dataset.state, note: document.getElementById("watch-note").textContent,
		hidden: document.getElementById("watch-note").hidden, disabled: document.getElementById("watch-camera").disabled})`, &got)
	if got.State != "missing" || got.Hidden || !got.Disabled || !strings.Contains(got.Note, "emotion.enn") || !strings.Contains(got.Note, "make run") {
		t.Errorf("without the emotion model the page is %+v; want state missing, a note naming emotion.enn and `make run`, and the camera button disabled", got)
	}
}
