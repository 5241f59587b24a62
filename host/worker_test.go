//go:build !js

package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestWorkerFlags: the command refuses what it cannot run, naming the
// problem, before it joins anything.
func TestWorkerFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "--hub URL, --room NAME and --token TOKEN are required"},
		{[]string{"--hub", "ws://127.0.0.1:1/hub", "--room", "lab"}, "are required"},
		{[]string{"--hub", "ws://127.0.0.1:1/hub", "--room", "lab", "--token", testToken, "--throttle", "0.5"}, "--throttle 0.5: want 1 to 1000"},
		{[]string{"--hub", "ws://127.0.0.1:1/hub", "--room", "lab", "--token", testToken, "--profile-runs", "0"}, "--profile-runs 0"},
		{[]string{"--hub", "ftp://127.0.0.1:1/hub", "--room", "lab", "--token", testToken}, "want ws:// or wss://"},
		{[]string{"--hub", "ws://127.0.0.1:1/hub", "--room", "lab", "--token", testToken, "--models", "/no/such/folder"}, "--models: open /no/such/folder"},
		{[]string{"--hub", "ws://127.0.0.1:1/hub", "--room", "lab", "--token", testToken}, "hub ws://127.0.0.1:1/hub"},
	} {
		_, err := run(t, append([]string{"worker"}, tt.args...)...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("worker %q: error %v, want one containing %q", tt.args, err, tt.want)
		}
	}
	out, err := run(t, "help")
	if err != nil || !strings.Contains(out, "worker   --hub URL --room R --token T") {
		t.Errorf("help does not list the worker: %v\n%s", err, out)
	}
}

// TestWorkerWrongToken: a worker with the wrong token, or for a room the
// hub does not have, is refused at once and says so; it does not retry.
func TestWorkerWrongToken(t *testing.T) {
	h := startOffloadHost(t, "127.0.0.1:0", t.TempDir(), nil)
	for _, tt := range []struct{ room, token, want string }{
		{testRoom, "guessed-token", "bad-token: wrong token for room \"lab\""},
		{"attic", testToken, "unknown-room"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		start := time.Now()
		err := workerMain(ctx, []string{"--hub", h.hubURL, "--room", tt.room, "--token", tt.token}, &lineWriter{lines: make(chan string, 4)})
		cancel()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("room %s token %s: error %v, want %q", tt.room, tt.token, err, tt.want)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("refused after %v", took)
		}
	}
	if !strings.Contains(h.log.String(), "refused: bad-token") {
		t.Errorf("the hub did not log the refusal:\n%s", h.log)
	}
}

// TestWorkerCommand: the command joins, announces its models with a cost
// for every cut and leaves when its context ends.
func TestWorkerCommand(t *testing.T) {
	modelsDir := t.TempDir()
	zoo := writeZoo(t, modelsDir, "lenet5")
	h := startOffloadHost(t, "127.0.0.1:0", modelsDir, nil)
	o, c := startRequester(t, h.hubURL, testRoom, testToken, zoo["lenet5"], 1)
	id, stop := runWorkerCommand(t, "--hub", h.hubURL, "--room", testRoom, "--token", testToken, "--models", modelsDir,
		"--name", "box", "--throttle", "3", "--profile-runs", "3")
	deadline := time.Now().Add(5 * time.Second)
	var got announcedModel
	for {
		if a, ok := c.holders(o.m.digest)[id]; ok {
			got = a
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no announce of lenet5 from the worker")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(got.cuts) != len(o.m.cuts) || got.cuts[len(got.cuts)-1] <= 0 {
		t.Fatalf("announced cuts %v, want %d cumulative costs", got.cuts, len(o.m.cuts))
	}
	stop()
	deadline = time.Now().Add(5 * time.Second)
	for len(c.holders(o.m.digest)) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the room still lists the stopped worker")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(h.log.String(), "left: left: closed") {
		t.Errorf("the worker did not leave cleanly:\n%s", h.log)
	}
}
