package model

import (
	"bytes"
	"reflect"
	"testing"
)

// FuzzDecode holds Decode to its contract on any bytes: it never panics,
// whatever it accepts re-encodes and decodes to an equal graph, and whatever it
// accepts msgpack/v5 also reads as valid msgpack holding the same graph (an
// independent decoder: if the two disagree, one of them is wrong). The seed
// corpus (valid models, truncations, flipped bytes, hostile lengths) runs as
// an ordinary test.
func FuzzDecode(f *testing.F) {
	var valid [][]byte
	for _, g := range []*Graph{allOpsGraph(f), mustZoo(f, "lenet5")} {
		data, err := Encode(g)
		if err != nil {
			f.Fatal(err)
		}
		valid = append(valid, data)
	}
	tiny := enc(f, tinyFile(nil)...)
	valid = append(valid, tiny)
	// msgpack/v5's encodings, with ints, floats and data in other widths and forms.
	for _, style := range []string{"signed", "unsigned"} {
		valid = append(valid, enc(f, genericFile(allOpsGraph(f), intStyles[style], style == "signed", style == "unsigned")...))
	}
	for _, data := range valid {
		f.Add(data)
		for _, cut := range []int{1, 2, 7, len(data) / 3, len(data) / 2, len(data) - 1} {
			f.Add(data[:cut])
		}
	}
	// Flipped bytes all through the small files.
	for _, data := range [][]byte{tiny, valid[0]} {
		step := max(1, len(data)/97)
		for i := 0; i < len(data); i += step {
			for _, x := range []byte{0x01, 0x80, 0xff} {
				b := bytes.Clone(data)
				b[i] ^= x
				f.Add(b)
			}
		}
	}
	// Hostile lengths after every kind of key.
	for _, key := range []string{"nodes", "tensors", "inputs", "data", "name", "metadata", "shape", "attrs"} {
		for _, h := range [][]byte{{0xdd, 0xff, 0xff, 0xff, 0xff}, {0xdc, 0xff, 0xff}, {0xc6, 0x7f, 0xff, 0xff, 0xff},
			{0xdb, 0xff, 0xff, 0xff, 0xff}, {0xdf, 0x7f, 0xff, 0xff, 0xff}, {0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}} {
			f.Add(hostile(tiny, []byte(key), h))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Decode(data)
		if err != nil {
			if g != nil {
				t.Fatal("Decode returned a graph with an error")
			}
			return
		}
		if o, err := oracleDecode(data); err != nil {
			t.Fatalf("Decode accepts bytes that msgpack/v5 rejects: %v", err)
		} else if !sameGraph(o, g) {
			t.Fatal("msgpack/v5 reads a different graph from the bytes Decode accepted")
		}
		again, err := Encode(g)
		if err != nil {
			t.Fatalf("decoded graph does not re-encode: %v", err)
		}
		back, err := Decode(again)
		if err != nil {
			t.Fatalf("re-encoded graph does not decode: %v", err)
		}
		// Equal means the same canonical encoding: DeepEqual would call a NaN
		// weight unequal to itself (testdata/fuzz/FuzzDecode/d93cac0e435f1af3).
		third, err := Encode(back)
		if err != nil || !bytes.Equal(third, again) {
			t.Fatalf("decode(encode(decode(data))) differs from decode(data) (%v)", err)
		}
		if !hasNaN(g) && !reflect.DeepEqual(g, back) {
			t.Fatal("decode(encode(decode(data))) differs from decode(data)")
		}
	})
}

func mustZoo(t testing.TB, name string) *Graph {
	t.Helper()
	g, err := Zoo(name)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func hasNaN(g *Graph) bool {
	for _, t := range g.Tensors {
		for _, v := range t.Data {
			if v != v {
				return true
			}
		}
	}
	for _, n := range g.Nodes {
		for _, v := range n.Attrs {
			if f, ok := v.(float32); ok && f != f {
				return true
			}
		}
	}
	return false
}
