package peer

import (
	"bytes"
	"testing"
)

// FuzzDecode holds Decode to its contract on any bytes: it never panics,
// allocates only what the input's own length pays for, and whatever it
// accepts re-encodes to bytes that decode to the same message. The seed
// corpus (every type, truncations, flipped bytes, hostile lengths) runs as an
// ordinary test.
func FuzzDecode(f *testing.F) {
	for _, m := range sample() {
		data, err := Encode(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		for _, cut := range []int{1, 2, 5, len(data) / 2, len(data) - 1} {
			f.Add(data[:cut])
		}
		if len(data) < 4096 {
			for i := range data {
				for _, x := range []byte{0x01, 0x80, 0xff} {
					b := bytes.Clone(data)
					b[i] ^= x
					f.Add(b)
				}
			}
		}
		for _, h := range [][]byte{{0xdd, 0xff, 0xff, 0xff, 0xff}, {0xdc, 0xff, 0xff}, {0xc6, 0x7f, 0xff, 0xff, 0xff},
			{0xdb, 0xff, 0xff, 0xff, 0xff}, {0xdf, 0x7f, 0xff, 0xff, 0xff}, {0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}} {
			if len(data) > 12 {
				f.Add(append(bytes.Clone(data[:12]), h...))
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			if m != nil {
				t.Fatal("Decode returned a message with an error")
			}
			return
		}
		again, err := Encode(m)
		if err != nil {
			t.Fatalf("accepted message does not re-encode: %v", err)
		}
		m2, err := Decode(again)
		if err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
		third, _ := Encode(m2)
		if !bytes.Equal(again, third) {
			t.Fatal("encoding is not stable")
		}
	})
}

// TestDecodeAllocs: a hostile length costs nothing, since Decode checks it
// against the bytes that remain before it allocates.
func TestDecodeAllocs(t *testing.T) {
	hostile := replaceLast(enc(t, "v", 1, "t", "welcome", "seq", 1, "id", "p", "room", "r", "peers", 0), 0xdc, 0x03, 0xff)
	allocs := testing.AllocsPerRun(100, func() { _, _ = Decode(hostile) })
	if allocs > 8 {
		t.Errorf("Decode of a hostile length made %v allocations", allocs)
	}
}
