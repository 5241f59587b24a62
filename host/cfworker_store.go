//go:build !js || cfworker

package main

// The Cloudflare Workers build of the host (DESIGN.md, "Past one machine")
// runs the same handler as `edgenn serve` (server, serve_handler.go) over
// other folders: the static assets uploaded with the Worker. What differs
// sits behind cfAssets, one method wide; this file is the rest, built
// natively too so that its tests run without a Worker runtime.
//
// syumai/workers starts a fresh Go instance for every request, so nothing the
// handler caches outlives a request. To keep each request from hashing,
// listing and decoding files, `make worker` runs the handler once natively
// over the folders it uploads (edgenn cfworker-assets) and writes what it
// learnt, file by file, to a manifest uploaded beside them; every Worker
// request primes a new handler's cache from it and fetches only the bytes it
// sends.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"
)

// cfAssets is where the Worker build's files come from. The Worker's is the
// ASSETS binding (static assets uploaded with it); tests use a folder.
type cfAssets interface {
	// Open returns the bytes of the asset at name (slash-separated, no
	// leading slash); a missing one is an error matching fs.ErrNotExist.
	Open(name string) (io.ReadCloser, error)
}

// cfManifestName is the manifest's name among the assets; the three folders
// are the assets' www/, wasm/ and models/.
const cfManifestName = "manifest.json"

// cfManifestVersion changes when the manifest's format does.
const cfManifestVersion = 1

// cfManifest is what the handler knew of every uploaded file when the Worker
// was built.
type cfManifest struct {
	Version int `json:"version"`
	// Built is when the assets were laid out: every file's modification time.
	Built         time.Time `json:"built"`
	MaxModelBytes int64     `json:"maxModelBytes"`
	WWW           []cfEntry `json:"www"`
	Wasm          []cfEntry `json:"wasm"`
	Models        []cfEntry `json:"models"`
}

// cfEntry is one file: its blob as the handler made it.
type cfEntry struct {
	Name    string     `json:"name"` // slash-separated, within its folder
	Size    int64      `json:"size"`
	SHA256  string     `json:"sha256,omitempty"` // empty for a model refused for its size
	Model   *modelInfo `json:"model,omitempty"`
	Refused string     `json:"refused,omitempty"` // why the handler refuses this model
	Link    bool       `json:"link,omitempty"`    // listed as a symlink in its folder
}

// readCFManifest reads and checks the manifest from assets.
func readCFManifest(assets cfAssets) (*cfManifest, error) {
	rc, err := assets.Open(cfManifestName)
	if err != nil {
		return nil, fmt.Errorf("assets manifest: %w", err)
	}
	defer rc.Close()
	var m cfManifest
	dec := json.NewDecoder(io.LimitReader(rc, 16<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("assets manifest: %w", err)
	}
	if m.Version != cfManifestVersion {
		return nil, fmt.Errorf("assets manifest: version %d, this build reads %d (rebuild with make worker)", m.Version, cfManifestVersion)
	}
	if m.MaxModelBytes <= 0 {
		return nil, fmt.Errorf("assets manifest: model size limit %d: want a positive size", m.MaxModelBytes)
	}
	for _, t := range []struct {
		name    string
		entries []cfEntry
	}{{"www", m.WWW}, {"wasm", m.Wasm}, {"models", m.Models}} {
		for _, e := range t.entries {
			if !fs.ValidPath(e.Name) || e.Name == "." || e.Size < 0 {
				return nil, fmt.Errorf("assets manifest: %s: bad entry %q (size %d)", t.name, e.Name, e.Size)
			}
		}
	}
	return &m, nil
}

// newCFServer returns the host's handler over the assets that m lists, its
// cache primed from m. Every file's blob is primed but www/sw.js's, whose
// bytes the handler must hold to stamp the content version in (serve_sw.go);
// primed blobs carry no bytes, so the handler sends them from the assets
// uncompressed and leaves compression to the platform.
func newCFServer(assets cfAssets, m *cfManifest, logger *log.Logger) (*server, error) {
	s, err := newServer(serveConfig{
		WWW:           newCFFS(assets, "www", m.WWW, m.Built),
		Wasm:          newCFFS(assets, "wasm", m.Wasm, m.Built),
		Models:        newCFFS(assets, "models", m.Models, m.Built),
		MaxModelBytes: m.MaxModelBytes,
		Log:           logger,
	})
	if err != nil {
		return nil, err
	}
	prime := func(t tree, entries []cfEntry) {
		for _, e := range entries {
			if t.name == "www" && e.Name == "sw.js" {
				continue
			}
			b := &blob{size: e.Size, mod: m.Built, ctype: contentType(e.Name), sha: e.SHA256, model: e.Model}
			if e.Refused != "" {
				b.refused = errors.New(e.Refused)
			}
			s.blobs[blobKey{t.name, e.Name}] = b
		}
	}
	prime(s.www, m.WWW)
	prime(s.wasm, m.Wasm)
	prime(s.models, m.Models)
	return s, nil
}

// cfFS is one folder of the assets as an fs.FS: names, sizes and folders
// from the manifest, bytes fetched when first read.
type cfFS struct {
	assets cfAssets
	prefix string // the folder's name among the assets
	mod    time.Time
	files  map[string]int64         // name to size
	dirs   map[string][]fs.DirEntry // name ("." for the top) to its entries, sorted
}

func newCFFS(assets cfAssets, prefix string, entries []cfEntry, mod time.Time) *cfFS {
	f := &cfFS{assets: assets, prefix: prefix, mod: mod, files: map[string]int64{},
		dirs: map[string][]fs.DirEntry{".": nil}}
	add := func(dir string, info cfInfo) { f.dirs[dir] = append(f.dirs[dir], info) }
	for _, e := range entries {
		f.files[e.Name] = e.Size
		dir := path.Dir(e.Name)
		// The file's folder and those above it, each listed once in its parent.
		for d := dir; d != "."; d = path.Dir(d) {
			if _, known := f.dirs[d]; known {
				break
			}
			f.dirs[d] = nil
			add(path.Dir(d), cfInfo{name: path.Base(d), mod: mod, dir: true})
		}
		add(dir, cfInfo{name: path.Base(e.Name), size: e.Size, mod: mod, link: e.Link})
	}
	for _, list := range f.dirs {
		slices.SortFunc(list, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	}
	return f
}

func (f *cfFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if list, ok := f.dirs[name]; ok {
		return &cfDir{info: cfInfo{name: path.Base(name), mod: f.mod, dir: true}, entries: list}, nil
	}
	size, ok := f.files[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &cfFile{fsys: f, name: name, info: cfInfo{name: path.Base(name), size: size, mod: f.mod}}, nil // followed
}

// cfInfo is both the fs.FileInfo and the fs.DirEntry of a manifest entry.
type cfInfo struct {
	name string
	size int64
	mod  time.Time
	dir  bool
	link bool // a folder lists it as a symlink; opened, it is a file
}

func (i cfInfo) Name() string       { return i.name }
func (i cfInfo) Size() int64        { return i.size }
func (i cfInfo) ModTime() time.Time { return i.mod }
func (i cfInfo) IsDir() bool        { return i.dir }
func (i cfInfo) Sys() any           { return nil }
func (i cfInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o555
	}
	if i.link {
		return fs.ModeSymlink | 0o777
	}
	return 0o444
}
func (i cfInfo) Type() fs.FileMode          { return i.Mode().Type() }
func (i cfInfo) Info() (fs.FileInfo, error) { return i, nil }

// cfFile is an asset, fetched on its first read and streamed from there. It
// seeks by reading ahead, or by fetching again to go back; the handler seeks
// only to find the size (known without a fetch) and to a range's start.
type cfFile struct {
	fsys *cfFS
	name string
	info cfInfo
	body io.ReadCloser // nil until read
	pos  int64         // offset of body's next byte, or the offset a read will start at
}

func (f *cfFile) Stat() (fs.FileInfo, error) { return f.info, nil }

func (f *cfFile) Read(p []byte) (int, error) {
	if f.body == nil {
		if f.pos >= f.info.size {
			return 0, io.EOF
		}
		start := f.pos
		if err := f.fetch(); err != nil {
			return 0, err
		}
		if _, err := io.CopyN(io.Discard, f.body, start); err != nil {
			return 0, f.fail(err)
		}
		f.pos = start
	}
	n, err := f.body.Read(p)
	f.pos += int64(n)
	if f.pos > f.info.size {
		return n, f.fail(fmt.Errorf("longer than its %d bytes in the manifest", f.info.size))
	}
	if err == io.EOF && f.pos < f.info.size {
		return n, f.fail(fmt.Errorf("%d bytes, not the %d in the manifest", f.pos, f.info.size))
	}
	if err != nil && err != io.EOF {
		err = f.fail(err)
	}
	return n, err
}

func (f *cfFile) fetch() error {
	body, err := f.fsys.assets.Open(f.fsys.prefix + "/" + f.name)
	if err != nil {
		return &fs.PathError{Op: "read", Path: f.name, Err: err}
	}
	f.body = body
	return nil
}

func (f *cfFile) fail(err error) error {
	return &fs.PathError{Op: "read", Path: f.fsys.prefix + "/" + f.name, Err: err}
}

func (f *cfFile) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += f.pos
	case io.SeekEnd:
		offset += f.info.size
	}
	if offset < 0 {
		return 0, &fs.PathError{Op: "seek", Path: f.name, Err: fs.ErrInvalid}
	}
	if f.body != nil && offset != f.pos {
		// Start over: the next read fetches again and skips to offset.
		f.body.Close()
		f.body = nil
	}
	f.pos = offset
	return offset, nil
}

func (f *cfFile) Close() error {
	if f.body != nil {
		return f.body.Close()
	}
	return nil
}

// cfDir is a folder of the manifest.
type cfDir struct {
	info    cfInfo
	entries []fs.DirEntry
	read    int
}

func (d *cfDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *cfDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: errIsDir}
}
func (d *cfDir) Close() error { return nil }

// ReadDir follows fs.ReadDirFile.
func (d *cfDir) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.entries[d.read:]
	if n <= 0 {
		d.read = len(d.entries)
		return slices.Clone(rest), nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	rest = rest[:min(n, len(rest))]
	d.read += len(rest)
	return slices.Clone(rest), nil
}

// cfHandler answers one Worker request: it reads the manifest, makes the
// handler over the assets and serves. When the assets cannot be read the
// request gets 503 and a line saying why, not a handler over nothing.
func cfHandler(assets cfAssets, logger *log.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m, err := readCFManifest(assets)
		var s *server
		if err == nil {
			s, err = newCFServer(assets, m, logger)
		}
		if err != nil {
			logger.Printf("%s %s 503 (%v)", r.Method, r.URL.EscapedPath(), err)
			http.Error(w, "this Worker cannot read its assets: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		s.ServeHTTP(w, r)
	})
}
