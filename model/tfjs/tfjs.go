// Package tfjs imports TensorFlow.js models into edgenn graphs: graph models
// (the TF.js converter's model.json with modelTopology.node and weight
// shards, float32 or float16/uint8/uint16-quantised) and layers models (Keras
// Sequential and functional models saved by tfjs-layers or converted from
// Keras). The result runs in the engine and agrees with TensorFlow.js on the
// same inputs.
//
// TensorFlow.js is NHWC and its convolution weights are HWIO like edgenn's,
// so no layout changes are needed: depthwise kernels are re-read as grouped
// convolutions and the rest maps op for op. Constant sub-graphs are folded at
// import, and TF ops the IR lacks are lowered to IR ops only where the result
// is the same (Maximum(x, 0) -> Relu, Minimum(x, c) -> Clip, Elu through
// Tanh, ...). Every node the importer cannot take is listed in the
// model.ImportReport, and the error lists them all.
//
// Importers live on the host side: this package is never linked into the
// wasm module.
package tfjs

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"path"
	"strconv"

	"github.com/edgenn/edgenn/model"
)

// maxJSONBytes bounds a model.json: the largest converter outputs are a few
// megabytes of topology; weights live in the shards.
const maxJSONBytes = 64 << 20

// Formats returned by Sniff.
const (
	FormatGraph  = "tfjs-graph"
	FormatLayers = "tfjs-layers"
)

// modelFile is model.json: the fields both kinds of model share.
type modelFile struct {
	Format              string          `json:"format"`
	GeneratedBy         string          `json:"generatedBy"`
	ConvertedBy         json.RawMessage `json:"convertedBy"`
	ModelTopology       json.RawMessage `json:"modelTopology"`
	WeightsManifest     []manifestGroup `json:"weightsManifest"`
	Signature           json.RawMessage `json:"signature"`
	UserDefinedMetadata json.RawMessage `json:"userDefinedMetadata"`
	ModelInitializer    json.RawMessage `json:"modelInitializer"`
}

// Import reads the model.json called name in fsys, decides whether it is a
// graph or a layers model (see Sniff) and imports it with ImportGraphModel or
// ImportLayersModel.
func Import(fsys fs.FS, name string) (*model.Graph, *model.ImportReport, error) {
	mf, err := readModelFile(fsys, name)
	if err != nil {
		return nil, nil, err
	}
	switch kind, err := sniff(mf, name); {
	case err != nil:
		return nil, nil, err
	case kind == FormatGraph:
		return importGraph(fsys, name, mf)
	default:
		return importLayers(fsys, name, mf)
	}
}

// Sniff reads the model.json called name in fsys and returns FormatGraph or
// FormatLayers: the "format" field when it is there ("graph-model",
// "layers-model"), else the shape of modelTopology (a node list, or a Keras
// model config).
func Sniff(fsys fs.FS, name string) (string, error) {
	mf, err := readModelFile(fsys, name)
	if err != nil {
		return "", err
	}
	return sniff(mf, name)
}

func sniff(mf *modelFile, name string) (string, error) {
	switch mf.Format {
	case "graph-model":
		return FormatGraph, nil
	case "layers-model":
		return FormatLayers, nil
	}
	var probe struct {
		Node        json.RawMessage `json:"node"`
		ClassName   json.RawMessage `json:"class_name"`
		ModelConfig json.RawMessage `json:"model_config"`
	}
	if len(mf.ModelTopology) > 0 && json.Unmarshal(mf.ModelTopology, &probe) == nil {
		switch {
		case probe.Node != nil:
			return FormatGraph, nil
		case probe.ClassName != nil || probe.ModelConfig != nil:
			return FormatLayers, nil
		}
	}
	return "", fileErr(name, "neither a graph model (modelTopology.node) nor a layers model (modelTopology.class_name or model_config); format is "+strconv.Quote(mf.Format))
}

func readModelFile(fsys fs.FS, name string) (*modelFile, error) {
	data, err := readFile(fsys, name, maxJSONBytes)
	if err != nil {
		return nil, err
	}
	var mf modelFile
	if err := json.Unmarshal(data, &mf); err != nil {
		return nil, fileErr(name, "bad JSON: "+err.Error())
	}
	if len(mf.ModelTopology) == 0 || string(mf.ModelTopology) == "null" {
		return nil, fileErr(name, "no modelTopology")
	}
	return &mf, nil
}

// readFile reads a whole file, refusing one larger than limit bytes before
// reading it (and while reading, should Stat not know the size).
func readFile(fsys fs.FS, name string, limit int64) ([]byte, error) {
	if fsys == nil {
		return nil, errors.New("tfjs: nil file system")
	}
	f, err := fsys.Open(name)
	if err != nil {
		return nil, fileErr(name, err.Error())
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > limit {
		return nil, fileErr(name, strconv.FormatInt(st.Size(), 10)+" bytes, more than the limit "+strconv.FormatInt(limit, 10))
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fileErr(name, err.Error())
	}
	if int64(len(data)) > limit {
		return nil, fileErr(name, "more than the limit of "+strconv.FormatInt(limit, 10)+" bytes")
	}
	return data, nil
}

func fileErr(name, msg string) error {
	return errors.New("tfjs: " + strconv.Quote(name) + ": " + msg)
}

// sibling resolves a shard path relative to the model.json that names it.
func sibling(modelJSON, p string) string {
	return path.Join(path.Dir(modelJSON), p)
}

// metadata fills the graph metadata every import records.
func metadata(b *model.Builder, kind, name string, mf *modelFile) {
	src := "TensorFlow.js " + kind + " model " + path.Base(name)
	if mf.GeneratedBy != "" {
		src += ", generated by " + mf.GeneratedBy
	}
	var conv string
	if json.Unmarshal(mf.ConvertedBy, &conv) == nil && conv != "" {
		src += ", converted by " + conv
	}
	b.Metadata("source", src)
	if u := mf.UserDefinedMetadata; len(u) > 0 && string(u) != "null" && len(u) <= 1<<16 {
		b.Metadata("tfjs.userDefinedMetadata", string(u))
	}
}
