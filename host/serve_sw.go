//go:build !js || cfworker

package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strings"
)

// The service worker (www/sw.js) names its cache after versionToken, which
// the host replaces with a digest of every file the app can cache: www/, the
// wasm builds and the models. Any change to any of them changes sw.js's
// bytes, the browser installs the new worker, and it replaces the old cache
// whole, so that a deployed app never mixes versions and nobody has to
// remember to bump a number.
const versionToken = "__EDGENN_VERSION__"

// serveServiceWorker sends www/sw.js with versionToken replaced.
func (s *server) serveServiceWorker(w *logWriter, r *http.Request) {
	f, b, err := s.open(s.www, "sw.js")
	if err != nil || b.data == nil {
		s.serveFile(w, r, s.www, "sw.js") // the ordinary miss or error
		return
	}
	f.Close()
	body := bytes.ReplaceAll(b.data, []byte(versionToken), []byte(s.contentVersion()))
	sb := &blob{size: int64(len(body)), mod: b.mod, ctype: b.ctype, data: body, sha: sha256Hex(body)}
	s.send(w, r, sb, bytes.NewReader(body))
}

// contentVersion digests the names and hashes of the files the app caches
// (every non-dot file of www/ but sw.js, the wasm files, the *.enn models):
// 16 hex digits. Hashes come from the blob cache, so only changed files are
// read again.
func (s *server) contentVersion() string {
	var lines []string
	add := func(t tree, name string) {
		if f, b, err := s.open(t, name); err == nil {
			f.Close()
			lines = append(lines, t.name+"/"+name+" "+b.sha)
		}
	}
	fs.WalkDir(s.www.fsys, ".", func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return nil
		case p != "." && strings.HasPrefix(d.Name(), "."):
			if d.IsDir() {
				return fs.SkipDir
			}
		case d.Type().IsRegular() && p != "sw.js":
			add(s.www, p)
		}
		return nil
	})
	for name := range wasmFiles {
		add(s.wasm, name)
	}
	if entries, err := fs.ReadDir(s.models.fsys, "."); err == nil {
		for _, e := range entries {
			if n := e.Name(); !strings.HasPrefix(n, ".") && path.Ext(n) == ".enn" {
				add(s.models, n)
			}
		}
	}
	sort.Strings(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(sum[:8])
}
