//go:build !js

package main

// TestCFWorkerPeers: browser clients (www/edgenn-peer.js, in Node) offload
// to each other through the Worker's HTTP hub in workerd, local D1.

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCFWorkerPeers starts the Worker with hub rooms (cfHubWorker) and runs
// wasm/jsapi/cfhub_peers.mjs against it: two pools join room alpha through
// the HTTP hub ("auto" picks it), one serves lenet5 and MobileNet, the other
// (throttle 10) offloads to it at explicit cuts and with "auto" and gets the
// local run's outputs; a peer leaving mid-run leaves the run to finish
// locally, once; a wrong token is refused with the hub's reason.
func TestCFWorkerPeers(t *testing.T) {
	cfNeedWorker(t)
	for _, p := range []string{filepath.Join(cfRoot, "build", "edgenn.wasm"), filepath.Join(cfRoot, "build", "models", "lenet5.enn"),
		filepath.Join(cfRoot, "build", "models", "mobilenet_v1_025_128.enn")} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s is missing: run `make worker zoo-models` first", p)
		}
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not on PATH")
	}
	w := cfHubWorker(t, "20s")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--experimental-websocket", "--no-warnings", filepath.Join("wasm", "jsapi", "cfhub_peers.mjs"),
		w.url+"/hub", "alpha", cfHubAlphaToken)
	cmd.Dir = cfRoot
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		t.Log(line)
	}
	if err != nil {
		t.Fatalf("cfhub_peers.mjs: %v", err)
	}
	if !strings.Contains(string(out), "cfhub-peers: ok") {
		t.Fatal("cfhub_peers.mjs did not say ok")
	}
}
