package model

import (
	"errors"
	"sort"
	"strings"
)

// ImportReport says what an importer (model/onnx, model/tfjs) made of a
// source model: which source ops it mapped and how often, what it folded
// away at import, and every node it could not take.
type ImportReport struct {
	Format      string         // "onnx", "tfjs-graph", "tfjs-layers"
	Mapped      map[string]int // source op -> nodes mapped
	Folded      []string       // what was computed at import (constant chains, layout changes)
	Unsupported []UnsupportedNode
	Notes       []string // anything else a user should know (a layout kept at the boundary, ...)
}

// UnsupportedNode is one source node an importer cannot map.
type UnsupportedNode struct {
	Node, Op, Why string
}

// Map records one mapped source node.
func (r *ImportReport) Map(op string) {
	if r.Mapped == nil {
		r.Mapped = map[string]int{}
	}
	r.Mapped[op]++
}

// Refuse records a node the importer cannot map.
func (r *ImportReport) Refuse(node, op, why string) {
	r.Unsupported = append(r.Unsupported, UnsupportedNode{Node: node, Op: op, Why: why})
}

// Err returns nil when every node was mapped, else one error listing every
// unsupported node (not just the first), grouped by op.
func (r *ImportReport) Err() error {
	if len(r.Unsupported) == 0 {
		return nil
	}
	byOp := map[string][]string{}
	for _, u := range r.Unsupported {
		n := strconvQuote(u.Node)
		if u.Why != "" {
			n += " (" + u.Why + ")"
		}
		byOp[u.Op] = append(byOp[u.Op], n)
	}
	ops := make([]string, 0, len(byOp))
	for op := range byOp {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	var b strings.Builder
	b.WriteString(r.Format + ": " + itoa(len(r.Unsupported)) + " unsupported node(s):")
	for _, op := range ops {
		b.WriteString("\n  " + op + ": " + strings.Join(byOp[op], ", "))
	}
	return errors.New(b.String())
}

func strconvQuote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }
