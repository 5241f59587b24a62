package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/edgenn/edgenn/model"
)

func TestModelFileRoundTrip(t *testing.T) {
	g, err := model.Zoo("lenet5")
	if err != nil {
		t.Fatal(err)
	}
	data, err := model.Encode(g)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "lenet5.enn")
	// Over an existing file, which the rename replaces whole.
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(path, data); err != nil {
		t.Fatal(err)
	}
	back, read, err := loadModel(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, back) || !bytes.Equal(read, data) {
		t.Fatal("file round trip differs")
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("written file: %v, mode %v, want 0644", err, st.Mode().Perm())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory holds %d entries after a write, want 1 (a temporary file left behind?)", len(entries))
	}
}

func TestWriteFileAtomicFailure(t *testing.T) {
	dir := t.TempDir()
	// The rename fails: the target is a non-empty directory.
	target := filepath.Join(dir, "model.enn")
	if err := os.MkdirAll(filepath.Join(target, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(target, []byte("data")); err == nil {
		t.Fatal("writeFileAtomic over a non-empty directory succeeded")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("directory holds %d entries after a failed write, want 1", len(entries))
	}
	// The temporary file cannot be made: the directory does not exist.
	if err := writeFileAtomic(filepath.Join(dir, "missing", "m.enn"), []byte("data")); err == nil {
		t.Fatal("writeFileAtomic into a missing directory succeeded")
	}
}

func TestLoadModelRejects(t *testing.T) {
	dir := t.TempDir()
	// A sparse file just over the limit: refused from its size, before it is read.
	huge := filepath.Join(dir, "huge.enn")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(model.MaxFileBytes + 1); err != nil {
		t.Skip("cannot make a sparse file:", err)
	}
	f.Close()
	corrupt := filepath.Join(dir, "corrupt.enn")
	os.WriteFile(corrupt, []byte{0x93, 1, 2, 3}, 0o644)
	for _, c := range []struct{ path, want string }{
		{huge, "larger than the limit"},
		{corrupt, "corrupt.enn: enn: not an edgenn file"},
		{filepath.Join(dir, "missing.enn"), "missing.enn"},
	} {
		g, data, err := loadModel(c.path)
		if err == nil || g != nil || data != nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming %q", filepath.Base(c.path), err, c.want)
		}
	}
}
