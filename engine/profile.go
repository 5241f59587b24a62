package engine

import (
	"sort"
	"time"

	"github.com/edgenn/edgenn/model"
)

// NodeCost is the measured cost of one compiled node: the median, minimum
// and mean of its wall time over the profiled runs, and its arithmetic (the
// compiled node's model.NodeFLOPs at the profiled batch size). The mean
// resolves nodes shorter than a coarse clock's tick (browsers round
// performance.now to 0.1 ms) where the median reads 0.
type NodeCost struct {
	Name   string
	Op     string
	Median time.Duration
	Min    time.Duration
	Mean   time.Duration
	FLOPs  int64
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
	shapes, err := model.InferShapes(s.g, p.batch)
	if err != nil {
		return nil, err
	}
	costs := make([]NodeCost, len(p.steps))
	for i, st := range p.steps {
		ts := times[i]
		sort.Slice(ts, func(a, b int) bool { return ts[a] < ts[b] })
		var sum time.Duration
		for _, t := range ts {
			sum += t
		}
		costs[i] = NodeCost{Name: st.node.Name, Op: st.node.Op, Median: ts[len(ts)/2], Min: ts[0],
			Mean: sum / time.Duration(runs), FLOPs: model.NodeFLOPs(st.node, shapes)}
	}
	return costs, nil
}
