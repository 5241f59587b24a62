//go:build !js

package main

// The Offload page end to end on the Cloudflare Workers build: two tabs of
// one headless Chromium load the app from the Worker in workerd (wrangler
// dev --local, local D1), join a room of its hub over HTTP (transport
// "auto" picks it), and tab A offloads MobileNet to tab B, over a direct
// WebRTC data channel, and with A's direct channel off, through the hub's
// relay: every frame a POST to the Worker and a row in D1. The helpers are
// e2e_offload_test.go's.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// cfOffloadE2E starts the Worker with the Offload page's room (demo, as
// `make run` configures it) and a browser with two tabs on its app.
func cfOffloadE2E(t *testing.T) (w *cfWorker, a, b *e2eEnv) {
	t.Helper()
	cfNeedWorker(t)
	chromium := e2eChromium(t)
	// MobileNet is among the Worker's assets (make worker lays out the
	// models of make run), the same bytes as the zoo's.
	m := cfReadManifest(t)
	name := filepath.Base(offloadModel)
	if !slices.ContainsFunc(m.Models, func(e cfEntry) bool { return e.Name == name }) {
		t.Fatalf("the Worker's assets have no %s (make worker lays out the models of make run)", name)
	}
	w = cfHubWorkerAt(t, t.TempDir(), "20s", "3s", offloadRoom+"="+offloadToken)
	want, err := os.ReadFile(filepath.Join(cfRoot, offloadModel))
	if err != nil {
		t.Fatal(err)
	}
	if _, got := cfGet(t, "GET", w.url+"/models/"+name); !bytes.Equal(got, want) {
		t.Fatalf("the Worker serves %d bytes as /models/%s, want %s's %d", len(got), name, offloadModel, len(want))
	}
	a, b = &e2eEnv{t: t}, &e2eEnv{t: t}
	startOffloadTabs(t, chromium, a, b, w.url+"/")
	return w, a, b
}

// cfOffloadJoined joins both tabs (B serves; A, in slow mode 10x, runs) and
// checks that each reached the hub over HTTP, that A knows B holds
// MobileNet, and that the model came from the Worker; it returns B's id.
func cfOffloadJoined(t *testing.T, a, b *e2eEnv, direct bool) string {
	t.Helper()
	offloadJoin(b, "helper", 1, true)
	offloadJoin(a, "weak", 10, direct)
	for _, e := range []*e2eEnv{a, b} {
		var over string
		e.eval(`window.__edgenn_demo.offload.peers.hubTransport`, &over)
		if over != "http" {
			t.Fatalf("a tab joined the Worker's hub over %q, want http", over)
		}
	}
	bid := b.offloadView().Self
	a.wait("B's announce of MobileNet", fmt.Sprintf(`document.querySelector('#offload-peers li[data-id=%q]')?.dataset.holds === "true"`, bid), 30*time.Second)
	var fetched []string
	a.eval(`performance.getEntriesByType("resource").map(r => r.name).filter(n => n.endsWith(".enn"))`, &fetched)
	if !slices.Contains(fetched, a.url+"models/"+filepath.Base(offloadModel)) {
		t.Errorf("tab A did not fetch MobileNet from the Worker (%s): %v", a.url, fetched)
	}
	return bid
}

// cfHubSends counts the Worker's answers to POST /hub/send in its log.
func cfHubSends(w *cfWorker) int {
	return strings.Count(w.logs(), "POST /hub/send 204")
}

// TestCFWorkerE2EOffloadDirect: the tabs pair through the Worker's hub
// (their keys and WebRTC signals are hub messages over HTTP), then A's run
// goes to B over the direct data channel: outputs equal to A's local run,
// model.lastOffload names B, transport direct, no fallback; B lists A as
// direct too, and both show the same fingerprint.
func TestCFWorkerE2EOffloadDirect(t *testing.T) {
	w, a, b := cfOffloadE2E(t)
	bid := cfOffloadJoined(t, a, b, true)
	// The first run sent to B pairs the two (over the hub's relay if the
	// channel is not open yet) and compiles B's tail; then A offers the
	// data channel.
	offloadOnce(a, bid, "")
	a.wait("the direct channel", fmt.Sprintf(`document.querySelector('#offload-peers li[data-id=%q]')?.dataset.transport === "direct"`, bid), 20*time.Second)
	sends := cfHubSends(w)
	offloadOnce(a, bid, "direct")
	v := a.offloadView()
	t.Logf("cfworker: offload through the Worker's hub, direct: cut %d (%s), %.1f ms in all, %.1f ms remote, %d+%d bytes; %d hub sends for the run",
		v.Last.Cut, v.Last.Tensor, v.Last.TotalMs, v.Last.RemoteMs, v.Last.UpBytes, v.Last.DownBytes, cfHubSends(w)-sends)
	if !(v.Last.RemoteMs > 0) || v.Last.UpBytes == 0 || v.Last.DownBytes == 0 {
		t.Errorf("the run sent to B over the direct channel: %+v, want its remote time and bytes", v.Last)
	}
	checkPeerTransport(t, b, "direct")
	b.wait("B's fingerprint", `document.getElementById("view-offload").dataset.fingerprint !== ""`, 10*time.Second)
	if fa, fb := a.offloadView().Fingerprint, b.offloadView().Fingerprint; fa != fb || len(fa) != 6 {
		t.Errorf("fingerprints: A shows %q, B %q", fa, fb)
	}
	if errs := a.pageErrors() + b.pageErrors(); errs != "" {
		t.Error(errs)
	}
}

// TestCFWorkerE2EOffloadRelay: with the direct channel off in A, A's runs
// go to B through the Worker hub's relay: outputs equal to A's local run,
// model.lastOffload names B, transport relay, no fallback, and the frames
// are sends the Worker took; B lists A as relay.
func TestCFWorkerE2EOffloadRelay(t *testing.T) {
	w, a, b := cfOffloadE2E(t)
	bid := cfOffloadJoined(t, a, b, false)
	offloadOnce(a, bid, "relay")
	sends := cfHubSends(w)
	offloadOnce(a, bid, "relay")
	v := a.offloadView()
	n := cfHubSends(w) - sends
	t.Logf("cfworker: offload through the Worker's hub, relay: cut %d (%s), %.1f ms in all, %.1f ms remote, %d+%d bytes; %d hub sends for the run",
		v.Last.Cut, v.Last.Tensor, v.Last.TotalMs, v.Last.RemoteMs, v.Last.UpBytes, v.Last.DownBytes, n)
	if n < 2 { // at least the input's frames up and the result's down
		t.Errorf("the Worker took %d sends during a relayed run, want its frames", n)
	}
	checkPeerTransport(t, b, "relay")
	if errs := a.pageErrors() + b.pageErrors(); errs != "" {
		t.Error(errs)
	}
}
