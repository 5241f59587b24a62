//go:build js && wasm

package main

import (
	"strconv"
	"syscall/js"
	"unsafe"

	"github.com/edgenn/edgenn/engine"
	"github.com/edgenn/edgenn/kernels"
	"github.com/edgenn/edgenn/model"
)

// version is the module's API version.
const version = "0.1.0"

type handle struct {
	s   *engine.Session
	ins [][]float32 // reused input buffers
}

var (
	handles    = map[int]*handle{}
	nextHandle = 1
	jsError    = js.Global().Get("Error")
	uint8Array = js.Global().Get("Uint8Array")
	f32Array   = js.Global().Get("Float32Array")
)

func fail(msg string) js.Value { return jsError.New("edgenn: " + msg) }

func lookup(args []js.Value) (*handle, js.Value, bool) {
	if len(args) == 0 || args[0].Type() != js.TypeNumber {
		return nil, fail("expected a model handle"), false
	}
	h, ok := handles[args[0].Int()]
	if !ok {
		return nil, fail("no model with handle " + strconv.Itoa(args[0].Int()) + " (freed?)"), false
	}
	return h, js.Undefined(), true
}

func load(_ js.Value, args []js.Value) any {
	if len(args) != 1 || !args[0].InstanceOf(uint8Array) {
		return fail("load takes one Uint8Array with the .enn file")
	}
	data := make([]byte, args[0].Length())
	js.CopyBytesToGo(data, args[0])
	g, err := model.Decode(data)
	if err != nil {
		return fail(err.Error())
	}
	s, err := engine.NewSession(g)
	if err != nil {
		return fail(err.Error())
	}
	id := nextHandle
	nextHandle++
	handles[id] = &handle{s: s, ins: make([][]float32, len(s.Inputs()))}
	return id
}

func describe(v []engine.ValueInfo) js.Value {
	arr := js.Global().Get("Array").New(len(v))
	for i, x := range v {
		shape := make([]any, len(x.Shape))
		for j, d := range x.Shape {
			shape[j] = d
		}
		arr.SetIndex(i, js.ValueOf(map[string]any{"name": x.Name, "shape": shape}))
	}
	return arr
}

func run(_ js.Value, args []js.Value) any {
	h, e, ok := lookup(args)
	if !ok {
		return e
	}
	xs := args[1:]
	if len(xs) != len(h.ins) {
		return fail("run got " + strconv.Itoa(len(xs)) + " inputs, the model takes " + strconv.Itoa(len(h.ins)))
	}
	for i, x := range xs {
		if !x.InstanceOf(f32Array) {
			return fail("input " + strconv.Itoa(i) + " is not a Float32Array")
		}
		n := x.Length()
		if cap(h.ins[i]) < n {
			h.ins[i] = make([]float32, n)
		}
		h.ins[i] = h.ins[i][:n]
		js.CopyBytesToGo(floatBytes(h.ins[i]), uint8Array.New(x.Get("buffer"), x.Get("byteOffset"), x.Get("byteLength")))
	}
	outs, err := h.s.Run(h.ins...)
	if err != nil {
		return fail(err.Error())
	}
	res := js.Global().Get("Array").New(len(outs))
	for i, o := range outs {
		t := f32Array.New(len(o))
		js.CopyBytesToJS(uint8Array.New(t.Get("buffer")), floatBytes(o))
		res.SetIndex(i, t)
	}
	return res
}

// floatBytes views a float32 slice as its little-endian bytes (wasm is
// little-endian), so tensors cross the boundary in one copy.
func floatBytes(f []float32) []byte {
	if len(f) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), 4*len(f))
}

func main() {
	api := js.Global().Get("Object").New()
	api.Set("version", version)
	api.Set("simd", kernels.SIMD)
	api.Set("load", js.FuncOf(load))
	api.Set("run", js.FuncOf(run))
	api.Set("inputs", js.FuncOf(func(_ js.Value, args []js.Value) any {
		h, e, ok := lookup(args)
		if !ok {
			return e
		}
		return describe(h.s.Inputs())
	}))
	api.Set("outputs", js.FuncOf(func(_ js.Value, args []js.Value) any {
		h, e, ok := lookup(args)
		if !ok {
			return e
		}
		return describe(h.s.Outputs())
	}))
	api.Set("free", js.FuncOf(func(_ js.Value, args []js.Value) any {
		if _, e, ok := lookup(args); !ok {
			return e
		}
		delete(handles, args[0].Int())
		return js.Undefined()
	}))
	js.Global().Set("edgenn", api)
	if ready := js.Global().Get("edgennReady"); ready.Type() == js.TypeFunction {
		ready.Invoke(api)
	}
	select {} // keep the Go instance alive for calls from JS
}
