package engine

import (
	"errors"
	"sort"
	"strconv"

	"github.com/edgenn/edgenn/model"
)

// plan is a session compiled for one batch size: the arena, the kernel
// scratch, and one bound step per node.
type plan struct {
	batch   int
	arena   []float32
	scratch []float32
	steps   []step
	inputs  [][]float32 // views of the arena, in session input order
	outputs [][]float32 // views of the arena, in session output order
	values  map[string]*value
}

type step struct {
	node *model.Node
	run  func()
}

// value is one activation buffer the planner places in the arena.
type value struct {
	name       string
	size       int
	first      int    // index of the step that writes it; -1 for graph inputs
	last       int    // index of the last step that reads it
	aliasOf    *value // set for views (Reshape, Flatten): shares its root's space
	offset     int
	isConstant bool
	data       []float32 // constants only
}

func (v *value) root() *value {
	for v.aliasOf != nil {
		v = v.aliasOf
	}
	return v
}

// buildPlan infers shapes for batch, prepares every node's kernel, places the
// activations in one arena and binds the steps to their buffers.
func buildPlan(s *Session, batch int) (*plan, error) {
	g := s.g
	shapes, err := model.InferShapes(g, batch)
	if err != nil {
		return nil, err
	}
	vals := map[string]*value{}
	for _, t := range g.Tensors {
		vals[t.Name] = &value{name: t.Name, isConstant: true, data: t.Data, size: len(t.Data)}
	}
	for _, in := range g.Inputs {
		vals[in.Name] = &value{name: in.Name, size: model.NumElements(shapes[in.Name]), first: -1}
	}
	preps := make([]prepared, len(g.Nodes))
	copies := make([]bool, len(g.Nodes)) // views of constants: copied, not aliased
	scratch := 0
	for i, n := range g.Nodes {
		c := &opCtx{s: s, n: n, batch: batch}
		for _, name := range n.Inputs {
			if name == "" {
				c.inShapes = append(c.inShapes, nil)
				c.consts = append(c.consts, nil)
				continue
			}
			c.inShapes = append(c.inShapes, shapes[name])
			c.consts = append(c.consts, g.Tensor(name))
		}
		for _, name := range n.Outputs {
			c.outShapes = append(c.outShapes, shapes[name])
		}
		p, err := prepare(c)
		if err != nil {
			return nil, nodeError(n, err)
		}
		preps[i] = p
		scratch = max(scratch, p.scratch)
		for j, name := range n.Outputs {
			v := &value{name: name, size: model.NumElements(shapes[name]), first: i}
			if j == 0 && p.alias {
				if src := vals[n.Inputs[0]]; src.isConstant {
					copies[i] = true // only when folding constants
				} else {
					v.aliasOf = src
				}
			}
			vals[name] = v
		}
		for _, name := range n.Inputs {
			if name == "" {
				continue
			}
			r := vals[name].root()
			r.last = max(r.last, i)
		}
	}
	end := len(g.Nodes)
	for _, o := range g.Outputs {
		r := vals[o.Name].root()
		r.last = end
	}
	// An alias keeps its root alive as long as the alias itself is read.
	for _, n := range g.Nodes {
		for _, name := range n.Outputs {
			v := vals[name]
			if v.aliasOf != nil {
				r := v.root()
				r.last = max(r.last, v.last)
			}
		}
	}
	total := placeValues(vals)
	if total > maxArenaFloats {
		return nil, errors.New("engine: batch " + strconv.Itoa(batch) + " needs " + strconv.Itoa(total*4) + " bytes of activations, above the limit")
	}
	p := &plan{batch: batch, arena: make([]float32, total), scratch: make([]float32, scratch), values: vals}
	view := func(name string) []float32 {
		v := vals[name]
		if v.isConstant {
			return v.data
		}
		r := v.root()
		return p.arena[r.offset : r.offset+v.size : r.offset+v.size]
	}
	for i, n := range g.Nodes {
		in := make([][]float32, len(n.Inputs))
		for j, name := range n.Inputs {
			if name != "" {
				in[j] = view(name)
			}
		}
		out := make([][]float32, len(n.Outputs))
		for j, name := range n.Outputs {
			out[j] = view(name)
		}
		run := preps[i].bind(in, out, p.scratch[:preps[i].scratch])
		if copies[i] {
			x, y := in[0], out[0]
			run = func() { copy(y, x) }
		}
		if run != nil { // views need no step
			p.steps = append(p.steps, step{node: n, run: run})
		}
	}
	for _, in := range g.Inputs {
		p.inputs = append(p.inputs, view(in.Name))
	}
	for _, o := range g.Outputs {
		p.outputs = append(p.outputs, view(o.Name))
	}
	return p, nil
}

// maxArenaFloats bounds one plan's activation memory (4 GiB is wasm32's whole
// address space; stay well below it).
const maxArenaFloats = 1 << 29

// placeValues assigns arena offsets: largest buffers first, each at the lowest
// offset that does not overlap a placed buffer whose lifetime intersects its
// own. It returns the arena length in float32s.
func placeValues(vals map[string]*value) int {
	var roots []*value
	for _, v := range vals {
		if !v.isConstant && v.aliasOf == nil {
			roots = append(roots, v)
		}
	}
	sort.Slice(roots, func(i, j int) bool {
		if roots[i].size != roots[j].size {
			return roots[i].size > roots[j].size
		}
		return roots[i].name < roots[j].name
	})
	total := 0
	var placed []*value
	for _, v := range roots {
		var busy [][2]int
		for _, u := range placed {
			if u.first <= v.last && v.first <= u.last {
				busy = append(busy, [2]int{u.offset, u.offset + u.size})
			}
		}
		sort.Slice(busy, func(i, j int) bool { return busy[i][0] < busy[j][0] })
		off := 0
		for _, b := range busy {
			if off+v.size <= b[0] {
				break
			}
			off = max(off, align(b[1]))
		}
		v.offset = off
		placed = append(placed, v)
		total = max(total, off+v.size)
	}
	return total
}

// align rounds n float32s up to 16 bytes, the width of a SIMD load.
func align(n int) int { return (n + 3) &^ 3 }

func nodeError(n *model.Node, err error) error {
	return errors.New("engine: node " + strconv.Quote(n.Name) + " (" + n.Op + "): " + err.Error())
}
