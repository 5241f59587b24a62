//go:build !js

package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/edgenn/edgenn/engine/peer"
)

// The hub is the host's WebSocket endpoint for nearby peers (DESIGN.md, "The
// host and the peers"). Peers join a room with its token, announce the models
// they hold and what running them costs, and ask for a peer to offload to;
// the hub matches them, relays WebRTC signalling and, where no direct channel
// can be made, relays frames that the two peers have sealed (engine/peer), so
// it never holds a tensor in the clear.
//
// Rooms are configured, each with its token (serve --hub-room NAME=TOKEN), and
// not created by their first joiner: a room that anyone can create is a room
// anyone can squat, and its "token" is whatever the first comer chose. With
// configured rooms the host's operator decides who may join, and a wrong
// token and an unknown room are both refused.
//
// Every message is a peer.Message, one per binary WebSocket message, read
// with a limit of peer.MaxMessageBytes and decoded with validation before the
// hub acts on it. A message the hub cannot read (malformed, oversized, of an
// unknown version or type) is answered with an error and the connection is
// closed with the reason, since nothing after it can be trusted; a message it
// can read but refuses (a peer of another room, a model nobody holds, a seq
// out of order) is answered with an error and the connection stays. Every
// refusal is logged with the peer and the reason.

// HubConfig configures a Hub.
type HubConfig struct {
	// Rooms maps each room's name to its token.
	Rooms map[string]string
	// PingInterval is how often the hub pings each peer (default 1s);
	// Timeout is how long a peer may send nothing before it is dropped
	// (default 4s). Any message counts, and a peer answers a ping with a pong.
	PingInterval, Timeout time.Duration
	// WriteTimeout bounds the sending of one message (default 10s).
	WriteTimeout time.Duration
	// QueueBytes bounds what waits to be sent to one peer (default 4 MiB).
	// A signal or frame for a peer with half of it waiting is refused to its
	// sender as busy (backpressure: a sender cannot push a receiver out); a
	// peer whose queue overflows with the hub's own messages, or that takes
	// longer than WriteTimeout to take one message, is dropped.
	QueueBytes int
	// AnnounceInterval is the shortest time between two announces of one
	// peer (default 200ms), since the hub passes each on to the whole room.
	AnnounceInterval time.Duration
	// MaxConns bounds the open connections, joined or not (default 4096).
	MaxConns int
	// Log gets one line per join, leave and refusal; nil discards.
	Log *log.Logger
}

// Hub is the http.Handler of the hub's WebSocket endpoint.
type Hub struct {
	cfg HubConfig

	mu     sync.Mutex
	rooms  map[string]*hubRoom
	conns  map[*hubPeer]struct{} // every open connection, joined or not
	closed bool
	wg     sync.WaitGroup // one per connection

	// tap, when set (by tests, before the hub serves), sees every message
	// the hub sends, addressed by peer id.
	tap func(to string, msg []byte)
}

type hubRoom struct {
	name  string
	token [sha256.Size]byte // the token's sha256, compared in constant time
	peers map[string]*hubPeer
}

// hubPeer is one connection. The reader (the handler goroutine) decodes and
// acts; the writer goroutine sends the queue, pings and enforces the
// heartbeat; end, called once by either or by Hub.Close, takes the peer out
// of its room and tells the writer to close.
type hubPeer struct {
	hub  *Hub
	conn *websocket.Conn
	addr string

	lastSeq      uint64    // the last seq read; the reader's own
	lastAnnounce time.Time // the reader's own
	// pingOut is when the oldest ping the peer has not answered was
	// written to its socket (unix nanoseconds), 0 if none: the heartbeat
	// counts from there, not from when the ping was queued, so that a
	// backlog on the hub's side (a join storm in a big room) is not taken
	// for a dead peer.
	pingOut atomic.Int64
	joined  atomic.Bool // the hub pings only joined peers; others must join within Timeout
	start   time.Time

	// Guarded by hub.mu.
	id     string
	name   string
	caps   peer.Caps
	room   *hubRoom
	models []peer.ModelCost
	load   float32 // announced load plus what the hub matched since

	sendMu sync.Mutex // guards outSeq, queue, queued and gone
	outSeq uint64
	queue  []queued // encoded messages waiting for the writer
	queued int      // their bytes, each counted with msgCost
	gone   bool
	wake   chan struct{} // (1) tells the writer the queue has grown

	slow    chan struct{} // closed when the queue overflows
	quit    chan struct{} // closed by end
	done    chan struct{} // closed when the writer has closed the connection
	endOnce sync.Once
	// Set by end before quit is closed.
	closeCode   websocket.StatusCode
	closeReason string
	abrupt      bool // close without the handshake: the peer is dead or stuck
}

// queued is one encoded message waiting to be sent.
type queued struct {
	b    []byte
	ping bool
}

// msgCost is what one queued message counts for beyond its bytes, so that
// QueueBytes also bounds the number of messages (65536 at the default).
const msgCost = 64

// NewHub returns a hub serving the configured rooms.
func NewHub(cfg HubConfig) (*Hub, error) {
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 4 * time.Second
	}
	if cfg.Timeout <= cfg.PingInterval {
		return nil, fmt.Errorf("hub: timeout %v must be longer than the ping interval %v", cfg.Timeout, cfg.PingInterval)
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.QueueBytes <= 0 {
		cfg.QueueBytes = 4 << 20
	}
	if cfg.AnnounceInterval <= 0 {
		cfg.AnnounceInterval = 200 * time.Millisecond
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 4096
	}
	if cfg.Log == nil {
		cfg.Log = log.New(discard{}, "", 0)
	}
	h := &Hub{cfg: cfg, rooms: map[string]*hubRoom{}, conns: map[*hubPeer]struct{}{}}
	for name, token := range cfg.Rooms {
		if err := checkRoom(name, token); err != nil {
			return nil, err
		}
		h.rooms[name] = &hubRoom{name: name, token: sha256.Sum256([]byte(token)), peers: map[string]*hubPeer{}}
	}
	return h, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func checkRoom(name, token string) error {
	switch {
	case name == "" || len(name) > peer.MaxNameLen:
		return fmt.Errorf("hub: room name %q: want 1 to %d bytes", name, peer.MaxNameLen)
	case len(token) < 8 || len(token) > peer.MaxTokenLen:
		return fmt.Errorf("hub: room %q: token of %d bytes, want 8 to %d", name, len(token), peer.MaxTokenLen)
	}
	return nil
}

// ParseHubRoom reads a --hub-room value, NAME=TOKEN.
func ParseHubRoom(s string) (name, token string, err error) {
	name, token, ok := strings.Cut(s, "=")
	if !ok {
		return "", "", fmt.Errorf("--hub-room %q: want NAME=TOKEN", s)
	}
	return name, token, checkRoom(name, token)
}

// ServeHTTP accepts a WebSocket connection and serves one peer on it until
// it leaves, is dropped or the hub closes.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Clients ask which transport a hub speaks (the Worker's hub answers
	// "http"); a plain request is told, not logged as a refused upgrade.
	w.Header().Set("Edgenn-Hub-Transport", "websocket")
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		http.Error(w, "the peer hub speaks WebSocket here", http.StatusUpgradeRequired)
		return
	}
	h.mu.Lock()
	closed, full := h.closed, len(h.conns) >= h.cfg.MaxConns
	h.mu.Unlock()
	switch {
	case closed:
		http.Error(w, "hub is shutting down", http.StatusServiceUnavailable)
		return
	case full:
		h.cfg.Log.Printf("hub: %s refused: %d connections open", r.RemoteAddr, h.cfg.MaxConns)
		http.Error(w, "hub is full", http.StatusServiceUnavailable)
		return
	}
	conn, err := websocket.Accept(w, r, nil) // same-origin pages only, by default
	if err != nil {
		h.cfg.Log.Printf("hub: %s refused: %v", r.RemoteAddr, err)
		return
	}
	conn.SetReadLimit(peer.MaxMessageBytes)
	p := &hubPeer{hub: h, conn: conn, addr: r.RemoteAddr, start: time.Now(), wake: make(chan struct{}, 1),
		slow: make(chan struct{}), quit: make(chan struct{}), done: make(chan struct{})}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		conn.Close(websocket.StatusGoingAway, "hub is shutting down")
		return
	}
	h.conns[p] = struct{}{}
	h.wg.Add(1)
	h.mu.Unlock()
	defer h.wg.Done()

	go p.writeLoop()
	p.readLoop()
	<-p.done
}

// Close closes every connection with StatusGoingAway and waits for them to
// end; the hub accepts no more. The http.Server does not track hijacked
// connections, so its owner calls Close beside Shutdown.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	peers := make([]*hubPeer, 0, len(h.conns))
	for p := range h.conns {
		peers = append(peers, p)
	}
	h.mu.Unlock()
	for _, p := range peers {
		p.end(websocket.StatusGoingAway, "hub is shutting down", false)
	}
	h.wg.Wait()
}

// who names the peer in log lines.
func (p *hubPeer) who() string {
	p.hub.mu.Lock()
	defer p.hub.mu.Unlock()
	if p.room != nil {
		return "peer " + p.id + " (" + p.addr + ", room " + p.room.name + ")"
	}
	return "peer " + p.addr
}

func (p *hubPeer) readLoop() {
	h := p.hub
	for {
		typ, data, err := p.conn.Read(context.Background())
		if err != nil {
			code, reason := websocket.StatusNormalClosure, "connection lost: "+err.Error()
			var ce websocket.CloseError
			switch {
			case errors.As(err, &ce):
				reason = "closed by the peer: " + ce.Code.String() + " " + ce.Reason
			case errors.Is(err, websocket.ErrMessageTooBig):
				code, reason = websocket.StatusMessageTooBig, fmt.Sprintf("message larger than %d bytes", peer.MaxMessageBytes)
				h.cfg.Log.Printf("hub: %s refused: %s", p.who(), reason)
			}
			p.end(code, reason, false)
			return
		}
		p.pingOut.Store(0) // any message shows the peer alive
		if typ != websocket.MessageBinary {
			p.refuse(0, peer.CodeBadMessage, "text message: the protocol is msgpack in binary messages", true)
			return
		}
		m, err := peer.Decode(data)
		if err != nil {
			var re uint64
			var de *peer.DecodeError
			if errors.As(err, &de) {
				re = de.Seq
			}
			p.refuse(re, peer.CodeBadMessage, err.Error(), true)
			return
		}
		if m.Seq <= p.lastSeq {
			p.refuse(m.Seq, peer.CodeOutOfOrder, fmt.Sprintf("seq %d is not above the last seq %d", m.Seq, p.lastSeq), false)
			continue
		}
		p.lastSeq = m.Seq
		if !p.handle(m) {
			return
		}
	}
}

// refuse answers a message with an error, logs it and, if fatal, closes the
// connection with the reason once the error is sent.
func (p *hubPeer) refuse(re uint64, code, text string, fatal bool) {
	if len(text) > peer.MaxTextLen {
		text = text[:peer.MaxTextLen]
	}
	p.hub.cfg.Log.Printf("hub: %s refused: %s: %s", p.who(), code, text)
	p.send(&peer.Message{Type: peer.Error, Re: re, Code: code, Text: text})
	if fatal {
		p.end(websocket.StatusPolicyViolation, code+": "+text, false)
	}
}

// handle acts on one valid message in order; it returns false when the
// connection is ending.
func (p *hubPeer) handle(m *peer.Message) bool {
	h := p.hub
	h.mu.Lock()
	room := p.room
	h.mu.Unlock()
	if room == nil && m.Type != peer.Join {
		p.refuse(m.Seq, peer.CodeOutOfOrder, "the first message must be join, not "+m.Type.String(), true)
		return false
	}
	if m.From != "" {
		p.refuse(m.Seq, peer.CodeForbidden, "from is set by the hub, not by a peer", false)
		return true
	}
	switch m.Type {
	case peer.Join:
		if room != nil {
			p.refuse(m.Seq, peer.CodeOutOfOrder, "already joined room "+room.name, false)
			return true
		}
		return p.join(m)
	case peer.Announce:
		if time.Since(p.lastAnnounce) < h.cfg.AnnounceInterval {
			p.refuse(m.Seq, peer.CodeTooOften, fmt.Sprintf("announce again after %v", h.cfg.AnnounceInterval), false)
			return true
		}
		p.lastAnnounce = time.Now()
		h.mu.Lock()
		p.models, p.load = m.Models, m.Load
		for _, q := range room.peers {
			if q != p {
				q.send(&peer.Message{Type: peer.Announce, From: p.id, Models: m.Models, Load: m.Load})
			}
		}
		h.mu.Unlock()
	case peer.Signal, peer.Frame:
		h.mu.Lock()
		q := room.peers[m.To]
		h.mu.Unlock()
		if q == nil || q == p {
			p.refuse(m.Seq, peer.CodeUnknownPeer, fmt.Sprintf("%s to %q: no such peer in room %s", m.Type, m.To, room.name), false)
			return true
		}
		if !q.relay(&peer.Message{Type: m.Type, From: p.id, Data: m.Data}) {
			p.refuse(m.Seq, peer.CodeBusy, fmt.Sprintf("%s to %s: its queue is half full; send again later", m.Type, q.id), false)
		}
	case peer.OfferRequest:
		if id, ok := p.match(m); ok {
			p.send(&peer.Message{Type: peer.Match, Re: m.Seq, ID: id, Model: m.Model})
		} else {
			p.refuse(m.Seq, peer.CodeNoPeer, fmt.Sprintf("no other peer in room %s holds model %x with cut %d", room.name, m.Model[:8], m.Cut), false)
		}
	case peer.Ping:
		p.send(&peer.Message{Type: peer.Pong, Re: m.Seq})
	case peer.Pong:
		// pingOut is all a pong is for.
	case peer.Leave:
		reason := "left"
		if m.Reason != "" {
			reason += ": " + m.Reason
		}
		p.end(websocket.StatusNormalClosure, reason, false)
		return false
	case peer.Error:
		h.cfg.Log.Printf("hub: %s reports error %s: %s", p.who(), m.Code, m.Text)
	default: // welcome, peer-joined, peer-left, match: the hub's to send
		p.refuse(m.Seq, peer.CodeForbidden, m.Type.String()+" is sent by the hub, not by a peer", false)
	}
	return true
}

// join admits the peer to its room, or refuses it and closes.
func (p *hubPeer) join(m *peer.Message) bool {
	h := p.hub
	h.mu.Lock()
	room := h.rooms[m.Room]
	var code, why string
	switch {
	case room == nil:
		code, why = peer.CodeUnknownRoom, fmt.Sprintf("no room %q on this hub", m.Room)
	case subtle.ConstantTimeCompare(hashToken(m.Token), room.token[:]) != 1:
		code, why = peer.CodeBadToken, fmt.Sprintf("wrong token for room %q", m.Room)
	case len(room.peers) >= peer.MaxPeers:
		code, why = peer.CodeRoomFull, fmt.Sprintf("room %q holds %d peers, the most it can", m.Room, peer.MaxPeers)
	}
	if code != "" {
		h.mu.Unlock()
		p.refuse(m.Seq, code, why, true)
		return false
	}
	p.id = newPeerID(room)
	p.name, p.caps, p.room = m.Name, m.Caps, room
	welcome := &peer.Message{Type: peer.Welcome, ID: p.id, Room: room.name, Peers: make([]peer.PeerInfo, 0, len(room.peers))}
	ids := make([]string, 0, len(room.peers))
	for id := range room.peers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		welcome.Peers = append(welcome.Peers, room.peers[id].info())
	}
	room.peers[p.id] = p
	p.joined.Store(true)
	p.send(welcome)
	for _, id := range ids {
		q := room.peers[id]
		if q.models != nil {
			p.send(&peer.Message{Type: peer.Announce, From: q.id, Models: q.models, Load: q.load})
		}
		q.send(&peer.Message{Type: peer.PeerJoined, Peer: p.info()})
	}
	h.mu.Unlock()
	h.cfg.Log.Printf("hub: %s joined as %q", p.who(), m.Name)
	return true
}

func hashToken(t string) []byte {
	s := sha256.Sum256([]byte(t))
	return s[:]
}

// newPeerID returns a fresh random id, unique in its room; ids are random so
// that they say nothing about who joined when.
func newPeerID(room *hubRoom) string {
	for {
		var b [6]byte
		rand.Read(b[:])
		if id := "p" + hex.EncodeToString(b[:]); room.peers[id] == nil {
			return id
		}
	}
}

// info describes p to its room; the caller holds hub.mu.
func (p *hubPeer) info() peer.PeerInfo {
	return peer.PeerInfo{ID: p.id, Name: p.name, Caps: p.caps, Load: p.load}
}

// match picks the least-loaded other peer of the room that holds the model
// with the cut asked for (ties to the smaller id), and counts the work it is
// about to get in its load until its next announce, so that a burst of
// requests spreads over the holders instead of piling on one.
func (p *hubPeer) match(m *peer.Message) (string, bool) {
	h := p.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	var best *hubPeer
	var cost float32
	for _, q := range p.room.peers {
		if q == p {
			continue
		}
		for _, mc := range q.models {
			if mc.Model != m.Model || m.Cut >= len(mc.Cuts) {
				continue
			}
			if best == nil || q.load < best.load || q.load == best.load && q.id < best.id {
				best, cost = q, mc.Cuts[len(mc.Cuts)-1]-mc.Cuts[m.Cut]
			}
		}
	}
	if best == nil {
		return "", false
	}
	best.load += max(cost, 1e-3)
	return best.id, true
}

// send queues m for the peer, numbering it. If the queue is full the peer is
// marked slow and dropped by its writer; nothing blocks. Callers may hold
// hub.mu.
func (p *hubPeer) send(m *peer.Message) { p.enqueue(m, false) }

// relay queues a message from another peer unless half the peer's queue is
// waiting already, and reports whether it did.
func (p *hubPeer) relay(m *peer.Message) bool { return p.enqueue(m, true) }

func (p *hubPeer) enqueue(m *peer.Message, soft bool) bool {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	if p.gone {
		return false
	}
	if soft && p.queued+len(m.Data)+msgCost > p.hub.cfg.QueueBytes/2 {
		return false
	}
	p.outSeq++
	m.Seq = p.outSeq
	b, err := peer.Encode(m)
	if err != nil { // the hub built a message it cannot send: a bug, not the peer's fault
		p.hub.cfg.Log.Printf("hub: cannot send %s: %v", m.Type, err)
		return false
	}
	if p.queued+len(b)+msgCost > p.hub.cfg.QueueBytes {
		p.gone = true
		close(p.slow)
		return false
	}
	p.queue = append(p.queue, queued{b, m.Type == peer.Ping})
	p.queued += len(b) + msgCost
	if p.hub.tap != nil {
		p.hub.tap(p.id, b)
	}
	select {
	case p.wake <- struct{}{}:
	default: // the writer has been woken already
	}
	return true
}

// end takes the peer out of its room, tells the room, and has the writer
// close the connection with code and reason (after sending what is queued,
// unless abrupt). Only the first call counts.
func (p *hubPeer) end(code websocket.StatusCode, reason string, abrupt bool) {
	p.endOnce.Do(func() {
		h := p.hub
		h.mu.Lock()
		delete(h.conns, p)
		if r := p.room; r != nil {
			delete(r.peers, p.id)
			if !h.closed {
				for _, q := range r.peers {
					q.send(&peer.Message{Type: peer.PeerLeft, ID: p.id, Reason: reason})
				}
			}
			h.cfg.Log.Printf("hub: peer %s (%s, room %s) left: %s", p.id, p.addr, r.name, reason)
		}
		h.mu.Unlock()
		p.sendMu.Lock()
		p.gone = true // what is queued still goes, nothing new
		p.sendMu.Unlock()
		if len(reason) > 120 { // a close frame holds 123 bytes of reason
			reason = reason[:120]
		}
		p.closeCode, p.closeReason, p.abrupt = code, reason, abrupt
		close(p.quit)
	})
}

// writeLoop sends the queue in order, pings, drops the peer when it falls
// silent or behind, and closes the connection when the peer ends.
func (p *hubPeer) writeLoop() {
	h := p.hub
	defer close(p.done)
	tick := time.NewTicker(h.cfg.PingInterval)
	defer tick.Stop()
	slow := p.slow // set to nil once seen, since it stays closed
	write := func(b []byte) error {
		// The timer ends the peer before it closes the connection, so that
		// the reason is the timeout and not the reader's closed socket.
		timer := time.AfterFunc(h.cfg.WriteTimeout, func() {
			reason := fmt.Sprintf("%s: a message took more than %v to send", peer.CodeSlow, h.cfg.WriteTimeout)
			h.cfg.Log.Printf("hub: %s dropped: %s", p.who(), reason)
			p.end(websocket.StatusPolicyViolation, reason, true)
			p.conn.CloseNow()
		})
		err := p.conn.Write(context.Background(), websocket.MessageBinary, b)
		timer.Stop()
		p.sendMu.Lock()
		p.queued -= len(b) + msgCost
		p.sendMu.Unlock()
		return err
	}
	// flush writes what is queued, in order, until the queue is empty or a
	// write fails.
	flush := func() error {
		for {
			p.sendMu.Lock()
			batch := p.queue
			p.queue = nil
			p.sendMu.Unlock()
			if len(batch) == 0 {
				return nil
			}
			for i, q := range batch {
				if err := write(q.b); err != nil {
					p.sendMu.Lock()
					for _, q := range batch[i+1:] {
						p.queued -= len(q.b) + msgCost
					}
					p.sendMu.Unlock()
					return err
				}
				if q.ping {
					p.pingOut.CompareAndSwap(0, time.Now().UnixNano())
				}
			}
		}
	}
	for {
		select {
		case <-p.wake:
			if err := flush(); err != nil {
				// The reader sees the connection close and ends the peer
				// with its own error, which says more (a close by the
				// peer, a message too big).
				p.conn.CloseNow()
			}
		case <-tick.C:
			if !p.joined.Load() {
				if time.Since(p.start) > h.cfg.Timeout {
					reason := fmt.Sprintf("%s: no join within %v", peer.CodeTimeout, h.cfg.Timeout)
					h.cfg.Log.Printf("hub: %s dropped: %s", p.who(), reason)
					p.end(websocket.StatusPolicyViolation, reason, false)
				}
				continue
			}
			if out := p.pingOut.Load(); out != 0 && time.Since(time.Unix(0, out)) > h.cfg.Timeout {
				reason := fmt.Sprintf("%s: no answer to a ping sent %v ago", peer.CodeTimeout, time.Since(time.Unix(0, out)).Round(time.Millisecond))
				h.cfg.Log.Printf("hub: %s dropped: %s", p.who(), reason)
				p.end(websocket.StatusPolicyViolation, reason, true)
				continue
			}
			p.send(&peer.Message{Type: peer.Ping})
		case <-slow:
			slow = nil
			reason := fmt.Sprintf("%s: more than %d bytes waiting to be sent", peer.CodeSlow, h.cfg.QueueBytes)
			h.cfg.Log.Printf("hub: %s dropped: %s", p.who(), reason)
			p.end(websocket.StatusPolicyViolation, reason, true)
		case <-p.quit:
			if p.abrupt {
				p.conn.CloseNow()
				return
			}
			flush() // end has stopped the queue growing
			p.conn.Close(p.closeCode, p.closeReason)
			return
		}
	}
}
