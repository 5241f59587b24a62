package model

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
)

// ReadFile reads and decodes the .enn file at path. A file larger than
// MaxFileBytes is refused before it is read.
func ReadFile(path string) (*Graph, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > MaxFileBytes {
		return nil, errors.New("enn: " + strconv.Quote(path) + ": " + strconv.FormatInt(st.Size(), 10) +
			" bytes, larger than the limit " + itoa(MaxFileBytes))
	}
	data := make([]byte, st.Size())
	if _, err := f.ReadAt(data, 0); err != nil && st.Size() > 0 {
		return nil, errors.New("enn: " + strconv.Quote(path) + ": " + err.Error())
	}
	g, err := Decode(data)
	if err != nil {
		return nil, errors.New(strconv.Quote(path) + ": " + err.Error())
	}
	return g, nil
}

// WriteFile encodes g and writes it to path atomically: the bytes go to a
// temporary file in the same directory, which is synced and then renamed over
// path, so that no reader ever sees a half-written model.
func WriteFile(path string, g *Graph) error {
	data, err := Encode(g)
	if err != nil {
		return err
	}
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
	return nil
}
