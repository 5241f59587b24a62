package peer

import (
	"bytes"
	"crypto/sha256"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// samplePayloads returns one valid payload of every kind.
func samplePayloads() []*Payload {
	model := Digest(sha256.Sum256([]byte("mobilenet")))
	return []*Payload{
		{Type: KeySignal, Pub: bytes.Repeat([]byte{7}, 32)},
		{Type: SDPSignal, SDPType: "offer", SDP: "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"},
		{Type: ICESignal, Candidate: "candidate:1 1 udp 2122260223 192.168.1.2 54321 typ host", Mid: "0", MLine: 0},
		{Type: RunFrame, ID: 1, Model: model, At: "conv_pw_3/Relu6", Shape: []int{1, 16, 16, 64}, Total: 4 * 16 * 16 * 64,
			Off: 0, Data: bytes.Repeat([]byte{1, 2, 3, 4}, 100)},
		{Type: RunFrame, ID: 9, Model: model, At: "input", Shape: []int{2, 3}, Total: 24, Off: 8, Data: make([]byte, 16)},
		{Type: ResultFrame, ID: 2, Out: 1, Outs: 2, Shape: []int{1, 1000}, Total: 4000, Off: 0, Data: make([]byte, 4000)},
		{Type: FailFrame, ID: 3, Code: FailBusy, Text: "queue full: 8 requests waiting"},
		{Type: FailFrame, ID: 0, Code: FailBadInput, Text: ""},
		{Type: CancelFrame, ID: MaxID},
	}
}

func encodePayloadFor(p *Payload) ([]byte, error) {
	if p.Type.Signal() {
		return EncodeSignal(p)
	}
	return EncodeFrame(p)
}

func decodePayloadFor(t PayloadType, b []byte) (*Payload, error) {
	if t.Signal() {
		return DecodeSignal(b)
	}
	return DecodeFrame(b)
}

// TestPayloadRoundTrip encodes one payload of every kind, reads it back and,
// independently, with msgpack/v5, whose map must hold exactly the keys
// OFFLOAD.md lists for the kind.
func TestPayloadRoundTrip(t *testing.T) {
	keys := map[string]string{
		"key": "pub t", "sdp": "sdp t type", "ice": "candidate mid mline t",
		"run": "at data id model off shape t total", "result": "data id off out outs shape t total",
		"fail": "code id t text", "cancel": "id t",
	}
	for _, p := range samplePayloads() {
		t.Run(p.Type.String(), func(t *testing.T) {
			data, err := encodePayloadFor(p)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodePayloadFor(p.Type, data)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, p) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, p)
			}
			var generic map[string]any
			if err := msgpack.Unmarshal(data, &generic); err != nil {
				t.Fatalf("msgpack/v5 cannot read the encoding: %v", err)
			}
			var names []string
			for k := range generic {
				names = append(names, k)
			}
			sortStrings(names)
			if strings.Join(names, " ") != keys[p.Type.String()] || generic["t"] != p.Type.String() {
				t.Fatalf("keys %v (t=%v), want %s", names, generic["t"], keys[p.Type.String()])
			}
			if p.Type == RunFrame {
				if !bytes.Equal(generic["data"].([]byte), p.Data) || generic["at"] != p.At {
					t.Fatal("msgpack/v5 reads another data or at")
				}
			}
		})
	}
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// TestPayloadKeyOrder: a payload written by another encoder, keys in another
// order (a JavaScript object's), reads the same.
func TestPayloadKeyOrder(t *testing.T) {
	b := enc(t, "id", 4, "data", []byte{0, 0, 128, 63}, "shape", []int{1, 1}, "off", 0, "total", 4, "outs", 1, "out", 0, "t", "result")
	p, err := DecodeFrame(b)
	if err != nil {
		t.Fatal(err)
	}
	if p.Type != ResultFrame || p.ID != 4 || Float32s(p.Data)[0] != 1 {
		t.Fatalf("%+v", p)
	}
}

// TestPayloadRefuses holds the decoders to their contract on bad input.
func TestPayloadRefuses(t *testing.T) {
	model := make([]byte, 32)
	run := func(kv ...any) []byte {
		base := []any{"t", "run", "id", 1, "model", model, "at", "x", "shape", []int{1, 2}, "total", 8, "off", 0, "data", make([]byte, 8)}
		for i := 0; i < len(kv); i += 2 {
			found := false
			for j := 0; j < len(base); j += 2 {
				if base[j] == kv[i] {
					base[j+1], found = kv[i+1], true
				}
			}
			if !found {
				base = append(base, kv[i], kv[i+1])
			}
		}
		return enc(t, base...)
	}
	if _, err := DecodeFrame(run()); err != nil {
		t.Fatalf("the base run is refused: %v", err)
	}
	tests := []struct {
		name   string
		signal bool
		data   []byte
		want   string
	}{
		{"empty", false, nil, "truncated payload"},
		{"not a map", false, []byte{0x93, 1, 2, 3}, "expected a map"},
		{"oversized frame", false, make([]byte, MaxPlaintext+1), "more than the limit"},
		{"oversized signal", true, make([]byte, MaxSignalBytes+1), "more than the limit"},
		{"no kind", false, enc(t, "id", 1), "no kind \"t\""},
		{"unknown kind", false, enc(t, "t", "teleport", "id", 1), "unknown payload kind \"teleport\""},
		{"kind twice", false, enc(t, "t", "cancel", "t", "cancel", "id", 1), "duplicate key \"t\""},
		{"unknown key", false, enc(t, "t", "cancel", "id", 1, "admin", true), "unknown key \"admin\""},
		{"key of another kind", false, enc(t, "t", "cancel", "id", 1, "code", "busy"), "cancel: key \"code\" is not part"},
		{"duplicate key", false, enc(t, "t", "cancel", "id", 1, "id", 2), "duplicate key \"id\""},
		{"missing key", false, enc(t, "t", "fail", "id", 1, "code", "busy"), "fail: missing key \"text\""},
		{"negative id", false, enc(t, "t", "cancel", "id", -1), "id: integer out of range"},
		{"id past 2^53", false, enc(t, "t", "cancel", "id", uint64(1)<<53), "above the limit 2^53-1"},
		{"signal in a frame", false, enc(t, "t", "key", "pub", make([]byte, 32)), "belongs in a signal"},
		{"frame in a signal", true, enc(t, "t", "cancel", "id", 1), "belongs in a sealed frame"},
		{"short key", true, enc(t, "t", "key", "pub", make([]byte, 31)), "pub of 31 bytes, want 32"},
		{"long key", true, enc(t, "t", "key", "pub", make([]byte, 33)), "33 bytes, more than the limit 32"},
		{"sdp type", true, enc(t, "t", "sdp", "type", "pranswer", "sdp", "v=0"), "want \"offer\" or \"answer\""},
		{"mline", true, enc(t, "t", "ice", "candidate", "c", "mid", "0", "mline", 1<<20), "mline: 1048576 out of range"},
		{"short digest", false, run("model", model[:31]), "sha256 of 31 bytes, want 32"},
		{"empty at", false, run("at", ""), "at of 0 bytes"},
		{"no shape", false, run("shape", []int{}), "shape of 0 dimensions"},
		{"rank", false, run("shape", []int{1, 1, 1, 1, 1, 1, 1, 1, 1}), "array of 9 elements, more than the limit 8"},
		{"zero dimension", false, run("shape", []int{1, 0}, "total", 0), "dimensions must be positive"},
		{"negative dimension", false, run("shape", []int{-1, 2}), "shape: [0]: -1 out of range"},
		{"overflowing shape", false, run("shape", []int{4096, 4096, 4096}, "total", 8), "dimensions must be positive and the tensor at most"},
		{"over 64 MiB", false, run("shape", []int{1, 16<<20 + 1}, "total", 4*(16<<20+1)), "shape: [1]: 16777217 out of range"},
		{"total disagrees", false, run("total", 12), "total 12 bytes, but shape [1,2] holds 8"},
		{"part past the end", false, run("off", 4), "part of 8 bytes at offset 4 does not lie inside"},
		{"empty part", false, run("data", []byte{}), "part of 0 bytes"},
		{"data as string", false, run("data", "abcdefgh"), "data: expected bytes, found msgpack type 0xa8 (str)"},
		{"out of outs", false, enc(t, "t", "result", "id", 1, "out", 2, "outs", 2, "shape", []int{1}, "total", 4, "off", 0, "data", make([]byte, 4)), "output 2 of 2"},
		{"empty code", false, enc(t, "t", "fail", "id", 1, "code", "", "text", ""), "code of 0 bytes"},
		{"long text", false, enc(t, "t", "fail", "id", 1, "code", "error", "text", strings.Repeat("x", MaxTextLen+1)), "more than the limit 512"},
		{"trailing", false, append(enc(t, "t", "cancel", "id", 1), 0), "1 trailing bytes"},
		{"hostile map length", false, []byte{0xdf, 0x7f, 0xff, 0xff, 0xff}, "map of 2147483647 entries"},
		{"hostile bin length", false, append(run()[:len(run())-10], 0xc6, 0x7f, 0xff, 0xff, 0xff), "more than the limit"},
		{"ext", false, replaceLast(enc(t, "t", "cancel", "id", 0), 0xd4, 1, 0), "expected an integer, found msgpack type 0xd4 (ext"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p *Payload
			var err error
			if tt.signal {
				p, err = DecodeSignal(tt.data)
			} else {
				p, err = DecodeFrame(tt.data)
			}
			if err == nil || p != nil {
				t.Fatalf("accepted: %+v", p)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestPayloadEncodeRefuses: the encoders validate, so a peer cannot send
// what the other side would refuse.
func TestPayloadEncodeRefuses(t *testing.T) {
	for _, tt := range []struct {
		p    Payload
		want string
	}{
		{Payload{}, "payload(0) is not a"},
		{Payload{Type: CancelFrame, ID: 1, Code: "x"}, "field \"code\" is not part of this payload"},
		{Payload{Type: KeySignal, Pub: make([]byte, 31)}, "pub of 31 bytes"},
		{Payload{Type: RunFrame, ID: 1, At: "x", Shape: []int{1, 2}, Total: 8, Data: make([]byte, 12)}, "does not lie inside"},
		{Payload{Type: RunFrame, ID: 1, At: "x", Shape: []int{1, MaxPlaintext/4 + 1}, Total: MaxPlaintext + 4, Data: make([]byte, MaxPlaintext+4)}, "more than the limit"},
		{Payload{Type: ResultFrame, ID: 1, Outs: 0, Shape: []int{1}, Total: 4, Data: make([]byte, 4)}, "output 0 of 0"},
	} {
		if _, err := EncodeFrame(&tt.p); err == nil || !strings.Contains(err.Error(), tt.want) {
			if _, err2 := EncodeSignal(&tt.p); err2 == nil || !strings.Contains(err2.Error(), tt.want) {
				t.Errorf("%+v: errors %v / %v, want one containing %q", tt.p.Type, err, err2, tt.want)
			}
		}
	}
	if _, err := EncodeSignal(&Payload{Type: CancelFrame, ID: 1}); err == nil {
		t.Error("EncodeSignal took a cancel")
	}
	if _, err := EncodeFrame(&Payload{Type: KeySignal, Pub: make([]byte, 32)}); err == nil {
		t.Error("EncodeFrame took a key")
	}
}

// TestPartsAssemble cuts tensors of several sizes into parts, checks that
// every part's encoding fits a frame and that the parts reassemble to the
// tensor, through the decoder.
func TestPartsAssemble(t *testing.T) {
	model := Digest(sha256.Sum256([]byte("m")))
	for _, n := range []int{1, 1000, MaxPlaintext/4 - 40, MaxPlaintext / 4, 3 << 18, 1<<20 + 3} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(math.Sin(float64(i)))
		}
		data := AppendFloat32s(nil, x)
		head := &Payload{Type: RunFrame, ID: 77, Model: model, At: "block_3_project", Shape: []int{1, n}}
		parts, err := Parts(head, data)
		if err != nil {
			t.Fatal(err)
		}
		if want := (len(data) + MaxPlaintext - 200) / (MaxPlaintext - 100); len(parts) > want+1 {
			t.Errorf("%d floats in %d parts", n, len(parts))
		}
		var a Assembler
		var got []byte
		for i, p := range parts {
			b, err := EncodeFrame(p)
			if err != nil {
				t.Fatalf("part %d of %d: %v", i, len(parts), err)
			}
			if len(b) > MaxPlaintext {
				t.Fatalf("part %d encodes to %d bytes", i, len(b))
			}
			q, err := DecodeFrame(b)
			if err != nil {
				t.Fatal(err)
			}
			out, err := a.Add(q)
			if err != nil {
				t.Fatal(err)
			}
			if (out != nil) != (i == len(parts)-1) {
				t.Fatalf("part %d of %d: finished %v", i, len(parts), out != nil)
			}
			got = out
		}
		y := Float32s(got)
		if !reflect.DeepEqual(x, y) {
			t.Fatalf("%d floats do not reassemble", n)
		}
	}
	if _, err := Parts(&Payload{Type: FailFrame}, []byte{1, 2, 3, 4}); err == nil {
		t.Error("Parts cut a fail")
	}
	if _, err := Parts(&Payload{Type: RunFrame, ID: 1, At: "x", Shape: []int{1, 2}}, make([]byte, 4)); err == nil {
		t.Error("Parts took data of another size than the shape's")
	}
}

// TestAssemblerRefuses: a part that does not continue the tensor being
// received is refused and the tensor dropped; the next tensor starts clean.
func TestAssemblerRefuses(t *testing.T) {
	part := func(id uint64, off, n int) *Payload {
		return &Payload{Type: RunFrame, ID: id, At: "x", Shape: []int{1, 64}, Total: 256, Off: off, Data: make([]byte, n)}
	}
	for _, tt := range []struct {
		name  string
		parts []*Payload
		want  string
	}{
		{"no start", []*Payload{part(1, 100, 100)}, "continues no tensor"},
		{"gap", []*Payload{part(1, 0, 100), part(1, 104, 100)}, "does not continue the tensor of request 1"},
		{"overlap", []*Payload{part(1, 0, 100), part(1, 96, 100)}, "does not continue"},
		{"another request", []*Payload{part(1, 0, 100), part(2, 100, 100)}, "part of request 2"},
		{"restart", []*Payload{part(1, 0, 100), part(2, 0, 100)}, "does not continue"},
		{"another shape", []*Payload{part(1, 0, 128), {Type: RunFrame, ID: 1, At: "x", Shape: []int{2, 32}, Total: 256, Off: 128, Data: make([]byte, 128)}}, "does not continue"},
		{"another kind", []*Payload{part(1, 0, 128), {Type: ResultFrame, ID: 1, Outs: 1, Shape: []int{1, 64}, Total: 256, Off: 128, Data: make([]byte, 128)}}, "does not continue"},
		{"not a part", []*Payload{{Type: CancelFrame, ID: 1}}, "not a tensor part"},
		{"hostile total", []*Payload{{Type: RunFrame, ID: 1, At: "x", Shape: []int{1, 1 << 30}, Total: 4 << 30, Data: make([]byte, 4)}}, "at most 67108864 bytes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var a Assembler
			var err error
			for _, p := range tt.parts {
				if _, err = a.Add(p); err != nil {
					break
				}
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if _, busy := a.Pending(); busy {
				t.Fatal("the refused tensor is still pending")
			}
			if out, err := a.Add(part(5, 0, 256)); err != nil || len(out) != 256 {
				t.Fatalf("a fresh tensor after the refusal: %d bytes, %v", len(out), err)
			}
		})
	}
}

// TestAssemblerAllocs: a first part that claims a 64 MiB tensor costs what
// was sent, not what was claimed.
func TestAssemblerAllocs(t *testing.T) {
	const total = MaxTensorBytes
	var a Assembler
	p := &Payload{Type: RunFrame, ID: 1, At: "x", Shape: []int{1, total / 4}, Total: total, Data: make([]byte, 4096)}
	if out, err := a.Add(p); err != nil || out != nil {
		t.Fatal(out, err)
	}
	if c := cap(a.buf); c > 8192 {
		t.Fatalf("a 4 KiB first part of a 64 MiB tensor reserved %d bytes", c)
	}
}

// TestFrameID: a refused frame's id can still be read to name the refusal.
func TestFrameID(t *testing.T) {
	if id, ok := FrameID(enc(t, "t", "run", "at", "x", "shape", []int{1, 2}, "id", 42, "total", 99)); !ok || id != 42 {
		t.Errorf("id %d %v, want 42", id, ok)
	}
	for _, b := range [][]byte{nil, {0x93}, enc(t, "t", "run"), enc(t, "id", -3), enc(t, "t", map[string]any{}, "id", 1)} {
		if id, ok := FrameID(b); ok {
			t.Errorf("FrameID(%x) = %d", b, id)
		}
	}
}
