package engine

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/edgenn/edgenn/model"
)

// Runner is one lane of compute: a goroutine natively, a Web Worker reached
// through JS in the browser. Every lane can run every task (it holds each
// task's model). The Scheduler calls Run from one goroutine per lane, one
// call at a time per lane. input holds batch samples of the task's view,
// back to back; it is shared and must not be written. The outputs may alias
// the Runner's memory until its next Run: the Scheduler copies them.
type Runner interface {
	Run(task string, batch int, input []float32) ([][]float32, error)
}

// Sessions is a Runner over compiled Sessions, keyed by task name, for a
// native lane. A Session runs one graph at a time, so give each lane its own
// Sessions.
type Sessions map[string]*Session

// Run runs the task's Session on batch samples, checking first that the
// view fits the model's input.
func (m Sessions) Run(task string, batch int, input []float32) ([][]float32, error) {
	s := m[task]
	if s == nil {
		return nil, errors.New("engine: no session for task " + strconv.Quote(task))
	}
	if len(s.in) != 1 {
		return nil, errors.New("engine: task " + strconv.Quote(task) + ": the model takes " + strconv.Itoa(len(s.in)) + " inputs, a task gives one")
	}
	in := s.in[0]
	if batch <= 0 || len(input)%batch != 0 || len(input)/batch != in.perSample {
		per := 0
		if batch > 0 {
			per = len(input) / batch
		}
		return nil, errors.New("engine: task " + strconv.Quote(task) + ": model input " + strconv.Quote(in.name) + " of shape " +
			model.ShapeString(in.shape) + " takes " + strconv.Itoa(in.perSample) + " values a sample, the view gives " + strconv.Itoa(per))
	}
	return s.Run(input)
}

// Task is one model watching the source.
type Task struct {
	// Name identifies the task to the Scheduler and to the Runners.
	Name string
	// Priority orders tasks: higher is more important. It wins ties for a
	// lane, keeps a lane free when it is due soon, weighs the task's fair
	// share of lane time (2^Priority) and is shed last under overload.
	Priority int
	// Rate is the target runs per second; 0 means as often as input comes.
	Rate float64
	// View is the input the task makes from a frame.
	View View
	// From names the task whose boxes this one runs on: one batched Run
	// over the boxes of that task's result on the same frame. The view
	// then crops a box set (View.ByBox).
	From string
	// MaxBoxes caps the boxes a chained task takes from one result
	// (default 8), so that a crowded frame cannot stall the lanes.
	MaxBoxes int
	// Boxes turns the task's outputs into boxes in frame pixels; set it on
	// a task that others chain from (a detector's decode).
	Boxes func(outputs [][]float32, frameW, frameH int) ([]Box, error)
	// MaxRuns is how many lanes may run the task at once, each run on a
	// newer frame than the one before (default 1; at most the lanes). It
	// lets a task slower than the frames keep up with them over several
	// lanes, as a detector on a pool of workers, where one run at a time
	// leaves the other lanes idle. A further run takes only a lane no
	// other task wants. Results are still delivered one at a time and in
	// frame order: a run finishing after a newer frame's result is
	// dropped (counted in Dropped). Natively, where each run already
	// spreads its kernels over the cores, it only adds contention.
	MaxRuns int
}

// Result is one run of a task.
type Result struct {
	Task    string
	Frame   uint64      // the frame's ID
	Batch   int         // samples run: 1, or the boxes of a chained task
	Outputs [][]float32 // owned by the Result
	// Boxes are the boxes Task.Boxes made from the outputs, or for a
	// chained task the boxes it ran on (one per batch item).
	Boxes []Box
	// Latency runs from the frame's Push to the result; Compute is the
	// time the run held its lane (views, Run, copying, Boxes).
	Latency, Compute time.Duration
	Err              error
}

// TaskMetrics describes how a task fares.
type TaskMetrics struct {
	Name     string
	Priority int
	Runs     uint64 // runs finished, errors included
	// Dropped counts inputs the task wanted by its rate but could not
	// start before a newer one replaced it (lanes busy, or its frame aged
	// out); Skipped counts inputs passed over by the rate limit.
	Dropped, Skipped, Errors uint64
	Rate                     float64 // runs per second over the last two seconds
	TargetRate               float64 // Task.Rate; 0 means as often as input comes
	// EffectiveRate is the rate limit after overload shedding: TargetRate
	// unless shed (0 again means no limit).
	EffectiveRate float64
	Shed          bool
	P50, P95      time.Duration // latency over the last 256 results
	Share         float64       // fraction of the lanes' busy time, recent
	Compute       time.Duration // moving average of a run's lane time
	LaneRuns      []uint64      // runs per lane, in SchedulerOptions.Lanes order (overtaken ones too: MaxRuns)
}

// SchedulerOptions configure a Scheduler.
type SchedulerOptions struct {
	// Lanes are the compute lanes, at least one.
	Lanes []Runner
	// Provider bounds the frames and views kept.
	Provider ProviderOptions
	// Adapt is how often overload control looks back (default 500ms).
	Adapt time.Duration
	// Now is the clock (default time.Now). Waits use real timers.
	Now func() time.Time
	// Prefetch makes each pushed frame's views for the tasks that will
	// read it as soon as it comes, on a goroutine of its own, highest
	// priority first, so that a lane finds its task's input made. It pays
	// where the lanes' compute runs elsewhere (Web Workers reached through
	// JS, a peer): the views are made while the lanes run the frame
	// before. A view of a frame that a newer one replaces before its
	// turn is not made.
	Prefetch bool
}

// ErrClosed is returned by a Scheduler that has been closed.
var ErrClosed = errors.New("engine: the scheduler is closed")

// Scheduler shares a source's frames and a few lanes of compute among
// tasks. Each task keeps at most one pending input, always the newest, and
// runs at most once at a time, so queues and latency stay bounded whatever
// the frame rate. scheduler_policy.go describes the policy. A Scheduler is safe for
// concurrent use.
type Scheduler struct {
	mu    sync.Mutex
	cond  *sync.Cond
	prov  *Provider
	now   func() time.Time
	adapt time.Duration
	lanes []*lane
	wg    sync.WaitGroup

	tasks  []*task // in the order added
	byPrio []*task // highest priority first, then in the order added
	byName map[string]*task
	cands  []*task // pick's scratch
	freeAt []time.Time
	claim  []bool

	closed   bool
	quit     chan struct{} // closed by Close
	prefetch chan struct{} // a frame to prefetch (Prefetch)
	// prefetchRounds counts the frames prefetchLoop looked at, and
	// prefetchSkips the views it left to the lanes (for the tests).
	prefetchRounds, prefetchSkips uint64
	seq                           uint64 // frames pushed
	latest                        job    // the newest frame, when seq > 0
	lastPush                      time.Time
	framePer                      time.Duration // moving average of the push interval
	vnow                          float64       // virtual time of the last dispatched run

	timer   *time.Timer
	timerAt time.Time // zero when no wake is pending

	// A reservation bets that resTask will be ready by resBy. When the bet
	// fails (a source that waits for results before its next frame, a
	// detector that found no face), reservations stop until noReserve,
	// a backoff that doubles with each miss in a row.
	resTask   *task
	resBy     time.Time
	resMisses int
	noReserve time.Time

	winStart time.Time // overload control window
	winBusy  time.Duration
	calm     int     // windows in a row with room to spare
	busyDec  float64 // lanes' busy seconds, decayed each window
	added    uint64
}

type lane struct {
	id    int
	r     Runner
	task  *task // running, or nil
	start time.Time
	inbuf []float32 // a chained task's batch
}

// job is one pending input of a task.
type job struct {
	id     uint64 // frame ID
	w, h   int
	pushed time.Time // the frame's Push, for latency
	at     time.Time // when the input became available
	boxes  []Box     // chained tasks
	// held: the job holds its frame in the Provider (Provider.hold), so
	// that a chain's frame does not age out between the detector's run
	// and the crops of its boxes however fast frames come.
	held bool
}

const (
	latRing   = 256
	startRing = 64
	// fairLag is the virtual time (seconds of compute over weight) a task
	// may run ahead of the most deprived ready task before it yields on
	// priority: it bounds how long a heavy task can hold off a light one.
	fairLag = 0.05
)

type task struct {
	Task
	on       func(Result)
	weight   float64
	parent   *task
	children []*task
	order    uint64

	pend    job
	hasPend bool
	running int // runs in progress, up to maxRuns
	maxRuns int
	removed bool
	// lastFrame is the newest frame whose result was (being) delivered;
	// delivering is set while one is.
	lastFrame  uint64
	delivering bool
	due        time.Time // earliest next start under the rate limit
	eff        float64   // effective rate; 0 = no limit
	shed       bool
	vt         float64       // virtual time: lane seconds over weight
	cost       time.Duration // moving average of a run's lane time
	lastBox    int           // boxes in the last result (parents)

	runs, dropped, skipped, errs uint64
	// winStarved counts, in the overload window, inputs replaced while
	// the task waited for a lane: what shedding others can help. An input
	// replaced while the task runs back to back is its own pace, also with
	// MaxRuns > 1: a further run at once takes only a lane no other task
	// wants, so shedding the others for it would trade their runs for it.
	winRuns, winStarved uint64
	winBusy             time.Duration
	lat                 [latRing]time.Duration
	latN                int
	starts              [startRing]time.Time
	startN              int
	laneRuns            []uint64
	busyDec             float64
	addedAt             time.Time
}

// NewScheduler starts one goroutine per lane.
func NewScheduler(opt SchedulerOptions) (*Scheduler, error) {
	if len(opt.Lanes) == 0 {
		return nil, errors.New("engine: scheduler: no lanes")
	}
	for i, r := range opt.Lanes {
		if r == nil {
			return nil, errors.New("engine: scheduler: lane " + strconv.Itoa(i) + " is nil")
		}
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Adapt <= 0 {
		opt.Adapt = 500 * time.Millisecond
	}
	s := &Scheduler{
		prov:   NewProvider(opt.Provider),
		now:    opt.Now,
		adapt:  opt.Adapt,
		byName: map[string]*task{},
		freeAt: make([]time.Time, len(opt.Lanes)),
		claim:  make([]bool, len(opt.Lanes)),
	}
	s.cond = sync.NewCond(&s.mu)
	s.quit = make(chan struct{})
	for i, r := range opt.Lanes {
		s.lanes = append(s.lanes, &lane{id: i, r: r})
	}
	s.wg.Add(len(s.lanes))
	for _, l := range s.lanes {
		go s.run(l)
	}
	if opt.Prefetch {
		s.prefetch = make(chan struct{}, 1)
		s.wg.Add(1)
		go s.prefetchLoop()
	}
	return s, nil
}

// startsAt estimates when t can next start, from the runs' average lane
// times: when its own run ends, or else when the first lane frees. A run
// already past its average (a loaded machine) is expected to take half an
// average more, not to end at once. Called with s.mu held.
func (s *Scheduler) startsAt(t *task) time.Time {
	var first time.Time
	now := s.now()
	for _, l := range s.lanes {
		if l.task == nil {
			if t.running < t.maxRuns {
				return now
			}
			continue
		}
		end := l.start.Add(l.task.cost)
		if !end.After(now) {
			end = now.Add(l.task.cost / 2)
		}
		if l.task == t {
			return end
		}
		if first.IsZero() || end.Before(first) {
			first = end
		}
	}
	return first
}

// prefetchLoop makes the newest frame's views for the tasks that read
// frames and will run it (pending, and wanted under their rate), in
// priority order; identical views are made once, and a lane asking for
// one being made waits for it (Provider.View). It gives up on a frame
// once a newer one is pushed.
func (s *Scheduler) prefetchLoop() {
	defer s.wg.Done()
	var views []View
	for {
		select {
		case <-s.quit:
			return
		case <-s.prefetch:
		}
		s.mu.Lock()
		id := s.latest.id
		// At a steady frame rate, a task busy (or waiting for a lane)
		// past the next frame's expected push will run that frame, not
		// this one: its view would be made for nothing.
		next := s.lastPush.Add(s.framePer)
		views = views[:0]
		for _, t := range s.byPrio {
			if t.parent != nil || !t.hasPend || t.pend.id != id || !t.wants(t.pend) {
				continue
			}
			if s.framePer > 0 && s.startsAt(t).After(next) {
				s.prefetchSkips++
				continue
			}
			if !slices.ContainsFunc(views, func(v View) bool { return v.Key() == t.View.Key() }) {
				views = append(views, t.View)
			}
		}
		s.prefetchRounds++
		s.mu.Unlock()
		for _, v := range views {
			s.mu.Lock()
			stale := s.closed || s.latest.id != id
			s.mu.Unlock()
			if stale {
				break
			}
			// An error is the lane's to report when it asks again.
			s.prov.View(id, v, Box{})
		}
	}
}

// Provider returns the Provider the frames go through, for its Stats and
// for views outside the scheduled tasks.
func (s *Scheduler) Provider() *Provider { return s.prov }

func taskError(name, what string) error {
	return errors.New("engine: task " + strconv.Quote(name) + ": " + what)
}

// Add adds a task. onResult, if not nil, receives each result on the lane
// that ran it, outside the Scheduler's lock, one at a time per task and in
// order; it must return soon, as the lane waits for it.
func (s *Scheduler) Add(t Task, onResult func(Result)) error {
	if t.Name == "" {
		return errors.New("engine: a task needs a name")
	}
	if len(t.Name) > 256 {
		return taskError(t.Name[:32]+"...", "name longer than 256 bytes")
	}
	if err := t.View.Check(); err != nil {
		return taskError(t.Name, err.Error())
	}
	if math.IsNaN(t.Rate) || math.IsInf(t.Rate, 0) || t.Rate < 0 || t.Rate > 1e4 {
		return taskError(t.Name, "rate "+strconv.FormatFloat(t.Rate, 'g', -1, 64)+" is outside 0..10000")
	}
	if t.MaxBoxes < 0 || t.MaxBoxes > maxBatch {
		return taskError(t.Name, "MaxBoxes "+strconv.Itoa(t.MaxBoxes)+" is outside 0.."+strconv.Itoa(maxBatch))
	}
	if t.MaxBoxes == 0 {
		t.MaxBoxes = 8
	}
	if t.MaxRuns < 0 || t.MaxRuns > len(s.lanes) {
		return taskError(t.Name, "MaxRuns "+strconv.Itoa(t.MaxRuns)+" is outside 0.."+strconv.Itoa(len(s.lanes))+" (the lanes)")
	}
	if t.From == t.Name {
		return taskError(t.Name, "chains from itself (a cycle)")
	}
	if t.From == "" && t.View.ByBox() {
		return taskError(t.Name, "its view crops the box set "+strconv.Quote(t.View.Crop)+" but From names no task to take the boxes from")
	}
	if t.From != "" && !t.View.ByBox() {
		return taskError(t.Name, "chains from "+strconv.Quote(t.From)+" but its view does not crop a box set (View.Crop)")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.byName[t.Name] != nil {
		return taskError(t.Name, "already added")
	}
	nt := &task{Task: t, on: onResult, weight: math.Exp2(float64(min(max(t.Priority, -8), 8))),
		eff: t.Rate, laneRuns: make([]uint64, len(s.lanes)), addedAt: s.now(), order: s.added, maxRuns: max(t.MaxRuns, 1)}
	s.added++
	if t.From != "" {
		p := s.byName[t.From]
		if p == nil {
			return taskError(t.Name, "chains from unknown task "+strconv.Quote(t.From))
		}
		if p.Boxes == nil {
			return taskError(t.Name, "chains from "+strconv.Quote(t.From)+", which has no Boxes function")
		}
		// From must name a task already added, so the chains form a
		// forest and a cycle other than the self-chain cannot arise.
		nt.parent = p
		p.children = append(p.children, nt)
	}
	nt.vt = s.vnow
	s.tasks = append(s.tasks, nt)
	s.byName[t.Name] = nt
	s.byPrio = append(s.byPrio, nt)
	sortTasks(s.byPrio, func(a, b *task) int { return b.Priority - a.Priority })
	if nt.parent == nil && s.seq > 0 {
		s.offer(nt, s.latest)
		s.cond.Broadcast()
	}
	return nil
}

// Remove removes a task. A run in progress finishes; its result is not
// delivered unless delivery had begun. A task others chain from cannot be
// removed before them.
func (s *Scheduler) Remove(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.byName[name]
	if t == nil {
		return taskError(name, "not found")
	}
	if len(t.children) > 0 {
		return taskError(name, "feeds "+strconv.Quote(t.children[0].Name)+"; remove it first")
	}
	t.removed = true
	if t.hasPend {
		s.unhold(t.pend)
		t.hasPend = false
	}
	delete(s.byName, name)
	s.tasks = removeTask(s.tasks, t)
	s.byPrio = removeTask(s.byPrio, t)
	if p := t.parent; p != nil {
		p.children = removeTask(p.children, t)
	}
	return nil
}

// Push adds a frame (its pixels are copied) and hands it to every task
// that reads frames, replacing any older frame still pending.
func (s *Scheduler) Push(f Frame) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	// Under s.mu so that the provider's order and the tasks' agree.
	if err := s.prov.Push(f); err != nil {
		return err
	}
	now := s.now()
	if s.seq > 0 {
		d := now.Sub(s.lastPush)
		if s.framePer == 0 {
			s.framePer = d
		} else {
			s.framePer += (d - s.framePer) / 8
		}
	}
	s.seq++
	s.lastPush = now
	s.latest = job{id: f.ID, w: f.Width, h: f.Height, pushed: now, at: now}
	for _, t := range s.tasks {
		if t.parent == nil {
			s.offer(t, s.latest)
		}
	}
	s.control(now)
	s.cond.Broadcast()
	if s.prefetch != nil {
		select {
		case s.prefetch <- struct{}{}:
		default: // already signalled: it reads s.latest
		}
	}
	return nil
}

// Close stops the lanes, waiting for runs in progress to finish. Results
// not yet delivered are dropped.
func (s *Scheduler) Close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.quit)
		if s.timer != nil {
			s.timer.Stop()
		}
		s.cond.Broadcast()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Metrics returns each task's metrics, in the order the tasks were added.
func (s *Scheduler) Metrics() []TaskMetrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var sorted [latRing]time.Duration
	m := make([]TaskMetrics, 0, len(s.tasks))
	for _, t := range s.tasks {
		tm := TaskMetrics{Name: t.Name, Priority: t.Priority, Runs: t.runs, Dropped: t.dropped, Skipped: t.skipped,
			Errors: t.errs, Rate: t.rate(now), TargetRate: t.Rate, EffectiveRate: t.eff, Shed: t.shed,
			Compute: t.cost, LaneRuns: slices.Clone(t.laneRuns)}
		if s.busyDec > 0 {
			tm.Share = t.busyDec / s.busyDec
		}
		n := min(t.latN, latRing)
		if n > 0 {
			l := sorted[:n]
			copy(l, t.lat[:n])
			slices.Sort(l)
			tm.P50 = l[(n-1)*50/100]
			tm.P95 = l[(n-1)*95/100]
		}
		m = append(m, tm)
	}
	return m
}

// rate returns the starts per second over the last two seconds.
func (t *task) rate(now time.Time) float64 {
	const window = 2 * time.Second
	n := 0
	var oldest time.Time
	for i := 0; i < min(t.startN, startRing); i++ {
		ts := t.starts[(t.startN-1-i)%startRing]
		if now.Sub(ts) > window {
			break
		}
		n++
		oldest = ts
	}
	if n == 0 {
		return 0
	}
	span := window
	if n == startRing {
		span = now.Sub(oldest)
	}
	if age := now.Sub(t.addedAt); age < span {
		span = age
	}
	if span <= 0 {
		return 0
	}
	return float64(n) / span.Seconds()
}

// run is a lane's loop.
func (s *Scheduler) run(l *lane) {
	defer s.wg.Done()
	s.mu.Lock()
	for {
		if s.closed {
			s.mu.Unlock()
			return
		}
		now := s.now()
		t, wake := s.pick(l, now)
		if t == nil {
			s.wakeAt(wake, now)
			s.cond.Wait()
			continue
		}
		j := s.start(l, t, now)
		s.mu.Unlock()

		res, gone := s.exec(l, t, j)

		s.mu.Lock()
		deliver := s.finish(l, t, j, &res, gone)
		s.unhold(j) // its chained tasks, if any, hold the frame now
		if deliver {
			// One delivery at a time per task (MaxRuns > 1), in the
			// frame order finish checked.
			for t.delivering {
				s.cond.Wait()
			}
			t.delivering = true
			s.mu.Unlock()
			t.on(res)
			s.mu.Lock()
			t.delivering = false
		}
		t.running--
		s.cond.Broadcast()
	}
}

// start takes t's pending input onto lane l. Called with s.mu held.
func (s *Scheduler) start(l *lane, t *task, now time.Time) job {
	j := t.pend
	t.pend, t.hasPend = job{}, false
	if len(t.children) > 0 && !j.held {
		j.held = s.prov.hold(j.id)
	}
	t.running++
	l.task, l.start = t, now
	if t.eff > 0 {
		// The next start is a period on, less up to a quarter period of
		// this start's lateness, so that a task at the frame rate stays
		// locked to the frames instead of slipping one at a time.
		p := time.Duration(float64(time.Second) / t.eff)
		late := time.Duration(0)
		if !t.due.IsZero() {
			late = min(max(now.Sub(t.due), 0), p/4)
		}
		t.due = now.Add(p - late)
	} else {
		t.due = time.Time{}
	}
	s.vnow = max(s.vnow, t.vt)
	t.starts[t.startN%startRing] = now
	t.startN++
	return j
}

// exec runs a job outside the lock: the views, the Runner, Boxes. gone
// reports that the frame aged out before its views were made.
func (s *Scheduler) exec(l *lane, t *task, j job) (res Result, gone bool) {
	res = Result{Task: t.Name, Frame: j.id, Batch: 1}
	defer func() {
		if v := recover(); v != nil {
			res.Outputs, res.Err = nil, taskError(t.Name, "panic: "+panicString(v))
		}
	}()
	var in []float32
	if t.parent == nil {
		v, err := s.prov.View(j.id, t.View, Box{})
		if err == ErrFrameGone {
			return res, true
		}
		if err != nil {
			res.Err = taskError(t.Name, err.Error())
			return res, false
		}
		in = v
	} else {
		// Boxes whose view cannot be made (outside the frame, empty) are
		// left out; Result.Boxes lists those run.
		n := t.View.Len()
		if need := n * len(j.boxes); cap(l.inbuf) < need {
			l.inbuf = make([]float32, need)
		}
		var first error
		run := make([]Box, 0, len(j.boxes))
		for _, b := range j.boxes {
			v, err := s.prov.View(j.id, t.View, b)
			if err == ErrFrameGone {
				return res, true
			}
			if err != nil {
				if first == nil {
					first = err
				}
				continue
			}
			copy(l.inbuf[n*len(run):], v)
			run = append(run, b)
		}
		if len(run) == 0 {
			res.Err = taskError(t.Name, first.Error())
			return res, false
		}
		in, res.Batch, res.Boxes = l.inbuf[:n*len(run)], len(run), run
	}
	outs, err := l.r.Run(t.Name, res.Batch, in)
	if err != nil {
		res.Err = taskError(t.Name, err.Error())
		return res, false
	}
	res.Outputs = make([][]float32, len(outs))
	for i, o := range outs {
		res.Outputs[i] = slices.Clone(o)
	}
	if t.Boxes != nil {
		boxes, err := t.Boxes(res.Outputs, j.w, j.h)
		if err != nil {
			res.Outputs, res.Err = nil, taskError(t.Name, "boxes: "+err.Error())
			return res, false
		}
		res.Boxes = boxes
	}
	return res, false
}

func panicString(v any) string {
	switch v := v.(type) {
	case error:
		return v.Error()
	case string:
		return v
	}
	return "non-error value"
}

// finish books a finished job and hands its boxes to the chained tasks.
// It reports whether the result goes to the task's callback. Called with
// s.mu held.
func (s *Scheduler) finish(l *lane, t *task, j job, res *Result, gone bool) bool {
	now := s.now()
	d := now.Sub(l.start)
	inWin := now.Sub(later(l.start, s.winStart))
	s.winBusy += inWin
	t.winBusy += inWin
	l.task = nil
	s.busyDec += d.Seconds()
	t.busyDec += d.Seconds()
	if t.cost == 0 {
		t.cost = d
	} else {
		t.cost += (d - t.cost) / 5
	}
	t.vt += d.Seconds() / t.weight
	if !gone {
		t.laneRuns[l.id]++
	}
	// gone: the frame aged out before the run could read it. Below the
	// frame of a result already delivered (MaxRuns > 1, a newer frame's
	// run finished first): in order, this one comes too late.
	if gone || j.id <= t.lastFrame {
		t.dropped++
		s.control(now)
		return false
	}
	t.lastFrame = j.id
	res.Compute = d
	res.Latency = now.Sub(j.pushed)
	t.runs++
	t.winRuns++
	if res.Err != nil {
		t.errs++
	} else {
		t.lat[t.latN%latRing] = res.Latency
		t.latN++
	}
	if res.Err == nil && t.Boxes != nil {
		t.lastBox = len(res.Boxes)
		for _, c := range t.children {
			if len(res.Boxes) == 0 {
				break
			}
			b := res.Boxes[:min(len(res.Boxes), c.MaxBoxes):min(len(res.Boxes), c.MaxBoxes)]
			s.offer(c, job{id: j.id, w: j.w, h: j.h, pushed: j.pushed, at: now, boxes: b})
		}
	}
	s.control(now)
	return t.on != nil && !t.removed && !s.closed
}

// sortTasks sorts ts by cmp, stably: an insertion sort, for the few tasks
// of a scheduler. The slices package's generic sorts would do as well, but
// their instances keep task, and through it time.Time's formatting code,
// reachable from interfaces in the wasm build (with the other paths, 30 KB
// gzip).
func sortTasks(ts []*task, cmp func(a, b *task) int) {
	for i := 1; i < len(ts); i++ {
		for j := i; j > 0 && cmp(ts[j-1], ts[j]) > 0; j-- {
			ts[j-1], ts[j] = ts[j], ts[j-1]
		}
	}
}

// removeTask returns ts without t, in place (see sortTasks for why not
// slices.DeleteFunc).
func removeTask(ts []*task, t *task) []*task {
	out := ts[:0]
	for _, x := range ts {
		if x != t {
			out = append(out, x)
		}
	}
	clear(ts[len(out):])
	return out
}

// unhold releases j's hold on its frame, if it has one. Called with s.mu
// held.
func (s *Scheduler) unhold(j job) {
	if j.held {
		s.prov.release(j.id)
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// offer makes j t's pending input, replacing (and counting) an older one.
// Called with s.mu held.
func (s *Scheduler) offer(t *task, j job) {
	if t.parent != nil {
		j.held = s.prov.hold(j.id)
	}
	if t.hasPend {
		s.unhold(t.pend)
		if t.wants(t.pend) {
			t.dropped++
			if t.running == 0 {
				t.winStarved++
			}
		} else {
			t.skipped++
		}
	} else if t.running == 0 {
		// A task coming back from idle keeps at most fairLag of credit
		// over the tasks that kept busy: enough that a light task idle
		// between frames still gets its turn, too little to bank time.
		v, any := 0.0, false
		for _, o := range s.tasks {
			if o != t && (o.hasPend || o.running > 0) && (!any || o.vt < v) {
				v, any = o.vt, true
			}
		}
		if !any {
			v = s.vnow
		}
		t.vt = max(t.vt, v-fairLag)
	}
	t.pend, t.hasPend = j, true
}

// period returns the interval of t's effective rate, 0 when unlimited.
func (t *task) period() time.Duration {
	if t.eff <= 0 {
		return 0
	}
	return time.Duration(float64(time.Second) / t.eff)
}

// wants reports whether t would run j under its rate limit: j came no more
// than a quarter period before t's next start is due. An older input is
// passed over for the next one, which is fresher when the start comes.
func (t *task) wants(j job) bool {
	if t.due.IsZero() {
		return true
	}
	return !j.at.Before(t.due.Add(-t.period() / 4))
}

// wakeAt makes sure the lanes wake at at, for a task that becomes due then.
// Called with s.mu held.
func (s *Scheduler) wakeAt(at, now time.Time) {
	if at.IsZero() || (!s.timerAt.IsZero() && !at.Before(s.timerAt)) {
		return
	}
	s.timerAt = at
	d := at.Sub(now)
	if d < 100*time.Microsecond {
		d = 100 * time.Microsecond
	}
	if s.timer == nil {
		s.timer = time.AfterFunc(d, s.ring)
	} else {
		s.timer.Reset(d)
	}
}

func (s *Scheduler) ring() {
	s.mu.Lock()
	s.timerAt = time.Time{}
	s.cond.Broadcast()
	s.mu.Unlock()
}
