//go:build !js

package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/edgenn/edgenn/engine"
	"github.com/edgenn/edgenn/model"
	"github.com/edgenn/edgenn/model/onnx"
	"github.com/edgenn/edgenn/model/tfjs"
)

// cmdConvert imports an ONNX file or a TensorFlow.js model (model.json with
// its weight shards beside it) into a .enn file, and reports what it mapped
// and folded, or every node it could not take.
func cmdConvert(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("convert", flag.ContinueOnError)
	out := fs.String("o", "", "the .enn file to write (required)")
	name := fs.String("name", "", "the model's name (default: the source's)")
	var meta metaFlags
	fs.Var(&meta, "meta", "KEY=VALUE set in the model's metadata (repeatable), e.g. labels=a,b,c or postprocess=...")
	pos, err := parseArgs(fs, args, "IN (model.onnx or model.json)")
	if err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("convert: -o OUT.enn is required")
	}
	in := pos[0]
	g, rep, err := importModel(in)
	if rep != nil {
		printReport(stdout, rep)
	}
	if err != nil {
		return fmt.Errorf("convert %s: %w", in, err)
	}
	if *name != "" {
		g.Name = *name
	}
	for _, kv := range meta {
		if g.Metadata == nil {
			g.Metadata = map[string]string{}
		}
		g.Metadata[kv[0]] = kv[1]
	}
	if g.Metadata == nil || g.Metadata["source"] == "" {
		if g.Metadata == nil {
			g.Metadata = map[string]string{}
		}
		g.Metadata["source"] = "converted by edgenn convert from " + filepath.Base(in)
	}
	if spec, ok := g.Metadata[engine.PostprocessKey]; ok {
		if _, err := engine.ParseDetector(spec); err != nil {
			return err
		}
	}
	// A model that does not compile is not written.
	if _, err := engine.NewSession(g); err != nil {
		return fmt.Errorf("convert %s: the imported model does not compile: %w", in, err)
	}
	data, err := model.Encode(g)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(*out, data); err != nil {
		return err
	}
	return printModel(stdout, g, fmt.Sprintf("%s, %d bytes", *out, len(data)))
}

// importModel picks the importer by the file: .onnx, or a TensorFlow.js
// model.json (graph or layers model; shards are read beside it).
func importModel(in string) (*model.Graph, *model.ImportReport, error) {
	switch strings.ToLower(filepath.Ext(in)) {
	case ".onnx":
		data, err := readLimited(in, model.MaxFileBytes)
		if err != nil {
			return nil, nil, err
		}
		return onnx.Import(data)
	case ".json":
		dir, file := filepath.Split(in)
		if dir == "" {
			dir = "."
		}
		root, err := os.OpenRoot(dir)
		if err != nil {
			return nil, nil, err
		}
		defer root.Close()
		return tfjs.Import(root.FS(), file)
	}
	return nil, nil, fmt.Errorf("%s: want a .onnx file or a TensorFlow.js model.json", in)
}

// readLimited reads a whole file of at most limit bytes.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than the limit of %d bytes", path, limit)
	}
	return data, nil
}

// printReport prints an ImportReport: the source ops mapped (with counts),
// what was folded, notes, and every unsupported node.
func printReport(w io.Writer, r *model.ImportReport) {
	ops := make([]string, 0, len(r.Mapped))
	total := 0
	for op, n := range r.Mapped {
		ops = append(ops, fmt.Sprintf("%s x%d", op, n))
		total += n
	}
	sort.Strings(ops)
	fmt.Fprintf(w, "import   %s: %d nodes mapped: %s\n", r.Format, total, strings.Join(ops, ", "))
	for _, f := range r.Folded {
		fmt.Fprintf(w, "folded   %s\n", f)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note     %s\n", n)
	}
	for _, u := range r.Unsupported {
		why := ""
		if u.Why != "" {
			why = ": " + u.Why
		}
		fmt.Fprintf(w, "refused  node %q (%s)%s\n", u.Node, u.Op, why)
	}
}

// metaFlags collects repeated --meta KEY=VALUE flags.
type metaFlags [][2]string

func (m *metaFlags) String() string { return fmt.Sprint([][2]string(*m)) }

func (m *metaFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", s)
	}
	*m = append(*m, [2]string{k, v})
	return nil
}
