//go:build js && wasm

package main

import (
	"errors"
	"runtime"
	"strconv"
	"strings"
	"syscall/js"
	"unsafe"

	"github.com/edgenn/edgenn/engine"
	"github.com/edgenn/edgenn/kernels"
	"github.com/edgenn/edgenn/model"
)

// version is the module's API version.
const version = "0.2.0"

// loaded is one compiled model. The decoded graph is kept beside the session
// because a Trainer starts from the graph as written, not the fused one the
// session runs.
type loaded struct {
	g   *model.Graph
	s   *engine.Session
	ins [][]float32 // reused input buffers
	// det decodes a detector's outputs, when its metadata names one
	// (engine.PostprocessKey); raw is its reused buffer.
	det *engine.Detector
	raw []float32
	// cuts are the compiled graph's cut points (engine.Cuts), split their
	// compiled halves; both nil until split execution is first asked for.
	cuts  []engine.Cut
	split []halves
}

var (
	models     = map[int]*loaded{}
	trainers   = map[int]*trainer{}
	nextHandle = 1 // models, trainers and sources share one sequence, so a stale handle never names the wrong kind

	jsError    = js.Global().Get("Error")
	jsObject   = js.Global().Get("Object")
	uint8Array = js.Global().Get("Uint8Array")
	f32Array   = js.Global().Get("Float32Array")
	i32Array   = js.Global().Get("Int32Array")
)

// jsBytes counts the bytes of the JS typed arrays taken in or handed out
// since the last collection. A js.Value keeps its JS object alive until
// Go's GC finalizes it, and a Go heap that allocates nothing per run is
// rarely collected: without a collection every jsBytesPerGC bytes, each
// run's input and outputs would stay alive in the worker's JS heap (700
// BlazeFace runs grew a worker by 480 MB).
var jsBytes int

const jsBytesPerGC = 32 << 20

// export sets api[name] to f, turning an error into a returned JS Error
// (never a throw across the boundary) whose message names the cause.
func export(api js.Value, name string, f func(args []js.Value) (any, error)) {
	api.Set(name, js.FuncOf(func(_ js.Value, args []js.Value) any {
		v, err := f(args)
		if jsBytes > jsBytesPerGC {
			jsBytes = 0
			runtime.GC()
			runtime.Gosched() // let the finalizers release the references now
		}
		if err != nil {
			return jsError.New("edgenn: " + err.Error())
		}
		return v
	}))
}

// with adapts f, which takes the model or trainer named by args[0] and the
// arguments after it, to the signature export takes. (Sources have their
// own, withSource: a generic instance keeps its type's fields reachable
// through interfaces, and a source's Scheduler holds time.Time values.)
func with[T any](m map[int]*T, what string, f func(v *T, args []js.Value) (any, error)) func([]js.Value) (any, error) {
	return func(args []js.Value) (any, error) {
		id, err := handleArg(args, what)
		if err != nil {
			return nil, err
		}
		v, ok := m[id]
		if !ok {
			return nil, noHandle(what, id)
		}
		return f(v, args[1:])
	}
}

// handleArg reads the handle of a model, trainer or source from args[0].
func handleArg(args []js.Value, what string) (int, error) {
	if len(args) == 0 || args[0].Type() != js.TypeNumber {
		return 0, errors.New("expected a " + what + " handle")
	}
	return args[0].Int(), nil
}

func noHandle(what string, id int) error {
	return errors.New("no " + what + " with handle " + strconv.Itoa(id) + " (freed?)")
}

// freer returns the function that forgets the handles of m.
func freer[T any](m map[int]*T, what string) func([]js.Value) (any, error) {
	return with(m, what, func(v *T, _ []js.Value) (any, error) {
		for id, x := range m {
			if x == v {
				delete(m, id)
			}
		}
		return nil, nil
	})
}

func newHandle() int {
	id := nextHandle
	nextHandle++
	return id
}

// bytesOf views a float32 or int32 slice as its little-endian bytes (wasm is
// little-endian), so tensors cross the boundary in one bulk copy.
func bytesOf[T float32 | int32](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), 4*len(s))
}

// copyIn copies the typed array v (already checked to be of T's kind) into
// dst, reusing dst's storage when it is large enough.
func copyIn[T float32 | int32](dst []T, v js.Value) []T {
	n := v.Length()
	jsBytes += 4 * n
	if cap(dst) < n {
		dst = make([]T, n)
	}
	dst = dst[:n]
	js.CopyBytesToGo(bytesOf(dst), uint8Array.New(v.Get("buffer"), v.Get("byteOffset"), v.Get("byteLength")))
	return dst
}

func floatsArg(v js.Value, what string) ([]float32, error) {
	if !v.InstanceOf(f32Array) {
		return nil, errors.New(what + " is not a Float32Array")
	}
	return copyIn[float32](nil, v), nil
}

func labelsArg(v js.Value, what string) ([]int32, error) {
	if !v.InstanceOf(i32Array) {
		return nil, errors.New(what + " is not an Int32Array")
	}
	return copyIn[int32](nil, v), nil
}

// floatsOut returns a new Float32Array holding f.
func floatsOut(f []float32) js.Value {
	jsBytes += 4 * len(f)
	t := f32Array.New(len(f))
	js.CopyBytesToJS(uint8Array.New(t.Get("buffer")), bytesOf(f))
	return t
}

func load(args []js.Value) (any, error) {
	if len(args) != 1 || !args[0].InstanceOf(uint8Array) {
		return nil, errors.New("load takes one Uint8Array with the .enn file")
	}
	data := make([]byte, args[0].Length())
	js.CopyBytesToGo(data, args[0])
	g, err := model.Decode(data)
	if err != nil {
		return nil, err
	}
	s, err := engine.NewSession(g)
	if err != nil {
		return nil, err
	}
	m := &loaded{g: g, s: s, ins: make([][]float32, len(s.Inputs()))}
	if spec, ok := g.Metadata[engine.PostprocessKey]; ok {
		if m.det, err = engine.ParseDetector(spec); err != nil {
			return nil, err
		}
	}
	id := newHandle()
	models[id] = m
	return id, nil
}

func valueInfos(v []engine.ValueInfo) []any {
	arr := make([]any, len(v))
	for i, x := range v {
		shape := make([]any, len(x.Shape))
		for j, d := range x.Shape {
			shape[j] = d
		}
		arr[i] = map[string]any{"name": x.Name, "shape": shape}
	}
	return arr
}

func describe(m *loaded, _ []js.Value) (any, error) {
	meta := map[string]any{}
	for k, v := range m.g.Metadata {
		meta[k] = v
	}
	// The float32 tensors, by name: what a trainer's trainable prefixes pick from.
	var weights []any
	for _, t := range m.g.Tensors {
		if t.DType == model.Float32 && !strings.HasPrefix(t.Name, "optimizer/") {
			shape := make([]any, len(t.Shape))
			for i, d := range t.Shape {
				shape[i] = d
			}
			weights = append(weights, map[string]any{"name": t.Name, "shape": shape})
		}
	}
	return map[string]any{"name": m.g.Name, "inputs": valueInfos(m.s.Inputs()), "outputs": valueInfos(m.s.Outputs()),
		"metadata": meta, "weights": weights}, nil
}

// inputsArg copies xs, one Float32Array per model input, into m's buffers.
func (m *loaded) inputsArg(xs []js.Value) ([][]float32, error) {
	if len(xs) != len(m.ins) {
		return nil, errors.New("run got " + strconv.Itoa(len(xs)) + " inputs, the model takes " + strconv.Itoa(len(m.ins)))
	}
	for i, x := range xs {
		if !x.InstanceOf(f32Array) {
			return nil, errors.New("input " + strconv.Itoa(i) + " is not a Float32Array")
		}
		m.ins[i] = copyIn(m.ins[i], x)
	}
	return m.ins, nil
}

func run(m *loaded, args []js.Value) (any, error) {
	ins, err := m.inputsArg(args)
	if err != nil {
		return nil, err
	}
	outs, err := m.s.Run(ins...)
	if err != nil {
		return nil, err
	}
	res := make([]any, len(outs))
	for i, o := range outs {
		res[i] = floatsOut(o)
	}
	return res, nil
}

// profile(handle, runs, ...inputs) times every compiled node over runs runs.
func profile(m *loaded, args []js.Value) (any, error) {
	if len(args) < 1 || args[0].Type() != js.TypeNumber {
		return nil, errors.New("profile takes a handle, a number of runs and the inputs")
	}
	ins, err := m.inputsArg(args[1:])
	if err != nil {
		return nil, err
	}
	costs, err := m.s.Profile(args[0].Int(), ins...)
	if err != nil {
		return nil, err
	}
	res := make([]any, len(costs))
	for i, c := range costs {
		res[i] = map[string]any{"name": c.Name, "op": c.Op, "flops": float64(c.FLOPs),
			"medianMs": float64(c.Median.Nanoseconds()) / 1e6, "minMs": float64(c.Min.Nanoseconds()) / 1e6,
			"meanMs": float64(c.Mean.Nanoseconds()) / 1e6}
	}
	return res, nil
}

// detect(handle, minScore, iou, maxOut, ...inputs) runs a detector on one
// input item and returns its detections, decoded as its metadata says:
// [{score, box: [xmin, ymin, xmax, ymax], keypoints: [[x, y], ...]}], in
// coordinates normalised to the model's input.
func detect(m *loaded, args []js.Value) (any, error) {
	if m.det == nil {
		return nil, errors.New("the model names no detector post-processing (metadata " + strconv.Quote(engine.PostprocessKey) + ")")
	}
	if len(args) < 3 || args[0].Type() != js.TypeNumber || args[1].Type() != js.TypeNumber || args[2].Type() != js.TypeNumber {
		return nil, errors.New("detect takes a handle, minScore, iou, maxOut and the inputs")
	}
	ins, err := m.inputsArg(args[3:])
	if err != nil {
		return nil, err
	}
	if per := perExample(m.s.Inputs()[0].Shape); len(ins[0]) != per {
		return nil, errors.New("detect takes one item: " + strconv.Itoa(per) + " values, got " + strconv.Itoa(len(ins[0])))
	}
	outs, err := m.s.Run(ins...)
	if err != nil {
		return nil, err
	}
	shapes := make([][]int, len(outs))
	for i, o := range m.s.Outputs() {
		shapes[i] = o.Shape[1:]
	}
	if m.raw, err = m.det.Gather(outs, shapes, m.raw); err != nil {
		return nil, err
	}
	dets, err := m.det.Decode(m.raw, float32(args[0].Float()), float32(args[1].Float()), args[2].Int())
	if err != nil {
		return nil, err
	}
	res := make([]any, len(dets))
	for i, d := range dets {
		kps := make([]any, len(d.Keypoints))
		for k, p := range d.Keypoints {
			kps[k] = []any{float64(p[0]), float64(p[1])}
		}
		res[i] = map[string]any{"score": float64(d.Score), "keypoints": kps,
			"box": []any{float64(d.Box[0]), float64(d.Box[1]), float64(d.Box[2]), float64(d.Box[3])}}
	}
	return res, nil
}

// evaluate(handle, xs, labels) measures a classifier on labelled examples.
func evaluate(m *loaded, args []js.Value) (any, error) {
	in := m.s.Inputs()
	if len(in) != 1 {
		return nil, errors.New("evaluate takes models with one input")
	}
	ds, err := examplesArg(args, perExample(in[0].Shape))
	if err != nil {
		return nil, err
	}
	return scores(engine.Evaluate(m.s, ds))
}

func scores(loss, accuracy float64, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return map[string]any{"loss": loss, "accuracy": accuracy}, nil
}

// perExample is the number of values in one batch item of shape.
func perExample(shape []int) int {
	n := 1
	for _, d := range shape[1:] {
		n *= d
	}
	return n
}

func info([]js.Value) (any, error) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return map[string]any{"version": version, "simd": kernels.SIMD, "heapBytes": float64(ms.HeapAlloc),
		"sysBytes": float64(ms.Sys), "models": len(models), "trainers": len(trainers)}, nil
}

// Memory profiling off: Go 1.27.3's js/wasm runtime can crash ("invalid
// runtime symbol table") when a sampled allocation in beforeIdle takes a
// stack trace (engine's wasm tests hit it 2 runs in 52). The linker turns
// sampling off where nothing reads the profile; this makes sure.
func init() { runtime.MemProfileRate = 0 }

func main() {
	api := jsObject.New()
	api.Set("version", version)
	api.Set("simd", kernels.SIMD)
	onModel := func(f func(*loaded, []js.Value) (any, error)) func([]js.Value) (any, error) {
		return with(models, "model", f)
	}
	onTrainer := func(f func(*trainer, []js.Value) (any, error)) func([]js.Value) (any, error) {
		return with(trainers, "trainer", f)
	}
	for name, f := range map[string]func([]js.Value) (any, error){
		"info": info, "load": load, "describe": onModel(describe), "run": onModel(run), "profile": onModel(profile), "detect": onModel(detect),
		"evaluate": onModel(evaluate), "cuts": onModel(cuts), "runHead": onModel(runHead), "runTail": onModel(runTail),
		"free": freer(models, "model"), "trainer": onModel(newTrainer),
		"step": onTrainer(step), "fitBegin": onTrainer(fitBegin), "fitEpoch": onTrainer(fitEpoch), "fitEnd": onTrainer(fitEnd),
		"trainerEvaluate": onTrainer(trainerEvaluate), "save": onTrainer(save), "freeTrainer": freer(trainers, "trainer"),
		"sourceNew": sourceNew, "sourceAttach": withSource(sourceAttach), "sourcePush": withSource(sourcePush),
		"sourceMetrics": withSource(sourceMetrics), "sourceClose": withSource(sourceClose),
	} {
		export(api, name, f)
	}
	// A test hook: the worker glue calls it to check that a Go instance which
	// dies is replaced and its pending calls are rejected.
	api.Set("_crash", js.FuncOf(func(js.Value, []js.Value) any { panic("edgenn: crash requested (test hook)") }))
	js.Global().Set("edgenn", api)
	if ready := js.Global().Get("edgennReady"); ready.Type() == js.TypeFunction {
		ready.Invoke(api)
	}
	select {} // keep the Go instance alive for calls from JS
}
