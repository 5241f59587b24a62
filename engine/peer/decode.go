package peer

import (
	"errors"
	"strconv"

	"github.com/edgenn/edgenn/internal/msgp"
)

// DecodeError is the error Decode returns. Version and Type are set when the
// message got that far, so that a hub can answer "unknown version 2" or
// "bad offer-request" with the Seq it refers to.
type DecodeError struct {
	Version int    // the message's version, 0 if unread
	Type    string // the message's type name as sent, "" if unread
	Seq     uint64 // the message's seq, 0 if unread
	Msg     string
}

func (e *DecodeError) Error() string { return "peer: " + e.Msg }

// Decode reads and validates one message. It refuses, with a *DecodeError
// that names the problem and never a panic: more than MaxMessageBytes, bytes
// that are not one msgpack map, a version other than Version, an unknown
// type, an unknown, duplicate or misplaced field, a field of the wrong
// msgpack type, a size beyond the limits, a missing required field and
// trailing bytes. Data aliases data; nothing else does.
func Decode(data []byte) (*Message, error) {
	d := decoder{r: msgp.NewReader(data)}
	if len(data) > MaxMessageBytes {
		return nil, d.fail("message of " + strconv.Itoa(len(data)) + " bytes, more than the limit " + strconv.Itoa(MaxMessageBytes))
	}
	m, err := d.message()
	if err != nil {
		return nil, err
	}
	return m, nil
}

type decoder struct {
	r   msgp.Reader
	err DecodeError
}

func (d *decoder) fail(msg string) *DecodeError {
	e := d.err
	e.Msg = msg
	if e.Type != "" {
		e.Msg = e.Type + ": " + msg
	}
	return &e
}

// wrap names the field in which a msgpack-level error happened.
func (d *decoder) wrap(where string, err error) *DecodeError {
	msg := err.Error()
	if errors.Is(err, msgp.ErrTruncated) {
		msg = "truncated message"
	}
	return d.fail(where + ": " + msg + " (at byte " + strconv.Itoa(d.r.Offset()) + ")")
}

func (d *decoder) message() (*Message, error) {
	n, err := d.r.MapLen(2 + numFields)
	if err != nil {
		return nil, d.wrap("message", err)
	}
	if n < 2 {
		return nil, d.fail("message is a map of " + strconv.Itoa(n) + " entries; it must start with \"v\" and \"t\"")
	}
	if k, err := d.r.Str(MaxNameLen); err != nil || k != "v" {
		return nil, d.fail("message does not start with the version \"v\"")
	}
	v, err := d.r.Int()
	if err != nil {
		return nil, d.wrap("v", err)
	}
	if v != Version {
		d.err.Version = int(min(max(v, -1), 1<<20))
		return nil, d.fail("unknown version " + strconv.FormatInt(v, 10) + " (this side speaks version " + strconv.Itoa(Version) + ")")
	}
	d.err.Version = Version
	if k, err := d.r.Str(MaxNameLen); err != nil || k != "t" {
		return nil, d.fail("second field is not the type \"t\"")
	}
	name, err := d.r.Str(MaxNameLen)
	if err != nil {
		return nil, d.wrap("t", err)
	}
	t, ok := parseType(name)
	if !ok {
		return nil, d.fail("unknown message type " + strconv.Quote(name))
	}
	d.err.Type = name
	m := &Message{Type: t}
	var seen fieldSet
	for i := 2; i < n; i++ {
		k, err := d.r.Str(MaxNameLen)
		if err != nil {
			return nil, d.wrap("field name", err)
		}
		f := fieldSet(0)
		for j, key := range fieldKeys {
			if key == k {
				f = 1 << j
			}
		}
		switch {
		case f == 0 || allowed[t]&f == 0:
			return nil, d.fail("unknown field " + strconv.Quote(k))
		case seen&f != 0:
			return nil, d.fail("duplicate field " + strconv.Quote(k))
		}
		seen |= f
		if err := d.field(m, f); err != nil {
			return nil, d.wrap(k, err)
		}
		if f == fSeq {
			d.err.Seq = m.Seq
		}
	}
	if d.r.Remaining() != 0 {
		return nil, d.fail(strconv.Itoa(d.r.Remaining()) + " trailing bytes after the message")
	}
	if err := m.check(seen); err != nil {
		return nil, d.fail(err.Error())
	}
	return m, nil
}

func (d *decoder) field(m *Message, f fieldSet) error {
	r := &d.r
	var err error
	switch f {
	case fSeq:
		m.Seq, err = r.Uint()
	case fRe:
		m.Re, err = r.Uint()
	case fFrom:
		m.From, err = r.Str(MaxNameLen)
	case fTo:
		m.To, err = r.Str(MaxNameLen)
	case fRoom:
		m.Room, err = r.Str(MaxNameLen)
	case fToken:
		m.Token, err = r.Str(MaxTokenLen)
	case fName:
		m.Name, err = r.Str(MaxNameLen)
	case fID:
		m.ID, err = r.Str(MaxNameLen)
	case fCaps:
		m.Caps, err = readCaps(r)
	case fPeers:
		var n int
		if n, err = r.ArrayLen(MaxPeers); err != nil {
			return err
		}
		m.Peers = make([]PeerInfo, n)
		for i := range m.Peers {
			if m.Peers[i], err = readPeer(r); err != nil {
				return errors.New("[" + strconv.Itoa(i) + "]: " + err.Error())
			}
		}
	case fPeer:
		m.Peer, err = readPeer(r)
	case fModels:
		var n int
		if n, err = r.ArrayLen(MaxModels); err != nil {
			return err
		}
		m.Models = make([]ModelCost, n)
		for i := range m.Models {
			if m.Models[i], err = readModel(r); err != nil {
				return errors.New("[" + strconv.Itoa(i) + "]: " + err.Error())
			}
		}
	case fLoad:
		m.Load, err = r.Float32()
	case fModel:
		m.Model, err = readDigest(r)
	case fCut:
		var v int64
		if v, err = r.Int(); err == nil && (v < 0 || v >= MaxCuts) {
			err = errors.New("cut " + strconv.FormatInt(v, 10) + " out of range [0, " + strconv.Itoa(MaxCuts) + ")")
		}
		m.Cut = int(v)
	case fData:
		limit := MaxFrameBytes
		if m.Type == Signal {
			limit = MaxSignalBytes
		}
		m.Data, err = r.ReadBytes(msgp.KindBin, limit)
	case fCode:
		m.Code, err = r.Str(MaxNameLen)
	case fText:
		m.Text, err = r.Str(MaxTextLen)
	case fReason:
		m.Reason, err = r.Str(MaxTextLen)
	}
	return err
}

// fields reads a map whose keys are distinct members of keys, calling field
// with the index of each.
func fields(r *msgp.Reader, keys []string, field func(i int) error) error {
	n, err := r.MapLen(len(keys))
	if err != nil {
		return err
	}
	var seen uint32
	for range n {
		k, err := r.Str(MaxNameLen)
		if err != nil {
			return err
		}
		i := -1
		for j, key := range keys {
			if key == k {
				i = j
			}
		}
		switch {
		case i < 0:
			return errors.New("unknown field " + strconv.Quote(k))
		case seen&(1<<i) != 0:
			return errors.New("duplicate field " + strconv.Quote(k))
		}
		seen |= 1 << i
		if err := field(i); err != nil {
			return errors.New(k + ": " + err.Error())
		}
	}
	return nil
}

func readCaps(r *msgp.Reader) (Caps, error) {
	var c Caps
	err := fields(r, []string{"workers", "native", "gflops"}, func(i int) error {
		var err error
		switch i {
		case 0:
			var v int64
			v, err = r.Int()
			if err == nil && (v < 0 || v > MaxWorkers) {
				return errors.New("out of range [0, " + strconv.Itoa(MaxWorkers) + "]")
			}
			c.Workers = int(v)
		case 1:
			c.Native, err = r.Bool()
		case 2:
			c.GFLOPS, err = r.Float32()
		}
		return err
	})
	return c, err
}

func readPeer(r *msgp.Reader) (PeerInfo, error) {
	var p PeerInfo
	err := fields(r, []string{"id", "name", "caps", "load"}, func(i int) error {
		var err error
		switch i {
		case 0:
			p.ID, err = r.Str(MaxNameLen)
		case 1:
			p.Name, err = r.Str(MaxNameLen)
		case 2:
			p.Caps, err = readCaps(r)
		case 3:
			p.Load, err = r.Float32()
		}
		return err
	})
	return p, err
}

func readModel(r *msgp.Reader) (ModelCost, error) {
	var mc ModelCost
	var hasModel bool
	err := fields(r, []string{"sha256", "cuts"}, func(i int) error {
		var err error
		switch i {
		case 0:
			mc.Model, err = readDigest(r)
			hasModel = true
		case 1:
			var n int
			if n, err = r.ArrayLen(MaxCuts); err != nil {
				return err
			}
			mc.Cuts = make([]float32, n)
			for j := range mc.Cuts {
				if mc.Cuts[j], err = r.Float32(); err != nil {
					return err
				}
			}
		}
		return err
	})
	if err == nil && !hasModel {
		err = errors.New("missing field \"sha256\"")
	}
	return mc, err
}

func readDigest(r *msgp.Reader) (Digest, error) {
	var d Digest
	b, err := r.ReadBytes(msgp.KindBin, len(d))
	if err == nil && len(b) != len(d) {
		err = errors.New("sha256 of " + strconv.Itoa(len(b)) + " bytes, want 32")
	}
	copy(d[:], b)
	return d, err
}
