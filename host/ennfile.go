package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/edgenn/edgenn/model"
)

// Reading and writing .enn files lives here, not in package model, so that
// model (which the wasm module links) does not import os.

// loadModel reads and validates the .enn file at path, returning the graph and
// the file's bytes (for its Digest). A file larger than model.MaxFileBytes is
// refused before it is read, and so is one that grows past it while it is read.
func loadModel(path string) (*model.Graph, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	tooBig := func(n int64) error {
		return fmt.Errorf("%s: %d bytes, larger than the limit %d for a .enn file", path, n, model.MaxFileBytes)
	}
	if st.Size() > model.MaxFileBytes {
		return nil, nil, tooBig(st.Size())
	}
	// Size is a hint only: a pipe reports 0, and a file may change under us.
	var buf bytes.Buffer
	buf.Grow(int(st.Size()) + bytes.MinRead)
	if _, err := buf.ReadFrom(io.LimitReader(f, model.MaxFileBytes+1)); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if buf.Len() > model.MaxFileBytes {
		return nil, nil, tooBig(int64(buf.Len()))
	}
	data := buf.Bytes()
	g, err := model.Decode(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return g, data, nil
}

// writeFileAtomic writes data to path so that no reader ever sees a
// half-written file: the bytes go to a temporary file in the same directory,
// which is synced and then renamed over path. On failure neither path nor a
// temporary file is left changed or behind.
func writeFileAtomic(path string, data []byte) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	// Make the rename itself durable; not every system can sync a directory.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
