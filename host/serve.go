//go:build !js

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// The server's limits against slow or oversized requests. Requests have no
// bodies, so reading one takes no longer than its headers; writing allows a
// 64 MB model over a slow link.
const (
	serveReadHeaderTimeout = 10 * time.Second
	serveReadTimeout       = 15 * time.Second
	serveWriteTimeout      = 10 * time.Minute
	serveIdleTimeout       = 2 * time.Minute
	serveMaxHeaderBytes    = 64 << 10
	serveShutdownTimeout   = 5 * time.Second
)

// cmdServe runs the host: www/, the wasm builds and the models folder over
// HTTP on one address until SIGINT or SIGTERM.
func cmdServe(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on (HOST:PORT; port 0 picks a free one)")
	www := fs.String("www", "www", "folder served at /")
	wasm := fs.String("wasm", "build", "folder holding edgenn.wasm, edgenn-scalar.wasm and wasm_exec.js")
	models := fs.String("models", filepath.Join("www", "models"), "folder of .enn models served at /models/")
	maxMB := fs.Int("max-model-mb", 64, "largest model served, in MiB")
	hubRooms := map[string]string{}
	fs.Func("hub-room", "a room of the peer hub at /hub, NAME=TOKEN, the token at least 8 bytes (repeatable; none: no hub)", func(v string) error {
		name, token, err := ParseHubRoom(v)
		if err != nil {
			return err
		}
		if _, dup := hubRooms[name]; dup {
			return fmt.Errorf("--hub-room %s: room given twice", name)
		}
		hubRooms[name] = token
		return nil
	})
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if *maxMB <= 0 {
		return fmt.Errorf("--max-model-mb %d: want a positive size", *maxMB)
	}
	roots, err := openServeRoots(*www, *wasm, *models)
	if err != nil {
		return err
	}
	defer roots.Close()
	logger := log.New(os.Stderr, "edgenn: ", log.LstdFlags)
	s, err := newServer(serveConfig{
		WWW: roots.www.FS(), Wasm: roots.wasm.FS(), Models: roots.models.FS(),
		MaxModelBytes: int64(*maxMB) << 20,
		Log:           logger,
	})
	if err != nil {
		return err
	}

	var hub *Hub
	if len(hubRooms) > 0 {
		if hub, err = NewHub(HubConfig{Rooms: hubRooms, Log: logger}); err != nil {
			return err
		}
	}
	handler := hostHandler(s, hub)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: serveReadHeaderTimeout,
		ReadTimeout:       serveReadTimeout,
		WriteTimeout:      serveWriteTimeout,
		IdleTimeout:       serveIdleTimeout,
		MaxHeaderBytes:    serveMaxHeaderBytes,
		ErrorLog:          logger,
	}
	fmt.Fprintf(stdout, "edgenn: serving http://%s/ (www %s, wasm %s, models %s); Ctrl-C stops\n", ln.Addr(), *www, *wasm, *models)
	if host, _, _ := net.SplitHostPort(*addr); host == "" || net.ParseIP(host).IsUnspecified() {
		fmt.Fprintf(stdout, "edgenn: %s listens on every interface, not only this machine\n", *addr)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	warmed := make(chan struct{})
	go func() { s.warm(); close(warmed) }()
	defer func() { <-warmed }() // the roots stay open until warm is done with them

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	stop() // a second signal ends the process the default way
	fmt.Fprintln(stdout, "edgenn: shutting down")
	if hub != nil {
		hub.Close() // http.Server.Shutdown does not track hijacked connections
	}
	sctx, cancel := context.WithTimeout(context.Background(), serveShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	fmt.Fprintln(stdout, "edgenn: stopped")
	return nil
}

// hostHandler routes the host's requests: /hub to the hub, if there is one
// (hub nil: none), and every other path to the file server. It is not a
// ServeMux, which would clean and redirect paths that the file server
// refuses on purpose.
func hostHandler(files http.Handler, hub *Hub) http.Handler {
	if hub == nil {
		return files
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hub" {
			hub.ServeHTTP(w, r)
			return
		}
		files.ServeHTTP(w, r)
	})
}

// serveRoots are the three folders, each opened as an os.Root so that no path
// or symlink inside them reaches a file outside.
type serveRoots struct{ www, wasm, models *os.Root }

func openServeRoots(www, wasm, models string) (*serveRoots, error) {
	var r serveRoots
	for _, d := range []struct {
		flag, dir string
		root      **os.Root
	}{{"--www", www, &r.www}, {"--wasm", wasm, &r.wasm}, {"--models", models, &r.models}} {
		root, err := os.OpenRoot(d.dir)
		if err != nil {
			r.Close()
			if d.flag == "--wasm" && errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("%s %s: %w (make wasm builds it)", d.flag, d.dir, err)
			}
			return nil, fmt.Errorf("%s %s: %w", d.flag, d.dir, err)
		}
		*d.root = root
	}
	return &r, nil
}

func (r *serveRoots) Close() {
	for _, root := range []*os.Root{r.www, r.wasm, r.models} {
		if root != nil {
			root.Close()
		}
	}
}
