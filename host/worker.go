package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// `edgenn worker` joins a room of a host's hub as a strong peer (DESIGN.md,
// "The host and the peers"): it profiles the models of its folder, announces
// what running each costs up to every cut, and runs the tails that peers of
// the room offload to it, over frames sealed end to end and relayed by the
// hub (OFFLOAD.md). A model it is asked for but does not hold it fetches
// from the host's /models by its sha256. --throttle makes it a slower device
// than it is: its announced costs are multiplied and each run is followed by
// the sleep that makes it take that long, for measuring offload between
// unequal devices on one machine.

// workerConfig is what `edgenn worker` is told.
type workerConfig struct {
	Hub, Room, Token string
	// Transport is how to reach the hub: "auto" (or ""), "websocket" or
	// "http" (peerClientConfig.Transport).
	Transport   string
	Models      string // folder of .enn files; "" holds none
	Name        string
	Throttle    float64 // >= 1
	ProfileRuns int
	// Fetch lets the worker fetch models it does not hold from the hub's
	// host.
	Fetch bool
	// PingInterval and Timeout are the worker's own heartbeat towards the
	// hub (defaults 1s and 4s).
	PingInterval, Timeout time.Duration
	Log                   *log.Logger
}

// cmdWorker runs a worker until SIGINT or SIGTERM.
func cmdWorker(args []string, stdout io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return workerMain(ctx, args, stdout)
}

// workerMain parses the worker's flags, starts it and runs it until ctx
// ends.
func workerMain(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	var cfg workerConfig
	fs.StringVar(&cfg.Hub, "hub", "", "the hub's URL, ws://HOST:PORT/hub (or http(s):// of a Workers host's /hub)")
	fs.StringVar(&cfg.Transport, "transport", "auto", "how to reach the hub: auto (HTTP if the hub offers it), websocket or http")
	fs.StringVar(&cfg.Room, "room", "", "the room to join")
	fs.StringVar(&cfg.Token, "token", "", "the room's token")
	fs.StringVar(&cfg.Models, "models", "", "folder of .enn models to hold and announce")
	fs.StringVar(&cfg.Name, "name", "", "the name the room sees (default: the host name)")
	fs.Float64Var(&cfg.Throttle, "throttle", 1, "act a device this many times slower (>= 1)")
	fs.IntVar(&cfg.ProfileRuns, "profile-runs", 10, "runs of each model profiled to announce its costs")
	noFetch := fs.Bool("no-fetch", false, "do not fetch models the worker does not hold from the host")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	switch {
	case cfg.Hub == "" || cfg.Room == "" || cfg.Token == "":
		return errors.New("--hub URL, --room NAME and --token TOKEN are required")
	case cfg.Transport != "auto" && cfg.Transport != "websocket" && cfg.Transport != "http":
		return fmt.Errorf("--transport %q: want auto, websocket or http", cfg.Transport)
	case !(cfg.Throttle >= 1) || cfg.Throttle > 1000:
		return fmt.Errorf("--throttle %v: want 1 to 1000", cfg.Throttle)
	case cfg.ProfileRuns < 1 || cfg.ProfileRuns > 1000:
		return fmt.Errorf("--profile-runs %d: want 1 to 1000", cfg.ProfileRuns)
	}
	if cfg.Name == "" {
		cfg.Name, _ = os.Hostname()
		if len(cfg.Name) > 64 {
			cfg.Name = cfg.Name[:64]
		}
	}
	cfg.Fetch = !*noFetch
	if cfg.Log == nil {
		cfg.Log = log.New(os.Stderr, "edgenn: ", log.LstdFlags)
	}
	w, id, err := startWorker(cfg) // offload.go; worker_js.go in the js/wasm build
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "edgenn: worker %s in room %s of %s (throttle %gx); Ctrl-C stops\n", id, cfg.Room, cfg.Hub, cfg.Throttle)
	<-ctx.Done()
	w.Close()
	fmt.Fprintln(stdout, "edgenn: worker stopped")
	return nil
}
