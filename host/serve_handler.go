//go:build !js || cfworker

package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// serveConfig is what the host's handler serves. The folders are fs.FS values
// so that the same handler can run over os.Root folders natively and over
// other stores (a Worker's static assets) elsewhere.
type serveConfig struct {
	WWW    fs.FS // served at /
	Wasm   fs.FS // wasmFiles, served at /NAME
	Models fs.FS // *.enn at /models/NAME.enn, the index at /models
	// MaxModelBytes is the largest model served or listed.
	MaxModelBytes int64
	// Log gets one line per request, and one per refused model; nil discards.
	Log *log.Logger
}

// wasmFiles are the only names served from the wasm folder.
var wasmFiles = map[string]bool{"edgenn.wasm": true, "edgenn-scalar.wasm": true, "wasm_exec.js": true}

// maxCompressBytes is the largest file kept in memory and served compressed.
const maxCompressBytes = 32 << 20

// server is the host's http.Handler. It caches, per file version (size and
// modification time), the content hash behind the ETag, a compressed copy
// of compressible files and, for models, the validated description.
type server struct {
	cfg               serveConfig
	www, wasm, models tree
	mu                sync.Mutex
	blobs             map[blobKey]*blob
	index             *blob             // the last /models index served
	unopenable        map[string]string // models the index left out, with why, to log each once
}

// tree is one served folder; name keys the cache and prefixes log lines.
type tree struct {
	name string
	fsys fs.FS
}

type blobKey struct{ tree, name string }

// blob is one version of a served file.
type blob struct {
	size  int64
	mod   time.Time
	ctype string
	sha   string // hex SHA-256 of the bytes: the ETag, and a model's content address
	data  []byte // the bytes, kept for compressible files only
	gz    lazyGzip
	// A model's index entry, or why it is refused.
	model   *modelInfo
	refused error
}

type lazyGzip struct {
	once sync.Once
	data []byte // nil when compressing does not pay
}

// gzipped returns the gzip encoding of b's bytes, made on first use, or nil.
// The default level: BestCompression saves 0.2% on the wasm for 3x the time.
func (b *blob) gzipped() []byte {
	b.gz.once.Do(func() {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(b.data)
		zw.Close()
		if buf.Len() < len(b.data) {
			b.gz.data = buf.Bytes()
		}
	})
	return b.gz.data
}

// newServer returns the host's handler over cfg's folders.
func newServer(cfg serveConfig) (*server, error) {
	if cfg.WWW == nil || cfg.Wasm == nil || cfg.Models == nil {
		return nil, errors.New("serve: the www, wasm and models folders are all required")
	}
	if cfg.MaxModelBytes <= 0 {
		return nil, fmt.Errorf("serve: model size limit %d: want a positive size", cfg.MaxModelBytes)
	}
	if cfg.Log == nil {
		cfg.Log = log.New(io.Discard, "", 0)
	}
	return &server{
		cfg:        cfg,
		www:        tree{"www", cfg.WWW},
		wasm:       tree{"wasm", cfg.Wasm},
		models:     tree{"models", cfg.Models},
		blobs:      map[blobKey]*blob{},
		unopenable: map[string]string{},
	}, nil
}

// warm hashes and compresses the wasm files and validates the models, so that
// the first page load does not wait for it and refused models are logged at
// start.
func (s *server) warm() {
	for name := range wasmFiles {
		if f, b, err := s.open(s.wasm, name); err == nil {
			f.Close()
			if b.data != nil {
				b.gzipped()
			}
		}
	}
	s.modelIndex()
}

// ServeHTTP answers GET and HEAD for the three folders and the models index,
// and logs one line per request.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	lw := &logWriter{ResponseWriter: w}
	s.route(lw, r)
	if lw.status == 0 {
		lw.status = http.StatusOK
	}
	enc := lw.Header().Get("Content-Encoding")
	if enc == "" {
		enc = "identity"
	}
	line := fmt.Sprintf("%s %s %d %dB %s %s", r.Method, r.URL.EscapedPath(), lw.status, lw.bytes,
		time.Since(start).Round(10*time.Microsecond), enc)
	if lw.reason != "" {
		line += " (" + lw.reason + ")"
	}
	s.cfg.Log.Print(line)
}

func (s *server) route(w *logWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		w.fail(http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed", "")
		return
	}
	if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		w.fail(http.StatusRequestEntityTooLarge, "request bodies are not accepted", "")
		return
	}
	name, isDir, status, why := requestName(r)
	if status != 0 {
		w.fail(status, why, "")
		return
	}
	switch {
	case name == "models":
		s.serveIndex(w, r)
	case strings.HasPrefix(name, "models/"):
		file := strings.TrimPrefix(name, "models/")
		if isDir || strings.Contains(file, "/") || path.Ext(file) != ".enn" {
			w.fail(http.StatusNotFound, "only .enn files are served under /models/", "")
			return
		}
		s.serveFile(w, r, s.models, file)
	case wasmFiles[name] && !isDir:
		s.serveFile(w, r, s.wasm, name)
	case name == "sw.js":
		s.serveServiceWorker(w, r)
	default:
		if name == "" {
			name = "index.html"
		} else if isDir {
			name += "/index.html"
		}
		s.serveFile(w, r, s.www, name)
	}
}

// requestName checks a request's path and returns it as an fs.FS name ("" for
// the root) and whether it ended in a slash. A path that could step outside a
// folder or name a file differently than it reads is refused with 400 (dot
// segments, encoded or back slashes, control characters such as NUL, empty
// segments); a dotfile with 404.
func requestName(r *http.Request) (name string, isDir bool, status int, why string) {
	p := r.URL.Path
	raw := strings.ToLower(r.URL.RawPath)
	switch {
	case !strings.HasPrefix(p, "/"):
		return "", false, http.StatusBadRequest, "path is not absolute"
	case strings.Contains(raw, "%2f") || strings.Contains(raw, "%5c"):
		return "", false, http.StatusBadRequest, "path has an encoded slash"
	case strings.ContainsFunc(p, func(c rune) bool { return c == '\\' || c < 0x20 || c == 0x7f }):
		return "", false, http.StatusBadRequest, "path has a backslash or control character"
	}
	name = p[1:]
	if strings.HasSuffix(name, "/") {
		isDir = true
		name = name[:len(name)-1]
	}
	if name == "" {
		return "", isDir, 0, ""
	}
	if !fs.ValidPath(name) {
		return "", false, http.StatusBadRequest, "path has an empty, . or .. segment"
	}
	for _, seg := range strings.Split(name, "/") {
		if strings.HasPrefix(seg, ".") {
			return "", false, http.StatusNotFound, "dotfiles are not served"
		}
	}
	return name, isDir, 0, ""
}

// serveFile sends one file of t: 301 to the slash form for a folder, 404 for
// anything missing, outside the folder or not a regular file, 422 for a model
// the host refuses.
func (s *server) serveFile(w *logWriter, r *http.Request, t tree, name string) {
	f, b, err := s.open(t, name)
	if errors.Is(err, errIsDir) && t.name == "www" {
		http.Redirect(w, r, "/"+name+"/", http.StatusMovedPermanently)
		return
	}
	if err != nil {
		why := err.Error()
		if errors.Is(err, fs.ErrNotExist) {
			why = "" // an ordinary miss needs no explanation
		}
		w.fail(http.StatusNotFound, "not found", why)
		return
	}
	defer f.Close()
	if b.refused != nil {
		w.fail(http.StatusUnprocessableEntity, fmt.Sprintf("%s/%s: %v", t.name, name, b.refused), "")
		return
	}
	var content io.ReadSeeker
	if b.data != nil {
		content = bytes.NewReader(b.data)
	} else if rs, ok := f.(io.ReadSeeker); ok {
		if _, err := rs.Seek(0, io.SeekStart); err != nil {
			w.fail(http.StatusInternalServerError, "cannot read the file", err.Error())
			return
		}
		content = rs
	} else {
		// A store without seeking: read the whole version in.
		data, err := io.ReadAll(f)
		if err != nil {
			w.fail(http.StatusInternalServerError, "cannot read the file", err.Error())
			return
		}
		content = bytes.NewReader(data)
	}
	s.send(w, r, b, content)
}

var errIsDir = errors.New("is a folder")

// open opens name in t and returns it with its blob, from the cache when the
// file's size and modification time are those cached. On a miss the blob is
// made from the open file, so that its hash describes the bytes served.
func (s *server) open(t tree, name string) (fs.File, *blob, error) {
	f, err := t.fsys.Open(name)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if st.IsDir() {
		f.Close()
		return nil, nil, errIsDir
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s/%s: not a regular file", t.name, name)
	}
	key := blobKey{t.name, name}
	s.mu.Lock()
	b := s.blobs[key]
	s.mu.Unlock()
	if b != nil && b.size == st.Size() && b.mod.Equal(st.ModTime()) {
		return f, b, nil
	}
	if t.name == "models" {
		b, err = s.loadModelBlob(name, f, st)
	} else {
		b, err = loadBlob(name, f, st)
	}
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s/%s: %w", t.name, name, err)
	}
	s.mu.Lock()
	s.blobs[key] = b
	s.mu.Unlock()
	return f, b, nil
}

// loadBlob hashes a file; a compressible one is kept in memory.
func loadBlob(name string, f fs.File, st fs.FileInfo) (*blob, error) {
	b := &blob{size: st.Size(), mod: st.ModTime(), ctype: contentType(name)}
	if compressible(b.ctype) && st.Size() <= maxCompressBytes {
		data, err := io.ReadAll(f)
		if err != nil {
			return nil, err
		}
		b.data = data
		b.sha = sha256Hex(data)
		return b, nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	b.sha = hex.EncodeToString(h.Sum(nil))
	return b, nil
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// send writes b with content (b's bytes), compressed when the client accepts
// gzip and it pays. Each encoding has its own strong ETag; http.ServeContent
// answers If-None-Match with 304, HEAD, and Range.
func (s *server) send(w http.ResponseWriter, r *http.Request, b *blob, content io.ReadSeeker) {
	h := w.Header()
	h.Set("Content-Type", b.ctype)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	etag := b.sha
	if b.data != nil {
		h.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			if gz := b.gzipped(); gz != nil {
				content = bytes.NewReader(gz)
				etag += "-gzip"
				h.Set("Content-Encoding", "gzip")
				// ServeContent leaves Content-Length out when an encoding is set.
				h.Set("Content-Length", strconv.Itoa(len(gz)))
			}
		}
	}
	h.Set("ETag", `"`+etag+`"`)
	http.ServeContent(w, r, "", b.mod, content)
}

// acceptsGzip reports whether an Accept-Encoding value admits gzip.
func acceptsGzip(accept string) bool {
	gzip, star := -1.0, -1.0
	for _, part := range strings.Split(accept, ",") {
		coding, params, _ := strings.Cut(part, ";")
		q := 1.0
		if k, v, ok := strings.Cut(strings.TrimSpace(params), "="); ok && strings.EqualFold(strings.TrimSpace(k), "q") {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				continue
			}
			q = f
		}
		switch strings.ToLower(strings.TrimSpace(coding)) {
		case "gzip", "x-gzip":
			gzip = q
		case "*":
			star = q
		}
	}
	if gzip >= 0 {
		return gzip > 0
	}
	return star > 0
}

// contentTypes are the types the app needs, fixed here rather than taken from
// the machine's mime.types.
var contentTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".mjs":         "text/javascript; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".json":        "application/json",
	".map":         "application/json",
	".webmanifest": "application/manifest+json",
	".wasm":        "application/wasm",
	".enn":         "application/octet-stream",
	".svg":         "image/svg+xml",
	".png":         "image/png",
	".ico":         "image/x-icon",
	".txt":         "text/plain; charset=utf-8",
	".ts":          "text/plain; charset=utf-8", // edgenn.d.ts: for reading, not running
	".md":          "text/markdown; charset=utf-8",
}

func contentType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if t, ok := contentTypes[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}

// compressible reports whether gzip pays on a type. Not .enn: float32 weights
// shrink by under 8% (the digits model: 248870 to 230007 bytes).
func compressible(ctype string) bool {
	t, _, _ := strings.Cut(ctype, ";")
	switch t {
	case "application/wasm", "application/json", "application/manifest+json", "image/svg+xml", "application/xml":
		return true
	}
	return strings.HasPrefix(t, "text/")
}

// logWriter records what a response was for the request's log line.
type logWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	reason string
}

func (w *logWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *logWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// ReadFrom keeps the connection's sendfile path for files served from disk.
func (w *logWriter) ReadFrom(src io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := io.Copy(w.ResponseWriter, src)
	w.bytes += n
	return n, err
}

func (w *logWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// fail sends a short plain-text error; why, or else msg, goes to the log line.
func (w *logWriter) fail(status int, msg, why string) {
	if why == "" {
		why = msg
	}
	w.reason = why
	http.Error(w, msg, status)
}
