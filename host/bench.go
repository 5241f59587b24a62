package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"github.com/edgenn/edgenn/engine"
	"io"
	"math"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/edgenn/edgenn/kernels"
)

// benchResult is one bench measurement. Its field names follow the anchors'
// results.jsonl rows so that edgenn and the reference runtimes share one table.
type benchResult struct {
	Runtime    string      `json:"runtime"`
	Model      string      `json:"model"`
	Mode       string      `json:"mode"`
	Batch      int         `json:"batch"`
	Runs       int         `json:"runs"`
	Warmup     int         `json:"warmup"`
	N          int         `json:"n"`
	MedianMS   float64     `json:"median_ms"`
	P90MS      float64     `json:"p90_ms"`
	MinMS      float64     `json:"min_ms"`
	MeanMS     float64     `json:"mean_ms"`
	ArenaBytes int         `json:"arena_bytes"`
	Check      *benchCheck `json:"check,omitempty"`
	// SamplesPerSec is set by training benches: batch / median step time.
	SamplesPerSec float64     `json:"samples_per_sec,omitempty"`
	Memory        benchMemory `json:"memory"`
	GoVersion     string      `json:"go"`
}

type benchCheck struct {
	MaxAbsDiff float64 `json:"max_abs_diff_vs_ref"`
	Argmax     int     `json:"argmax"`
	RefArgmax  int     `json:"ref_argmax"`
}

// benchMemory reports memory before and after extra runs: the WebAssembly
// linear memory (in wasm, under scripts/wasm_run.js; it only ever grows, so
// its size is the peak) and the Go runtime's own view (Sys, HeapAlloc,
// mallocs). Equal sizes before and after the growth runs show that repeated
// runs do not grow memory.
type benchMemory struct {
	WasmAfterTiming int     `json:"wasm_memory_bytes_after_timing,omitempty"`
	WasmAfterGrowth int     `json:"wasm_memory_bytes_after_growth_runs,omitempty"`
	SysAfterTiming  uint64  `json:"sys_bytes_after_timing"`
	GrowthRuns      int     `json:"growth_runs"`
	SysAfterGrowth  uint64  `json:"sys_bytes_after_growth_runs"`
	HeapAllocGrowth int64   `json:"heap_alloc_growth_bytes"`
	MallocsPerRun   float64 `json:"mallocs_per_run"`
}

func cmdBench(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	batch := fs.Int("batch", 1, "batch size")
	runs := fs.Int("runs", 200, "timed runs")
	warmup := fs.Int("warmup", 20, "untimed runs first")
	growth := fs.Int("growth", 0, "after timing, run this many more times and report memory growth")
	asJSON := fs.Bool("json", false, "print one JSON object")
	train := fs.Bool("train", false, "time one training step (SGD, crossentropy) instead of inference")
	trainable := fs.String("trainable", "", "with --train: comma-separated name prefixes to train (default: all)")
	profile := fs.Bool("profile", false, "after timing, print each compiled node's median time")
	inPath := fs.String("input", "", "raw float32 input for one item (default: a fixed pseudo-random input)")
	refPath := fs.String("ref", "", "raw float32 reference output for one item: report the max abs difference")
	name := fs.String("name", "", "model name in the report (default: the file's base name)")
	pos, err := parseArgs(fs, args, "FILE.enn")
	if err != nil {
		return err
	}
	if *batch < 1 || *runs < 1 || *warmup < 0 || *growth < 0 {
		return fmt.Errorf("--batch and --runs must be positive, --warmup and --growth not negative")
	}
	if *train {
		return benchTrain(pos[0], *name, *batch, *warmup, *runs, *trainable, *asJSON, stdout)
	}
	s, err := loadSession(pos[0])
	if err != nil {
		return err
	}
	per := itemSize(s)
	item := make([]float32, per)
	if *inPath != "" {
		if item, err = readFloats(*inPath); err != nil {
			return err
		}
		if len(item) != per {
			return fmt.Errorf("%s has %d float32s, one item of the model takes %d", *inPath, len(item), per)
		}
	} else {
		fillPseudoRandom(item)
	}
	x := make([]float32, 0, per**batch)
	for i := 0; i < *batch; i++ {
		x = append(x, item...)
	}
	ins, err := splitInputs(s, x)
	if err != nil {
		return err
	}
	outs, err := s.Run(ins...)
	if err != nil {
		return err
	}
	r := benchResult{Runtime: runtimeName(), Mode: "infer_b" + fmt.Sprint(*batch), Batch: *batch, Runs: *runs, Warmup: *warmup, N: *runs, GoVersion: runtime.Version()}
	r.Model = *name
	if r.Model == "" {
		r.Model = strings.TrimSuffix(filepath.Base(pos[0]), filepath.Ext(pos[0]))
	}
	if *refPath != "" {
		ref, err := readFloats(*refPath)
		if err != nil {
			return err
		}
		out := outs[0]
		if len(ref) != len(out) / *batch {
			return fmt.Errorf("%s has %d float32s, the model's first output has %d per item", *refPath, len(ref), len(out) / *batch)
		}
		c := &benchCheck{Argmax: argmax(out[:len(ref)]), RefArgmax: argmax(ref)}
		for b := 0; b < *batch; b++ {
			for i, v := range ref {
				c.MaxAbsDiff = math.Max(c.MaxAbsDiff, math.Abs(float64(out[b*len(ref)+i]-v)))
			}
		}
		r.Check = c
	}
	r.measure(*warmup, *runs, func() { s.Run(ins...) })
	if r.ArenaBytes, err = s.ArenaBytes(*batch); err != nil {
		return err
	}
	var m0, m1 runtime.MemStats
	// The first collection and stats read themselves take memory; settle
	// them before the baseline so that only the runs are measured.
	for range 2 {
		runtime.GC()
		runtime.ReadMemStats(&m0)
	}
	r.Memory.SysAfterTiming = m0.Sys
	r.Memory.WasmAfterTiming = wasmMemoryBytes()
	for i := 0; i < *growth; i++ {
		s.Run(ins...)
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	r.Memory.GrowthRuns = *growth
	r.Memory.SysAfterGrowth = m1.Sys
	r.Memory.WasmAfterGrowth = wasmMemoryBytes()
	r.Memory.HeapAllocGrowth = int64(m1.HeapAlloc) - int64(m0.HeapAlloc)
	if *growth > 0 {
		r.Memory.MallocsPerRun = float64(m1.Mallocs-m0.Mallocs) / float64(*growth)
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(r)
	}
	fmt.Fprintf(stdout, "%s %s batch %d: median %.3f ms, p90 %.3f ms, min %.3f ms over %d runs; activations %d bytes; Go heap Sys %d bytes",
		r.Runtime, r.Model, r.Batch, r.MedianMS, r.P90MS, r.MinMS, r.Runs, r.ArenaBytes, r.Memory.SysAfterTiming)
	if r.Memory.WasmAfterTiming > 0 {
		fmt.Fprintf(stdout, "; wasm memory %d bytes", r.Memory.WasmAfterTiming)
	}
	fmt.Fprintln(stdout)
	if r.Check != nil {
		fmt.Fprintf(stdout, "  vs reference: max abs diff %.3g, argmax %d (reference %d)\n", r.Check.MaxAbsDiff, r.Check.Argmax, r.Check.RefArgmax)
	}
	if *growth > 0 {
		fmt.Fprintf(stdout, "  %d more runs: Go heap Sys %d -> %d bytes, wasm memory %d -> %d bytes, %.3f mallocs per run\n", *growth,
			r.Memory.SysAfterTiming, r.Memory.SysAfterGrowth, r.Memory.WasmAfterTiming, r.Memory.WasmAfterGrowth, r.Memory.MallocsPerRun)
	}
	if *profile {
		costs, err := s.Profile(*runs, ins...)
		if err != nil {
			return err
		}
		for _, c := range costs {
			fmt.Fprintf(stdout, "  %-28s %-14s median %8.1f us  min %8.1f us\n", c.Name, c.Op, float64(c.Median.Nanoseconds())/1e3, float64(c.Min.Nanoseconds())/1e3)
		}
	}
	return nil
}

// measure times runs calls of f after warmup untimed ones and fills r's
// median, p90, min and mean in milliseconds.
func (r *benchResult) measure(warmup, runs int, f func()) {
	for i := 0; i < warmup; i++ {
		f()
	}
	times := make([]float64, runs)
	for i := range times {
		t0 := time.Now()
		f()
		times[i] = float64(time.Since(t0).Nanoseconds()) / 1e6
	}
	sort.Float64s(times)
	q := func(p float64) float64 { return times[min(len(times)-1, int(p*float64(len(times))))] }
	r.MedianMS, r.P90MS, r.MinMS = q(0.5), q(0.9), times[0]
	for _, t := range times {
		r.MeanMS += t / float64(len(times))
	}
}

func runtimeName() string {
	if runtime.GOARCH != "wasm" {
		return "edgenn-native"
	}
	if kernels.SIMD {
		return "edgenn-wasm-simd"
	}
	return "edgenn-wasm-scalar"
}

func argmax(x []float32) int {
	b := 0
	for i, v := range x {
		if v > x[b] {
			b = i
		}
	}
	return b
}

// fillPseudoRandom fills x with a fixed uniform [0,1) sequence (xorshift32).
func fillPseudoRandom(x []float32) {
	s := uint32(2463534242)
	for i := range x {
		s ^= s << 13
		s ^= s >> 17
		s ^= s << 5
		x[i] = float32(s>>8) / (1 << 24)
	}
}

// benchTrain times Trainer.Step on a fixed pseudo-random batch with labels
// cycling through the classes, and reports it like an inference bench (mode
// "train_sgd_b<batch>") plus samples per second.
func benchTrain(path, name string, batch, warmup, runs int, trainable string, asJSON bool, stdout io.Writer) error {
	g, _, err := loadModel(path)
	if err != nil {
		return err
	}
	var prefixes []string
	if trainable != "" {
		prefixes = strings.Split(trainable, ",")
	}
	tr, err := engine.NewTrainer(g, engine.TrainOptions{Batch: batch, Optimizer: engine.SGD{LR: 0.01}, Trainable: prefixes})
	if err != nil {
		return err
	}
	per := perItem(g.Inputs[0].Shape)
	x, y := make([]float32, batch*per), make([]int32, batch)
	fillPseudoRandom(x)
	classes := perItem(g.Outputs[0].Shape)
	for i := range y {
		y[i] = int32(i % classes)
	}
	if _, err := tr.Step(x, y, nil); err != nil {
		return err
	}
	mode := "train_sgd_b" + fmt.Sprint(batch)
	if prefixes != nil {
		mode += "_head_only"
	}
	r := benchResult{Runtime: runtimeName(), Mode: mode, Batch: batch, Runs: runs, Warmup: warmup, N: runs, GoVersion: runtime.Version()}
	r.Model = name
	if r.Model == "" {
		r.Model = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	r.measure(warmup, runs, func() { tr.Step(x, y, nil) })
	r.SamplesPerSec = float64(batch) / (r.MedianMS / 1e3)
	if asJSON {
		return json.NewEncoder(stdout).Encode(r)
	}
	fmt.Fprintf(stdout, "%s %s %s: median %.3f ms, p90 %.3f ms, min %.3f ms over %d steps; %.0f samples/s\n",
		r.Runtime, r.Model, r.Mode, r.MedianMS, r.P90MS, r.MinMS, r.Runs, r.SamplesPerSec)
	return nil
}
