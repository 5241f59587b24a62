//go:build !js

package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// cfMaxAssetBytes is the largest static asset Cloudflare takes (25 MiB).
const cfMaxAssetBytes = 25 << 20

// cmdCFWorkerAssets lays out the Worker's static assets: the three folders
// as the handler serves them, and the manifest (cfworker_store.go). Only the
// cfworker build of the native host has the command (make worker runs it).
func cmdCFWorkerAssets(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("cfworker-assets", flag.ContinueOnError)
	www := fs.String("www", "www", "folder served at /")
	wasm := fs.String("wasm", "build", "folder holding edgenn.wasm, edgenn-scalar.wasm and wasm_exec.js")
	models := fs.String("models", filepath.Join("www", "models"), "folder of .enn models served at /models/")
	maxMB := fs.Int("max-model-mb", 64, "largest model served, in MiB")
	out := fs.String("o", "", "folder to write the assets to (emptied first)")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("-o DIR is required")
	}
	if *maxMB <= 0 {
		return fmt.Errorf("--max-model-mb %d: want a positive size", *maxMB)
	}
	roots, err := openServeRoots(*www, *wasm, *models)
	if err != nil {
		return err
	}
	defer roots.Close()
	s, err := newServer(serveConfig{
		WWW: roots.www.FS(), Wasm: roots.wasm.FS(), Models: roots.models.FS(),
		MaxModelBytes: int64(*maxMB) << 20,
	})
	if err != nil {
		return err
	}
	if err := os.RemoveAll(*out); err != nil {
		return err
	}
	m, err := cfLayAssets(s, *out, time.Now())
	if err != nil {
		return err
	}
	var total int64
	for _, list := range [][]cfEntry{m.WWW, m.Wasm, m.Models} {
		for _, e := range list {
			total += e.Size
		}
	}
	fmt.Fprintf(stdout, "%s: %d www files, %d wasm files, %d models, %d bytes\n",
		*out, len(m.WWW), len(m.Wasm), len(m.Models), total)
	return nil
}

// cfLayAssets copies what s serves to dir (www/, wasm/, models/) and writes
// the manifest of the blobs s made for them: every file that s would send,
// and no other (no dotfiles, only the wasm files, only top-level *.enn).
func cfLayAssets(s *server, dir string, built time.Time) (*cfManifest, error) {
	m := &cfManifest{Version: cfManifestVersion, Built: built.UTC().Truncate(time.Second), MaxModelBytes: s.cfg.MaxModelBytes}
	lay := func(t tree, name string) (cfEntry, error) {
		f, b, err := s.open(t, name)
		if err != nil {
			return cfEntry{}, err
		}
		f.Close()
		data, err := fs.ReadFile(t.fsys, name)
		if err != nil {
			return cfEntry{}, err
		}
		switch {
		case int64(len(data)) != b.size || (b.sha != "" && sha256Hex(data) != b.sha):
			return cfEntry{}, fmt.Errorf("%s/%s changed while the assets were laid out", t.name, name)
		case len(data) > cfMaxAssetBytes:
			return cfEntry{}, fmt.Errorf("%s/%s: %d bytes, over the %d bytes a Workers static asset may have", t.name, name, len(data), cfMaxAssetBytes)
		}
		file := filepath.Join(dir, t.name, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			return cfEntry{}, err
		}
		if err := os.WriteFile(file, data, 0o644); err != nil {
			return cfEntry{}, err
		}
		e := cfEntry{Name: name, Size: b.size, SHA256: b.sha, Model: b.model}
		if b.refused != nil {
			e.Refused = b.refused.Error()
		}
		return e, nil
	}

	// A symlink is laid out as the file it leads to, when the handler would
	// send that, and listed as a symlink, as the folder lists it (the
	// service worker's content version leaves symlinks out).
	layLink := func(t tree, name string, d fs.DirEntry) (cfEntry, bool, error) {
		e, err := lay(t, name)
		if err != nil && d.Type()&fs.ModeSymlink != 0 {
			return cfEntry{}, false, nil // the handler refuses it too
		}
		e.Link = d.Type()&fs.ModeSymlink != 0
		return e, err == nil, err
	}
	err := fs.WalkDir(s.www.fsys, ".", func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case p != "." && strings.HasPrefix(d.Name(), "."):
			if d.IsDir() {
				return fs.SkipDir
			}
		case d.Type().IsRegular() || d.Type()&fs.ModeSymlink != 0:
			e, ok, err := layLink(s.www, p, d)
			if err != nil {
				return err
			}
			if ok {
				m.WWW = append(m.WWW, e)
			}
		}
		return nil
	})
	for _, name := range slices.Sorted(maps.Keys(wasmFiles)) {
		e, err := lay(s.wasm, name)
		if err != nil {
			return nil, fmt.Errorf("%w (make wasm builds the wasm files)", err)
		}
		m.Wasm = append(m.Wasm, e)
	}
	entries, err := fs.ReadDir(s.models.fsys, ".")
	if err != nil {
		return nil, err
	}
	for _, d := range entries {
		if n := d.Name(); !strings.HasPrefix(n, ".") && path.Ext(n) == ".enn" && !d.IsDir() {
			e, ok, err := layLink(s.models, n, d)
			if err != nil {
				return nil, err
			}
			if ok {
				m.Models = append(m.Models, e)
			}
		}
	}

	data, err := json.MarshalIndent(m, "", "\t")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, cfManifestName), append(data, '\n'), 0o644); err != nil {
		return nil, err
	}
	return m, nil
}
