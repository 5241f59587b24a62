package peer

import (
	"bytes"
	"testing"
)

// FuzzOffload holds the payload decoders and the Assembler to their contract
// on any bytes: no panic, and whatever DecodeSignal or DecodeFrame accepts
// re-encodes to bytes that decode to the same payload, stably; an accepted
// tensor part never takes the Assembler past the tensor's size. The seed
// corpus (every kind, truncations, flipped bytes, hostile lengths) runs as an
// ordinary test.
func FuzzOffload(f *testing.F) {
	for _, p := range samplePayloads() {
		data, err := encodePayloadFor(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		for _, cut := range []int{1, 3, len(data) / 2, len(data) - 1} {
			f.Add(data[:cut])
		}
		if len(data) < 512 {
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
			if len(data) > 8 {
				f.Add(append(bytes.Clone(data[:8]), h...))
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, signal := range []bool{true, false} {
			var p *Payload
			var err error
			if signal {
				p, err = DecodeSignal(data)
			} else {
				p, err = DecodeFrame(data)
			}
			if err != nil {
				if p != nil {
					t.Fatal("a payload returned with an error")
				}
				continue
			}
			again, err := encodePayloadFor(p)
			if err != nil {
				t.Fatalf("accepted payload does not re-encode: %v", err)
			}
			p2, err := decodePayloadFor(p.Type, again)
			if err != nil {
				t.Fatalf("re-encoded payload does not decode: %v", err)
			}
			third, _ := encodePayloadFor(p2)
			if !bytes.Equal(again, third) {
				t.Fatal("encoding is not stable")
			}
			if p.Type == RunFrame || p.Type == ResultFrame {
				var a Assembler
				out, err := a.Add(p)
				if err == nil && (len(out) > p.Total || cap(a.buf) > p.Total) {
					t.Fatalf("assembled %d bytes (buffer %d) of a %d-byte tensor", len(out), cap(a.buf), p.Total)
				}
			}
		}
	})
}
