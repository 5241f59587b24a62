package model

import (
	"errors"
	"math"
)

// The part of MessagePack (github.com/msgpack/msgpack/blob/master/spec.md)
// that .enn files use: nil, ints of every width, float32 and float64, str,
// bin, array and map. Bool, ext and timestamps are not part of the format and
// are refused. A general msgpack library costs the wasm module about 290 KB
// gzip (reflection, fmt, time); this costs a few KB.
//
// The writer always picks the shortest form, as vmihailenco/msgpack/v5's
// Encoder did for the calls the codec makes, so encodings (and Digests) of
// files written with it are unchanged. The reader accepts every width.

// Type bytes; the fixed ranges hold their value or length in the low bits.
const (
	mpPosFixintMax = 0x7f
	mpFixmap       = 0x80 // 0x80..0x8f
	mpFixarray     = 0x90 // 0x90..0x9f
	mpFixstr       = 0xa0 // 0xa0..0xbf
	mpNil          = 0xc0
	mpBin8         = 0xc4
	mpBin16        = 0xc5
	mpBin32        = 0xc6
	mpFloat32      = 0xca
	mpFloat64      = 0xcb
	mpUint8        = 0xcc
	mpUint16       = 0xcd
	mpUint32       = 0xce
	mpUint64       = 0xcf
	mpInt8         = 0xd0
	mpInt16        = 0xd1
	mpInt32        = 0xd2
	mpInt64        = 0xd3
	mpStr8         = 0xd9
	mpStr16        = 0xda
	mpStr32        = 0xdb
	mpArray16      = 0xdc
	mpArray32      = 0xdd
	mpMap16        = 0xde
	mpMap32        = 0xdf
	mpNegFixintMin = 0xe0
)

// mpKind is what a type byte starts.
type mpKind uint8

const (
	mpUnsupported mpKind = iota // bool, ext, fixext, the unused 0xc1
	mpKindNil
	mpKindInt
	mpKindFloat
	mpKindStr
	mpKindBin
	mpKindArray
	mpKindMap
)

func mpKindOf(c byte) mpKind {
	switch {
	case c <= mpPosFixintMax || c >= mpNegFixintMin:
		return mpKindInt
	case c < mpFixarray:
		return mpKindMap
	case c < mpFixstr:
		return mpKindArray
	case c < mpNil:
		return mpKindStr
	}
	switch c {
	case mpNil:
		return mpKindNil
	case mpBin8, mpBin16, mpBin32:
		return mpKindBin
	case mpFloat32, mpFloat64:
		return mpKindFloat
	case mpUint8, mpUint16, mpUint32, mpUint64, mpInt8, mpInt16, mpInt32, mpInt64:
		return mpKindInt
	case mpStr8, mpStr16, mpStr32:
		return mpKindStr
	case mpArray16, mpArray32:
		return mpKindArray
	case mpMap16, mpMap32:
		return mpKindMap
	}
	return mpUnsupported
}

// mpTypeName names a type byte for error messages: "msgpack type 0xd4 (fixext 1)".
func mpTypeName(c byte) string {
	const hexd = "0123456789abcdef"
	s := "msgpack type 0x" + string([]byte{hexd[c>>4], hexd[c&15]}) + " ("
	switch mpKindOf(c) {
	case mpKindNil:
		return s + "nil)"
	case mpKindInt:
		return s + "int)"
	case mpKindFloat:
		return s + "float)"
	case mpKindStr:
		return s + "str)"
	case mpKindBin:
		return s + "bin)"
	case mpKindArray:
		return s + "array)"
	case mpKindMap:
		return s + "map)"
	}
	switch {
	case c == 0xc2 || c == 0xc3:
		return s + "bool, not used by .enn)"
	case c >= 0xc7 && c <= 0xc9, c >= 0xd4 && c <= 0xd8:
		return s + "ext, not used by .enn)"
	}
	return s + "never used by msgpack)"
}

// mpWriter appends msgpack to buf, each value in its shortest form.
type mpWriter struct {
	buf []byte
	err error // the first error; later writes still append but Encode discards the bytes
}

func (w *mpWriter) fail(msg string) {
	if w.err == nil {
		w.err = errors.New(msg)
	}
}

func (w *mpWriter) put16(c byte, v uint16) { w.buf = append(w.buf, c, byte(v>>8), byte(v)) }
func (w *mpWriter) put32(c byte, v uint32) {
	w.buf = append(w.buf, c, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}
func (w *mpWriter) put64(c byte, v uint64) {
	w.buf = append(w.buf, c, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// header writes a length in the fix, 8-, 16- or 32-bit form; fixMax is the
// largest length the fix form holds (-1 for none), c8 the 8-bit code (0 for none).
func (w *mpWriter) header(n int, fix byte, fixMax int, c8, c16, c32 byte) {
	switch {
	case n < 0 || uint64(n) > math.MaxUint32:
		w.fail("length " + itoa(n) + " does not fit msgpack")
	case n <= fixMax:
		w.buf = append(w.buf, fix|byte(n))
	case n <= math.MaxUint8 && c8 != 0:
		w.buf = append(w.buf, c8, byte(n))
	case n <= math.MaxUint16:
		w.put16(c16, uint16(n))
	default:
		w.put32(c32, uint32(n))
	}
}

func (w *mpWriter) nil()           { w.buf = append(w.buf, mpNil) }
func (w *mpWriter) mapLen(n int)   { w.header(n, mpFixmap, 15, 0, mpMap16, mpMap32) }
func (w *mpWriter) arrayLen(n int) { w.header(n, mpFixarray, 15, 0, mpArray16, mpArray32) }
func (w *mpWriter) str(s string) {
	w.header(len(s), mpFixstr, 31, mpStr8, mpStr16, mpStr32)
	w.buf = append(w.buf, s...)
}

// bin writes b as bin; a nil slice is written as nil.
func (w *mpWriter) bin(b []byte) {
	if b == nil {
		w.nil()
		return
	}
	w.header(len(b), 0, -1, mpBin8, mpBin16, mpBin32)
	w.buf = append(w.buf, b...)
}

func (w *mpWriter) float32(v float32) {
	w.put32(mpFloat32, math.Float32bits(v))
}

// int writes v as a fixint, or as the narrowest uint (if v >= 0) or int.
func (w *mpWriter) int(v int64) {
	switch {
	case v >= 0 && v <= mpPosFixintMax:
		w.buf = append(w.buf, byte(v))
	case v >= 0 && v <= math.MaxUint8:
		w.buf = append(w.buf, mpUint8, byte(v))
	case v >= 0 && v <= math.MaxUint16:
		w.put16(mpUint16, uint16(v))
	case v >= 0 && v <= math.MaxUint32:
		w.put32(mpUint32, uint32(v))
	case v >= 0:
		w.put64(mpUint64, uint64(v))
	case v >= -32:
		w.buf = append(w.buf, byte(v))
	case v >= math.MinInt8:
		w.buf = append(w.buf, mpInt8, byte(v))
	case v >= math.MinInt16:
		w.put16(mpInt16, uint16(v))
	case v >= math.MinInt32:
		w.put32(mpInt32, uint32(v))
	default:
		w.put64(mpInt64, uint64(v))
	}
}

// mpReader reads msgpack from data, one value header at a time. It never
// recurses and never allocates: lengths are returned to the caller, which
// checks them against its limits and against remaining() before it allocates,
// and str and bin payloads are sub-slices of data.
type mpReader struct {
	data []byte
	off  int
}

func (r *mpReader) remaining() int { return len(r.data) - r.off }

// errTruncated reports a value that runs past the end of the input.
var errTruncated = errors.New("truncated file")

// peek returns the next type byte without consuming it.
func (r *mpReader) peek() (byte, error) {
	if r.off >= len(r.data) {
		return 0, errTruncated
	}
	return r.data[r.off], nil
}

// uint reads an n-byte big-endian unsigned integer (n = 1, 2, 4 or 8).
func (r *mpReader) uint(n int) (uint64, error) {
	if r.remaining() < n {
		return 0, errTruncated
	}
	var v uint64
	for _, b := range r.data[r.off : r.off+n] {
		v = v<<8 | uint64(b)
	}
	r.off += n
	return v, nil
}

// length consumes the header of a str, bin, array or map of kind want and
// returns its length, which may be up to 2^32-1: the caller checks it.
func (r *mpReader) length(want mpKind) (int, error) {
	c, err := r.peek()
	if err != nil {
		return 0, err
	}
	if mpKindOf(c) != want {
		return 0, errors.New("unexpected " + mpTypeName(c))
	}
	r.off++
	var size int
	switch c {
	case mpStr8, mpBin8:
		size = 1
	case mpStr16, mpBin16, mpArray16, mpMap16:
		size = 2
	case mpStr32, mpBin32, mpArray32, mpMap32:
		size = 4
	default: // a fix form: the length is in the low bits
		if want == mpKindStr {
			return int(c & 0x1f), nil
		}
		return int(c & 0x0f), nil
	}
	n, err := r.uint(size)
	return int(n), err
}

// bytes consumes n payload bytes, which the caller has checked against remaining.
func (r *mpReader) bytes(n int) []byte {
	b := r.data[r.off : r.off+n : r.off+n]
	r.off += n
	return b
}

// errIntRange reports a uint64 above the int64 range.
var errIntRange = errors.New("integer out of range")

// int consumes an integer of any width.
func (r *mpReader) int() (int64, error) {
	c, err := r.peek()
	if err != nil {
		return 0, err
	}
	if mpKindOf(c) != mpKindInt {
		return 0, errors.New("unexpected " + mpTypeName(c))
	}
	r.off++
	if c <= mpPosFixintMax || c >= mpNegFixintMin {
		return int64(int8(c)), nil
	}
	var v uint64
	switch c {
	case mpUint8, mpInt8:
		v, err = r.uint(1)
	case mpUint16, mpInt16:
		v, err = r.uint(2)
	case mpUint32, mpInt32:
		v, err = r.uint(4)
	default:
		v, err = r.uint(8)
	}
	if err != nil {
		return 0, err
	}
	switch c {
	case mpInt8:
		return int64(int8(v)), nil
	case mpInt16:
		return int64(int16(v)), nil
	case mpInt32:
		return int64(int32(v)), nil
	case mpUint64:
		if v > math.MaxInt64 {
			return 0, errIntRange
		}
	}
	return int64(v), nil
}

// float consumes a float32 or float64; a float64 is rounded to float32.
func (r *mpReader) float() (float32, error) {
	c, err := r.peek()
	if err != nil {
		return 0, err
	}
	if mpKindOf(c) != mpKindFloat {
		return 0, errors.New("unexpected " + mpTypeName(c))
	}
	r.off++
	if c == mpFloat32 {
		v, err := r.uint(4)
		return math.Float32frombits(uint32(v)), err
	}
	v, err := r.uint(8)
	return float32(math.Float64frombits(v)), err
}

// nil consumes a nil.
func (r *mpReader) nil() error {
	c, err := r.peek()
	if err != nil {
		return err
	}
	if c != mpNil {
		return errors.New("unexpected " + mpTypeName(c))
	}
	r.off++
	return nil
}
