//go:build js && wasm

package main

import (
	"errors"
	"slices"
	"strconv"
	"syscall/js"

	"github.com/edgenn/edgenn/engine"
	"github.com/edgenn/edgenn/model"
)

// source is one input shared by many tasks: an engine.Scheduler over an
// engine.Provider. This Go instance prepares the views and decides what
// runs when; the models run on the pool's workers, reached through JS
// (onLane), so a source's lanes are the pool's workers.
type source struct {
	s        *engine.Scheduler
	onLane   js.Value // (lane, task, batch, Float32Array) -> Promise<Float32Array[]>
	onResult js.Value // (result object) -> void
	rgba     []byte   // reused frame buffer
	// dets holds the detections (scores, keypoints) of detector runs not
	// yet delivered, mapped to frame pixels, by the run's boxes: a task
	// with MaxRuns > 1 has several runs in flight. detOrder bounds it
	// (runs overtaken by a newer frame are never delivered).
	dets       map[*engine.Box][]any
	detOrder   []*engine.Box
	isDetector map[string]bool
}

var sources = map[int]*source{}

// lane runs tasks on pool worker i through onLane. It holds the callback,
// not its source: a lane goes into an interface (engine.Runner), and a
// source there would keep, through its Scheduler's time.Time fields, the
// time package's formatting code in the wasm (30 KB gzip in all, with
// the generic instances that did the same).
type lane struct {
	onLane js.Value
	i      int
}

// Run hands the prepared input to the worker through JS and waits for its
// outputs; the Go instance serves other calls meanwhile.
func (l lane) Run(task string, batch int, input []float32) ([][]float32, error) {
	type reply struct {
		outs [][]float32
		err  error
	}
	done := make(chan reply, 1)
	then := js.FuncOf(func(_ js.Value, a []js.Value) any {
		var r reply
		if len(a) == 1 && a[0].Type() == js.TypeObject {
			arr := a[0]
			for k := 0; k < arr.Length(); k++ {
				o := arr.Index(k)
				if !o.InstanceOf(f32Array) {
					r.err = errors.New("worker " + strconv.Itoa(l.i) + " returned a non-Float32Array output")
					break
				}
				r.outs = append(r.outs, copyIn[float32](nil, o))
			}
		} else {
			r.err = errors.New("worker " + strconv.Itoa(l.i) + " returned no outputs")
		}
		done <- r
		return nil
	})
	catch := js.FuncOf(func(_ js.Value, a []js.Value) any {
		msg := "the run failed"
		if len(a) > 0 {
			if m := a[0].Get("message"); m.Type() == js.TypeString {
				msg = m.String()
			} else {
				msg = a[0].String()
			}
		}
		done <- reply{err: errors.New(msg)}
		return nil
	})
	defer then.Release()
	defer catch.Release()
	l.onLane.Invoke(l.i, task, batch, floatsOut(input)).Call("then", then, catch)
	r := <-done
	return r.outs, r.err
}

// sourceNew(lanes, onLane, onResult, {maxFrames, maxBytes}) makes a source
// and returns its handle.
func sourceNew(args []js.Value) (any, error) {
	if len(args) < 3 || args[0].Type() != js.TypeNumber || args[1].Type() != js.TypeFunction || args[2].Type() != js.TypeFunction {
		return nil, errors.New("sourceNew takes a lane count, onLane and onResult")
	}
	n := args[0].Int()
	if n < 1 || n > 64 {
		return nil, errors.New("a source needs 1..64 lanes, got " + strconv.Itoa(n))
	}
	src := &source{onLane: args[1], onResult: args[2], dets: map[*engine.Box][]any{}, isDetector: map[string]bool{}}
	// The views are made here while the pool's workers run: prefetching
	// them overlaps the two.
	opt := engine.SchedulerOptions{Prefetch: true}
	if len(args) > 3 && args[3].Type() == js.TypeObject {
		opt.Provider.MaxFrames = intField(args[3], "maxFrames")
		opt.Provider.MaxBytes = intField(args[3], "maxBytes")
	}
	for i := 0; i < n; i++ {
		opt.Lanes = append(opt.Lanes, lane{src.onLane, i})
	}
	s, err := engine.NewScheduler(opt)
	if err != nil {
		return nil, err
	}
	src.s = s
	id := newHandle()
	sources[id] = src
	return id, nil
}

func intField(o js.Value, name string) int {
	if v := o.Get(name); v.Type() == js.TypeNumber {
		return v.Int()
	}
	return 0
}

func numField(o js.Value, name string, def float64) float64 {
	if v := o.Get(name); v.Type() == js.TypeNumber {
		return v.Float()
	}
	return def
}

func strField(o js.Value, name string) string {
	if v := o.Get(name); v.Type() == js.TypeString {
		return v.String()
	}
	return ""
}

// viewArg reads a view from its JS form, {crop, box, square, enlarge,
// width, height, fit, resize, color, mean, std, layout}; edgenn.js has
// already checked the option names and types.
func viewArg(o js.Value) (engine.View, error) {
	v := engine.View{
		Crop: strField(o, "crop"), Square: o.Get("square").Truthy(), Enlarge: float32(numField(o, "enlarge", 0)),
		Width: intField(o, "width"), Height: intField(o, "height"),
		Fit: strField(o, "fit"), Resize: strField(o, "resize"), Color: strField(o, "color"), Layout: strField(o, "layout"),
	}
	if b := o.Get("box"); b.Type() == js.TypeObject {
		if b.Length() != 4 {
			return v, errors.New("view: box takes [x0, y0, x1, y1]")
		}
		v.Box = engine.Box{X0: float32(b.Index(0).Float()), Y0: float32(b.Index(1).Float()), X1: float32(b.Index(2).Float()), Y1: float32(b.Index(3).Float())}
	}
	for _, f := range []struct {
		name string
		dst  *[3]float32
	}{{"mean", &v.Mean}, {"std", &v.Std}} {
		a := o.Get(f.name)
		switch a.Type() {
		case js.TypeNumber:
			*f.dst = [3]float32{float32(a.Float()), float32(a.Float()), float32(a.Float())}
		case js.TypeObject:
			if a.Length() != v.Channels() {
				return v, errors.New("view: " + f.name + " needs " + strconv.Itoa(v.Channels()) + " values, one a channel")
			}
			for c := 0; c < a.Length(); c++ {
				f.dst[c] = float32(a.Index(c).Float())
			}
		}
	}
	return v, v.Check()
}

// sourceAttach(handle, task) adds a task: {name, priority, rate, from,
// maxBoxes, maxRuns, view, inputShape, detector: {spec, outputShapes, minScore, iou,
// maxOut}}. The view must fit the model's input (inputShape without the
// batch dimension).
func sourceAttach(src *source, args []js.Value) (any, error) {
	if len(args) != 1 || args[0].Type() != js.TypeObject {
		return nil, errors.New("attach takes a task description")
	}
	o := args[0]
	t := engine.Task{Name: strField(o, "name"), Priority: intField(o, "priority"), Rate: numField(o, "rate", 0),
		From: strField(o, "from"), MaxBoxes: intField(o, "maxBoxes"), MaxRuns: intField(o, "maxRuns")}
	v, err := viewArg(o.Get("view"))
	if err != nil {
		return nil, errors.New("task " + strconv.Quote(t.Name) + ": " + err.Error())
	}
	t.View = v
	if shp := o.Get("inputShape"); shp.Type() == js.TypeObject {
		have := make([]int, shp.Length())
		for i := range have {
			have[i] = shp.Index(i).Int()
		}
		if want := v.Shape(); !slices.Equal(have, want) {
			return nil, errors.New("task " + strconv.Quote(t.Name) + ": the model's input " + model.ShapeString(have) + " does not fit the view's " + model.ShapeString(want))
		}
	}
	if d := o.Get("detector"); d.Type() == js.TypeObject {
		boxes, err := src.detector(t.Name, v, d)
		if err != nil {
			return nil, errors.New("task " + strconv.Quote(t.Name) + ": " + err.Error())
		}
		t.Boxes = boxes
	}
	name := t.Name
	if err := src.s.Add(t, func(r engine.Result) { src.deliver(name, r) }); err != nil {
		return nil, err
	}
	if t.Boxes != nil {
		src.isDetector[name] = true
	}
	return nil, nil
}

// detector returns the Boxes function of a detector task: its outputs
// decoded as its metadata says, mapped from the view back to the frame.
func (src *source) detector(task string, v engine.View, d js.Value) (func([][]float32, int, int) ([]engine.Box, error), error) {
	det, err := engine.ParseDetector(strField(d, "spec"))
	if err != nil {
		return nil, err
	}
	var shapes [][]int
	if s := d.Get("outputShapes"); s.Type() == js.TypeObject {
		for i := 0; i < s.Length(); i++ {
			var shp []int
			for k := 0; k < s.Index(i).Length(); k++ {
				shp = append(shp, s.Index(i).Index(k).Int())
			}
			shapes = append(shapes, shp)
		}
	}
	minScore, iou, maxOut := float32(numField(d, "minScore", 0.5)), float32(numField(d, "iou", 0.3)), int(numField(d, "maxOut", 8))
	return func(outs [][]float32, fw, fh int) ([]engine.Box, error) {
		raw, err := det.Gather(outs, shapes, nil)
		if err != nil {
			return nil, err
		}
		found, err := det.Decode(raw, minScore, iou, maxOut)
		if err != nil {
			return nil, err
		}
		boxes := make([]engine.Box, 0, len(found))
		dets := make([]any, 0, len(found))
		for _, f := range found {
			b, err := v.ToFrame(fw, fh, engine.Box{}, engine.Box{X0: f.Box[0], Y0: f.Box[1], X1: f.Box[2], Y1: f.Box[3]})
			if err != nil {
				return nil, err
			}
			kps := make([]any, len(f.Keypoints))
			for k, p := range f.Keypoints {
				q, _ := v.ToFrame(fw, fh, engine.Box{}, engine.Box{X0: p[0], Y0: p[1], X1: p[0], Y1: p[1]})
				kps[k] = []any{float64(q.X0), float64(q.Y0)}
			}
			boxes = append(boxes, b)
			dets = append(dets, map[string]any{"score": float64(f.Score), "box": boxJS(b), "keypoints": kps})
		}
		if len(boxes) > 0 {
			src.keepDets(&boxes[0], dets)
		}
		return boxes, nil
	}, nil
}

// keepDets files a run's detections under its boxes until delivery,
// keeping at most the 16 newest runs'.
func (src *source) keepDets(key *engine.Box, dets []any) {
	src.dets[key] = dets
	src.detOrder = append(src.detOrder, key)
	if len(src.detOrder) > 16 {
		delete(src.dets, src.detOrder[0])
		src.detOrder = slices.Delete(src.detOrder, 0, 1)
	}
}

func boxJS(b engine.Box) []any {
	return []any{float64(b.X0), float64(b.Y0), float64(b.X1), float64(b.Y1)}
}

// deliver hands a result to JS.
func (src *source) deliver(task string, r engine.Result) {
	res := map[string]any{"task": task, "frame": float64(r.Frame), "batch": r.Batch,
		"latencyMs": r.Latency.Seconds() * 1e3, "computeMs": r.Compute.Seconds() * 1e3}
	if r.Err != nil {
		res["error"] = "edgenn: task " + strconv.Quote(task) + ": " + r.Err.Error()
	} else {
		outs := make([]any, len(r.Outputs))
		for i, o := range r.Outputs {
			outs[i] = floatsOut(o)
		}
		res["outputs"] = outs
		boxes := make([]any, len(r.Boxes))
		for i, b := range r.Boxes {
			boxes[i] = boxJS(b)
		}
		res["boxes"] = boxes
		if src.isDetector[task] {
			res["detections"] = []any{}
			if len(r.Boxes) > 0 {
				if d, ok := src.dets[&r.Boxes[0]]; ok {
					res["detections"] = d
					delete(src.dets, &r.Boxes[0])
					src.detOrder = slices.DeleteFunc(src.detOrder, func(k *engine.Box) bool { return k == &r.Boxes[0] })
				}
			}
		}
	}
	src.onResult.Invoke(res)
}

// sourcePush(handle, id, timeMs, width, height, rgba Uint8Array) adds a frame.
func sourcePush(src *source, args []js.Value) (any, error) {
	if len(args) != 5 || args[4].Type() != js.TypeObject || !args[4].InstanceOf(uint8Array) {
		return nil, errors.New("push takes id, time, width, height and the RGBA bytes (Uint8Array or Uint8ClampedArray)")
	}
	n := args[4].Length()
	if cap(src.rgba) < n {
		src.rgba = make([]byte, n)
	}
	src.rgba = src.rgba[:n]
	jsBytes += n
	js.CopyBytesToGo(src.rgba, args[4])
	f := engine.Frame{ID: uint64(args[0].Float()), Time: int64(args[1].Float() * 1e6), Width: args[2].Int(), Height: args[3].Int(), RGBA: src.rgba}
	return nil, src.s.Push(f)
}

// sourceMetrics(handle) returns each task's metrics and the provider's counters.
func sourceMetrics(src *source, _ []js.Value) (any, error) {
	ms := src.s.Metrics()
	tasks := make([]any, len(ms))
	for i, m := range ms {
		tasks[i] = map[string]any{"name": m.Name, "priority": m.Priority, "runs": float64(m.Runs), "dropped": float64(m.Dropped),
			"skipped": float64(m.Skipped), "errors": float64(m.Errors), "shed": m.Shed,
			"rate": m.Rate, "targetRate": m.TargetRate, "effectiveRate": m.EffectiveRate, "computeMs": m.Compute.Seconds() * 1e3,
			"p50Ms": m.P50.Seconds() * 1e3, "p95Ms": m.P95.Seconds() * 1e3, "share": m.Share}
		lr := make([]any, len(m.LaneRuns))
		for k, n := range m.LaneRuns {
			lr[k] = float64(n)
		}
		tasks[i].(map[string]any)["laneRuns"] = lr
	}
	st := src.s.Provider().Stats()
	return map[string]any{"tasks": tasks, "provider": map[string]any{"frames": float64(st.Frames), "agedOut": float64(st.AgedOut),
		"prepared": float64(st.Prepared), "shared": float64(st.Shared), "bytes": st.Bytes}}, nil
}

// sourceClose(handle) stops a source; its runs in flight finish first.
func sourceClose(src *source, _ []js.Value) (any, error) {
	for id, x := range sources {
		if x == src {
			delete(sources, id)
		}
	}
	go src.s.Close() // waits for lanes that wait on JS: never block the caller
	return nil, nil
}

// withSource is with for sources, written out (see with).
func withSource(f func(src *source, args []js.Value) (any, error)) func([]js.Value) (any, error) {
	return func(args []js.Value) (any, error) {
		id, err := handleArg(args, "source")
		if err != nil {
			return nil, err
		}
		src, ok := sources[id]
		if !ok {
			return nil, noHandle("source", id)
		}
		return f(src, args[1:])
	}
}
