//go:build !js || cfworker

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/edgenn/edgenn/model"
)

// modelInfo is one entry of the /models index: what a page needs to choose a
// model and feed it, without downloading it.
type modelInfo struct {
	Name        string            `json:"name"`  // the file name without .enn
	File        string            `json:"file"`  // under /models/
	Graph       string            `json:"graph"` // the graph's own name
	SHA256      string            `json:"sha256"`
	Size        int64             `json:"size"`
	Inputs      []valueJSON       `json:"inputs"`
	Outputs     []valueJSON       `json:"outputs"`
	Labels      []string          `json:"labels,omitempty"`
	Description string            `json:"description,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"` // the rest of the file's metadata
}

type valueJSON struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
	DType string `json:"dtype"`
}

// loadModelBlob reads, hashes and validates a model. A model over the size
// limit or failing validation is not an error of the read: its blob is
// marked refused, which is logged once per file version.
func (s *server) loadModelBlob(name string, f fs.File, st fs.FileInfo) (*blob, error) {
	b := &blob{size: st.Size(), mod: st.ModTime(), ctype: contentType(name)}
	limit := s.cfg.MaxModelBytes
	tooBig := func(n int64) error {
		return fmt.Errorf("%d bytes, larger than this host's limit of %d bytes for a model", n, limit)
	}
	if st.Size() > limit {
		b.refused = tooBig(st.Size())
	} else if data, err := io.ReadAll(io.LimitReader(f, limit+1)); err != nil {
		return nil, err
	} else if int64(len(data)) > limit {
		b.refused = tooBig(int64(len(data)))
	} else {
		b.sha = sha256Hex(data) // model.Digest, which is not built for js (the Worker build)
		if g, err := model.Decode(data); err != nil {
			b.refused = err
		} else {
			b.model = describeModel(name, g, b.sha, int64(len(data)))
		}
	}
	if b.refused != nil {
		s.cfg.Log.Printf("refusing models/%s: %v", name, b.refused)
	}
	return b, nil
}

func describeModel(file string, g *model.Graph, sha string, size int64) *modelInfo {
	m := &modelInfo{
		Name:    strings.TrimSuffix(file, ".enn"),
		File:    file,
		Graph:   g.Name,
		SHA256:  sha,
		Size:    size,
		Inputs:  valuesJSON(g.Inputs),
		Outputs: valuesJSON(g.Outputs),
	}
	for k, v := range g.Metadata {
		switch k {
		case "labels":
			if v != "" {
				m.Labels = strings.Split(v, ",")
			}
		case "description":
			m.Description = v
		default:
			if m.Metadata == nil {
				m.Metadata = map[string]string{}
			}
			m.Metadata[k] = v
		}
	}
	return m
}

func valuesJSON(vs []model.ValueInfo) []valueJSON {
	out := make([]valueJSON, len(vs))
	for i, v := range vs {
		out[i] = valueJSON{v.Name, v.Shape, v.DType.String()}
	}
	return out
}

func (s *server) serveIndex(w *logWriter, r *http.Request) {
	b, err := s.modelIndex()
	if err != nil {
		w.fail(http.StatusInternalServerError, "cannot list the models", err.Error())
		return
	}
	s.send(w, r, b, bytes.NewReader(b.data))
}

// modelIndex lists the models folder's valid *.enn files, sorted by name. It
// stats every file on each call and decodes only those whose size or
// modification time changed, so it notices files added, removed, replaced or
// rewritten in place.
func (s *server) modelIndex() (*blob, error) {
	entries, err := fs.ReadDir(s.models.fsys, ".")
	if err != nil {
		return nil, err
	}
	list := []modelInfo{}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || path.Ext(name) != ".enn" {
			continue
		}
		f, b, err := s.open(s.models, name)
		if err != nil {
			s.mu.Lock()
			again := s.unopenable[name] == err.Error()
			s.unopenable[name] = err.Error()
			s.mu.Unlock()
			if !again {
				s.cfg.Log.Printf("models index: leaving out %s: %v", name, err)
			}
			continue
		}
		f.Close()
		if b.model != nil {
			list = append(list, *b.model)
		}
	}
	data, err := json.Marshal(list)
	if err != nil {
		return nil, err
	}
	data = append(data, '\n')
	sha := sha256Hex(data)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.index == nil || s.index.sha != sha {
		s.index = &blob{size: int64(len(data)), ctype: "application/json", sha: sha, data: data}
	}
	return s.index, nil
}
