package engine

import (
	"math"
	"time"
)

// The Scheduler's policy, in the order it decides:
//
//  1. Ready tasks are those with a pending input they want (rate limit) and
//     no run in progress.
//  2. Fairness: each task has a virtual time, its lane seconds over its
//     weight 2^Priority. A task more than fairLag ahead of the most deprived
//     ready task yields; among the others the highest priority goes first.
//  3. Reservation: a task does not take a lane if, by its expected run
//     time, a more important task (not over its share) will be ready and
//     no other lane will be free for it. Runs are not preempted, so this is
//     how the top task keeps its solo latency on shared lanes. The
//     expectation is a bet (the next frame on the source's clock, a child
//     after its parent): when the task is not ready in time, as with a
//     source that waits for the results before its next frame, the lane
//     sat idle for nothing, and reservations stop for a backoff.
//  4. Overload: every Adapt period, if the lanes were nearly all busy and
//     a task dropped inputs while it waited for a lane, or missed its
//     rate, the least important task less important than it and above
//     its floor has its rate lowered (and the next ones up, while the tasks
//     cut held too little lane time for the cut to matter; never the most
//     important ones); when the lanes have room again rates come back,
//     most important first, a step at a time.
//     Latency stays bounded regardless: a task holds one pending input.
//  5. A task with MaxRuns > 1 starts a further run while one is in
//     progress only on a lane no task without a run wants.
//  6. Prefetch (SchedulerOptions.Prefetch): views are made when the frame
//     comes, not when a lane starts, for the tasks that will run it: not
//     for a task busy (or waiting for a lane) past the next frame's
//     expected push, which will run that frame instead.

// pick chooses the task lane l runs next, or returns when to look again.
// Called with s.mu held.
func (s *Scheduler) pick(l *lane, now time.Time) (*task, time.Time) {
	s.settleReservation(now)
	var wake time.Time
	c := s.cands[:0]
	minVT := math.Inf(1)
	for _, t := range s.tasks {
		if t.running >= t.maxRuns || !t.hasPend || !t.wants(t.pend) {
			continue
		}
		if now.Before(t.due) {
			wake = earliest(wake, t.due)
			continue
		}
		c = append(c, t)
		minVT = min(minVT, t.vt)
	}
	s.cands = c
	if len(c) == 0 {
		return nil, wake
	}
	sortTasks(c, func(a, b *task) int {
		ea, eb := a.vt <= minVT+fairLag, b.vt <= minVT+fairLag
		switch {
		case (a.running > 0) != (b.running > 0):
			// A task's second run at once (MaxRuns) takes only a lane
			// no other task wants.
			if a.running > 0 {
				return 1
			}
			return -1
		case ea != eb:
			if ea {
				return -1
			}
			return 1
		case ea && a.Priority != b.Priority:
			return b.Priority - a.Priority
		case a.vt != b.vt:
			if a.vt < b.vt {
				return -1
			}
			return 1
		}
		return int(a.order) - int(b.order)
	})
	for _, t := range c {
		if r, ok := s.reserved(l, t, now, minVT); ok {
			wake = earliest(wake, r)
			continue
		}
		return t, wake
	}
	return nil, wake
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// reserved reports whether c must leave lane l to a more important task
// that will be ready before c would finish, and if so when to look again.
// Called with s.mu held.
func (s *Scheduler) reserved(l *lane, c *task, now time.Time, minVT float64) (time.Time, bool) {
	if c.cost == 0 || now.Before(s.noReserve) {
		return time.Time{}, false
	}
	end := now.Add(c.cost)
	for i, o := range s.lanes {
		s.claim[i] = o == l
		s.freeAt[i] = now
		if o.task != nil {
			s.freeAt[i] = later(o.start.Add(o.task.cost), now)
		}
	}
	for _, h := range s.byPrio {
		if h.Priority <= c.Priority {
			break
		}
		if h.vt > minVT+fairLag {
			continue // over its share: it waits its turn
		}
		if h.running > 0 {
			// It will want a lane again; count on its own.
			for i, o := range s.lanes {
				if o.task == h {
					s.claim[i] = true
				}
			}
			continue
		}
		r, recheck, ok := s.expectReady(h, now, 0)
		if !ok || !r.Before(end) {
			continue
		}
		tol := h.cost / 10
		found := false
		for i := range s.lanes {
			if !s.claim[i] && !s.freeAt[i].After(r.Add(tol)) {
				s.claim[i], found = true, true
				break
			}
		}
		if !found {
			if s.resTask == nil || r.Before(s.resBy) {
				s.resTask, s.resBy = h, r.Add(max(tol, s.framePer/4, time.Millisecond))
			}
			return recheck, true
		}
	}
	return time.Time{}, false
}

// Reservation backoff: after a reservation whose task did not become ready
// in time, none for reserveBackoff, doubling with each miss in a row up to
// maxReserveBackoff.
const (
	reserveBackoff    = time.Second
	maxReserveBackoff = 16 * time.Second
)

// settleReservation scores the pending reservation bet, if any: won when
// its task is ready or running, lost when its time has passed. Called with
// s.mu held.
func (s *Scheduler) settleReservation(now time.Time) {
	h := s.resTask
	switch {
	case h == nil:
	case h.running > 0 || (h.hasPend && h.wants(h.pend)):
		s.resTask, s.resMisses = nil, 0
	case now.After(s.resBy):
		s.resTask = nil
		s.resMisses++
		s.noReserve = now.Add(min(reserveBackoff<<min(s.resMisses-1, 8), maxReserveBackoff))
	}
}

// expectReady estimates when t will next be ready to start, and when the
// estimate should be looked at again if t is not ready by then. ok is false
// when there is nothing to expect (no frame rate yet, the source has
// stalled, the parent found no boxes).
func (s *Scheduler) expectReady(t *task, now time.Time, depth int) (r, recheck time.Time, ok bool) {
	if t.hasPend && t.wants(t.pend) {
		r = later(now, t.due)
		return r, r.Add(time.Millisecond), true
	}
	if depth > 8 {
		return time.Time{}, time.Time{}, false
	}
	if p := t.parent; p != nil {
		if p.lastBox == 0 {
			return time.Time{}, time.Time{}, false
		}
		if p.running > 0 {
			r = time.Time{}
			for _, o := range s.lanes {
				if o.task == p {
					r = earliest(r, later(o.start.Add(p.cost), now))
				}
			}
			recheck = r.Add(p.cost/2 + time.Millisecond)
		} else {
			pr, prc, pok := s.expectReady(p, now, depth+1)
			if !pok {
				return time.Time{}, time.Time{}, false
			}
			r, recheck = pr.Add(p.cost), prc
		}
		return later(r, t.due), recheck, true
	}
	if s.framePer <= 0 {
		return time.Time{}, time.Time{}, false
	}
	next := s.lastPush.Add(s.framePer)
	stale := next.Add(s.framePer / 2)
	if now.After(stale) {
		return time.Time{}, time.Time{}, false
	}
	if !t.due.IsZero() {
		// The first frame t will want comes no earlier than a quarter
		// period before it is due.
		if want := t.due.Add(-t.period() / 4); next.Before(want) {
			k := (want.Sub(next) + s.framePer - 1) / s.framePer
			next = next.Add(k * s.framePer)
			stale = next.Add(s.framePer / 2)
		}
	}
	return later(next, t.due), stale, true
}

// Overload thresholds: the lanes count as saturated above busyHigh of their
// time and as having room below busyLow; rates come back after calmWindows
// windows with room in a row. A shed rate is cut to shedStep of what the
// task achieved, never below min(1 Hz, its target).
const (
	busyHigh    = 0.85
	busyLow     = 0.7
	calmWindows = 2
	shedStep    = 0.6
	shedShare   = 0.1
	restoreStep = 1.25
)

// control runs the overload control once per Adapt period. Called with
// s.mu held.
func (s *Scheduler) control(now time.Time) {
	if s.winStart.IsZero() {
		s.winStart = now
		return
	}
	win := now.Sub(s.winStart)
	if win < s.adapt {
		return
	}
	busy := s.winBusy
	for _, l := range s.lanes {
		if l.task != nil {
			busy += now.Sub(later(l.start, s.winStart))
		}
	}
	util := busy.Seconds() / (float64(len(s.lanes)) * win.Seconds())
	frameRate := 0.0
	if s.framePer > 0 {
		frameRate = 1 / s.framePer.Seconds()
	}
	// hurt is the most important priority that lost inputs waiting for a
	// lane or missed its rate: shedding a less important task helps it.
	hurt, any := 0, false
	for _, t := range s.tasks {
		suffered := t.winStarved > 0
		if t.parent == nil && t.eff > 0 && !t.addedAt.After(s.winStart) {
			want := t.eff
			if frameRate > 0 {
				want = min(want, frameRate)
			}
			if float64(t.winRuns)/win.Seconds() < 0.8*want {
				suffered = true
			}
		}
		if suffered && (!any || t.Priority > hurt) {
			hurt, any = t.Priority, true
		}
	}
	switch {
	case util >= busyHigh && any:
		s.calm = 0
		s.shed(win, busy, frameRate, hurt)
	case util < busyLow:
		// Room on the lanes: drops now come from rates or reservations,
		// not from overload.
		s.calm++
		if s.calm >= calmWindows {
			s.calm = 0
			s.restore(frameRate)
		}
	default:
		s.calm = 0
	}
	s.winStart, s.winBusy = now, 0
	s.busyDec *= 0.5
	for _, t := range s.tasks {
		t.winRuns, t.winStarved, t.winBusy = 0, 0, 0
		t.busyDec *= 0.5
	}
}

func floorRate(t *task) float64 {
	if t.Rate > 0 {
		return min(1, t.Rate)
	}
	return 1
}

// shed lowers the rate of the least important task above its floor (the
// busiest of equals) below priority hurt, the most important that
// suffered: the least important task losing frames to the others is not
// helped by cutting itself. frameRate is the source's. Cutting a task that
// held little of the lanes frees little, so it goes on up the priorities
// until the tasks cut held at least shedShare of the window's busy time.
func (s *Scheduler) shed(win, busy time.Duration, frameRate float64, hurt int) {
	cut := time.Duration(0)
	for i := len(s.byPrio) - 1; i >= 0 && cut < time.Duration(shedShare*float64(busy)); {
		// The least important priority still above a floor, from i down.
		var v *task
		cur := 0.0
		j := i
		for ; j >= 0; j-- {
			t := s.byPrio[j]
			if v != nil && t.Priority != v.Priority {
				break
			}
			if t.Priority >= hurt || t.Priority == s.byPrio[0].Priority {
				// The most important tasks are never shed: if they alone
				// exceed the lanes, newest-frame-only already bounds them,
				// and cutting them would idle lanes the rest are kept from.
				continue
			}
			got := float64(t.winRuns) / win.Seconds()
			c := t.eff
			if c == 0 || (t.winRuns >= 3 && got < c) {
				c = got
			}
			if c <= floorRate(t) {
				// Starved this window: cutting it frees nothing now, but
				// it is marked shed, its rate capped below the frames', so
				// that the order holds (no task is shed while a less
				// important one is not) and it cannot take back the lanes
				// freed above it before the rates are restored in order.
				if !t.shed {
					capped := t.eff
					if capped == 0 {
						capped = frameRate
					}
					t.eff, t.shed = max(floorRate(t), capped*shedStep), true
				}
				continue
			}
			if v == nil || t.winBusy > v.winBusy {
				v, cur = t, c
			}
		}
		if v == nil {
			return
		}
		v.eff = max(floorRate(v), cur*shedStep)
		v.shed = true
		cut += v.winBusy
		// Tasks of v's priority not cut stay for the next window.
		i = j
	}
}

// restore raises the rate of the most important shed task a step.
func (s *Scheduler) restore(frameRate float64) {
	for _, t := range s.byPrio {
		if !t.shed {
			continue
		}
		t.eff *= restoreStep
		full := t.Rate
		if full == 0 {
			full = frameRate
		}
		if full == 0 || t.eff >= full {
			t.eff, t.shed = t.Rate, false
		}
		return
	}
}
