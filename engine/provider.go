package engine

import (
	"errors"
	"slices"
	"strconv"
	"sync"
)

// ErrFrameGone is returned for a frame that has aged out of a Provider.
var ErrFrameGone = errors.New("engine: the frame has aged out")

// ProviderOptions bound what a Provider keeps.
type ProviderOptions struct {
	// MaxFrames is how many of the newest frames are kept, with their views
	// (default 4). Older frames age out, except those a chain still needs
	// (a detector's frame until the tasks cropping its boxes have read it),
	// at most one a run in progress and one a chained task's pending input.
	MaxFrames int
	// MaxBytes bounds the bytes of frames and views kept (default 64 MiB).
	// Past it, the oldest frames age out early; the newest always stays.
	MaxBytes int
}

// ProviderStats counts a Provider's work.
type ProviderStats struct {
	Frames   uint64 // frames pushed
	AgedOut  uint64 // frames dropped, with their views
	Prepared uint64 // views computed
	Shared   uint64 // view requests served from one computed earlier (or being computed)
	Bytes    int    // bytes of frames and views held now
}

// Provider sits between a source and the tasks that watch it: frames enter
// once, each task asks for the view it needs, and identical views of one
// frame are computed once and shared. Memory is bounded: only the newest
// frames are kept, and views go with their frame. A view handed out is
// never written again, so a slow task holding one pins only that slice.
// A Provider is safe for concurrent use.
type Provider struct {
	mu     sync.Mutex
	opt    ProviderOptions
	frames []*providerFrame // oldest first
	held   int              // frames with holds > 0
	lastID uint64
	pushed bool
	spare  [][]byte // RGBA buffers of aged-out frames nobody reads
	stats  ProviderStats
}

type providerFrame struct {
	f       Frame
	views   map[string]*providerView
	readers int // views being computed from f.RGBA
	holds   int // hold calls not yet released: the frame does not age out
	gone    bool
}

type providerView struct {
	done chan struct{}
	data []float32
	err  error
}

// NewProvider returns an empty Provider.
func NewProvider(opt ProviderOptions) *Provider {
	if opt.MaxFrames <= 0 {
		opt.MaxFrames = 4
	}
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = 64 << 20
	}
	return &Provider{opt: opt}
}

// Push adds a frame, copying its pixels (the caller may reuse f.RGBA).
// Frame IDs must increase.
func (p *Provider) Push(f Frame) error {
	if err := checkFrame(&f); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pushed && f.ID <= p.lastID {
		return errors.New("engine: frame " + strconv.FormatUint(f.ID, 10) + " is not newer than frame " + strconv.FormatUint(p.lastID, 10))
	}
	var buf []byte
	for i, s := range p.spare {
		if len(s) == len(f.RGBA) {
			buf = s
			p.spare = append(p.spare[:i], p.spare[i+1:]...)
			break
		}
	}
	if buf == nil {
		buf = make([]byte, len(f.RGBA))
	}
	copy(buf, f.RGBA)
	f.RGBA = buf
	p.frames = append(p.frames, &providerFrame{f: f, views: map[string]*providerView{}})
	p.lastID, p.pushed = f.ID, true
	p.stats.Frames++
	p.stats.Bytes += len(buf)
	p.trim()
	return nil
}

// trim ages out the oldest frames nobody holds until at most MaxFrames
// unheld frames are kept and the bytes are within MaxBytes, or only held
// frames and the newest are left. Called with p.mu held.
func (p *Provider) trim() {
	for len(p.frames)-p.held > p.opt.MaxFrames || (len(p.frames) > 1 && p.stats.Bytes > p.opt.MaxBytes) {
		i := slices.IndexFunc(p.frames[:len(p.frames)-1], func(pf *providerFrame) bool { return pf.holds == 0 })
		if i < 0 {
			return
		}
		p.ageOut(i)
	}
}

// hold keeps frame id from ageing out until release, and reports whether
// the frame was still there to hold.
func (p *Provider) hold(id uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	pf := p.find(id)
	if pf == nil {
		return false
	}
	if pf.holds == 0 {
		p.held++
	}
	pf.holds++
	return true
}

// release ends a hold; the frame ages out now if it is past the bounds.
func (p *Provider) release(id uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pf := p.find(id)
	if pf == nil || pf.holds == 0 {
		return
	}
	pf.holds--
	if pf.holds == 0 {
		p.held--
		p.trim()
	}
}

// ageOut drops frame i. Its RGBA buffer is reused once no view is being
// computed from it. Called with p.mu held.
func (p *Provider) ageOut(i int) {
	old := p.frames[i]
	p.frames = slices.Delete(p.frames, i, i+1)
	old.gone = true
	p.stats.AgedOut++
	p.stats.Bytes -= old.bytes()
	if old.readers == 0 {
		p.recycle(old)
	}
}

func (p *Provider) recycle(old *providerFrame) {
	if len(p.spare) < 2 {
		p.spare = append(p.spare, old.f.RGBA)
	}
	old.f.RGBA = nil
}

func (pf *providerFrame) bytes() int {
	n := len(pf.f.RGBA)
	for _, v := range pf.views {
		n += 4 * cap(v.data)
	}
	return n
}

// Latest returns the newest frame's ID and time.
func (p *Provider) Latest() (id uint64, t int64, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.frames) == 0 {
		return 0, 0, false
	}
	f := p.frames[len(p.frames)-1].f
	return f.ID, f.Time, true
}

// FrameSize returns the size of a frame the Provider holds.
func (p *Provider) FrameSize(id uint64) (w, h int, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pf := p.find(id); pf != nil {
		return pf.f.Width, pf.f.Height, true
	}
	return 0, 0, false
}

func (p *Provider) find(id uint64) *providerFrame {
	for _, pf := range p.frames {
		if pf.f.ID == id {
			return pf
		}
	}
	return nil
}

// View returns view v of frame id (cropping box b when v.ByBox()). The
// first request computes it; identical requests share the result, waiting
// for it if it is being computed. The slice must not be written.
func (p *Provider) View(id uint64, v View, b Box) ([]float32, error) {
	if err := v.Check(); err != nil {
		return nil, err
	}
	key := v.Key()
	if v.ByBox() {
		key = string(appendF([]byte(key+"|"), b.X0, b.Y0, b.X1, b.Y1))
	}
	p.mu.Lock()
	pf := p.find(id)
	if pf == nil {
		p.mu.Unlock()
		return nil, ErrFrameGone
	}
	if pv, ok := pf.views[key]; ok {
		p.stats.Shared++
		p.mu.Unlock()
		<-pv.done
		return pv.data, pv.err
	}
	pv := &providerView{done: make(chan struct{})}
	pf.views[key] = pv
	pf.readers++
	p.mu.Unlock()

	data := make([]float32, v.Len())
	s := scratchPool.Get().(*prepScratch)
	err := s.prepare(data, &pf.f, v, b)
	scratchPool.Put(s)

	p.mu.Lock()
	pf.readers--
	if err != nil {
		pv.err = err
		delete(pf.views, key) // an error is not cached: the next request reports it afresh
	} else {
		pv.data = data
		p.stats.Prepared++
		if !pf.gone {
			p.stats.Bytes += 4 * cap(data)
		}
	}
	if pf.gone && pf.readers == 0 && pf.f.RGBA != nil {
		p.recycle(pf)
	}
	p.trim()
	p.mu.Unlock()
	close(pv.done)
	return pv.data, pv.err
}

// scratchPool keeps Prepare's row buffers between views, so a steady stream
// of frames does not allocate them afresh.
var scratchPool = sync.Pool{New: func() any { return new(prepScratch) }}

// Stats returns the Provider's counters.
func (p *Provider) Stats() ProviderStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}
