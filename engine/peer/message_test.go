package peer

import (
	"bytes"
	"crypto/sha256"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/edgenn/edgenn/internal/msgp"
	"github.com/vmihailenco/msgpack/v5"
)

// sample returns one valid message of every type.
func sample() []*Message {
	model := Digest(sha256.Sum256([]byte("lenet5")))
	caps := Caps{Workers: 4, Native: true, GFLOPS: 5.1}
	return []*Message{
		{Type: Join, Seq: 1, Room: "lab", Token: "s3cret", Name: "phone", Caps: caps},
		{Type: Welcome, Seq: 1, ID: "p1", Room: "lab", Peers: []PeerInfo{{ID: "p0", Name: "box", Caps: caps, Load: 3}}},
		{Type: Welcome, Seq: 1, ID: "p1", Room: "lab", Peers: []PeerInfo{}},
		{Type: PeerJoined, Seq: 2, Peer: PeerInfo{ID: "p2", Name: "laptop"}},
		{Type: PeerLeft, Seq: 3, ID: "p2", Reason: CodeTimeout},
		{Type: Announce, Seq: 2, Models: []ModelCost{{Model: model, Cuts: []float32{0.5, 1, 1, 7.25}}}, Load: 12.5},
		{Type: Announce, Seq: 4, From: "p0", Models: []ModelCost{}, Load: 0},
		{Type: Signal, Seq: 3, To: "p0", Data: []byte(`{"sdp":"v=0"}`)},
		{Type: Frame, Seq: 5, From: "p1", Data: bytes.Repeat([]byte{0xab}, 70000)},
		{Type: OfferRequest, Seq: 6, Model: model, Cut: 3},
		{Type: Match, Seq: 7, Re: 6, ID: "p0", Model: model},
		{Type: Ping, Seq: 8},
		{Type: Pong, Seq: 9, Re: 8},
		{Type: Leave, Seq: 10, Reason: "bye"},
		{Type: Error, Seq: 11, Re: 3, Code: CodeUnknownPeer, Text: "no peer \"p9\" in your room"},
	}
}

// TestRoundTrip encodes one message of every type, reads it back with
// Decode and, independently, with msgpack/v5, and checks both.
func TestRoundTrip(t *testing.T) {
	for _, m := range sample() {
		t.Run(m.Type.String(), func(t *testing.T) {
			data, err := Encode(m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, m)
			}
			var generic map[string]any
			if err := msgpack.Unmarshal(data, &generic); err != nil {
				t.Fatalf("msgpack/v5 cannot read the encoding: %v", err)
			}
			if generic["t"] != m.Type.String() || generic["v"] != int8(Version) {
				t.Fatalf("msgpack/v5 reads v=%v t=%v", generic["v"], generic["t"])
			}
		})
	}
}

// enc writes a message from a generic map with msgpack/v5, keys in order.
func enc(t testing.TB, kv ...any) []byte {
	t.Helper()
	var w msgp.Writer
	w.MapLen(len(kv) / 2)
	for i := 0; i < len(kv); i += 2 {
		w.Str(kv[i].(string))
		b, err := msgpack.Marshal(kv[i+1])
		if err != nil {
			t.Fatal(err)
		}
		w.Buf = append(w.Buf, b...)
	}
	return w.Buf
}

// TestDecodeRefuses holds Decode to its contract on bad input: each case is
// refused with an error that names the problem.
func TestDecodeRefuses(t *testing.T) {
	model := make([]byte, 32)
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "truncated message"},
		{"not a map", []byte{0x93, 1, 2, 3}, "expected a map, found msgpack type 0x93 (array)"},
		{"garbage", []byte("hello, hub"), "expected a map"},
		{"oversized", make([]byte, MaxMessageBytes+1), "more than the limit"},
		{"no version", enc(t, "t", "ping", "seq", 1), "does not start with the version"},
		{"unknown version", enc(t, "v", 2, "t", "ping", "seq", 1), "unknown version 2"},
		{"version of wrong type", enc(t, "v", "1", "t", "ping", "seq", 1), "v: expected an integer"},
		{"unknown type", enc(t, "v", 1, "t", "teleport", "seq", 1), "unknown message type \"teleport\""},
		{"type second", enc(t, "v", 1, "seq", 1, "t", "ping"), "second field is not the type"},
		{"unknown field", enc(t, "v", 1, "t", "ping", "seq", 1, "admin", true), "ping: unknown field \"admin\""},
		{"field of another type", enc(t, "v", 1, "t", "ping", "seq", 1, "token", "x"), "ping: unknown field \"token\""},
		{"duplicate field", enc(t, "v", 1, "t", "ping", "seq", 1, "seq", 2), "duplicate field \"seq\""},
		{"missing seq", enc(t, "v", 1, "t", "ping"), "missing field \"seq\""},
		{"zero seq", enc(t, "v", 1, "t", "ping", "seq", 0), "seq must be at least 1"},
		{"negative seq", enc(t, "v", 1, "t", "ping", "seq", -1), "seq: integer out of range"},
		{"missing token", enc(t, "v", 1, "t", "join", "seq", 1, "room", "lab"), "join: missing field \"token\""},
		{"room of wrong type", enc(t, "v", 1, "t", "join", "seq", 1, "room", 7, "token", "x"), "room: expected a string, found msgpack type 0x07 (int)"},
		{"long room", enc(t, "v", 1, "t", "join", "seq", 1, "room", strings.Repeat("r", 65), "token", "x"), "room: 65 bytes, more than the limit 64"},
		{"long token", enc(t, "v", 1, "t", "join", "seq", 1, "room", "lab", "token", strings.Repeat("t", 300)), "token: 300 bytes, more than the limit 256"},
		{"caps workers", enc(t, "v", 1, "t", "join", "seq", 1, "room", "lab", "token", "x", "caps", map[string]any{"workers": 1 << 20}), "caps: workers: out of range"},
		{"caps unknown", enc(t, "v", 1, "t", "join", "seq", 1, "room", "lab", "token", "x", "caps", map[string]any{"root": true}), "caps: unknown field \"root\""},
		{"signal too big", enc(t, "v", 1, "t", "signal", "seq", 1, "to", "p", "data", make([]byte, MaxSignalBytes+1)), "data: 16385 bytes, more than the limit 16384"},
		{"frame as string", enc(t, "v", 1, "t", "frame", "seq", 1, "to", "p", "data", "text"), "data: expected bytes, found msgpack type 0xa4 (str)"},
		{"short digest", enc(t, "v", 1, "t", "offer-request", "seq", 1, "model", model[:31]), "sha256 of 31 bytes, want 32"},
		{"cut out of range", enc(t, "v", 1, "t", "offer-request", "seq", 1, "model", model, "cut", MaxCuts), "cut 512 out of range"},
		{"too many models", enc(t, "v", 1, "t", "announce", "seq", 1, "load", 0.0, "models", make([]any, MaxModels+1)), "models: array of 17 elements, more than the limit 16"},
		{"cuts not cumulative", enc(t, "v", 1, "t", "announce", "seq", 1, "load", 0.0, "models", []any{map[string]any{"sha256": model, "cuts": []float32{2, 1}}}), "costs must be finite, non-negative and cumulative"},
		{"NaN load", enc(t, "v", 1, "t", "announce", "seq", 1, "load", math.NaN(), "models", []any{}), "load NaN is not a finite"},
		{"no cuts", enc(t, "v", 1, "t", "announce", "seq", 1, "load", 1.0, "models", []any{map[string]any{"sha256": model, "cuts": []float32{}}}), "0 cuts, want 1 to 512"},
		{"model twice", enc(t, "v", 1, "t", "announce", "seq", 1, "load", 1.0, "models", []any{map[string]any{"sha256": model, "cuts": []float32{1}}, map[string]any{"sha256": model, "cuts": []float32{1}}}), "model announced twice"},
		{"too many peers", enc(t, "v", 1, "t", "welcome", "seq", 1, "id", "p", "room", "r", "peers", make([]any, MaxPeers+1)), "more than the limit 1024"},
		{"hostile array length", replaceLast(enc(t, "v", 1, "t", "welcome", "seq", 1, "id", "p", "room", "r", "peers", 0), 0xdd, 0, 0, 3, 0), "truncated"},
		{"trailing bytes", append(enc(t, "v", 1, "t", "ping", "seq", 1), 0), "1 trailing bytes"},
		{"truncated", enc(t, "v", 1, "t", "ping", "seq", 1)[:12], "truncated message"},
		{"ext", replaceLast(enc(t, "v", 1, "t", "ping", "seq", 1), 0xd4, 1, 0), "seq: expected an integer, found msgpack type 0xd4 (ext"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode(tt.data)
			if err == nil || m != nil {
				t.Fatalf("Decode accepted it: %+v", m)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestDecodeErrorContext: the hub answers a refused message by its version,
// type and seq, so Decode reports how far it got.
func TestDecodeErrorContext(t *testing.T) {
	_, err := Decode(enc(t, "v", 3, "t", "ping", "seq", 1))
	if de := err.(*DecodeError); de.Version != 3 || de.Type != "" {
		t.Errorf("unknown version: %+v", de)
	}
	_, err = Decode(enc(t, "v", 1, "t", "join", "seq", 9, "room", 5))
	if de := err.(*DecodeError); de.Version != 1 || de.Type != "join" || de.Seq != 9 {
		t.Errorf("bad join: %+v", de)
	}
}

// TestEncodeRefuses: Encode validates, so a peer cannot send what the hub
// would refuse.
func TestEncodeRefuses(t *testing.T) {
	tests := []struct {
		m    Message
		want string
	}{
		{Message{Type: 0, Seq: 1}, "unknown message type(0)"},
		{Message{Type: numTypes, Seq: 1}, "unknown message"},
		{Message{Type: Ping}, "seq must be at least 1"},
		{Message{Type: Ping, Seq: 1, Token: "x"}, "field \"token\" is not part of this message"},
		{Message{Type: Frame, Seq: 1, To: "p", Data: make([]byte, MaxFrameBytes+1)}, "more than the limit"},
		{Message{Type: Announce, Seq: 1, Load: float32(math.Inf(1))}, "load +Inf"},
		{Message{Type: Join, Seq: 1, Room: "r", Token: "t", Caps: Caps{Workers: -1}}, "workers -1"},
	}
	for _, tt := range tests {
		if _, err := Encode(&tt.m); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Encode(%v): error %v, want one containing %q", tt.m.Type, err, tt.want)
		}
	}
}

// replaceLast replaces the last byte of b (a placeholder value) with v.
func replaceLast(b []byte, v ...byte) []byte { return append(b[:len(b)-1:len(b)-1], v...) }
