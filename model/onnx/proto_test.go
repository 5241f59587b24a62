package onnx

import (
	"math"
	"strings"
	"testing"
)

// TestTensorDecoding holds constantOf to the TensorProto encodings: raw
// little-endian bytes, typed fields packed or not, sign extension of
// narrow integers, and float16/bfloat16 bits (IEEE 754 values).
func TestTensorDecoding(t *testing.T) {
	neg := func(v int64) uint64 { return uint64(v) } // varints carry negatives as 10-byte two's complement
	cases := []struct {
		name string
		t    *pb
		f    []float32
		i    []int64
	}{
		{"float raw", tFloat("a", []int{2}, []float32{1.5, -2}), []float32{1.5, -2}, nil},
		{"float unpacked", new(pb).varint(fTensorDims, 2).varint(fTensorDataType, dtFloat).f32(fTensorFloat, 3).f32(fTensorFloat, -4), []float32{3, -4}, nil},
		{"int64 packed", tInt64("a", []int{3}, []int64{1, -1, 1 << 40}), nil, []int64{1, -1, 1 << 40}},
		{"int8 in int32_data", new(pb).varint(fTensorDims, 2).varint(fTensorDataType, dtInt8).varint(fTensorInt32, -3).varint(fTensorInt32, 127), nil, []int64{-3, 127}},
		{"int16 raw", new(pb).varint(fTensorDims, 2).varint(fTensorDataType, dtInt16).raw(fTensorRaw, []byte{0xfe, 0xff, 0x02, 0x00}), nil, []int64{-2, 2}},
		{"uint8 raw", new(pb).varint(fTensorDims, 2).varint(fTensorDataType, dtUint8).raw(fTensorRaw, []byte{0xff, 7}), nil, []int64{255, 7}},
		{"bool", new(pb).varint(fTensorDims, 2).varint(fTensorDataType, dtBool).raw(fTensorRaw, []byte{0, 1}), nil, []int64{0, 1}},
		{"float16", new(pb).varint(fTensorDims, 6).varint(fTensorDataType, dtFloat16).raw(fTensorRaw, []byte{0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b, 0x01, 0x00, 0x00, 0x7c, 0x00, 0x80}),
			[]float32{1, -2, 65504, float32(math.Ldexp(1, -24)), float32(math.Inf(1)), float32(math.Copysign(0, -1))}, nil},
		{"bfloat16 in int32_data", new(pb).varint(fTensorDims, 1).varint(fTensorDataType, dtBfloat16).varint(fTensorInt32, 0x3fc0), []float32{1.5}, nil},
		{"double", new(pb).varint(fTensorDims, 1).varint(fTensorDataType, dtDouble).raw(fTensorRaw, []byte{0, 0, 0, 0, 0, 0, 0xf8, 0x3f}), []float32{1.5}, nil},
		{"scalar", new(pb).varint(fTensorDataType, dtInt64).varint(fTensorInt64, int64(neg(-5))), nil, []int64{-5}},
		{"empty", new(pb).varint(fTensorDims, 0).varint(fTensorDataType, dtFloat), []float32{}, nil},
	}
	for _, c := range cases {
		tp, err := parseTensor(c.t.b)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		k, err := constantOf(tp)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if c.f != nil {
			if len(k.f) != len(c.f) {
				t.Fatalf("%s: %v, want %v", c.name, k.f, c.f)
			}
			for i := range c.f {
				if math.Float32bits(k.f[i]) != math.Float32bits(c.f[i]) {
					t.Errorf("%s: element %d is %v, want %v", c.name, i, k.f[i], c.f[i])
				}
			}
		}
		for i := range c.i {
			if i >= len(k.i) || k.i[i] != c.i[i] {
				t.Errorf("%s: %v, want %v", c.name, k.i, c.i)
				break
			}
		}
	}
}

// TestTensorErrors: counts and sizes are checked before anything is
// allocated, and every error says what is wrong.
func TestTensorErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		t    *pb
		want string
	}{
		{"too few values", new(pb).varint(fTensorDims, 3).varint(fTensorDataType, dtFloat).f32(fTensorFloat, 1), "needs 3 values, float_data has 1"},
		{"raw and typed", new(pb).varint(fTensorDims, 1).varint(fTensorDataType, dtFloat).f32(fTensorFloat, 1).raw(fTensorRaw, make([]byte, 4)), "both raw_data and float_data"},
		{"packed floats cut", new(pb).varint(fTensorDims, 1).varint(fTensorDataType, dtFloat).raw(fTensorFloat, make([]byte, 5)), "5 bytes"},
		{"negative dim", new(pb).varint(fTensorDims, -1).varint(fTensorDataType, dtFloat), "out of range"},
		{"rank 9", new(pb).raw(fTensorDims, []byte{1, 1, 1, 1, 1, 1, 1, 1, 1}).varint(fTensorDataType, dtFloat), "rank 9"},
		{"billions", new(pb).varint(fTensorDims, 1<<24).varint(fTensorDims, 1<<24).varint(fTensorDataType, dtInt64).raw(fTensorInt64, []byte{1}), "elements"},
		{"complex", new(pb).varint(fTensorDims, 1).varint(fTensorDataType, 14), "not supported"},
		{"external", new(pb).varint(fTensorDims, 1).varint(fTensorDataType, dtFloat).raw(fTensorExternal, []byte{0x0a, 0x01, 'x'}), "external file"},
	} {
		tp, err := parseTensor(c.t.b)
		if err == nil {
			_, err = constantOf(tp)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
}

// TestWire covers the reader's edge cases directly.
func TestWire(t *testing.T) {
	r := &wire{b: []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02}}
	if _, err := r.varint(); err == nil {
		t.Error("a varint past 64 bits was accepted")
	}
	r = &wire{b: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}}
	if v, err := r.varint(); err != nil || v != math.MaxUint64 {
		t.Errorf("max varint = %d, %v", v, err)
	}
	r = &wire{b: []byte{0x05, 'a', 'b'}}
	if _, err := r.bytes(); err == nil || !strings.Contains(err.Error(), "runs past the end") {
		t.Errorf("short length: %v", err)
	}
	if _, _, err := (&wire{b: []byte{0x00}}).key(); err == nil {
		t.Error("field number 0 was accepted")
	}
	a, err := parseAttr(new(pb).str(fAttrName, "k").raw(fAttrInts, []byte{1, 2, 0x7f}).varint(fAttrInts, 5).b)
	if err != nil || a.typ != attrInts || len(a.ints) != 4 || a.ints[3] != 5 {
		t.Errorf("mixed packed and unpacked ints without a type: %+v, %v", a, err)
	}
}
