// Package peer is the protocol nearby peers speak through the host's hub:
// the messages (msgpack, versioned, bounded in size and validated before use)
// and the end-to-end sealing of the frames two peers exchange, so that the hub
// relays only ciphertext.
//
// It is platform-neutral: no net/http, fmt or reflection, so the browser's
// wasm module links it as well as the host and the native worker.
package peer

import (
	"errors"
	"math"
	"strconv"

	"github.com/edgenn/edgenn/internal/msgp"
)

// Version is the protocol version this package speaks; a message of another
// version is refused.
const Version = 1

// Limits. A message is refused, before anything is allocated for it, if it
// breaks one. MaxMessageBytes is also the hub's per-connection read limit.
const (
	MaxMessageBytes = MaxFrameBytes + 4<<10 // a full frame plus its envelope
	MaxFrameBytes   = 1 << 20               // sealed bytes in one frame; larger tensors go in several
	MaxSignalBytes  = 16 << 10              // one SDP offer or answer, or an ICE candidate
	MaxPeers        = 1024                  // peers in a room, and listed in a welcome
	MaxModels       = 16                    // models one peer announces
	MaxCuts         = 512                   // cut points in one model's cost profile
	MaxNameLen      = 64                    // room, peer name, peer id, error code
	MaxTokenLen     = 256
	MaxTextLen      = 512 // error message, leave reason
	MaxWorkers      = 1024
)

// Type is the kind of a message.
type Type uint8

// The message types. Client is a peer, hub is the host's hub.
const (
	_            Type = iota
	Join              // client → hub: Room, Token, Name, Caps
	Welcome           // hub → client: ID (yours), Room, Peers (already there)
	PeerJoined        // hub → client: Peer
	PeerLeft          // hub → client: ID, Reason
	Announce          // client → hub: Models, Load; hub → client: the same and From
	Signal            // client → hub: To, Data; hub → client: From, Data (opaque WebRTC SDP or ICE)
	Frame             // client → hub: To, Data; hub → client: From, Data (sealed bytes, see Channel)
	OfferRequest      // client → hub: Model, Cut
	Match             // hub → client: Re, ID (the peer to offload to), Model
	Ping              // either way
	Pong              // either way: Re
	Leave             // client → hub: Reason
	Error             // hub → client: Re (0 if no message caused it), Code, Text
	numTypes
)

var typeNames = [numTypes]string{Join: "join", Welcome: "welcome", PeerJoined: "peer-joined", PeerLeft: "peer-left",
	Announce: "announce", Signal: "signal", Frame: "frame", OfferRequest: "offer-request", Match: "match",
	Ping: "ping", Pong: "pong", Leave: "leave", Error: "error"}

// String returns the type's name on the wire, such as "offer-request".
func (t Type) String() string {
	if t > 0 && t < numTypes {
		return typeNames[t]
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

func parseType(s string) (Type, bool) {
	for t := Join; t < numTypes; t++ {
		if typeNames[t] == s {
			return t, true
		}
	}
	return 0, false
}

// Digest is a model's sha256, which names it among peers (see model.Digest).
type Digest [32]byte

// Caps is what a peer's device offers.
type Caps struct {
	Workers int     // Go instances it runs work on
	Native  bool    // a native edgenn worker rather than a browser
	GFLOPS  float32 // measured GEMM throughput, 0 if unknown
}

// ModelCost is one model a peer holds and what running it costs there.
type ModelCost struct {
	Model Digest
	// Cuts[i] is the measured cost, in milliseconds, of running the model up
	// to and including cut point i (the planner's cut points, in order); the
	// last is the whole model. Offloaded from cut c, the peer runs the rest:
	// Cuts[len-1] - Cuts[c].
	Cuts []float32
}

// PeerInfo describes a peer to the others in its room.
type PeerInfo struct {
	ID   string
	Name string
	Caps Caps
	Load float32
}

// Message is one protocol message. Which fields a type carries is listed with
// the types; the others are zero, and Encode and Decode refuse a message that
// sets them.
type Message struct {
	Type Type
	// Seq numbers the messages one side sends, from 1, strictly increasing;
	// the hub refuses a message whose Seq is not above the last one.
	Seq uint64
	Re  uint64 // the Seq of the message this answers

	From, To    string // a peer id; From is set by the hub, never by a client
	Room, Token string
	Name        string
	ID          string
	Caps        Caps
	Peers       []PeerInfo
	Peer        PeerInfo
	Models      []ModelCost
	Load        float32 // estimated milliseconds of work already queued; lower is less loaded
	Model       Digest
	Cut         int
	Data        []byte // aliases the decoded bytes
	Code        string
	Text        string
	Reason      string
}

// Error codes the hub sends.
const (
	CodeBadMessage  = "bad-message"  // malformed, oversized, of an unknown version or type: the hub closes
	CodeOutOfOrder  = "out-of-order" // Seq not increasing, join twice, anything before join
	CodeBadToken    = "bad-token"
	CodeUnknownRoom = "unknown-room"
	CodeRoomFull    = "room-full"
	CodeUnknownPeer = "unknown-peer" // no such peer in your room
	CodeNoPeer      = "no-peer"      // no peer of your room holds the model
	CodeForbidden   = "forbidden"    // a field a client may not set
	CodeBusy        = "busy"         // the peer you send to has half its queue waiting: retry later
	CodeTooOften    = "too-often"    // announces come faster than the hub passes them on
	CodeSlow        = "slow"         // the peer's send queue overflowed, or a send timed out
	CodeTimeout     = "timeout"      // no message within the heartbeat bound
	CodeShutdown    = "shutdown"
)

// fieldSet is a bit set of the keys below.
type fieldSet uint32

const (
	fSeq fieldSet = 1 << iota
	fRe
	fFrom
	fTo
	fRoom
	fToken
	fName
	fID
	fCaps
	fPeers
	fPeer
	fModels
	fLoad
	fModel
	fCut
	fData
	fCode
	fText
	fReason
	numFields = iota
)

var fieldKeys = [numFields]string{"seq", "re", "from", "to", "room", "token", "name", "id", "caps", "peers", "peer",
	"models", "load", "model", "cut", "data", "code", "msg", "reason"}

// allowed lists the fields each type may carry, required those it must.
var allowed = [numTypes]fieldSet{
	Join:         fSeq | fRoom | fToken | fName | fCaps,
	Welcome:      fSeq | fID | fRoom | fPeers,
	PeerJoined:   fSeq | fPeer,
	PeerLeft:     fSeq | fID | fReason,
	Announce:     fSeq | fFrom | fModels | fLoad,
	Signal:       fSeq | fFrom | fTo | fData,
	Frame:        fSeq | fFrom | fTo | fData,
	OfferRequest: fSeq | fModel | fCut,
	Match:        fSeq | fRe | fID | fModel,
	Ping:         fSeq,
	Pong:         fSeq | fRe,
	Leave:        fSeq | fReason,
	Error:        fSeq | fRe | fCode | fText,
}

var required = [numTypes]fieldSet{
	Join:         fSeq | fRoom | fToken,
	Welcome:      fSeq | fID | fRoom | fPeers,
	PeerJoined:   fSeq | fPeer,
	PeerLeft:     fSeq | fID,
	Announce:     fSeq | fModels | fLoad,
	Signal:       fSeq | fData,
	Frame:        fSeq | fData,
	OfferRequest: fSeq | fModel,
	Match:        fSeq | fRe | fID | fModel,
	Ping:         fSeq,
	Pong:         fSeq | fRe,
	Leave:        fSeq,
	Error:        fSeq | fCode | fText,
}

// set returns the fields m sets, for Encode.
func (m *Message) set() fieldSet {
	var s fieldSet
	add := func(f fieldSet, ok bool) {
		if ok {
			s |= f
		}
	}
	add(fSeq, true)
	add(fRe, m.Re != 0)
	add(fFrom, m.From != "")
	add(fTo, m.To != "")
	add(fRoom, m.Room != "")
	add(fToken, m.Token != "")
	add(fName, m.Name != "")
	add(fID, m.ID != "")
	add(fCaps, m.Caps != Caps{})
	add(fPeers, m.Peers != nil || m.Type == Welcome)
	add(fPeer, m.Peer != PeerInfo{})
	add(fModels, m.Models != nil || m.Type == Announce)
	add(fLoad, m.Load != 0 || m.Type == Announce)
	add(fModel, m.Model != Digest{})
	add(fCut, m.Cut != 0)
	add(fData, m.Data != nil)
	add(fCode, m.Code != "")
	add(fText, m.Text != "")
	add(fReason, m.Reason != "")
	return s
}

// Encode validates m and returns its encoding: a msgpack map whose first two
// keys are "v" (Version) and "t" (the type's name).
func Encode(m *Message) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	s := m.set()
	n := 2
	for f := fieldSet(1); f < 1<<numFields; f <<= 1 {
		if s&f != 0 {
			n++
		}
	}
	w := msgp.Writer{Buf: make([]byte, 0, 64+len(m.Data)+len(m.Peers)*96+len(m.Models)*(48+5*MaxCuts))}
	w.MapLen(n)
	w.Str("v")
	w.Int(Version)
	w.Str("t")
	w.Str(m.Type.String())
	for i := 0; i < numFields; i++ {
		f := fieldSet(1) << i
		if s&f == 0 {
			continue
		}
		w.Str(fieldKeys[i])
		switch f {
		case fSeq:
			w.Uint(m.Seq)
		case fRe:
			w.Uint(m.Re)
		case fFrom:
			w.Str(m.From)
		case fTo:
			w.Str(m.To)
		case fRoom:
			w.Str(m.Room)
		case fToken:
			w.Str(m.Token)
		case fName:
			w.Str(m.Name)
		case fID:
			w.Str(m.ID)
		case fCaps:
			writeCaps(&w, m.Caps)
		case fPeers:
			w.ArrayLen(len(m.Peers))
			for i := range m.Peers {
				writePeer(&w, &m.Peers[i])
			}
		case fPeer:
			writePeer(&w, &m.Peer)
		case fModels:
			w.ArrayLen(len(m.Models))
			for _, mc := range m.Models {
				w.MapLen(2)
				w.Str("sha256")
				w.Bin(mc.Model[:])
				w.Str("cuts")
				w.ArrayLen(len(mc.Cuts))
				for _, c := range mc.Cuts {
					w.Float32(c)
				}
			}
		case fLoad:
			w.Float32(m.Load)
		case fModel:
			w.Bin(m.Model[:])
		case fCut:
			w.Int(int64(m.Cut))
		case fData:
			w.Bin(m.Data)
		case fCode:
			w.Str(m.Code)
		case fText:
			w.Str(m.Text)
		case fReason:
			w.Str(m.Reason)
		}
	}
	if err := w.Err(); err != nil {
		return nil, errors.New("peer: encode " + m.Type.String() + ": " + err.Error())
	}
	if len(w.Buf) > MaxMessageBytes {
		return nil, errors.New("peer: encode " + m.Type.String() + ": " + strconv.Itoa(len(w.Buf)) +
			" bytes, more than the limit " + strconv.Itoa(MaxMessageBytes))
	}
	return w.Buf, nil
}

func writeCaps(w *msgp.Writer, c Caps) {
	w.MapLen(3)
	w.Str("workers")
	w.Int(int64(c.Workers))
	w.Str("native")
	w.Bool(c.Native)
	w.Str("gflops")
	w.Float32(c.GFLOPS)
}

func writePeer(w *msgp.Writer, p *PeerInfo) {
	w.MapLen(4)
	w.Str("id")
	w.Str(p.ID)
	w.Str("name")
	w.Str(p.Name)
	w.Str("caps")
	writeCaps(w, p.Caps)
	w.Str("load")
	w.Float32(p.Load)
}

// Validate checks that m's type is known, that it sets only the fields its
// type carries and all those it requires, and that every field is within
// its limits.
func (m *Message) Validate() error {
	if m.Type == 0 || m.Type >= numTypes {
		return errors.New("peer: unknown message " + m.Type.String())
	}
	s := m.set()
	for i := 0; i < numFields; i++ {
		f := fieldSet(1) << i
		if s&f != 0 && allowed[m.Type]&f == 0 {
			return errors.New("peer: " + m.Type.String() + ": field \"" + fieldKeys[i] + "\" is not part of this message")
		}
	}
	if err := m.check(s); err != nil {
		return errors.New("peer: " + m.Type.String() + ": " + err.Error())
	}
	return nil
}

// check checks the limits and the required fields; s is the set of fields present.
func (m *Message) check(s fieldSet) error {
	fail := errors.New
	if miss := required[m.Type] &^ s; miss != 0 {
		for i := 0; i < numFields; i++ {
			if miss&(1<<i) != 0 {
				return fail("missing field \"" + fieldKeys[i] + "\"")
			}
		}
	}
	if m.Seq == 0 {
		return fail("seq must be at least 1")
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"from", m.From, MaxNameLen}, {"to", m.To, MaxNameLen}, {"room", m.Room, MaxNameLen}, {"token", m.Token, MaxTokenLen},
		{"name", m.Name, MaxNameLen}, {"id", m.ID, MaxNameLen}, {"code", m.Code, MaxNameLen}, {"msg", m.Text, MaxTextLen},
		{"reason", m.Reason, MaxTextLen}} {
		if len(f.v) > f.max {
			return fail(f.name + " of " + strconv.Itoa(len(f.v)) + " bytes, more than the limit " + strconv.Itoa(f.max))
		}
	}
	if err := checkCaps(m.Caps); err != nil {
		return fail("caps: " + err.Error())
	}
	if len(m.Peers) > MaxPeers {
		return fail(strconv.Itoa(len(m.Peers)) + " peers, more than the limit " + strconv.Itoa(MaxPeers))
	}
	for i := range m.Peers {
		if err := checkPeer(&m.Peers[i]); err != nil {
			return fail("peers[" + strconv.Itoa(i) + "]: " + err.Error())
		}
	}
	if s&fPeer != 0 {
		if err := checkPeer(&m.Peer); err != nil {
			return fail("peer: " + err.Error())
		}
	}
	if len(m.Models) > MaxModels {
		return fail(strconv.Itoa(len(m.Models)) + " models, more than the limit " + strconv.Itoa(MaxModels))
	}
	for i, mc := range m.Models {
		if err := checkCuts(mc.Cuts); err != nil {
			return fail("models[" + strconv.Itoa(i) + "]: " + err.Error())
		}
		for _, prev := range m.Models[:i] {
			if prev.Model == mc.Model {
				return fail("models[" + strconv.Itoa(i) + "]: model announced twice")
			}
		}
	}
	if !okCost(m.Load) {
		return fail("load " + ftoa(m.Load) + " is not a finite non-negative number")
	}
	if m.Cut < 0 || m.Cut >= MaxCuts {
		return fail("cut " + strconv.Itoa(m.Cut) + " out of range [0, " + strconv.Itoa(MaxCuts) + ")")
	}
	limit := MaxFrameBytes
	if m.Type == Signal {
		limit = MaxSignalBytes
	}
	if len(m.Data) > limit {
		return fail("data of " + strconv.Itoa(len(m.Data)) + " bytes, more than the limit " + strconv.Itoa(limit))
	}
	return nil
}

func okCost(v float32) bool { return v >= 0 && v <= math.MaxFloat32 } // false for NaN and ±Inf

func ftoa(v float32) string { return strconv.FormatFloat(float64(v), 'g', -1, 32) }

func checkCaps(c Caps) error {
	if c.Workers < 0 || c.Workers > MaxWorkers {
		return errors.New("workers " + strconv.Itoa(c.Workers) + " out of range [0, " + strconv.Itoa(MaxWorkers) + "]")
	}
	if !okCost(c.GFLOPS) {
		return errors.New("gflops " + ftoa(c.GFLOPS) + " is not a finite non-negative number")
	}
	return nil
}

func checkPeer(p *PeerInfo) error {
	if p.ID == "" || len(p.ID) > MaxNameLen || len(p.Name) > MaxNameLen {
		return errors.New("peer id empty or id or name longer than " + strconv.Itoa(MaxNameLen) + " bytes")
	}
	if !okCost(p.Load) {
		return errors.New("load " + ftoa(p.Load) + " is not a finite non-negative number")
	}
	return checkCaps(p.Caps)
}

func checkCuts(cuts []float32) error {
	if len(cuts) == 0 || len(cuts) > MaxCuts {
		return errors.New(strconv.Itoa(len(cuts)) + " cuts, want 1 to " + strconv.Itoa(MaxCuts))
	}
	for i, c := range cuts {
		if !okCost(c) || i > 0 && c < cuts[i-1] {
			return errors.New("cuts[" + strconv.Itoa(i) + "] = " + ftoa(c) + ": costs must be finite, non-negative and cumulative (non-decreasing)")
		}
	}
	return nil
}
