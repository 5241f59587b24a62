package engine

import (
	"errors"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgenn/edgenn/model"
)

// schedFrame returns a w x h frame with a smooth pattern that differs from
// frame to frame (cheap to make, unlike random pixels at 640x480).
func schedFrame(id uint64, w, h int) Frame {
	px := make([]byte, w*h*4)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := 4 * (y*w + x)
			px[i] = byte(x + int(id)*7)
			px[i+1] = byte(y * 3)
			px[i+2] = byte((x ^ y) + int(id))
			px[i+3] = 255
		}
	}
	return Frame{ID: id, Time: int64(id) * 1e6, Width: w, Height: h, RGBA: px}
}

// schedCollector keeps each task's results.
type schedCollector struct {
	mu  sync.Mutex
	res map[string][]Result
}

func newSchedCollector() *schedCollector { return &schedCollector{res: map[string][]Result{}} }

func (c *schedCollector) on(name string) func(Result) {
	return func(r Result) {
		if r.Task != name {
			panic("result of " + r.Task + " delivered to " + name)
		}
		c.mu.Lock()
		c.res[name] = append(c.res[name], r)
		c.mu.Unlock()
	}
}

func (c *schedCollector) get(name string) []Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Result(nil), c.res[name]...)
}

func (c *schedCollector) count(name string) int { return len(c.get(name)) }

// schedWait polls cond; the deadline is generous for -race and wasm.
func schedWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for " + what)
		}
		time.Sleep(time.Millisecond)
	}
}

// schedRunnerFunc adapts a function to Runner.
type schedRunnerFunc func(task string, batch int, input []float32) ([][]float32, error)

func (f schedRunnerFunc) Run(task string, batch int, input []float32) ([][]float32, error) {
	return f(task, batch, input)
}

// schedSleepRunner stands in for a model whose run takes a known time: it
// sleeps (so it yields its thread, as a Web Worker lane does) and returns
// the batch size and the first input value.
func schedSleepRunner(cost map[string]time.Duration) schedRunnerFunc {
	return func(task string, batch int, input []float32) ([][]float32, error) {
		time.Sleep(cost[task])
		return [][]float32{{float32(batch), input[0]}}, nil
	}
}

func newSchedTest(t *testing.T, opt SchedulerOptions) *Scheduler {
	t.Helper()
	s, err := NewScheduler(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func schedMetricsOf(s *Scheduler, name string) TaskMetrics {
	for _, m := range s.Metrics() {
		if m.Name == name {
			return m
		}
	}
	return TaskMetrics{}
}

// schedLenetLanes returns n lanes, each with its own LeNet-5 Session per task.
func schedLenetLanes(t *testing.T, n int, tasks ...string) []Runner {
	t.Helper()
	g, err := model.Zoo("lenet5")
	if err != nil {
		t.Fatal(err)
	}
	lanes := make([]Runner, n)
	for i := range lanes {
		m := Sessions{}
		for _, name := range tasks {
			if m[name], err = NewSession(g); err != nil {
				t.Fatal(err)
			}
		}
		lanes[i] = m
	}
	return lanes
}

var schedLenetView = View{Width: 28, Height: 28, Color: "gray", Resize: "area", Std: [3]float32{255}}

// TestSchedulerSharesViews runs three LeNet-5 tasks on 640x480 frames, two
// of them on the same view: each distinct view is prepared once a frame,
// and every output matches the naive pipeline (Prepare, then Run).
func TestSchedulerSharesViews(t *testing.T) {
	corner := schedLenetView
	corner.Crop, corner.Box = "box", Box{100, 50, 340, 290}
	tasks := []Task{
		{Name: "digits", Priority: 2, View: schedLenetView},
		{Name: "digits-again", Priority: 1, View: schedLenetView},
		{Name: "corner", View: corner},
	}
	s := newSchedTest(t, SchedulerOptions{Lanes: schedLenetLanes(t, 2, "digits", "digits-again", "corner")})
	c := newSchedCollector()
	for _, task := range tasks {
		if err := s.Add(task, c.on(task.Name)); err != nil {
			t.Fatal(err)
		}
	}
	ref, err := NewSession(schedZoo(t, "lenet5"))
	if err != nil {
		t.Fatal(err)
	}
	const frames = 5
	for id := uint64(1); id <= frames; id++ {
		f := schedFrame(id, 640, 480)
		if err := s.Push(f); err != nil {
			t.Fatal(err)
		}
		schedWait(t, "a result of each task", func() bool {
			for _, task := range tasks {
				if c.count(task.Name) < int(id) {
					return false
				}
			}
			return true
		})
		for _, task := range tasks {
			r := c.get(task.Name)[id-1]
			if r.Err != nil || r.Frame != id || r.Batch != 1 {
				t.Fatalf("%s frame %d: got frame %d batch %d err %v", task.Name, id, r.Frame, r.Batch, r.Err)
			}
			x := make([]float32, task.View.Len())
			if err := Prepare(x, &f, task.View, Box{}); err != nil {
				t.Fatal(err)
			}
			want, err := ref.Run(x)
			if err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiff(r.Outputs[0], want[0]); d != 0 {
				t.Errorf("%s frame %d: outputs differ from the naive pipeline by %g", task.Name, id, d)
			}
		}
	}
	st := s.Provider().Stats()
	if st.Prepared != 2*frames || st.Shared != frames {
		t.Errorf("provider prepared %d views and shared %d, want %d and %d", st.Prepared, st.Shared, 2*frames, frames)
	}
	for _, m := range s.Metrics() {
		if m.Runs != frames || m.Dropped != 0 || m.Errors != 0 {
			t.Errorf("%s: runs %d dropped %d errors %d, want %d, 0, 0", m.Name, m.Runs, m.Dropped, m.Errors, frames)
		}
	}
}

func schedZoo(t *testing.T, name string) *model.Graph {
	t.Helper()
	g, err := model.Zoo(name)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// schedGate is a Runner that holds each run until released, so a test decides
// exactly which frames are pushed while a run is in progress.
type schedGate struct {
	started chan uint64 // the first input value of each run
	release chan struct{}
}

func (g *schedGate) Run(task string, batch int, input []float32) ([][]float32, error) {
	g.started <- uint64(math.Round(float64(input[0])))
	<-g.release
	return [][]float32{{input[0]}}, nil
}

// next returns the frame of the next run the lane starts. It waits with a
// deadline, so that a lane that never starts fails the test with the
// scheduler's state (under js/wasm a bare channel receive would end the
// process as a deadlock, with no word on which test or why).
func (g *schedGate) next(t *testing.T, s *Scheduler) uint64 {
	t.Helper()
	select {
	case id := <-g.started:
		return id
	case <-time.After(20 * time.Second):
		t.Fatalf("no run started in 20s; metrics %+v", s.Metrics())
		return 0
	}
}

// free lets the run in progress finish, with the same deadline as next.
func (g *schedGate) free(t *testing.T) {
	t.Helper()
	select {
	case g.release <- struct{}{}:
	case <-time.After(20 * time.Second):
		t.Fatal("the lane did not take the release in 20s")
	}
}

// schedFlatFrame is a frame whose every channel holds id, so a 1x1 view reads
// the frame's ID back.
func schedFlatFrame(id uint64) Frame {
	px := make([]byte, 8*8*4)
	for i := range px {
		px[i] = byte(id)
	}
	return Frame{ID: id, Width: 8, Height: 8, RGBA: px}
}

var schedIDView = View{Width: 1, Height: 1, Color: "gray", Resize: "nearest"}

// TestSchedulerLatestFrame holds the only lane while frames arrive: when
// it frees, the task runs the newest frame, and the ones it skipped are
// counted as dropped.
func TestSchedulerLatestFrame(t *testing.T) {
	g := &schedGate{started: make(chan uint64, 8), release: make(chan struct{})}
	s := newSchedTest(t, SchedulerOptions{Lanes: []Runner{g}})
	// Cleanups run last first: free a held run before Close waits for it.
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(g.release) }) })
	c := newSchedCollector()
	if err := s.Add(Task{Name: "a", View: schedIDView}, c.on("a")); err != nil {
		t.Fatal(err)
	}
	push := func(id uint64) {
		if err := s.Push(schedFlatFrame(id)); err != nil {
			t.Fatal(err)
		}
	}
	push(1)
	if got := g.next(t, s); got != 1 {
		t.Fatalf("first run on frame %d, want 1", got)
	}
	push(2)
	push(3)
	push(4)
	g.free(t)
	if got := g.next(t, s); got != 4 {
		t.Fatalf("second run on frame %d, want the newest, 4", got)
	}
	push(5)
	g.free(t)
	if got := g.next(t, s); got != 5 {
		t.Fatalf("third run on frame %d, want 5", got)
	}
	g.free(t)
	schedWait(t, "three results", func() bool { return c.count("a") == 3 })
	var frames []uint64
	for _, r := range c.get("a") {
		frames = append(frames, r.Frame)
	}
	if frames[0] != 1 || frames[1] != 4 || frames[2] != 5 {
		t.Errorf("results for frames %v, want [1 4 5]", frames)
	}
	m := schedMetricsOf(s, "a")
	if m.Runs != 3 || m.Dropped != 2 || m.Skipped != 0 {
		t.Errorf("runs %d dropped %d skipped %d, want 3, 2, 0", m.Runs, m.Dropped, m.Skipped)
	}
}

// TestSchedulerChain runs a detector whose Boxes gives 12 boxes and two
// tasks chained from it: each runs once a frame on at most MaxBoxes boxes
// in one batch, and each batch item matches the task's model run alone on
// that box's view.
func TestSchedulerChain(t *testing.T) {
	faceView := schedLenetView
	faceView.Crop, faceView.Square, faceView.Enlarge = "face", true, 1.2
	grid := func(outs [][]float32, w, h int) ([]Box, error) {
		if len(outs) != 1 || len(outs[0]) != 10 {
			return nil, errors.New("want one output of 10 scores")
		}
		var boxes []Box
		for i := 0; i < 12; i++ {
			x := float32(i%4) * float32(w) / 4
			y := float32(i/4) * float32(h) / 3
			// The detector's scores move the boxes, so they come from
			// the model's output.
			dx := outs[0][i%10] * 10
			boxes = append(boxes, Box{x + dx, y, x + dx + float32(w)/5, y + float32(h)/4})
		}
		return boxes, nil
	}
	s := newSchedTest(t, SchedulerOptions{Lanes: schedLenetLanes(t, 2, "detector", "emotion", "age")})
	c := newSchedCollector()
	for _, task := range []Task{
		{Name: "detector", Priority: 2, View: schedLenetView, Boxes: grid},
		{Name: "emotion", Priority: 1, View: faceView, From: "detector"},
		{Name: "age", View: faceView, From: "detector", MaxBoxes: 3},
	} {
		if err := s.Add(task, c.on(task.Name)); err != nil {
			t.Fatal(err)
		}
	}
	ref, err := NewSession(schedZoo(t, "lenet5"))
	if err != nil {
		t.Fatal(err)
	}
	for id := uint64(1); id <= 3; id++ {
		f := schedFrame(id, 320, 240)
		if err := s.Push(f); err != nil {
			t.Fatal(err)
		}
		schedWait(t, "the chain's results", func() bool {
			return c.count("emotion") >= int(id) && c.count("age") >= int(id)
		})
		det := c.get("detector")[id-1]
		if det.Err != nil || len(det.Boxes) != 12 {
			t.Fatalf("detector: %d boxes, err %v", len(det.Boxes), det.Err)
		}
		for _, k := range []struct {
			name string
			n    int
		}{{"emotion", 8}, {"age", 3}} {
			r := c.get(k.name)[id-1]
			if r.Err != nil || r.Frame != id || r.Batch != k.n || len(r.Boxes) != k.n || len(r.Outputs[0]) != 10*k.n {
				t.Fatalf("%s frame %d: frame %d batch %d boxes %d outputs %d err %v, want batch %d",
					k.name, id, r.Frame, r.Batch, len(r.Boxes), len(r.Outputs[0]), r.Err, k.n)
			}
			if r.Latency < det.Latency {
				t.Errorf("%s latency %v is below its detector's %v", k.name, r.Latency, det.Latency)
			}
			for i, b := range r.Boxes {
				if b != det.Boxes[i] {
					t.Fatalf("%s box %d is %v, want the detector's %v", k.name, i, b, det.Boxes[i])
				}
				x := make([]float32, faceView.Len())
				if err := Prepare(x, &f, faceView, b); err != nil {
					t.Fatal(err)
				}
				want, err := ref.Run(x)
				if err != nil {
					t.Fatal(err)
				}
				if d := maxAbsDiff(r.Outputs[0][10*i:10*i+10], want[0]); d > 1e-5 {
					t.Errorf("%s frame %d box %d: batched output differs from a lone run by %g", k.name, id, i, d)
				}
			}
		}
	}
	// One view of the frame for the detector, and one per box (the two
	// chained tasks share the first three).
	if st := s.Provider().Stats(); st.Prepared != 3*(1+8) || st.Shared != 3*3 {
		t.Errorf("provider prepared %d and shared %d views, want %d and %d", st.Prepared, st.Shared, 3*9, 3*3)
	}
}

// TestSchedulerRateLimit pushes frames at about 200 per second to a 20 Hz
// task and an unlimited one: the limited task never starts sooner than
// three quarters of its period after its last start, and skips the rest.
func TestSchedulerRateLimit(t *testing.T) {
	var mu sync.Mutex
	var starts []time.Time
	lane := schedRunnerFunc(func(task string, batch int, input []float32) ([][]float32, error) {
		if task == "slow" {
			mu.Lock()
			starts = append(starts, time.Now())
			mu.Unlock()
		}
		return [][]float32{{0}}, nil
	})
	s := newSchedTest(t, SchedulerOptions{Lanes: []Runner{lane, lane}})
	c := newSchedCollector()
	if err := s.Add(Task{Name: "slow", Rate: 20, View: schedIDView}, c.on("slow")); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(Task{Name: "fast", View: schedIDView}, c.on("fast")); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	id := uint64(0)
	// 800ms, and at least 100 frames: a starved process (a loaded machine,
	// the wasm still being compiled) may sleep much longer than asked.
	for (time.Since(begin) < 800*time.Millisecond || id < 100) && time.Since(begin) < 10*time.Second {
		id++
		if err := s.Push(schedFlatFrame(id)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(begin)
	mu.Lock()
	defer mu.Unlock()
	// The spacing is checked on the scheduler's own start times: the runner
	// sees each start some time later, and on a loaded machine that delay
	// varies by more than the period.
	s.mu.Lock()
	slow := s.byName["slow"]
	sched := slices.Clone(slow.starts[:min(slow.startN, startRing)])
	s.mu.Unlock()
	// A run the scheduler has started may not have reached the runner yet.
	if len(sched) < len(starts) || len(sched) > len(starts)+1 || len(sched) == startRing {
		t.Fatalf("the scheduler recorded %d starts, the runner saw %d", len(sched), len(starts))
	}
	for i := 1; i < len(sched); i++ {
		if d := sched[i].Sub(sched[i-1]); d < 50*time.Millisecond*3/4 {
			t.Errorf("starts %d and %d are %v apart; the 20 Hz limit allows 37.5ms", i-1, i, d)
		}
	}
	if max := int(elapsed/(50*time.Millisecond*3/4)) + 2; len(starts) > max || len(starts) < 4 {
		t.Errorf("%d starts in %v, want 4..%d (%d frames pushed)", len(starts), elapsed, max, id)
	}
	m := schedMetricsOf(s, "slow")
	if m.Skipped == 0 || m.TargetRate != 20 || m.EffectiveRate != 20 {
		t.Errorf("slow: skipped %d target %g effective %g, want skips at 20 Hz", m.Skipped, m.TargetRate, m.EffectiveRate)
	}
	if f := schedMetricsOf(s, "fast"); f.Runs <= m.Runs {
		t.Errorf("the unlimited task ran %d times, the 20 Hz one %d (%d frames pushed)", f.Runs, m.Runs, id)
	}
}

// TestSchedulerFairness gives one lane to a heavy task that alone could
// fill it and a light, less important one: the light one still runs on a
// good share of the frames instead of starving.
func TestSchedulerFairness(t *testing.T) {
	cost := map[string]time.Duration{"heavy": 20 * time.Millisecond, "light": 2 * time.Millisecond}
	s := newSchedTest(t, SchedulerOptions{Lanes: []Runner{schedSleepRunner(cost)}, Adapt: time.Hour})
	c := newSchedCollector()
	if err := s.Add(Task{Name: "heavy", Priority: 1, View: schedIDView}, c.on("heavy")); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(Task{Name: "light", View: schedIDView}, c.on("light")); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	id := uint64(0)
	// 800ms, and at least 100 frames: a starved process (a loaded machine,
	// the wasm still being compiled) may sleep much longer than asked.
	for (time.Since(begin) < 800*time.Millisecond || id < 100) && time.Since(begin) < 10*time.Second {
		id++
		if err := s.Push(schedFlatFrame(id)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	h, l := schedMetricsOf(s, "heavy"), schedMetricsOf(s, "light")
	t.Logf("%d frames: heavy %d runs (share %.2f), light %d runs (share %.2f)", id, h.Runs, h.Share, l.Runs, l.Share)
	if h.Runs < 5 || l.Runs < h.Runs/2 {
		t.Errorf("heavy ran %d times, light %d: the light task is starved", h.Runs, l.Runs)
	}
	if h.Share <= l.Share {
		t.Errorf("heavy's share of the lane %.2f is not above light's %.2f", h.Share, l.Share)
	}
}

// TestSchedulerPickReservesLane checks the reservation rule on a state set
// by hand: with one lane busy and the top task's frame due in 5ms, the
// idle lane goes to a task that finishes by then, not to one that would
// still hold it.
func TestSchedulerPickReservesLane(t *testing.T) {
	now := time.Unix(1000, 0)
	s := &Scheduler{now: func() time.Time { return now }, adapt: time.Hour, byName: map[string]*task{}}
	s.lanes = []*lane{{id: 0}, {id: 1}}
	s.freeAt, s.claim = make([]time.Time, 2), make([]bool, 2)
	mk := func(name string, prio int, cost time.Duration) *task {
		t := &task{Task: Task{Name: name, Priority: prio, View: schedIDView}, weight: math.Exp2(float64(prio)), cost: cost,
			laneRuns: make([]uint64, 2), order: uint64(len(s.tasks)), maxRuns: 1}
		s.tasks = append(s.tasks, t)
		s.byPrio = append([]*task{t}, s.byPrio...) // added lowest priority last
		return t
	}
	low := mk("low", 0, 30*time.Millisecond)
	mid := mk("mid", 1, 30*time.Millisecond)
	top := mk("top", 2, 5*time.Millisecond)
	// Frames every 20ms, the last 15ms ago; lane 0 runs low since 1ms ago.
	s.framePer, s.lastPush = 20*time.Millisecond, now.Add(-15*time.Millisecond)
	s.lanes[0].task, s.lanes[0].start, low.running = low, now.Add(-time.Millisecond), 1
	mid.pend, mid.hasPend = job{id: 1, at: s.lastPush}, true

	got, wake := s.pick(s.lanes[1], now)
	if got != nil {
		t.Fatalf("picked %s, want the lane kept for top", got.Name)
	}
	if want := s.lastPush.Add(30 * time.Millisecond); !wake.Equal(want) {
		t.Errorf("wake at %v, want %v (when top's frame would be late)", wake.Sub(now), want.Sub(now))
	}
	// A short task fits before top's frame.
	mid.cost = 3 * time.Millisecond
	if got, _ := s.pick(s.lanes[1], now); got != mid {
		t.Errorf("picked %v, want mid, which finishes before top is due", got)
	}
	// If low's lane frees before top is due, mid may take the idle one.
	mid.cost = 30 * time.Millisecond
	low.cost = 2 * time.Millisecond
	if got, _ := s.pick(s.lanes[1], now); got != mid {
		t.Errorf("picked %v, want mid (lane 0 frees in time for top)", got)
	}
	// Past its share, top gets no reservation.
	low.cost = 30 * time.Millisecond
	top.vt = mid.vt + 2*fairLag
	if got, _ := s.pick(s.lanes[1], now); got != mid {
		t.Errorf("picked %v, want mid (top is over its share)", got)
	}
	// A stalled source reserves nothing.
	top.vt = 0
	s.lastPush = now.Add(-time.Second)
	if got, _ := s.pick(s.lanes[1], now); got != mid {
		t.Errorf("picked %v, want mid (no frame is coming)", got)
	}

	// A lost bet: the lane is kept for top's next frame, which does not
	// come (a source that waits for the results before its next frame).
	// Once the frame is late, the lane goes to mid and reservations stop
	// for a second; a won bet resets the backoff.
	s.lastPush = now.Add(-15 * time.Millisecond)
	if got, _ := s.pick(s.lanes[1], now); got != nil {
		t.Fatalf("picked %s, want the lane kept for top", got.Name)
	}
	now = now.Add(15 * time.Millisecond) // top's frame is 10ms late
	if got, _ := s.pick(s.lanes[1], now); got != mid {
		t.Errorf("picked %v after a lost bet, want mid", got)
	}
	if want := now.Add(reserveBackoff); !s.noReserve.Equal(want) {
		t.Errorf("reservations stop until %v, want %v", s.noReserve.Sub(now), reserveBackoff)
	}
	s.lastPush = now.Add(-15 * time.Millisecond)
	if got, _ := s.pick(s.lanes[1], now); got != mid {
		t.Errorf("picked %v during the backoff, want mid", got)
	}
	now = s.noReserve.Add(time.Millisecond)
	s.lastPush = now.Add(-15 * time.Millisecond)
	s.lanes[0].start = now.Add(-time.Millisecond) // low still busy on lane 0
	if got, _ := s.pick(s.lanes[1], now); got != nil {
		t.Fatalf("picked %s after the backoff, want the lane kept for top", got.Name)
	}
	top.pend, top.hasPend = job{id: 2, at: now}, true // the bet is won
	s.settleReservation(now)
	if s.resTask != nil || s.resMisses != 0 {
		t.Errorf("a won bet left task %v and %d misses", s.resTask, s.resMisses)
	}
}

// TestSchedulerOverload pushes 640x480 frames at about twice the rate three
// tasks can sustain on two lanes: rates are shed least important first,
// the top task keeps its rate, results stay a bounded number of frames
// behind the source, and memory stays flat.
func TestSchedulerOverload(t *testing.T) {
	cost := map[string]time.Duration{"top": 6 * time.Millisecond, "mid": 10 * time.Millisecond, "low": 14 * time.Millisecond}
	lanes := []Runner{schedSleepRunner(cost), schedSleepRunner(cost)}
	s := newSchedTest(t, SchedulerOptions{Lanes: lanes, Adapt: 100 * time.Millisecond,
		Provider: ProviderOptions{MaxFrames: 4}})
	var mu sync.Mutex
	var latest uint64
	maxBehind := map[string]uint64{}
	for i, name := range []string{"low", "mid", "top"} {
		v := View{Width: 32, Height: 32, Crop: "box", Box: Box{float32(100 * i), 0, float32(100*i + 200), 200}}
		if err := s.Add(Task{Name: name, Priority: i, View: v}, func(r Result) {
			mu.Lock()
			if b := latest - r.Frame; b > maxBehind[r.Task] {
				maxBehind[r.Task] = b
			}
			mu.Unlock()
			if r.Err != nil {
				t.Error(r.Err)
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	// Per frame the three need 30ms of lane time: 2 lanes sustain about
	// 67 frames a second. Push about 130.
	f := schedFrame(1, 640, 480)
	var heap [2]uint64
	var maxBytes int
	begin := time.Now()
	bad := ""
	for id := uint64(1); time.Since(begin) < 2*time.Second; id++ {
		f.ID = id
		mu.Lock()
		latest = id
		mu.Unlock()
		if err := s.Push(f); err != nil {
			t.Fatal(err)
		}
		maxBytes = max(maxBytes, s.Provider().Stats().Bytes)
		if id%8 == 0 {
			// Shedding goes by priority: a task is shed only once every
			// less important one is, or runs at no more than its floor
			// (1/s) anyway, as a starved task on a loaded machine may.
			m := s.Metrics()
			above := func(x TaskMetrics) bool { return !x.Shed && x.Rate > 2 }
			if (m[1].Shed && above(m[0])) || (m[2].Shed && above(m[1])) {
				bad = "shed out of priority order: " + m[0].Name + " " + strconv.FormatBool(m[0].Shed) + " " + strconv.FormatFloat(m[0].Rate, 'f', 1, 64) +
					"/s, " + m[1].Name + " " + strconv.FormatBool(m[1].Shed) + " " + strconv.FormatFloat(m[1].Rate, 'f', 1, 64) + "/s, " + m[2].Name + " " + strconv.FormatBool(m[2].Shed)
			}
		}
		if heap[0] == 0 && time.Since(begin) > 600*time.Millisecond {
			heap[0] = schedHeapInuse()
		}
		time.Sleep(7500 * time.Microsecond)
	}
	heap[1] = schedHeapInuse()
	if bad != "" {
		t.Error(bad)
	}
	m := s.Metrics()
	for _, x := range m {
		t.Logf("%s: runs %d dropped %d skipped %d rate %.1f target %g effective %.1f shed %v p50 %v p95 %v share %.2f lanes %v",
			x.Name, x.Runs, x.Dropped, x.Skipped, x.Rate, x.TargetRate, x.EffectiveRate, x.Shed, x.P50, x.P95, x.Share, x.LaneRuns)
	}
	if !m[0].Shed || m[0].EffectiveRate <= 0 {
		t.Errorf("low was not shed (effective rate %g)", m[0].EffectiveRate)
	}
	if m[2].Shed {
		t.Errorf("top was shed to %g", m[2].EffectiveRate)
	}
	if m[2].Runs < m[0].Runs || m[2].Runs < m[1].Runs {
		t.Errorf("top ran %d times, mid %d, low %d", m[2].Runs, m[1].Runs, m[0].Runs)
	}
	mu.Lock()
	for name, b := range maxBehind {
		// A queue would fall behind by hundreds of frames in 2s.
		if b > 40 {
			t.Errorf("%s's results fell %d frames behind the source", name, b)
		}
	}
	mu.Unlock()
	frameBytes := 640 * 480 * 4
	if maxBytes > 4*(frameBytes+3*32*32*3*4) {
		t.Errorf("provider held %d bytes, more than 4 frames and their views", maxBytes)
	}
	t.Logf("heap in use %d KiB after 0.6s, %d KiB after 2s; provider peak %d KiB", heap[0]>>10, heap[1]>>10, maxBytes>>10)
	if heap[1] > heap[0]+16<<20 {
		t.Errorf("heap in use grew from %d to %d KiB", heap[0]>>10, heap[1]>>10)
	}
}

// TestSchedulerChainHoldsFrame: frames come every 3 ms and the Provider
// keeps 2, so a frame ages out 6 ms after it comes, while the detector
// takes 20 ms. The chain holds its frame (the detector's run, then the
// pending crop) so that the chained task still reads it: it runs on every
// detection, never finds its frame gone, and the frames held stay few.
func TestSchedulerChainHoldsFrame(t *testing.T) {
	cost := map[string]time.Duration{"det": 20 * time.Millisecond, "crop": 2 * time.Millisecond}
	lanes := []Runner{schedSleepRunner(cost), schedSleepRunner(cost)}
	s := newSchedTest(t, SchedulerOptions{Lanes: lanes, Provider: ProviderOptions{MaxFrames: 2}})
	box := func([][]float32, int, int) ([]Box, error) { return []Box{{1, 1, 6, 6}}, nil }
	cropView := schedIDView
	cropView.Crop = "face"
	c := newSchedCollector()
	for _, task := range []Task{
		{Name: "det", Priority: 1, View: schedIDView, Boxes: box},
		{Name: "crop", View: cropView, From: "det"},
	} {
		if err := s.Add(task, c.on(task.Name)); err != nil {
			t.Fatal(err)
		}
	}
	maxBytes := 0
	begin := time.Now()
	var id uint64
	for id = 1; time.Since(begin) < 600*time.Millisecond; id++ {
		if err := s.Push(schedFlatFrame(id)); err != nil {
			t.Fatal(err)
		}
		maxBytes = max(maxBytes, s.Provider().Stats().Bytes)
		time.Sleep(3 * time.Millisecond)
	}
	schedWait(t, "the last detection's crop", func() bool {
		d, cr := schedMetricsOf(s, "det"), schedMetricsOf(s, "crop")
		return d.Runs > 0 && cr.Runs+cr.Dropped >= d.Runs
	})
	d, cr := schedMetricsOf(s, "det"), schedMetricsOf(s, "crop")
	t.Logf("%d frames; det runs %d dropped %d; crop runs %d dropped %d; provider peak %d bytes", id-1, d.Runs, d.Dropped, cr.Runs, cr.Dropped, maxBytes)
	if d.Runs < 5 {
		t.Fatalf("det ran %d times in 600 ms", d.Runs)
	}
	if cr.Dropped != 0 || cr.Runs != d.Runs {
		t.Errorf("crop ran %d times and dropped %d for %d detections: a chained task lost its frame", cr.Runs, cr.Dropped, d.Runs)
	}
	for _, r := range c.get("crop") {
		if r.Err != nil {
			t.Fatalf("crop: %v", r.Err)
		}
	}
	// Two newest frames, plus at most the detector's frame and a pending
	// crop's (8x8 RGBA each, and their one-value views).
	if limit := 4 * (8*8*4 + 4*4); maxBytes > limit {
		t.Errorf("the provider held %d bytes, more than 4 frames (%d)", maxBytes, limit)
	}
}

// TestSchedulerOverloadOwnPace: a task slower than the frames drops them
// while it runs back to back on a lane of its own; that is its own pace,
// and shedding the others would free nothing it could use. A light task on
// the second lane, which always has a lane when its frame comes, is not
// shed, though the lanes are over 85% busy and frames are dropped.
func TestSchedulerOverloadOwnPace(t *testing.T) {
	cost := map[string]time.Duration{"slow": 30 * time.Millisecond, "light": 8 * time.Millisecond, "low": 8 * time.Millisecond}
	lanes := []Runner{schedSleepRunner(cost), schedSleepRunner(cost)}
	s := newSchedTest(t, SchedulerOptions{Lanes: lanes, Adapt: 100 * time.Millisecond})
	for i, name := range []string{"low", "light", "slow"} {
		if err := s.Add(Task{Name: name, Priority: i, View: schedIDView}, nil); err != nil {
			t.Fatal(err)
		}
	}
	begin := time.Now()
	for id := uint64(1); time.Since(begin) < 1200*time.Millisecond; id++ {
		if err := s.Push(schedFlatFrame(id)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	low, light, slow := schedMetricsOf(s, "low"), schedMetricsOf(s, "light"), schedMetricsOf(s, "slow")
	for _, m := range []TaskMetrics{low, light, slow} {
		t.Logf("%s: runs %d dropped %d shed %v effective %.1f", m.Name, m.Runs, m.Dropped, m.Shed, m.EffectiveRate)
	}
	if slow.Dropped == 0 || low.Dropped == 0 {
		t.Fatalf("slow dropped %d frames, low %d: the test's premise (frames faster than slow, low losing its turns) does not hold", slow.Dropped, low.Dropped)
	}
	if light.Shed || light.EffectiveRate != 0 {
		t.Errorf("light was shed to %.1f/s while it always had a lane: the slow task's own drops are not overload", light.EffectiveRate)
	}
}

// TestSchedulerShedHelpsTheHurt drives control over hand-set windows: the
// lanes full and only the least important task losing inputs while it
// waited for a lane: cutting its own rate would not help it, so nothing is
// shed. Once a more important task loses one, the least important is cut.
func TestSchedulerShedHelpsTheHurt(t *testing.T) {
	now := time.Unix(1000, 0)
	s := &Scheduler{now: func() time.Time { return now }, adapt: time.Second, byName: map[string]*task{}}
	s.lanes = []*lane{{id: 0}}
	mk := func(name string, prio int) *task {
		t := &task{Task: Task{Name: name, Priority: prio, View: schedIDView}, weight: math.Exp2(float64(prio)),
			laneRuns: make([]uint64, 1), order: uint64(len(s.tasks)), maxRuns: 1}
		s.tasks = append(s.tasks, t)
		s.byPrio = append([]*task{t}, s.byPrio...)
		return t
	}
	low, mid, _ := mk("low", 0), mk("mid", 1), mk("top", 2)
	window := func(lowStarved, midStarved uint64) {
		s.winStart, s.winBusy = now.Add(-time.Second), time.Second // the lane busy all the window
		low.winRuns, low.winBusy, low.winStarved = 20, 400*time.Millisecond, lowStarved
		mid.winRuns, mid.winBusy, mid.winStarved = 20, 300*time.Millisecond, midStarved
		s.control(now)
	}
	window(10, 0)
	if low.shed || mid.shed {
		t.Fatalf("shed low %v (%.1f/s), mid %v when only low lost inputs", low.shed, low.eff, mid.shed)
	}
	window(10, 1)
	if !low.shed || low.eff <= 0 || low.eff >= 20 || mid.shed {
		t.Errorf("mid lost an input: low shed %v to %.1f/s (want below its 20/s), mid shed %v", low.shed, low.eff, mid.shed)
	}
}

// TestSchedulerStarvedOnlyWithoutRun: an input replaced while its task has
// no run counts as starved (overload shedding may help it); one replaced
// while a run is going is the task's own pace, with MaxRuns 2 as with 1.
// Counting the second case made a detector with MaxRuns 2 at twice the
// sustainable frame rate shed the other tasks for its extra runs (edgenn.js,
// 3 tasks at 60 fps: 65 results/s, against 115 with MaxRuns 1; 76-79 with
// this rule).
func TestSchedulerStarvedOnlyWithoutRun(t *testing.T) {
	now := time.Unix(1000, 0)
	s := &Scheduler{now: func() time.Time { return now }, byName: map[string]*task{}}
	tk := &task{Task: Task{Name: "det", Priority: 2, MaxRuns: 2, View: schedIDView}, weight: 4, maxRuns: 2, laneRuns: make([]uint64, 2)}
	s.tasks = []*task{tk}
	id := uint64(0)
	offer := func() {
		id++
		s.offer(tk, job{id: id, at: now})
	}
	offer()
	offer() // replaces an input the task waited with, no run going
	if tk.dropped != 1 || tk.winStarved != 1 {
		t.Fatalf("no run: dropped %d, starved %d, want 1 and 1", tk.dropped, tk.winStarved)
	}
	for _, running := range []int{1, 2} {
		tk.running = running
		offer()
		if tk.dropped != uint64(running)+1 || tk.winStarved != 1 {
			t.Fatalf("%d runs going: dropped %d, starved %d, want %d and 1", running, tk.dropped, tk.winStarved, running+1)
		}
	}
}

func schedHeapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestSchedulerErrors gives five tasks bad inputs of different kinds: each
// reports its own error, and the good task runs every frame.
func TestSchedulerErrors(t *testing.T) {
	lenet, err := NewSession(schedZoo(t, "lenet5"))
	if err != nil {
		t.Fatal(err)
	}
	var lenetMu sync.Mutex
	lane := schedRunnerFunc(func(task string, batch int, input []float32) ([][]float32, error) {
		switch task {
		case "fails":
			return nil, errors.New("out of memory")
		case "panics":
			var m map[string]int
			m["x"]++ // a real runtime panic
		case "misfit":
			lenetMu.Lock()
			defer lenetMu.Unlock()
			out, err := Sessions{"misfit": lenet}.Run(task, batch, input)
			return out, err
		}
		return [][]float32{{float32(batch)}}, nil
	})
	s := newSchedTest(t, SchedulerOptions{Lanes: []Runner{lane, lane}})
	c := newSchedCollector()
	small := View{Width: 8, Height: 8}
	badBoxes := func([][]float32, int, int) ([]Box, error) { return nil, errors.New("no decoder") }
	for _, task := range []Task{
		{Name: "good", Priority: 1, View: small},
		{Name: "fails", View: small},
		{Name: "panics", View: small},
		{Name: "outside", View: View{Width: 8, Height: 8, Crop: "box", Box: Box{1000, 1000, 1100, 1100}}},
		{Name: "misfit", View: View{Width: 32, Height: 32, Color: "gray"}},
		{Name: "detector", View: small, Boxes: badBoxes},
		{Name: "per-box", View: View{Width: 8, Height: 8, Crop: "face"}, From: "detector"},
	} {
		if err := s.Add(task, c.on(task.Name)); err != nil {
			t.Fatal(err)
		}
	}
	for id := uint64(1); id <= 3; id++ {
		if err := s.Push(schedFrame(id, 64, 48)); err != nil {
			t.Fatal(err)
		}
		schedWait(t, "the good task's result", func() bool { return c.count("good") == int(id) })
	}
	for _, k := range []struct{ name, want string }{
		{"fails", "out of memory"},
		{"panics", "panic: assignment to entry in nil map"},
		{"outside", "lies outside the 64x48 frame"},
		{"misfit", "takes 784 values a sample, the view gives 1024"},
		{"detector", "boxes: no decoder"},
	} {
		schedWait(t, k.name+"'s error", func() bool { return c.count(k.name) > 0 })
		r := c.get(k.name)[0]
		if r.Err == nil || !strings.Contains(r.Err.Error(), k.want) || !strings.Contains(r.Err.Error(), `"`+k.name+`"`) {
			t.Errorf("%s: error %v, want one naming the task and %q", k.name, r.Err, k.want)
		}
		if r.Outputs != nil {
			t.Errorf("%s: an error result carries outputs", k.name)
		}
	}
	for _, r := range c.get("good") {
		if r.Err != nil || r.Outputs[0][0] != 1 {
			t.Errorf("good: %v", r.Err)
		}
	}
	if n := c.count("per-box"); n != 0 {
		t.Errorf("per-box ran %d times on a detector that made no boxes", n)
	}
	if m := schedMetricsOf(s, "fails"); m.Errors == 0 || m.Errors != m.Runs {
		t.Errorf("fails: %d errors in %d runs", m.Errors, m.Runs)
	}
}

// TestSchedulerAddErrors checks that bad tasks are refused with an error
// that names the task and the fault.
func TestSchedulerAddErrors(t *testing.T) {
	s := newSchedTest(t, SchedulerOptions{Lanes: []Runner{schedSleepRunner(nil)}})
	boxes := func([][]float32, int, int) ([]Box, error) { return nil, nil }
	face := View{Width: 8, Height: 8, Crop: "face"}
	if err := s.Add(Task{Name: "det", View: schedIDView, Boxes: boxes}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(Task{Name: "plain", View: schedIDView}, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		task Task
		want string
	}{
		{Task{View: schedIDView}, "needs a name"},
		{Task{Name: "det", View: schedIDView}, `"det": already added`},
		{Task{Name: "x", View: View{}}, `"x": engine: view: size 0x0`},
		{Task{Name: "x", View: schedIDView, Rate: math.NaN()}, `"x": rate NaN`},
		{Task{Name: "x", View: schedIDView, Rate: -1}, `"x": rate -1`},
		{Task{Name: "x", View: face, From: "nobody"}, `"x": chains from unknown task "nobody"`},
		{Task{Name: "x", View: face, From: "x"}, `"x": chains from itself`},
		{Task{Name: "x", View: face, From: "plain"}, `"x": chains from "plain", which has no Boxes`},
		{Task{Name: "x", View: face}, `"x": its view crops the box set "face" but From names no task`},
		{Task{Name: "x", View: schedIDView, From: "det"}, `"x": chains from "det" but its view does not crop`},
		{Task{Name: "x", View: face, From: "det", MaxBoxes: -1}, `"x": MaxBoxes -1`},
	} {
		err := s.Add(c.task, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Add(%+v): %v, want an error containing %q", c.task.Name, err, c.want)
		}
	}
	if err := s.Add(Task{Name: "per-face", View: face, From: "det"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove("det"); err == nil || !strings.Contains(err.Error(), `"det": feeds "per-face"`) {
		t.Errorf("Remove(det): %v, want it refused while per-face chains from it", err)
	}
	if err := s.Remove("nobody"); err == nil || !strings.Contains(err.Error(), `"nobody": not found`) {
		t.Errorf("Remove(nobody): %v", err)
	}
	for _, name := range []string{"per-face", "det", "plain"} {
		if err := s.Remove(name); err != nil {
			t.Error(err)
		}
	}
	if m := s.Metrics(); len(m) != 0 {
		t.Errorf("%d tasks left after removing all", len(m))
	}
	if _, err := NewScheduler(SchedulerOptions{}); err == nil {
		t.Error("a scheduler with no lanes was made")
	}
}

// TestSchedulerClose checks that Close stops the lanes and the wake timer
// (no goroutine is left), and that a closed Scheduler refuses work.
func TestSchedulerClose(t *testing.T) {
	base := runtime.NumGoroutine()
	cost := map[string]time.Duration{"a": time.Millisecond, "b": 3 * time.Millisecond}
	s, err := NewScheduler(SchedulerOptions{Lanes: []Runner{schedSleepRunner(cost), schedSleepRunner(cost), schedSleepRunner(cost)}})
	if err != nil {
		t.Fatal(err)
	}
	c := newSchedCollector()
	if err := s.Add(Task{Name: "a", View: schedIDView, Rate: 30}, c.on("a")); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(Task{Name: "b", View: schedIDView}, c.on("b")); err != nil {
		t.Fatal(err)
	}
	for id := uint64(1); id <= 20; id++ {
		if err := s.Push(schedFlatFrame(id)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	schedWait(t, "results", func() bool { return c.count("a") > 0 && c.count("b") > 0 })
	s.Close()
	s.Close()
	if err := s.Push(schedFlatFrame(99)); err != ErrClosed {
		t.Errorf("Push after Close: %v, want ErrClosed", err)
	}
	if err := s.Add(Task{Name: "c", View: schedIDView}, nil); err != ErrClosed {
		t.Errorf("Add after Close: %v, want ErrClosed", err)
	}
	n := c.count("a") + c.count("b")
	schedWait(t, "the goroutines to end", func() bool { return runtime.NumGoroutine() <= base })
	if m := c.count("a") + c.count("b"); m != n {
		t.Errorf("%d results were delivered after Close", m-n)
	}
}

// TestSchedulerPrefetch holds the only lane on frame 1 while frame 2
// arrives: with Prefetch, frame 2's views for every task that will read it
// are made while the lane is held (the top task's and the lower one's; a
// third task on the top task's view shares it), and the runs then read
// them, with the same inputs as without. Without Prefetch nothing is made
// until the lane asks.
func TestSchedulerPrefetch(t *testing.T) {
	grey := View{Width: 2, Height: 2, Color: "gray", Resize: "nearest"}
	for _, prefetch := range []bool{true, false} {
		g := &schedGate{started: make(chan uint64, 16), release: make(chan struct{})}
		s := newSchedTest(t, SchedulerOptions{Lanes: []Runner{g}, Prefetch: prefetch})
		var once sync.Once
		t.Cleanup(func() { once.Do(func() { close(g.release) }) })
		c := newSchedCollector()
		for _, task := range []Task{{Name: "top", Priority: 2, View: schedIDView}, {Name: "low", View: grey}, {Name: "same", View: schedIDView}} {
			if err := s.Add(task, c.on(task.Name)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Push(schedFlatFrame(1)); err != nil {
			t.Fatal(err)
		}
		if got := g.next(t, s); got != 1 {
			t.Fatalf("prefetch %v: first run on frame %d, want 1", prefetch, got)
		}
		// Frame 1's two views are made (the lane's, and with Prefetch the
		// other one); now frame 2 comes while the lane is held.
		if prefetch {
			schedWait(t, "frame 1's views", func() bool { return s.Provider().Stats().Prepared == 2 })
		}
		if err := s.Push(schedFlatFrame(2)); err != nil {
			t.Fatal(err)
		}
		if prefetch {
			schedWait(t, "frame 2's views made while the lane is held", func() bool { return s.Provider().Stats().Prepared == 4 })
		} else {
			time.Sleep(50 * time.Millisecond)
			if n := s.Provider().Stats().Prepared; n != 1 {
				t.Errorf("without prefetch: %d views made while the lane is held, want 1", n)
			}
		}
		// The lane runs frame 2 for each task (frame 1 for top, then the
		// newest for each); every run's input is its frame's view.
		g.free(t)
		for range 3 {
			if got := g.next(t, s); got != 2 {
				t.Errorf("prefetch %v: a run on frame %d, want 2", prefetch, got)
			}
			g.free(t)
		}
		schedWait(t, "four results", func() bool { return c.count("top")+c.count("low")+c.count("same") == 4 })
		st := s.Provider().Stats()
		want := uint64(3) // frame 1's id view, frame 2's id and grey views
		if prefetch {
			want = 4 // and frame 1's grey view, made for "low" before frame 2 replaced it
		}
		if st.Prepared != want {
			t.Errorf("prefetch %v: %d views made in all, want %d", prefetch, st.Prepared, want)
		}
		for _, name := range []string{"low", "same"} {
			if rs := c.get(name); len(rs) != 1 || rs[0].Frame != 2 || math.Round(float64(rs[0].Outputs[0][0])) != 2 {
				t.Errorf("prefetch %v: %s results %+v, want one on frame 2 reading 2", prefetch, name, rs)
			}
		}
		s.Close()
	}
}

// schedClock is a clock a test moves by hand.
type schedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *schedClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *schedClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestSchedulerPrefetchSkipsReplaced: at a steady frame rate faster than
// the task, a frame pushed while the task is busy past the next frame's
// expected push is replaced before the task can start on it, so its view
// is not prefetched; the frame that will be the newest when the run ends
// is. The clock is the test's: the task's run takes 100 ms, and frames
// come every 5 ms, then one after a pause.
func TestSchedulerPrefetchSkipsReplaced(t *testing.T) {
	clock := &schedClock{t: time.Unix(1000, 0)}
	g := &schedGate{started: make(chan uint64, 16), release: make(chan struct{})}
	s := newSchedTest(t, SchedulerOptions{Lanes: []Runner{g}, Prefetch: true, Now: clock.now})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(g.release) }) })
	c := newSchedCollector()
	if err := s.Add(Task{Name: "a", View: schedIDView}, c.on("a")); err != nil {
		t.Fatal(err)
	}
	rounds := func() uint64 { s.mu.Lock(); defer s.mu.Unlock(); return s.prefetchRounds }
	skips := func() uint64 { s.mu.Lock(); defer s.mu.Unlock(); return s.prefetchSkips }
	// push pushes a frame and waits until prefetchLoop has looked at it.
	push := func(id uint64) {
		t.Helper()
		before := rounds()
		if err := s.Push(schedFlatFrame(id)); err != nil {
			t.Fatal(err)
		}
		schedWait(t, "prefetch to look at frame "+strconv.FormatUint(id, 10), func() bool { return rounds() > before })
	}
	push(1)
	if got := g.next(t, s); got != 1 {
		t.Fatalf("first run on frame %d, want 1", got)
	}
	clock.add(5 * time.Millisecond)
	push(2) // 5 ms on: the frame period; the run's cost is not known yet, so made
	schedWait(t, "frame 2's view", func() bool { return s.Provider().Stats().Prepared == 2 })
	clock.add(95 * time.Millisecond)
	g.free(t) // the first run took 100 ms; the lane starts frame 2 at once
	if got := g.next(t, s); got != 2 {
		t.Fatalf("second run on frame %d, want 2", got)
	}
	clock.add(5 * time.Millisecond)
	push(3) // the run ends ~95 ms on, the next frame is due well before
	clock.add(5 * time.Millisecond)
	push(4)
	if n, k := s.Provider().Stats().Prepared, skips(); n != 2 || k != 2 {
		t.Errorf("frames 3 and 4, pushed 5 and 10 ms into a 100 ms run: %d views made (want 2, frames 1 and 2), %d skipped (want 2)", n, k)
	}
	clock.add(85 * time.Millisecond)
	push(5) // 5 ms before the run should end, the period now ~24 ms: this frame is the one
	schedWait(t, "frame 5's view", func() bool { return s.Provider().Stats().Prepared == 3 })
	g.free(t)
	if got := g.next(t, s); got != 5 {
		t.Fatalf("third run on frame %d, want 5", got)
	}
	// The run overruns its ~99 ms average by half (a loaded machine):
	// it is not expected to end at once, so frames pushed now, which
	// another will replace before it ends, are not prepared either.
	clock.add(150 * time.Millisecond)
	push(6)
	clock.add(5 * time.Millisecond)
	push(7)
	if n, k := s.Provider().Stats().Prepared, skips(); n != 3 || k != 4 {
		t.Errorf("frames 6 and 7, pushed 150 and 155 ms into a run that averages 99 ms: %d views made (want 3, frames 1, 2, 5), %d skipped (want 4)", n, k)
	}
	g.free(t)
	if got := g.next(t, s); got != 7 {
		t.Fatalf("fourth run on frame %d, want 7", got)
	}
	g.free(t)
	schedWait(t, "four results", func() bool { return c.count("a") == 4 })
	if n := s.Provider().Stats().Prepared; n != 4 {
		t.Errorf("%d views made in all, want 4 (frames 1, 2, 5, 7)", n)
	}
	if m := schedMetricsOf(s, "a"); m.Dropped != 3 {
		t.Errorf("dropped %d, want 3 (frames 3, 4, 6)", m.Dropped)
	}
}

// TestSchedulerMaxRuns: a task with MaxRuns 2 on two lanes runs frame 2
// while frame 1 is still running; a third frame waits for a lane. Frame 2
// finishing first is delivered, frame 1 after it is dropped as too late,
// and the delivery order is the frame order. With MaxRuns 1 (the default)
// the second lane stays idle for the task, and MaxRuns above the lanes is
// refused.
func TestSchedulerMaxRuns(t *testing.T) {
	g := newSchedTaskGate("det/1", "det/2", "det/3")
	s := newSchedTest(t, SchedulerOptions{Lanes: []Runner{g, g}})
	g.releaseAtCleanup(t)
	if err := s.Add(Task{Name: "x", View: schedIDView, MaxRuns: 3}, nil); err == nil || !strings.Contains(err.Error(), "MaxRuns 3 is outside 0..2") {
		t.Errorf("MaxRuns 3 on 2 lanes: %v", err)
	}
	c := newSchedCollector()
	if err := s.Add(Task{Name: "det", View: schedIDView, MaxRuns: 2}, c.on("det")); err != nil {
		t.Fatal(err)
	}
	push := func(id uint64) {
		t.Helper()
		if err := s.Push(schedFlatFrame(id)); err != nil {
			t.Fatal(err)
		}
	}
	push(1)
	if got := g.next(t); got != "det/1" {
		t.Fatalf("first run %s, want det/1", got)
	}
	push(2)
	if got := g.next(t); got != "det/2" {
		t.Fatalf("second run %s, want det/2 while det/1 runs", got)
	}
	push(3) // both lanes busy: pending
	close(g.ch("det/2"))
	if got := g.next(t); got != "det/3" {
		t.Fatalf("third run %s, want det/3 once frame 2's lane freed", got)
	}
	schedWait(t, "frame 2's result", func() bool { return c.count("det") == 1 })
	close(g.ch("det/1")) // finishes after frame 2's result: too late
	close(g.ch("det/3"))
	schedWait(t, "frame 3's result", func() bool { return c.count("det") == 2 })
	var frames []uint64
	for _, r := range c.get("det") {
		frames = append(frames, r.Frame)
	}
	if !slices.Equal(frames, []uint64{2, 3}) {
		t.Errorf("delivered frames %v, want [2 3]", frames)
	}
	schedWait(t, "frame 1's run booked", func() bool { return schedMetricsOf(s, "det").Dropped == 1 })
	if m := schedMetricsOf(s, "det"); m.Runs != 2 || m.LaneRuns[0]+m.LaneRuns[1] != 3 || m.LaneRuns[0] == 0 || m.LaneRuns[1] == 0 {
		t.Errorf("runs %d lane runs %v, want 2 delivered, 3 run over both lanes", m.Runs, m.LaneRuns)
	}

	// MaxRuns 1: frame 5 waits for the running frame 4, the other lane idle.
	g2 := newSchedTaskGate("det/4", "det/5")
	s2 := newSchedTest(t, SchedulerOptions{Lanes: []Runner{g2, g2}})
	g2.releaseAtCleanup(t)
	c2 := newSchedCollector()
	if err := s2.Add(Task{Name: "det", View: schedIDView}, c2.on("det")); err != nil {
		t.Fatal(err)
	}
	if err := s2.Push(schedFlatFrame(4)); err != nil {
		t.Fatal(err)
	}
	if got := g2.next(t); got != "det/4" {
		t.Fatalf("MaxRuns 1: first run %s, want det/4", got)
	}
	if err := s2.Push(schedFlatFrame(5)); err != nil {
		t.Fatal(err)
	}
	select {
	case k := <-g2.started:
		t.Fatalf("MaxRuns 1: %s started while det/4 runs", k)
	case <-time.After(50 * time.Millisecond):
	}
	close(g2.ch("det/4"))
	if got := g2.next(t); got != "det/5" {
		t.Fatalf("MaxRuns 1: second run %s, want det/5", got)
	}
	close(g2.ch("det/5"))
	schedWait(t, "both results", func() bool { return c2.count("det") == 2 })
}

// schedTaskGate holds each run until the test releases that task's run on
// that frame ("task/frame").
type schedTaskGate struct {
	started chan string
	mu      sync.Mutex
	rel     map[string]chan struct{}
	keys    []string
}

func (g *schedTaskGate) ch(key string) chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.rel[key] == nil {
		g.rel[key] = make(chan struct{})
	}
	return g.rel[key]
}

// newSchedTaskGate returns a gate; keys are the runs the test may leave
// held, released at cleanup (before the Scheduler's Close waits for them).
func newSchedTaskGate(keys ...string) *schedTaskGate {
	return &schedTaskGate{started: make(chan string, 16), rel: map[string]chan struct{}{}, keys: keys}
}

func (g *schedTaskGate) releaseAtCleanup(t *testing.T) {
	t.Cleanup(func() {
		for _, k := range g.keys {
			select {
			case <-g.ch(k):
			default:
				close(g.ch(k))
			}
		}
	})
}

// next returns the key of the next run started, with a deadline.
func (g *schedTaskGate) next(t *testing.T) string {
	t.Helper()
	select {
	case k := <-g.started:
		return k
	case <-time.After(20 * time.Second):
		t.Fatal("no run started in 20s")
		return ""
	}
}

func (g *schedTaskGate) Run(task string, batch int, input []float32) ([][]float32, error) {
	key := task + "/" + strconv.Itoa(int(math.Round(float64(input[0]))))
	g.started <- key
	<-g.ch(key)
	return [][]float32{{input[0]}}, nil
}

// TestSchedulerMaxRunsYields: a top-priority task with MaxRuns 2 starts a
// second run only on a lane no other task wants: when a lane frees and
// both it (running, with a newer frame) and a low-priority task are ready,
// the low one goes first.
func TestSchedulerMaxRunsYields(t *testing.T) {
	g := newSchedTaskGate("top/1", "low/1", "top/2", "low/2")
	s := newSchedTest(t, SchedulerOptions{Lanes: []Runner{g, g}})
	g.releaseAtCleanup(t)
	next := func() string { t.Helper(); return g.next(t) }
	for _, task := range []Task{{Name: "top", Priority: 2, View: schedIDView, MaxRuns: 2}, {Name: "low", View: schedIDView}} {
		if err := s.Add(task, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Push(schedFlatFrame(1)); err != nil {
		t.Fatal(err)
	}
	got := []string{next(), next()}
	slices.Sort(got)
	if !slices.Equal(got, []string{"low/1", "top/1"}) {
		t.Fatalf("first runs %v, want top/1 and low/1", got)
	}
	if err := s.Push(schedFlatFrame(2)); err != nil {
		t.Fatal(err)
	}
	close(g.ch("low/1")) // a lane frees: top (running frame 1, frame 2 pending) and low both want it
	if k := next(); k != "low/2" {
		t.Fatalf("the freed lane ran %s, want low/2 (top's second run only on a lane nobody else wants)", k)
	}
	close(g.ch("top/1"))
	if k := next(); k != "top/2" {
		t.Fatalf("then %s, want top/2", k)
	}
}
