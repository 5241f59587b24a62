//go:build !js

package main

// Tests of the Cloudflare Workers build (cfworker*.go). TestCFWorkerHandler
// runs the Worker's handler natively over laid-out assets; the rest run the
// real build (make worker) in workerd through wrangler dev --local, with no
// network, when EDGENN_WORKERS=1 (make test-workers), and compare it with the
// native host byte for byte.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/fstest"
	"time"
)

// cfDirAssets is cfAssets over a folder, counting what is opened.
type cfDirAssets struct {
	dir    string
	mu     sync.Mutex
	opened []string
}

func (a *cfDirAssets) Open(name string) (io.ReadCloser, error) {
	a.mu.Lock()
	a.opened = append(a.opened, name)
	a.mu.Unlock()
	return os.Open(filepath.Join(a.dir, filepath.FromSlash(name)))
}

func (a *cfDirAssets) take() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	o := a.opened
	a.opened = nil
	return o
}

// cfGet makes one request and returns the response with its body read.
func cfGet(t *testing.T, method, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Encoding", "identity")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := &http.Client{
		Timeout:       time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return res, body
}

// cfSame checks that the Worker's answer to one request is the native
// host's: status, body, and the headers that describe the body.
func cfSame(t *testing.T, nativeURL, workerURL, method, path string, header ...string) (*http.Response, []byte) {
	t.Helper()
	nr, nb := cfGet(t, method, nativeURL+path, header...)
	wr, wb := cfGet(t, method, workerURL+path, header...)
	if nr.StatusCode != wr.StatusCode {
		t.Errorf("%s %s: the Worker says %d %q, the native host %d %q", method, path, wr.StatusCode, cfShort(wb), nr.StatusCode, cfShort(nb))
		return wr, wb
	}
	if !bytes.Equal(nb, wb) {
		t.Errorf("%s %s: the Worker sent %d bytes (sha256 %s), the native host %d (sha256 %s)",
			method, path, len(wb), cfSHA(wb), len(nb), cfSHA(nb))
	}
	for _, h := range []string{"Content-Type", "ETag", "Location", "Content-Range", "Allow", "X-Content-Type-Options", "Cache-Control"} {
		if nr.Header.Get(h) != wr.Header.Get(h) {
			t.Errorf("%s %s: %s: the Worker sent %q, the native host %q", method, path, h, wr.Header.Get(h), nr.Header.Get(h))
		}
	}
	return wr, wb
}

func cfSHA(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func cfShort(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}

// cfBadPaths are requests the host refuses, each with the status both give.
var cfBadPaths = []struct {
	method, path string
	status       int
}{
	{"GET", "/nope.html", 404},
	{"GET", "/models/nope.enn", 404},
	{"GET", "/models/notes.txt", 404},
	{"GET", "/models/sub/x.enn", 404},
	{"GET", "/.env", 404},
	{"GET", "/a%2fb", 400},
	{"GET", "/a%5cb", 400},
	{"GET", "/a%00b", 400},
	{"GET", "/a//b", 400},
	{"POST", "/", 405},
	{"DELETE", "/models/digits.enn", 405},
	{"GET", "/other.wasm", 404},
}

// TestCFWorkerHandler lays out the serve fixture's folders as a Worker's
// assets and checks that the Worker's handler over them answers as the native
// host does, that it primes its cache from the manifest (an index request
// fetches no model), and that its fs.FS passes fstest.
func TestCFWorkerHandler(t *testing.T) {
	f := newServeFixture(t)
	roots, err := openServeRoots(f.www, f.wasm, f.models)
	if err != nil {
		t.Fatal(err)
	}
	defer roots.Close()
	s, err := newServer(serveConfig{WWW: roots.www.FS(), Wasm: roots.wasm.FS(), Models: roots.models.FS(), MaxModelBytes: serveLimit})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	m, err := cfLayAssets(s, dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	assets := &cfDirAssets{dir: dir}
	var logBuf lockedBuffer
	ts := httptest.NewServer(cfHandler(assets, log.New(&logBuf, "", 0)))
	defer ts.Close()

	paths := slices.Sorted(maps.Keys(f.files))
	paths = append(paths, "/models", "/sw.js", "/sub", "/index.html", "/link.txt", "/abs.txt", "/sub/up/secret.txt",
		"/models/out.enn", "/models/bad.enn", "/models/big.enn", "/models/.hidden.enn", "/models/shadowed.enn")
	for _, p := range paths {
		cfSame(t, f.url, ts.URL, "GET", p)
		cfSame(t, f.url, ts.URL, "HEAD", p)
	}
	for _, b := range cfBadPaths {
		if r, _ := cfSame(t, f.url, ts.URL, b.method, b.path); r.StatusCode != b.status {
			t.Errorf("%s %s: %d, want %d", b.method, b.path, r.StatusCode, b.status)
		}
	}
	digits := f.files["/models/digits.enn"]
	cfSame(t, f.url, ts.URL, "GET", "/models/digits.enn", "Range", "bytes=100-199")
	cfSame(t, f.url, ts.URL, "GET", "/models/digits.enn", "Range", "bytes=-10")
	cfSame(t, f.url, ts.URL, "GET", "/models/digits.enn", "If-None-Match", `"`+cfSHA(digits)+`"`)
	cfSame(t, f.url, ts.URL, "GET", "/edgenn.wasm", "If-None-Match", `"`+cfSHA(f.files["/edgenn.wasm"])+`"`)

	// Each request reads the manifest, then only the bytes it sends.
	for _, c := range []struct {
		path string
		want []string
	}{
		{"/models", []string{"manifest.json"}},
		{"/models/digits.enn", []string{"manifest.json", "models/digits.enn"}},
		{"/app.js", []string{"manifest.json", "www/app.js"}},
		{"/nope.html", []string{"manifest.json"}},
	} {
		assets.take()
		cfGet(t, "GET", ts.URL+c.path)
		if got := assets.take(); !slices.Equal(got, c.want) {
			t.Errorf("GET %s opened %q, want %q", c.path, got, c.want)
		}
	}

	var names []string
	for _, e := range m.WWW {
		if !e.Link {
			names = append(names, e.Name)
		}
	}
	if err := fstest.TestFS(newCFFS(assets, "www", slices.DeleteFunc(slices.Clone(m.WWW), func(e cfEntry) bool { return e.Link }), m.Built), names...); err != nil {
		t.Errorf("the Worker's www folder as an fs.FS: %v", err)
	}

	// Without a manifest the Worker says why, rather than serve nothing.
	empty := httptest.NewServer(cfHandler(&cfDirAssets{dir: t.TempDir()}, log.New(io.Discard, "", 0)))
	defer empty.Close()
	if r, body := cfGet(t, "GET", empty.URL+"/"); r.StatusCode != 503 || !strings.Contains(string(body), "manifest") {
		t.Errorf("GET / without a manifest: %d %q, want 503 naming the manifest", r.StatusCode, body)
	}
	if t.Failed() {
		t.Logf("Worker handler log:\n%s", logBuf.String())
	}
}

// cfWorker is wrangler dev running build/worker on loopback.
type cfWorker struct {
	url string
	mu  sync.Mutex
	log bytes.Buffer
}

func (w *cfWorker) logs() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.log.String()
}

var (
	cfRoot     = ".."
	cfProjDir  = filepath.Join(cfRoot, "cfworker")
	cfBuild    = filepath.Join(cfRoot, "build", "worker")
	cfWrangler = filepath.Join(cfProjDir, "node_modules", ".bin", "wrangler")
)

// cfEnv is the environment wrangler runs in: no network, no telemetry.
func cfEnv() []string {
	logs, _ := filepath.Abs(filepath.Join(cfBuild, "logs"))
	return append(os.Environ(),
		"CLOUDFLARE_CF_FETCH_ENABLED=false", "WRANGLER_SEND_METRICS=false",
		"WRANGLER_SEND_ERROR_REPORTS=false", "WRANGLER_HIDE_BANNER=true",
		"WRANGLER_LOG_PATH="+logs, "NO_COLOR=1", "FORCE_COLOR=0")
}

// cfNeedWorker skips unless EDGENN_WORKERS=1, and fails when the build or
// wrangler is missing.
func cfNeedWorker(t *testing.T) {
	t.Helper()
	if os.Getenv("EDGENN_WORKERS") != "1" {
		t.Skip("EDGENN_WORKERS=1 runs the Worker in workerd (make test-workers)")
	}
	for _, p := range []string{filepath.Join(cfBuild, "app.wasm"), filepath.Join(cfBuild, "assets", cfManifestName), cfWrangler} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s is missing: run `make worker` first", p)
		}
	}
}

// startCFWorker starts wrangler dev with a config of cfworker/ (its
// wrangler.toml when "") on a free loopback port and waits until ready (a
// GET of ready answers 200); it stops with the test.
func startCFWorker(t *testing.T, config, ready string) *cfWorker {
	t.Helper()
	state, _ := filepath.Abs(filepath.Join(cfBuild, "state"))
	var args []string
	if config != "" {
		args = append(args, "-c", config)
	}
	return startWrangler(t, state, ready, func(res *http.Response) bool { return res.StatusCode == 200 }, args...)
}

// startWrangler starts wrangler dev from cfworker/ on a free loopback port
// with its local state in state and the extra arguments, and waits until a
// GET of ready is up(res); it stops with the test (the process group:
// wrangler starts workerd).
func startWrangler(t *testing.T, state, ready string, up func(*http.Response) bool, extra ...string) *cfWorker {
	t.Helper()
	// Ports for the Worker and for wrangler's inspector (9229 unless told,
	// which two wranglers, or a node --inspect, would contend for).
	ports := cfFreePorts(t, 2)
	w := &cfWorker{url: fmt.Sprintf("http://127.0.0.1:%d", ports[0])}
	args := append([]string{"dev", "--local", "--ip", "127.0.0.1", "--port", strconv.Itoa(ports[0]),
		"--inspector-port", strconv.Itoa(ports[1]), "--persist-to", state, "--show-interactive-dev-session=false"}, extra...)
	cmd := exec.Command(filepath.Join("node_modules", ".bin", "wrangler"), args...)
	cmd.Dir = cfProjDir
	cmd.Env = cfEnv()
	out := lockedWriter{&w.mu, &w.log}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("wrangler dev log:\n%s", w.logs())
		}
	})
	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("wrangler dev exited: %v\n%s", err, w.logs())
		default:
		}
		res, err := http.Get(w.url + ready)
		if err == nil {
			res.Body.Close()
			if up(res) {
				return w
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Worker did not answer %s on %s within 90 s (last: %v)\n%s", ready, w.url, err, w.logs())
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// cfFreePorts returns n different free loopback ports.
func cfFreePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close() // held until all are picked, so that they differ
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// cfNative is the native host over the same folders the Worker serves (its
// laid-out assets), on loopback.
func cfNative(t *testing.T) string {
	t.Helper()
	a := filepath.Join(cfBuild, "assets")
	roots, err := openServeRoots(filepath.Join(a, "www"), filepath.Join(a, "wasm"), filepath.Join(a, "models"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(roots.Close)
	m := cfReadManifest(t)
	s, err := newServer(serveConfig{WWW: roots.www.FS(), Wasm: roots.wasm.FS(), Models: roots.models.FS(), MaxModelBytes: m.MaxModelBytes})
	if err != nil {
		t.Fatal(err)
	}
	s.warm()
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts.URL
}

func cfReadManifest(t *testing.T) *cfManifest {
	t.Helper()
	m, err := readCFManifest(&cfDirAssets{dir: filepath.Join(cfBuild, "assets")})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestCFWorker runs build/worker in workerd and checks it against the native
// host: the app, the wasm, the models index and the models byte for byte,
// conditional and range requests, the refusals, the app in headless Chromium,
// and the upload size.
func TestCFWorker(t *testing.T) {
	cfNeedWorker(t)
	w := startCFWorker(t, "", "/models")
	native := cfNative(t)
	m := cfReadManifest(t)

	t.Run("bytes", func(t *testing.T) {
		var paths []string
		for _, e := range m.WWW {
			paths = append(paths, "/"+e.Name)
		}
		for _, e := range m.Wasm {
			paths = append(paths, "/"+e.Name)
		}
		for _, e := range m.Models {
			paths = append(paths, "/models/"+e.Name)
		}
		paths = append(paths, "/", "/models", "/icons")
		for _, p := range paths {
			cfSame(t, native, w.url, "GET", p)
		}
		// The sources, not only what was laid out: the wasm build and digits.
		for _, c := range []struct{ path, file string }{
			{"/edgenn.wasm", filepath.Join(cfRoot, "build", "edgenn.wasm")},
			{"/models/digits.enn", filepath.Join(cfRoot, "www", "models", "digits.enn")},
		} {
			want, err := os.ReadFile(c.file)
			if err != nil {
				t.Fatal(err)
			}
			if _, got := cfGet(t, "GET", w.url+c.path); !bytes.Equal(got, want) {
				t.Errorf("GET %s: %d bytes (sha256 %s), want %s's %d (sha256 %s)", c.path, len(got), cfSHA(got), c.file, len(want), cfSHA(want))
			}
		}
		// The index names digits with the digest of the bytes served.
		_, body := cfGet(t, "GET", w.url+"/models")
		var index []modelInfo
		if err := json.Unmarshal(body, &index); err != nil {
			t.Fatalf("/models: %v", err)
		}
		_, digits := cfGet(t, "GET", w.url+"/models/digits.enn")
		i := slices.IndexFunc(index, func(m modelInfo) bool { return m.Name == "digits" })
		if i < 0 || index[i].SHA256 != cfSHA(digits) || index[i].Size != int64(len(digits)) {
			t.Errorf("/models does not describe the digits model served (%d bytes, sha256 %s): %s", len(digits), cfSHA(digits), cfShort(body))
		}
	})

	t.Run("requests", func(t *testing.T) {
		wasmTag := `"` + m.Wasm[slices.IndexFunc(m.Wasm, func(e cfEntry) bool { return e.Name == "edgenn.wasm" })].SHA256 + `"`
		cfSame(t, native, w.url, "GET", "/edgenn.wasm", "If-None-Match", wasmTag)
		cfSame(t, native, w.url, "GET", "/models/digits.enn", "Range", "bytes=1000-1999")
		cfSame(t, native, w.url, "GET", "/sw.js")
		for _, p := range []string{"/edgenn.wasm", "/models/digits.enn", "/models", "/nope.html"} {
			nr, _ := cfGet(t, "HEAD", native+p)
			wr, wb := cfGet(t, "HEAD", w.url+p)
			if wr.StatusCode != nr.StatusCode || len(wb) != 0 || wr.Header.Get("ETag") != nr.Header.Get("ETag") {
				t.Errorf("HEAD %s: %d, %d bytes, ETag %q; the native host %d, ETag %q",
					p, wr.StatusCode, len(wb), wr.Header.Get("ETag"), nr.StatusCode, nr.Header.Get("ETag"))
			}
		}
		// Gzip is the platform's: the Worker's bytes are the same asked either way.
		_, plain := cfGet(t, "GET", w.url+"/app.js")
		req, _ := http.NewRequest("GET", w.url+"/app.js", nil) // the client asks for gzip and decodes it
		if res, err := http.DefaultClient.Do(req); err != nil {
			t.Error(err)
		} else {
			got, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if !bytes.Equal(got, plain) {
				t.Errorf("GET /app.js with Accept-Encoding: gzip: %d bytes decoded, want %d", len(got), len(plain))
			}
		}
	})

	t.Run("refusals", func(t *testing.T) {
		for _, b := range cfBadPaths {
			if r, body := cfSame(t, native, w.url, b.method, b.path); r.StatusCode != b.status || len(body) == 0 {
				t.Errorf("%s %s: %d %q, want %d and a reason", b.method, b.path, r.StatusCode, body, b.status)
			}
		}
		// The runtime resolves dot segments (as a browser would) before the
		// handler sees them: refused still, but as a miss, not a bad path.
		for _, p := range []string{"/models/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/x/..%2f..%2fetc/passwd"} {
			if r, body := cfGet(t, "GET", w.url+p); r.StatusCode != 404 && r.StatusCode != 400 {
				t.Errorf("GET %s: %d %q, want 404 or 400", p, r.StatusCode, cfShort(body))
			}
		}
	})

	t.Run("browser", func(t *testing.T) {
		if os.Getenv("EDGENN_SKIP_BROWSER") == "1" {
			t.Skip("EDGENN_SKIP_BROWSER=1")
		}
		e := newE2E(t) // the browser; its own host is left idle
		e.url = w.url + "/"
		e.open("#digits")
		for _, want := range []string{"1", "7"} {
			if got := e.predict(e2eDigits[want]); got != want {
				t.Errorf("drew a %s on the app served by the Worker, the page reads %s", want, got)
			}
		}
		var models []string
		e.eval(`performance.getEntriesByType("resource").map(r => new URL(r.name).pathname).filter(p => /\.(wasm|enn)$/.test(p))`, &models)
		t.Logf("cfworker: the app fetched %v from the Worker", models)
		if !slices.Contains(models, "/models/digits.enn") {
			t.Errorf("the app did not fetch /models/digits.enn from the Worker: %v", models)
		}
	})

	t.Run("upload size", func(t *testing.T) {
		raw, gz := cfUploadSize(t)
		t.Logf("cfworker: wrangler deploy --dry-run: upload %.0f KiB, gzip %.0f KiB (%s the free plan's 3 MB)",
			raw, gz, map[bool]string{true: "within", false: "over"}[gz*1024 <= 3e6])
		if gz*1024 > 10e6 {
			t.Errorf("the Worker is %.0f KiB gzip, over Cloudflare's 10 MB limit", gz)
		}
	})
}

var cfUploadLine = regexp.MustCompile(`Total Upload: ([0-9.]+) KiB / gzip: ([0-9.]+) KiB`)

// cfUploadSize runs wrangler deploy --dry-run and returns the sizes it
// reports, in KiB.
func cfUploadSize(t *testing.T) (raw, gz float64) {
	t.Helper()
	out, _ := filepath.Abs(filepath.Join(cfBuild, "dist"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join("node_modules", ".bin", "wrangler"), "deploy", "--dry-run", "--outdir", out)
	cmd.Dir = cfProjDir
	cmd.Env = cfEnv()
	text, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("wrangler deploy --dry-run: %v\n%s", err, text)
	}
	sm := cfUploadLine.FindSubmatch(text)
	if sm == nil {
		t.Fatalf("wrangler deploy --dry-run printed no upload size:\n%s", text)
	}
	raw, _ = strconv.ParseFloat(string(sm[1]), 64)
	gz, _ = strconv.ParseFloat(string(sm[2]), 64)
	return raw, gz
}

// TestCFWorkerBench (make workers-bench; EDGENN_WORKERS_BENCH=1) measures
// model fetches from the Worker in workerd beside the native host, both on
// loopback: requests per second and latency percentiles, a fixed number of
// requests per case from a few concurrent clients.
func TestCFWorkerBench(t *testing.T) {
	if os.Getenv("EDGENN_WORKERS_BENCH") != "1" {
		t.Skip("EDGENN_WORKERS_BENCH=1 runs the benchmark (make workers-bench)")
	}
	cfNeedWorker(t)
	w := startCFWorker(t, "", "/models")
	only := startCFWorker(t, filepath.Join("bench", "wrangler.toml"), "/models/digits.enn")
	native := cfNative(t)
	requests, limit := 200, 10*time.Second
	if n, err := strconv.Atoi(os.Getenv("EDGENN_WORKERS_BENCH_REQUESTS")); err == nil && n > 0 {
		requests = n
	}
	load, _ := os.ReadFile("/proc/loadavg")
	t.Logf("cfworker-bench: %s, %s/%s, %d CPUs, load %s; per case %d requests or %v, whichever ends first",
		time.Now().UTC().Format(time.RFC3339), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), strings.Fields(string(load) + " ?")[0], requests, limit)
	for _, path := range []string{"/models/digits.enn", "/models/mobilenet_v1_025_128.enn", "/models"} {
		for _, conc := range []int{1, 4} {
			hosts := []struct{ name, url string }{{"native", native}, {"worker", w.url}, {"assets-only", only.url}}
			if path == "/models" {
				hosts = hosts[:2] // the index is the handler's, not an asset
			}
			for _, host := range hosts {
				r := cfBench(t, host.url+path, conc, requests, limit)
				t.Logf("cfworker-bench: %-11s %-34s c=%d %4d req %7.1f req/s  p50 %7.1f ms  p95 %7.1f ms  %7.1f MB/s",
					host.name, path, conc, r.n, r.rps, r.p50, r.p95, r.mbps)
			}
		}
	}
}

type cfBenchResult struct {
	n                   int
	rps, p50, p95, mbps float64
}

// cfBench makes n GET requests of url from conc clients, or as many as
// start within limit, after a few to warm up, and checks every answer is a
// 200 of the same length.
func cfBench(t *testing.T, url string, conc, n int, limit time.Duration) cfBenchResult {
	t.Helper()
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: conc, DisableCompression: true}}
	defer client.CloseIdleConnections()
	fetch := func() (int64, time.Duration, error) {
		start := time.Now()
		res, err := client.Get(url)
		if err != nil {
			return 0, 0, err
		}
		defer res.Body.Close()
		size, err := io.Copy(io.Discard, res.Body)
		if err == nil && res.StatusCode != 200 {
			err = fmt.Errorf("status %s", res.Status)
		}
		return size, time.Since(start), err
	}
	want, _, err := fetch()
	for range 3 {
		if err == nil {
			_, _, err = fetch()
		}
	}
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	lat := make([]time.Duration, n)
	errs := make(chan error, conc)
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	start := time.Now()
	var mu sync.Mutex
	done := 0
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				if time.Since(start) > limit {
					return
				}
				size, d, err := fetch()
				if err == nil && size != want {
					err = fmt.Errorf("%d bytes, then %d", want, size)
				}
				if err != nil {
					errs <- fmt.Errorf("GET %s: %w", url, err)
					return
				}
				mu.Lock()
				lat[done] = d
				done++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	lat = lat[:done]
	slices.Sort(lat)
	ms := func(q float64) float64 { return float64(lat[int(q*float64(done-1))]) / 1e6 }
	return cfBenchResult{
		n:    done,
		rps:  float64(done) / elapsed.Seconds(),
		p50:  ms(0.50),
		p95:  ms(0.95),
		mbps: float64(want) * float64(done) / elapsed.Seconds() / 1e6,
	}
}
