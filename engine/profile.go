package engine

import (
	"sort"
	"time"
)

// NodeCost is the measured cost of one compiled node: the median and minimum
// of its wall time over the profiled runs.
type NodeCost struct {
	Name   string
	Op     string
	Median time.Duration
	Min    time.Duration
}

// Profile runs the model runs times on inputs, as Run does, timing every
// compiled node, and returns the per-node costs in execution order. These are
// the per-layer costs an offload planner splits a network by. Profile
// allocates for its bookkeeping; Run stays allocation-free.
func (s *Session) Profile(runs int, inputs ...[]float32) ([]NodeCost, error) {
	if runs < 1 {
		runs = 1
	}
	if _, err := s.Run(inputs...); err != nil { // validates, builds the plan
		return nil, err
	}
	p := s.plans[0]
	times := make([][]time.Duration, len(p.steps))
	for i := range times {
		times[i] = make([]time.Duration, runs)
	}
	for r := 0; r < runs; r++ {
		for i, x := range inputs {
			copy(p.inputs[i], x)
		}
		for i := range p.steps {
			t0 := time.Now()
			p.steps[i].run()
			times[i][r] = time.Since(t0)
		}
	}
	costs := make([]NodeCost, len(p.steps))
	for i, st := range p.steps {
		ts := times[i]
		sort.Slice(ts, func(a, b int) bool { return ts[a] < ts[b] })
		costs[i] = NodeCost{Name: st.node.Name, Op: st.node.Op, Median: ts[len(ts)/2], Min: ts[0]}
	}
	return costs, nil
}
