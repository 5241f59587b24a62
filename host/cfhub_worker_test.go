//go:build !js

package main

// TestCFWorkerNative: the native client (peerclient.go) over the Workers
// hub's HTTP transport, in workerd with local D1: `edgenn worker` serves a
// Go Offloader through the Worker. TestWorkerHubTransport: the native hub is
// told apart from it.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgenn/edgenn/engine/peer"
	"github.com/edgenn/edgenn/model"
)

// TestCFWorkerNative starts the Worker with hub rooms (cfHubWorker), runs
// `edgenn worker --transport http` holding MobileNet in room alpha and a Go
// Offloader (transport auto) that offloads to it through the HTTP hub: the
// outputs are the local run's, with no fallback. A wrong token is refused
// with the hub's reason, over either choice of transport.
func TestCFWorkerNative(t *testing.T) {
	cfNeedWorker(t)
	w := cfHubWorker(t, "20s")
	hub := w.url + "/hub"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if got := hubTransport(ctx, hub); got != "http" {
		t.Fatalf("auto picks %q for the Worker's hub, want http", got)
	}
	if got := hubTransport(ctx, strings.Replace(hub, "http://", "ws://", 1)); got != "http" {
		t.Fatalf("auto picks %q for the Worker's hub as ws://, want http", got)
	}

	t.Run("wrong-token", func(t *testing.T) {
		for _, tr := range []string{"auto", "http"} {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := workerMain(ctx, []string{"--hub", hub, "--room", "alpha", "--token", "not-the-token", "--transport", tr,
				"--name", "intruder", "--profile-runs", "1"}, &lineWriter{lines: make(chan string, 16)})
			cancel()
			var je *joinError
			if !errors.As(err, &je) || je.code != peer.CodeBadToken || !strings.Contains(je.text, `wrong token for room "alpha"`) {
				t.Fatalf("--transport %s with a wrong token: %v, want the hub's bad-token refusal", tr, err)
			}
		}
		_, err := startPeerClient(peerClientConfig{URL: hub, Room: "gamma", Token: cfHubAlphaToken, Transport: "http"}, nopPeerHandler{})
		var je *joinError
		if !errors.As(err, &je) || je.code != peer.CodeUnknownRoom {
			t.Fatalf("an unknown room: %v, want unknown-room", err)
		}
	})

	const name = "mobilenet_v1_025_128"
	modelsDir := t.TempDir()
	zoo := writeZoo(t, modelsDir, name)
	worker, _ := runWorkerCommand(t, "--hub", hub, "--room", "alpha", "--token", cfHubAlphaToken, "--transport", "http",
		"--models", modelsDir, "--name", "box", "--profile-runs", "3")
	// A slow requester (throttle 300), so that a round trip through the
	// HTTP hub, whose polls take their time, still pays.
	o, c := startRequester(t, hub, "alpha", cfHubAlphaToken, zoo[name], 300)
	c.mu.Lock()
	over := c.conn.name()
	c.mu.Unlock()
	if over != "http" {
		t.Fatalf("the requester joined over %s, want http", over)
	}
	waitHolder(t, o, c, worker)
	x, _ := runSame(t, o, name)
	// Three in flight at once.
	xs := [][]float32{x, make([]float32, len(x)), x}
	for i := range xs[1] {
		xs[1][i] = float32(i%13) / 13
	}
	outs := runConcurrently(t, o, xs)
	for i := range xs {
		sameOutputs(t, outs[i], localRun(t, name, xs[i]))
	}
	st := o.Stats()
	t.Logf("stats %+v, hub round trip %v", st, c.hubRTT())
	if st.Remote < 4 || st.Fallback != 0 || st.Dropped != 0 || st.Refused != 0 {
		t.Fatalf("stats %+v, want 4 results from the worker and no fallback", st)
	}
}

// TestCFWorkerNativeRejoin: `edgenn worker --transport http` holding
// MobileNet serves a Go requester through the Worker's hub; then the hub
// forgets the worker, first as it forgets a silent peer (its row expired:
// the next sweep drops it and tells the room), then as if D1 lost it (its
// rows deleted: nobody is told). Each time the worker's next poll is
// refused (410), it joins again under a new id and announces, and the
// requester's next run is served by it: the local run's outputs, one more
// remote result, no fallback; the hub's match steers the requester off the
// forgotten id, which the hub no longer knows.
func TestCFWorkerNativeRejoin(t *testing.T) {
	cfNeedWorker(t)
	state := t.TempDir()
	w := cfHubWorkerAt(t, state, "20s", "3s", "alpha="+cfHubAlphaToken)
	hub := w.url + "/hub"
	const name = "mobilenet_v1_025_128"
	modelsDir := t.TempDir()
	zoo := writeZoo(t, modelsDir, name)
	id, _ := runWorkerCommand(t, "--hub", hub, "--room", "alpha", "--token", cfHubAlphaToken, "--transport", "http",
		"--models", modelsDir, "--name", "box", "--profile-runs", "3")
	o, c := startRequester(t, hub, "alpha", cfHubAlphaToken, zoo[name], 300)
	waitHolder(t, o, c, id)
	x, _, _ := model.ZooInput(name)
	want := localRun(t, name, x)
	served := func() {
		t.Helper()
		before := o.Stats()
		got, err := o.Run(context.Background(), x)
		if err != nil {
			t.Fatal(err)
		}
		sameOutputs(t, got, want)
		if st := o.Stats(); st.Remote != before.Remote+1 || st.Fallback != before.Fallback || st.Local != before.Local {
			t.Fatalf("stats %+v after %+v: want one more result from the worker and no fallback", st, before)
		}
	}
	served()
	ids := []string{id}
	for _, forget := range []struct{ what, sql string }{
		{"expired", "UPDATE hub_peers SET expires = 0 WHERE id = '%[1]s'"},
		{"removed", "DELETE FROM hub_queue WHERE peer = '%[1]s'; DELETE FROM hub_models WHERE peer = '%[1]s'; DELETE FROM hub_peers WHERE id = '%[1]s'"},
	} {
		t.Run(forget.what, func(t *testing.T) {
			old := ids[len(ids)-1]
			cfD1Query(t, state, fmt.Sprintf(forget.sql, old))
			t0 := time.Now()
			// The worker's new id, once the requester has its announce.
			var next string
			for deadline := time.Now().Add(30 * time.Second); next == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				for h := range c.holders(o.m.digest) {
					if !slices.Contains(ids, h) {
						next = h
					}
				}
			}
			if next == "" {
				t.Fatalf("the worker did not come back within 30 s of being %s; the requester knows %v", forget.what, c.holders(o.m.digest))
			}
			t.Logf("cfworker: the worker %s as %s was back as %s, announced, %v after D1 forgot it", forget.what, old, next, time.Since(t0).Round(time.Millisecond))
			ids = append(ids, next)
			waitHolder(t, o, c, next)
			served()
			if forget.what == "expired" {
				if _, known := c.holders(o.m.digest)[old]; known {
					t.Errorf("the requester still lists %s after the hub dropped it", old)
				}
			}
		})
	}
}

// TestWorkerHubTransport: auto picks the WebSocket for the native hub, and
// a transport that is neither is refused.
func TestWorkerHubTransport(t *testing.T) {
	h := startOffloadHost(t, "127.0.0.1:0", t.TempDir(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if got := hubTransport(ctx, h.hubURL); got != "websocket" {
		t.Fatalf("auto picks %q for the native hub, want websocket", got)
	}
	if err := workerMain(ctx, []string{"--hub", h.hubURL, "--room", "r", "--token", "t", "--transport", "carrier-pigeon"},
		&lineWriter{lines: make(chan string, 16)}); err == nil || !strings.Contains(err.Error(), "--transport") {
		t.Fatalf("--transport carrier-pigeon: %v", err)
	}
}

type nopPeerHandler struct{}

func (nopPeerHandler) joined(*peerClient)      {}
func (nopPeerHandler) frame(string, []byte)    {}
func (nopPeerHandler) peerGone(string, string) {}
func (nopPeerHandler) dropped(string)          {}
