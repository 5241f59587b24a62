//go:build !wasm

// Native builds split the heavy kernels (GEMM, the direct and im2col
// convolutions, depthwise convolution) across the machine's cores. wasm is
// single-threaded, so there parallel_wasm.go makes parSlots the constant 1
// and the compiler drops every parallel branch.

package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// parSlots is how many goroutines a kernel may run on at once, and so how
// many copies of its per-goroutine scratch the *ScratchLen functions ask
// for. It is read once, at start-up: scratch sized then must fit every later
// run (a test may change it before it builds kernels).
var parSlots = min(max(runtime.GOMAXPROCS(0), 1), parMaxSlots)

// parMaxSlots caps parSlots, and so the scratch a kernel asks for.
const parMaxSlots = 16

// parMinWork is the multiply-adds below which a kernel call stays serial: a
// helper takes some microseconds to wake, about what the scalar GEMM needs
// for 10^5 multiply-adds. A variable so that tests can split every call.
var parMinWork int64 = 1 << 19

// parChunksPerSlot is how many chunks a call is cut into per slot: more
// than one, so that a slot whose core is busy elsewhere takes fewer.
const parChunksPerSlot = 4

// parTask is a kernel call cut into chunks that may run concurrently:
// runChunk(i, slot) computes chunk i with the scratch of slot. Chunks write
// disjoint parts of the output, and each output element is computed exactly
// as the serial kernel computes it, so the result has the serial bits
// whatever the chunks and whoever runs them.
type parTask interface {
	runChunk(i, slot int)
}

// parBatch is one parRun in flight: its chunks are handed out in order to
// whoever asks next (the caller and the helpers it woke).
type parBatch struct {
	task   parTask
	chunks int
	next   atomic.Int64 // the next chunk to hand out
	slot   atomic.Int32 // the last slot given to a helper
	wg     sync.WaitGroup
}

var (
	// parQueue is unbuffered: a send succeeds only while a helper is idle,
	// so a call never waits for a helper busy with another session's work.
	parQueue   = make(chan *parBatch)
	parMu      sync.Mutex
	parHelpers int // helpers started
	parBatches parFree[parBatch]
)

// parRun runs chunks 0..chunks-1 of t on the caller and on up to slots-1
// idle helpers, and returns when all are done. Slot 0 is the caller's.
func parRun(t parTask, chunks, slots int) {
	slots = min(slots, chunks, parSlots)
	if slots <= 1 {
		for i := range chunks {
			t.runChunk(i, 0)
		}
		return
	}
	parStartHelpers(slots - 1)
	b := parBatches.get()
	b.task, b.chunks = t, chunks
	b.next.Store(0)
	b.slot.Store(0)
	for range slots - 1 {
		b.wg.Add(1)
		sent := false
		select {
		case parQueue <- b:
			sent = true
		default:
		}
		if !sent {
			b.wg.Done()
			break
		}
	}
	b.work(0)
	// Every helper that took b has returned from b.work before Wait
	// returns, so b can be reused.
	b.wg.Wait()
	b.task = nil
	parBatches.put(b)
}

// work runs chunks of b until none is left.
func (b *parBatch) work(slot int) {
	for {
		i := b.next.Add(1) - 1
		if i >= int64(b.chunks) {
			return
		}
		b.task.runChunk(int(i), slot)
	}
}

// parStartHelpers makes sure n helper goroutines run. They live as long as
// the process, parked on parQueue when idle.
func parStartHelpers(n int) {
	parMu.Lock()
	for ; parHelpers < n; parHelpers++ {
		go parHelper()
	}
	parMu.Unlock()
}

func parHelper() {
	for b := range parQueue {
		b.work(int(b.slot.Add(1)))
		b.wg.Done()
	}
}

// parSplit cuts total units into about want chunks of whole units: it
// returns the units per chunk and the number of chunks.
func parSplit(total, want int) (per, chunks int) {
	want = max(min(want, total), 1)
	per = (total + want - 1) / want
	return per, (total + per - 1) / per
}

// parChunks returns how many chunks a call of work multiply-adds over slots
// should be cut into (at most max), or 0 when it should stay serial.
func parChunks(work int64, slots, max int) int {
	slots = min(slots, parSlots)
	if slots < 2 || work < parMinWork || max < 2 {
		return 0
	}
	return min(parChunksPerSlot*slots, max)
}

// parFree is a free list of task records, so that a parallel call allocates
// nothing in steady state. Safe for concurrent use.
type parFree[T any] struct {
	mu   sync.Mutex
	free []*T
}

func (f *parFree[T]) get() *T {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := len(f.free); n > 0 {
		t := f.free[n-1]
		f.free = f.free[:n-1]
		return t
	}
	return new(T)
}

func (f *parFree[T]) put(t *T) {
	f.mu.Lock()
	f.free = append(f.free, t)
	f.mu.Unlock()
}
