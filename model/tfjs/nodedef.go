package tfjs

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"

	"github.com/edgenn/edgenn/model"
)

// graphTopology is a graph model's modelTopology: TensorFlow's GraphDef in
// protobuf's JSON mapping.
type graphTopology struct {
	Node    []nodeDef       `json:"node"`
	Library json.RawMessage `json:"library"`
}

type nodeDef struct {
	Name  string               `json:"name"`
	Op    string               `json:"op"`
	Input []string             `json:"input"`
	Attr  map[string]attrValue `json:"attr"`
}

// attrValue is TensorFlow's AttrValue; the JSON mapping writes 64-bit ints
// as strings and bytes as base64.
type attrValue struct {
	S     *string     `json:"s"`
	I     *flexInt    `json:"i"`
	F     *flexFloat  `json:"f"`
	B     *bool       `json:"b"`
	Type  string      `json:"type"`
	Shape *shapeProto `json:"shape"`
	List  *listValue  `json:"list"`
}

type listValue struct {
	S     []string     `json:"s"`
	I     []flexInt    `json:"i"`
	F     []flexFloat  `json:"f"`
	B     []bool       `json:"b"`
	Type  []string     `json:"type"`
	Shape []shapeProto `json:"shape"`
}

type shapeProto struct {
	Dim []struct {
		Size flexInt `json:"size"`
	} `json:"dim"`
	UnknownRank bool `json:"unknownRank"`
}

// flexInt reads an integer written as a JSON number or a string.
type flexInt int64

func (v *flexInt) UnmarshalJSON(b []byte) error {
	s := string(bytes.Trim(b, `"`))
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return errors.New("bad integer " + quoteShort(string(b)))
	}
	*v = flexInt(n)
	return nil
}

// flexFloat reads a float written as a JSON number or a string ("NaN",
// "Infinity", "-Infinity").
type flexFloat float64

func (v *flexFloat) UnmarshalJSON(b []byte) error {
	s := string(bytes.Trim(b, `"`))
	switch s {
	case "NaN":
		*v = flexFloat(math.NaN())
		return nil
	case "Infinity":
		*v = flexFloat(math.Inf(1))
		return nil
	case "-Infinity":
		*v = flexFloat(math.Inf(-1))
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return errors.New("bad float " + quoteShort(string(b)))
	}
	*v = flexFloat(f)
	return nil
}

func quoteShort(s string) string {
	if len(s) > 64 {
		return strconv.Quote(s[:64]) + "..."
	}
	return strconv.Quote(s)
}

// The attribute readers return a refusal naming the attribute when its value
// is malformed.

func (n *nodeDef) has(key string) bool { _, ok := n.Attr[key]; return ok }

func (n *nodeDef) str(key, def string) (string, error) {
	a, ok := n.Attr[key]
	if !ok || a.S == nil {
		return def, nil
	}
	b, err := base64.StdEncoding.DecodeString(*a.S)
	if err != nil {
		return "", refuse("attribute " + key + ": bad base64")
	}
	return string(b), nil
}

func (n *nodeDef) strs(key string) ([]string, error) {
	a, ok := n.Attr[key]
	if !ok || a.List == nil {
		return nil, nil
	}
	out := make([]string, len(a.List.S))
	for i, s := range a.List.S {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, refuse("attribute " + key + ": bad base64")
		}
		out[i] = string(b)
	}
	return out, nil
}

// intv returns an integer attribute within [-MaxDim, MaxDim].
func (n *nodeDef) intv(key string, def int) (int, error) {
	a, ok := n.Attr[key]
	if !ok || a.I == nil {
		return def, nil
	}
	if v := int64(*a.I); v >= -model.MaxDim && v <= model.MaxDim {
		return int(v), nil
	}
	return 0, refuse("attribute " + key + " out of range")
}

// ints returns an integer-list attribute, nil when absent.
func (n *nodeDef) ints(key string) ([]int, error) {
	a, ok := n.Attr[key]
	if !ok || a.List == nil {
		return nil, nil
	}
	out := make([]int, len(a.List.I))
	for i, v := range a.List.I {
		if v < -model.MaxDim || v > model.MaxDim {
			return nil, refuse("attribute " + key + " out of range")
		}
		out[i] = int(v)
	}
	return out, nil
}

func (n *nodeDef) float(key string, def float32) float32 {
	a, ok := n.Attr[key]
	if !ok || a.F == nil {
		return def
	}
	return float32(*a.F)
}

func (n *nodeDef) boolean(key string, def bool) bool {
	a, ok := n.Attr[key]
	if !ok || a.B == nil {
		return def
	}
	return *a.B
}

// dtype returns a type attribute ("DT_FLOAT"), or "" when absent.
func (n *nodeDef) dtype(key string) string {
	if a, ok := n.Attr[key]; ok {
		return a.Type
	}
	return ""
}

// dataInputs splits a node's inputs into data inputs ("node" or "node:k",
// normalised so that "node:0" is "node") and drops control inputs ("^node").
func (n *nodeDef) dataInputs() []string {
	out := make([]string, 0, len(n.Input))
	for _, in := range n.Input {
		if strings.HasPrefix(in, "^") {
			continue
		}
		out = append(out, valueKey(in))
	}
	return out
}

// valueKey normalises a tensor name: "x:0" -> "x", "x:1" stays.
func valueKey(in string) string {
	return strings.TrimSuffix(in, ":0")
}

// nodeOf returns the node name of a tensor name: "x:1" -> "x".
func nodeOf(in string) string {
	if i := strings.LastIndexByte(in, ':'); i >= 0 {
		if _, err := strconv.Atoi(in[i+1:]); err == nil {
			return in[:i]
		}
	}
	return in
}

// orderedKeys returns the keys of a JSON object in the order written (the
// order TF.js takes signature entries in), or nil when raw is not an object.
func orderedKeys(raw json.RawMessage) []string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var keys []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return keys
		}
		k, _ := t.(string)
		keys = append(keys, k)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return keys
		}
	}
	return keys
}
