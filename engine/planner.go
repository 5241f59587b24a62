package engine

import (
	"errors"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/edgenn/edgenn/model"
)

// Planner chooses where to split a model between this device and a peer by
// Neurosurgeon's rule: for every cut p it predicts
//
//	T(p) = local(p) + RTT + D_p/B_up + load·remote(p) + D_out/B_down
//
// where local(p) is the time of the head on this device, remote(p) the time
// of the tail on the peer as the peer announced it, D_p the bytes crossing
// the cut and D_out the bytes of the outputs coming back; the cut that stays
// local costs local(n) alone. It picks the smallest T. Times are per example
// (batch 1).
//
// The cuts are those of the compiled graph (Cuts(Session.Graph())), so that
// one profiled node is one step between cuts and no fused node's time has to
// be shared out among the layers it absorbed; both sides compile the agreed
// model the same way, so the compiled node names and the crossing values
// (MetaSplitAt) mean the same thing on both.
//
// A Planner is safe for concurrent use: the link, the peer's load and the
// observed run times may come from different goroutines.
type Planner struct {
	mu         sync.Mutex
	cuts       []Cut
	local      []time.Duration // profiled head time on this device, per cut
	remote     []time.Duration // announced tail time on the peer, per cut
	outBytes   int
	up, down   float64 // bytes per second; 0 until measured
	rtt        time.Duration
	load       float64 // the peer's slowdown over its announced costs
	localScale float64 // this device's slowdown over its profile, learned from runs
	choice     Choice
}

// Choice is a Planner's decision.
type Choice struct {
	At  int // position of the chosen cut in Planner.Cuts
	Cut Cut
	// T is the predicted latency of the chosen cut; All the predicted latency
	// of every cut, in Planner.Cuts order (for display). A cut that cannot be
	// used (no link measured, an unreachable peer) predicts NoEstimate.
	T   time.Duration
	All []time.Duration
	// Local reports that the chosen cut keeps the whole model on this device.
	Local bool
}

// NoEstimate is the predicted latency of a cut that cannot be used.
const NoEstimate = time.Duration(math.MaxInt64)

// ewmaWeight is the weight of a new observation in the running estimates of
// this device's and the peer's speed.
const ewmaWeight = 0.25

// NewPlanner returns a planner over cuts (in increasing Index; the last one
// keeps the model local, as Cuts returns them) with local[i] the time of
// cut i's head on this device and remote[i] the time of its tail on the peer.
// The output's size is the last cut's Bytes. Until SetLink gives a measured
// link, the plan is to stay local.
func NewPlanner(cuts []Cut, local, remote []time.Duration) (*Planner, error) {
	switch {
	case len(cuts) == 0:
		return nil, errors.New("engine: planner: no cuts")
	case len(local) != len(cuts) || len(remote) != len(cuts):
		return nil, errors.New("engine: planner: " + strconv.Itoa(len(cuts)) + " cuts but " + strconv.Itoa(len(local)) +
			" local and " + strconv.Itoa(len(remote)) + " remote costs")
	}
	for i, c := range cuts {
		if i > 0 && c.Index <= cuts[i-1].Index {
			return nil, errors.New("engine: planner: cuts out of order at " + strconv.Itoa(i))
		}
		if c.Bytes < 0 || local[i] < 0 || remote[i] < 0 {
			return nil, errors.New("engine: planner: cut " + strconv.Quote(c.Tensor) + ": negative size or cost")
		}
	}
	p := &Planner{
		cuts:       append([]Cut(nil), cuts...),
		local:      append([]time.Duration(nil), local...),
		remote:     append([]time.Duration(nil), remote...),
		outBytes:   cuts[len(cuts)-1].Bytes,
		load:       1,
		localScale: 1,
	}
	p.replan()
	return p, nil
}

// NewPlannerFromProfiles prices the cuts of g, the compiled graph
// (Session.Graph()), from this device's profile and the peer's announced one
// (both Session.Profile of the same compiled model).
func NewPlannerFromProfiles(g *model.Graph, local, remote []NodeCost) (*Planner, error) {
	cuts, err := Cuts(g)
	if err != nil {
		return nil, err
	}
	head, _, err := CutCosts(g, cuts, NodeTimes(local))
	if err != nil {
		return nil, errors.New("engine: planner: local profile: " + err.Error())
	}
	_, tail, err := CutCosts(g, cuts, NodeTimes(remote))
	if err != nil {
		return nil, errors.New("engine: planner: peer's profile: " + err.Error())
	}
	return NewPlanner(cuts, head, tail)
}

// NodeTimes turns a profile into a time per node name, the form a peer
// announces: the median, or the mean where the median reads 0 (a node faster
// than a coarse clock's tick).
func NodeTimes(costs []NodeCost) map[string]time.Duration {
	m := make(map[string]time.Duration, len(costs))
	for _, c := range costs {
		d := c.Median
		if d == 0 {
			d = c.Mean
		}
		m[c.Name] += d
	}
	return m
}

// CutCosts sums per-node times into the time of each cut's head (the nodes
// before it) and tail (the nodes from it on). g is the graph the cuts and the
// times are of. A node without a time counts 0; a time for a node that g does
// not have is an error: the profile is of another model.
func CutCosts(g *model.Graph, cuts []Cut, times map[string]time.Duration) (head, tail []time.Duration, err error) {
	n := len(g.Nodes)
	known := make(map[string]bool, n)
	prefix := make([]time.Duration, n+1)
	for i, nd := range g.Nodes {
		known[nd.Name] = true
		d := times[nd.Name]
		if d < 0 {
			return nil, nil, errors.New("node " + strconv.Quote(nd.Name) + " has a negative time")
		}
		prefix[i+1] = prefix[i] + d
	}
	for name := range times {
		if !known[name] {
			return nil, nil, errors.New("a time for node " + strconv.Quote(name) + ", which model " + strconv.Quote(g.Name) + " does not have")
		}
	}
	head = make([]time.Duration, len(cuts))
	tail = make([]time.Duration, len(cuts))
	for i, c := range cuts {
		if c.Index < 0 || c.Index > n {
			return nil, nil, errors.New("cut " + strconv.Itoa(c.Index) + " is outside the model's " + strconv.Itoa(n) + " nodes")
		}
		head[i] = prefix[c.Index]
		tail[i] = prefix[n] - prefix[c.Index]
	}
	return head, tail, nil
}

// Cuts returns the planner's cuts.
func (p *Planner) Cuts() []Cut {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Cut(nil), p.cuts...)
}

// Plan returns the current choice.
func (p *Planner) Plan() Choice {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.choice
	c.All = append([]time.Duration(nil), c.All...)
	return c
}

// SetLink records the measured link: bandwidth up (to the peer) and down in
// bytes per second, and the round-trip time. A bandwidth that is not a
// positive number means no usable link, and the plan stays local.
func (p *Planner) SetLink(up, down float64, rtt time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up, p.down = rate(up), rate(down)
	p.rtt = max(rtt, 0)
	p.replan()
}

func rate(r float64) float64 {
	if !(r > 0) { // zero, negative or NaN
		return 0
	}
	return r
}

// SetLoad records the peer's load: the factor by which its tail will take
// longer than it announced (1 idle, 2 when busy with as much again). +Inf
// means the peer cannot take work. A value that is not positive is ignored.
func (p *Planner) SetLoad(load float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if load > 0 {
		p.load = load
	}
	p.replan()
}

// SetRemote replaces the peer's announced tail times (one per cut), for a
// new peer or a fresh announcement, and resets the learned load to 1.
func (p *Planner) SetRemote(remote []time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(remote) != len(p.cuts) {
		return errors.New("engine: planner: " + strconv.Itoa(len(remote)) + " remote costs for " + strconv.Itoa(len(p.cuts)) + " cuts")
	}
	for _, d := range remote {
		if d < 0 {
			return errors.New("engine: planner: negative remote cost")
		}
	}
	copy(p.remote, remote)
	p.load = 1
	p.replan()
	return nil
}

// ObserveLocal refreshes the local costs from a real run: the head of cut at
// (a position in Cuts) took d on this device. The ratio of d to the profiled
// time updates, by an exponentially weighted average, one speed factor that
// scales every cut's local cost: a device that heats up or gets busy slows
// all its layers alike, and a factor learned on one cut then prices the
// others too.
func (p *Planner) ObserveLocal(at int, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if at < 0 || at >= len(p.cuts) || p.local[at] <= 0 || d < 0 {
		return
	}
	p.localScale = ewma(p.localScale, float64(d)/float64(p.local[at]))
	p.replan()
}

// ObserveRemote refreshes the peer's load from a real run: the tail of cut
// at took d on the peer (its own compute time, as it reports it).
func (p *Planner) ObserveRemote(at int, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if at < 0 || at >= len(p.cuts) || p.remote[at] <= 0 || d < 0 || math.IsInf(p.load, 1) {
		return
	}
	p.load = ewma(p.load, float64(d)/float64(p.remote[at]))
	p.replan()
}

func ewma(old, obs float64) float64 { return (1-ewmaWeight)*old + ewmaWeight*obs }

// predict returns T for cut i in seconds, +Inf when it cannot be used.
func (p *Planner) predict(i int) float64 {
	local := p.localScale * p.local[i].Seconds()
	if i == len(p.cuts)-1 {
		return local
	}
	if p.up <= 0 || p.down <= 0 || math.IsInf(p.load, 1) {
		return math.Inf(1)
	}
	return local + p.rtt.Seconds() + float64(p.cuts[i].Bytes)/p.up +
		p.load*p.remote[i].Seconds() + float64(p.outBytes)/p.down
}

// replan recomputes the choice; ties go to the later (more local) cut.
func (p *Planner) replan() {
	all := make([]time.Duration, len(p.cuts))
	best, bestT := len(p.cuts)-1, math.Inf(1)
	for i := len(p.cuts) - 1; i >= 0; i-- {
		t := p.predict(i)
		all[i] = toDuration(t)
		if t < bestT {
			best, bestT = i, t
		}
	}
	p.choice = Choice{At: best, Cut: p.cuts[best], T: all[best], All: all, Local: best == len(p.cuts)-1}
}

// toDuration converts seconds to a Duration, saturating at NoEstimate.
func toDuration(s float64) time.Duration {
	if !(s < float64(NoEstimate)/1e9) {
		return NoEstimate
	}
	return time.Duration(math.Round(s * 1e9))
}
