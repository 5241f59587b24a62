package onnx

import (
	"errors"
	"math"
	"strconv"
)

// attrs reads a node's attributes, keeping the first error so that a handler
// checks once after reading them all.
type attrs struct {
	n   *nodeProto
	err error
}

func (a *attrs) get(name string, typ int32) *attrProto {
	for _, at := range a.n.attrs {
		if at.name != name {
			continue
		}
		if at.typ != typ {
			a.fail(errors.New("attribute " + strconv.Quote(name) + " has type " + attrTypeName(at.typ) + ", want " + attrTypeName(typ)))
			return nil
		}
		return at
	}
	return nil
}

func (a *attrs) fail(err error) {
	if a.err == nil {
		a.err = err
	}
}

func (a *attrs) has(name string) bool {
	for _, at := range a.n.attrs {
		if at.name == name {
			return true
		}
	}
	return false
}

func (a *attrs) int(name string, def int) int {
	at := a.get(name, attrInt)
	if at == nil {
		return def
	}
	if at.i > 1<<40 || at.i < -(1<<40) {
		a.fail(errors.New("attribute " + strconv.Quote(name) + " = " + strconv.FormatInt(at.i, 10) + " is out of range"))
		return def
	}
	return int(at.i)
}

func (a *attrs) float(name string, def float32) float32 {
	at := a.get(name, attrFloat)
	if at == nil {
		return def
	}
	return at.f
}

func (a *attrs) str(name, def string) string {
	at := a.get(name, attrString)
	if at == nil {
		return def
	}
	return string(at.s)
}

// ints returns an integer-list attribute (nil when absent), each value
// clamped to +-2^40 so that later arithmetic cannot overflow.
func (a *attrs) ints(name string) []int {
	at := a.get(name, attrInts)
	if at == nil {
		return nil
	}
	out := make([]int, len(at.ints))
	for i, v := range at.ints {
		out[i] = clampInt(v)
	}
	return out
}

func (a *attrs) floats(name string) []float32 {
	at := a.get(name, attrFloats)
	if at == nil {
		return nil
	}
	return at.floats
}

func (a *attrs) tensor(name string) *tensorProto {
	at := a.get(name, attrTensor)
	if at == nil {
		return nil
	}
	return at.t
}

func clampInt(v int64) int {
	const lim = 1 << 40
	switch {
	case v > lim:
		return lim
	case v < -lim:
		return -lim
	}
	return int(v)
}

func attrTypeName(t int32) string {
	switch t {
	case attrFloat:
		return "float"
	case attrInt:
		return "int"
	case attrString:
		return "string"
	case attrTensor:
		return "tensor"
	case attrGraph:
		return "graph"
	case attrFloats:
		return "floats"
	case attrInts:
		return "ints"
	case attrStrings:
		return "strings"
	case attrTensors:
		return "tensors"
	case attrGraphs:
		return "graphs"
	case attrSparse, attrSparses:
		return "sparse tensor"
	case attrTypeP, attrTypePs:
		return "type proto"
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

var maxFloat32 = float32(math.MaxFloat32)
