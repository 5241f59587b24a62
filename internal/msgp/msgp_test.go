package msgp

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// TestWriterMatchesOracle holds every Writer form to msgpack/v5's encoding of
// the same value (an independent encoder that also picks the shortest form).
func TestWriterMatchesOracle(t *testing.T) {
	oracle := func(v any) []byte {
		var buf bytes.Buffer
		enc := msgpack.NewEncoder(&buf)
		enc.UseCompactInts(true)
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	for _, v := range []int64{0, 1, 127, 128, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1, math.MaxInt64,
		-1, -32, -33, -128, -129, -32768, -32769, math.MinInt32, math.MinInt32 - 1, math.MinInt64} {
		var w Writer
		w.Int(v)
		if want := oracle(v); !bytes.Equal(w.Buf, want) {
			t.Errorf("Int(%d) = % x, msgpack/v5 writes % x", v, w.Buf, want)
		}
		r := NewReader(w.Buf)
		if got, err := r.Int(); err != nil || got != v || r.Remaining() != 0 {
			t.Errorf("Int(%d) reads back %d, %v", v, got, err)
		}
	}
	for _, n := range []int{0, 31, 32, 255, 256, 65535, 65536} {
		s := strings.Repeat("x", n)
		var w Writer
		w.Str(s)
		if want := oracle(s); !bytes.Equal(w.Buf, want) {
			t.Errorf("Str of %d bytes: header % x, msgpack/v5 % x", n, w.Buf[:min(5, len(w.Buf))], want[:min(5, len(want))])
		}
		b := []byte(s)
		w = Writer{}
		w.Bin(b)
		if want := oracle(b); !bytes.Equal(w.Buf, want) {
			t.Errorf("Bin of %d bytes: header % x, msgpack/v5 % x", n, w.Buf[:min(5, len(w.Buf))], want[:min(5, len(want))])
		}
		r := NewReader(w.Buf)
		if got, err := r.ReadBytes(KindBin, n); err != nil || !bytes.Equal(got, b) {
			t.Errorf("Bin of %d bytes reads back %d bytes, %v", n, len(got), err)
		}
	}
	for _, n := range []int{0, 15, 16, 65535, 65536} {
		var w Writer
		w.ArrayLen(n)
		for range n {
			w.Nil()
		}
		if want := oracle(make([]any, n)); !bytes.Equal(w.Buf, want) {
			t.Errorf("ArrayLen(%d): header % x, msgpack/v5 % x", n, w.Buf[:min(5, len(w.Buf))], want[:min(5, len(want))])
		}
	}
	var w Writer
	w.MapLen(2)
	w.Str("a")
	w.Bool(true)
	w.Str("b")
	w.Float64(1.5)
	if want := oracle(map[string]any{"a": true, "b": 1.5}); !bytes.Equal(w.Buf, want) {
		// map order in the oracle is not fixed; compare by decoding instead.
		var got map[string]any
		if err := msgpack.Unmarshal(w.Buf, &got); err != nil || got["a"] != true || got["b"] != 1.5 {
			t.Errorf("map % x decodes as %v, %v", w.Buf, got, err)
		}
	}
	w = Writer{}
	w.Float32(-2.25)
	if want := oracle(float32(-2.25)); !bytes.Equal(w.Buf, want) {
		t.Errorf("Float32: % x, msgpack/v5 % x", w.Buf, want)
	}
}

// TestReaderRefuses covers the errors a hostile input meets: truncation,
// lengths beyond the limit or the input, wrong kinds, integer ranges.
func TestReaderRefuses(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		read func(r *Reader) error
		want string
	}{
		{"empty", nil, func(r *Reader) error { _, err := r.Int(); return err }, "truncated"},
		{"truncated uint32", []byte{Uint32, 0, 0}, func(r *Reader) error { _, err := r.Int(); return err }, "truncated"},
		{"uint64 beyond int64", []byte{Uint64, 0x80, 0, 0, 0, 0, 0, 0, 0}, func(r *Reader) error { _, err := r.Int(); return err }, "out of range"},
		{"negative as uint", []byte{0xff}, func(r *Reader) error { _, err := r.Uint(); return err }, "out of range"},
		{"str as int", []byte{0xa1, 'x'}, func(r *Reader) error { _, err := r.Int(); return err }, "expected an integer, found msgpack type 0xa1 (str)"},
		{"ext", []byte{0xd4, 1, 0}, func(r *Reader) error { _, err := r.MapLen(4); return err }, "0xd4 (ext, not supported)"},
		{"0xc1", []byte{0xc1}, func(r *Reader) error { _, err := r.Bool(); return err }, "0xc1 (never used by msgpack)"},
		{"array over limit", []byte{Array16, 0x01, 0x00}, func(r *Reader) error { _, err := r.ArrayLen(16); return err }, "array of 256 elements, more than the limit 16"},
		{"array over input", []byte{Array32, 0x7f, 0xff, 0xff, 0xff}, func(r *Reader) error { _, err := r.ArrayLen(math.MaxInt32); return err }, "truncated"},
		{"map over input", []byte{Map16, 0, 2, 1, 1}, func(r *Reader) error { _, err := r.MapLen(10); return err }, "truncated"},
		{"bin over limit", []byte{Bin8, 5, 1, 2, 3, 4, 5}, func(r *Reader) error { _, err := r.ReadBytes(KindBin, 4); return err }, "5 bytes, more than the limit 4"},
		{"bin over input", []byte{Bin32, 0x7f, 0xff, 0xff, 0xff}, func(r *Reader) error { _, err := r.ReadBytes(KindBin, math.MaxInt32); return err }, "truncated"},
		{"str wanted, bin found", []byte{Bin8, 0}, func(r *Reader) error { _, err := r.Str(4); return err }, "expected a string"},
		{"float wanted, int found", []byte{1}, func(r *Reader) error { _, err := r.Float64(); return err }, "expected a float"},
		{"nil wanted", []byte{True}, func(r *Reader) error { return r.Nil() }, "expected nil, found msgpack type 0xc3 (bool)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(tt.data)
			err := tt.read(&r)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if tt.want == "truncated" && !errors.Is(err, ErrTruncated) {
				t.Fatalf("error %v is not ErrTruncated", err)
			}
		})
	}
}

// TestReaderWidths reads every width msgpack/v5 writes without compaction.
func TestReaderWidths(t *testing.T) {
	for _, v := range []any{int8(-5), int16(-300), int32(-70000), int64(-1 << 40), uint8(200), uint16(60000), uint32(1 << 31), uint64(1 << 40)} {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		r := NewReader(b)
		got, err := r.Int()
		if err != nil {
			t.Fatalf("%T %v: %v", v, v, err)
		}
		var want int64
		switch x := v.(type) {
		case int8:
			want = int64(x)
		case int16:
			want = int64(x)
		case int32:
			want = int64(x)
		case int64:
			want = x
		case uint8:
			want = int64(x)
		case uint16:
			want = int64(x)
		case uint32:
			want = int64(x)
		case uint64:
			want = int64(x)
		}
		if got != want || r.Remaining() != 0 {
			t.Errorf("%T % x: read %d, want %d", v, b, got, want)
		}
	}
	b, _ := msgpack.Marshal(float64(0.1))
	r := NewReader(b)
	if f, err := r.Float32(); err != nil || f != float32(0.1) {
		t.Errorf("float64 0.1 read as float32 %v, %v", f, err)
	}
}
