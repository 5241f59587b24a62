package engine

import (
	"os"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestSchedulerMeasure measures the targets on real zoo models and
// 640x480 frames: the top task's p95 latency alone and with two more
// tasks, and the tasks' total throughput against the naive pipeline (each
// task prepares its own view and runs, one after another, on one core).
// It takes about 15 seconds and depends on the machine, so it runs only
// with EDGENN_SCHED_MEASURE=1; it reports rather than asserts.
func TestSchedulerMeasure(t *testing.T) {
	if os.Getenv("EDGENN_SCHED_MEASURE") != "1" {
		t.Skip("EDGENN_SCHED_MEASURE not set")
	}
	type spec struct {
		task  Task
		model string
	}
	rgb128 := View{Width: 128, Height: 128, Fit: "letterbox", Std: [3]float32{255, 255, 255}}
	center := rgb128
	center.Crop, center.Box = "box", Box{160, 80, 480, 400}
	specs := []spec{
		{Task{Name: "top", Priority: 2, View: rgb128}, "mobilenet_v1_025_128"},
		{Task{Name: "mid", Priority: 1, View: rgb128}, "mobilenet_v2_035_128"},
		{Task{Name: "low", View: center}, "mobilenet_v1_025_128"},
	}
	lanes := func(n int) []Runner {
		r := make([]Runner, n)
		for i := range r {
			m := Sessions{}
			for _, sp := range specs {
				s, err := NewSession(schedZoo(t, sp.model))
				if err != nil {
					t.Fatal(err)
				}
				m[sp.task.Name] = s
			}
			r[i] = m
		}
		return r
	}
	frame := schedFrame(1, 640, 480)

	// The naive pipeline: per frame, each task prepares its view and runs.
	naive := lanes(1)[0].(Sessions)
	bufs := map[string][]float32{}
	begin := time.Now()
	nf := 0
	for time.Since(begin) < 2*time.Second {
		for _, sp := range specs {
			x := bufs[sp.task.Name]
			if x == nil {
				x = make([]float32, sp.task.View.Len())
				bufs[sp.task.Name] = x
			}
			if err := Prepare(x, &frame, sp.task.View, Box{}); err != nil {
				t.Fatal(err)
			}
			if _, err := naive.Run(sp.task.Name, 1, x); err != nil {
				t.Fatal(err)
			}
		}
		nf++
	}
	naiveRate := float64(nf*len(specs)) / time.Since(begin).Seconds()

	// run pushes frames at fps for d with the given tasks on two lanes and
	// returns their metrics.
	run := func(n int, fps float64, d time.Duration) []TaskMetrics {
		s, err := NewScheduler(SchedulerOptions{Lanes: lanes(2)})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var mu sync.Mutex
		lat := map[string][]time.Duration{}
		for _, sp := range specs[:n] {
			if err := s.Add(sp.task, func(r Result) {
				if r.Err != nil {
					t.Error(r.Err)
				}
				mu.Lock()
				lat[r.Task] = append(lat[r.Task], r.Latency)
				mu.Unlock()
			}); err != nil {
				t.Fatal(err)
			}
		}
		begin := time.Now()
		for id := uint64(1); time.Since(begin) < d; id++ {
			frame.ID = id
			if err := s.Push(frame); err != nil {
				t.Fatal(err)
			}
			next := begin.Add(time.Duration(float64(id) * float64(time.Second) / fps))
			time.Sleep(time.Until(next))
		}
		m := s.Metrics()
		mu.Lock()
		for i := range m {
			l := lat[m[i].Name]
			slices.Sort(l)
			if len(l) > 0 {
				m[i].P50, m[i].P95 = l[len(l)/2], l[len(l)*95/100]
			}
		}
		mu.Unlock()
		return m
	}
	const fps = 15
	solo := run(1, fps, 3*time.Second)
	all := run(3, fps, 3*time.Second)
	for _, x := range all {
		t.Logf("with others at %d fps: %s runs %d dropped %d rate %.1f eff %.1f p50 %v p95 %v share %.2f compute %v lanes %v",
			fps, x.Name, x.Runs, x.Dropped, x.Rate, x.EffectiveRate, x.P50, x.P95, x.Share, x.Compute, x.LaneRuns)
	}
	t.Logf("top solo: p50 %v p95 %v; with others p95 %v: ratio %.2f",
		solo[0].P50, solo[0].P95, all[0].P95, float64(all[0].P95)/float64(solo[0].P95))
	sat := run(3, 200, 3*time.Second)
	total := uint64(0)
	for _, x := range sat {
		total += x.Runs
		t.Logf("saturated: %s runs %d dropped %d rate %.1f eff %.1f shed %v p95 %v share %.2f",
			x.Name, x.Runs, x.Dropped, x.Rate, x.EffectiveRate, x.Shed, x.P95, x.Share)
	}
	t.Logf("throughput: scheduler %.1f task runs/s on 2 lanes, naive %.1f: %.2fx",
		float64(total)/3, naiveRate, float64(total)/3/naiveRate)
}
