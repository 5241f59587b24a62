//go:build !js

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"log"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/edgenn/edgenn/engine/peer"
	"github.com/edgenn/edgenn/internal/msgp"
)

// The hub's tests run a real hub on 127.0.0.1 and talk to it with real
// WebSocket clients speaking engine/peer's protocol.

const (
	testRoom  = "lab"
	testToken = "lab-token-1234"
)

// hubLogBuffer collects the hub's log lines from several goroutines.
type hubLogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *hubLogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *hubLogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type testHub struct {
	*Hub
	srv *httptest.Server
	url string
	log *hubLogBuffer
}

// startHub serves a hub with rooms "lab" and "other" at /hub on a loopback
// port; tweak adjusts the config and may set the tap.
func startHub(t *testing.T, tweak func(*HubConfig)) *testHub {
	t.Helper()
	logs := &hubLogBuffer{}
	cfg := HubConfig{
		Rooms:        map[string]string{testRoom: testToken, "other": "other-token-5678"},
		PingInterval: 50 * time.Millisecond,
		Timeout:      time.Second,
		Log:          log.New(logs, "", 0),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	h, err := NewHub(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/hub", h)
	srv := httptest.NewServer(mux)
	th := &testHub{Hub: h, srv: srv, url: "ws" + strings.TrimPrefix(srv.URL, "http") + "/hub", log: logs}
	t.Cleanup(func() {
		h.Close()
		srv.Close()
		if t.Failed() {
			t.Logf("hub log:\n%s", logs)
		}
	})
	return th
}

// client is a peer: a reader goroutine answers the hub's pings (unless
// muted) and queues every other message.
type client struct {
	t    *testing.T
	conn *websocket.Conn
	mu   sync.Mutex // orders seq with the writes
	seq  uint64
	id   string
	in   chan *peer.Message
	// closed receives the error that ended the reader.
	closed chan error
	mute   atomic.Bool // stop answering pings
	stall  chan struct{}
}

func dial(t *testing.T, url string) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadLimit(peer.MaxMessageBytes)
	c := &client{t: t, conn: conn, in: make(chan *peer.Message, 4096), closed: make(chan error, 1), stall: make(chan struct{})}
	go c.read()
	t.Cleanup(func() { conn.CloseNow() })
	return c
}

func (c *client) read() {
	for {
		_, b, err := c.conn.Read(context.Background())
		if err != nil {
			c.closed <- err
			close(c.in)
			return
		}
		m, err := peer.Decode(b)
		if err != nil {
			c.closed <- errors.New("client cannot decode the hub's message: " + err.Error())
			close(c.in)
			return
		}
		if m.Type == peer.Ping {
			if !c.mute.Load() {
				c.send(&peer.Message{Type: peer.Pong, Re: m.Seq})
			}
			continue
		}
		c.in <- m
	}
}

// send numbers and sends m; errors are the test's to see in what follows.
func (c *client) send(m *peer.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	m.Seq = c.seq
	b, err := peer.Encode(m)
	if err != nil {
		c.t.Errorf("encode %s: %v", m.Type, err)
		return
	}
	c.conn.Write(context.Background(), websocket.MessageBinary, b)
}

func (c *client) sendRaw(typ websocket.MessageType, b []byte) {
	c.conn.Write(context.Background(), typ, b)
}

// next returns the next message other than a ping, failing after 3s.
func (c *client) next() *peer.Message {
	c.t.Helper()
	select {
	case m, ok := <-c.in:
		if !ok {
			c.t.Fatalf("connection closed while waiting for a message: %v", <-c.closed)
		}
		return m
	case <-time.After(3 * time.Second):
		c.t.Fatal("no message from the hub within 3s")
	}
	return nil
}

// expect returns the next message, which must be of type want.
func (c *client) expect(want peer.Type) *peer.Message {
	c.t.Helper()
	m := c.next()
	if m.Type != want {
		c.t.Fatalf("got %s %+v, want %s", m.Type, m, want)
	}
	return m
}

// expectError returns the next message, which must be an error with code.
func (c *client) expectError(code string) *peer.Message {
	c.t.Helper()
	m := c.expect(peer.Error)
	if m.Code != code {
		c.t.Fatalf("error %s (%s), want code %s", m.Code, m.Text, code)
	}
	return m
}

// quiet checks that nothing but pings arrives for d.
func (c *client) quiet(d time.Duration) {
	c.t.Helper()
	select {
	case m, ok := <-c.in:
		if ok {
			c.t.Fatalf("got %s %+v, want nothing", m.Type, m)
		}
	case <-time.After(d):
	}
}

// closedWith waits for the hub to close the connection and returns the
// close status and reason.
func (c *client) closedWith() (websocket.StatusCode, string) {
	c.t.Helper()
	for {
		select {
		case _, ok := <-c.in:
			if ok {
				continue // messages sent before the close
			}
			err := <-c.closed
			var ce websocket.CloseError
			if !errors.As(err, &ce) {
				return -1, err.Error()
			}
			return ce.Code, ce.Reason
		case <-time.After(3 * time.Second):
			c.t.Fatal("connection still open after 3s")
		}
	}
}

func (c *client) join(room, token, name string) *peer.Message {
	c.t.Helper()
	c.send(&peer.Message{Type: peer.Join, Room: room, Token: token, Name: name, Caps: peer.Caps{Workers: 2, GFLOPS: 1.5}})
	w := c.expect(peer.Welcome)
	c.id = w.ID
	return w
}

// alive checks that c is still served: a ping gets its pong.
func (c *client) alive() {
	c.t.Helper()
	c.send(&peer.Message{Type: peer.Ping})
	c.expect(peer.Pong)
}

func TestHubJoinLeave(t *testing.T) {
	h := startHub(t, nil)
	a, b := dial(t, h.url), dial(t, h.url)
	wa := a.join(testRoom, testToken, "phone")
	if len(wa.Peers) != 0 || wa.Room != testRoom || wa.ID == "" {
		t.Fatalf("first welcome %+v", wa)
	}
	wb := b.join(testRoom, testToken, "laptop")
	if len(wb.Peers) != 1 || wb.Peers[0].ID != a.id || wb.Peers[0].Name != "phone" || wb.Peers[0].Caps.Workers != 2 {
		t.Fatalf("second welcome lists %+v, want the phone %s", wb.Peers, a.id)
	}
	j := a.expect(peer.PeerJoined)
	if j.Peer.ID != b.id || j.Peer.Name != "laptop" {
		t.Fatalf("peer-joined %+v", j.Peer)
	}
	b.send(&peer.Message{Type: peer.Leave, Reason: "bye"})
	l := a.expect(peer.PeerLeft)
	if l.ID != b.id || l.Reason != "left: bye" {
		t.Fatalf("peer-left %+v", l)
	}
	if code, _ := b.closedWith(); code != websocket.StatusNormalClosure {
		t.Fatalf("leaver closed with %v", code)
	}
	a.alive()
	// A plain GET is not a WebSocket.
	resp, err := http.Get(h.srv.URL + "/hub")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("plain GET: %s", resp.Status)
	}
}

// TestHubRefuses sends each kind of bad input from a fresh connection and
// checks that it is refused with the error, logged, closed with the reason,
// and that the hub and a bystander peer are unharmed.
func TestHubRefuses(t *testing.T) {
	h := startHub(t, nil)
	bystander := dial(t, h.url)
	bystander.join(testRoom, testToken, "bystander")

	var ping msgp.Writer
	ping.MapLen(3)
	ping.Str("v")
	ping.Int(1)
	ping.Str("t")
	ping.Str("ping")
	ping.Str("seq")
	ping.Int(2)
	withVersion := func(v int64) []byte {
		var w msgp.Writer
		w.MapLen(3)
		w.Str("v")
		w.Int(v)
		w.Str("t")
		w.Str("ping")
		w.Str("seq")
		w.Int(2)
		return w.Buf
	}
	withType := bytes.Replace(ping.Buf, []byte("\xa4ping"), []byte("\xa4pong"), 1) // a pong without re
	unknownType := bytes.Replace(ping.Buf, []byte("\xa4ping"), []byte("\xa4zing"), 1)

	tests := []struct {
		name     string
		joined   bool // join before sending
		send     func(c *client)
		code     string // the error message's code; "" when the close is all there is
		wantText string // in the error text or close reason
		status   websocket.StatusCode
		logged   string // in the log, when there is no error code
	}{
		{"wrong token", false, func(c *client) {
			c.send(&peer.Message{Type: peer.Join, Room: testRoom, Token: "guessed-token"})
		}, peer.CodeBadToken, "wrong token for room \"lab\"", websocket.StatusPolicyViolation, ""},
		{"unknown room", false, func(c *client) {
			c.send(&peer.Message{Type: peer.Join, Room: "attic", Token: testToken})
		}, peer.CodeUnknownRoom, "no room \"attic\"", websocket.StatusPolicyViolation, ""},
		{"message before join", false, func(c *client) {
			c.send(&peer.Message{Type: peer.Ping})
		}, peer.CodeOutOfOrder, "the first message must be join", websocket.StatusPolicyViolation, ""},
		{"malformed bytes", true, func(c *client) {
			c.sendRaw(websocket.MessageBinary, []byte("\x93not msgpack at all"))
		}, peer.CodeBadMessage, "expected a map", websocket.StatusPolicyViolation, ""},
		{"truncated", true, func(c *client) {
			c.sendRaw(websocket.MessageBinary, ping.Buf[:len(ping.Buf)-3])
		}, peer.CodeBadMessage, "truncated message", websocket.StatusPolicyViolation, ""},
		{"unknown version", true, func(c *client) {
			c.sendRaw(websocket.MessageBinary, withVersion(2))
		}, peer.CodeBadMessage, "unknown version 2", websocket.StatusPolicyViolation, ""},
		{"unknown type", true, func(c *client) {
			c.sendRaw(websocket.MessageBinary, unknownType)
		}, peer.CodeBadMessage, "unknown message type \"zing\"", websocket.StatusPolicyViolation, ""},
		{"missing field", true, func(c *client) {
			c.sendRaw(websocket.MessageBinary, withType)
		}, peer.CodeBadMessage, "pong: missing field \"re\"", websocket.StatusPolicyViolation, ""},
		{"text message", true, func(c *client) {
			c.sendRaw(websocket.MessageText, []byte(`{"v":1,"t":"ping"}`))
		}, peer.CodeBadMessage, "text message", websocket.StatusPolicyViolation, ""},
		{"oversized", true, func(c *client) {
			c.sendRaw(websocket.MessageBinary, make([]byte, peer.MaxMessageBytes+1))
		}, "", "read limited at", websocket.StatusMessageTooBig, "refused: message larger than"},
		{"no join", false, func(c *client) {}, "", "timeout: no join within 1s", websocket.StatusPolicyViolation, "dropped: timeout: no join"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bystander.t = t
			c := dial(t, h.url)
			if tt.joined {
				c.join(testRoom, testToken, "attacker")
				bystander.expect(peer.PeerJoined)
			}
			tt.send(c)
			if tt.code != "" {
				e := c.expectError(tt.code)
				if !strings.Contains(e.Text, tt.wantText) {
					t.Errorf("error text %q, want %q", e.Text, tt.wantText)
				}
			}
			status, reason := c.closedWith()
			if status != tt.status || !strings.Contains(reason, tt.wantText) {
				t.Errorf("closed with %v %q, want %v with %q", status, reason, tt.status, tt.wantText)
			}
			if tt.joined {
				if l := bystander.expect(peer.PeerLeft); l.ID != c.id {
					t.Errorf("bystander told %s left, want %s", l.ID, c.id)
				}
			}
			bystander.alive()
			logWant := "refused: " + tt.code
			if tt.code == "" {
				logWant = tt.logged
			}
			if !strings.Contains(h.log.String(), logWant) {
				t.Errorf("refusal not logged; log:\n%s", h.log)
			}
		})
	}
}

// TestHubSoftRefusals: messages the hub can read but refuses are answered
// with an error and the connection stays.
func TestHubSoftRefusals(t *testing.T) {
	h := startHub(t, nil)
	a := dial(t, h.url)
	a.join(testRoom, testToken, "a")
	a.send(&peer.Message{Type: peer.Join, Room: testRoom, Token: testToken})
	a.expectError(peer.CodeOutOfOrder)
	a.send(&peer.Message{Type: peer.Signal, To: "p-nobody", Data: []byte("x")})
	a.expectError(peer.CodeUnknownPeer)
	a.send(&peer.Message{Type: peer.Frame, To: a.id, Data: []byte("x")})
	a.expectError(peer.CodeUnknownPeer)
	a.send(&peer.Message{Type: peer.Signal, From: "p-forged", To: a.id, Data: []byte("x")})
	a.expectError(peer.CodeForbidden)
	a.send(&peer.Message{Type: peer.Match, Re: 1, ID: "p", Model: peer.Digest{1}})
	a.expectError(peer.CodeForbidden)

	// A seq that does not increase: a replay.
	a.mu.Lock()
	b, _ := peer.Encode(&peer.Message{Type: peer.Ping, Seq: 3})
	a.conn.Write(context.Background(), websocket.MessageBinary, b)
	a.mu.Unlock()
	if e := a.expectError(peer.CodeOutOfOrder); e.Re != 3 || !strings.Contains(e.Text, "seq 3 is not above") {
		t.Fatalf("replayed seq: %+v", e)
	}
	a.alive()
}

// TestHubRoomIsolation: a peer of one room can neither reach nor see the
// peers of another.
func TestHubRoomIsolation(t *testing.T) {
	h := startHub(t, nil)
	a, b, a2 := dial(t, h.url), dial(t, h.url), dial(t, h.url)
	a.join(testRoom, testToken, "a")
	if w := b.join("other", "other-token-5678", "b"); len(w.Peers) != 0 {
		t.Fatalf("room other lists %+v", w.Peers)
	}
	a2.join(testRoom, testToken, "a2")
	a.expect(peer.PeerJoined)
	model := peer.Digest(sha256.Sum256([]byte("model")))
	b.send(&peer.Message{Type: peer.Announce, Models: []peer.ModelCost{{Model: model, Cuts: []float32{1, 2}}}})

	for _, typ := range []peer.Type{peer.Signal, peer.Frame} {
		a.send(&peer.Message{Type: typ, To: b.id, Data: []byte("across rooms")})
		if e := a.expectError(peer.CodeUnknownPeer); !strings.Contains(e.Text, "no such peer in room lab") {
			t.Fatalf("%s across rooms: %+v", typ, e)
		}
	}
	a.send(&peer.Message{Type: peer.OfferRequest, Model: model})
	a.expectError(peer.CodeNoPeer)
	b.quiet(300 * time.Millisecond)
	a2.quiet(10 * time.Millisecond) // nothing of room other leaked into lab
	if !strings.Contains(h.log.String(), "refused: unknown-peer") {
		t.Errorf("refusal not logged")
	}
}

// TestHubRelay: signals and frames arrive byte for byte, from the sender's id.
func TestHubRelay(t *testing.T) {
	h := startHub(t, nil)
	a, b := dial(t, h.url), dial(t, h.url)
	a.join(testRoom, testToken, "a")
	b.join(testRoom, testToken, "b")
	a.expect(peer.PeerJoined)
	frame := make([]byte, peer.MaxFrameBytes)
	rand.Read(frame)
	sdp := []byte("v=0\r\no=- 46117317 2 IN IP4 127.0.0.1\r\n")
	a.send(&peer.Message{Type: peer.Signal, To: b.id, Data: sdp})
	a.send(&peer.Message{Type: peer.Frame, To: b.id, Data: frame})
	b.send(&peer.Message{Type: peer.Frame, To: a.id, Data: []byte{}})
	if m := b.expect(peer.Signal); m.From != a.id || !bytes.Equal(m.Data, sdp) {
		t.Fatalf("signal from %s: %q", m.From, m.Data)
	}
	if m := b.expect(peer.Frame); m.From != a.id || !bytes.Equal(m.Data, frame) {
		t.Fatalf("frame from %s: %d bytes, equal %v", m.From, len(m.Data), bytes.Equal(m.Data, frame))
	}
	if m := a.expect(peer.Frame); m.From != b.id || len(m.Data) != 0 {
		t.Fatalf("empty frame from %s: %d bytes", m.From, len(m.Data))
	}
}

// TestHubPrivacy: two peers agree a key through the hub's signal relay and
// send a tensor in sealed frames; every byte the hub sends is recorded and
// none of the tensor's 16-byte windows appears in it.
func TestHubPrivacy(t *testing.T) {
	var mu sync.Mutex
	var relayed [][]byte
	h := startHub(t, func(*HubConfig) {})
	h.tap = func(to string, msg []byte) {
		mu.Lock()
		relayed = append(relayed, bytes.Clone(msg))
		mu.Unlock()
	}
	a, b := dial(t, h.url), dial(t, h.url)
	a.join(testRoom, testToken, "a")
	b.join(testRoom, testToken, "b")
	a.expect(peer.PeerJoined)

	// Key agreement: each sends its X25519 public key in a signal.
	ka, _ := peer.NewKey(rand.Reader)
	kb, _ := peer.NewKey(rand.Reader)
	a.send(&peer.Message{Type: peer.Signal, To: b.id, Data: ka.PublicKey().Bytes()})
	b.send(&peer.Message{Type: peer.Signal, To: a.id, Data: kb.PublicKey().Bytes()})
	chA, err := peer.NewChannel(ka, a.expect(peer.Signal).Data)
	if err != nil {
		t.Fatal(err)
	}
	chB, err := peer.NewChannel(kb, b.expect(peer.Signal).Data)
	if err != nil {
		t.Fatal(err)
	}

	// An activation of 64x32x32 float32, sent in frames of 96 KiB.
	tensor := make([]byte, 4*64*32*32)
	for i := 0; i < len(tensor); i += 4 {
		binary.LittleEndian.PutUint32(tensor[i:], math.Float32bits(float32(math.Sin(float64(i)))))
	}
	aad := []byte(a.id + ">" + b.id)
	const chunk = 96 << 10
	for off := 0; off < len(tensor); off += chunk {
		sealed, err := chA.Seal(tensor[off:min(off+chunk, len(tensor))], aad)
		if err != nil {
			t.Fatal(err)
		}
		a.send(&peer.Message{Type: peer.Frame, To: b.id, Data: sealed})
	}
	var got []byte
	for len(got) < len(tensor) {
		m := b.expect(peer.Frame)
		plain, err := chB.Open(m.Data, aad)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, plain...)
	}
	if !bytes.Equal(got, tensor) {
		t.Fatal("the tensor did not arrive intact")
	}

	windows := make(map[[16]byte]bool, len(tensor))
	for i := 0; i+16 <= len(tensor); i++ {
		windows[[16]byte(tensor[i:i+16])] = true
	}
	leaks := func(bufs [][]byte) int {
		n := 0
		for _, buf := range bufs {
			for i := 0; i+16 <= len(buf); i++ {
				if windows[[16]byte(buf[i:i+16])] {
					n++
				}
			}
		}
		return n
	}
	// The detector finds plaintext where there is some.
	if leaks([][]byte{append([]byte("header"), tensor[1000:1100]...)}) == 0 {
		t.Fatal("the leak detector misses plaintext")
	}
	mu.Lock()
	defer mu.Unlock()
	total := 0
	for _, r := range relayed {
		total += len(r)
	}
	if total < len(tensor) {
		t.Fatalf("the tap recorded %d bytes, less than the tensor's %d", total, len(tensor))
	}
	if n := leaks(relayed); n != 0 {
		t.Fatalf("%d windows of the tensor's plaintext in the %d bytes the hub sent", n, total)
	}
}

// TestHubMatch: an offer goes to the least-loaded holder of the model, and
// the work matched counts against the holder until it announces again.
func TestHubMatch(t *testing.T) {
	h := startHub(t, nil)
	model := peer.Digest(sha256.Sum256([]byte("mobilenet")))
	other := peer.Digest(sha256.Sum256([]byte("blazeface")))
	req := dial(t, h.url)
	req.join(testRoom, testToken, "phone")
	holders := map[string]*client{}
	for _, p := range []struct {
		name   string
		models []peer.ModelCost
		load   float32
	}{
		{"busy", []peer.ModelCost{{Model: model, Cuts: []float32{1, 2, 10}}}, 5},
		{"idle", []peer.ModelCost{{Model: other, Cuts: []float32{1}}, {Model: model, Cuts: []float32{1, 2, 10}}}, 1},
		{"idler-without-it", []peer.ModelCost{{Model: other, Cuts: []float32{1}}}, 0},
		{"short-profile", []peer.ModelCost{{Model: model, Cuts: []float32{3}}}, 0},
	} {
		c := dial(t, h.url)
		c.join(testRoom, testToken, p.name)
		c.send(&peer.Message{Type: peer.Announce, Models: p.models, Load: p.load})
		holders[p.name] = c
	}
	announced := map[string]bool{}
	for len(announced) < 4 {
		if m := req.next(); m.Type == peer.Announce {
			announced[m.From] = true
		}
	}
	match := func(cut int) string {
		t.Helper()
		req.send(&peer.Message{Type: peer.OfferRequest, Model: model, Cut: cut})
		m := req.expect(peer.Match)
		if m.Model != model || m.Re != req.seq {
			t.Fatalf("match %+v", m)
		}
		return m.ID
	}
	if id := match(1); id != holders["idle"].id {
		t.Fatalf("matched %s, want the idle holder %s", id, holders["idle"].id)
	}
	// idle now carries 1 + (10-2) = 9 > busy's 5.
	if id := match(1); id != holders["busy"].id {
		t.Fatalf("second match %s, want busy %s", id, holders["busy"].id)
	}
	// A cut at 0 fits the one-cut profile, whose load is 0.
	if id := match(0); id != holders["short-profile"].id {
		t.Fatalf("cut 0 matched %s, want short-profile", id)
	}
	req.send(&peer.Message{Type: peer.OfferRequest, Model: peer.Digest{9}})
	req.expectError(peer.CodeNoPeer)
	// A newcomer hears the welcome, then each holder's announce.
	late := dial(t, h.url)
	late.join(testRoom, testToken, "late")
	for range 4 {
		late.expect(peer.Announce)
	}
}

// TestHubHeartbeat: a peer that stops answering is dropped within the bound
// and the room is told.
func TestHubHeartbeat(t *testing.T) {
	h := startHub(t, func(c *HubConfig) { c.PingInterval, c.Timeout = 50*time.Millisecond, 300*time.Millisecond })
	a, b := dial(t, h.url), dial(t, h.url)
	a.join(testRoom, testToken, "a")
	b.join(testRoom, testToken, "b")
	a.expect(peer.PeerJoined)
	// Pongs alone keep a peer: a stays well past the timeout.
	time.Sleep(600 * time.Millisecond)
	start := time.Now()
	b.mute.Store(true)
	l := a.expect(peer.PeerLeft)
	if took := time.Since(start); l.ID != b.id || !strings.Contains(l.Reason, "timeout") || took > time.Second {
		t.Fatalf("peer-left %+v after %v", l, took)
	}
	b.closedWith()
	a.alive()
}

// TestHubSlowPeer: a peer that stops reading pushes back on its senders
// (busy) rather than buffering without bound, and is dropped once a message
// takes too long to send; the sender and the room are not held up.
func TestHubSlowPeer(t *testing.T) {
	h := startHub(t, func(c *HubConfig) {
		c.QueueBytes, c.WriteTimeout, c.Timeout = 256<<10, 500*time.Millisecond, 30*time.Second
	})
	a := dial(t, h.url)
	a.join(testRoom, testToken, "a")
	// b joins with a raw connection that is never read.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, h.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	j, _ := peer.Encode(&peer.Message{Type: peer.Join, Seq: 1, Room: testRoom, Token: testToken})
	conn.Write(ctx, websocket.MessageBinary, j)
	joined := a.expect(peer.PeerJoined)
	frame := make([]byte, 64<<10)
	deadline := time.Now().Add(20 * time.Second)
	busy := 0
	for sent := 0; ; sent++ {
		if time.Now().After(deadline) {
			t.Fatalf("slow peer still there after %d frames", sent)
		}
		a.send(&peer.Message{Type: peer.Frame, To: joined.Peer.ID, Data: frame})
		select {
		case m := <-a.in:
			switch {
			case m.Type == peer.Error && m.Code == peer.CodeBusy:
				busy++
				time.Sleep(10 * time.Millisecond)
			case m.Type == peer.Error && m.Code == peer.CodeUnknownPeer:
				// a frame sent after the drop and before the news
			case m.Type == peer.PeerLeft:
				if !strings.Contains(m.Reason, "slow") || busy == 0 {
					t.Fatalf("dropped for %q after %d busy refusals", m.Reason, busy)
				}
				a.send(&peer.Message{Type: peer.Ping})
				for m := a.next(); m.Type != peer.Pong; m = a.next() {
					if m.Code != peer.CodeUnknownPeer && m.Code != peer.CodeBusy {
						t.Fatalf("unexpected %s %+v", m.Type, m)
					}
				}
				return
			default:
				t.Fatalf("unexpected %s %+v", m.Type, m)
			}
		default:
		}
	}
}

// TestHubAnnounceRate: announces faster than the interval are refused, so
// one peer cannot flood its room through the hub.
func TestHubAnnounceRate(t *testing.T) {
	h := startHub(t, func(c *HubConfig) { c.AnnounceInterval = time.Hour })
	a, b := dial(t, h.url), dial(t, h.url)
	a.join(testRoom, testToken, "a")
	b.join(testRoom, testToken, "b")
	a.expect(peer.PeerJoined)
	b.send(&peer.Message{Type: peer.Announce, Load: 1})
	b.send(&peer.Message{Type: peer.Announce, Load: 2})
	b.expectError(peer.CodeTooOften)
	if m := a.expect(peer.Announce); m.Load != 1 {
		t.Fatalf("announce %+v", m)
	}
	a.quiet(100 * time.Millisecond)
}

// TestHubRestart: when the hub shuts down its peers see the close, and they
// can join the hub that replaces it.
func TestHubRestart(t *testing.T) {
	h1 := startHub(t, nil)
	a := dial(t, h1.url)
	a.join(testRoom, testToken, "a")
	done := make(chan struct{})
	go func() { h1.Close(); close(done) }()
	if code, reason := a.closedWith(); code != websocket.StatusGoingAway || !strings.Contains(reason, "shutting down") {
		t.Fatalf("closed with %v %q", code, reason)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Hub.Close did not return")
	}
	// The closed hub turns newcomers away.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, resp, err := websocket.Dial(ctx, h1.url, nil); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial to a closed hub: %v", err)
	}
	h1.srv.Close()

	h2 := startHub(t, nil)
	a = dial(t, h2.url)
	if w := a.join(testRoom, testToken, "a"); len(w.Peers) != 0 {
		t.Fatalf("new hub lists %+v", w.Peers)
	}
	a.alive()
}

func TestParseHubRoom(t *testing.T) {
	for _, tt := range []struct {
		in, name, token, err string
	}{
		{"lab=0123456789", "lab", "0123456789", ""},
		{"lab=a=b=c=d=e", "lab", "a=b=c=d=e", ""},
		{"lab", "", "", "want NAME=TOKEN"},
		{"=0123456789", "", "", "room name"},
		{"lab=short", "", "", "token of 5 bytes"},
	} {
		name, token, err := ParseHubRoom(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || name != tt.name || token != tt.token {
			t.Errorf("%q: %q %q %v", tt.in, name, token, err)
		}
	}
}

// BenchmarkHubOffers holds peers in one room, half of them holding the
// model, and has requesters ask for a peer, then send the matched peer a
// 16 KiB frame; it reports offers per second and fails if a frame is lost.
// go test ./host -run '^$' -bench HubOffers -benchtime 2000x
func BenchmarkHubOffers(b *testing.B) {
	const peers, requesters = 1000, 32
	t := &testing.T{}
	h := startHubB(b)
	model := peer.Digest(sha256.Sum256([]byte("bench")))
	cs := make([]*client, peers)
	for i := range cs {
		cs[i] = dialB(b, t, h.url)
		cs[i].send(&peer.Message{Type: peer.Join, Room: testRoom, Token: testToken})
	}
	got := make(chan string, 1<<16)
	for i, c := range cs {
		w := <-c.in
		if w == nil || w.Type != peer.Welcome {
			b.Fatalf("peer %d: no welcome: %v", i, <-c.closed)
		}
		c.id = w.ID
		if i >= requesters && i%2 == 0 {
			c.send(&peer.Message{Type: peer.Announce, Models: []peer.ModelCost{{Model: model, Cuts: []float32{1, 5}}}})
		}
		if i < requesters {
			continue // their replies are read by their own loop below
		}
		go func(c *client) {
			for m := range c.in {
				if m.Type == peer.Frame {
					got <- c.id
				}
			}
		}(c)
	}
	time.Sleep(time.Second) // let the announces settle
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	var lost atomic.Int64
	frame := make([]byte, 16<<10)
	for r := range requesters {
		wg.Add(1)
		go func(c *client, n int) {
			defer wg.Done()
			for range n {
				c.send(&peer.Message{Type: peer.OfferRequest, Model: model})
				m := <-c.in
				for m != nil && m.Type != peer.Match {
					m = <-c.in
				}
				if m == nil {
					lost.Add(1)
					return
				}
				c.send(&peer.Message{Type: peer.Frame, To: m.ID, Data: frame})
			}
		}(cs[r], b.N/requesters)
	}
	wg.Wait()
	want := requesters * (b.N / requesters)
	for i := 0; i < want; i++ {
		select {
		case <-got:
		case <-time.After(5 * time.Second):
			b.Fatalf("%d of %d frames lost", want-i, want)
		}
	}
	b.ReportMetric(float64(want)/time.Since(start).Seconds(), "offers/s")
	if lost.Load() != 0 {
		b.Fatalf("%d requesters lost their connection", lost.Load())
	}
}

func startHubB(b *testing.B) *testHub {
	// The peers' clients share the machine with the hub, and a room of 1000
	// filling up sends each of them about 1500 messages: the heartbeat is
	// slowed so that the clients' lag while the room fills is not taken for
	// death (TestHubHeartbeat holds the heartbeat to its bound).
	h, err := NewHub(HubConfig{Rooms: map[string]string{testRoom: testToken}, AnnounceInterval: time.Millisecond,
		PingInterval: 5 * time.Second, Timeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/hub", h)
	srv := httptest.NewServer(mux)
	b.Cleanup(func() { h.Close(); srv.Close() })
	return &testHub{Hub: h, srv: srv, url: "ws" + strings.TrimPrefix(srv.URL, "http") + "/hub"}
}

func dialB(b *testing.B, t *testing.T, url string) *client {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	conn.SetReadLimit(peer.MaxMessageBytes)
	c := &client{t: t, conn: conn, in: make(chan *peer.Message, 4096), closed: make(chan error, 1)}
	go c.read()
	b.Cleanup(func() { conn.CloseNow() })
	return c
}

// TestHubNamesItsTransport checks that a plain request to /hub is told the
// hub speaks WebSocket (clients choose between this hub and the Worker's
// HTTP one by asking), not refused as a broken upgrade.
func TestHubNamesItsTransport(t *testing.T) {
	h := startHub(t, nil)
	res, err := http.Get("http" + strings.TrimPrefix(h.url, "ws"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUpgradeRequired || res.Header.Get("Edgenn-Hub-Transport") != "websocket" {
		t.Errorf("GET /hub: %s, Edgenn-Hub-Transport %q; want 426 and websocket", res.Status, res.Header.Get("Edgenn-Hub-Transport"))
	}
}
