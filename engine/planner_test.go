package engine

import (
	"math"
	"math/rand"
	"strconv"
	"strings"
	"testing"
	"time"
)

// chain describes a straight network of len(local) nodes: node i takes
// local[i] here and remote[i] on the peer, and the value after the first i
// nodes has bytes[i] bytes (bytes[0] the input, bytes[n] the output). Every
// position is a cut.
type chain struct {
	local, remote []time.Duration
	bytes         []int
}

func (c chain) planner(t *testing.T) *Planner {
	t.Helper()
	n := len(c.local)
	cuts := make([]Cut, n+1)
	head := make([]time.Duration, n+1)
	tail := make([]time.Duration, n+1)
	for i := 0; i <= n; i++ {
		cuts[i] = Cut{Index: i, Tensor: "v" + strconv.Itoa(i), Bytes: c.bytes[i]}
		for j := 0; j < i; j++ {
			head[i] += c.local[j]
		}
		for j := i; j < n; j++ {
			tail[i] += c.remote[j]
		}
	}
	p, err := NewPlanner(cuts, head, tail)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// predictT is the rule written out independently, in seconds.
func (c chain) predictT(p int, up, down float64, rtt time.Duration, load float64) float64 {
	n := len(c.local)
	var local, remote float64
	for j := 0; j < p; j++ {
		local += c.local[j].Seconds()
	}
	if p == n {
		return local
	}
	for j := p; j < n; j++ {
		remote += c.remote[j].Seconds()
	}
	return local + rtt.Seconds() + float64(c.bytes[p])/up + load*remote + float64(c.bytes[n])/down
}

func ms(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }

// A MobileNet-like chain: activations shrink with depth, the peer is 5x faster.
func mobileChain() chain {
	c := chain{bytes: []int{150528, 401408, 200704, 50176, 12544, 6272, 4096, 4000}}
	for _, l := range []float64{20, 30, 25, 20, 15, 10, 2} {
		c.local = append(c.local, ms(l))
		c.remote = append(c.remote, ms(l/5))
	}
	return c
}

func TestPlannerAgreesWithBruteForce(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for k := 0; k < 500; k++ {
		n := 1 + r.Intn(20)
		c := chain{bytes: make([]int, n+1)}
		for i := 0; i < n; i++ {
			c.local = append(c.local, time.Duration(r.Int63n(int64(20*time.Millisecond))))
			c.remote = append(c.remote, time.Duration(r.Int63n(int64(5*time.Millisecond))))
		}
		for i := range c.bytes {
			c.bytes[i] = r.Intn(1 << 20)
		}
		up := math.Pow(10, 3+r.Float64()*6) // 1 kB/s to 1 GB/s
		down := math.Pow(10, 3+r.Float64()*6)
		rtt := time.Duration(r.Int63n(int64(50 * time.Millisecond)))
		load := 0.5 + 4*r.Float64()
		p := c.planner(t)
		p.SetLink(up, down, rtt)
		p.SetLoad(load)
		got := p.Plan()
		best := 0
		for i := 0; i <= n; i++ {
			want := c.predictT(i, up, down, rtt, load)
			if d := math.Abs(got.All[i].Seconds() - want); d > 2e-9 {
				t.Fatalf("case %d, cut %d: T = %v, want %.9fs", k, i, got.All[i], want)
			}
			if want < c.predictT(best, up, down, rtt, load) {
				best = i
			}
		}
		if wb, gb := c.predictT(best, up, down, rtt, load), c.predictT(got.At, up, down, rtt, load); gb > wb+2e-9 {
			t.Fatalf("case %d: chose cut %d (T %.6fs), brute force finds cut %d (T %.6fs)", k, got.At, gb, best, wb)
		}
		if got.Cut.Index != got.At || got.T != got.All[got.At] || got.Local != (got.At == n) {
			t.Fatalf("case %d: inconsistent choice %+v", k, got)
		}
	}
}

func TestPlannerExtremeLinks(t *testing.T) {
	c := mobileChain()
	n := len(c.local)
	p := c.planner(t)
	if ch := p.Plan(); !ch.Local || ch.At != n {
		t.Errorf("no link measured: chose %d, want stay local", ch.At)
	}
	for i, d := range p.Plan().All[:n] {
		if d != NoEstimate {
			t.Errorf("no link: cut %d predicts %v, want NoEstimate", i, d)
		}
	}
	// 1 kbit/s: even the 4000-byte output takes 32 s to come back.
	p.SetLink(125, 125, 20*time.Millisecond)
	if ch := p.Plan(); ch.At != n {
		t.Errorf("slow link: chose cut %d, want stay local (%d); T %v", ch.At, n, ch.All)
	}
	// 10 Gbit/s, 0.2 ms RTT, a peer 5x faster: send the input.
	p.SetLink(1.25e9, 1.25e9, 200*time.Microsecond)
	if ch := p.Plan(); ch.At != 0 {
		t.Errorf("fast link: chose cut %d, want 0; T %v", ch.At, ch.All)
	}
	// Not a link: zero, negative, NaN bandwidth never divide.
	for _, bw := range [][2]float64{{0, 1e9}, {1e9, 0}, {-5, 1e9}, {math.NaN(), 1e9}, {1e9, math.NaN()}} {
		p.SetLink(bw[0], bw[1], time.Millisecond)
		if ch := p.Plan(); !ch.Local {
			t.Errorf("link %v: chose %d, want stay local", bw, ch.At)
		}
	}
	// An infinitely fast link is not a division by zero either.
	p.SetLink(math.Inf(1), math.Inf(1), 0)
	if ch := p.Plan(); ch.At != 0 || ch.T != c.sumRemote() {
		t.Errorf("infinite link: chose %d with T %v, want 0 with %v", ch.At, ch.T, c.sumRemote())
	}
}

func (c chain) sumRemote() time.Duration {
	var s time.Duration
	for _, d := range c.remote {
		s += d
	}
	return s
}

// TestPlannerLoadMovesSplitLocal: as the peer gets busier the split never
// moves toward the peer, and moves all the way home when it cannot take work.
func TestPlannerLoadMovesSplitLocal(t *testing.T) {
	c := mobileChain()
	n := len(c.local)
	p := c.planner(t)
	p.SetLink(10e6/8, 10e6/8, 5*time.Millisecond) // 10 Mbit/s
	first := p.Plan()
	if first.At == 0 || first.At == n {
		t.Fatalf("at load 1 the split should be inside the network for this test to mean anything; chose %d, T %v", first.At, first.All)
	}
	prev := first.At
	moved := false
	for _, load := range []float64{1.5, 2, 3, 5, 8, 13, 21, 50, math.Inf(1)} {
		p.SetLoad(load)
		ch := p.Plan()
		if ch.At < prev {
			t.Errorf("load %g: split moved toward the peer, %d -> %d", load, prev, ch.At)
		}
		moved = moved || ch.At > first.At
		prev = ch.At
	}
	if !moved || prev != n {
		t.Errorf("load never moved the split (%d) or an unavailable peer did not keep it local (%d)", first.At, prev)
	}
	// A non-positive load is ignored.
	p.SetLoad(0)
	p.SetLoad(-1)
	if ch := p.Plan(); ch.At != n {
		t.Errorf("SetLoad(0) changed the plan to %d", ch.At)
	}
}

func TestPlannerObservations(t *testing.T) {
	c := mobileChain()
	n := len(c.local)
	p := c.planner(t)
	p.SetLink(10e6/8, 10e6/8, 5*time.Millisecond)
	start := p.Plan().At
	// This device turns out 4x slower than profiled: the split moves toward the peer.
	for k := 0; k < 20; k++ {
		p.ObserveLocal(n, 4*p.local[n])
	}
	if s := p.localScale; math.Abs(s-4) > 0.02 {
		t.Errorf("local scale %g after 20 observations of 4x, want about 4", s)
	}
	slow := p.Plan().At
	if slow >= start {
		t.Errorf("device 4x slower: split stayed at %d (was %d)", slow, start)
	}
	// The peer runs 20x slower than it announced: the split moves back home.
	for k := 0; k < 30; k++ {
		p.ObserveRemote(0, 20*p.remote[0])
	}
	if ch := p.Plan(); ch.At <= slow {
		t.Errorf("peer 20x slower: split stayed at %d", ch.At)
	}
	// Observations that cannot be used are ignored, not divided by.
	before := p.Plan()
	p.ObserveLocal(0, time.Second) // the head of cut 0 is empty
	p.ObserveLocal(-1, time.Second)
	p.ObserveLocal(n+1, time.Second)
	p.ObserveRemote(n, time.Second) // the tail of the local cut is empty
	if after := p.Plan(); after.At != before.At || after.T != before.T {
		t.Errorf("unusable observations changed the plan: %+v -> %+v", before, after)
	}
	// A fresh announcement resets the learned load.
	if err := p.SetRemote(p.remote); err != nil || p.load != 1 {
		t.Errorf("SetRemote: %v, load %g", err, p.load)
	}
	if err := p.SetRemote(p.remote[1:]); err == nil {
		t.Errorf("SetRemote with too few costs: no error")
	}
}

func TestPlannerCutCosts(t *testing.T) {
	s, err := NewSession(residualGraph(t))
	if err != nil {
		t.Fatal(err)
	}
	g := s.Graph()
	cuts, err := Cuts(g)
	if err != nil {
		t.Fatal(err)
	}
	times := map[string]time.Duration{}
	var total time.Duration
	for i, nd := range g.Nodes {
		times[nd.Name] = time.Duration(i+1) * time.Millisecond
		total += times[nd.Name]
	}
	head, tail, err := CutCosts(g, cuts, times)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cuts {
		var h time.Duration
		for j := 0; j < c.Index; j++ {
			h += time.Duration(j+1) * time.Millisecond
		}
		if head[i] != h || tail[i] != total-h {
			t.Errorf("cut %q: head %v tail %v, want %v and %v", c.Tensor, head[i], tail[i], h, total-h)
		}
	}
	times["not_in_this_model"] = time.Millisecond
	if _, _, err := CutCosts(g, cuts, times); err == nil || !strings.Contains(err.Error(), "not_in_this_model") {
		t.Errorf("a time for an unknown node: %v", err)
	}

	// From real profiles: the stay-local cut costs the whole profile.
	x := randData(rand.New(rand.NewSource(1)), 8*8*3, -1, 1)
	prof, err := s.Profile(5, x)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlannerFromProfiles(g, prof, prof)
	if err != nil {
		t.Fatal(err)
	}
	var sum time.Duration
	for _, d := range NodeTimes(prof) {
		sum += d
	}
	if ch := p.Plan(); !ch.Local || ch.T != sum {
		t.Errorf("no link: %+v, want local with T = %v", ch, sum)
	}
	if len(p.Cuts()) != len(cuts) {
		t.Errorf("%d cuts, want %d", len(p.Cuts()), len(cuts))
	}
	if _, err := NewPlannerFromProfiles(g, prof, []NodeCost{{Name: "elsewhere", Median: 1}}); err == nil || !strings.Contains(err.Error(), "peer") {
		t.Errorf("peer profile of another model: %v", err)
	}
}

func TestNodeTimesUsesMeanBelowTheClockTick(t *testing.T) {
	m := NodeTimes([]NodeCost{{Name: "a", Median: 3, Mean: 5}, {Name: "b", Median: 0, Mean: 40 * time.Microsecond}})
	if m["a"] != 3 || m["b"] != 40*time.Microsecond {
		t.Errorf("NodeTimes = %v", m)
	}
}

func TestNewPlannerErrors(t *testing.T) {
	d := []time.Duration{0, 1}
	cases := []struct {
		cuts          []Cut
		local, remote []time.Duration
		want          string
	}{
		{nil, nil, nil, "no cuts"},
		{[]Cut{{Index: 0}, {Index: 1}}, d[:1], d, "2 cuts but 1 local"},
		{[]Cut{{Index: 1}, {Index: 1}}, d, d, "out of order"},
		{[]Cut{{Index: 0, Bytes: -1}, {Index: 1}}, d, d, "negative"},
		{[]Cut{{Index: 0}, {Index: 1}}, []time.Duration{-1, 0}, d, "negative"},
	}
	for _, tc := range cases {
		if _, err := NewPlanner(tc.cuts, tc.local, tc.remote); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewPlanner(%v): %v, want an error containing %q", tc.cuts, err, tc.want)
		}
	}
}
