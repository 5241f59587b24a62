//go:build !js

package main

// Tests of the HTTP hub of the Workers build (cfhub.go). TestCFWorkerHubStore
// runs its handler natively over a failing store; TestCFWorkerHub runs the
// real build (make worker) in workerd with local D1 (wrangler dev --local)
// when EDGENN_WORKERS=1, with Go HTTP clients as the peers.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgenn/edgenn/engine/peer"
	"github.com/edgenn/edgenn/internal/msgp"
)

// cfHubPeer is one peer of the HTTP hub: a Go HTTP client.
type cfHubPeer struct {
	t          testing.TB
	url        string
	id, secret string
	seq, after uint64
	client     *http.Client
	mu         sync.Mutex
	got        []*peer.Message // everything polled, in order
	room, name string
	welcome    *peer.Message
	pollWait   string
}

// cfHubAnswer is one request's outcome: the status, the refusal's code and
// the body.
type cfHubAnswer struct {
	status int
	code   string
	body   []byte
	header http.Header
}

func (a cfHubAnswer) String() string {
	return fmt.Sprintf("%d %s %q", a.status, a.code, cfShort(a.body))
}

func cfHubDo(t testing.TB, client *http.Client, method, url string, body []byte, header ...string) cfHubAnswer {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", cfHubContentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return cfHubAnswer{res.StatusCode, res.Header.Get(cfHubErrorHeader), b, res.Header}
}

func cfEncode(t testing.TB, m *peer.Message) []byte {
	t.Helper()
	b, err := peer.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cfUnframe reads a poll's body.
func cfUnframe(b []byte) ([]*peer.Message, error) {
	r := msgp.NewReader(b)
	n, err := r.ArrayLen(1 << 16)
	if err != nil {
		return nil, err
	}
	var msgs []*peer.Message
	for range n {
		mb, err := r.ReadBytes(msgp.KindBin, peer.MaxMessageBytes)
		if err != nil {
			return nil, err
		}
		m, err := peer.Decode(slices.Clone(mb))
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, m)
	}
	if r.Remaining() != 0 {
		return nil, fmt.Errorf("%d bytes after the messages", r.Remaining())
	}
	return msgs, nil
}

// cfJoin joins a room, or fails the test.
func cfJoin(t testing.TB, url, room, token, name string) *cfHubPeer {
	t.Helper()
	p := &cfHubPeer{t: t, url: url, room: room, name: name, client: &http.Client{Timeout: time.Minute}, pollWait: "5"}
	a := cfHubDo(t, p.client, "POST", url+"/hub/join", cfEncode(t, &peer.Message{Type: peer.Join, Seq: 1, Room: room, Token: token, Name: name,
		Caps: peer.Caps{Workers: 2, Native: true, GFLOPS: 1.5}}))
	if a.status != 200 {
		t.Fatalf("%s joins %s: %s", name, room, a)
	}
	p.seq = 1
	msgs, err := cfUnframe(a.body)
	if err != nil || len(msgs) != 1 || msgs[0].Type != peer.Welcome || msgs[0].Seq != 1 || msgs[0].Room != room {
		t.Fatalf("%s joins %s: %v %v, want one welcome of seq 1", name, room, msgs, err)
	}
	p.welcome, p.after = msgs[0], 1
	p.id, p.secret = a.header.Get(cfHubPeerHeader), a.header.Get(cfHubSecretHeader)
	if p.id != msgs[0].ID || len(p.secret) != 64 {
		t.Fatalf("%s joins %s: peer header %q for id %q, secret %q", name, room, p.id, msgs[0].ID, p.secret)
	}
	return p
}

func (p *cfHubPeer) auth() []string {
	return []string{cfHubPeerHeader, p.id, cfHubSecretHeader, p.secret}
}

// send sends m with the peer's next seq.
func (p *cfHubPeer) send(m *peer.Message) cfHubAnswer {
	p.t.Helper()
	p.seq++
	m.Seq = p.seq
	return cfHubDo(p.t, p.client, "POST", p.url+"/hub/send", cfEncode(p.t, m), p.auth()...)
}

// poll polls once and checks that the seqs continue the last one by one.
func (p *cfHubPeer) poll() ([]*peer.Message, cfHubAnswer) {
	p.t.Helper()
	a := cfHubDo(p.t, p.client, "GET", fmt.Sprintf("%s/hub/poll?after=%d&wait=%s", p.url, p.after, p.pollWait), nil, p.auth()...)
	if a.status != 200 {
		return nil, a
	}
	msgs, err := cfUnframe(a.body)
	if err != nil {
		p.t.Errorf("%s polls: %v", p.name, err)
		return nil, a
	}
	for _, m := range msgs {
		if m.Seq != p.after+1 {
			p.t.Errorf("%s polls: seq %d after %d: a message lost or repeated", p.name, m.Seq, p.after)
		}
		p.after = m.Seq
	}
	p.mu.Lock()
	p.got = append(p.got, msgs...)
	p.mu.Unlock()
	return msgs, a
}

// await polls until a message that ok accepts comes, and returns it.
func (p *cfHubPeer) await(what string, ok func(*peer.Message) bool) *peer.Message {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		msgs, a := p.poll()
		if a.status != 200 {
			p.t.Fatalf("%s polls for %s: %s", p.name, what, a)
		}
		for _, m := range msgs {
			if ok(m) {
				return m
			}
		}
	}
	p.t.Fatalf("%s: no %s within 20 s; got %v", p.name, what, p.got)
	return nil
}

// cfHubWorker starts wrangler dev over build/worker with a fresh local D1
// (the migrations applied), a peer that neither sends nor polls dropped
// after timeout, polls that wait 3 s at most, and the hub's rooms alpha
// (token given) and beta (its sha256 given).
func cfHubWorker(t *testing.T, timeout string) *cfWorker {
	t.Helper()
	beta := sha256.Sum256([]byte(cfHubBetaToken))
	return cfHubWorkerAt(t, t.TempDir(), timeout, "3s", "alpha="+cfHubAlphaToken+",beta=sha256:"+hex.EncodeToString(beta[:]))
}

// cfHubWorkerAt is cfHubWorker with the Worker's local state (D1) in the
// folder state, the longest poll pollWait ("" for the Worker's default) and
// rooms as EDGENN_HUB_ROOMS.
func cfHubWorkerAt(t *testing.T, state, timeout, pollWait, rooms string) *cfWorker {
	t.Helper()
	cfD1Exec(t, state, "migrations", "apply", cfHubDBBindingName)
	vars := []string{"--var", "EDGENN_HUB_ROOMS:" + rooms, "--var", "EDGENN_HUB_TIMEOUT:" + timeout}
	if pollWait != "" {
		vars = append(vars, "--var", "EDGENN_HUB_POLL_WAIT:"+pollWait)
	}
	return startWrangler(t, state, "/hub", func(res *http.Response) bool {
		return res.StatusCode == 200 && res.Header.Get(cfHubTransportHeader) == "http"
	}, vars...)
}

// cfD1Exec runs `wrangler d1 ARGS --local --persist-to state` from
// cfworker/ and returns its standard output, failing the test on an error.
// A running Worker's own writes can hold the database for a moment, which
// wrangler reports as SQLITE_BUSY: the command is then run again.
func cfD1Exec(t *testing.T, state string, args ...string) []byte {
	t.Helper()
	for try := 1; ; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, filepath.Join("node_modules", ".bin", "wrangler"), append(append([]string{"d1"}, args...), "--local", "--persist-to", state)...)
		cmd.Dir = cfProjDir
		cmd.Env = cfEnv()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		cancel()
		if err == nil {
			return out
		}
		if try < 10 && bytes.Contains(out, []byte("SQLITE_BUSY")) {
			t.Logf("wrangler d1 %s: the database is busy; again", args[0])
			time.Sleep(100 * time.Millisecond)
			continue
		}
		t.Fatalf("wrangler d1 %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.Bytes())
	}
}

const (
	cfHubDBBindingName = "DB"
	cfHubAlphaToken    = "alpha-token-1"
	cfHubBetaToken     = "beta-token-22"
)

// cfFailingDB is a store that fails every batch, or waits for its deadline.
type cfFailingDB struct {
	hang  bool
	calls int
}

func (d *cfFailingDB) Batch(ctx context.Context, stmts ...cfSQL) ([]cfResult, error) {
	d.calls++
	if d.hang {
		<-ctx.Done()
		return nil, fmt.Errorf("no answer within the deadline: %w", ctx.Err())
	}
	return nil, errors.New("D1_ERROR: simulated failure")
}

// TestCFWorkerHubStore runs the HTTP hub natively over a store that fails
// or times out: every request gets a 503 that says so, and what needs no
// store (refusing bad input, a wrong token, an unknown room) is refused as
// without one.
func TestCFWorkerHubStore(t *testing.T) {
	rooms, err := parseCFHubRooms("alpha=" + cfHubAlphaToken + ", beta=sha256:" + strings.Repeat("ab", 32))
	if err != nil || len(rooms) != 2 {
		t.Fatalf("parseCFHubRooms: %v %v", rooms, err)
	}
	for _, bad := range []string{"alpha", "=tokentoken", "a=short", "a=sha256:12", "a=12345678,a=12345678"} {
		if _, err := parseCFHubRooms(bad); err == nil {
			t.Errorf("parseCFHubRooms(%q): no error", bad)
		}
	}
	for _, hang := range []bool{false, true} {
		db := &cfFailingDB{hang: hang}
		h, err := newCFHub(cfHubConfig{Rooms: rooms, DBTimeout: 50 * time.Millisecond}, db)
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(h)
		join := cfEncode(t, &peer.Message{Type: peer.Join, Seq: 1, Room: "alpha", Token: cfHubAlphaToken})
		auth := []string{cfHubPeerHeader, "p000000000000", cfHubSecretHeader, strings.Repeat("0", 64)}
		for _, c := range []struct {
			method, path string
			body         []byte
			status       int
			code, text   string
		}{
			{"POST", "/hub/join", join, 503, "", "hub storage unavailable"},
			{"POST", "/hub/send", cfEncode(t, &peer.Message{Type: peer.Ping, Seq: 2}), 503, "", "hub storage unavailable"},
			{"GET", "/hub/poll?after=1", nil, 503, "", "hub storage unavailable"},
			{"POST", "/hub/join", cfEncode(t, &peer.Message{Type: peer.Join, Seq: 1, Room: "alpha", Token: "wrong-token"}), 403, peer.CodeBadToken, "wrong token"},
			{"POST", "/hub/join", cfEncode(t, &peer.Message{Type: peer.Join, Seq: 1, Room: "gamma", Token: cfHubAlphaToken}), 404, peer.CodeUnknownRoom, "no room"},
			{"POST", "/hub/join", []byte{0x81, 0xa1}, 400, peer.CodeBadMessage, "truncated"},
			{"GET", "/hub/join", nil, 405, "", "method"},
		} {
			var hdr []string
			if c.path != "/hub/join" {
				hdr = auth
			}
			a := cfHubDo(t, ts.Client(), c.method, ts.URL+c.path, c.body, hdr...)
			if a.status != c.status || a.code != c.code || !strings.Contains(string(a.body), c.text) {
				t.Errorf("hang %v: %s %s: %s, want %d %q and %q", hang, c.method, c.path, a, c.status, c.code, c.text)
			}
		}
		ts.Close()
	}
}

// TestCFWorkerHub runs the HTTP hub in workerd over local D1: two peers
// join a room and exchange announce, offer-request and match, signals and
// frames; the refusals of the native hub; a peer of another room cannot
// reach them; a burst of messages from two senders to one peer, every
// request a separate Worker instance, all arrive in order, once; peers that
// leave or fall silent are dropped and their room told.
func TestCFWorkerHub(t *testing.T) {
	cfNeedWorker(t)
	w := cfHubWorker(t, "6s")
	url := w.url

	t.Run("refusals", func(t *testing.T) {
		c := &http.Client{Timeout: time.Minute}
		join := func(room, token string) []byte {
			return cfEncode(t, &peer.Message{Type: peer.Join, Seq: 1, Room: room, Token: token})
		}
		big := make([]byte, peer.MaxMessageBytes+1)
		var v2 msgp.Writer // a message of version 2
		v2.MapLen(3)
		v2.Str("v")
		v2.Int(2)
		v2.Str("t")
		v2.Str("join")
		v2.Str("seq")
		v2.Uint(1)
		for _, r := range []struct {
			what   string
			body   []byte
			status int
			code   string
			text   string
		}{
			{"wrong token", join("alpha", "not-the-token"), 403, peer.CodeBadToken, `wrong token for room "alpha"`},
			{"a hashed room's wrong token", join("beta", cfHubAlphaToken), 403, peer.CodeBadToken, `wrong token for room "beta"`},
			{"unknown room", join("gamma", cfHubAlphaToken), 404, peer.CodeUnknownRoom, `no room "gamma" on this hub`},
			{"malformed", []byte("not msgpack at all"), 400, peer.CodeBadMessage, "peer: "},
			{"oversized", big, 413, peer.CodeBadMessage, fmt.Sprintf("message larger than %d bytes", peer.MaxMessageBytes)},
			{"unknown version", v2.Buf, 400, peer.CodeBadMessage, "unknown version 2"},
			{"not a join", cfEncode(t, &peer.Message{Type: peer.Ping, Seq: 1}), 409, peer.CodeOutOfOrder, "the first message must be join, not ping"},
		} {
			a := cfHubDo(t, c, "POST", url+"/hub/join", r.body)
			if a.status != r.status || a.code != r.code || !strings.HasPrefix(string(a.body), r.code+": ") || !strings.Contains(string(a.body), r.text) {
				t.Errorf("join, %s: %s, want %d %s %q", r.what, a, r.status, r.code, r.text)
			}
		}
		a := cfHubDo(t, c, "POST", url+"/hub/send", cfEncode(t, &peer.Message{Type: peer.Ping, Seq: 2}))
		if a.status != 401 {
			t.Errorf("send without a peer: %s, want 401", a)
		}
		p := cfJoin(t, url, "alpha", cfHubAlphaToken, "x")
		p.secret = strings.Repeat("0", 64)
		if a := p.send(&peer.Message{Type: peer.Ping}); a.status != 403 || a.code != peer.CodeForbidden {
			t.Errorf("send with a wrong secret: %s, want 403 forbidden", a)
		}
		if _, a := p.poll(); a.status != 403 || a.code != peer.CodeForbidden {
			t.Errorf("poll with a wrong secret: %s, want 403 forbidden", a)
		}
	})

	a := cfJoin(t, url, "alpha", cfHubAlphaToken, "a")
	b := cfJoin(t, url, "alpha", cfHubAlphaToken, "b")
	c := cfJoin(t, url, "beta", cfHubBetaToken, "c")
	if !slices.ContainsFunc(b.welcome.Peers, func(i peer.PeerInfo) bool { return i.ID == a.id && i.Name == "a" && i.Caps.Native }) {
		t.Errorf("b's welcome lists %v, not a (%s)", b.welcome.Peers, a.id)
	}
	if slices.ContainsFunc(b.welcome.Peers, func(i peer.PeerInfo) bool { return i.ID == c.id }) ||
		slices.ContainsFunc(c.welcome.Peers, func(i peer.PeerInfo) bool { return i.ID == a.id || i.ID == b.id }) {
		t.Errorf("a welcome lists a peer of another room: b's %v, c's %v", b.welcome.Peers, c.welcome.Peers)
	}
	a.await("peer-joined b", func(m *peer.Message) bool { return m.Type == peer.PeerJoined && m.Peer.ID == b.id })

	model := peer.Digest(sha256.Sum256([]byte("a model")))
	t.Run("exchange", func(t *testing.T) {
		announce := func() cfHubAnswer {
			return a.send(&peer.Message{Type: peer.Announce, Models: []peer.ModelCost{{Model: model, Cuts: []float32{1, 3, 10}}}, Load: 0.5})
		}
		t0 := time.Now()
		if r := announce(); r.status != 204 {
			t.Fatalf("a announces: %s", r)
		}
		// Again at once: refused, if the two came within the interval.
		if r := announce(); time.Since(t0) < 200*time.Millisecond && (r.status != 429 || r.code != peer.CodeTooOften) {
			t.Errorf("a announces again at once: %s, want 429 too-often", r)
		} else if r.status != 204 && r.status != 429 {
			t.Errorf("a announces again: %s", r)
		}
		got := b.await("a's announce", func(m *peer.Message) bool { return m.Type == peer.Announce && m.From == a.id })
		if len(got.Models) != 1 || got.Models[0].Model != model || !slices.Equal(got.Models[0].Cuts, []float32{1, 3, 10}) || got.Load != 0.5 {
			t.Errorf("b got a's announce as %+v", got)
		}
		if r := b.send(&peer.Message{Type: peer.OfferRequest, Model: model, Cut: 1}); r.status != 204 {
			t.Fatalf("b asks for an offer: %s", r)
		}
		match := b.await("a match", func(m *peer.Message) bool { return m.Type == peer.Match })
		if match.ID != a.id || match.Re != b.seq || match.Model != model {
			t.Errorf("b's match: %+v, want a (%s), re %d", match, a.id, b.seq)
		}
		for _, r := range []struct {
			what string
			m    *peer.Message
			code string
		}{
			{"an offer for a model nobody holds", &peer.Message{Type: peer.OfferRequest, Model: peer.Digest{1}}, peer.CodeNoPeer},
			{"an offer for a cut past the model's", &peer.Message{Type: peer.OfferRequest, Model: model, Cut: 3}, peer.CodeNoPeer},
			{"a signal to itself", &peer.Message{Type: peer.Signal, To: b.id, Data: []byte("x")}, peer.CodeUnknownPeer},
			{"a signal to nobody", &peer.Message{Type: peer.Signal, To: "p000000000000", Data: []byte("x")}, peer.CodeUnknownPeer},
			{"a welcome", &peer.Message{Type: peer.Welcome, ID: "x", Room: "alpha", Peers: []peer.PeerInfo{}}, peer.CodeForbidden},
			{"a join", &peer.Message{Type: peer.Join, Room: "alpha", Token: cfHubAlphaToken}, peer.CodeOutOfOrder},
		} {
			if got := b.send(r.m); got.code != r.code || got.status != cfCodeStatus[r.code] {
				t.Errorf("b sends %s: %s, want %d %s", r.what, got, cfCodeStatus[r.code], r.code)
			}
		}
		b.seq-- // the last seq again
		if r := b.send(&peer.Message{Type: peer.Ping}); r.status != 409 || r.code != peer.CodeOutOfOrder {
			t.Errorf("b sends a seq again: %s, want 409 out-of-order", r)
		}
		if r := b.send(&peer.Message{Type: peer.Signal, To: a.id, Data: []byte(`{"t":"key"}`)}); r.status != 204 {
			t.Fatalf("b signals a: %s", r)
		}
		sig := a.await("b's signal", func(m *peer.Message) bool { return m.Type == peer.Signal })
		if sig.From != b.id || string(sig.Data) != `{"t":"key"}` {
			t.Errorf("a got b's signal as %+v", sig)
		}
		frame := make([]byte, peer.MaxFrameBytes)
		for i := range frame {
			frame[i] = byte(i * 7)
		}
		if r := a.send(&peer.Message{Type: peer.Frame, To: b.id, Data: frame}); r.status != 204 {
			t.Fatalf("a sends b a frame of %d bytes: %s", len(frame), r)
		}
		f := b.await("a's frame", func(m *peer.Message) bool { return m.Type == peer.Frame })
		if f.From != a.id || !bytes.Equal(f.Data, frame) {
			t.Errorf("b got a's frame of %d bytes from %s, want the %d sent by %s", len(f.Data), f.From, len(frame), a.id)
		}
		if r := a.send(&peer.Message{Type: peer.Ping}); r.status != 204 {
			t.Fatalf("a pings: %s", r)
		}
		if p := a.await("a pong", func(m *peer.Message) bool { return m.Type == peer.Pong }); p.Re != a.seq {
			t.Errorf("a's pong answers %d, want %d", p.Re, a.seq)
		}
	})

	t.Run("other room", func(t *testing.T) {
		for _, m := range []*peer.Message{
			{Type: peer.Signal, To: a.id, Data: []byte("x")},
			{Type: peer.Frame, To: b.id, Data: []byte("x")},
		} {
			if r := c.send(m); r.status != 404 || r.code != peer.CodeUnknownPeer {
				t.Errorf("c (room beta) sends a %s to a peer of alpha: %s, want 404 unknown-peer", m.Type, r)
			}
		}
		if r := c.send(&peer.Message{Type: peer.OfferRequest, Model: model}); r.code != peer.CodeNoPeer {
			t.Errorf("c (room beta) asks for alpha's model: %s, want no-peer", r)
		}
		if r := c.send(&peer.Message{Type: peer.Announce, Models: []peer.ModelCost{{Model: model, Cuts: []float32{1}}}}); r.status != 204 {
			t.Errorf("c announces: %s", r)
		}
		if r := b.send(&peer.Message{Type: peer.Ping}); r.status != 204 {
			t.Errorf("b pings: %s", r)
		}
		b.await("a pong", func(m *peer.Message) bool { return m.Type == peer.Pong })
		a.poll()
		for _, p := range []*cfHubPeer{a, b} {
			for _, m := range p.got {
				if m.From == c.id || m.Peer.ID == c.id || m.ID == c.id {
					t.Errorf("%s got %s from c, a peer of another room", p.name, m.Type)
				}
			}
		}
	})

	t.Run("burst", func(t *testing.T) {
		n := 60
		if v, err := strconv.Atoi(os.Getenv("EDGENN_HUB_BURST")); err == nil && v > 0 {
			n = v
		}
		d := cfJoin(t, url, "alpha", cfHubAlphaToken, "d")
		senders := []*cfHubPeer{a, d}
		start := time.Now()
		var wg sync.WaitGroup
		for _, s := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range n {
					data := []byte(fmt.Sprintf("%s %d", s.id, i))
					for {
						r := s.send(&peer.Message{Type: peer.Frame, To: b.id, Data: data})
						if r.status == 204 {
							break
						}
						if r.status != 429 {
							t.Errorf("%s sends frame %d: %s", s.name, i, r)
							return
						}
						time.Sleep(100 * time.Millisecond)
					}
				}
			}()
		}
		next := map[string]int{a.id: 0, d.id: 0}
		deadline := time.Now().Add(2 * time.Minute)
		for next[a.id]+next[d.id] < 2*n && time.Now().Before(deadline) && !t.Failed() {
			msgs, r := b.poll()
			if r.status != 200 {
				t.Fatalf("b polls: %s", r)
			}
			for _, m := range msgs {
				if m.Type != peer.Frame {
					continue
				}
				if want := fmt.Sprintf("%s %d", m.From, next[m.From]); string(m.Data) != want {
					t.Fatalf("b got %q, want %q: lost, repeated or out of order", m.Data, want)
				}
				next[m.From]++
			}
		}
		wg.Wait()
		if next[a.id] != n || next[d.id] != n {
			t.Fatalf("b got %d of a's and %d of d's %d frames", next[a.id], next[d.id], n)
		}
		el := time.Since(start)
		t.Logf("cfworker: hub burst: %d frames from 2 senders to one peer in %v (%.0f messages/s), none lost or repeated", 2*n, el.Round(time.Millisecond), float64(2*n)/el.Seconds())
	})

	t.Run("leave and expiry", func(t *testing.T) {
		e := cfJoin(t, url, "alpha", cfHubAlphaToken, "e") // never polls
		if r := b.send(&peer.Message{Type: peer.Leave, Reason: "done"}); r.status != 204 {
			t.Fatalf("b leaves: %s", r)
		}
		left := a.await("b's peer-left", func(m *peer.Message) bool { return m.Type == peer.PeerLeft && m.ID == b.id })
		if left.Reason != "left: done" {
			t.Errorf("b's peer-left says %q, want %q", left.Reason, "left: done")
		}
		if _, r := b.poll(); r.status != 410 {
			t.Errorf("b polls after leaving: %s, want 410", r)
		}
		gone := a.await("e's peer-left", func(m *peer.Message) bool { return m.Type == peer.PeerLeft && m.ID == e.id })
		if !strings.HasPrefix(gone.Reason, peer.CodeTimeout+": ") {
			t.Errorf("e's peer-left says %q, want a timeout", gone.Reason)
		}
		if r := e.send(&peer.Message{Type: peer.Ping}); r.status != 410 || r.code != peer.CodeTimeout {
			t.Errorf("e sends after its expiry: %s, want 410 timeout", r)
		}
	})
}

// TestCFWorkerBenchHub (make workers-bench) measures the HTTP hub in workerd
// over local D1 on loopback, with the Worker's default timeout and poll
// wait: conc peers each send n small frames, one request each, to one
// receiver that long-polls; the latency of a send and the messages per
// second delivered end to end. Then the latency of one message to a peer
// idle in a long poll (cfBenchHubLatency).
func TestCFWorkerBenchHub(t *testing.T) {
	if os.Getenv("EDGENN_WORKERS_BENCH") != "1" {
		t.Skip("EDGENN_WORKERS_BENCH=1 runs the benchmark (make workers-bench)")
	}
	cfNeedWorker(t)
	w := cfHubWorkerAt(t, t.TempDir(), "30s", "", "alpha="+cfHubAlphaToken)
	n := 100
	if v, err := strconv.Atoi(os.Getenv("EDGENN_WORKERS_BENCH_REQUESTS")); err == nil && v > 0 {
		n = v
	}
	for _, conc := range []int{1, 4} {
		recv := cfJoin(t, w.url, "alpha", cfHubAlphaToken, "recv")
		var senders []*cfHubPeer
		for i := range conc {
			senders = append(senders, cfJoin(t, w.url, "alpha", cfHubAlphaToken, fmt.Sprintf("s%d", i)))
		}
		var mu sync.Mutex
		var lat []time.Duration
		start := time.Now()
		var wg sync.WaitGroup
		for _, s := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < n; {
					t0 := time.Now()
					r := s.send(&peer.Message{Type: peer.Frame, To: recv.id, Data: make([]byte, 256)})
					switch r.status {
					case 204:
						mu.Lock()
						lat = append(lat, time.Since(t0))
						mu.Unlock()
						i++
					case 429:
						time.Sleep(50 * time.Millisecond)
					default:
						t.Errorf("send: %s", r)
						return
					}
				}
			}()
		}
		got := 0
		for got < conc*n && time.Since(start) < 3*time.Minute && !t.Failed() {
			msgs, r := recv.poll()
			if r.status != 200 {
				t.Fatalf("poll: %s", r)
			}
			for _, m := range msgs {
				if m.Type == peer.Frame {
					got++
				}
			}
		}
		elapsed := time.Since(start)
		wg.Wait()
		if got != conc*n {
			t.Fatalf("%d of %d frames arrived", got, conc*n)
		}
		slices.Sort(lat)
		ms := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) / 1e6 }
		t.Logf("cfworker-bench: hub  %d senders x %d frames of 256 B to one poller: %6.1f messages/s end to end; send p50 %6.1f ms  p95 %6.1f ms",
			conc, n, float64(got)/elapsed.Seconds(), ms(0.5), ms(0.95))
		for _, p := range append(senders, recv) {
			p.send(&peer.Message{Type: peer.Leave})
		}
	}
	cfBenchHubLatency(t, w.url, 40)
}

// cfBenchHubLatency measures the latency of n messages, one at a time, to a
// peer that waits in long polls as an idle browser does (wait=10): from the
// start of the send to the poll's answer. Each goes after a pause of 0 to 4
// s (the same pauses every run), so that the messages find the hub's poll
// at every stage of its backoff.
func cfBenchHubLatency(t *testing.T, url string, n int) {
	recv := cfJoin(t, url, "alpha", cfHubAlphaToken, "idle")
	recv.pollWait = "10"
	send := cfJoin(t, url, "alpha", cfHubAlphaToken, "sender")
	got := make(chan string, 16)
	go func() {
		defer close(got)
		for {
			msgs, r := recv.poll()
			if r.status != 200 {
				t.Errorf("the idle peer polls: %s", r)
				return
			}
			for _, m := range msgs {
				if m.Type == peer.Frame {
					got <- string(m.Data)
					if string(m.Data) == "end" {
						return
					}
				}
			}
		}
	}()
	pause := rand.New(rand.NewPCG(8, 4))
	var lat []time.Duration
	for i := range n {
		time.Sleep(time.Duration(pause.Int64N(int64(4 * time.Second))))
		t0 := time.Now()
		if r := send.send(&peer.Message{Type: peer.Frame, To: recv.id, Data: []byte(strconv.Itoa(i))}); r.status != 204 {
			t.Fatalf("send: %s", r)
		}
		if m, ok := <-got; !ok || m != strconv.Itoa(i) {
			t.Fatalf("the idle peer got %q (%v), want %d", m, ok, i)
		}
		lat = append(lat, time.Since(t0))
	}
	send.send(&peer.Message{Type: peer.Frame, To: recv.id, Data: []byte("end")})
	for range got {
	}
	slices.Sort(lat)
	ms := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) / 1e6 }
	t.Logf("cfworker-bench: hub  one message at a time to an idle poller (wait=10, pauses 0-4 s), %d messages: latency p50 %6.1f ms  p95 %6.1f ms  max %6.1f ms",
		n, ms(0.5), ms(0.95), ms(1))
}
