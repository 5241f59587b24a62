package engine

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// throttledLink is an in-process link: sending D bytes one way takes half the
// round trip plus D/B, spent sleeping, so a request and its reply take
// RTT + D_up/B + D_down/B, as the planner models them.
type throttledLink struct {
	bytesPerSec float64
	rtt         time.Duration
}

func (l throttledLink) send(bytes int) time.Duration {
	return l.rtt/2 + time.Duration(float64(bytes)/l.bytesPerSec*1e9)
}

// TestPlannerMeasure measures the target: for three zoo models at
// 1, 10, 100 and 1000 Mbit/s, the planner's choice (from profiles measured
// beforehand) against the best split found by running every one. The local
// device is this machine slowed 10x (after running the head it sleeps 9x the
// time the head took); the peer is this machine at full speed, in-process;
// the link sleeps. It depends on the machine and takes a few minutes, so it
// runs only with EDGENN_PLANNER_MEASURE=1; it reports rather than asserts.
func TestPlannerMeasure(t *testing.T) {
	if os.Getenv("EDGENN_PLANNER_MEASURE") != "1" {
		t.Skip("EDGENN_PLANNER_MEASURE not set")
	}
	const (
		slowdown = 10
		runs     = 7 // per cut: the median is reported
		profRuns = 20
	)
	rtt := 4 * time.Millisecond
	var table strings.Builder
	fmt.Fprintf(&table, "%-22s %6s %4s %4s  %-26s %9s %9s  %-26s %9s  %6s   %-37s  %s\n",
		"model", "Mbit/s", "cuts", "run", "planner's cut", "predicted", "measured", "best measured cut", "measured", "ratio",
		"planner's cut head/tail pred -> meas", "best cut head/tail pred -> meas")
	worst := 0.0
	for _, name := range []string{"lenet5", "mobilenet_v1_025_128", "mobilenet_v2_035_128"} {
		whole, x := zooSession(t, name)
		g := whole.Graph()
		cuts, err := Cuts(g)
		if err != nil {
			t.Fatal(err)
		}
		n := len(cuts) - 1
		heads := make([]*Session, len(cuts))
		tails := make([]*Session, len(cuts))
		for i, c := range cuts {
			h, tl, err := Split(g, c)
			if err != nil {
				t.Fatal(err)
			}
			if heads[i], err = NewSession(h); err != nil {
				t.Fatal(err)
			}
			if tails[i], err = NewSession(tl); err != nil {
				t.Fatal(err)
			}
		}
		// Profiles measured beforehand: this device's (the native profile
		// times the throttle's slowdown) and the peer's (native), from
		// separate runs so that neither borrows the other's noise.
		localProf, err := whole.Profile(profRuns, x)
		if err != nil {
			t.Fatal(err)
		}
		for i := range localProf {
			localProf[i].Median *= slowdown
			localProf[i].Mean *= slowdown
			localProf[i].Min *= slowdown
		}
		remoteProf, err := whole.Profile(profRuns, x)
		if err != nil {
			t.Fatal(err)
		}
		planner, err := NewPlannerFromProfiles(g, localProf, remoteProf)
		if err != nil {
			t.Fatal(err)
		}

		predHead, _, err := CutCosts(g, cuts, NodeTimes(localProf))
		if err != nil {
			t.Fatal(err)
		}
		_, predTail, err := CutCosts(g, cuts, NodeTimes(remoteProf))
		if err != nil {
			t.Fatal(err)
		}

		// One end-to-end run of cut i: the throttled head, the link up,
		// the peer's tail, the link down. It returns the total and the
		// head's and tail's shares.
		once := func(i int, link throttledLink) (total, head, tail time.Duration) {
			t0 := time.Now()
			mid, err := heads[i].Run(x)
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep((slowdown - 1) * time.Since(t0))
			head = time.Since(t0)
			if i == n {
				return head, head, 0
			}
			time.Sleep(link.send(cuts[i].Bytes))
			t1 := time.Now()
			if _, err := tails[i].Run(mid[0]); err != nil {
				t.Fatal(err)
			}
			tail = time.Since(t1)
			time.Sleep(link.send(cuts[n].Bytes))
			return time.Since(t0), head, tail
		}
		median := func(ts []time.Duration) time.Duration {
			ts = slices.Clone(ts)
			slices.Sort(ts)
			return ts[len(ts)/2]
		}

		for _, mbit := range []float64{1, 10, 100, 1000} {
			link := throttledLink{bytesPerSec: mbit * 1e6 / 8, rtt: rtt}
			planner.SetLink(link.bytesPerSec, link.bytesPerSec, rtt)
			choice := planner.Plan()
			runtime.GC()
			// Staying local bounds the best latency: a cut whose link time
			// alone (slept, so a lower bound of its latency) exceeds it by a
			// margin cannot be the best and is not run. The others, local
			// included, run in rounds, one run of each per round, so that a
			// burst of load from elsewhere on the machine hits all alike.
			var first []time.Duration
			once(n, link)
			for r := 0; r < 3; r++ {
				d, _, _ := once(n, link)
				first = append(first, d)
			}
			bound := median(first) * 6 / 5
			var cand []int
			for i := 0; i < n; i++ {
				if i == choice.At || link.send(cuts[i].Bytes)+link.send(cuts[n].Bytes) < bound {
					cand = append(cand, i)
				}
			}
			cand = append(cand, n)
			totals := make([][]time.Duration, len(cuts))
			headT := make([][]time.Duration, len(cuts))
			tailT := make([][]time.Duration, len(cuts))
			for _, i := range cand {
				once(i, link) // warm
			}
			for r := 0; r < runs; r++ {
				for _, i := range cand {
					d, h, tl := once(i, link)
					totals[i] = append(totals[i], d)
					headT[i] = append(headT[i], h)
					tailT[i] = append(tailT[i], tl)
				}
			}
			measured := make([]time.Duration, len(cuts))
			for _, i := range cand {
				measured[i] = median(totals[i])
			}
			best := n
			for _, i := range cand {
				if measured[i] < measured[best] {
					best = i
				}
			}
			ratio := float64(measured[choice.At]) / float64(measured[best])
			worst = max(worst, ratio)
			fmt.Fprintf(&table, "%-22s %6g %4d %4d  %-26s %9s %9s  %-26s %9s  %6.3f   %s  %s\n", name, mbit, len(cuts), len(cand),
				cutLabel(cuts[choice.At], cuts[n].Index), round(choice.T), round(measured[choice.At]),
				cutLabel(cuts[best], cuts[n].Index), round(measured[best]), ratio,
				split2(predHead[choice.At], predTail[choice.At], median(headT[choice.At]), median(tailT[choice.At])),
				split2(predHead[best], predTail[best], median(headT[best]), median(tailT[best])))
		}
	}
	t.Logf("RTT %v, local device %dx slower than this machine, peer native, median of %d runs, GOARCH %s\n%s"+
		"worst ratio %.3f (target: at most 1.10)", rtt, slowdown, runs, runtime.GOARCH, table.String(), worst)
}

// cutLabel names a cut by its crossing value and Index; last is the
// stay-local cut's Index.
func cutLabel(c Cut, last int) string {
	switch {
	case c.Index == last:
		return "local (" + fmt.Sprint(last) + ")"
	case c.Index == 0:
		return "send input (0)"
	}
	return fmt.Sprintf("%s (%d)", c.Tensor, c.Index)
}

// split2 shows a cut's predicted and measured head and tail times.
func split2(ph, pt, mh, mt time.Duration) string {
	return fmt.Sprintf("%-37s", round(ph).String()+"/"+round(pt).String()+" -> "+round(mh).String()+"/"+round(mt).String())
}

func round(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
