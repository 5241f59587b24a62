//go:build !js

package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgenn/edgenn/engine"
	"github.com/edgenn/edgenn/engine/peer"
	"github.com/edgenn/edgenn/model"
)

// Offload between native peers (OFFLOAD.md): the serving side of `edgenn
// worker`, which runs the tails of the models it holds for the peers of its
// room, and a requester, which runs a model's head here and its tail on a
// peer when the Planner says that pays, and falls back to running it here
// whenever the peer does not deliver.

// preparedModel is one model ready to run in parts: compiled once, its cuts
// (those of the compiled graph, as both sides compute them), its profile,
// and one Session per part run so far.
type preparedModel struct {
	digest  peer.Digest
	name    string
	graph   *model.Graph // compiled
	cuts    []engine.Cut
	head    []time.Duration // this device's time of each cut's head (throttled)
	outputs []engine.ValueInfo
	input   engine.ValueInfo
	perIn   int // float32s of one example of the input

	mu    sync.Mutex
	parts map[partKey]*partSession
}

type partKey struct {
	at   int // position in cuts
	tail bool
}

// partSession is a head or tail Session; a Session runs one call at a time.
type partSession struct {
	mu sync.Mutex
	s  *engine.Session
}

// prepareModel decodes, compiles and profiles an encoded model. Profiled
// times are multiplied by throttle.
func prepareModel(data []byte, runs int, throttle float64) (*preparedModel, error) {
	g, err := model.Decode(data)
	if err != nil {
		return nil, err
	}
	whole, err := engine.NewSession(g)
	if err != nil {
		return nil, err
	}
	ins := whole.Inputs()
	if len(ins) != 1 {
		return nil, fmt.Errorf("model %q has %d inputs; offload takes models of one input", g.Name, len(ins))
	}
	cg := whole.Graph()
	cuts, err := engine.Cuts(cg)
	if err != nil {
		return nil, err
	}
	if len(cuts) > peer.MaxCuts {
		cuts = append(cuts[:peer.MaxCuts-1], cuts[len(cuts)-1])
	}
	m := &preparedModel{digest: sha256.Sum256(data), name: g.Name, graph: cg, cuts: cuts, outputs: whole.Outputs(),
		input: ins[0], parts: map[partKey]*partSession{}}
	m.perIn = 1
	for i, d := range m.input.Shape {
		if i > 0 || d > 0 {
			m.perIn *= d
		}
	}
	x := make([]float32, m.perIn)
	for i := range x {
		x[i] = float32(i%251) / 251
	}
	prof, err := whole.Profile(runs, x)
	if err != nil {
		return nil, err
	}
	head, _, err := engine.CutCosts(cg, cuts, engine.NodeTimes(prof))
	if err != nil {
		return nil, err
	}
	for i := range head {
		head[i] = time.Duration(float64(head[i]) * throttle)
	}
	m.head = head
	// The whole model is the last cut's head, with the session compiled
	// already.
	m.parts[partKey{len(cuts) - 1, false}] = &partSession{s: whole}
	return m, nil
}

// costs returns the announced form of the profile: ms up to each cut.
func (m *preparedModel) costs() peer.ModelCost {
	c := peer.ModelCost{Model: m.digest, Cuts: make([]float32, len(m.head))}
	for i, d := range m.head {
		c.Cuts[i] = float32(d.Seconds() * 1e3)
		if i > 0 && c.Cuts[i] < c.Cuts[i-1] {
			c.Cuts[i] = c.Cuts[i-1]
		}
	}
	return c
}

// part returns the Session of the head or tail of cut at, compiling it on
// first use.
func (m *preparedModel) part(at int, tail bool) (*partSession, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := partKey{at, tail}
	if ps := m.parts[k]; ps != nil {
		return ps, nil
	}
	head, tl, err := engine.Split(m.graph, m.cuts[at])
	if err != nil {
		return nil, err
	}
	g := head
	if tail {
		g = tl
	}
	s, err := engine.NewSession(g)
	if err != nil {
		return nil, err
	}
	ps := &partSession{s: s}
	m.parts[k] = ps
	return ps, nil
}

// run runs a part on x and returns copies of its outputs; with throttle > 1
// it then sleeps throttle-1 times the run's time, as a device that much
// slower would have taken.
func (ps *partSession) run(x []float32, throttle float64) ([][]float32, error) {
	ps.mu.Lock()
	start := time.Now()
	outs, err := ps.s.Run(x)
	var cp [][]float32
	if err == nil {
		cp = make([][]float32, len(outs))
		for i, o := range outs {
			cp[i] = append([]float32(nil), o...)
		}
	}
	took := time.Since(start)
	ps.mu.Unlock()
	if throttle > 1 {
		time.Sleep(time.Duration(float64(took) * (throttle - 1)))
	}
	return cp, err
}

// batchShape returns a value's shape for batch: the free batch dimension
// set.
func batchShape(shape []int, batch int) []int {
	s := append([]int(nil), shape...)
	if len(s) > 0 && s[0] < 0 {
		s[0] = batch
	}
	return s
}

// ---- the serving side ----

// offloadQueue is how many requests wait for a worker's sessions before it
// answers busy.
const offloadQueue = 8

// offloadServer runs the tails of models for the peers of its room.
type offloadServer struct {
	client   *peerClient
	throttle float64
	fetchURL string // the host's base URL, where /models is; "" fetches nothing
	log      *log.Logger

	mu        sync.Mutex
	models    map[peer.Digest]*preparedModel
	order     []peer.Digest // announce order
	fetching  map[peer.Digest]*fetchResult
	cancelled map[string]map[uint64]bool // by peer
	queued    float64                    // ms of work waiting or running, announced as load
	// What was announced last, so that announceLoop sends only changes.
	lastLoad   float32
	lastModels int
	// Requests taken, and as many when last announced: the hub adds each
	// request it matches to this worker to the load it tells the room (and
	// peers joining later) until the next announce, which must come even
	// when the load has gone back to where it was.
	taken, lastTaken int

	jobs    chan *offloadJob
	running atomic.Int32               // jobs being processed
	asm     map[string]*peer.Assembler // by peer; the reader goroutine's own
	wg      sync.WaitGroup
	quit    chan struct{}
}

type fetchResult struct {
	done chan struct{}
	m    *preparedModel
	err  error
}

type offloadJob struct {
	from  string
	id    uint64
	model peer.Digest
	at    string
	shape []int
	data  []byte
	cost  float64 // ms, for the load
}

func newOffloadServer(throttle float64, fetchURL string, logger *log.Logger) *offloadServer {
	if logger == nil {
		logger = log.New(discard{}, "", 0)
	}
	return &offloadServer{throttle: max(throttle, 1), fetchURL: fetchURL, log: logger,
		models: map[peer.Digest]*preparedModel{}, fetching: map[peer.Digest]*fetchResult{},
		cancelled: map[string]map[uint64]bool{}, jobs: make(chan *offloadJob, offloadQueue),
		asm: map[string]*peer.Assembler{}, quit: make(chan struct{})}
}

// hold adds a prepared model to those the server runs and announces.
func (s *offloadServer) hold(m *preparedModel) {
	s.mu.Lock()
	if s.models[m.digest] == nil && len(s.order) < peer.MaxModels {
		s.order = append(s.order, m.digest)
	}
	s.models[m.digest] = m
	s.mu.Unlock()
}

// start runs the server's workers, one per core.
func (s *offloadServer) start() {
	for range max(runtime.GOMAXPROCS(0), 1) {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for {
				select {
				case j := <-s.jobs:
					s.running.Add(1)
					s.process(j)
					s.running.Add(-1)
				case <-s.quit:
					return
				}
			}
		}()
	}
	s.wg.Add(1)
	go s.announceLoop()
}

// busy returns how many requests are being run.
func (s *offloadServer) busy() int { return int(s.running.Load()) }

// stop ends the workers; what is queued is dropped.
func (s *offloadServer) stop() {
	close(s.quit)
	s.wg.Wait()
}

func (s *offloadServer) announcement() ([]peer.ModelCost, float32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mcs := make([]peer.ModelCost, 0, len(s.order))
	for _, d := range s.order {
		mcs = append(mcs, s.models[d].costs())
	}
	return mcs, float32(s.queued)
}

// announceLoop announces again when the load has changed, at most every
// 250ms (the hub refuses announces more often than every 200ms).
func (s *offloadServer) announceLoop() {
	defer s.wg.Done()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-tick.C:
		}
		mcs, load := s.announcement()
		s.mu.Lock()
		taken := s.taken
		same := load == s.lastLoad && len(mcs) == s.lastModels && taken == s.lastTaken
		s.mu.Unlock()
		if same || s.client == nil {
			continue
		}
		if s.client.announce(mcs, load) == nil {
			s.mu.Lock()
			s.lastLoad, s.lastModels, s.lastTaken = load, len(mcs), taken
			s.mu.Unlock()
		}
	}
}

func (s *offloadServer) joined(c *peerClient) {
	s.client = c
	mcs, load := s.announcement()
	if err := c.announce(mcs, load); err != nil {
		s.log.Printf("worker: announce: %v", err)
	}
	s.mu.Lock()
	s.lastLoad, s.lastModels = load, len(mcs)
	s.mu.Unlock()
}

func (s *offloadServer) peerGone(id, reason string) {
	delete(s.asm, id)
	s.mu.Lock()
	delete(s.cancelled, id)
	s.mu.Unlock()
}

func (s *offloadServer) dropped(reason string) {
	clear(s.asm)
	s.mu.Lock()
	clear(s.cancelled)
	s.mu.Unlock()
}

// fail answers request id of a peer with a fail frame, paced
// (sendControl).
func (s *offloadServer) fail(to string, id uint64, code, text string) {
	if len(text) > peer.MaxTextLen {
		text = text[:peer.MaxTextLen]
	}
	s.log.Printf("worker: request %d of %s: %s: %s", id, to, code, text)
	b, err := peer.EncodeFrame(&peer.Payload{Type: peer.FailFrame, ID: id, Code: code, Text: text})
	if err != nil {
		s.log.Printf("worker: fail to %s: %v", to, err)
		return
	}
	s.client.sendControl(to, b, "worker: fail of request "+strconv.FormatUint(id, 10))
}

// frame acts on a sealed frame from a requester: it reassembles runs and
// queues them, or refuses them.
func (s *offloadServer) frame(from string, plain []byte) {
	p, err := peer.DecodeFrame(plain)
	if err != nil {
		id, _ := peer.FrameID(plain)
		if a := s.asm[from]; a != nil {
			a.Reset()
		}
		s.fail(from, id, peer.FailBadInput, err.Error())
		return
	}
	switch p.Type {
	case peer.RunFrame:
		a := s.asm[from]
		if a == nil {
			a = &peer.Assembler{}
			s.asm[from] = a
		}
		data, err := a.Add(p)
		if err != nil {
			s.fail(from, p.ID, peer.FailBadInput, err.Error())
			return
		}
		if data == nil {
			return
		}
		j := &offloadJob{from: from, id: p.ID, model: p.Model, at: p.At, shape: p.Shape, data: data}
		s.mu.Lock()
		if m := s.models[p.Model]; m != nil {
			j.cost = float64(m.costs().Cuts[len(m.head)-1]) // an upper bound: the whole model
		}
		s.mu.Unlock()
		select {
		case s.jobs <- j:
			s.mu.Lock()
			s.queued += j.cost
			s.taken++
			s.mu.Unlock()
		default:
			s.fail(from, p.ID, peer.FailBusy, fmt.Sprintf("%d requests are waiting", offloadQueue))
		}
	case peer.CancelFrame:
		s.mu.Lock()
		if s.cancelled[from] == nil {
			s.cancelled[from] = map[uint64]bool{}
		}
		if len(s.cancelled[from]) < 4096 {
			s.cancelled[from][p.ID] = true
		}
		s.mu.Unlock()
	default:
		s.log.Printf("worker: a %s frame from %s: a worker takes only run and cancel", p.Type, from)
	}
}

// process runs one request and sends its results.
func (s *offloadServer) process(j *offloadJob) {
	defer func() {
		s.mu.Lock()
		s.queued = max(s.queued-j.cost, 0)
		s.mu.Unlock()
	}()
	s.mu.Lock()
	skip := s.cancelled[j.from][j.id]
	delete(s.cancelled[j.from], j.id)
	m := s.models[j.model]
	s.mu.Unlock()
	if skip {
		return
	}
	if m == nil {
		var err error
		if m, err = s.fetch(j.model); err != nil {
			s.fail(j.from, j.id, peer.FailNoModel, fmt.Sprintf("model %x: %v", j.model[:8], err))
			return
		}
	}
	cut, err := engine.CutAt(m.graph, j.at)
	if err != nil {
		s.fail(j.from, j.id, peer.FailBadCut, err.Error())
		return
	}
	at := -1
	for i, c := range m.cuts {
		if c.Index == cut.Index {
			at = i
		}
	}
	if at < 0 {
		s.fail(j.from, j.id, peer.FailBadCut, "cut at "+j.at+" is past the announced cuts")
		return
	}
	if err := checkShape(j.shape, cut.Shape); err != nil {
		s.fail(j.from, j.id, peer.FailBadInput, fmt.Sprintf("input at %s: %v", j.at, err))
		return
	}
	ps, err := m.part(at, true)
	if err != nil {
		s.fail(j.from, j.id, peer.FailError, err.Error())
		return
	}
	outs, err := ps.run(peer.Float32s(j.data), s.throttle)
	if err != nil {
		s.fail(j.from, j.id, peer.FailError, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), resultSendTimeout)
	defer cancel()
	for k, out := range outs {
		head := &peer.Payload{Type: peer.ResultFrame, ID: j.id, Out: k, Outs: len(outs), Shape: batchShape(m.outputs[k].Shape, j.shape[0])}
		if _, _, err := sendTensor(ctx, s.client, j.from, head, out); err != nil {
			s.log.Printf("worker: result of request %d to %s: %v", j.id, j.from, err)
			return
		}
	}
}

// resultSendTimeout bounds the sending of one request's results; a
// requester that waits longer has run the request itself.
const resultSendTimeout = time.Minute

// maxOffloadBatch bounds the batch of an offloaded request.
const maxOffloadBatch = 64

// checkShape checks a received tensor's shape against a cut's (whose first
// dimension is -1 when the batch is free).
func checkShape(got, want []int) error {
	bad := fmt.Errorf("shape %v, want %v with a batch of 1 to %d", got, want, maxOffloadBatch)
	if len(got) != len(want) || len(got) == 0 || got[0] < 1 || got[0] > maxOffloadBatch {
		return bad
	}
	for i := range got {
		if (i > 0 || want[0] >= 0) && got[i] != want[i] {
			return bad
		}
	}
	return nil
}

// sendTensor sends x in the parts of head's kind, paced (sendPaced) and not
// interleaved with another tensor to the same peer. It returns how long the
// parts took from the first write to the hub's taking the last, and how
// many there were.
func sendTensor(ctx context.Context, c *peerClient, to string, head *peer.Payload, x []float32) (time.Duration, int, error) {
	parts, err := peer.Parts(head, peer.AppendFloat32s(make([]byte, 0, 4*len(x)), x))
	if err != nil {
		return 0, 0, err
	}
	unlock, err := c.lockTensor(to)
	if err != nil {
		return 0, 0, err
	}
	defer unlock()
	start := time.Now()
	for _, p := range parts {
		b, err := peer.EncodeFrame(p)
		if err != nil {
			return 0, 0, err
		}
		if err := c.sendPaced(ctx, to, b); err != nil {
			return 0, 0, err
		}
	}
	return time.Since(start), len(parts), nil
}

// fetch gets a model the server does not hold from the host's /models, by
// its sha256, once however many requests ask for it at a time.
func (s *offloadServer) fetch(d peer.Digest) (*preparedModel, error) {
	if s.fetchURL == "" {
		return nil, errors.New("not held, and this worker fetches no models")
	}
	s.mu.Lock()
	f := s.fetching[d]
	if f == nil {
		f = &fetchResult{done: make(chan struct{})}
		s.fetching[d] = f
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			data, err := fetchModel(ctx, s.fetchURL, d)
			if err == nil {
				f.m, err = prepareModel(data, 5, s.throttle)
			}
			f.err = err
			if err == nil {
				s.hold(f.m)
				s.log.Printf("worker: fetched model %s (%x) from %s", f.m.name, d[:8], s.fetchURL)
			} else {
				s.mu.Lock()
				delete(s.fetching, d) // a later request may try again
				s.mu.Unlock()
			}
			close(f.done)
		}()
	}
	s.mu.Unlock()
	<-f.done
	return f.m, f.err
}

// hostBase turns a hub URL (ws://host:port/hub) into the host's base URL
// (http://host:port).
func hostBase(hub string) (string, error) {
	u, err := url.Parse(hub)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	case "http", "https":
	default:
		return "", fmt.Errorf("hub URL %q: want ws:// or wss://", hub)
	}
	u.Path = strings.TrimSuffix(u.Path, "/hub")
	u.RawQuery, u.Fragment = "", ""
	return strings.TrimSuffix(u.String(), "/"), nil
}

// fetchModel finds the model whose sha256 is d in the host's /models index,
// downloads it and checks its hash.
func fetchModel(ctx context.Context, base string, d peer.Digest) ([]byte, error) {
	get := func(path string, limit int64) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
		if err == nil && int64(len(b)) > limit {
			err = fmt.Errorf("GET %s: more than %d bytes", path, limit)
		}
		return b, err
	}
	idx, err := get("/models", 4<<20)
	if err != nil {
		return nil, err
	}
	var list []modelInfo
	if err := json.Unmarshal(idx, &list); err != nil {
		return nil, fmt.Errorf("the host's /models: %w", err)
	}
	want := fmt.Sprintf("%x", d[:])
	for _, mi := range list {
		if mi.SHA256 != want || strings.ContainsAny(mi.File, "/\\") {
			continue
		}
		data, err := get("/models/"+url.PathEscape(mi.File), peer.MaxTensorBytes)
		if err != nil {
			return nil, err
		}
		if sha256.Sum256(data) != d {
			return nil, fmt.Errorf("/models/%s does not hash to %s", mi.File, want[:16])
		}
		return data, nil
	}
	return nil, fmt.Errorf("the host at %s does not serve it", base)
}

// ---- the requester ----

// assumedBandwidth is the link's bandwidth, in bytes per second, until the
// first offload measures it: 100 Mbit/s, a local network.
const assumedBandwidth = 12.5e6

// The link is measured on the channel itself, by the offloads' own inputs:
// sendTensor times each from its first write to the hub's taking its last
// part, which covers the link to the hub and, once the peer's queue at the
// hub is full, the hub's link to the peer. A tensor smaller than
// minMeasureBytes is timed mostly by the round trip and teaches nothing.
// (OFFLOAD.md has no payload a peer answers small, so no separate probe: a
// frame it would refuse is not one to send on purpose.)
const minMeasureBytes = 64 << 10

// Offloader runs one model, offloading its tail to a peer of the room when
// the Planner predicts that is faster, and keeping OFFLOAD.md's "Requester's
// duties": on a fail, a timeout, the peer leaving or the hub dropping, the
// request runs here; a result is delivered once; results are matched by id
// and their shapes checked.
type Offloader struct {
	c        *peerClient
	m        *preparedModel
	throttle float64
	log      *log.Logger

	mu       sync.Mutex
	nextID   uint64
	inflight map[uint64]*offloadReq
	asm      map[string]*peer.Assembler // by peer; the reader goroutine's own
	planners map[string]*peerPlan
	bw       float64 // bytes per second, both ways: assumedBandwidth until measured
	measured bool    // bw has been measured
	stats    OffloadStats
}

// OffloadStats counts what became of an Offloader's runs.
type OffloadStats struct {
	Remote   int // results delivered by a peer
	Local    int // runs planned local
	Fallback int // offloads that ran here after all
	Dropped  int // results that came after their request ran here, or for no request
	Refused  int // results refused (a wrong shape, a malformed part)
}

type peerPlan struct {
	p    *engine.Planner
	cuts []float32 // the announce the planner was built from
}

type offloadReq struct {
	id    uint64
	peer  string
	batch int
	outs  [][]float32
	got   int
	done  chan struct{} // closed once, by finish
	ok    bool
	why   string
}

// newOffloader prepares the model for offloading over c. Local runs, and the
// profile the planner prices them by, are slowed by throttle.
func newOffloader(data []byte, throttle float64, logger *log.Logger) (*Offloader, error) {
	throttle = max(throttle, 1)
	m, err := prepareModel(data, 5, throttle)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = log.New(discard{}, "", 0)
	}
	return &Offloader{m: m, throttle: throttle, log: logger, inflight: map[uint64]*offloadReq{},
		asm: map[string]*peer.Assembler{}, planners: map[string]*peerPlan{}, bw: assumedBandwidth}, nil
}

// Stats returns the counts so far.
func (o *Offloader) Stats() OffloadStats {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.stats
}

func (o *Offloader) joined(c *peerClient) {
	o.c = c
	c.announce(nil, 0)
}

func (o *Offloader) peerGone(id, reason string) {
	delete(o.asm, id)
	o.mu.Lock()
	delete(o.planners, id)
	for _, r := range o.inflight {
		if r.peer == id {
			o.finish(r, false, "peer "+id+": "+reason)
		}
	}
	o.mu.Unlock()
}

func (o *Offloader) dropped(reason string) {
	clear(o.asm)
	o.mu.Lock()
	clear(o.planners)
	for _, r := range o.inflight {
		o.finish(r, false, "hub connection lost: "+reason)
	}
	o.mu.Unlock()
}

// finish ends a request in flight; the caller holds o.mu.
func (o *Offloader) finish(r *offloadReq, ok bool, why string) {
	if _, live := o.inflight[r.id]; !live {
		return
	}
	delete(o.inflight, r.id)
	r.ok, r.why = ok, why
	close(r.done)
}

// frame takes a result or fail from a peer.
func (o *Offloader) frame(from string, plain []byte) {
	p, err := peer.DecodeFrame(plain)
	if err != nil {
		o.log.Printf("offload: frame from %s refused: %v", from, err)
		o.refuse(from, 0, false, err.Error())
		return
	}
	switch p.Type {
	case peer.FailFrame:
		o.mu.Lock()
		if r := o.inflight[p.ID]; r != nil && r.peer == from {
			o.finish(r, false, "peer failed it: "+p.Code+": "+p.Text)
		}
		o.mu.Unlock()
	case peer.ResultFrame:
		a := o.asm[from]
		if a == nil {
			a = &peer.Assembler{}
			o.asm[from] = a
		}
		data, err := a.Add(p)
		if err != nil {
			o.refuse(from, p.ID, true, err.Error())
			return
		}
		if data == nil {
			return
		}
		o.mu.Lock()
		defer o.mu.Unlock()
		r := o.inflight[p.ID]
		if r == nil || r.peer != from {
			o.stats.Dropped++
			return
		}
		if p.Outs != len(o.m.outputs) || r.outs[p.Out] != nil {
			o.stats.Refused++
			o.finish(r, false, fmt.Sprintf("result %d of %d: the model has %d outputs", p.Out, p.Outs, len(o.m.outputs)))
			return
		}
		if want := batchShape(o.m.outputs[p.Out].Shape, r.batch); !slices.Equal(p.Shape, want) {
			o.stats.Refused++
			o.finish(r, false, fmt.Sprintf("result %d has shape %v, want %v", p.Out, p.Shape, want))
			return
		}
		r.outs[p.Out] = peer.Float32s(data)
		if r.got++; r.got == len(r.outs) {
			o.stats.Remote++
			o.finish(r, true, "")
		}
	default:
		o.log.Printf("offload: a %s frame from %s: a requester takes results and fails", p.Type, from)
	}
}

// refuse counts a bad result and ends its request (or, id unknown, every
// request to that peer: its results can no longer be told apart).
func (o *Offloader) refuse(from string, id uint64, known bool, why string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.stats.Refused++
	for _, r := range o.inflight {
		if r.peer == from && (!known || r.id == id) {
			o.finish(r, false, "result refused: "+why)
		}
	}
}

// plan returns the best peer and choice for the model now, or ok false to
// stay local.
func (o *Offloader) plan() (string, engine.Choice, bool) {
	if o.c == nil {
		return "", engine.Choice{}, false
	}
	holders := o.c.holders(o.m.digest)
	rtt := 2 * o.c.hubRTT() // requester to hub to peer and back
	o.mu.Lock()
	defer o.mu.Unlock()
	var best string
	var bestC engine.Choice
	for id, a := range holders {
		if len(a.cuts) != len(o.m.cuts) {
			continue // another compilation of the model: its cuts are not ours
		}
		pp := o.planners[id]
		if pp == nil || !slices.Equal(pp.cuts, a.cuts) {
			remote := make([]time.Duration, len(a.cuts))
			whole := a.cuts[len(a.cuts)-1]
			for i, c := range a.cuts {
				remote[i] = time.Duration(float64(whole-c) * 1e6)
			}
			p, err := engine.NewPlanner(o.m.cuts, o.m.head, remote)
			if err != nil {
				continue
			}
			pp = &peerPlan{p: p, cuts: a.cuts}
			o.planners[id] = pp
		}
		pp.p.SetLink(o.bw, o.bw, rtt)
		if whole := float64(a.cuts[len(a.cuts)-1]); whole > 0 {
			pp.p.SetLoad(1 + float64(a.load)/whole)
		}
		c := pp.p.Plan()
		if !c.Local && (best == "" || c.T < bestC.T) {
			best, bestC = id, c
		}
	}
	return best, bestC, best != ""
}

// Run runs the model on input (one or more examples of the model's input,
// batch first) and returns its outputs, offloaded or not.
func (o *Offloader) Run(ctx context.Context, input []float32) ([][]float32, error) {
	if len(input) == 0 || len(input)%o.m.perIn != 0 || len(input)/o.m.perIn > maxOffloadBatch {
		return nil, fmt.Errorf("input of %d float32s: want 1 to %d examples of %d", len(input), maxOffloadBatch, o.m.perIn)
	}
	batch := len(input) / o.m.perIn
	id, choice, ok := o.plan()
	if ok {
		if matched, err := o.c.match(ctx, o.m.digest, choice.At); err != nil {
			o.log.Printf("offload: %v; running here", err)
			ok = false
		} else if matched != id {
			// The hub spread the load to another holder: plan for it.
			o.mu.Lock()
			pp := o.planners[matched]
			o.mu.Unlock()
			if pp == nil {
				ok = false
			} else if c := pp.p.Plan(); c.Local {
				ok = false
			} else {
				id, choice = matched, c
			}
		}
	}
	if ok {
		if err := o.c.pair(ctx, id); err != nil {
			o.log.Printf("offload: %v; running here", err)
			ok = false
		}
	}
	if !ok {
		o.mu.Lock()
		o.stats.Local++
		o.mu.Unlock()
		return o.runLocal(o.m.cuts[len(o.m.cuts)-1], len(o.m.cuts)-1, false, input)
	}
	return o.offload(ctx, id, choice, batch, input)
}

// runLocal runs the head (tail false) or the tail of the cut at position at.
func (o *Offloader) runLocal(_ engine.Cut, at int, tail bool, x []float32) ([][]float32, error) {
	ps, err := o.m.part(at, tail)
	if err != nil {
		return nil, err
	}
	return ps.run(x, o.throttle)
}

// offload runs the head here, the tail on the peer, and falls back to the
// tail here when the peer does not deliver.
func (o *Offloader) offload(ctx context.Context, to string, c engine.Choice, batch int, input []float32) ([][]float32, error) {
	act := input
	if c.Cut.Index > 0 {
		outs, err := o.runLocal(c.Cut, c.At, false, input)
		if err != nil {
			return nil, err
		}
		act = outs[0]
	}
	o.mu.Lock()
	o.nextID++
	r := &offloadReq{id: o.nextID, peer: to, batch: batch, outs: make([][]float32, len(o.m.outputs)), done: make(chan struct{})}
	o.inflight[r.id] = r
	o.mu.Unlock()
	remote := c.T - o.m.head[c.At]
	timeout := max(3*remote, 2*time.Second)
	shape := batchShape(c.Cut.Shape, batch)
	head := &peer.Payload{Type: peer.RunFrame, ID: r.id, Model: o.m.digest, At: c.Cut.Tensor, Shape: shape}
	if c.Cut.Index == 0 {
		head.At = o.m.input.Name
		head.Shape = batchShape(o.m.input.Shape, batch)
	}
	took, parts, err := sendTensor(ctx, o.c, to, head, act)
	o.mu.Lock()
	if err != nil {
		o.finish(r, false, "send: "+err.Error())
	} else {
		o.learnLink(4*len(act), took, parts, o.c.hubRTT())
	}
	o.mu.Unlock()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-r.done:
	case <-timer.C:
	case <-ctx.Done():
	}
	o.mu.Lock()
	o.finish(r, false, "no result within "+timeout.String()) // a no-op if it is done
	ok, why := r.ok, r.why
	if !ok {
		o.stats.Fallback++
	}
	o.mu.Unlock()
	if ok {
		return r.outs, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	o.log.Printf("offload: request %d to %s: %s; running here", r.id, to, why)
	if why != "" && strings.HasPrefix(why, "no result") {
		if b, err := peer.EncodeFrame(&peer.Payload{Type: peer.CancelFrame, ID: r.id}); err == nil {
			o.c.sendControl(to, b, "offload: cancel of request "+strconv.FormatUint(r.id, 10))
		}
	}
	if c.Cut.Index == 0 {
		return o.runLocal(c.Cut, len(o.m.cuts)-1, false, input)
	}
	return o.runLocal(c.Cut, c.At, true, act)
}

// learnLink updates the bandwidth from one tensor sent: bytes in the time
// its parts took less the round trip to the hub that each waited for (at
// least a quarter of the time, against a round trip measured high). The
// first measure replaces the assumption; later ones are averaged in with
// weight 1/2, so that a link that slows down is seen within a few requests.
// The caller holds o.mu.
func (o *Offloader) learnLink(bytes int, took time.Duration, parts int, rtt time.Duration) {
	if bytes < minMeasureBytes || took <= 0 {
		return
	}
	transfer := max(took-time.Duration(parts)*rtt, took/4)
	obs := float64(bytes) / transfer.Seconds()
	if !o.measured {
		o.bw, o.measured = obs, true
		return
	}
	o.bw = (o.bw + obs) / 2
}

// link returns the bandwidth the planner uses now, and whether it was
// measured.
func (o *Offloader) link() (float64, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.bw, o.measured
}

// ---- the worker ----

// Worker is a running `edgenn worker`: a hub client and the serving side.
type Worker struct {
	client *peerClient
	server *offloadServer
	once   sync.Once
}

// startWorker loads and profiles the models of cfg.Models, joins the room
// and serves it until Close.
func startWorker(cfg workerConfig) (io.Closer, string, error) {
	w, err := newWorker(cfg)
	if err != nil {
		return nil, "", err
	}
	return w, w.client.ID(), nil
}

func newWorker(cfg workerConfig) (*Worker, error) {
	throttle := max(cfg.Throttle, 1)
	base := ""
	if cfg.Fetch {
		var err error
		if base, err = hostBase(cfg.Hub); err != nil {
			return nil, err
		}
	}
	s := newOffloadServer(throttle, base, cfg.Log)
	if cfg.Models != "" {
		entries, err := os.ReadDir(cfg.Models)
		if err != nil {
			return nil, fmt.Errorf("--models: %w", err)
		}
		for _, e := range entries {
			name := e.Name()
			if strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".enn") {
				continue
			}
			data, err := os.ReadFile(filepath.Join(cfg.Models, name))
			if err == nil && len(data) > peer.MaxTensorBytes {
				err = fmt.Errorf("%d bytes, more than %d", len(data), peer.MaxTensorBytes)
			}
			var m *preparedModel
			if err == nil {
				m, err = prepareModel(data, max(cfg.ProfileRuns, 1), throttle)
			}
			if err != nil {
				return nil, fmt.Errorf("--models: %s: %w", name, err)
			}
			s.hold(m)
			s.log.Printf("worker: holding %s (%s, %x), %d cuts, %.2f ms whole", name, m.name, m.digest[:8], len(m.cuts),
				m.costs().Cuts[len(m.cuts)-1])
		}
	}
	c, err := startPeerClient(peerClientConfig{URL: cfg.Hub, Transport: cfg.Transport, Room: cfg.Room, Token: cfg.Token, Name: cfg.Name,
		Caps: peer.Caps{Workers: runtime.GOMAXPROCS(0), Native: true}, PingInterval: cfg.PingInterval, Timeout: cfg.Timeout,
		Log: cfg.Log}, s)
	if err != nil {
		return nil, err
	}
	s.start()
	return &Worker{client: c, server: s}, nil
}

// ID returns the worker's id in its room.
func (w *Worker) ID() string { return w.client.ID() }

// Close leaves the room and stops the worker.
func (w *Worker) Close() error {
	w.once.Do(func() {
		w.client.Close()
		w.server.stop()
	})
	return nil
}
