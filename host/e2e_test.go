//go:build !js

package main

// End-to-end tests of the demo app (www/) in Debian's headless Chromium,
// driven over the DevTools protocol (chromedp) against the host's handler on
// 127.0.0.1: drawing digits with real pointer input, a personalisation
// round, the Device page's profile, and the app working offline once the
// host is gone. Each test starts its own host and a browser with a fresh
// profile, so each first visit is a cold one. The pages' screenshots go to
// build/screenshots.
//
// Needs `make wasm` (the wasm builds in build/) and /usr/bin/chromium (or
// EDGENN_CHROMIUM); EDGENN_SKIP_BROWSER=1 skips these tests where there is no
// browser. `make zoo-models` adds MobileNet to the Device test.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/edgenn/edgenn/model"
)

// e2eRoot is the repository, seen from the package's folder.
const e2eRoot = ".."

// e2eEnv is one host and one browser tab on it.
type e2eEnv struct {
	t   *testing.T
	srv *httptest.Server
	url string
	ctx context.Context

	mu      sync.Mutex
	hostLog bytes.Buffer
	console []string
}

// e2eChromium returns the browser to drive, failing the test when there is
// none unless EDGENN_SKIP_BROWSER=1.
func e2eChromium(t *testing.T) string {
	path := os.Getenv("EDGENN_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("EDGENN_SKIP_BROWSER") == "1" {
			t.Skipf("no browser at %s and EDGENN_SKIP_BROWSER=1", path)
		}
		t.Fatalf("the end-to-end tests need headless Chromium at %s: install it (apt-get install -y chromium), "+
			"point EDGENN_CHROMIUM at another build, or set EDGENN_SKIP_BROWSER=1 to skip them", path)
	}
	return path
}

// newE2E starts the host over www/, build/ and a models folder holding the
// given model files, and a browser; both stop when the test ends.
func newE2E(t *testing.T, models ...string) *e2eEnv {
	t.Helper()
	return newE2EWith(t, nil, models...)
}

// newE2EWith is newE2E with extra Chromium options (a fake camera, say).
func newE2EWith(t *testing.T, extra []chromedp.ExecAllocatorOption, models ...string) *e2eEnv {
	t.Helper()
	chromium := e2eChromium(t)
	for _, f := range []string{"edgenn.wasm", "edgenn-scalar.wasm", "wasm_exec.js"} {
		if _, err := os.Stat(filepath.Join(e2eRoot, "build", f)); err != nil {
			t.Fatalf("build/%s is missing: run `make wasm` first", f)
		}
	}
	dir := t.TempDir()
	for _, m := range models {
		data, err := os.ReadFile(filepath.Join(e2eRoot, m))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(m)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	e := &e2eEnv{t: t}
	h, err := newServer(serveConfig{
		WWW: os.DirFS(filepath.Join(e2eRoot, "www")), Wasm: os.DirFS(filepath.Join(e2eRoot, "build")), Models: os.DirFS(dir),
		MaxModelBytes: 64 << 20,
		Log:           log.New(lockedWriter{&e.mu, &e.hostLog}, "", log.Lmicroseconds),
	})
	if err != nil {
		t.Fatal(err)
	}
	h.warm()                      // as `edgenn serve` does before its first request
	e.srv = httptest.NewServer(h) // listens on 127.0.0.1
	e.url = e.srv.URL + "/"
	t.Cleanup(e.srv.Close)

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.WindowSize(1100, 900),
		// Without these Chromium keeps calling out to a network it does not have.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
	}
	opts = append(opts, extra...)
	// Starting the browser is retried: on this shared 2-core machine Chromium
	// now and then fails to come up in time ("chrome failed to start") while
	// other processes load it; that says nothing about the page under test.
	var ctx context.Context
	for attempt := 1; ; attempt++ {
		// A fresh profile each attempt: a failed start may leave its lock behind.
		profile := append(slices.Clip(opts), chromedp.UserDataDir(t.TempDir()))
		actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), profile...)
		tctx, cancelTab := chromedp.NewContext(actx)
		err := chromedp.Do(tctx) // starts the browser and opens the tab
		if err == nil {
			ctx = tctx
			t.Cleanup(func() { cancelTab(); cancelAlloc() })
			break
		}
		cancelTab()
		cancelAlloc()
		if attempt == 3 {
			t.Fatalf("starting %s (3 attempts): %v", chromium, err)
		}
		t.Logf("starting %s, attempt %d: %v; trying again", chromium, attempt, err)
		time.Sleep(time.Second)
	}
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			e.mu.Lock()
			e.console = append(e.console, fmt.Sprintf("%s: %s", m.Type, m.Text))
			e.mu.Unlock()
		}
	}()
	// A bound on the whole test, so that a hung page fails rather than stalls.
	ctx, cancelTime := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancelTime)
	e.ctx = ctx
	t.Cleanup(func() {
		if t.Failed() {
			e.mu.Lock()
			defer e.mu.Unlock()
			t.Logf("page console:\n  %s", strings.Join(e.console, "\n  "))
			t.Logf("host log:\n%s", e.hostLog.String())
		}
	})
	return e
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// run runs actions in the tab, failing the test on an error.
func (e *e2eEnv) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	e.t.Helper()
	if err := chromedp.Do(e.ctx, actions...); err != nil {
		e.t.Fatalf("%s: %v%s", what, err, e.pageErrors())
	}
}

// eval evaluates a JavaScript expression, awaiting a promise, and decodes
// its JSON value into out.
func (e *e2eEnv) eval(js string, out any) {
	e.t.Helper()
	raw, err := chromedp.Run(e.ctx, chromedp.Evaluate[[]byte](js, chromedp.EvalAwaitPromise))
	if err != nil {
		e.t.Fatalf("evaluating %s: %v%s", js, err, e.pageErrors())
	}
	if err := json.Unmarshal(raw, out); err != nil {
		e.t.Fatalf("evaluating %s: decoding %s: %v", js, raw, err)
	}
}

// pageErrors returns the errors the page has shown, to add to a failure.
func (e *e2eEnv) pageErrors() string {
	var errs []string
	ctx, cancel := context.WithTimeout(e.ctx, 2*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](`window.__edgenn_demo?.errors ?? []`))
	if err != nil || json.Unmarshal(raw, &errs) != nil || len(errs) == 0 {
		return ""
	}
	return "; the page shows: " + strings.Join(errs, "; ")
}

// wait polls a JavaScript condition until it holds, failing the test when it
// does not within timeout or when the page shows an error meanwhile.
func (e *e2eEnv) wait(what, cond string, timeout time.Duration) {
	e.t.Helper()
	js := fmt.Sprintf(`(%s) || (window.__edgenn_demo?.errors.length > 0)`, cond)
	poll := chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(20*time.Millisecond))
	e.run("waiting for "+what, poll)
	if msg := e.pageErrors(); msg != "" {
		e.t.Fatalf("waiting for %s%s", what, msg)
	}
}

// open navigates to the app's route (such as "#digits") and waits until the
// app has started: the pool, the digits model and a first prediction.
func (e *e2eEnv) open(route string) {
	e.t.Helper()
	e.run("opening "+route, chromedp.Navigate(e.url+route))
	e.wait("the app to start", `document.body.dataset.ready === "1"`, 30*time.Second)
}

// e2ePoint is a point on a drawing pad, in [0,1] of its width and height.
type e2ePoint struct{ X, Y float64 }

// draw draws strokes on the canvas sel with mouse events (which the page
// receives as pointer events), a point every few pixels.
func (e *e2eEnv) draw(sel string, strokes ...[]e2ePoint) {
	e.t.Helper()
	var r []float64
	e.run("scrolling to "+sel, chromedp.ScrollIntoView(chromedp.CSS(sel)))
	e.eval(fmt.Sprintf(`(() => { const r = document.querySelector(%q).getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })()`, sel), &r)
	at := func(p e2ePoint) (float64, float64) { return r[0] + p.X*r[2], r[1] + p.Y*r[3] }
	held := func(p *input.DispatchMouseEventParams) { p.Button = input.MouseButtonLeft; p.Buttons = 1 }
	var steps []chromedp.Action[chromedp.Void]
	for _, s := range strokes {
		x, y := at(s[0])
		steps = append(steps, chromedp.MouseEvent(chromedp.MousePressed, x, y, held, chromedp.ClickCount(1)))
		for i := 1; i < len(s); i++ {
			x0, y0 := at(s[i-1])
			x1, y1 := at(s[i])
			n := max(1, int(math.Hypot(x1-x0, y1-y0)/4))
			for k := 1; k <= n; k++ {
				f := float64(k) / float64(n)
				x, y = x0+f*(x1-x0), y0+f*(y1-y0)
				steps = append(steps, chromedp.MouseEvent(chromedp.MouseMoved, x, y, held))
			}
		}
		steps = append(steps, chromedp.MouseEvent(chromedp.MouseReleased, x, y, chromedp.ButtonLeft, chromedp.ClickCount(1)))
	}
	e.run("drawing on "+sel, steps...)
}

// screenshot saves the whole page as build/screenshots/name.png, at a desktop
// width and again at a phone's (name-phone.png).
func (e *e2eEnv) screenshot(name string) {
	e.t.Helper()
	dir := filepath.Join(e2eRoot, "build", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		e.t.Fatal(err)
	}
	for _, v := range []struct {
		suffix        string
		width, height int64
		mobile        bool
	}{{"", 1100, 900, false}, {"-phone", 390, 844, true}} {
		opts := []chromedp.EmulateViewportOption{}
		if v.mobile {
			opts = append(opts, chromedp.EmulateMobile)
		}
		e.run("resizing for "+name+v.suffix,
			chromedp.EmulateViewport(v.width, v.height, opts...),
			chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`),
			chromedp.Sleep(150*time.Millisecond)) // a frame or two for the layout and the canvases
		png, err := chromedp.Run(e.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			e.t.Fatalf("screenshot %s: %v", name+v.suffix, err)
		}
		path := filepath.Join(dir, name+v.suffix+".png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			e.t.Fatal(err)
		}
	}
	e.run("restoring the viewport", chromedp.EmulateViewport(1100, 900))
}

// Synthetic strokes of digits, as a hand would draw them.
var e2eDigits = map[string][][]e2ePoint{
	"1": {{{0.53, 0.17}, {0.50, 0.50}, {0.47, 0.83}}},
	"7": {{{0.28, 0.22}, {0.72, 0.20}, {0.58, 0.45}, {0.44, 0.82}}},
	"0": {e2eEllipse(0.5, 0.5, 0.2, 0.3, 36)},
}

func e2eEllipse(cx, cy, rx, ry float64, n int) []e2ePoint {
	pts := make([]e2ePoint, 0, n+2)
	for i := 0; i <= n+1; i++ { // a little past the start, as a pen closes a loop
		a := 2 * math.Pi * float64(i) / float64(n)
		pts = append(pts, e2ePoint{cx + rx*math.Sin(a), cy - ry*math.Cos(a)})
	}
	return pts
}

// e2ePlus is a "+" of arm length arm about (cx, cy), tilted by tilt.
func e2ePlus(cx, cy, arm, tilt float64) [][]e2ePoint {
	s, c := math.Sin(tilt), math.Cos(tilt)
	return [][]e2ePoint{
		{{cx - arm*c, cy - arm*s}, {cx + arm*c, cy + arm*s}},
		{{cx + arm*s, cy - arm*c}, {cx - arm*s, cy + arm*c}},
	}
}

// predict clears the Digits pad, draws strokes and returns the top class
// the page shows once its prediction is of the whole drawing.
func (e *e2eEnv) predict(strokes [][]e2ePoint) string {
	e.t.Helper()
	e.run("clearing the pad", chromedp.Click(chromedp.CSS("#digits-clear")))
	e.draw("#digits-pad", strokes...)
	e.wait("the prediction", `window.__edgenn_demo.digits.settled()`, 10*time.Second)
	var top string
	e.eval(`document.getElementById("digits-top").dataset.top`, &top)
	return top
}

func TestE2EDigits(t *testing.T) {
	e := newE2E(t, "www/models/digits.enn")
	e.open("#digits")
	var cold float64
	e.eval(`window.__edgenn_demo.coldStartMs`, &cold)

	for _, want := range []string{"1", "7", "0"} {
		if got := e.predict(e2eDigits[want]); got != want {
			var prob string
			e.eval(`document.getElementById("digits-top").dataset.prob`, &prob)
			t.Errorf("drew a %s, the page reads %s (p=%s)", want, got, prob)
		}
	}
	e.predict(e2eDigits["7"]) // for the screenshot
	var bench struct{ MedianMs, MinMs float64 }
	e.eval(`window.__edgenn_demo.digits.bench(50)`, &bench)
	if !(bench.MedianMs > 0) {
		t.Errorf("the page timed a prediction at %v ms", bench.MedianMs)
	}
	var phases map[string]float64
	e.eval(`(() => {
		const p = {}, nav = performance.getEntriesByType("navigation")[0];
		p.html = nav.responseEnd;
		p.domContentLoaded = nav.domContentLoadedEventEnd;
		for (const r of performance.getEntriesByType("resource")) {
			const name = new URL(r.name).pathname.slice(1);
			if (/\.(wasm|enn|js)$/.test(name)) p[name] = r.responseEnd;
		}
		for (const m of performance.getEntriesByType("mark")) p[m.name] = m.startTime;
		return p;
	})()`, &phases)
	t.Logf("e2e: cold start phases (ms from navigation): %v", phases)
	t.Logf("e2e: cold start %.0f ms, prediction median %.2f ms", cold, bench.MedianMs)
	e.screenshot("digits")
}

func TestE2EPersonalise(t *testing.T) {
	e := newE2E(t, "www/models/digits.enn")
	e.open("#personalise")

	// A new symbol, "☺" (drawn as a plus sign), takes over class 9.
	e.run("naming a symbol",
		chromedp.Click(chromedp.CSS(".symbol summary")),
		chromedp.SetValue(chromedp.CSS("#symbol-name"), "☺"),
		chromedp.SetValue(chromedp.CSS("#symbol-slot"), "9"),
		chromedp.Click(chromedp.CSS("#symbol-set")))
	add := func(button string, label int, strokes [][]e2ePoint) {
		t.Helper()
		e.run("choosing a label", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#personal-labels button[data-label="%d"]`, label))))
		e.draw("#personal-pad", strokes...)
		e.run("adding an example", chromedp.Click(chromedp.CSS(button)))
	}
	pluses := [][][]e2ePoint{
		e2ePlus(0.5, 0.5, 0.3, 0), e2ePlus(0.45, 0.55, 0.25, 0.1), e2ePlus(0.55, 0.45, 0.35, -0.1),
		e2ePlus(0.5, 0.48, 0.28, 0.2), e2ePlus(0.48, 0.5, 0.32, -0.05), e2ePlus(0.52, 0.52, 0.26, 0.15),
	}
	for _, p := range pluses[:4] {
		add("#personal-add", 9, p)
	}
	add("#personal-add", 1, e2eDigits["1"])
	add("#personal-add", 7, e2eDigits["7"])
	for _, p := range pluses[4:] {
		add("#personal-add-held", 9, p)
	}
	var counts struct{ Train, Held int }
	e.eval(`window.__edgenn_demo.personalise.counts()`, &counts)
	if counts.Train != 6 || counts.Held != 2 {
		t.Fatalf("the page holds %d training and %d held-out examples, want 6 and 2", counts.Train, counts.Held)
	}

	e.run("fine-tuning", chromedp.SetValue(chromedp.CSS("#train-epochs"), "20"), chromedp.Click(chromedp.CSS("#train-start")))
	e.wait("the fine-tuning", `document.getElementById("train-result").dataset.state === "done"`, 60*time.Second)
	var res struct {
		BatchLosses, EpochLosses []float64
		Before, After            float64
	}
	e.eval(`window.__edgenn_demo.personalise`, &res)
	if len(res.EpochLosses) != 20 || len(res.BatchLosses) == 0 {
		t.Fatalf("%d epoch losses and %d batch losses, want 20 and some", len(res.EpochLosses), len(res.BatchLosses))
	}
	first, last := res.EpochLosses[0], res.EpochLosses[len(res.EpochLosses)-1]
	if !(last < 0.5*first) {
		t.Errorf("the loss did not fall: epoch losses %v", res.EpochLosses)
	}
	if !(res.After >= res.Before) || res.After < 0.5 {
		t.Errorf("held-out accuracy %.2f before, %.2f after fine-tuning", res.Before, res.After)
	}
	t.Logf("e2e: personalisation: loss %.3f -> %.3f over %d epochs, held-out accuracy %.0f%% -> %.0f%%",
		first, last, len(res.EpochLosses), 100*res.Before, 100*res.After)
	e.screenshot("personalise")

	// The personalised model is kept: after a reload it is back, and the
	// Digits page reads the new symbol with it.
	e.open("#digits")
	e.wait("the personalised model", `!document.getElementById("digits-model").hidden`, 5*time.Second)
	if got := e.predict(e2ePlus(0.5, 0.5, 0.3, 0.05)); got != "☺" {
		t.Errorf("drew the new symbol on the Digits page with the personalised model, it reads %q", got)
	}
	if got := e.predict(e2eDigits["7"]); got != "7" {
		t.Errorf("drew a 7 with the personalised model, it reads %q", got)
	}
	var size int
	e.eval(`window.__edgenn_demo.app.personalRecord.bytes.length`, &size)
	if size == 0 {
		t.Error("the saved personalised model is empty")
	}
	// Reset goes back to the original model.
	e.run("resetting", chromedp.Navigate(e.url+"#personalise"))
	e.wait("the app to start", `document.body.dataset.ready === "1"`, 30*time.Second)
	e.run("resetting", chromedp.Click(chromedp.CSS("#personal-reset")))
	e.wait("the reset", `window.__edgenn_demo.app.personal === null`, 5*time.Second)
	e.open("#digits")
	if got := e.predict(e2ePlus(0.5, 0.5, 0.3, 0.05)); got == "☺" {
		t.Error("after the reset the Digits page still reads the new symbol")
	}
}

func TestE2EDevice(t *testing.T) {
	models := []string{"www/models/digits.enn"}
	const mobilenet = "build/models/mobilenet_v1_025_128.enn"
	if _, err := os.Stat(filepath.Join(e2eRoot, mobilenet)); err == nil {
		models = append(models, mobilenet)
	} else {
		t.Logf("%s is missing (make zoo-models): profiling the digits model only", mobilenet)
	}
	e := newE2E(t, models...)
	e.open("#device")
	// Profile once the service worker has cached everything, not while it
	// downloads (it would share the CPU with the timings).
	e.wait("the service worker", `navigator.serviceWorker.controller !== null`, 30*time.Second)
	e.wait("the models list", `document.getElementById("device-model").options.length === `+fmt.Sprint(len(models)), 10*time.Second)
	for _, m := range models {
		name := strings.TrimSuffix(filepath.Base(m), ".enn")
		e.run("profiling "+name,
			chromedp.SetValue(chromedp.CSS("#device-model"), name),
			chromedp.Click(chromedp.CSS("#device-profile")))
		e.wait("the profile of "+name, fmt.Sprintf(`(s => s.state === "done" && s.model === %q)(document.getElementById("device-summary").dataset)`, name), 60*time.Second)
		var got struct {
			Flops          float64
			TotalMs, RunMs float64
			Gflops         float64
			Batch          int
			Layers         []struct {
				Name, Op string
				MedianMs float64
			}
		}
		e.eval(`window.__edgenn_demo.device.last`, &got)

		data, err := os.ReadFile(filepath.Join(e2eRoot, m))
		if err != nil {
			t.Fatal(err)
		}
		g, err := model.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		shapes, err := model.InferShapes(g, 1)
		if err != nil {
			t.Fatal(err)
		}
		if want := float64(model.CountFLOPs(g, shapes)); got.Flops != want {
			t.Errorf("%s: the page counts %.0f FLOPs a run, model.CountFLOPs %.0f", name, got.Flops, want)
		}
		if len(got.Layers) == 0 || len(got.Layers) > len(g.Nodes) {
			t.Errorf("%s: %d layers profiled, the graph has %d nodes", name, len(got.Layers), len(g.Nodes))
		}
		var sum float64
		for _, l := range got.Layers {
			sum += l.MedianMs
		}
		if math.Abs(sum-got.TotalMs) > 1e-6*max(1, sum) || !(got.Gflops > 0) {
			t.Errorf("%s: layer medians sum to %v ms, the page shows %v ms and %v GFLOP/s", name, sum, got.TotalMs, got.Gflops)
		}
		t.Logf("e2e: device: %s: %d layers, %.3f ms (layers, per example at batch %d), %.3f ms a run from the page, %.2f GFLOP/s",
			name, len(got.Layers), got.TotalMs, got.Batch, got.RunMs, got.Gflops)
	}
	var workers string
	e.eval(`document.getElementById("device-info").dataset.workers`, &workers)
	if workers == "" {
		t.Error("the Device page shows no worker count")
	}
	e.screenshot("device")
}

func TestE2EOffline(t *testing.T) {
	e := newE2E(t, "www/models/digits.enn")
	e.open("#digits")
	// The service worker takes control once its install has cached
	// everything (it claims the page on activation).
	e.wait("the service worker", `navigator.serviceWorker.controller !== null`, 30*time.Second)
	var cached []string
	e.eval(`caches.keys().then(async (ks) => (await Promise.all(ks.map(async (k) => (await (await caches.open(k)).keys()).map((r) => new URL(r.url).pathname)))).flat())`, &cached)
	for _, want := range []string{"/", "/app.js", "/edgenn.js", "/edgenn-worker.js", "/wasm_exec.js", "/edgenn.wasm", "/edgenn-scalar.wasm", "/models", "/models/digits.enn"} {
		if !slices.Contains(cached, want) {
			t.Errorf("the service worker did not cache %s (cached: %v)", want, cached)
		}
	}
	inst, err := chromedp.Call(e.ctx, page.GetInstallabilityErrors, cdp.Empty{})
	if err != nil {
		t.Fatalf("checking installability: %v", err)
	}
	installErrs := inst.InstallabilityErrors
	for _, ie := range installErrs {
		t.Errorf("not installable: %s %v", ie.ErrorID, ie.ErrorArguments)
	}

	e.srv.CloseClientConnections()
	e.srv.Close()
	if res, err := http.Get(e.url); err == nil {
		res.Body.Close()
		t.Fatal("the host still answers after Close")
	}

	e.run("reloading offline", chromedp.Reload())
	e.wait("the app to start offline", `document.body.dataset.ready === "1"`, 30*time.Second)
	var start float64
	e.eval(`window.__edgenn_demo.coldStartMs`, &start)
	if got := e.predict(e2eDigits["7"]); got != "7" {
		t.Errorf("offline: drew a 7, the page reads %q", got)
	}
	// The Device page lists the models from the cached index, and profiles.
	e.run("opening the Device page", chromedp.Navigate(e.url+"#device"))
	e.wait("the app to start offline", `document.body.dataset.ready === "1"`, 30*time.Second)
	e.wait("the models list", `document.getElementById("device-model").options.length === 1`, 10*time.Second)
	e.run("profiling offline", chromedp.Click(chromedp.CSS("#device-profile")))
	e.wait("the profile", `document.getElementById("device-summary").dataset.state === "done"`, 30*time.Second)
	t.Logf("e2e: offline start (host stopped, from the service worker's cache) %.0f ms", start)
	if errs := e.pageErrors(); errs != "" {
		t.Error(errs)
	}
}
