//go:build !js

package main

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"fmt"
	"log"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/edgenn/edgenn/engine/peer"
)

// A peerClient is a native peer's connection to a hub (hub.go): it joins a
// room, numbers what it sends, answers and sends pings, pairs with other
// peers by the key signals of OFFLOAD.md and sends and receives their sealed
// frames through the hub's relay. When the hub goes away it joins again,
// with backoff, until it is closed; a refusal of the room or token ends it.
// What the frames mean is its handler's (offload.go): the serving side of a
// worker, or a requester.

// peerHandler is what a peerClient tells its user. The calls come from the
// client's reader goroutine, in order; they must not block.
type peerHandler interface {
	joined(c *peerClient)              // after every join: announce here
	frame(from string, plain []byte)   // an opened sealed frame
	peerGone(id string, reason string) // the peer left, restarted, or a frame to it was refused
	dropped(reason string)             // the hub connection is gone: every peer with it
}

// peerClientConfig configures a peerClient.
type peerClientConfig struct {
	URL, Room, Token, Name string
	Caps                   peer.Caps
	// PingInterval is how often the client pings the hub (default 1s), to
	// measure the round trip and to notice a dead hub: with nothing from the
	// hub within Timeout (default 4s) the client drops the connection and
	// joins again.
	PingInterval, Timeout time.Duration
	// Redial is the first wait before joining again (default 100ms),
	// doubled up to 2s while the hub stays away.
	Redial time.Duration
	Log    *log.Logger // nil discards
}

// peerClientWriteTimeout bounds sending one message to the hub.
const peerClientWriteTimeout = 10 * time.Second

// pairTimeout bounds a key exchange.
const pairTimeout = 2 * time.Second

type peerClient struct {
	cfg     peerClientConfig
	handler peerHandler
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{} // closed when the connection loop ends

	writeMu sync.Mutex // orders seq with the writes
	seq     uint64

	mu      sync.Mutex
	conn    *websocket.Conn // nil between connections
	id      string          // ours, from the welcome
	links   map[string]*peerLink
	peers   map[string]announced // the room's announces, by peer id
	waiting map[uint64]chan *peer.Message
	sentTo  map[uint64]string // seq of a recent signal or frame -> its addressee
	sentFIF []uint64
	rtts    [8]time.Duration // the last pings' round trips to the hub, 0 where none yet
	nrtt    int
	pingAt  map[uint64]time.Time
	gone    chan struct{} // closed when the current connection ends

	lastRecv atomic.Int64 // when the reader last had a message (unix ns)
	pinging  atomic.Bool  // a ping is being written
	busy     atomic.Int64 // frames the hub refused as busy and that were sent again
}

// announced is one peer's last announce.
type announced struct {
	models []peer.ModelCost
	load   float32
}

// peerLink is this peer's side of the pairing with another.
type peerLink struct {
	sendMu sync.Mutex // held across Seal and the write, so frames leave in counter order
	// tensorMu is held across the parts of one tensor, which OFFLOAD.md
	// forbids interleaving with those of another.
	tensorMu sync.Mutex
	ch       *peer.Channel
	pending  *ecdh.PrivateKey // our key of an exchange we started
	ready    chan struct{}    // closed when ch is set
}

// startPeerClient joins the room and returns the connected client; the
// first join's failure is returned (a wrong token, no hub there). Later
// drops are rejoined in the background until Close.
func startPeerClient(cfg peerClientConfig, h peerHandler) (*peerClient, error) {
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = time.Second
	}
	if cfg.Timeout <= cfg.PingInterval {
		cfg.Timeout = 4 * cfg.PingInterval
	}
	if cfg.Redial <= 0 {
		cfg.Redial = 100 * time.Millisecond
	}
	if cfg.Log == nil {
		cfg.Log = log.New(discard{}, "", 0)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &peerClient{cfg: cfg, handler: h, ctx: ctx, cancel: cancel, done: make(chan struct{})}
	conn, err := c.connect()
	if err != nil {
		cancel()
		return nil, err
	}
	go c.loop(conn)
	return c, nil
}

// ID returns the client's id in its room ("" between connections).
func (c *peerClient) ID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.id
}

// Close leaves the room and stops rejoining.
func (c *peerClient) Close() {
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if conn != nil {
		c.send(&peer.Message{Type: peer.Leave, Reason: "closed"})
	}
	c.cancel()
	if conn != nil {
		conn.Close(websocket.StatusNormalClosure, "closed")
	}
	<-c.done
}

// joinError is a refusal to join that joining again cannot fix.
type joinError struct{ code, text string }

func (e *joinError) Error() string { return "hub refused the join: " + e.code + ": " + e.text }

// connect dials the hub and joins; on success the connection is the
// client's and the handler has been told.
func (c *peerClient) connect() (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, c.cfg.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("hub %s: %w", c.cfg.URL, err)
	}
	conn.SetReadLimit(peer.MaxMessageBytes)
	c.writeMu.Lock()
	c.seq = 0
	c.writeMu.Unlock()
	c.mu.Lock()
	c.conn, c.id = conn, ""
	c.links, c.peers = map[string]*peerLink{}, map[string]announced{}
	c.waiting, c.sentTo, c.sentFIF, c.pingAt = map[uint64]chan *peer.Message{}, map[uint64]string{}, nil, map[uint64]time.Time{}
	c.gone = make(chan struct{})
	c.mu.Unlock()
	fail := func(err error) (*websocket.Conn, error) {
		conn.CloseNow()
		c.mu.Lock()
		c.conn = nil
		close(c.gone)
		c.mu.Unlock()
		return nil, err
	}
	if _, err := c.send(&peer.Message{Type: peer.Join, Room: c.cfg.Room, Token: c.cfg.Token, Name: c.cfg.Name, Caps: c.cfg.Caps}); err != nil {
		return fail(err)
	}
	for {
		_, b, err := conn.Read(ctx)
		if err != nil {
			return fail(fmt.Errorf("hub %s: no welcome: %w", c.cfg.URL, err))
		}
		m, err := peer.Decode(b)
		if err != nil {
			return fail(fmt.Errorf("hub %s: %w", c.cfg.URL, err))
		}
		switch m.Type {
		case peer.Welcome:
			c.mu.Lock()
			c.id = m.ID
			c.mu.Unlock()
			c.cfg.Log.Printf("worker: joined room %s of %s as %s", c.cfg.Room, c.cfg.URL, m.ID)
			c.handler.joined(c)
			return conn, nil
		case peer.Error:
			return fail(&joinError{m.Code, m.Text})
		case peer.Ping:
			c.send(&peer.Message{Type: peer.Pong, Re: m.Seq})
		}
	}
}

// loop serves connections until Close: it reads one until it drops, then
// joins again with backoff.
func (c *peerClient) loop(conn *websocket.Conn) {
	defer close(c.done)
	for {
		reason := c.serve(conn)
		c.mu.Lock()
		c.conn, c.id = nil, ""
		close(c.gone)
		c.mu.Unlock()
		c.handler.dropped(reason)
		wait := c.cfg.Redial
		for {
			if c.ctx.Err() != nil {
				return
			}
			c.cfg.Log.Printf("worker: hub connection lost (%s); joining again in %v", reason, wait)
			select {
			case <-c.ctx.Done():
				return
			case <-time.After(wait):
			}
			var err error
			if conn, err = c.connect(); err == nil {
				break
			}
			var je *joinError
			if errors.As(err, &je) {
				c.cfg.Log.Printf("worker: %v; giving up", err)
				return
			}
			reason = err.Error()
			wait = min(2*wait, 2*time.Second)
		}
	}
}

// serve reads one connection until it drops and returns why. The reader
// notes when each message arrived and pings go out from their own
// goroutine, so that a long write (a frame over a slow link) neither stalls
// the heartbeat nor passes for a silent hub.
func (c *peerClient) serve(conn *websocket.Conn) string {
	msgs := make(chan *peer.Message, 64)
	readErr := make(chan error, 1)
	c.lastRecv.Store(time.Now().UnixNano())
	go func() {
		for {
			_, b, err := conn.Read(c.ctx)
			if err != nil {
				readErr <- err
				close(msgs)
				return
			}
			c.lastRecv.Store(time.Now().UnixNano())
			m, err := peer.Decode(b)
			if err != nil {
				readErr <- err
				close(msgs)
				return
			}
			msgs <- m
		}
	}()
	tick := time.NewTicker(c.cfg.PingInterval)
	defer tick.Stop()
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				err := <-readErr
				conn.CloseNow()
				return err.Error()
			}
			c.handle(m)
		case <-tick.C:
			if silent := time.Since(time.Unix(0, c.lastRecv.Load())); silent > c.cfg.Timeout {
				conn.CloseNow()
				for range msgs {
				}
				return fmt.Sprintf("nothing from the hub for %v", silent.Round(time.Millisecond))
			}
			if c.pinging.CompareAndSwap(false, true) {
				go func() {
					defer c.pinging.Store(false)
					if seq, err := c.send(&peer.Message{Type: peer.Ping}); err == nil {
						c.mu.Lock()
						if c.pingAt != nil {
							c.pingAt[seq] = time.Now()
						}
						c.mu.Unlock()
					}
				}()
			}
		}
	}
}

// handle acts on one message from the hub.
func (c *peerClient) handle(m *peer.Message) {
	switch m.Type {
	case peer.Ping:
		c.send(&peer.Message{Type: peer.Pong, Re: m.Seq})
	case peer.Pong:
		c.mu.Lock()
		if at, ok := c.pingAt[m.Re]; ok {
			c.rtts[c.nrtt%len(c.rtts)] = time.Since(at)
			c.nrtt++
			delete(c.pingAt, m.Re)
		}
		w := c.waiting[m.Re]
		delete(c.waiting, m.Re)
		c.mu.Unlock()
		if w != nil {
			w <- m
		}
	case peer.Announce:
		c.mu.Lock()
		c.peers[m.From] = announced{m.Models, m.Load}
		c.mu.Unlock()
	case peer.PeerLeft:
		c.mu.Lock()
		delete(c.peers, m.ID)
		delete(c.links, m.ID)
		c.mu.Unlock()
		c.handler.peerGone(m.ID, "left the room: "+m.Reason)
	case peer.Signal:
		c.signal(m.From, m.Data)
	case peer.Frame:
		c.mu.Lock()
		l, me := c.links[m.From], c.id
		var ch *peer.Channel
		if l != nil {
			ch = l.ch
		}
		c.mu.Unlock()
		if ch == nil {
			c.cfg.Log.Printf("worker: frame from %s, which has not paired: dropped", m.From)
			return
		}
		plain, err := ch.Open(m.Data, frameAAD(m.From, me))
		if err != nil {
			c.cfg.Log.Printf("worker: frame from %s refused: %v", m.From, err)
			return
		}
		c.handler.frame(m.From, plain)
	case peer.Match, peer.Error:
		c.mu.Lock()
		w := c.waiting[m.Re]
		delete(c.waiting, m.Re)
		to, wasSent := c.sentTo[m.Re]
		c.mu.Unlock()
		if w != nil {
			w <- m
			return
		}
		if m.Type == peer.Error {
			c.cfg.Log.Printf("worker: hub error %s: %s", m.Code, m.Text)
			// A busy peer is still there: what was refused was a frame
			// sent without pacing (a fail or a cancel), which its
			// requester's timeout covers.
			if wasSent && m.Code != peer.CodeBusy {
				c.handler.peerGone(to, "the hub refused a frame to it: "+m.Code)
			}
		}
	}
}

// signal acts on a signal from a peer: a key answers our exchange or starts
// one (a new peer, or one that restarted), which we answer with a fresh key.
// A native peer has no WebRTC, so sdp and ice are ignored.
func (c *peerClient) signal(from string, data []byte) {
	p, err := peer.DecodeSignal(data)
	if err != nil {
		c.cfg.Log.Printf("worker: signal from %s refused: %v", from, err)
		return
	}
	if p.Type != peer.KeySignal {
		return
	}
	c.mu.Lock()
	l := c.links[from]
	if l == nil {
		l = &peerLink{ready: make(chan struct{})}
		c.links[from] = l
	}
	c.mu.Unlock()
	l.sendMu.Lock()
	defer l.sendMu.Unlock()
	own, answer := l.pending, false
	if own == nil {
		if own, err = peer.NewKey(rand.Reader); err != nil {
			c.cfg.Log.Printf("worker: key for %s: %v", from, err)
			return
		}
		answer = true
	}
	ch, err := peer.NewChannel(own, p.Pub)
	if err != nil {
		c.cfg.Log.Printf("worker: pairing with %s: %v", from, err)
		return
	}
	restarted := l.ch != nil && answer
	c.mu.Lock()
	l.ch, l.pending = ch, nil
	c.mu.Unlock()
	select {
	case <-l.ready:
	default:
		close(l.ready)
	}
	if restarted {
		c.handler.peerGone(from, "it paired again (restarted)")
	}
	if answer {
		b, err := peer.EncodeSignal(&peer.Payload{Type: peer.KeySignal, Pub: own.PublicKey().Bytes()})
		if err == nil {
			_, err = c.sendTo(&peer.Message{Type: peer.Signal, To: from, Data: b})
		}
		if err != nil {
			c.cfg.Log.Printf("worker: key to %s: %v", from, err)
		}
	}
}

// pair makes sure a channel with the peer exists, starting a key exchange if
// none does, and waits for it.
func (c *peerClient) pair(ctx context.Context, to string) error {
	c.mu.Lock()
	if c.conn == nil {
		c.mu.Unlock()
		return errors.New("not connected to the hub")
	}
	l := c.links[to]
	if l == nil {
		l = &peerLink{ready: make(chan struct{})}
		c.links[to] = l
	}
	c.mu.Unlock()
	l.sendMu.Lock()
	if l.ch == nil && l.pending == nil {
		key, err := peer.NewKey(rand.Reader)
		if err != nil {
			l.sendMu.Unlock()
			return err
		}
		b, err := peer.EncodeSignal(&peer.Payload{Type: peer.KeySignal, Pub: key.PublicKey().Bytes()})
		if err != nil {
			l.sendMu.Unlock()
			return err
		}
		l.pending = key
		if _, err := c.sendTo(&peer.Message{Type: peer.Signal, To: to, Data: b}); err != nil {
			l.pending = nil
			l.sendMu.Unlock()
			return err
		}
	}
	l.sendMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, pairTimeout)
	defer cancel()
	select {
	case <-l.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("pairing with %s: no key within %v", to, pairTimeout)
	}
}

// frameAAD is the associated data of a frame from one peer to another.
func frameAAD(from, to string) []byte {
	return append(append([]byte(from), 0), to...)
}

// sendFrame seals plain for a paired peer and sends it through the hub.
func (c *peerClient) sendFrame(to string, plain []byte) error {
	c.mu.Lock()
	l, me := c.links[to], c.id
	c.mu.Unlock()
	if l == nil {
		return fmt.Errorf("frame to %s: not paired", to)
	}
	l.sendMu.Lock()
	defer l.sendMu.Unlock()
	if l.ch == nil {
		return fmt.Errorf("frame to %s: not paired", to)
	}
	sealed, err := l.ch.Seal(plain, frameAAD(me, to))
	if err != nil {
		return err
	}
	_, err = c.sendTo(&peer.Message{Type: peer.Frame, To: to, Data: sealed})
	return err
}

// Pacing. The hub refuses a frame for a peer that has half its queue (2
// MiB) waiting as busy, and says nothing of a frame it takes; frames of one
// channel must arrive in order. So a tensor's parts go stop-and-wait: each
// is followed by a ping, and the hub's pong, which it sends after its answer
// to the frame if any, says the frame was taken; a refused part is sealed
// again (a new counter: the receiver takes gaps) and resent after a wait.
// The cost is one round trip to the hub per part of up to 1 MiB.
const (
	busyFirstWait = 2 * time.Millisecond
	busyMaxWait   = 64 * time.Millisecond
	// busyPatience bounds how long one frame may be refused as busy before
	// the send fails: a peer that drains nothing for that long is stuck.
	busyPatience = 5 * time.Second
)

// lockTensor takes the right to send one tensor's parts to a paired peer;
// the caller calls the returned unlock when the last part is sent.
func (c *peerClient) lockTensor(to string) (unlock func(), err error) {
	c.mu.Lock()
	l := c.links[to]
	c.mu.Unlock()
	if l == nil {
		return nil, fmt.Errorf("frame to %s: not paired", to)
	}
	l.tensorMu.Lock()
	return l.tensorMu.Unlock, nil
}

// sendPaced seals plain for a paired peer, sends it through the hub and
// returns once the hub has taken it, sending it again while the hub refuses
// it as busy. It must not be called from the handler, whose goroutine reads
// the hub's answers.
func (c *peerClient) sendPaced(ctx context.Context, to string, plain []byte) error {
	wait := busyFirstWait
	var refusedSince time.Time
	for {
		err := c.sendTaken(ctx, to, plain)
		var he *hubError
		if !errors.As(err, &he) || he.code != peer.CodeBusy {
			return err
		}
		c.busy.Add(1)
		if refusedSince.IsZero() {
			refusedSince = time.Now()
		} else if time.Since(refusedSince) > busyPatience {
			return fmt.Errorf("frame to %s: refused as busy for %v: %w", to, busyPatience, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, busyMaxWait)
	}
}

// hubError is the hub's refusal of a message.
type hubError struct{ code, text string }

func (e *hubError) Error() string { return "hub: " + e.code + ": " + e.text }

// sendTaken sends one sealed frame and a ping after it, and waits for the
// hub's answer: its refusal of the frame (a *hubError), or the pong.
func (c *peerClient) sendTaken(ctx context.Context, to string, plain []byte) error {
	c.mu.Lock()
	l, me, gone := c.links[to], c.id, c.gone
	c.mu.Unlock()
	if l == nil {
		return fmt.Errorf("frame to %s: not paired", to)
	}
	w := make(chan *peer.Message, 2)
	l.sendMu.Lock()
	if l.ch == nil {
		l.sendMu.Unlock()
		return fmt.Errorf("frame to %s: not paired", to)
	}
	sealed, err := l.ch.Seal(plain, frameAAD(me, to))
	var fseq uint64
	if err == nil {
		fseq, err = c.sendWaiting(&peer.Message{Type: peer.Frame, To: to, Data: sealed}, w)
	}
	l.sendMu.Unlock()
	if err != nil {
		return err
	}
	pseq, err := c.sendWaiting(&peer.Message{Type: peer.Ping}, w)
	forget := func() {
		c.mu.Lock()
		delete(c.waiting, fseq)
		delete(c.waiting, pseq)
		c.mu.Unlock()
	}
	if err != nil {
		forget()
		return err
	}
	// The hub answers once it has read the frame, which over a slow link
	// takes as long as writing it may.
	timer := time.NewTimer(peerClientWriteTimeout)
	defer timer.Stop()
	select {
	case m := <-w:
		forget()
		if m.Type == peer.Error && m.Re == fseq {
			return &hubError{m.Code, m.Text}
		}
		return nil // the pong: the hub took the frame
	case <-gone:
		forget()
		return errors.New("frame to " + to + ": hub connection lost")
	case <-ctx.Done():
		forget()
		return ctx.Err()
	case <-timer.C:
		forget()
		return fmt.Errorf("frame to %s: no answer from the hub within %v", to, peerClientWriteTimeout)
	}
}

// sendTo sends a signal or frame and remembers whom it went to, so that the
// hub's refusal of it (busy, unknown-peer) reaches the handler.
func (c *peerClient) sendTo(m *peer.Message) (uint64, error) {
	seq, err := c.send(m)
	if err == nil {
		c.mu.Lock()
		c.sentTo[seq] = m.To
		c.sentFIF = append(c.sentFIF, seq)
		if len(c.sentFIF) > 4096 {
			delete(c.sentTo, c.sentFIF[0])
			c.sentFIF = c.sentFIF[1:]
		}
		c.mu.Unlock()
	}
	return seq, err
}

// send numbers m and writes it; it returns the seq.
func (c *peerClient) send(m *peer.Message) (uint64, error) {
	return c.sendWaiting(m, nil)
}

// sendWaiting sends m and, if w is not nil, hands the hub's answer to m (a
// match or an error) to w.
func (c *peerClient) sendWaiting(m *peer.Message, w chan *peer.Message) (uint64, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if conn == nil {
		return 0, errors.New("not connected to the hub")
	}
	c.seq++
	m.Seq = c.seq
	b, err := peer.Encode(m)
	if err != nil {
		return 0, err
	}
	if w != nil {
		c.mu.Lock()
		c.waiting[m.Seq] = w
		c.mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(c.ctx, peerClientWriteTimeout)
	defer cancel()
	if err := conn.Write(ctx, websocket.MessageBinary, b); err != nil {
		return 0, fmt.Errorf("send %s to the hub: %w", m.Type, err)
	}
	return m.Seq, nil
}

// match asks the hub for a peer to offload the model's cut to.
func (c *peerClient) match(ctx context.Context, model peer.Digest, cut int) (string, error) {
	w := make(chan *peer.Message, 1)
	seq, err := c.sendWaiting(&peer.Message{Type: peer.OfferRequest, Model: model, Cut: cut}, w)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	select {
	case m := <-w:
		if m.Type == peer.Error {
			return "", fmt.Errorf("hub: %s: %s", m.Code, m.Text)
		}
		return m.ID, nil
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.waiting, seq)
		c.mu.Unlock()
		return "", errors.New("hub: no match within 2s")
	}
}

// holders returns the announces of the peers holding model.
func (c *peerClient) holders(model peer.Digest) map[string]announcedModel {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]announcedModel{}
	for id, a := range c.peers {
		for _, mc := range a.models {
			if mc.Model == model {
				out[id] = announcedModel{mc.Cuts, a.load}
			}
		}
	}
	return out
}

// announcedModel is what a peer announced of one model.
type announcedModel struct {
	cuts []float32 // ms, cumulative per cut
	load float32   // ms of work queued
}

// hubRTT returns the round trip to the hub: the least of the last 8 pings,
// since a ping that queued behind a large frame measured the frame too.
func (c *peerClient) hubRTT() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var least time.Duration
	for _, d := range c.rtts[:min(c.nrtt, len(c.rtts))] {
		if least == 0 || d < least {
			least = d
		}
	}
	return least
}

// announce sends what this peer holds.
func (c *peerClient) announce(models []peer.ModelCost, load float32) error {
	if models == nil {
		models = []peer.ModelCost{}
	}
	_, err := c.send(&peer.Message{Type: peer.Announce, Models: models, Load: load})
	return err
}
