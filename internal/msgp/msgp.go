// Package msgp reads and writes the part of MessagePack
// (github.com/msgpack/msgpack/blob/master/spec.md) that edgenn's formats use:
// nil, bool, ints of every width, float32 and float64, str, bin, array and
// map. Ext types and timestamps are refused.
//
// It exists because a general msgpack library costs the wasm module about
// 290 KB gzip (reflection, fmt, time); this costs a few KB. The .enn model
// codec (package model) and the peer protocol (package engine/peer) both use it.
//
// The Writer always picks the shortest form, as vmihailenco/msgpack/v5's
// Encoder does, so encodings are canonical. The Reader accepts every width,
// never recurses and never allocates: Length returns a length for the caller
// to check, MapLen, ArrayLen, ReadBytes and Str check theirs against a limit
// and against the bytes that remain, and str and bin payloads are
// sub-slices of the input.
package msgp

import (
	"errors"
	"math"
	"strconv"
)

// Type bytes; the fixed ranges hold their value or length in the low bits.
const (
	PosFixintMax = 0x7f
	Fixmap       = 0x80 // 0x80..0x8f
	Fixarray     = 0x90 // 0x90..0x9f
	Fixstr       = 0xa0 // 0xa0..0xbf
	NilByte      = 0xc0
	False        = 0xc2
	True         = 0xc3
	Bin8         = 0xc4
	Bin16        = 0xc5
	Bin32        = 0xc6
	Float32Byte  = 0xca
	Float64Byte  = 0xcb
	Uint8        = 0xcc
	Uint16       = 0xcd
	Uint32       = 0xce
	Uint64       = 0xcf
	Int8         = 0xd0
	Int16        = 0xd1
	Int32        = 0xd2
	Int64        = 0xd3
	Str8         = 0xd9
	Str16        = 0xda
	Str32        = 0xdb
	Array16      = 0xdc
	Array32      = 0xdd
	Map16        = 0xde
	Map32        = 0xdf
	NegFixintMin = 0xe0
)

// Kind is what a type byte starts.
type Kind uint8

// The kinds of value; Unsupported covers ext, fixext and the unused 0xc1.
const (
	Unsupported Kind = iota
	KindNil
	KindBool
	KindInt
	KindFloat
	KindStr
	KindBin
	KindArray
	KindMap
)

// KindOf returns the kind of value that type byte c starts.
func KindOf(c byte) Kind {
	switch {
	case c <= PosFixintMax || c >= NegFixintMin:
		return KindInt
	case c < Fixarray:
		return KindMap
	case c < Fixstr:
		return KindArray
	case c < NilByte:
		return KindStr
	}
	switch c {
	case NilByte:
		return KindNil
	case False, True:
		return KindBool
	case Bin8, Bin16, Bin32:
		return KindBin
	case Float32Byte, Float64Byte:
		return KindFloat
	case Uint8, Uint16, Uint32, Uint64, Int8, Int16, Int32, Int64:
		return KindInt
	case Str8, Str16, Str32:
		return KindStr
	case Array16, Array32:
		return KindArray
	case Map16, Map32:
		return KindMap
	}
	return Unsupported
}

// TypeName names a type byte for error messages: "msgpack type 0xd4 (ext)".
func TypeName(c byte) string {
	const hexd = "0123456789abcdef"
	s := "msgpack type 0x" + string([]byte{hexd[c>>4], hexd[c&15]}) + " ("
	switch KindOf(c) {
	case KindNil:
		return s + "nil)"
	case KindBool:
		return s + "bool)"
	case KindInt:
		return s + "int)"
	case KindFloat:
		return s + "float)"
	case KindStr:
		return s + "str)"
	case KindBin:
		return s + "bin)"
	case KindArray:
		return s + "array)"
	case KindMap:
		return s + "map)"
	}
	if c >= 0xc7 && c <= 0xc9 || c >= 0xd4 && c <= 0xd8 {
		return s + "ext, not supported)"
	}
	return s + "never used by msgpack)"
}

// Writer appends msgpack to Buf, each value in its shortest form. It keeps
// the first error (a length that does not fit msgpack, or one a caller
// reported with Fail); later writes still append, and the caller checks Err
// once at the end.
type Writer struct {
	// Buf holds the encoding so far. A caller may append a payload to it
	// directly after writing its header with BinHeader.
	Buf []byte
	err error
}

// Err returns the first error met while writing, or nil.
func (w *Writer) Err() error { return w.err }

// Fail records msg as the writer's error unless it already has one.
func (w *Writer) Fail(msg string) {
	if w.err == nil {
		w.err = errors.New(msg)
	}
}

func (w *Writer) put16(c byte, v uint16) { w.Buf = append(w.Buf, c, byte(v>>8), byte(v)) }
func (w *Writer) put32(c byte, v uint32) {
	w.Buf = append(w.Buf, c, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}
func (w *Writer) put64(c byte, v uint64) {
	w.Buf = append(w.Buf, c, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// header writes a length in the fix, 8-, 16- or 32-bit form; fixMax is the
// largest length the fix form holds (-1 for none), c8 the 8-bit code (0 for none).
func (w *Writer) header(n int, fix byte, fixMax int, c8, c16, c32 byte) {
	switch {
	case n < 0 || uint64(n) > math.MaxUint32:
		w.Fail("length " + strconv.Itoa(n) + " does not fit msgpack")
	case n <= fixMax:
		w.Buf = append(w.Buf, fix|byte(n))
	case n <= math.MaxUint8 && c8 != 0:
		w.Buf = append(w.Buf, c8, byte(n))
	case n <= math.MaxUint16:
		w.put16(c16, uint16(n))
	default:
		w.put32(c32, uint32(n))
	}
}

// Nil writes nil.
func (w *Writer) Nil() { w.Buf = append(w.Buf, NilByte) }

// Bool writes a bool.
func (w *Writer) Bool(v bool) {
	if v {
		w.Buf = append(w.Buf, True)
	} else {
		w.Buf = append(w.Buf, False)
	}
}

// MapLen writes the header of a map of n entries; the caller writes 2n values.
func (w *Writer) MapLen(n int) { w.header(n, Fixmap, 15, 0, Map16, Map32) }

// ArrayLen writes the header of an array of n elements.
func (w *Writer) ArrayLen(n int) { w.header(n, Fixarray, 15, 0, Array16, Array32) }

// Str writes a str.
func (w *Writer) Str(s string) {
	w.header(len(s), Fixstr, 31, Str8, Str16, Str32)
	w.Buf = append(w.Buf, s...)
}

// Bin writes b as bin; a nil slice is written as nil.
func (w *Writer) Bin(b []byte) {
	if b == nil {
		w.Nil()
		return
	}
	w.BinHeader(len(b))
	w.Buf = append(w.Buf, b...)
}

// BinHeader writes the header of a bin of n bytes; the caller appends the
// n bytes to Buf.
func (w *Writer) BinHeader(n int) { w.header(n, 0, -1, Bin8, Bin16, Bin32) }

// Float32 writes a float32.
func (w *Writer) Float32(v float32) { w.put32(Float32Byte, math.Float32bits(v)) }

// Float64 writes a float64.
func (w *Writer) Float64(v float64) { w.put64(Float64Byte, math.Float64bits(v)) }

// Uint writes v as a positive fixint or the narrowest uint.
func (w *Writer) Uint(v uint64) {
	switch {
	case v <= PosFixintMax:
		w.Buf = append(w.Buf, byte(v))
	case v <= math.MaxUint8:
		w.Buf = append(w.Buf, Uint8, byte(v))
	case v <= math.MaxUint16:
		w.put16(Uint16, uint16(v))
	case v <= math.MaxUint32:
		w.put32(Uint32, uint32(v))
	default:
		w.put64(Uint64, v)
	}
}

// Int writes v as a fixint, or as the narrowest uint (if v >= 0) or int.
func (w *Writer) Int(v int64) {
	switch {
	case v >= 0:
		w.Uint(uint64(v))
	case v >= -32:
		w.Buf = append(w.Buf, byte(v))
	case v >= math.MinInt8:
		w.Buf = append(w.Buf, Int8, byte(v))
	case v >= math.MinInt16:
		w.put16(Int16, uint16(v))
	case v >= math.MinInt32:
		w.put32(Int32, uint32(v))
	default:
		w.put64(Int64, uint64(v))
	}
}

// Reader reads msgpack from its input one value header at a time.
type Reader struct {
	data []byte
	off  int
}

// NewReader returns a Reader of data.
func NewReader(data []byte) Reader { return Reader{data: data} }

// Offset returns the number of bytes consumed.
func (r *Reader) Offset() int { return r.off }

// Remaining returns the number of bytes left.
func (r *Reader) Remaining() int { return len(r.data) - r.off }

// ErrTruncated reports a value that runs past the end of the input.
var ErrTruncated = errors.New("truncated")

// ErrIntRange reports an integer outside the range the caller reads into.
var ErrIntRange = errors.New("integer out of range")

// Peek returns the next type byte without consuming it.
func (r *Reader) Peek() (byte, error) {
	if r.off >= len(r.data) {
		return 0, ErrTruncated
	}
	return r.data[r.off], nil
}

// uint reads an n-byte big-endian unsigned integer (n = 1, 2, 4 or 8).
func (r *Reader) uint(n int) (uint64, error) {
	if r.Remaining() < n {
		return 0, ErrTruncated
	}
	var v uint64
	for _, b := range r.data[r.off : r.off+n] {
		v = v<<8 | uint64(b)
	}
	r.off += n
	return v, nil
}

func unexpected(c byte, want string) error {
	return errors.New("expected " + want + ", found " + TypeName(c))
}

// Length consumes the header of a str, bin, array or map of kind want and
// returns its length, which may be up to 2^32-1: the caller checks it
// against its limits and against Remaining.
func (r *Reader) Length(want Kind) (int, error) {
	c, err := r.Peek()
	if err != nil {
		return 0, err
	}
	if KindOf(c) != want {
		return 0, unexpected(c, kindNames[want])
	}
	r.off++
	var size int
	switch c {
	case Str8, Bin8:
		size = 1
	case Str16, Bin16, Array16, Map16:
		size = 2
	case Str32, Bin32, Array32, Map32:
		size = 4
	default: // a fix form: the length is in the low bits
		if want == KindStr {
			return int(c & 0x1f), nil
		}
		return int(c & 0x0f), nil
	}
	n, err := r.uint(size)
	return int(n), err
}

var kindNames = [...]string{Unsupported: "a supported type", KindNil: "nil", KindBool: "a bool",
	KindInt: "an integer", KindFloat: "a float", KindStr: "a string", KindBin: "bytes", KindArray: "an array", KindMap: "a map"}

// Bytes consumes n payload bytes, which the caller has checked against
// Remaining, and returns them as a sub-slice of the input.
func (r *Reader) Bytes(n int) []byte {
	b := r.data[r.off : r.off+n : r.off+n]
	r.off += n
	return b
}

// Int consumes an integer of any width that fits int64.
func (r *Reader) Int() (int64, error) {
	c, err := r.Peek()
	if err != nil {
		return 0, err
	}
	if KindOf(c) != KindInt {
		return 0, unexpected(c, "an integer")
	}
	r.off++
	if c <= PosFixintMax || c >= NegFixintMin {
		return int64(int8(c)), nil
	}
	var v uint64
	switch c {
	case Uint8, Int8:
		v, err = r.uint(1)
	case Uint16, Int16:
		v, err = r.uint(2)
	case Uint32, Int32:
		v, err = r.uint(4)
	default:
		v, err = r.uint(8)
	}
	if err != nil {
		return 0, err
	}
	switch c {
	case Int8:
		return int64(int8(v)), nil
	case Int16:
		return int64(int16(v)), nil
	case Int32:
		return int64(int32(v)), nil
	case Int64:
		return int64(v), nil
	case Uint64:
		if v > math.MaxInt64 {
			return 0, ErrIntRange
		}
	}
	return int64(v), nil
}

// Uint consumes a non-negative integer of any width.
func (r *Reader) Uint() (uint64, error) {
	c, err := r.Peek()
	if err != nil {
		return 0, err
	}
	if c == Uint64 {
		r.off++
		return r.uint(8)
	}
	v, err := r.Int()
	if err == nil && v < 0 {
		return 0, ErrIntRange
	}
	return uint64(v), err
}

// Float32 consumes a float32 or float64; a float64 is rounded to float32.
func (r *Reader) Float32() (float32, error) {
	c, err := r.Peek()
	if err != nil {
		return 0, err
	}
	if c == Float64Byte {
		v, err := r.Float64()
		return float32(v), err
	}
	if c != Float32Byte {
		return 0, unexpected(c, "a float")
	}
	r.off++
	v, err := r.uint(4)
	return math.Float32frombits(uint32(v)), err
}

// Float64 consumes a float32 or float64.
func (r *Reader) Float64() (float64, error) {
	c, err := r.Peek()
	if err != nil {
		return 0, err
	}
	if c == Float32Byte {
		v, err := r.Float32()
		return float64(v), err
	}
	if c != Float64Byte {
		return 0, unexpected(c, "a float")
	}
	r.off++
	v, err := r.uint(8)
	return math.Float64frombits(v), err
}

// Bool consumes a bool.
func (r *Reader) Bool() (bool, error) {
	c, err := r.Peek()
	if err != nil {
		return false, err
	}
	if KindOf(c) != KindBool {
		return false, unexpected(c, "a bool")
	}
	r.off++
	return c == True, nil
}

// Nil consumes a nil.
func (r *Reader) Nil() error {
	c, err := r.Peek()
	if err != nil {
		return err
	}
	if c != NilByte {
		return unexpected(c, "nil")
	}
	r.off++
	return nil
}

// MapLen consumes a map header of at most limit entries whose 2n keys and
// values can fit the bytes that remain.
func (r *Reader) MapLen(limit int) (int, error) {
	n, err := r.Length(KindMap)
	switch {
	case err != nil:
		return 0, err
	case n > limit:
		return 0, errors.New("map of " + strconv.Itoa(n) + " entries, more than the limit " + strconv.Itoa(limit))
	case 2*n > r.Remaining():
		return 0, ErrTruncated
	}
	return n, nil
}

// ArrayLen consumes an array header of at most limit elements that can fit
// the bytes that remain.
func (r *Reader) ArrayLen(limit int) (int, error) {
	n, err := r.Length(KindArray)
	switch {
	case err != nil:
		return 0, err
	case n > limit:
		return 0, errors.New("array of " + strconv.Itoa(n) + " elements, more than the limit " + strconv.Itoa(limit))
	case n > r.Remaining():
		return 0, ErrTruncated
	}
	return n, nil
}

// ReadBytes consumes a str or bin (of kind want) of at most limit bytes and
// returns its payload as a sub-slice of the input.
func (r *Reader) ReadBytes(want Kind, limit int) ([]byte, error) {
	n, err := r.Length(want)
	switch {
	case err != nil:
		return nil, err
	case n > limit:
		return nil, errors.New(strconv.Itoa(n) + " bytes, more than the limit " + strconv.Itoa(limit))
	case n > r.Remaining():
		return nil, ErrTruncated
	}
	return r.Bytes(n), nil
}

// Str consumes a str of at most limit bytes.
func (r *Reader) Str(limit int) (string, error) {
	b, err := r.ReadBytes(KindStr, limit)
	return string(b), err
}
