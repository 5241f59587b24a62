package main

import (
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/edgenn/edgenn/engine"
	"github.com/edgenn/edgenn/model"
)

func cmdZoo(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("zoo", flag.ContinueOnError)
	out := fs.String("o", "", "output .enn file")
	pos, err := parseArgs(fs, args, "NAME")
	if err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("-o FILE.enn is required (known models: %s)", strings.Join(model.ZooNames(), ", "))
	}
	g, err := model.Zoo(pos[0])
	if err != nil {
		return err
	}
	data, err := model.Encode(g)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(*out, data); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%s)\n", *out, pos[0])
	return nil
}

func cmdInspect(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	pos, err := parseArgs(fs, args, "FILE.enn")
	if err != nil {
		return err
	}
	g, data, err := loadModel(pos[0])
	if err != nil {
		return err
	}
	return printModel(stdout, g, fmt.Sprintf("%s, %d bytes, sha256 %x", pos[0], len(data), sha256.Sum256(data))) // the same content address as model.Digest, which js/wasm builds lack
}

// printModel prints what a model is: its interface, ops, parameters,
// arithmetic, compiled size and metadata (inspect, convert).
func printModel(w io.Writer, g *model.Graph, file string) error {
	shapes, err := model.InferShapes(g, 1)
	if err != nil {
		return err
	}
	params, weightBytes := 0, 0
	for _, t := range g.Tensors {
		params += t.NumElements()
		weightBytes += t.NumElements() * t.DType.Size()
	}
	ops := map[string]int{}
	for _, n := range g.Nodes {
		ops[n.Op]++
	}
	names := make([]string, 0, len(ops))
	for k := range ops {
		names = append(names, k)
	}
	sort.Strings(names)
	fmt.Fprintf(w, "model    %s\n", g.Name)
	fmt.Fprintf(w, "file     %s\n", file)
	for _, v := range g.Inputs {
		fmt.Fprintf(w, "input    %s %s %v\n", v.Name, v.DType, v.Shape)
	}
	for _, v := range g.Outputs {
		shape := v.Shape
		if shape == nil {
			shape = shapes[v.Name]
		}
		fmt.Fprintf(w, "output   %s %s %v\n", v.Name, v.DType, shape)
	}
	fmt.Fprintf(w, "nodes    %d:", len(g.Nodes))
	for _, k := range names {
		fmt.Fprintf(w, " %s x%d", k, ops[k])
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "params   %d (%d tensors, %d bytes)\n", params, len(g.Tensors), weightBytes)
	flops := model.CountFLOPs(g, shapes)
	fmt.Fprintf(w, "flops    %d per item (%.2f MFLOP, %.2f MMAC)\n", flops, float64(flops)/1e6, float64(flops)/2e6)
	s, err := engine.NewSession(g)
	if err != nil {
		return err
	}
	arena, err := s.ArenaBytes(1)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "compiled %d nodes after folding and fusion; activation memory %d bytes at batch 1\n", len(s.Graph().Nodes), arena)
	keys := make([]string, 0, len(g.Metadata))
	for k := range g.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "meta     %s: %s\n", k, g.Metadata[k])
	}
	return nil
}

func cmdRun(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	inPath := fs.String("input", "", "raw little-endian float32 input (all inputs concatenated)")
	outPath := fs.String("output", "", "raw little-endian float32 output (all outputs concatenated)")
	pos, err := parseArgs(fs, args, "FILE.enn")
	if err != nil {
		return err
	}
	if *inPath == "" || *outPath == "" {
		return fmt.Errorf("--input and --output are required")
	}
	s, err := loadSession(pos[0])
	if err != nil {
		return err
	}
	x, err := readFloats(*inPath)
	if err != nil {
		return err
	}
	ins, err := splitInputs(s, x)
	if err != nil {
		return err
	}
	outs, err := s.Run(ins...)
	if err != nil {
		return err
	}
	var buf []byte
	for _, o := range outs {
		buf = appendFloats(buf, o)
	}
	if err := writeFileAtomic(*outPath, buf); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%d float32)\n", *outPath, len(buf)/4)
	return nil
}

// loadSession reads a .enn file and compiles it.
func loadSession(path string) (*engine.Session, error) {
	g, _, err := loadModel(path)
	if err != nil {
		return nil, err
	}
	return engine.NewSession(g)
}

// splitInputs divides one concatenated buffer between the session's inputs,
// all at the same batch size.
func splitInputs(s *engine.Session, x []float32) ([][]float32, error) {
	ins := s.Inputs()
	per := itemSize(s)
	if per == 0 || len(x)%per != 0 || len(x) == 0 {
		return nil, fmt.Errorf("input has %d float32s, not a whole batch of %d per item", len(x), per)
	}
	batch := len(x) / per
	out := make([][]float32, len(ins))
	for i, v := range ins {
		n := perItem(v.Shape) * batch
		out[i], x = x[:n], x[n:]
	}
	return out, nil
}

// itemSize is the float32s one batch item takes over all of s's inputs.
func itemSize(s *engine.Session) int {
	per := 0
	for _, v := range s.Inputs() {
		per += perItem(v.Shape)
	}
	return per
}

func perItem(shape []int) int {
	n := 1
	for i, d := range shape {
		if i > 0 || d > 0 {
			n *= d
		}
	}
	return n
}

func readFloats(path string) ([]float32, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("%s: %d bytes is not a whole number of float32s", path, len(b))
	}
	f := make([]float32, len(b)/4)
	for i := range f {
		f[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return f, nil
}

func appendFloats(b []byte, f []float32) []byte {
	for _, v := range f {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}
