//go:build js && wasm

package main

import (
	"errors"
	"strconv"
	"syscall/js"

	"github.com/edgenn/edgenn/engine"
)

// Split execution, for offloading part of a model to a peer
// (engine/peer/OFFLOAD.md): the cuts of the compiled graph priced by a
// profile, the head up to a cut and the tail from one. The halves are
// compiled once per cut and kept with the model.

// halves is one cut's compiled head and tail; either is nil until first used.
type halves struct {
	cut        engine.Cut
	head, tail *engine.Session
}

// cutsOf returns the cuts of m's compiled graph, computed once.
func (m *loaded) cutsOf() ([]engine.Cut, error) {
	if m.cuts == nil {
		cuts, err := engine.Cuts(m.s.Graph())
		if err != nil {
			return nil, err
		}
		m.cuts = cuts
		m.split = make([]halves, len(cuts))
		for i, c := range cuts {
			m.split[i].cut = c
		}
	}
	return m.cuts, nil
}

// half returns the compiled head or tail of cut i.
func (m *loaded) half(i int, tail bool) (*engine.Session, error) {
	h := &m.split[i]
	if s := h.head; !tail && s != nil {
		return s, nil
	}
	if s := h.tail; tail && s != nil {
		return s, nil
	}
	head, tl, err := engine.Split(m.s.Graph(), h.cut)
	if err != nil {
		return nil, err
	}
	g := head
	if tail {
		g = tl
	}
	s, err := engine.NewSession(g)
	if err != nil {
		return nil, err
	}
	if tail {
		h.tail = s
	} else {
		h.head = s
	}
	return s, nil
}

// cuts(handle, runs, ...inputs) profiles the model (runs runs on inputs) and
// returns its cuts in order: [{index, tensor, shape, bytes, headMs}], headMs
// the profiled time of the nodes before the cut (cumulative; the last cut
// keeps the model local and its headMs is the whole model's).
func cuts(m *loaded, args []js.Value) (any, error) {
	if len(args) < 1 || args[0].Type() != js.TypeNumber {
		return nil, errors.New("cuts takes a handle, a number of runs and the inputs")
	}
	cs, err := m.cutsOf()
	if err != nil {
		return nil, err
	}
	ins, err := m.inputsArg(args[1:])
	if err != nil {
		return nil, err
	}
	costs, err := m.s.Profile(args[0].Int(), ins...)
	if err != nil {
		return nil, err
	}
	head, _, err := engine.CutCosts(m.s.Graph(), cs, engine.NodeTimes(costs))
	if err != nil {
		return nil, err
	}
	res := make([]any, len(cs))
	for i, c := range cs {
		shape := make([]any, len(c.Shape))
		for j, d := range c.Shape {
			shape[j] = d
		}
		res[i] = map[string]any{"index": c.Index, "tensor": c.Tensor, "shape": shape, "bytes": c.Bytes,
			"headMs": float64(head[i].Nanoseconds()) / 1e6}
	}
	return res, nil
}

// runHead(handle, cut, ...inputs) runs the nodes before cut (a position in
// cuts' list) and returns the value crossing it.
func runHead(m *loaded, args []js.Value) (any, error) {
	i, err := m.cutArg(args)
	if err != nil {
		return nil, err
	}
	s, err := m.half(i, false)
	if err != nil {
		return nil, err
	}
	ins, err := m.inputsArg(args[1:])
	if err != nil {
		return nil, err
	}
	var hin [][]float32
	for j, v := range s.Inputs() { // a head at cut 0 may not read every input
		for k, w := range m.s.Inputs() {
			if w.Name == v.Name {
				hin = append(hin, ins[k])
			}
		}
		if len(hin) != j+1 {
			return nil, errors.New("head input " + strconv.Quote(v.Name) + " is not a model input")
		}
	}
	outs, err := s.Run(hin...)
	if err != nil {
		return nil, err
	}
	return floatsOut(outs[0]), nil
}

// runTail(handle, at, input) runs the model from the value at (a cut's
// tensor, engine.CutAt) on input and returns the model's outputs.
func runTail(m *loaded, args []js.Value) (any, error) {
	if len(args) != 2 || args[0].Type() != js.TypeString {
		return nil, errors.New("runTail takes a handle, a cut's value name and one Float32Array")
	}
	if _, err := m.cutsOf(); err != nil {
		return nil, err
	}
	c, err := engine.CutAt(m.s.Graph(), args[0].String())
	if err != nil {
		return nil, err
	}
	i := 0
	for m.split[i].cut.Index != c.Index {
		i++
	}
	s, err := m.half(i, true)
	if err != nil {
		return nil, err
	}
	x, err := floatsArg(args[1], "the tail's input")
	if err != nil {
		return nil, err
	}
	outs, err := s.Run(x)
	if err != nil {
		return nil, err
	}
	res := make([]any, len(outs))
	for i, o := range outs {
		res[i] = floatsOut(o)
	}
	return res, nil
}

func (m *loaded) cutArg(args []js.Value) (int, error) {
	if len(args) < 1 || args[0].Type() != js.TypeNumber {
		return 0, errors.New("expected a cut's position")
	}
	if _, err := m.cutsOf(); err != nil {
		return 0, err
	}
	i := args[0].Int()
	if i < 0 || i >= len(m.cuts)-1 {
		return 0, errors.New("cut " + strconv.Itoa(i) + " out of range [0, " + strconv.Itoa(len(m.cuts)-1) + ")")
	}
	return i, nil
}
