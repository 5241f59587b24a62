//go:build !js

package main

// The Offload page end to end: two tabs of one headless Chromium join a room
// of the host's hub (the host's handler and a Hub on 127.0.0.1, as `edgenn
// serve --hub-room demo=edgenn-demo-room` serves them). Tab B holds
// MobileNet and serves; tab A, in slow mode (10x), runs it with offload
// "auto". The outputs must equal A's local run, the frames go over a
// direct WebRTC data channel (host candidates on loopback), and when B's
// tab closes mid-run, A's run finishes here, delivered once. A second test
// turns the direct channel off: the hub's relay carries the frames. A third
// offloads MobileNetV1 1.0/224 from a slow tab to a native worker. No
// assertion is on the speed-up, which this shared machine does not give
// reliably; the figures are logged.

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

const (
	offloadRoom  = "demo"
	offloadToken = "edgenn-demo-room"
	offloadModel = "build/models/mobilenet_v1_025_128.enn"
)

// newOffloadE2E starts the host with a hub room and one browser with two
// tabs on it, a and b (neither has navigated yet).
func newOffloadE2E(t *testing.T) (a, b *e2eEnv) {
	t.Helper()
	a, b, _ = newOffloadE2EWith(t)
	return a, b
}

// newOffloadE2EWith is newOffloadE2E with zoo models added to those the
// host serves; it also returns the host's models folder and its hub's URL.
func newOffloadE2EWith(t *testing.T, zoo ...string) (a, b *e2eEnv, hub e2eHub) {
	t.Helper()
	chromium := e2eChromium(t)
	for _, f := range []string{"build/edgenn.wasm", "build/edgenn-scalar.wasm", "build/wasm_exec.js", offloadModel} {
		if _, err := os.Stat(filepath.Join(e2eRoot, f)); err != nil {
			t.Fatalf("%s is missing: run `make wasm zoo-models` first", f)
		}
	}
	dir := t.TempDir()
	writeZoo(t, dir, zoo...)
	for _, m := range []string{"www/models/digits.enn", offloadModel} {
		data, err := os.ReadFile(filepath.Join(e2eRoot, m))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(m)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a, b = &e2eEnv{t: t}, &e2eEnv{t: t}
	logger := log.New(lockedWriter{&a.mu, &a.hostLog}, "", log.Lmicroseconds)
	s, err := newServer(serveConfig{
		WWW: os.DirFS(filepath.Join(e2eRoot, "www")), Wasm: os.DirFS(filepath.Join(e2eRoot, "build")), Models: os.DirFS(dir),
		MaxModelBytes: 64 << 20, Log: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHub(HubConfig{Rooms: map[string]string{offloadRoom: offloadToken}, Log: logger})
	if err != nil {
		t.Fatal(err)
	}
	s.warm()
	srv := httptest.NewServer(hostHandler(s, h))
	t.Cleanup(func() { h.Close(); srv.Close() })
	hub = e2eHub{models: dir, url: "ws" + strings.TrimPrefix(srv.URL, "http") + "/hub"}

	startOffloadTabs(t, chromium, a, b, srv.URL+"/")
	for _, e := range []*e2eEnv{a, b} {
		e.srv = srv
	}
	return a, b, hub
}

// startOffloadTabs starts one headless Chromium (the flags two tabs need to
// offload to each other on this machine) with two tabs, a and b, on the app
// at url (neither has navigated yet); both pages' console goes to a's, shown
// with a's host log when the test fails. It stops with the test.
func startOffloadTabs(t *testing.T, chromium string, a, b *e2eEnv, url string) {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.WindowSize(1100, 900),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		// WebRTC between two tabs of this machine: host candidates on the
		// loopback interface, with their real addresses (not mDNS names,
		// which nothing here would resolve).
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
		// A background tab's timers are throttled: both tabs run at once.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
	}
	var actx context.Context
	for attempt := 1; ; attempt++ { // as newE2EWith: Chromium now and then fails to come up on this machine
		ctx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(slices.Clip(opts), chromedp.UserDataDir(t.TempDir()))...)
		tctx, cancelTab := chromedp.NewContext(ctx)
		if err := chromedp.Do(tctx); err == nil {
			actx = tctx
			t.Cleanup(func() { cancelTab(); cancelAlloc() })
			break
		} else if attempt == 3 {
			cancelTab()
			cancelAlloc()
			t.Fatalf("starting %s (3 attempts): %v", chromium, err)
		} else {
			cancelTab()
			cancelAlloc()
			t.Logf("starting %s, attempt %d: %v; trying again", chromium, attempt, err)
			time.Sleep(time.Second)
		}
	}
	bctx, cancelB := chromedp.NewContext(actx) // a second tab of the same browser
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("opening a second tab: %v", err)
	}
	t.Cleanup(cancelB)
	for i, e := range []*e2eEnv{a, b} {
		e.url = url
		e.ctx = []context.Context{actx, bctx}[i]
		name, tab := []string{"a", "b"}[i], e.ctx // e.ctx is replaced below: the reader keeps the tab's
		go func() {
			for m, err := range chromedp.Console(tab) {
				if err != nil {
					return
				}
				a.mu.Lock()
				a.console = append(a.console, fmt.Sprintf("%s: %s: %s", name, m.Type, m.Text))
				a.mu.Unlock()
			}
		}()
		ctx, cancel := context.WithTimeout(e.ctx, 2*time.Minute)
		t.Cleanup(cancel)
		e.ctx = ctx
	}
	t.Cleanup(func() {
		if t.Failed() {
			a.mu.Lock()
			defer a.mu.Unlock()
			t.Logf("pages' console:\n  %s", strings.Join(a.console, "\n  "))
			if a.hostLog.Len() > 0 {
				t.Logf("host log:\n%s", a.hostLog.String())
			}
		}
	})
}

// e2eHub is where newOffloadE2EWith's host keeps its models, and its
// hub's URL.
type e2eHub struct{ models, url string }

// offloadJoin opens the Offload page in e and joins the room as name, in
// slow mode throttle, with MobileNet loaded and the direct channel on or off.
func offloadJoin(e *e2eEnv, name string, throttle int, direct bool) {
	e.t.Helper()
	e.open("#offload")
	e.wait("the models list", `document.getElementById("offload-model").value.startsWith("mobilenet")`, 20*time.Second)
	e.eval(fmt.Sprintf(`(() => {
		document.getElementById("offload-name").value = %q;
		document.getElementById("offload-throttle").value = "%d";
		document.getElementById("offload-direct").checked = %v;
		return true;
	})()`, name, throttle, direct), new(bool))
	e.run("joining", chromedp.Click(chromedp.CSS("#offload-join")))
	e.wait("joining the room", `document.getElementById("view-offload").dataset.state === "joined"`, 30*time.Second)
}

// offloadView is what the tests read of the page.
type offloadView struct {
	State, Transport, Fingerprint, Peer string
	LocalMs, OffloadMs, MaxDiff         string
	Runs, Fallbacks, Peers              string
	Last                                struct {
		Peer                                    *string
		Cut                                     int
		Tensor, Transport, Fallback             string
		PredictedMs, RemoteMs, LocalMs, TotalMs float64
		UpBytes, DownBytes                      int
	}
	Infos []struct {
		Peer                *string
		Transport, Fallback string
		RemoteMs            float64
	}
	Self    string
	Log     []string
	Offload []float64
	Local   []float64
}

func (e *e2eEnv) offloadView() offloadView {
	e.t.Helper()
	var v offloadView
	e.eval(`(() => { const d = document.getElementById("view-offload").dataset, s = window.__edgenn_demo.offload;
		return {...d, last: s.last, infos: s.infos, self: s.peers?.id ?? "", log: s.log, offload: s.offloadMs, local: s.localMs}; })()`, &v)
	return v
}

// TestE2EOffloadDirect: B serves, A (10x) compares its local run with
// offload "auto" over a direct data channel; then B's tab closes while it
// runs A's request, and A's run completes here, once.
func TestE2EOffloadDirect(t *testing.T) {
	a, b := newOffloadE2E(t)
	offloadJoin(b, "helper", 1, true)
	offloadJoin(a, "weak", 10, true)
	bid := b.offloadView().Self
	a.wait("B's announce of MobileNet", fmt.Sprintf(`document.querySelector('#offload-peers li[data-id=%q]')?.dataset.holds === "true"`, bid), 20*time.Second)
	// One run sent to B pairs the two (A then offers the data channel) and
	// compiles B's tail; the comparison's runs then find the channel open.
	offloadOnce(a, bid, "")
	a.wait("the direct channel", fmt.Sprintf(`document.querySelector('#offload-peers li[data-id=%q]')?.dataset.transport === "direct"`, bid), 10*time.Second)
	if w := a.offloadView(); w.Last.Transport == "" || !offloadSame(w.MaxDiff) {
		t.Errorf("the run sent to B: %+v, outputs within %s", w.Last, w.MaxDiff)
	}

	a.run("comparing", chromedp.SetValue(chromedp.CSS("#offload-runs"), "4"), chromedp.Click(chromedp.CSS("#offload-compare")))
	a.wait("the comparison", `(d => d.busy === "0" && d.offloadMs !== undefined)(document.getElementById("view-offload").dataset)`, 60*time.Second)
	v := a.offloadView()
	t.Logf("e2e: offload: here %s ms, offloaded %s ms (medians of 4; runs %v and %v), cut %d (%s), transport %s, predicted %.1f ms, remote %.1f ms, %d+%d bytes",
		v.LocalMs, v.OffloadMs, v.Local, v.Offload, v.Last.Cut, v.Last.Tensor, v.Last.Transport, v.Last.PredictedMs, v.Last.RemoteMs, v.Last.UpBytes, v.Last.DownBytes)
	if !offloadSame(v.MaxDiff) {
		t.Errorf("the offloaded outputs differ from the local run's by %s", v.MaxDiff)
	}
	// The planner may keep a run here when the measured costs say so; the
	// runs it offloaded went to B over the direct channel.
	for _, i := range offloaded(t, v, bid) {
		if i.Transport != "direct" || !(i.RemoteMs > 0) {
			t.Errorf("an offloaded run's transport is %q and its remote time %.1f ms, want direct and > 0", i.Transport, i.RemoteMs)
		}
	}
	if v.OffloadMs == "" {
		t.Errorf("no offloaded latency reported: %+v", v)
	}
	// Both sides show the same fingerprint, and B the direct channel too.
	b.wait("B's fingerprint", `document.getElementById("view-offload").dataset.fingerprint !== ""`, 10*time.Second)
	if fb := b.offloadView().Fingerprint; fb != v.Fingerprint || len(fb) != 6 {
		t.Errorf("fingerprints: A shows %q, B %q", v.Fingerprint, fb)
	}
	checkPeerTransport(t, b, "direct")
	a.screenshot("offload")

	// B slows down (300x) so that A's next request is surely in flight on
	// it when its tab closes.
	b.eval(`(window.__edgenn_demo.offload.peers.throttle = 300, true)`, new(bool))
	runs, fallbacks := v.Runs, v.Fallbacks
	a.run("running once", chromedp.Click(chromedp.CSS("#offload-once")))
	b.wait("B to take A's request", `window.__edgenn_demo.offload.peers._queue > 0`, 20*time.Second)
	if _, err := chromedp.Call(b.ctx, page.Close, cdp.Empty{}); err != nil {
		t.Fatalf("closing B's tab: %v", err)
	}
	a.wait("A's run to finish", fmt.Sprintf(`(d => d.busy === "0" && d.runs !== %q)(document.getElementById("view-offload").dataset)`, runs), 30*time.Second)
	time.Sleep(500 * time.Millisecond) // a second delivery would come now
	w := a.offloadView()
	if w.Runs != fmt.Sprint(atoi(runs)+1) || w.Fallbacks != fmt.Sprint(atoi(fallbacks)+1) {
		t.Errorf("after B closed: %s runs and %s fallbacks, want %d and %d (one run, finished here)", w.Runs, w.Fallbacks, atoi(runs)+1, atoi(fallbacks)+1)
	}
	if w.Last.Fallback == "" || (!strings.Contains(w.Last.Fallback, "left") && !strings.Contains(w.Last.Fallback, "closed")) {
		t.Errorf("the run's fallback is %q, want B leaving or its channel closing", w.Last.Fallback)
	}
	if !offloadSame(w.MaxDiff) {
		t.Errorf("the run finished here differs from the local run by %s", w.MaxDiff)
	}
	a.wait("B to leave A's list", `document.getElementById("view-offload").dataset.peers === "0"`, 10*time.Second)
	t.Logf("e2e: offload: B closed mid-run: %q", w.Last.Fallback)
	if errs := a.pageErrors(); errs != "" {
		t.Error(errs)
	}
}

// TestE2EOffloadRelay: with the direct channel off in A, the requester, the
// frames go through the hub's relay, and the outputs still equal A's own.
func TestE2EOffloadRelay(t *testing.T) {
	a, b := newOffloadE2E(t)
	offloadJoin(b, "helper", 1, true)
	offloadJoin(a, "weak", 10, false)
	bid := b.offloadView().Self
	a.wait("B's announce of MobileNet", fmt.Sprintf(`document.querySelector('#offload-peers li[data-id=%q]')?.dataset.holds === "true"`, bid), 20*time.Second)
	offloadOnce(a, bid, "relay")
	time.Sleep(5500 * time.Millisecond) // past DIRECT_TIMEOUT: no channel was offered, none opened
	offloadOnce(a, bid, "relay")
	a.run("comparing", chromedp.SetValue(chromedp.CSS("#offload-runs"), "3"), chromedp.Click(chromedp.CSS("#offload-compare")))
	a.wait("the comparison", `(d => d.busy === "0" && d.offloadMs !== undefined)(document.getElementById("view-offload").dataset)`, 60*time.Second)
	v := a.offloadView()
	t.Logf("e2e: offload (relay): here %s ms, offloaded %s ms, cut %d, transport %s", v.LocalMs, v.OffloadMs, v.Last.Cut, v.Last.Transport)
	for _, i := range v.Infos {
		if i.Peer != nil && i.Fallback == "" && i.Transport != "relay" {
			t.Errorf("transport %q with the direct channel off, want relay", i.Transport)
		}
	}
	if !offloadSame(v.MaxDiff) {
		t.Errorf("the offloaded outputs differ from the local run's by %s", v.MaxDiff)
	}
	checkPeerTransport(t, b, "relay")
	if errs := a.pageErrors() + b.pageErrors(); errs != "" {
		t.Error(errs)
	}
}

// checkPeerTransport checks the transport the serving tab b lists for its
// requester.
func checkPeerTransport(t *testing.T, b *e2eEnv, want string) {
	t.Helper()
	var got string
	b.eval(`document.querySelector("#offload-peers li")?.dataset.transport ?? ""`, &got)
	if got != want {
		t.Errorf("B lists A with transport %q, want %s", got, want)
	}
}

// offloadOnce clicks "Run once, offloaded" in e (it sends the run to the
// peer that holds the model, peer) and checks that it went there, over
// transport when not "", with the local run's outputs.
func offloadOnce(e *e2eEnv, peer, transport string) {
	e.t.Helper()
	runs := e.offloadView().Runs
	e.run("running once", chromedp.Click(chromedp.CSS("#offload-once")))
	e.wait("the run", fmt.Sprintf(`(d => d.busy === "0" && d.runs !== %q)(document.getElementById("view-offload").dataset)`, runs), 30*time.Second)
	v := e.offloadView()
	if v.Last.Peer == nil || *v.Last.Peer != peer || v.Last.Fallback != "" || (transport != "" && v.Last.Transport != transport) || !offloadSame(v.MaxDiff) {
		e.t.Errorf("a run sent to %s (transport %q): %+v, outputs within %s", peer, transport, v.Last, v.MaxDiff)
	}
}

// offloaded returns the runs of the page's last comparison that went to
// peer (and did not fall back), failing the test when there are none.
func offloaded(t *testing.T, v offloadView, peer string) (out []struct {
	Peer                *string
	Transport, Fallback string
	RemoteMs            float64
}) {
	t.Helper()
	for _, i := range v.Infos {
		if i.Peer != nil && *i.Peer == peer && i.Fallback == "" {
			out = append(out, i)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no run of the comparison was offloaded to B (%s): %+v; log %q", peer, v.Infos, v.Log)
	}
	return out
}

// offloadSame reports whether the page's largest output difference (a JS
// number) is within float32 rounding of the same engine's run: the head
// and the tail run the same kernels as the whole model does.
func offloadSame(maxDiff string) bool {
	d, err := strconv.ParseFloat(maxDiff, 64)
	return err == nil && d <= 1e-5
}

func atoi(s string) int {
	var n int
	fmt.Sscan(s, &n)
	return n
}

// TestE2EOffloadNative is issue 7's "offload pays" figure in a real browser:
// a tab in slow mode (10x) runs MobileNetV1 1.0/224 itself and offloaded to
// a native `edgenn worker` through the host's hub, alternately, through
// edgenn.js's public API (enn.join, model.run with offload "auto"). Every
// offloaded output must equal the local one and come from the worker; the
// medians and their ratio are logged, not asserted (a shared machine).
func TestE2EOffloadNative(t *testing.T) {
	const name = "mobilenet_v1_100_224"
	a, _, hub := newOffloadE2EWith(t, name)
	w, _, err := startWorker(workerConfig{Hub: hub.url, Room: offloadRoom, Token: offloadToken, Models: hub.models,
		Name: "native", Throttle: 1, ProfileRuns: 3, Log: log.New(io.Discard, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	a.open("#digits")
	a.wait("the app", "window.__edgenn_demo.ready === true", 60*time.Second)
	var got struct {
		Local, Offloaded []float64
		Peers            []string
		MaxDiff          float64
		Transport        []string
	}
	a.eval(fmt.Sprintf(`(async () => {
		const enn = window.__edgenn_demo.app.enn;
		const model = await enn.load("models/%s.enn");
		const peers = await enn.join("/hub", { room: %q, token: %q, throttle: 10, name: "tab" });
		const holds = () => peers.peers.some((p) => p.models.includes(model.info.sha256));
		if (!holds()) await new Promise((ok) => peers.on("announce", () => holds() && ok()));
		const x = new Float32Array(224 * 224 * 3).map((_, i) => Math.sin(i * 0.37) * 0.5 + 0.5);
		const out = model.info.outputs[0].name;
		const r = { local: [], offloaded: [], peers: [], maxDiff: 0, transport: [] };
		for (let i = -1; i < 5; i++) {
			let t = performance.now();
			const here = (await model.run(x))[out];
			const lt = performance.now() - t;
			t = performance.now();
			const there = (await model.run(x, { offload: "auto" }))[out];
			const ot = performance.now() - t;
			for (let k = 0; k < here.length; k++) r.maxDiff = Math.max(r.maxDiff, Math.abs(here[k] - there[k]));
			if (i < 0) continue; // warm-up
			r.local.push(lt); r.offloaded.push(ot);
			r.peers.push(model.lastOffload.peer ?? "here"); r.transport.push(model.lastOffload.transport ?? "");
		}
		peers.close();
		model.dispose();
		return r;
	})()`, name, offloadRoom, offloadToken), &got)
	med := func(v []float64) float64 { v = slices.Clone(v); slices.Sort(v); return v[len(v)/2] }
	t.Logf("e2e: offload to native: a tab in slow mode (10x), %s: here %.1f ms, offloaded %.1f ms (medians of %d): %.1fx; runs here %v, offloaded %v, transports %v",
		name, med(got.Local), med(got.Offloaded), len(got.Local), med(got.Local)/med(got.Offloaded), got.Local, got.Offloaded, got.Transport)
	if got.MaxDiff > 1e-4 {
		t.Errorf("offloaded outputs differ from the local run by %g", got.MaxDiff)
	}
	for i, p := range got.Peers {
		if p == "here" {
			t.Errorf("run %d stayed here; want every run offloaded to the native worker (peers %v)", i, got.Peers)
			break
		}
	}
}
