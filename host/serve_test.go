//go:build !js

package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgenn/edgenn/model"
)

// serveFixture is a www, a wasm and a models folder with real models, bad
// models, dotfiles and symlinks out, served by newServer on loopback.
type serveFixture struct {
	dir, www, wasm, models string
	files                  map[string][]byte // URL path -> the bytes behind it
	log                    *lockedBuffer
	url                    string
	last                   string // the log line of the last request made by do
}

// serveLimit lets lenet5 and digits (about 250 KB) through and refuses
// mobilenet_v1_025_128 (about 1.9 MB).
const serveLimit = 1 << 20

func newServeFixture(t *testing.T) *serveFixture {
	t.Helper()
	dir := t.TempDir()
	f := &serveFixture{
		dir: dir, www: filepath.Join(dir, "www"), wasm: filepath.Join(dir, "build"), models: filepath.Join(dir, "models"),
		files: map[string][]byte{}, log: &lockedBuffer{},
	}
	// Text long enough that gzip pays.
	text := func(head string) []byte {
		var b bytes.Buffer
		b.WriteString(head)
		for i := range 200 {
			fmt.Fprintf(&b, "/* line %d of the file: edgenn runs compact networks in the browser */\n", i)
		}
		return b.Bytes()
	}
	wasm := func(seed byte) []byte {
		b := []byte("\x00asm\x01\x00\x00\x00")
		for i := range 100_000 {
			b = append(b, byte(i%251)^seed, byte(i/1000))
		}
		return b
	}
	lenet := encodeZoo(t, "lenet5")
	digits, err := os.ReadFile(filepath.Join("..", "www", "models", "digits.enn"))
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range []struct {
		path string // under dir
		url  string // "" when not served
		data []byte
	}{
		{"www/index.html", "/", text("<!doctype html><title>edgenn</title>\n")},
		{"www/app.js", "/app.js", text("export const x = 1;\n")},
		{"www/lib/mod.mjs", "/lib/mod.mjs", text("export default 2;\n")},
		{"www/edgenn.d.ts", "/edgenn.d.ts", text("export declare const x: number;\n")},
		{"www/style.css", "/style.css", text("body { margin: 0 }\n")},
		{"www/manifest.webmanifest", "/manifest.webmanifest", []byte(`{"name":"edgenn","start_url":"/"}`)},
		{"www/icon.svg", "/icon.svg", text("<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n")},
		{"www/icon.png", "/icon.png", []byte("\x89PNG\r\n\x1a\n not really")},
		{"www/sub/index.html", "/sub/", text("<!doctype html><title>sub</title>\n")},
		{"www/.env", "", []byte("TOP SECRET env")},
		{"www/sub/.git/config", "", []byte("TOP SECRET git")},
		{"www/models/shadowed.enn", "", lenet}, // /models/ is the models folder, not www/models
		{"build/edgenn.wasm", "/edgenn.wasm", wasm(1)},
		{"build/edgenn-scalar.wasm", "/edgenn-scalar.wasm", wasm(2)},
		{"build/wasm_exec.js", "/wasm_exec.js", text("\"use strict\";\n")},
		{"build/other.wasm", "", wasm(3)},
		{"models/lenet5.enn", "/models/lenet5.enn", lenet},
		{"models/digits.enn", "/models/digits.enn", digits},
		{"models/bad.enn", "", lenet[:len(lenet)/2]},
		{"models/big.enn", "", encodeZoo(t, "mobilenet_v1_025_128")},
		{"models/.hidden.enn", "", lenet},
		{"models/notes.txt", "", []byte("notes")},
		{"secret.txt", "", []byte("TOP SECRET outside")},
		{"secret.enn", "", lenet},
	} {
		p := filepath.Join(dir, file.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, file.data, 0o644); err != nil {
			t.Fatal(err)
		}
		if file.url != "" {
			f.files[file.url] = file.data
		}
	}
	for link, target := range map[string]string{
		"www/link.txt":     "../secret.txt",                  // out of the folder
		"www/abs.txt":      filepath.Join(dir, "secret.txt"), // out, absolute
		"www/sub/up":       "../..",                          // a folder out
		"models/out.enn":   "../secret.enn",                  // a valid model, out
		"www/same.js":      "app.js",                         // inside: served
		"models/alias.enn": "lenet5.enn",                     // inside: served and listed
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	f.files["/same.js"] = f.files["/app.js"]
	f.files["/models/alias.enn"] = lenet

	roots, err := openServeRoots(f.www, f.wasm, f.models)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(roots.Close)
	s, err := newServer(serveConfig{
		WWW: roots.www.FS(), Wasm: roots.wasm.FS(), Models: roots.models.FS(),
		MaxModelBytes: serveLimit,
		Log:           log.New(f.log, "", 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	f.url = ts.URL
	return f
}

func (f *serveFixture) size(t *testing.T, name string) int64 {
	t.Helper()
	st, err := os.Stat(filepath.Join(f.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

func encodeZoo(t *testing.T, name string) []byte {
	t.Helper()
	g, err := model.Zoo(name)
	if err != nil {
		t.Fatal(err)
	}
	data, err := model.Encode(g)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// lockedBuffer is the server's log, written by its goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// lines are the log's complete lines.
func (b *lockedBuffer) lines() []string {
	s := b.String()
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return strings.Split(s[:i], "\n")
	}
	return nil
}

var requestLineRE = regexp.MustCompile(`^[A-Z]+ \S+ \d{3} \d+B \S+ \S+`)

// requestLine waits for the log line of the one request made since the log
// had since lines (the handler writes it after the response), and fails the
// test if there are more.
func (f *serveFixture) requestLine(t *testing.T, since int) string {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		var found []string
		for _, l := range f.log.lines()[since:] {
			if requestLineRE.MatchString(l) {
				found = append(found, l)
			}
		}
		switch {
		case len(found) > 1:
			t.Fatalf("%d log lines for one request: %q", len(found), found)
		case len(found) == 1:
			return found[0]
		case time.Now().After(deadline):
			t.Fatalf("no log line for the request; the log:\n%s", f.log.String())
		}
	}
}

// client neither decompresses nor follows redirects: the tests see the wire.
var serveClient = &http.Client{
	Transport:     &http.Transport{DisableCompression: true},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func (f *serveFixture) do(t *testing.T, method, path string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, f.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	since := len(f.log.lines())
	resp, err := serveClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	f.last = f.requestLine(t, since)
	return resp, body
}

func etagOf(data []byte) string {
	sum := sha256.Sum256(data)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

func TestServeFiles(t *testing.T) {
	f := newServeFixture(t)
	for _, c := range []struct{ path, ctype string }{
		{"/", "text/html; charset=utf-8"},
		{"/sub/", "text/html; charset=utf-8"},
		{"/app.js", "text/javascript; charset=utf-8"},
		{"/same.js", "text/javascript; charset=utf-8"},
		{"/lib/mod.mjs", "text/javascript; charset=utf-8"},
		{"/edgenn.d.ts", "text/plain; charset=utf-8"},
		{"/style.css", "text/css; charset=utf-8"},
		{"/manifest.webmanifest", "application/manifest+json"},
		{"/icon.svg", "image/svg+xml"},
		{"/icon.png", "image/png"},
		{"/edgenn.wasm", "application/wasm"},
		{"/edgenn-scalar.wasm", "application/wasm"},
		{"/wasm_exec.js", "text/javascript; charset=utf-8"},
		{"/models/lenet5.enn", "application/octet-stream"},
		{"/models/digits.enn", "application/octet-stream"},
		{"/models/alias.enn", "application/octet-stream"},
	} {
		resp, body := f.do(t, "GET", c.path)
		want := f.files[c.path]
		if resp.StatusCode != 200 || !bytes.Equal(body, want) {
			t.Errorf("GET %s: %d, %d bytes; want 200, the file's %d bytes", c.path, resp.StatusCode, len(body), len(want))
		}
		for k, v := range map[string]string{
			"Content-Type": c.ctype, "ETag": etagOf(want), "Cache-Control": "no-cache",
			"X-Content-Type-Options": "nosniff", "Content-Length": fmt.Sprint(len(want)), "Content-Encoding": "",
		} {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("GET %s: %s %q, want %q", c.path, k, got, v)
			}
		}
		if !strings.Contains(f.last, fmt.Sprintf("GET %s 200 %dB ", c.path, len(want))) {
			t.Errorf("GET %s: log line %q", c.path, f.last)
		}

		resp, body = f.do(t, "HEAD", c.path)
		if resp.StatusCode != 200 || len(body) != 0 || resp.ContentLength != int64(len(want)) || resp.Header.Get("ETag") != etagOf(want) {
			t.Errorf("HEAD %s: %d, %d body bytes, length %d, ETag %s", c.path, resp.StatusCode, len(body), resp.ContentLength, resp.Header.Get("ETag"))
		}
	}

	// A folder without its slash is redirected to it.
	resp, _ := f.do(t, "GET", "/sub")
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/sub/" {
		t.Errorf("GET /sub: %d to %q, want 301 to /sub/", resp.StatusCode, resp.Header.Get("Location"))
	}
	// A range of a model, served from the file.
	resp, body := f.do(t, "GET", "/models/digits.enn", "Range", "bytes=100-199")
	if want := f.files["/models/digits.enn"][100:200]; resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, want) {
		t.Errorf("GET /models/digits.enn bytes=100-199: %d, %d bytes", resp.StatusCode, len(body))
	}
}

func TestServeETag(t *testing.T) {
	f := newServeFixture(t)
	for _, path := range []string{"/edgenn.wasm", "/app.js", "/models/digits.enn", "/models"} {
		resp, body := f.do(t, "GET", path)
		etag := resp.Header.Get("ETag")
		if path != "/models" && etag != etagOf(f.files[path]) {
			t.Fatalf("GET %s: ETag %s, want the content hash %s", path, etag, etagOf(f.files[path]))
		}
		if path == "/models" && etag != etagOf(body) {
			t.Fatalf("GET /models: ETag %s, want the index's hash %s", etag, etagOf(body))
		}
		for _, c := range []struct {
			inm  string
			want int
		}{
			{etag, http.StatusNotModified},
			{`"other", ` + etag, http.StatusNotModified},
			{"*", http.StatusNotModified},
			{`"other"`, http.StatusOK},
			{strings.TrimSuffix(etag, `"`) + `-gzip"`, http.StatusOK}, // the gzip version's tag
		} {
			resp, body := f.do(t, "GET", path, "If-None-Match", c.inm)
			if resp.StatusCode != c.want || (c.want == http.StatusNotModified && len(body) != 0) {
				t.Errorf("GET %s If-None-Match %s: %d with %d bytes, want %d", path, c.inm, resp.StatusCode, len(body), c.want)
			}
		}
	}

	// A changed file gets a new tag, and the old one no longer matches.
	p := filepath.Join(f.www, "app.js")
	old := etagOf(f.files["/app.js"])
	changed := []byte("export const x = 2;\n")
	if err := os.WriteFile(p, changed, 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(p, later, later); err != nil {
		t.Fatal(err)
	}
	resp, body := f.do(t, "GET", "/app.js", "If-None-Match", old)
	if resp.StatusCode != 200 || !bytes.Equal(body, changed) || resp.Header.Get("ETag") != etagOf(changed) {
		t.Errorf("GET /app.js after a change: %d %q ETag %s, want 200 %q %s", resp.StatusCode, body, resp.Header.Get("ETag"), changed, etagOf(changed))
	}
}

func TestServeGzip(t *testing.T) {
	f := newServeFixture(t)
	for _, path := range []string{"/", "/app.js", "/edgenn.wasm", "/edgenn-scalar.wasm", "/wasm_exec.js", "/icon.svg", "/models"} {
		_, plain := f.do(t, "GET", path)
		resp, body := f.do(t, "GET", path, "Accept-Encoding", "gzip, deflate, br, zstd")
		if resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Vary") != "Accept-Encoding" {
			t.Errorf("GET %s gzip: Content-Encoding %q, Vary %q", path, resp.Header.Get("Content-Encoding"), resp.Header.Get("Vary"))
			continue
		}
		if resp.ContentLength != int64(len(body)) || len(body) >= len(plain) {
			t.Errorf("GET %s gzip: Content-Length %d, %d bytes for %d plain", path, resp.ContentLength, len(body), len(plain))
		}
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("GET %s gzip: %v", path, err)
		}
		got, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("GET %s gzip: decodes to %d bytes (%v), want the %d plain bytes", path, len(got), err, len(plain))
		}
		if want := strings.TrimSuffix(etagOf(plain), `"`) + `-gzip"`; resp.Header.Get("ETag") != want {
			t.Errorf("GET %s gzip: ETag %s, want %s", path, resp.Header.Get("ETag"), want)
		}
		if !strings.HasSuffix(f.last, " gzip") {
			t.Errorf("GET %s gzip: log line %q does not name the encoding", path, f.last)
		}
		resp, _ = f.do(t, "GET", path, "Accept-Encoding", "gzip", "If-None-Match", resp.Header.Get("ETag"))
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s gzip with its own ETag: %d, want 304", path, resp.StatusCode)
		}
	}

	// Identity where the client declines gzip, or where gzip does not pay.
	for _, c := range []struct{ path, accept string }{
		{"/edgenn.wasm", "br"},
		{"/edgenn.wasm", "gzip;q=0, br"},
		{"/edgenn.wasm", "identity"},
		{"/models/digits.enn", "gzip"},
		{"/icon.png", "gzip"},
		{"/manifest.webmanifest", "gzip"}, // 34 bytes: gzip would grow it
	} {
		resp, body := f.do(t, "GET", c.path, "Accept-Encoding", c.accept)
		if resp.Header.Get("Content-Encoding") != "" || !bytes.Equal(body, f.files[c.path]) {
			t.Errorf("GET %s Accept-Encoding %q: Content-Encoding %q, %d bytes, want identity", c.path, c.accept, resp.Header.Get("Content-Encoding"), len(body))
		}
	}
}

func TestAcceptsGzip(t *testing.T) {
	for _, c := range []struct {
		accept string
		want   bool
	}{
		{"", false}, {"gzip", true}, {"GZIP", true}, {"x-gzip", true}, {"gzip;q=0", false}, {"gzip; q=0.0", false},
		{"br", false}, {"*", true}, {"*;q=0", false}, {"br, gzip;q=0.5", true}, {"gzip;q=0, *", false},
		{"identity", false}, {"deflate, gzip;q=1.0, *;q=0.5", true}, {"gzip;q=bad", false},
	} {
		if got := acceptsGzip(c.accept); got != c.want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", c.accept, got, c.want)
		}
	}
}

func TestServeModelIndex(t *testing.T) {
	f := newServeFixture(t)
	for _, path := range []string{"/models", "/models/"} {
		resp, body := f.do(t, "GET", path)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		var index []map[string]any
		if err := json.Unmarshal(body, &index); err != nil {
			t.Fatalf("GET %s: %v\n%s", path, err, body)
		}
		var names []string
		for _, m := range index {
			names = append(names, m["name"].(string))
		}
		// Left out: bad.enn (corrupt), big.enn (over the limit), out.enn (a
		// symlink out), .hidden.enn, notes.txt.
		if want := []string{"alias", "digits", "lenet5"}; !reflect.DeepEqual(names, want) {
			t.Fatalf("GET %s lists %v, want %v", path, names, want)
		}
		digits, lenet := index[1], index[2]
		value := func(name string, shape ...int) []any {
			s := make([]any, len(shape))
			for i, d := range shape {
				s[i] = float64(d)
			}
			return []any{map[string]any{"name": name, "shape": s, "dtype": "float32"}}
		}
		for _, c := range []struct {
			m    map[string]any
			file string
		}{{digits, "digits.enn"}, {lenet, "lenet5.enn"}} {
			data := f.files["/models/"+c.file]
			want := map[string]any{
				"file": c.file, "graph": "lenet5", "sha256": strings.Trim(etagOf(data), `"`), "size": float64(len(data)),
				"inputs": value("input", -1, 28, 28, 1), "outputs": value("output", -1, 10),
			}
			for k, v := range want {
				if !reflect.DeepEqual(c.m[k], v) {
					t.Errorf("%s: %s = %v, want %v", c.file, k, c.m[k], v)
				}
			}
		}
		if want := []any{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}; !reflect.DeepEqual(digits["labels"], want) {
			t.Errorf("digits labels %v, want %v", digits["labels"], want)
		}
		if _, ok := lenet["labels"]; ok {
			t.Errorf("lenet5 (no labels in its metadata) has labels %v", lenet["labels"])
		}
		if src, _ := lenet["metadata"].(map[string]any)["source"].(string); !strings.HasPrefix(src, "edgenn model zoo") {
			t.Errorf("lenet5 metadata source %q", src)
		}
	}
	logged := f.log.String()
	for _, want := range []string{
		"refusing models/bad.enn: enn: ",
		fmt.Sprintf("refusing models/big.enn: %d bytes, larger than this host's limit of 1048576 bytes", f.size(t, "models/big.enn")),
		"models index: leaving out out.enn: openat out.enn: path escapes from parent",
	} {
		if !strings.Contains(logged, want) {
			t.Errorf("log lacks %q:\n%s", want, logged)
		}
	}
	for _, once := range []string{"refusing models/bad.enn", "leaving out out.enn"} {
		if n := strings.Count(logged, once); n != 1 {
			t.Errorf("%q %d times in the log, want once", once, n)
		}
	}

	// The index follows the folder: a model added, then removed.
	_, before := f.do(t, "GET", "/models")
	added := filepath.Join(f.models, "copy.enn")
	if err := os.WriteFile(added, f.files["/models/lenet5.enn"], 0o644); err != nil {
		t.Fatal(err)
	}
	resp, body := f.do(t, "GET", "/models", "If-None-Match", etagOf(before))
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"name":"copy","file":"copy.enn"`) {
		t.Errorf("after adding copy.enn: %d\n%s", resp.StatusCode, body)
	}
	if err := os.Remove(added); err != nil {
		t.Fatal(err)
	}
	if _, body := f.do(t, "GET", "/models"); !bytes.Equal(body, before) {
		t.Errorf("after removing copy.enn the index is\n%s\nwant\n%s", body, before)
	}
}

func TestServeRefusedModels(t *testing.T) {
	f := newServeFixture(t)
	for _, c := range []struct{ path, body string }{
		{"/models/bad.enn", "models/bad.enn: enn: "},
		{"/models/big.enn", fmt.Sprintf("models/big.enn: %d bytes, larger than this host's limit of %d bytes", f.size(t, "models/big.enn"), serveLimit)},
	} {
		resp, body := f.do(t, "GET", c.path)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.HasPrefix(string(body), c.body) {
			t.Errorf("GET %s: %d %q, want 422 %q...", c.path, resp.StatusCode, body, c.body)
		}
		if line := f.last; !strings.Contains(line, "GET "+c.path+" 422 ") || !strings.Contains(line, c.body) {
			t.Errorf("GET %s: log line %q", c.path, line)
		}
	}
}

// rawRequest sends target exactly as written, which Go's client would not.
func rawRequest(t *testing.T, url, requestLine string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "%s\r\nHost: x\r\nConnection: close\r\n\r\n", requestLine)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s: %v", requestLine, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestServeHostilePaths(t *testing.T) {
	f := newServeFixture(t)
	for _, c := range []struct {
		target string
		status int
		why    string // in the log line
	}{
		{"/../secret.txt", 400, ". or .. segment"},
		{"/%2e%2e/secret.txt", 400, ". or .. segment"},
		{"/sub/%2E%2E/%2e%2e/secret.txt", 400, ". or .. segment"},
		{"/models/../secret.txt", 400, ". or .. segment"},
		{"/models/%2e%2e/secret.enn", 400, ". or .. segment"},
		{"http://x/../secret.txt", 400, ". or .. segment"},
		{"/./app.js", 400, ". or .. segment"},
		{"/sub//index.html", 400, ". or .. segment"},
		{"//etc/passwd", 400, ". or .. segment"},
		{"/%2e%2e%2fsecret.txt", 400, "encoded slash"},
		{"/sub/..%2F..%2Fsecret.txt", 400, "encoded slash"},
		{"/sub%2findex.html", 400, "encoded slash"},
		{"/..%5csecret.txt", 400, "encoded slash"},
		{`/..\secret.txt`, 400, "backslash or control character"},
		{"/app.js%00.html", 400, "backslash or control character"},
		{"/a%0aGET%20/forged%20200", 400, "backslash or control character"},
		{"/.env", 404, "dotfiles"},
		{"/sub/.git/config", 404, "dotfiles"},
		{"/%2eenv", 404, "dotfiles"},
		{"/models/.hidden.enn", 404, "dotfiles"},
		{"/link.txt", 404, "path escapes from parent"},
		{"/abs.txt", 404, "path escapes from parent"},
		{"/sub/up/secret.txt", 404, "path escapes from parent"},
		{"/models/out.enn", 404, "path escapes from parent"},
		{"/models/notes.txt", 404, "only .enn files"},
		{"/models/sub/x.enn", 404, "only .enn files"},
		{"/models/shadowed.enn", 404, "not found"},
		{"/other.wasm", 404, "not found"},
		{"/etc/passwd", 404, "not found"},
	} {
		since := len(f.log.lines())
		status, body := rawRequest(t, f.url, "GET "+c.target+" HTTP/1.1")
		if status != c.status || strings.Contains(body, "TOP SECRET") || strings.Contains(body, "\x00asm") {
			t.Errorf("GET %s: %d %q, want %d", c.target, status, body, c.status)
		}
		if line := f.requestLine(t, since); !strings.Contains(line, fmt.Sprintf(" %d ", c.status)) || !strings.Contains(line, c.why) {
			t.Errorf("GET %s: log line %q, want %d and %q", c.target, line, c.status, c.why)
		}
	}
}

func TestServeMethods(t *testing.T) {
	f := newServeFixture(t)
	for _, method := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"} {
		resp, _ := f.do(t, method, "/app.js")
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s /app.js: %d, Allow %q; want 405, GET, HEAD", method, resp.StatusCode, resp.Header.Get("Allow"))
		}
		if line := f.last; !strings.HasPrefix(line, method+" /app.js 405 ") {
			t.Errorf("%s: log line %q", method, line)
		}
	}
	req, _ := http.NewRequest("GET", f.url+"/app.js", strings.NewReader("a body"))
	resp, err := serveClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("GET with a body: %d, want 413", resp.StatusCode)
	}
}

func TestServeFlags(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--www", filepath.Join(dir, "none")}, "--www " + filepath.Join(dir, "none") + ": "},
		{[]string{"--www", dir, "--wasm", filepath.Join(dir, "none")}, "make wasm"},
		{[]string{"--max-model-mb", "0"}, "--max-model-mb 0"},
		{[]string{"extra"}, "positional"},
	} {
		_, err := run(t, append([]string{"serve"}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("serve %v: %v, want an error with %q", c.args, err, c.want)
		}
	}
}

// TestServeProcess is the host process of TestServeCommand, which runs this
// test binary with the command's arguments in EDGENN_SERVE_ARGS.
func TestServeProcess(t *testing.T) {
	args := os.Getenv("EDGENN_SERVE_ARGS")
	if args == "" {
		t.Skip("the process TestServeCommand starts")
	}
	if err := dispatch(strings.Split(args, "\n"), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "edgenn:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// TestServeCommand starts the real command on a free port, uses it, and stops
// it with each signal, expecting a clean exit.
func TestServeCommand(t *testing.T) {
	f := newServeFixture(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestServeProcess$")
			cmd.Env = append(os.Environ(), "EDGENN_SERVE_ARGS="+strings.Join([]string{"serve",
				"--addr", "127.0.0.1:0", "--www", f.www, "--wasm", f.wasm, "--models", f.models, "--max-model-mb", "1"}, "\n"))
			var stderr lockedBuffer
			cmd.Stderr = &stderr
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			lines := make(chan string, 16)
			go func() {
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
			var url string
			select {
			case line := <-lines:
				const prefix = "edgenn: serving http://127.0.0.1:"
				if !strings.HasPrefix(line, prefix) || strings.HasPrefix(line, prefix+"0/") {
					t.Fatalf("first line %q, want %s<port>/", line, prefix)
				}
				url, _, _ = strings.Cut(strings.TrimPrefix(line, "edgenn: serving "), " ")
			case <-time.After(30 * time.Second):
				t.Fatalf("no address printed; stderr:\n%s", stderr.String())
			}

			resp, err := serveClient.Get(url + "models")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(body), `"name":"lenet5"`) {
				t.Errorf("GET /models: %d\n%s", resp.StatusCode, body)
			}
			// Oversized headers are refused by the server's limit.
			status, _ := rawRequest(t, url, "GET / HTTP/1.1\r\nX-Big: "+strings.Repeat("a", 2*serveMaxHeaderBytes))
			if status != http.StatusRequestHeaderFieldsTooLarge {
				t.Errorf("a %d-byte header: %d, want 431", 2*serveMaxHeaderBytes, status)
			}

			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			var rest []string
			deadline := time.After(30 * time.Second)
		read:
			for {
				select {
				case line, ok := <-lines:
					if !ok {
						break read
					}
					rest = append(rest, line)
				case <-deadline:
					t.Fatalf("still running 30 s after %v; stdout %q", sig, rest)
				}
			}
			if err := cmd.Wait(); err != nil {
				t.Errorf("exit after %v: %v; stderr:\n%s", sig, err, stderr.String())
			}
			if want := []string{"edgenn: shutting down", "edgenn: stopped"}; !reflect.DeepEqual(rest, want) {
				t.Errorf("after %v the command printed %q, want %q", sig, rest, want)
			}
			if !strings.Contains(stderr.String(), "GET /models 200 ") {
				t.Errorf("stderr lacks the request's log line:\n%s", stderr.String())
			}
		})
	}
}

// TestServeServiceWorkerVersion: sw.js's version placeholder becomes a digest
// of the files the app caches, which changes with any of them (and not with
// a dotfile the host never serves).
func TestServeServiceWorkerVersion(t *testing.T) {
	f := newServeFixture(t)
	sw := []byte("const VERSION = \"" + versionToken + "\";\nconst CACHE = `app-v${VERSION}`;\n")
	write := func(rel string, data []byte, age time.Duration) {
		t.Helper()
		p := filepath.Join(f.dir, rel)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		mod := time.Now().Add(-age) // a new modification time, so the host sees the change
		if err := os.Chtimes(p, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	write("www/sw.js", sw, 0)
	versionRE := regexp.MustCompile(`^const VERSION = "([0-9a-f]{16})";`)
	version := func() string {
		t.Helper()
		resp, body := f.do(t, "GET", "/sw.js")
		m := versionRE.FindSubmatch(body)
		if resp.StatusCode != 200 || m == nil || resp.Header.Get("ETag") != etagOf(body) ||
			resp.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
			t.Fatalf("GET /sw.js: %d, ETag %s, %q", resp.StatusCode, resp.Header.Get("ETag"), body)
		}
		return string(m[1])
	}
	v1 := version()
	if v := version(); v != v1 {
		t.Fatalf("version changed between two requests: %s, %s", v1, v)
	}
	seen := map[string]string{v1: "start"}
	for _, c := range []struct {
		what, rel string
		changes   bool
	}{
		{"an app file", "www/app.js", true},
		{"a wasm build", "build/edgenn.wasm", true},
		{"a model", "models/lenet5.enn", true},
		{"a dotfile", "www/.env", false},
		{"a file beside the wasm builds that is not served", "build/other.wasm", false},
	} {
		before := version()
		write(c.rel, []byte("changed: "+c.what), time.Hour)
		after := version()
		if (after != before) != c.changes {
			t.Errorf("%s changed: version %s -> %s, want a change: %v", c.what, before, after, c.changes)
		}
		if c.changes {
			if prev, ok := seen[after]; ok {
				t.Errorf("%s changed: version %s repeats the one after %s", c.what, after, prev)
			}
			seen[after] = c.what
		}
	}
}
