//go:build !js || cfworker

package main

// The peer hub of the Cloudflare Workers build (DESIGN.md, "Past one
// machine"): the protocol of hub.go over plain HTTP, its state in D1. A Go
// Worker cannot hold a WebSocket and keeps nothing between requests (each is
// a fresh Go instance), so a peer joins with one request, sends each message
// with one more, and long-polls for what the hub queued for it:
//
//	POST /hub/join        body: a join message. 200: the welcome (framed as
//	                      below); headers Edgenn-Hub-Peer (its id) and
//	                      Edgenn-Hub-Secret (for its later requests)
//	POST /hub/send        body: announce, signal, frame, offer-request, ping,
//	                      pong, leave or error. 204: the hub acted on it
//	GET  /hub/poll?after=N[&wait=S]
//	                      200: the messages queued for the peer after its
//	                      seq N, in order (waiting up to S seconds, at most
//	                      PollWait, for one); those up to N are dropped
//	GET  /hub             200 and Edgenn-Hub-Transport: http, for a client to
//	                      pick the transport
//
// send and poll carry Edgenn-Hub-Peer and Edgenn-Hub-Secret; the hub keeps
// the secret's sha256 and compares in constant time. A poll's body is a
// msgpack array of bin, each one encoded peer.Message, whose seqs number
// what the hub sent the peer from 1 (the welcome), one by one: a gap is a
// message lost (it outlived MessageTTL unread).
//
// The messages and their semantics are hub.go's: the same decoding and
// limits (peer.Decode), the same refusals with the same codes, relays only
// within a room, matches to the least-loaded holder. What differs is how:
// a refusal is the request's HTTP error (the code in Edgenn-Hub-Error and
// at the head of the body) rather than an error message on the socket, and
// everything else the hub sends (a match, a pong, what other peers send)
// comes through poll. A peer that neither sends nor polls for Timeout is
// dropped and its room told, as a silent socket is; a peer whose queue of
// the hub's own messages overflows is dropped as slow, and a relay to a
// peer with half its queue waiting is refused as busy.
//
// hub.go is built for native hosts only, so what of it this file needs
// (checking a room's token, the peer ids) is repeated here, briefly.
//
// Every write is one D1 batch, which D1 runs as one transaction: a request
// refused, or failing on D1's side, leaves nothing half-written. A peer's
// requests are ordered by their seq, and a batch is made conditional on its
// own request (the op column): a request sent twice (a client retrying after
// a lost answer) is refused as out-of-order the second time, not applied
// twice. D1 failing or timing out is a 503 saying so; a timeout does not say
// whether the batch was applied, which a retry with the same seq tells.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgenn/edgenn/engine/peer"
	"github.com/edgenn/edgenn/internal/msgp"
)

// cfHubDB is the hub's store, where the Worker and a test differ: D1 on the
// Worker (cfhub_d1.go).
type cfHubDB interface {
	// Batch runs the statements in order as one transaction, all or none,
	// and returns each one's result; ctx bounds the wait.
	Batch(ctx context.Context, stmts ...cfSQL) ([]cfResult, error)
}

// cfSQL is one statement with its positional (?) arguments: string, int64,
// float64, []byte or nil.
type cfSQL struct {
	query string
	args  []any
}

func cfQ(query string, args ...any) cfSQL { return cfSQL{query, args} }

// cfResult is one statement's outcome: its rows, by column name (int64,
// float64, string, []byte or nil), and the rows it changed.
type cfResult struct {
	Rows    []map[string]any
	Changes int64
}

// The headers of the HTTP transport.
const (
	cfHubPeerHeader      = "Edgenn-Hub-Peer"
	cfHubSecretHeader    = "Edgenn-Hub-Secret"
	cfHubErrorHeader     = "Edgenn-Hub-Error"
	cfHubTransportHeader = "Edgenn-Hub-Transport"
	cfHubContentType     = "application/msgpack"
)

// cfHubConfig configures a cfHub; zero fields take their defaults.
type cfHubConfig struct {
	// Rooms maps each room's name to its token's sha256.
	Rooms map[string][sha256.Size]byte
	// Timeout is how long a peer may neither send nor poll before it is
	// dropped (default 30s); it must be longer than PollWait.
	Timeout time.Duration
	// PollWait bounds how long a poll waits for a message (default 15s).
	PollWait time.Duration
	// QueueBytes bounds what waits for one peer, as in HubConfig (default
	// 4 MiB); MessageTTL is how long a message waits unread (default 60s).
	QueueBytes int
	MessageTTL time.Duration
	// AnnounceInterval is the shortest time between two announces of one
	// peer (default 200ms).
	AnnounceInterval time.Duration
	// DBTimeout bounds each batch (default 5s).
	DBTimeout time.Duration
	Log       *log.Logger
}

// cfHub serves /hub and /hub/* over db.
type cfHub struct {
	cfg cfHubConfig
	db  cfHubDB
	now func() time.Time
}

func newCFHub(cfg cfHubConfig, db cfHubDB) (*cfHub, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.PollWait <= 0 {
		cfg.PollWait = 15 * time.Second
	}
	if cfg.Timeout <= cfg.PollWait {
		return nil, fmt.Errorf("hub: timeout %v must be longer than the poll wait %v", cfg.Timeout, cfg.PollWait)
	}
	if cfg.QueueBytes <= 0 {
		cfg.QueueBytes = 4 << 20
	}
	if cfg.MessageTTL <= 0 {
		cfg.MessageTTL = time.Minute
	}
	if cfg.AnnounceInterval <= 0 {
		cfg.AnnounceInterval = 200 * time.Millisecond
	}
	if cfg.DBTimeout <= 0 {
		cfg.DBTimeout = 5 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = log.New(io.Discard, "", 0)
	}
	return &cfHub{cfg: cfg, db: db, now: time.Now}, nil
}

// parseCFHubRooms reads EDGENN_HUB_ROOMS: NAME=TOKEN or NAME=sha256:HEX
// (the token's sha256, so that the Worker's configuration need not hold the
// token), separated by commas. The limits are hub.go's checkRoom.
func parseCFHubRooms(s string) (map[string][sha256.Size]byte, error) {
	rooms := map[string][sha256.Size]byte{}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, token, ok := strings.Cut(item, "=")
		switch {
		case !ok:
			return nil, fmt.Errorf("EDGENN_HUB_ROOMS: %q: want NAME=TOKEN or NAME=sha256:HEX", name)
		case name == "" || len(name) > peer.MaxNameLen:
			return nil, fmt.Errorf("EDGENN_HUB_ROOMS: room name %q: want 1 to %d bytes", name, peer.MaxNameLen)
		}
		if _, dup := rooms[name]; dup {
			return nil, fmt.Errorf("EDGENN_HUB_ROOMS: room %q given twice", name)
		}
		if h, ok := strings.CutPrefix(token, "sha256:"); ok {
			b, err := hex.DecodeString(h)
			if err != nil || len(b) != sha256.Size {
				return nil, fmt.Errorf("EDGENN_HUB_ROOMS: room %q: sha256: want 64 hex digits", name)
			}
			rooms[name] = [sha256.Size]byte(b)
			continue
		}
		if len(token) < 8 || len(token) > peer.MaxTokenLen {
			return nil, fmt.Errorf("EDGENN_HUB_ROOMS: room %q: token of %d bytes, want 8 to %d", name, len(token), peer.MaxTokenLen)
		}
		rooms[name] = sha256.Sum256([]byte(token))
	}
	return rooms, nil
}

// cfHubError is a refusal: the HTTP status, the protocol's code ("" for a
// store failure) and why.
type cfHubError struct {
	status     int
	code, text string
}

func (e *cfHubError) Error() string {
	if e.code == "" {
		return e.text
	}
	return e.code + ": " + e.text
}

func cfRefusal(status int, code, text string) error { return &cfHubError{status, code, text} }

// cfCodeStatus is the HTTP status of each refusal's code.
var cfCodeStatus = map[string]int{
	peer.CodeBadMessage:  http.StatusBadRequest,
	peer.CodeOutOfOrder:  http.StatusConflict,
	peer.CodeBadToken:    http.StatusForbidden,
	peer.CodeUnknownRoom: http.StatusNotFound,
	peer.CodeRoomFull:    http.StatusServiceUnavailable,
	peer.CodeUnknownPeer: http.StatusNotFound,
	peer.CodeNoPeer:      http.StatusNotFound,
	peer.CodeForbidden:   http.StatusForbidden,
	peer.CodeBusy:        http.StatusTooManyRequests,
	peer.CodeTooOften:    http.StatusTooManyRequests,
	peer.CodeSlow:        http.StatusGone,
	peer.CodeTimeout:     http.StatusGone,
}

func cfRefuse(code, text string) error { return cfRefusal(cfCodeStatus[code], code, text) }

// storeError is D1 failing: 503, and the batch was not applied (or, after
// a timeout, perhaps was: see the file comment).
func cfStoreError(err error) error {
	return cfRefusal(http.StatusServiceUnavailable, "", "hub storage unavailable, nothing was changed: "+err.Error())
}

func (h *cfHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	var err error
	switch r.URL.Path {
	case "/hub":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			err = h.methodNotAllowed(w, "GET, HEAD")
			break
		}
		w.Header().Set(cfHubTransportHeader, "http")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "edgenn peer hub over HTTP: POST /hub/join, POST /hub/send, GET /hub/poll?after=N\n")
		return
	case "/hub/join":
		if r.Method != http.MethodPost {
			err = h.methodNotAllowed(w, "POST")
			break
		}
		err = h.serveJoin(w, r)
	case "/hub/send":
		if r.Method != http.MethodPost {
			err = h.methodNotAllowed(w, "POST")
			break
		}
		err = h.serveSend(w, r)
	case "/hub/poll":
		if r.Method != http.MethodGet {
			err = h.methodNotAllowed(w, "GET")
			break
		}
		err = h.servePoll(w, r)
	default:
		err = cfRefusal(http.StatusNotFound, "", "no such hub endpoint: "+r.URL.Path)
	}
	if err == nil {
		return
	}
	var he *cfHubError
	if !errors.As(err, &he) {
		he = &cfHubError{http.StatusInternalServerError, "", err.Error()}
	}
	text := he.text
	if len(text) > peer.MaxTextLen {
		text = text[:peer.MaxTextLen]
	}
	who := r.Header.Get(cfHubPeerHeader)
	if len(who) > peer.MaxNameLen {
		who = who[:peer.MaxNameLen]
	}
	h.cfg.Log.Printf("hub: %s %s (peer %q) refused: %d %s", r.Method, r.URL.Path, who, he.status, he.Error())
	if he.code != "" {
		w.Header().Set(cfHubErrorHeader, he.code)
	}
	switch he.status {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(he.status)
	io.WriteString(w, (&cfHubError{code: he.code, text: text}).Error()+"\n")
}

func (h *cfHub) methodNotAllowed(w http.ResponseWriter, allow string) error {
	w.Header().Set("Allow", allow)
	return cfRefusal(http.StatusMethodNotAllowed, "", "method not allowed; use "+allow)
}

// readMessage reads and decodes the request's one message.
func cfReadMessage(r *http.Request) (*peer.Message, error) {
	if r.ContentLength > peer.MaxMessageBytes {
		return nil, cfRefusal(http.StatusRequestEntityTooLarge, peer.CodeBadMessage, fmt.Sprintf("message larger than %d bytes", peer.MaxMessageBytes))
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, peer.MaxMessageBytes+1))
	if err != nil {
		return nil, cfRefuse(peer.CodeBadMessage, "reading the message: "+err.Error())
	}
	if len(b) > peer.MaxMessageBytes {
		return nil, cfRefusal(http.StatusRequestEntityTooLarge, peer.CodeBadMessage, fmt.Sprintf("message larger than %d bytes", peer.MaxMessageBytes))
	}
	m, err := peer.Decode(b)
	if err != nil {
		return nil, cfRefuse(peer.CodeBadMessage, err.Error())
	}
	if m.From != "" {
		return nil, cfRefuse(peer.CodeForbidden, "from is set by the hub, not by a peer")
	}
	return m, nil
}

func (h *cfHub) batch(stmts ...cfSQL) ([]cfResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.DBTimeout)
	defer cancel()
	res, err := h.db.Batch(ctx, stmts...)
	if err == nil && len(res) != len(stmts) {
		err = fmt.Errorf("%d results for %d statements", len(res), len(stmts))
	}
	if err != nil {
		return nil, cfStoreError(err)
	}
	return res, nil
}

func (h *cfHub) ms(t time.Time) int64 { return t.UnixMilli() }

// cfAlive is the SQL condition of a peer row that has not expired; its
// argument is now.
const cfAlive = "expires >= ?"

// cfQueued is the SQL of the bytes waiting for the hub_peers row in scope;
// its argument is now.
const cfQueued = "(SELECT COALESCE(SUM(q.cost), 0) FROM hub_queue q WHERE q.peer = hub_peers.id AND q.expires >= ?)"

// deliver returns the statements that queue the message m (its seq set by
// poll) to every peer that the condition where (on hub_peers, with args)
// selects, alive, numbering it in each one's queue. A relay skips a
// recipient with half its queue waiting (busy); the hub's own message drops
// a recipient whose queue it would overflow (slow). where must not depend on
// out_seq or hub_queue, which these statements change in turn.
func (h *cfHub) deliver(now int64, m *peer.Message, relay bool, where string, args ...any) ([]cfSQL, error) {
	m.Seq = 1
	body, err := peer.Encode(m)
	if err != nil { // the hub built a message it cannot send: a bug
		return nil, fmt.Errorf("hub: cannot send %s: %w", m.Type, err)
	}
	cost := int64(len(body) + cfMsgCost)
	limit := int64(h.cfg.QueueBytes)
	if relay {
		limit /= 2
	}
	cond := "(" + where + ") AND " + cfAlive + " AND " + cfQueued + " + ? <= ?"
	condArgs := append(slices.Clone(args), now, now, cost, limit)
	var stmts []cfSQL
	if !relay {
		why := fmt.Sprintf("%s: more than %d bytes waiting to be sent", peer.CodeSlow, h.cfg.QueueBytes)
		stmts = append(stmts, cfQ("UPDATE hub_peers SET expires = 0, dropped = ? WHERE ("+where+") AND "+cfAlive+" AND "+cfQueued+" + ? > ?",
			append(append([]any{why}, args...), now, now, cost, limit)...))
	}
	return append(stmts,
		cfQ("UPDATE hub_peers SET out_seq = out_seq + 1 WHERE "+cond, condArgs...),
		cfQ("INSERT INTO hub_queue (peer, seq, body, cost, expires) SELECT id, out_seq, ?, ?, ? FROM hub_peers WHERE "+cond,
			append([]any{body, cost, now + h.cfg.MessageTTL.Milliseconds()}, condArgs...)...)), nil
}

// cfMsgCost is hub.go's msgCost: what a queued message counts beyond its
// bytes, so that QueueBytes also bounds the number of messages.
const cfMsgCost = 64

// serveJoin admits a peer to its room in one batch: its row (unless the
// room is full), peer-joined to the room, the room's announces to it, and
// the room as the batch saw it, for the welcome.
func (h *cfHub) serveJoin(w http.ResponseWriter, r *http.Request) error {
	m, err := cfReadMessage(r)
	if err != nil {
		return err
	}
	if m.Type != peer.Join {
		return cfRefuse(peer.CodeOutOfOrder, "the first message must be join, not "+m.Type.String())
	}
	token, ok := h.cfg.Rooms[m.Room]
	switch {
	case !ok:
		return cfRefuse(peer.CodeUnknownRoom, fmt.Sprintf("no room %q on this hub", m.Room))
	case subtle.ConstantTimeCompare(cfHash(m.Token), token[:]) != 1:
		return cfRefuse(peer.CodeBadToken, fmt.Sprintf("wrong token for room %q", m.Room))
	}
	if err := h.sweep(); err != nil {
		return err
	}
	now := h.ms(h.now())
	var id [6]byte
	var secret [32]byte
	rand.Read(id[:])
	rand.Read(secret[:])
	pid := "p" + hex.EncodeToString(id[:])
	secretHex := hex.EncodeToString(secret[:])
	info := peer.PeerInfo{ID: pid, Name: m.Name, Caps: m.Caps}
	joined := "EXISTS (SELECT 1 FROM hub_peers n WHERE n.id = ?)"
	fan, err := h.deliver(now, &peer.Message{Type: peer.PeerJoined, Peer: info}, false,
		"room = ? AND id != ? AND "+joined, m.Room, pid, pid)
	if err != nil {
		return err
	}
	native := int64(0)
	if m.Caps.Native {
		native = 1
	}
	stmts := []cfSQL{cfQ(`INSERT INTO hub_peers (id, room, secret, name, workers, native, gflops, in_seq, op, out_seq, expires)
		SELECT ?, ?, ?, ?, ?, ?, ?, ?, '', 1, ? WHERE (SELECT count(*) FROM hub_peers WHERE room = ? AND `+cfAlive+`) < ?`,
		pid, m.Room, cfHash(secretHex), m.Name, int64(m.Caps.Workers), native, float64(m.Caps.GFLOPS), int64(m.Seq),
		now+h.cfg.Timeout.Milliseconds(), m.Room, now, int64(peer.MaxPeers))}
	stmts = append(stmts, fan...)
	stmts = append(stmts,
		// The room's announces, numbered after the welcome (seq 1).
		cfQ(`INSERT INTO hub_queue (peer, seq, body, cost, expires)
			SELECT ?, 1 + row_number() OVER (ORDER BY id), announce, length(announce) + ?, ? FROM hub_peers
			WHERE room = ? AND id != ? AND `+cfAlive+` AND announce IS NOT NULL AND `+joined,
			pid, int64(cfMsgCost), now+h.cfg.MessageTTL.Milliseconds(), m.Room, pid, now, pid),
		cfQ("UPDATE hub_peers SET out_seq = 1 + (SELECT count(*) FROM hub_queue WHERE peer = ?) WHERE id = ?", pid, pid),
		cfQ("SELECT id, name, workers, native, gflops, load FROM hub_peers WHERE room = ? AND id != ? AND "+cfAlive+" AND "+joined+" ORDER BY id",
			m.Room, pid, now, pid))
	res, err := h.batch(stmts...)
	if err != nil {
		return err
	}
	if res[0].Changes != 1 {
		return cfRefuse(peer.CodeRoomFull, fmt.Sprintf("room %q holds %d peers, the most it can", m.Room, peer.MaxPeers))
	}
	welcome := &peer.Message{Type: peer.Welcome, Seq: 1, ID: pid, Room: m.Room, Peers: []peer.PeerInfo{}}
	for _, row := range res[len(res)-1].Rows {
		welcome.Peers = append(welcome.Peers, peer.PeerInfo{ID: cfStr(row["id"]), Name: cfStr(row["name"]),
			Caps: peer.Caps{Workers: int(cfNum(row["workers"])), Native: cfNum(row["native"]) != 0, GFLOPS: float32(cfNum(row["gflops"]))},
			Load: float32(cfNum(row["load"]))})
	}
	body, err := peer.Encode(welcome)
	if err != nil {
		return err
	}
	h.cfg.Log.Printf("hub: peer %s (room %s) joined as %q", pid, m.Room, m.Name)
	w.Header().Set(cfHubPeerHeader, pid)
	w.Header().Set(cfHubSecretHeader, secretHex)
	w.Header().Set("Content-Type", cfHubContentType)
	w.Write(cfFrame([][]byte{body}))
	return nil
}

func cfHash(s string) []byte {
	b := sha256.Sum256([]byte(s))
	return b[:]
}

// str and num read a D1 column.
func cfStr(v any) string {
	s, _ := v.(string)
	return s
}

func cfNum(v any) float64 {
	switch v := v.(type) {
	case int64:
		return float64(v)
	case float64:
		return v
	}
	return 0
}

// frameMessages is a poll's body: a msgpack array of bin, one per message.
func cfFrame(msgs [][]byte) []byte {
	n := 5
	for _, b := range msgs {
		n += 5 + len(b)
	}
	w := msgp.Writer{Buf: make([]byte, 0, n)}
	w.ArrayLen(len(msgs))
	for _, b := range msgs {
		w.Bin(b)
	}
	return w.Buf
}

// cfPeerRow is what authenticating a request reads of its peer.
type cfPeerRow struct {
	id, room       string
	inSeq, outSeq  uint64
	expires        int64
	dropped        string
	lastAnnounceMS int64
}

// auth reads the request's peer and checks its secret.
func (h *cfHub) auth(r *http.Request, now int64) (*cfPeerRow, error) {
	id, secret := r.Header.Get(cfHubPeerHeader), r.Header.Get(cfHubSecretHeader)
	if id == "" || secret == "" {
		return nil, cfRefusal(http.StatusUnauthorized, peer.CodeForbidden, "send "+cfHubPeerHeader+" and "+cfHubSecretHeader+" as /hub/join gave them")
	}
	if len(id) > peer.MaxNameLen {
		return nil, cfRefuse(peer.CodeBadMessage, fmt.Sprintf("peer id longer than %d bytes", peer.MaxNameLen))
	}
	res, err := h.batch(cfQ("SELECT id, room, secret, in_seq, out_seq, expires, dropped, announced FROM hub_peers WHERE id = ?", id))
	if err != nil {
		return nil, err
	}
	if len(res[0].Rows) == 0 {
		return nil, cfRefuse(peer.CodeTimeout, fmt.Sprintf("peer %q is not on this hub: it left, was dropped, or did not join; join again", id))
	}
	row := res[0].Rows[0]
	stored, _ := row["secret"].([]byte)
	if subtle.ConstantTimeCompare(cfHash(secret), stored) != 1 {
		return nil, cfRefuse(peer.CodeForbidden, fmt.Sprintf("wrong secret for peer %q", id))
	}
	p := &cfPeerRow{id: id, room: cfStr(row["room"]), inSeq: uint64(cfNum(row["in_seq"])), outSeq: uint64(cfNum(row["out_seq"])),
		expires: int64(cfNum(row["expires"])), dropped: cfStr(row["dropped"]), lastAnnounceMS: int64(cfNum(row["announced"]))}
	if p.expires < now {
		return nil, h.goneError(p)
	}
	return p, nil
}

func (h *cfHub) goneError(p *cfPeerRow) error {
	if p.dropped != "" {
		code, text, _ := strings.Cut(p.dropped, ": ")
		return cfRefuse(code, fmt.Sprintf("peer %s was dropped: %s; join again", p.id, text))
	}
	return cfRefuse(peer.CodeTimeout, fmt.Sprintf("peer %s sent nothing and did not poll for %v, and was dropped; join again", p.id, h.cfg.Timeout))
}

// serveSend acts on one message of a joined peer. The batch's first
// statement raises the peer's in_seq to the message's and marks the peer
// with this request's op; the rest is conditional on that mark, so that it
// happens once, only for a message in order.
func (h *cfHub) serveSend(w http.ResponseWriter, r *http.Request) error {
	start := h.now()
	now := h.ms(start)
	p, err := h.auth(r, now)
	if err != nil {
		return err
	}
	m, err := cfReadMessage(r)
	if err != nil {
		return err
	}
	if m.Seq <= p.inSeq {
		return cfRefuse(peer.CodeOutOfOrder, fmt.Sprintf("seq %d is not above the last seq %d", m.Seq, p.inSeq))
	}
	var opb [12]byte
	rand.Read(opb[:])
	op := hex.EncodeToString(opb[:])
	bump := cfQ("UPDATE hub_peers SET in_seq = ?, op = ?, expires = ? WHERE id = ? AND in_seq < ? AND "+cfAlive,
		int64(m.Seq), op, now+h.cfg.Timeout.Milliseconds(), p.id, int64(m.Seq), now)
	mine := "EXISTS (SELECT 1 FROM hub_peers s WHERE s.id = ? AND s.op = ?)"
	// run runs the batch and checks that the bump applied.
	run := func(stmts ...cfSQL) ([]cfResult, error) {
		res, err := h.batch(append([]cfSQL{bump}, stmts...)...)
		if err != nil {
			return nil, err
		}
		if res[0].Changes != 1 {
			return nil, h.raced(p.id, m.Seq, now)
		}
		return res[1:], nil
	}
	switch m.Type {
	case peer.Join:
		_, err := run()
		return cfFirstErr(err, cfRefuse(peer.CodeOutOfOrder, "already joined room "+p.room))
	case peer.Announce:
		if time.Duration(now-p.lastAnnounceMS)*time.Millisecond < h.cfg.AnnounceInterval {
			if _, err := run(); err != nil {
				return err
			}
			return cfRefuse(peer.CodeTooOften, fmt.Sprintf("announce again after %v", h.cfg.AnnounceInterval))
		}
		out := &peer.Message{Type: peer.Announce, From: p.id, Models: m.Models, Load: m.Load}
		out.Seq = 1
		body, err := peer.Encode(out)
		if err != nil {
			return err
		}
		// announced = now marks that this request's announce took: the
		// interval holds against a concurrent one.
		took := "EXISTS (SELECT 1 FROM hub_peers s WHERE s.id = ? AND s.op = ? AND s.announced = ?)"
		stmts := []cfSQL{
			cfQ("UPDATE hub_peers SET announce = ?, load = ?, announced = ? WHERE id = ? AND op = ? AND announced <= ?",
				body, float64(m.Load), now, p.id, op, now-h.cfg.AnnounceInterval.Milliseconds()),
			cfQ("DELETE FROM hub_models WHERE peer = ? AND "+took, p.id, p.id, op, now),
		}
		for _, mc := range m.Models {
			cuts := make([]byte, 4*len(mc.Cuts))
			for i, c := range mc.Cuts {
				binary.LittleEndian.PutUint32(cuts[4*i:], math.Float32bits(c))
			}
			stmts = append(stmts, cfQ("INSERT INTO hub_models (peer, room, model, cuts) SELECT ?, ?, ?, ? WHERE "+took,
				p.id, p.room, mc.Model[:], cuts, p.id, op, now))
		}
		fan, err := h.deliver(now, out, false, "room = ? AND id != ? AND "+took, p.room, p.id, p.id, op, now)
		if err != nil {
			return err
		}
		res, err := run(append(stmts, fan...)...)
		if err != nil {
			return err
		}
		if res[0].Changes != 1 {
			return cfRefuse(peer.CodeTooOften, fmt.Sprintf("announce again after %v", h.cfg.AnnounceInterval))
		}
	case peer.Signal, peer.Frame:
		if m.To == p.id {
			_, err := run()
			return cfFirstErr(err, cfRefuse(peer.CodeUnknownPeer, fmt.Sprintf("%s to %q: no such peer in room %s", m.Type, m.To, p.room)))
		}
		stmts, err := h.deliver(now, &peer.Message{Type: m.Type, From: p.id, Data: m.Data}, true,
			"id = ? AND room = ? AND "+mine, m.To, p.room, p.id, op)
		if err != nil {
			return err
		}
		stmts = append(stmts, cfQ("SELECT count(*) AS n FROM hub_peers WHERE id = ? AND room = ? AND "+cfAlive, m.To, p.room, now))
		res, err := run(stmts...)
		if err != nil {
			return err
		}
		if res[1].Changes != 1 {
			if len(res[2].Rows) == 0 || cfNum(res[2].Rows[0]["n"]) == 0 {
				return cfRefuse(peer.CodeUnknownPeer, fmt.Sprintf("%s to %q: no such peer in room %s", m.Type, m.To, p.room))
			}
			return cfRefuse(peer.CodeBusy, fmt.Sprintf("%s to %s: its queue is half full; send again later", m.Type, m.To))
		}
	case peer.OfferRequest:
		if err := h.offer(p, m, now, mine, op, run); err != nil {
			return err
		}
	case peer.Ping:
		stmts, err := h.deliver(now, &peer.Message{Type: peer.Pong, Re: m.Seq}, false, "id = ? AND "+mine, p.id, p.id, op)
		if err != nil {
			return err
		}
		if _, err := run(stmts...); err != nil {
			return err
		}
	case peer.Pong:
		if _, err := run(); err != nil { // a sign of life, as on the socket
			return err
		}
	case peer.Leave:
		reason := "left"
		if m.Reason != "" {
			reason += ": " + m.Reason
		}
		fan, err := h.deliver(now, &peer.Message{Type: peer.PeerLeft, ID: p.id, Reason: cfTruncate(reason, peer.MaxTextLen)}, false,
			"room = ? AND id != ? AND "+mine, p.room, p.id, p.id, op)
		if err != nil {
			return err
		}
		if _, err := run(append(fan,
			cfQ("DELETE FROM hub_queue WHERE peer = ? AND "+mine, p.id, p.id, op),
			cfQ("DELETE FROM hub_models WHERE peer = ? AND "+mine, p.id, p.id, op),
			cfQ("DELETE FROM hub_peers WHERE id = ? AND op = ?", p.id, op))...); err != nil {
			return err
		}
		h.cfg.Log.Printf("hub: peer %s (room %s) left: %s", p.id, p.room, reason)
	case peer.Error:
		if _, err := run(); err != nil {
			return err
		}
		h.cfg.Log.Printf("hub: peer %s (room %s) reports error %s: %s", p.id, p.room, m.Code, m.Text)
	default: // welcome, peer-joined, peer-left, match: the hub's to send
		_, err := run()
		return cfFirstErr(err, cfRefuse(peer.CodeForbidden, m.Type.String()+" is sent by the hub, not by a peer"))
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// cmp returns the first error that is not nil.
func cfFirstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func cfTruncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// raced says why a send's bump did not apply: another request of the peer
// got there first with this seq or a later one, or the peer was dropped.
func (h *cfHub) raced(id string, seq uint64, now int64) error {
	res, err := h.batch(cfQ("SELECT id, in_seq, expires, dropped FROM hub_peers WHERE id = ?", id))
	if err != nil {
		return err
	}
	if len(res[0].Rows) == 0 {
		return cfRefuse(peer.CodeTimeout, fmt.Sprintf("peer %q is not on this hub: it left, was dropped, or did not join; join again", id))
	}
	row := res[0].Rows[0]
	if p := (&cfPeerRow{id: id, expires: int64(cfNum(row["expires"])), dropped: cfStr(row["dropped"])}); p.expires < now {
		return h.goneError(p)
	}
	return cfRefuse(peer.CodeOutOfOrder, fmt.Sprintf("seq %d is not above the last seq %d", seq, uint64(cfNum(row["in_seq"]))))
}

// offer matches an offer request to the least-loaded other peer of the room
// that holds the model with the cut asked for (ties to the smaller id), as
// hub.go's match, and counts the work it is about to get in its load.
func (h *cfHub) offer(p *cfPeerRow, m *peer.Message, now int64, mine, op string, run func(...cfSQL) ([]cfResult, error)) error {
	res, err := h.batch(cfQ(`SELECT p.id AS id, p.load AS load, m.cuts AS cuts FROM hub_models m JOIN hub_peers p ON p.id = m.peer
		WHERE m.room = ? AND m.model = ? AND p.id != ? AND p.expires >= ?`, p.room, m.Model[:], p.id, now))
	if err != nil {
		return err
	}
	best, bestLoad, cost := "", float32(0), float32(0)
	for _, row := range res[0].Rows {
		cuts, _ := row["cuts"].([]byte)
		n := len(cuts) / 4
		if m.Cut >= n {
			continue
		}
		id, load := cfStr(row["id"]), float32(cfNum(row["load"]))
		if best == "" || load < bestLoad || load == bestLoad && id < best {
			at := func(i int) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(cuts[4*i:])) }
			best, bestLoad, cost = id, load, at(n-1)-at(m.Cut)
		}
	}
	noPeer := cfRefuse(peer.CodeNoPeer, fmt.Sprintf("no other peer in room %s holds model %x with cut %d", p.room, m.Model[:8], m.Cut))
	if best == "" {
		_, err := run()
		return cfFirstErr(err, noPeer)
	}
	holder := "EXISTS (SELECT 1 FROM hub_peers b WHERE b.id = ? AND b.room = ? AND b.expires >= ?)"
	fan, err := h.deliver(now, &peer.Message{Type: peer.Match, Re: m.Seq, ID: best, Model: m.Model}, false,
		"id = ? AND "+mine+" AND "+holder, p.id, p.id, op, best, p.room, now)
	if err != nil {
		return err
	}
	out, err := run(append([]cfSQL{cfQ("UPDATE hub_peers SET load = load + ? WHERE id = ? AND room = ? AND "+cfAlive+" AND "+mine,
		float64(max(cost, 1e-3)), best, p.room, now, p.id, op)}, fan...)...)
	if err != nil {
		return err
	}
	if out[0].Changes != 1 { // the holder left between the two batches
		return noPeer
	}
	return nil
}

// How a waiting poll queries D1: on a backoff from cfPollBackoffMin that
// grows to cfPollBackoffMax, which bounds how long a message that comes
// late in a long poll waits to be seen (cfworker/README.md has the
// latencies it gives). Each query checks that the peer is still there, but
// moves its expiry on only when that is within cfPollRefresh of Timeout,
// to Timeout plus cfPollRefresh: a waiting peer costs D1 one write a second
// however often its poll looks, and is dropped Timeout to Timeout plus
// cfPollRefresh after its last request.
const (
	cfPollBackoffMin = 50 * time.Millisecond
	cfPollBackoffMax = 250 * time.Millisecond
	cfPollRefresh    = time.Second
)

// servePoll answers with what is queued for the peer after its seq after,
// dropping what it acknowledges so, and waits up to PollWait (or wait
// seconds) for something to come, querying again on a backoff.
func (h *cfHub) servePoll(w http.ResponseWriter, r *http.Request) error {
	start := h.now()
	p, err := h.auth(r, h.ms(start))
	if err != nil {
		return err
	}
	qv := r.URL.Query()
	after, err := strconv.ParseUint(cfOr(qv.Get("after"), "0"), 10, 63)
	if err != nil {
		return cfRefuse(peer.CodeBadMessage, fmt.Sprintf("after=%q: want the last seq received, 0 for none", qv.Get("after")))
	}
	if after > p.outSeq {
		return cfRefuse(peer.CodeBadMessage, fmt.Sprintf("after=%d: the hub has sent peer %s %d messages", after, p.id, p.outSeq))
	}
	wait := h.cfg.PollWait
	if s := qv.Get("wait"); s != "" {
		secs, err := strconv.ParseFloat(s, 64)
		if err != nil || !(secs >= 0) {
			return cfRefuse(peer.CodeBadMessage, fmt.Sprintf("wait=%q: want seconds, at most %v", s, h.cfg.PollWait.Seconds()))
		}
		wait = min(wait, time.Duration(secs*float64(time.Second)))
	}
	if err := h.sweep(); err != nil {
		return err
	}
	// What one answer holds at most, beyond its first message.
	const maxRows, maxBytes = 256, 8 << 20
	read := func(ack bool) ([][]byte, error) {
		now := h.ms(h.now())
		life := h.cfg.Timeout.Milliseconds()
		stmts := []cfSQL{
			cfQ("UPDATE hub_peers SET expires = ? WHERE id = ? AND "+cfAlive+" AND expires < ?", now+life+cfPollRefresh.Milliseconds(), p.id, now, now+life),
			cfQ("SELECT count(*) AS n FROM hub_peers WHERE id = ? AND "+cfAlive, p.id, now),
			cfQ("SELECT seq, body FROM hub_queue WHERE peer = ? AND seq > ? AND expires >= ? ORDER BY seq LIMIT ?", p.id, int64(after), now, int64(maxRows)),
		}
		if ack {
			stmts = append([]cfSQL{cfQ("DELETE FROM hub_queue WHERE peer = ? AND seq <= ?", p.id, int64(after))}, stmts...)
		}
		res, err := h.batch(stmts...)
		if err != nil {
			return nil, err
		}
		if alive := res[len(res)-2].Rows; len(alive) != 1 || cfNum(alive[0]["n"]) != 1 {
			_, err := h.auth(r, now)
			return nil, cfFirstErr(err, cfRefuse(peer.CodeTimeout, "peer "+p.id+" was dropped"))
		}
		var msgs [][]byte
		size := 0
		for _, row := range res[len(res)-1].Rows {
			b, _ := row["body"].([]byte)
			m, err := peer.Decode(b)
			if err != nil {
				return nil, fmt.Errorf("hub: queued message %v for %s: %w", row["seq"], p.id, err)
			}
			m.Seq = uint64(cfNum(row["seq"]))
			if b, err = peer.Encode(m); err != nil {
				return nil, err
			}
			if len(msgs) > 0 && size+len(b) > maxBytes {
				break
			}
			msgs, size = append(msgs, b), size+len(b)
		}
		return msgs, nil
	}
	msgs, err := read(true)
	backoff, lastSweep := cfPollBackoffMin, h.now()
	for err == nil && len(msgs) == 0 {
		left := wait - h.now().Sub(start)
		if left <= 0 {
			break
		}
		time.Sleep(min(backoff, left))
		backoff = min(backoff*3/2, cfPollBackoffMax)
		if h.now().Sub(lastSweep) > 2*time.Second {
			if err = h.sweep(); err != nil {
				break
			}
			lastSweep = h.now()
		}
		msgs, err = read(false)
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", cfHubContentType)
	w.Write(cfFrame(msgs))
	return nil
}

func cfOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// sweep drops peers past their expiry (at most a few per call), telling
// their rooms, and messages past their TTL. Each peer goes in one batch, its
// peer-left sent only by the batch that deletes it.
func (h *cfHub) sweep() error {
	now := h.ms(h.now())
	res, err := h.batch(
		cfQ("DELETE FROM hub_queue WHERE expires < ?", now),
		cfQ("SELECT id, room, dropped FROM hub_peers WHERE expires < ? ORDER BY expires LIMIT 8", now))
	if err != nil {
		return err
	}
	for _, row := range res[1].Rows {
		id, room, reason := cfStr(row["id"]), cfStr(row["room"]), cfStr(row["dropped"])
		if reason == "" {
			reason = fmt.Sprintf("%s: sent nothing and did not poll for %v", peer.CodeTimeout, h.cfg.Timeout)
		}
		gone := "EXISTS (SELECT 1 FROM hub_peers g WHERE g.id = ? AND g.expires < ?)"
		fan, err := h.deliver(now, &peer.Message{Type: peer.PeerLeft, ID: id, Reason: cfTruncate(reason, peer.MaxTextLen)}, false,
			"room = ? AND id != ? AND "+gone, room, id, id, now)
		if err != nil {
			return err
		}
		if _, err := h.batch(append(fan,
			cfQ("DELETE FROM hub_queue WHERE peer = ? AND "+gone, id, id, now),
			cfQ("DELETE FROM hub_models WHERE peer = ? AND "+gone, id, id, now),
			cfQ("DELETE FROM hub_peers WHERE id = ? AND expires < ?", id, now))...); err != nil {
			return err
		}
		h.cfg.Log.Printf("hub: peer %s (room %s) dropped: %s", id, room, reason)
	}
	return nil
}
