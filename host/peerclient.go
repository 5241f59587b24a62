//go:build !js

package main

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/edgenn/edgenn/engine/peer"
	"github.com/edgenn/edgenn/internal/msgp"
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
	// Transport is how the client reaches the hub: "websocket" (the native
	// hub), "http" (the Workers hub, cfhub.go) or "auto" or "" (as the
	// browser picks: HTTP only when a GET of the hub's URL answers 200 with
	// Edgenn-Hub-Transport: http).
	Transport string
	Log       *log.Logger // nil discards
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
	conn    hubConn // nil between connections
	id      string  // ours, from the welcome
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
	switch cfg.Transport {
	case "", "auto", "websocket", "http":
	default:
		return nil, fmt.Errorf("hub transport %q: want auto, websocket or http", cfg.Transport)
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
		conn.close(true)
	}
	<-c.done
}

// joinError is a refusal to join that joining again cannot fix.
type joinError struct{ code, text string }

func (e *joinError) Error() string { return "hub refused the join: " + e.code + ": " + e.text }

// connect dials the hub and joins; on success the connection is the
// client's and the handler has been told.
func (c *peerClient) connect() (hubConn, error) {
	ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
	defer cancel()
	conn, err := dialHub(ctx, c.ctx, c.cfg.URL, c.cfg.Transport)
	if err != nil {
		return nil, fmt.Errorf("hub %s: %w", c.cfg.URL, err)
	}
	c.writeMu.Lock()
	c.seq = 0
	c.writeMu.Unlock()
	c.mu.Lock()
	c.conn, c.id = conn, ""
	c.links, c.peers = map[string]*peerLink{}, map[string]announced{}
	c.waiting, c.sentTo, c.sentFIF, c.pingAt = map[uint64]chan *peer.Message{}, map[uint64]string{}, nil, map[uint64]time.Time{}
	c.gone = make(chan struct{})
	c.mu.Unlock()
	fail := func(err error) (hubConn, error) {
		conn.close(false)
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
		m, err := conn.read(ctx)
		if err != nil {
			return fail(fmt.Errorf("hub %s: no welcome: %w", c.cfg.URL, err))
		}
		switch m.Type {
		case peer.Welcome:
			c.mu.Lock()
			c.id = m.ID
			c.mu.Unlock()
			c.cfg.Log.Printf("worker: joined room %s of %s as %s (over %s)", c.cfg.Room, c.cfg.URL, m.ID, conn.name())
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
func (c *peerClient) loop(conn hubConn) {
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
func (c *peerClient) serve(conn hubConn) string {
	msgs := make(chan *peer.Message, 64)
	readErr := make(chan error, 1)
	c.lastRecv.Store(time.Now().UnixNano())
	go func() {
		for {
			m, err := conn.read(c.ctx)
			if err != nil {
				readErr <- err
				close(msgs)
				return
			}
			c.lastRecv.Store(time.Now().UnixNano())
			msgs <- m
		}
	}()
	timeout := max(c.cfg.Timeout, conn.silence())
	tick := time.NewTicker(c.cfg.PingInterval)
	defer tick.Stop()
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				err := <-readErr
				conn.close(false)
				return err.Error()
			}
			c.handle(m)
		case <-tick.C:
			if silent := time.Since(time.Unix(0, c.lastRecv.Load())); silent > timeout {
				conn.close(false)
				for range msgs {
				}
				return fmt.Sprintf("nothing from the hub for %v", silent.Round(time.Millisecond))
			}
			if c.pinging.CompareAndSwap(false, true) {
				go func() {
					defer c.pinging.Store(false)
					// Timed from before the write: over HTTP the write
					// returns when the hub has taken the ping.
					at := time.Now()
					if seq, err := c.send(&peer.Message{Type: peer.Ping}); err == nil {
						c.mu.Lock()
						if c.pingAt != nil {
							c.pingAt[seq] = at
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
			// A busy peer is still there: every frame is paced, and
			// sendPaced sends a refused one again.
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

// sendControl sends one small frame (a fail, a cancel) to a paired peer
// paced as a tensor's parts are, from a goroutine of its own, and logs what
// it could not send. Unpaced, a frame the hub refused as busy was lost, and
// the peer waited out its timeout for an answer that had been sent; the
// handler, which may call this, must not wait for the hub's answers it
// reads itself.
func (c *peerClient) sendControl(to string, plain []byte, what string) {
	go func() {
		unlock, err := c.lockTensor(to)
		if err == nil {
			err = c.sendPaced(c.ctx, to, plain)
			unlock()
		}
		if err != nil {
			c.cfg.Log.Printf("%s to %s: %v", what, to, err)
		}
	}()
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
	if err := conn.write(ctx, m, b); err != nil {
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

// Transports. A hubConn is one connection to a hub: the WebSocket of the
// native hub (hub.go), or the join, sends and long polls of the Workers
// hub's HTTP variant (cfhub.go). Everything above it (pairing, sealing,
// pacing, rejoining) is the same for both: a refusal that the HTTP hub
// gives as a request's error comes to read as the error message the
// WebSocket hub would have sent.
type hubConn interface {
	name() string
	// read returns the hub's next message, checked by peer.Decode.
	read(ctx context.Context) (*peer.Message, error)
	// write sends m, encoded as b; the first message of a connection is the
	// join.
	write(ctx context.Context, m *peer.Message, b []byte) error
	// close ends the connection; graceful lets what was written go first.
	close(graceful bool)
	// silence is how long the hub may say nothing before the connection
	// counts as dead, at least.
	silence() time.Duration
}

// dialHub connects to the hub at url over the transport asked for (auto
// picks as hubTransport does). dial bounds connecting; life is the
// connection's.
func dialHub(dial, life context.Context, url, transport string) (hubConn, error) {
	if transport == "" || transport == "auto" {
		transport = hubTransport(dial, url)
	}
	if transport == "http" {
		return newHTTPHubConn(life, url)
	}
	conn, _, err := websocket.Dial(dial, hubURL(url, "ws"), nil)
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(peer.MaxMessageBytes)
	return wsHubConn{conn}, nil
}

// hubURL gives url the scheme family ("ws" or "http"), keeping tls.
func hubURL(url, family string) string {
	for _, p := range [][2]string{{"ws://", "http://"}, {"wss://", "https://"}} {
		from, to := p[1], p[0]
		if family == "http" {
			from, to = p[0], p[1]
		}
		if strings.HasPrefix(url, from) {
			return to + url[len(from):]
		}
	}
	return url
}

// hubTransport picks the transport the hub at url offers, as the browser
// does: a GET of the hub's URL answers 200 with Edgenn-Hub-Transport: http
// on the Workers hub, and 426 (or fails) on the native one.
func hubTransport(ctx context.Context, url string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, hubURL(url, "http"), nil)
	if err != nil {
		return "websocket"
	}
	req.Header.Set("Cache-Control", "no-store")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "websocket"
	}
	defer res.Body.Close()
	io.Copy(io.Discard, io.LimitReader(res.Body, 4096))
	if res.StatusCode == http.StatusOK {
		for _, t := range strings.Split(res.Header.Get(cfHubTransportHeader), ",") {
			if strings.EqualFold(strings.TrimSpace(t), "http") {
				return "http"
			}
		}
	}
	return "websocket"
}

// wsHubConn is the native hub's WebSocket.
type wsHubConn struct{ c *websocket.Conn }

func (w wsHubConn) name() string           { return "websocket" }
func (w wsHubConn) silence() time.Duration { return 0 }

func (w wsHubConn) read(ctx context.Context) (*peer.Message, error) {
	_, b, err := w.c.Read(ctx)
	if err != nil {
		return nil, err
	}
	return peer.Decode(b)
}

func (w wsHubConn) write(ctx context.Context, _ *peer.Message, b []byte) error {
	return w.c.Write(ctx, websocket.MessageBinary, b)
}

func (w wsHubConn) close(graceful bool) {
	if graceful {
		w.c.Close(websocket.StatusNormalClosure, "closed")
		return
	}
	w.c.CloseNow()
}

// The HTTP transport's limits, those of the browser's (www/edgenn-peer.js).
const (
	httpPollWait     = 10 * time.Second // a poll's wait while idle
	httpBusyPollWait = time.Second      // while messages other than pings flow
	httpBusy         = 5 * time.Second  // how long a message keeps polls short
	// httpSilence: a poll answers at least every httpPollWait, so nothing
	// heard for this long is a dead hub.
	httpSilence = httpPollWait + 15*time.Second
	// httpMaxPollBody bounds a poll's answer: the hub sends at most 8 MiB
	// beyond its first message.
	httpMaxPollBody = 8<<20 + 2*peer.MaxMessageBytes
	httpMaxRefusal  = 4096
	httpMaxQueued   = 1024 // messages polled and not yet read
	httpAnnounceGap = 300 * time.Millisecond
)

// httpHubConn is the Workers hub's HTTP variant: join, one POST per message
// in seq order (sendWaiting's writeMu orders them), and long polls.
type httpHubConn struct {
	url    string // without a trailing slash: .../hub
	client *http.Client
	ctx    context.Context
	cancel context.CancelFunc

	id, secret string
	after      uint64    // the last seq received
	announced  time.Time // when the hub last answered an announce
	busyUntil  atomic.Int64

	msgs chan *peer.Message // polled, in order
	// refusals are the hub's refusals of sends, as error messages; apart
	// from msgs so that a send from the reader's goroutine never waits on
	// its own reader.
	mu       sync.Mutex
	refusals []*peer.Message
	notify   chan struct{}
	dead     chan struct{}
	why      error
	dieOnce  sync.Once
}

func newHTTPHubConn(life context.Context, url string) (*httpHubConn, error) {
	ctx, cancel := context.WithCancel(life)
	return &httpHubConn{
		url:    strings.TrimRight(hubURL(url, "http"), "/"),
		client: &http.Client{},
		ctx:    ctx, cancel: cancel,
		msgs:   make(chan *peer.Message, httpMaxQueued),
		notify: make(chan struct{}, 1),
		dead:   make(chan struct{}),
	}, nil
}

func (h *httpHubConn) name() string           { return "http" }
func (h *httpHubConn) silence() time.Duration { return httpSilence }

func (h *httpHubConn) die(err error) {
	h.dieOnce.Do(func() {
		h.why = err
		close(h.dead)
		h.cancel()
	})
}

func (h *httpHubConn) close(graceful bool) { h.die(errors.New("closed")) }

func (h *httpHubConn) read(ctx context.Context) (*peer.Message, error) {
	for {
		h.mu.Lock()
		if len(h.refusals) > 0 {
			m := h.refusals[0]
			h.refusals = h.refusals[1:]
			h.mu.Unlock()
			return m, nil
		}
		h.mu.Unlock()
		select {
		case m := <-h.msgs:
			return m, nil
		case <-h.notify:
		case <-h.dead:
			// What was polled before the end is still read.
			select {
			case m := <-h.msgs:
				return m, nil
			default:
			}
			return nil, h.why
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// refused hands the hub's refusal of the message of seq to the reader.
func (h *httpHubConn) refused(seq uint64, code, text string) {
	h.mu.Lock()
	if len(h.refusals) < httpMaxQueued {
		h.refusals = append(h.refusals, &peer.Message{Type: peer.Error, Seq: 1, Re: seq, Code: code, Text: cfTruncate(text, peer.MaxTextLen)})
	}
	h.mu.Unlock()
	select {
	case h.notify <- struct{}{}:
	default:
	}
}

// httpAnswer is one request's outcome.
type httpAnswer struct {
	status     int
	header     http.Header
	body       []byte
	code, text string // a refusal's
}

// do makes one request to the hub and reads its answer, bounded.
func (h *httpHubConn) do(ctx context.Context, method, path string, body []byte) (*httpAnswer, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.url+path, r)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", cfHubContentType)
	}
	req.Header.Set("Cache-Control", "no-store")
	if h.id != "" {
		req.Header.Set(cfHubPeerHeader, h.id)
		req.Header.Set(cfHubSecretHeader, h.secret)
	}
	res, err := h.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	a := &httpAnswer{status: res.StatusCode, header: res.Header}
	limit := int64(httpMaxPollBody)
	if res.StatusCode != http.StatusOK {
		limit = httpMaxRefusal
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, limit+1))
	if err != nil && res.StatusCode == http.StatusOK {
		return nil, err
	}
	if int64(len(b)) > limit {
		if res.StatusCode == http.StatusOK {
			return nil, fmt.Errorf("%s %s: an answer of more than %d bytes", method, path, limit)
		}
		b = b[:limit]
	}
	if res.StatusCode == http.StatusOK || res.StatusCode == http.StatusNoContent {
		a.body = b
		return a, nil
	}
	a.code = res.Header.Get(cfHubErrorHeader)
	a.text = strings.TrimSpace(strings.ToValidUTF8(string(b), "?"))
	if a.code != "" {
		a.text = strings.TrimPrefix(a.text, a.code+": ")
	}
	if a.text == "" {
		a.text = res.Status
	}
	return a, nil
}

// deliver hands a poll's (or the join's) messages on in order, skipping
// those seen.
func (h *httpHubConn) deliver(body []byte) error {
	r := msgp.NewReader(body)
	n, err := r.ArrayLen(httpMaxQueued)
	if err != nil {
		return fmt.Errorf("a poll answer this side cannot read: %w", err)
	}
	for range n {
		b, err := r.ReadBytes(msgp.KindBin, peer.MaxMessageBytes)
		if err != nil {
			return fmt.Errorf("a poll answer this side cannot read: %w", err)
		}
		m, err := peer.Decode(bytes.Clone(b))
		if err != nil {
			return fmt.Errorf("hub: %w", err)
		}
		if m.Seq <= h.after {
			continue
		}
		h.after = m.Seq
		if m.Type != peer.Ping && m.Type != peer.Pong {
			h.active()
		}
		select {
		case h.msgs <- m:
		case <-h.ctx.Done():
			return h.ctx.Err()
		}
	}
	if r.Remaining() != 0 {
		return fmt.Errorf("a poll answer this side cannot read: %d bytes after its messages", r.Remaining())
	}
	return nil
}

func (h *httpHubConn) active() { h.busyUntil.Store(time.Now().Add(httpBusy).UnixNano()) }

func (h *httpHubConn) write(ctx context.Context, m *peer.Message, b []byte) error {
	select {
	case <-h.dead:
		return fmt.Errorf("hub connection lost: %w", h.why)
	default:
	}
	if m.Type == peer.Join {
		return h.join(ctx, m, b)
	}
	if m.Type != peer.Ping && m.Type != peer.Pong {
		h.active()
	}
	if m.Type == peer.Announce {
		// The hub takes one announce per 200ms, timed as they reach it:
		// the gap is kept here, as the browser keeps it, since requests
		// one after another can reach it closer than they were made.
		if wait := time.Until(h.announced.Add(httpAnnounceGap)); wait > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		}
		defer func() { h.announced = time.Now() }()
	}
	wait := 50 * time.Millisecond
	for retry := 0; ; retry++ {
		a, err := h.do(ctx, http.MethodPost, "/send", b)
		if err == nil {
			switch {
			case a.status == http.StatusNoContent || a.status == http.StatusOK:
				return nil
			case retry > 0 && a.code == peer.CodeOutOfOrder:
				return nil // a retry of a send the hub had taken
			case a.status == http.StatusGone || a.status == http.StatusUnauthorized:
				err = fmt.Errorf("%d %s: %s", a.status, a.code, a.text)
				h.die(err)
				return err
			case a.code != "":
				// The hub's refusal of this message, as the WebSocket hub
				// says it.
				h.refused(m.Seq, a.code, a.text)
				return nil
			}
			err = fmt.Errorf("%d: %s", a.status, a.text) // storage failing: nothing changed
		}
		if ctx.Err() != nil || h.ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-h.dead:
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// join posts the join; the welcome, or the refusal as an error message,
// comes to read, and polling starts.
func (h *httpHubConn) join(ctx context.Context, m *peer.Message, b []byte) error {
	a, err := h.do(ctx, http.MethodPost, "/join", b)
	if err != nil {
		return err
	}
	if a.status != http.StatusOK {
		if a.code == "" {
			return fmt.Errorf("join: the hub answered %d: %s", a.status, a.text)
		}
		h.refused(m.Seq, a.code, a.text)
		return nil
	}
	h.id, h.secret = a.header.Get(cfHubPeerHeader), a.header.Get(cfHubSecretHeader)
	if h.id == "" || h.secret == "" || len(h.id) > peer.MaxNameLen || len(h.secret) > 256 {
		return fmt.Errorf("join: the hub's answer has no %s and %s headers", cfHubPeerHeader, cfHubSecretHeader)
	}
	if err := h.deliver(a.body); err != nil {
		return err
	}
	go h.poll()
	return nil
}

// poll long-polls until the connection ends.
func (h *httpHubConn) poll() {
	since, wait := time.Now(), 50*time.Millisecond
	for h.ctx.Err() == nil {
		pw := httpPollWait
		if time.Now().UnixNano() < h.busyUntil.Load() {
			pw = httpBusyPollWait
		}
		ctx, cancel := context.WithTimeout(h.ctx, pw+15*time.Second)
		a, err := h.do(ctx, http.MethodGet, fmt.Sprintf("/poll?after=%d&wait=%d", h.after, int(pw/time.Second)), nil)
		cancel()
		if err == nil {
			if a.status == http.StatusOK {
				if err := h.deliver(a.body); err != nil {
					h.die(err)
					return
				}
				since, wait = time.Now(), 50*time.Millisecond
				continue
			}
			// Storage failing or too many requests: poll again; anything
			// else (dropped, unknown) ends the connection.
			if a.status != http.StatusServiceUnavailable && a.status != http.StatusTooManyRequests && !(a.status >= 500 && a.code == "") {
				h.die(fmt.Errorf("poll: %d %s: %s", a.status, a.code, a.text))
				return
			}
			err = fmt.Errorf("poll: %d: %s", a.status, a.text)
		}
		if h.ctx.Err() != nil {
			return
		}
		if time.Since(since) > httpSilence {
			h.die(fmt.Errorf("the hub did not answer a poll for %v: %w", time.Since(since).Round(time.Second), err))
			return
		}
		select {
		case <-h.ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}
