//go:build !js

package main

// TestCFWorkerNative: the native client (peerclient.go) over the Workers
// hub's HTTP transport, in workerd with local D1: `edgenn worker` serves a
// Go Offloader through the Worker. TestWorkerHubTransport: the native hub is
// told apart from it.

import (
	"context"
	"errors"
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
	x, _, _ := model.ZooInput(name)
	want := localRun(t, name, x)
	got, err := o.Run(context.Background(), x)
	if err != nil {
		t.Fatal(err)
	}
	sameOutputs(t, got, want)
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
