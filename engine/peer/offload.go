package peer

import (
	"errors"
	"math"
	"strconv"

	"github.com/edgenn/edgenn/internal/msgp"
)

// The payloads two peers exchange inside the hub's opaque fields, as
// OFFLOAD.md lays them out: signals (Signal.Data, unsealed) carry the key
// exchange and WebRTC signalling; sealed frames (the plaintext of Frame.Data)
// carry the offloaded runs, their results and failures. Both are msgpack maps
// whose "t" names the kind; every other key of the kind is required and no
// other key is accepted.

// PayloadType is the kind of a Payload.
type PayloadType uint8

// The payload kinds: the first three travel in signals, the others in sealed
// frames.
const (
	_           PayloadType = iota
	KeySignal               // Pub
	SDPSignal               // SDPType, SDP
	ICESignal               // Candidate, Mid, MLine
	RunFrame                // ID, Model, At, and a tensor part (Shape, Total, Off, Data)
	ResultFrame             // ID, Out, Outs, and a tensor part
	FailFrame               // ID, Code, Text
	CancelFrame             // ID
	numPayloadTypes
)

var payloadNames = [numPayloadTypes]string{KeySignal: "key", SDPSignal: "sdp", ICESignal: "ice", RunFrame: "run",
	ResultFrame: "result", FailFrame: "fail", CancelFrame: "cancel"}

// String returns the kind's name on the wire, such as "run".
func (t PayloadType) String() string {
	if t > 0 && t < numPayloadTypes {
		return payloadNames[t]
	}
	return "payload(" + strconv.Itoa(int(t)) + ")"
}

// Signal reports whether payloads of kind t travel in signals rather than
// in sealed frames.
func (t PayloadType) Signal() bool { return t >= KeySignal && t <= ICESignal }

// Limits of the payloads, beyond those of the hub protocol.
const (
	MaxTensorBytes  = 64 << 20 // one tensor, in all its parts
	MaxRank         = 8        // dimensions of a tensor's shape
	MaxOutputs      = 64       // outputs of one request
	MaxValueNameLen = 256      // the name of the value a split crosses at
	// MaxID is the largest request id: the largest integer a JavaScript
	// number holds exactly, so that the browser side reads ids as numbers.
	MaxID = 1<<53 - 1
)

// Fail codes (OFFLOAD.md).
const (
	FailNoModel  = "no-model"  // the peer does not hold, and could not fetch, the model
	FailBadCut   = "bad-cut"   // no such cut
	FailBadInput = "bad-input" // shape or size wrong for the tail's input, a malformed part
	FailBusy     = "busy"      // the peer's queue is full
	FailError    = "error"     // the run failed; Text says why
)

// Payload is one signal or sealed-frame payload. Which fields a kind carries
// is listed with the kinds; the others are zero, and the encoders refuse a
// payload that sets them.
type Payload struct {
	Type PayloadType

	Pub []byte // key: the sender's X25519 public key, 32 bytes

	SDPType string // sdp: "offer" or "answer"
	SDP     string
	// ice
	Candidate, Mid string
	MLine          int

	ID    uint64 // run, result, fail, cancel: the request, chosen by the requester
	Model Digest // run
	At    string // run: the value crossing from head to tail
	Out   int    // result: which output, 0 .. Outs-1
	Outs  int    // result
	// A tensor part (run, result): the whole tensor's shape, batch first,
	// and byte size (4 x the product of Shape), this part's byte offset and
	// its bytes (float32 little-endian; Data aliases the decoded bytes).
	Shape []int
	Total int
	Off   int
	Data  []byte

	Code, Text string // fail
}

// payloadField is a bit set of the keys below.
type payloadField uint32

const (
	pPub payloadField = 1 << iota
	pSDPType
	pSDP
	pCandidate
	pMid
	pMLine
	pID
	pModel
	pAt
	pOut
	pOuts
	pShape
	pTotal
	pOff
	pData
	pCode
	pText
	numPayloadFields = iota
)

var payloadKeys = [numPayloadFields]string{"pub", "type", "sdp", "candidate", "mid", "mline", "id", "model", "at",
	"out", "outs", "shape", "total", "off", "data", "code", "text"}

const pPart = pShape | pTotal | pOff | pData

// payloadFields lists the keys of each kind: all of them required.
var payloadFields = [numPayloadTypes]payloadField{
	KeySignal:   pPub,
	SDPSignal:   pSDPType | pSDP,
	ICESignal:   pCandidate | pMid | pMLine,
	RunFrame:    pID | pModel | pAt | pPart,
	ResultFrame: pID | pOut | pOuts | pPart,
	FailFrame:   pID | pCode | pText,
	CancelFrame: pID,
}

// set returns the fields p sets, for the check that a payload sets no field
// its kind does not carry.
func (p *Payload) set() payloadField {
	var s payloadField
	add := func(f payloadField, ok bool) {
		if ok {
			s |= f
		}
	}
	add(pPub, p.Pub != nil)
	add(pSDPType, p.SDPType != "")
	add(pSDP, p.SDP != "")
	add(pCandidate, p.Candidate != "")
	add(pMid, p.Mid != "")
	add(pMLine, p.MLine != 0)
	add(pID, p.ID != 0)
	add(pModel, p.Model != Digest{})
	add(pAt, p.At != "")
	add(pOut, p.Out != 0)
	add(pOuts, p.Outs != 0)
	add(pShape, p.Shape != nil)
	add(pTotal, p.Total != 0)
	add(pOff, p.Off != 0)
	add(pData, p.Data != nil)
	add(pCode, p.Code != "")
	add(pText, p.Text != "")
	return s
}

// EncodeSignal validates p, a key, sdp or ice payload, and returns its
// encoding for Signal.Data (at most MaxSignalBytes).
func EncodeSignal(p *Payload) ([]byte, error) {
	if !p.Type.Signal() {
		return nil, errors.New("peer: encode signal: " + p.Type.String() + " is not a signal payload")
	}
	return encodePayload(p, MaxSignalBytes)
}

// EncodeFrame validates p, a run, result, fail or cancel payload, and
// returns the plaintext of a sealed frame (at most MaxPlaintext bytes).
func EncodeFrame(p *Payload) ([]byte, error) {
	if p.Type <= ICESignal || p.Type >= numPayloadTypes {
		return nil, errors.New("peer: encode frame: " + p.Type.String() + " is not a frame payload")
	}
	return encodePayload(p, MaxPlaintext)
}

func encodePayload(p *Payload, limit int) ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	fs := payloadFields[p.Type]
	n := 1
	for f := payloadField(1); f < 1<<numPayloadFields; f <<= 1 {
		if fs&f != 0 {
			n++
		}
	}
	w := msgp.Writer{Buf: make([]byte, 0, 96+len(p.Data)+len(p.SDP)+len(p.Candidate)+len(p.At)+len(p.Text))}
	w.MapLen(n)
	w.Str("t")
	w.Str(p.Type.String())
	for i := 0; i < numPayloadFields; i++ {
		f := payloadField(1) << i
		if fs&f == 0 {
			continue
		}
		w.Str(payloadKeys[i])
		switch f {
		case pPub:
			w.Bin(p.Pub)
		case pSDPType:
			w.Str(p.SDPType)
		case pSDP:
			w.Str(p.SDP)
		case pCandidate:
			w.Str(p.Candidate)
		case pMid:
			w.Str(p.Mid)
		case pMLine:
			w.Int(int64(p.MLine))
		case pID:
			w.Uint(p.ID)
		case pModel:
			w.Bin(p.Model[:])
		case pAt:
			w.Str(p.At)
		case pOut:
			w.Int(int64(p.Out))
		case pOuts:
			w.Int(int64(p.Outs))
		case pShape:
			w.ArrayLen(len(p.Shape))
			for _, d := range p.Shape {
				w.Int(int64(d))
			}
		case pTotal:
			w.Int(int64(p.Total))
		case pOff:
			w.Int(int64(p.Off))
		case pData:
			w.BinHeader(len(p.Data))
			w.Buf = append(w.Buf, p.Data...)
		case pCode:
			w.Str(p.Code)
		case pText:
			w.Str(p.Text)
		}
	}
	if err := w.Err(); err != nil {
		return nil, errors.New("peer: encode " + p.Type.String() + ": " + err.Error())
	}
	if len(w.Buf) > limit {
		return nil, errors.New("peer: encode " + p.Type.String() + ": " + strconv.Itoa(len(w.Buf)) +
			" bytes, more than the limit " + strconv.Itoa(limit))
	}
	return w.Buf, nil
}

// Validate checks that p's kind is known, that it sets only the fields its
// kind carries, and that every field is within its limits. Zero values of
// the kind's own fields (an ID of 0, an Off of 0) are allowed where the
// limits allow them.
func (p *Payload) Validate() error {
	if p.Type == 0 || p.Type >= numPayloadTypes {
		return errors.New("peer: unknown payload " + p.Type.String())
	}
	s := p.set()
	for i := 0; i < numPayloadFields; i++ {
		f := payloadField(1) << i
		if s&f != 0 && payloadFields[p.Type]&f == 0 {
			return errors.New("peer: " + p.Type.String() + ": field \"" + payloadKeys[i] + "\" is not part of this payload")
		}
	}
	if err := p.check(); err != nil {
		return errors.New("peer: " + p.Type.String() + ": " + err.Error())
	}
	return nil
}

// check checks the limits of the fields p's kind carries.
func (p *Payload) check() error {
	fail := errors.New
	fs := payloadFields[p.Type]
	if fs&pPub != 0 && len(p.Pub) != 32 {
		return fail("pub of " + strconv.Itoa(len(p.Pub)) + " bytes, want 32")
	}
	if fs&pSDPType != 0 && p.SDPType != "offer" && p.SDPType != "answer" {
		return fail("type " + strconv.Quote(short(p.SDPType)) + ", want \"offer\" or \"answer\"")
	}
	if len(p.Mid) > MaxNameLen {
		return fail("mid of " + strconv.Itoa(len(p.Mid)) + " bytes, more than the limit " + strconv.Itoa(MaxNameLen))
	}
	if p.MLine < 0 || p.MLine > math.MaxUint16 {
		return fail("mline " + strconv.Itoa(p.MLine) + " out of range [0, 65535]")
	}
	if p.ID > MaxID {
		return fail("id " + strconv.FormatUint(p.ID, 10) + " above the limit 2^53-1")
	}
	if fs&pAt != 0 && (p.At == "" || len(p.At) > MaxValueNameLen) {
		return fail("at of " + strconv.Itoa(len(p.At)) + " bytes, want 1 to " + strconv.Itoa(MaxValueNameLen))
	}
	if fs&pOuts != 0 && (p.Outs < 1 || p.Outs > MaxOutputs || p.Out < 0 || p.Out >= p.Outs) {
		return fail("output " + strconv.Itoa(p.Out) + " of " + strconv.Itoa(p.Outs) + ": want 0 <= out < outs <= " + strconv.Itoa(MaxOutputs))
	}
	if fs&pShape != 0 {
		if err := checkPart(p.Shape, p.Total, p.Off, len(p.Data)); err != nil {
			return err
		}
	}
	if fs&pCode != 0 && (p.Code == "" || len(p.Code) > MaxNameLen) {
		return fail("code of " + strconv.Itoa(len(p.Code)) + " bytes, want 1 to " + strconv.Itoa(MaxNameLen))
	}
	if len(p.Text) > MaxTextLen {
		return fail("text of " + strconv.Itoa(len(p.Text)) + " bytes, more than the limit " + strconv.Itoa(MaxTextLen))
	}
	return nil
}

// checkPart checks a tensor part: a shape of 1 to MaxRank positive
// dimensions whose float32 size is total (at most MaxTensorBytes), and n > 0
// bytes at off that lie inside it.
func checkPart(shape []int, total, off, n int) error {
	if len(shape) == 0 || len(shape) > MaxRank {
		return errors.New("shape of " + strconv.Itoa(len(shape)) + " dimensions, want 1 to " + strconv.Itoa(MaxRank))
	}
	size := 4
	for _, d := range shape {
		if d < 1 || d > MaxTensorBytes/size {
			return errors.New("shape " + shapeString(shape) + ": dimensions must be positive and the tensor at most " +
				strconv.Itoa(MaxTensorBytes) + " bytes")
		}
		size *= d
	}
	if total != size {
		return errors.New("total " + strconv.Itoa(total) + " bytes, but shape " + shapeString(shape) + " holds " + strconv.Itoa(size))
	}
	if n == 0 || off < 0 || off > total || n > total-off {
		return errors.New("part of " + strconv.Itoa(n) + " bytes at offset " + strconv.Itoa(off) + " does not lie inside the tensor's " +
			strconv.Itoa(total) + " bytes")
	}
	return nil
}

func shapeString(s []int) string {
	b := []byte{'['}
	for i, d := range s {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(d), 10)
	}
	return string(append(b, ']'))
}

// short cuts a string from the wire for an error message.
func short(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}

// DecodeSignal reads and validates the payload of a signal: key, sdp or ice.
func DecodeSignal(data []byte) (*Payload, error) {
	if len(data) > MaxSignalBytes {
		return nil, errors.New("peer: signal of " + strconv.Itoa(len(data)) + " bytes, more than the limit " + strconv.Itoa(MaxSignalBytes))
	}
	p, err := decodePayload(data)
	if err == nil && !p.Type.Signal() {
		return nil, errors.New("peer: a " + p.Type.String() + " payload in a signal; it belongs in a sealed frame")
	}
	return p, err
}

// DecodeFrame reads and validates the plaintext of a sealed frame: run,
// result, fail or cancel. It refuses, with an error that names the problem
// and never a panic: more than MaxPlaintext bytes, bytes that are not one
// msgpack map, an unknown kind, an unknown, duplicate or missing key, a
// value of the wrong msgpack type or beyond the limits, and trailing bytes.
// Data aliases data.
func DecodeFrame(data []byte) (*Payload, error) {
	if len(data) > MaxPlaintext {
		return nil, errors.New("peer: frame of " + strconv.Itoa(len(data)) + " bytes, more than the limit " + strconv.Itoa(MaxPlaintext))
	}
	p, err := decodePayload(data)
	if err == nil && p.Type.Signal() {
		return nil, errors.New("peer: a " + p.Type.String() + " payload in a sealed frame; it belongs in a signal")
	}
	return p, err
}

// FrameID reads the request id of a frame payload that DecodeFrame refused,
// if its "id" can be read, so that the refusal can name the request.
func FrameID(data []byte) (uint64, bool) {
	r := msgp.NewReader(data)
	n, err := r.MapLen(1 + numPayloadFields)
	if err != nil {
		return 0, false
	}
	for range n {
		k, err := r.Str(MaxNameLen)
		if err != nil {
			return 0, false
		}
		if k == "id" {
			id, err := r.Uint()
			return id, err == nil && id <= MaxID
		}
		if skip(&r) != nil {
			return 0, false
		}
	}
	return 0, false
}

// skip consumes one value of the kinds a payload holds (no nested maps).
func skip(r *msgp.Reader) error {
	c, err := r.Peek()
	if err != nil {
		return err
	}
	switch msgp.KindOf(c) {
	case msgp.KindInt:
		_, err = r.Uint()
		if err != nil {
			_, err = r.Int()
		}
	case msgp.KindStr, msgp.KindBin:
		_, err = r.ReadBytes(msgp.KindOf(c), MaxFrameBytes)
	case msgp.KindArray:
		var n int
		if n, err = r.ArrayLen(MaxRank); err == nil {
			for range n {
				if _, err = r.Int(); err != nil {
					break
				}
			}
		}
	default:
		err = errors.New("unexpected " + msgp.TypeName(c))
	}
	return err
}

func decodePayload(data []byte) (*Payload, error) {
	r := msgp.NewReader(data)
	fail := func(msg string) error { return errors.New("peer: payload: " + msg) }
	wrap := func(where string, err error) error {
		msg := err.Error()
		if errors.Is(err, msgp.ErrTruncated) {
			msg = "truncated payload"
		}
		return fail(where + ": " + msg + " (at byte " + strconv.Itoa(r.Offset()) + ")")
	}
	n, err := r.MapLen(1 + numPayloadFields)
	if err != nil {
		return nil, wrap("payload", err)
	}
	p := &Payload{}
	var seen payloadField
	for range n {
		k, err := r.Str(MaxNameLen)
		if err != nil {
			return nil, wrap("key", err)
		}
		if k == "t" {
			if p.Type != 0 {
				return nil, fail("duplicate key \"t\"")
			}
			name, err := r.Str(MaxNameLen)
			if err != nil {
				return nil, wrap("t", err)
			}
			for t := KeySignal; t < numPayloadTypes; t++ {
				if payloadNames[t] == name {
					p.Type = t
				}
			}
			if p.Type == 0 {
				return nil, fail("unknown payload kind " + strconv.Quote(short(name)))
			}
			continue
		}
		f := payloadField(0)
		for j, key := range payloadKeys {
			if key == k {
				f = 1 << j
			}
		}
		switch {
		case f == 0:
			return nil, fail("unknown key " + strconv.Quote(short(k)))
		case seen&f != 0:
			return nil, fail("duplicate key " + strconv.Quote(k))
		}
		seen |= f
		if err := p.field(&r, f); err != nil {
			return nil, wrap(k, err)
		}
	}
	if r.Remaining() != 0 {
		return nil, fail(strconv.Itoa(r.Remaining()) + " trailing bytes after the payload")
	}
	if p.Type == 0 {
		return nil, fail("no kind \"t\"")
	}
	want := payloadFields[p.Type]
	if extra := seen &^ want; extra != 0 {
		return nil, fail(p.Type.String() + ": key \"" + payloadKeys[lowBit(extra)] + "\" is not part of this payload")
	}
	if miss := want &^ seen; miss != 0 {
		return nil, fail(p.Type.String() + ": missing key \"" + payloadKeys[lowBit(miss)] + "\"")
	}
	if err := p.check(); err != nil {
		return nil, fail(p.Type.String() + ": " + err.Error())
	}
	return p, nil
}

func lowBit(s payloadField) int {
	for i := 0; i < numPayloadFields; i++ {
		if s&(1<<i) != 0 {
			return i
		}
	}
	return 0
}

// smallInt reads an int in [0, limit].
func smallInt(r *msgp.Reader, limit int) (int, error) {
	v, err := r.Int()
	if err == nil && (v < 0 || v > int64(limit)) {
		err = errors.New(strconv.FormatInt(v, 10) + " out of range [0, " + strconv.Itoa(limit) + "]")
	}
	return int(v), err
}

func (p *Payload) field(r *msgp.Reader, f payloadField) error {
	var err error
	switch f {
	case pPub:
		p.Pub, err = r.ReadBytes(msgp.KindBin, 32)
	case pSDPType:
		p.SDPType, err = r.Str(MaxNameLen)
	case pSDP:
		p.SDP, err = r.Str(MaxSignalBytes)
	case pCandidate:
		p.Candidate, err = r.Str(MaxSignalBytes)
	case pMid:
		p.Mid, err = r.Str(MaxNameLen)
	case pMLine:
		p.MLine, err = smallInt(r, math.MaxUint16)
	case pID:
		if p.ID, err = r.Uint(); err == nil && p.ID > MaxID {
			err = errors.New(strconv.FormatUint(p.ID, 10) + " above the limit 2^53-1")
		}
	case pModel:
		p.Model, err = readDigest(r)
	case pAt:
		p.At, err = r.Str(MaxValueNameLen)
	case pOut:
		p.Out, err = smallInt(r, MaxOutputs)
	case pOuts:
		p.Outs, err = smallInt(r, MaxOutputs)
	case pShape:
		var n int
		if n, err = r.ArrayLen(MaxRank); err != nil {
			return err
		}
		p.Shape = make([]int, n)
		for i := range p.Shape {
			if p.Shape[i], err = smallInt(r, MaxTensorBytes/4); err != nil {
				return errors.New("[" + strconv.Itoa(i) + "]: " + err.Error())
			}
		}
	case pTotal:
		p.Total, err = smallInt(r, MaxTensorBytes)
	case pOff:
		p.Off, err = smallInt(r, MaxTensorBytes)
	case pData:
		p.Data, err = r.ReadBytes(msgp.KindBin, MaxPlaintext)
	case pCode:
		p.Code, err = r.Str(MaxNameLen)
	case pText:
		p.Text, err = r.Str(MaxTextLen)
	}
	return err
}

// Assembler reassembles tensors sent in parts, one at a time, as a peer
// receives them on one channel: parts of one tensor come in order and are
// not interleaved with those of another. Its buffer grows with the bytes
// received, so a part that claims a large total costs only what was sent.
// It is not safe for concurrent use.
type Assembler struct {
	busy  bool
	key   Payload // the tensor being received: Type, ID, Model, At, Out, Outs, Shape, Total
	buf   []byte
	taken int // bytes received
}

// Add takes the next part p (a run or result). It returns the whole tensor
// (Shape and Total as in p; the bytes owned by the caller) when p completes
// it, nil when more parts are to come, and an error, after which the tensor
// being received is dropped, when p does not continue it: a first part (Off
// 0) while another tensor is unfinished, a later part with another request,
// output, shape or total, or an offset other than the end of the bytes
// received so far.
func (a *Assembler) Add(p *Payload) ([]byte, error) {
	if p.Type != RunFrame && p.Type != ResultFrame {
		return nil, errors.New("peer: assemble: a " + p.Type.String() + " payload is not a tensor part")
	}
	if err := checkPart(p.Shape, p.Total, p.Off, len(p.Data)); err != nil {
		a.Reset()
		return nil, errors.New("peer: assemble: " + err.Error())
	}
	if !a.busy {
		if p.Off != 0 {
			return nil, errors.New("peer: assemble: part of request " + strconv.FormatUint(p.ID, 10) + " at offset " +
				strconv.Itoa(p.Off) + " continues no tensor being received")
		}
		a.busy = true
		a.key = Payload{Type: p.Type, ID: p.ID, Model: p.Model, At: p.At, Out: p.Out, Outs: p.Outs,
			Shape: append([]int(nil), p.Shape...), Total: p.Total}
		a.buf = a.buf[:0]
		a.taken = 0
	} else if !a.continues(p) {
		was := a.key.ID
		a.Reset()
		return nil, errors.New("peer: assemble: part of request " + strconv.FormatUint(p.ID, 10) + " at offset " + strconv.Itoa(p.Off) +
			" does not continue the tensor of request " + strconv.FormatUint(was, 10) + " being received")
	}
	if p.Off == 0 && len(p.Data) == p.Total {
		a.busy = false
		return append([]byte(nil), p.Data...), nil // one part: no buffer kept
	}
	if need := a.taken + len(p.Data); need > cap(a.buf) {
		nb := make([]byte, a.taken, min(p.Total, max(2*cap(a.buf), need)))
		copy(nb, a.buf[:a.taken])
		a.buf = nb
	}
	a.buf = append(a.buf[:a.taken], p.Data...)
	a.taken += len(p.Data)
	if a.taken < p.Total {
		return nil, nil
	}
	out := a.buf
	a.buf, a.busy = nil, false
	return out, nil
}

func (a *Assembler) continues(p *Payload) bool {
	k := &a.key
	if p.Type != k.Type || p.ID != k.ID || p.Model != k.Model || p.At != k.At || p.Out != k.Out || p.Outs != k.Outs ||
		p.Total != k.Total || p.Off != a.taken || len(p.Shape) != len(k.Shape) {
		return false
	}
	for i, d := range p.Shape {
		if d != k.Shape[i] {
			return false
		}
	}
	return true
}

// Pending returns the request whose tensor is being received, if any.
func (a *Assembler) Pending() (id uint64, ok bool) { return a.key.ID, a.busy }

// Reset drops the tensor being received.
func (a *Assembler) Reset() {
	a.busy = false
	a.buf = nil
	a.taken = 0
}

// Parts cuts a tensor into payloads of kind head.Type (run or result), each
// a copy of head with its part of data, whose encodings each fit one frame
// (MaxPlaintext). head sets everything but Total, Off and Data; the parts
// alias data. Parts are cut at multiples of 4 bytes.
func Parts(head *Payload, data []byte) ([]*Payload, error) {
	if head.Type != RunFrame && head.Type != ResultFrame {
		return nil, errors.New("peer: parts: a " + head.Type.String() + " payload carries no tensor")
	}
	if err := checkPart(head.Shape, len(data), 0, len(data)); err != nil {
		return nil, errors.New("peer: parts: " + err.Error())
	}
	// The envelope of the largest part: every integer at its widest value
	// and the data's bin32 header.
	probe := *head
	probe.Total, probe.Off, probe.Data = len(data), len(data)-1, []byte{0}
	enc, err := EncodeFrame(&probe)
	if err != nil {
		return nil, err
	}
	room := (MaxPlaintext - (len(enc) - 1 - 2 + 5)) &^ 3
	parts := make([]*Payload, 0, (len(data)+room-1)/room)
	for off := 0; off < len(data); off += room {
		p := *head
		p.Total, p.Off, p.Data = len(data), off, data[off:min(off+room, len(data))]
		parts = append(parts, &p)
	}
	return parts, nil
}

// AppendFloat32s appends x to b as float32 little-endian bytes.
func AppendFloat32s(b []byte, x []float32) []byte {
	for _, v := range x {
		u := math.Float32bits(v)
		b = append(b, byte(u), byte(u>>8), byte(u>>16), byte(u>>24))
	}
	return b
}

// Float32s reads float32 little-endian bytes; len(b) must be a multiple of 4.
func Float32s(b []byte) []float32 {
	x := make([]float32, len(b)/4)
	for i := range x {
		j := 4 * i
		x[i] = math.Float32frombits(uint32(b[j]) | uint32(b[j+1])<<8 | uint32(b[j+2])<<16 | uint32(b[j+3])<<24)
	}
	return x
}
