// Package engine runs edgenn models. A Session compiles a model.Graph once
// (constant folding, BatchNorm folding, bias and activation fusion, weight
// packing), plans the memory of each batch size it meets into one arena in
// which values whose lifetimes do not overlap share space, and runs the whole
// graph in one call that allocates nothing once the plan exists.
package engine

import (
	"errors"
	"strconv"

	"github.com/edgenn/edgenn/model"
)

// maxPlans bounds how many batch sizes a Session keeps compiled plans for.
const maxPlans = 4

// Session is a compiled model. It is not safe for concurrent use: one Session
// runs one graph at a time (give each worker its own).
type Session struct {
	g       *model.Graph // the rewritten graph
	kernels map[*model.Node]any
	plans   []*plan // most recently used first
	in      []ioInfo
	out     []ioInfo
}

type ioInfo struct {
	name      string
	shape     []int // with the free batch dimension as -1
	perSample int   // elements per batch item
}

// ValueInfo describes a session input or output.
type ValueInfo struct {
	Name  string
	Shape []int // Shape[0] == -1 is the free batch dimension
}

// NewSession compiles g. g itself is not modified.
func NewSession(g *model.Graph) (*Session, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	cg, err := compile(g)
	if err != nil {
		return nil, err
	}
	s := &Session{g: cg, kernels: map[*model.Node]any{}}
	for _, v := range cg.Inputs {
		s.in = append(s.in, newIOInfo(v))
	}
	for _, v := range cg.Outputs {
		s.out = append(s.out, newIOInfo(v))
	}
	// Build the batch-1 plan now so that errors surface at compile time.
	if _, err := s.plan(1); err != nil {
		return nil, err
	}
	return s, nil
}

func newIOInfo(v model.ValueInfo) ioInfo {
	per := 1
	for i, d := range v.Shape {
		if i == 0 && d < 0 {
			continue
		}
		per *= d
	}
	if len(v.Shape) > 0 && v.Shape[0] > 0 {
		per /= v.Shape[0]
	}
	return ioInfo{name: v.Name, shape: v.Shape, perSample: per}
}

// Inputs describes the session's inputs in the order Run takes them.
func (s *Session) Inputs() []ValueInfo { return describe(s.in) }

// Outputs describes the session's outputs in the order Run returns them.
func (s *Session) Outputs() []ValueInfo { return describe(s.out) }

func describe(v []ioInfo) []ValueInfo {
	r := make([]ValueInfo, len(v))
	for i, x := range v {
		r[i] = ValueInfo{Name: x.name, Shape: append([]int(nil), x.shape...)}
	}
	return r
}

// Graph returns the compiled graph (after folding and fusion).
func (s *Session) Graph() *model.Graph { return s.g }

// Run runs the model on one buffer per input, in Inputs() order. The batch
// size is the length of the first input divided by its per-item size; every
// input must agree. The returned slices alias the session's arena and are
// valid until the next Run; copy them to keep them. After the first Run at a
// given batch size, Run allocates nothing.
func (s *Session) Run(inputs ...[]float32) ([][]float32, error) {
	if len(inputs) != len(s.in) {
		return nil, errors.New("engine: Run got " + strconv.Itoa(len(inputs)) + " inputs, model takes " + strconv.Itoa(len(s.in)))
	}
	batch := 0
	for i, x := range inputs {
		in := s.in[i]
		if in.shape[0] >= 0 { // fixed batch
			if len(x) != in.perSample*in.shape[0] {
				return nil, sizeError(in, len(x))
			}
			if i == 0 {
				batch = in.shape[0]
			}
			continue
		}
		if len(x) == 0 || len(x)%in.perSample != 0 {
			return nil, sizeError(in, len(x))
		}
		b := len(x) / in.perSample
		if batch == 0 {
			batch = b
		} else if b != batch {
			return nil, errors.New("engine: input " + strconv.Quote(in.name) + " has batch " + strconv.Itoa(b) + ", earlier inputs have " + strconv.Itoa(batch))
		}
	}
	if batch > maxBatch {
		return nil, errors.New("engine: batch " + strconv.Itoa(batch) + " exceeds the limit of " + strconv.Itoa(maxBatch))
	}
	p, err := s.plan(batch)
	if err != nil {
		return nil, err
	}
	for i, x := range inputs {
		copy(p.inputs[i], x)
	}
	for i := range p.steps {
		p.steps[i].run()
	}
	return p.outputs, nil
}

// maxBatch bounds the batch size a caller can ask for, so that a bad input
// length cannot make the planner allocate without limit.
const maxBatch = 1 << 12

func sizeError(in ioInfo, got int) error {
	return errors.New("engine: input " + strconv.Quote(in.name) + " of shape " + model.ShapeString(in.shape) +
		" needs a multiple of " + strconv.Itoa(in.perSample) + " float32s, got " + strconv.Itoa(got))
}

// plan returns the compiled plan for batch, building it on first use.
func (s *Session) plan(batch int) (*plan, error) {
	for i, p := range s.plans {
		if p.batch == batch {
			if i > 0 { // move to front without allocating
				copy(s.plans[1:i+1], s.plans[:i])
				s.plans[0] = p
			}
			return p, nil
		}
	}
	p, err := buildPlan(s, batch)
	if err != nil {
		return nil, err
	}
	if len(s.plans) == maxPlans {
		s.plans = s.plans[:maxPlans-1]
	}
	s.plans = append([]*plan{p}, s.plans...)
	return p, nil
}

// ArenaBytes returns the bytes of activation memory the plan for batch uses
// (the arena plus kernel scratch), building the plan if needed.
func (s *Session) ArenaBytes(batch int) (int, error) {
	p, err := s.plan(batch)
	if err != nil {
		return 0, err
	}
	return 4 * (len(p.arena) + len(p.scratch)), nil
}
