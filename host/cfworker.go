//go:build js && wasm && cfworker

package main

// The host as a Cloudflare Worker (make worker): syumai/workers' glue
// (build/worker/worker.mjs) instantiates this module for every request, with
// no arguments, and main runs the cfworker command, which serves that one
// request and returns.

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/syumai/workers"
	"github.com/syumai/workers/cloudflare"
	"github.com/syumai/workers/cloudflare/fetch"
)

// cfAssetsBinding is the name of the static assets binding in
// cfworker/wrangler.toml.
const cfAssetsBinding = "ASSETS"

func init() {
	commands = append(commands, command{"cfworker", "", "serve requests as a Cloudflare Worker (the Worker's default)", cmdCFWorker})
	if len(os.Args) < 2 {
		os.Args = append(os.Args[:min(len(os.Args), 1)], "cfworker")
	}
}

func cmdCFWorker(args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("takes no arguments, got %q", args)
	}
	logger := log.New(os.Stderr, "edgenn: ", 0) // the Worker's log stamps the time
	files := cfHandler(cfBindingAssets{}, logger)
	workers.Serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// syumai/workers reads a missing Transfer-Encoding as one empty
		// coding, which the handler would take for a request body.
		r.TransferEncoding = slices.DeleteFunc(r.TransferEncoding, func(c string) bool { return strings.TrimSpace(c) == "" })
		// The runtime compresses a response that names its Content-Encoding
		// itself; the handler's gzip would be compressed twice.
		r.Header.Del("Accept-Encoding")
		if r.URL.Path == "/hub" || strings.HasPrefix(r.URL.Path, "/hub/") {
			// The peer hub over HTTP (cfhub.go), state in D1.
			if h, err := newCFHubFromEnv(logger); err != nil {
				logger.Printf("%s %s 503 (%v)", r.Method, r.URL.EscapedPath(), err)
				http.Error(w, "this Worker's hub is misconfigured: "+err.Error(), http.StatusServiceUnavailable)
				return
			} else if h != nil {
				h.ServeHTTP(w, r)
				return
			}
			// No rooms: no hub, as `edgenn serve` without --hub-room.
		}
		files.ServeHTTP(w, r)
		if r.Method == http.MethodHead {
			// syumai/workers makes a body of Content-Length bytes, which a
			// HEAD response has not: the runtime would fail the response.
			w.Header().Del("Content-Length")
		}
	}))
	return nil
}

// cfBindingAssets fetches the static assets uploaded with the Worker through
// its ASSETS binding.
type cfBindingAssets struct{}

func (cfBindingAssets) Open(name string) (io.ReadCloser, error) {
	binding := cloudflare.GetBinding(cfAssetsBinding)
	if binding.IsUndefined() {
		return nil, fmt.Errorf("the Worker has no %s binding (cfworker/wrangler.toml)", cfAssetsBinding)
	}
	u := url.URL{Scheme: "https", Host: "assets.invalid", Path: "/" + name}
	req, err := fetch.NewRequest(context.Background(), http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	res, err := fetch.NewClient(fetch.WithBinding(binding)).Do(req, &fetch.RequestInit{Redirect: fetch.RedirectModeManual})
	if err != nil {
		return nil, fmt.Errorf("asset %s: %w", name, err)
	}
	switch {
	case res.StatusCode == http.StatusOK:
		return res.Body, nil
	case res.StatusCode == http.StatusNotFound:
		res.Body.Close()
		return nil, fmt.Errorf("asset %s: %w", name, fs.ErrNotExist)
	default:
		res.Body.Close()
		return nil, fmt.Errorf("asset %s: %s from the %s binding", name, res.Status, cfAssetsBinding)
	}
}
