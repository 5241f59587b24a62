package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"strconv"
)

// MaxIDXBytes is the largest idx file ReadIDX takes, after decompression: an
// image file of MaxElements pixels and its header.
const MaxIDXBytes = MaxElements + 16

// The idx magic numbers: two zero bytes, the element type (0x08, unsigned
// byte) and the number of dimensions.
const (
	idxImagesMagic = 0x00000803 // u8 [n, rows, cols]
	idxLabelsMagic = 0x00000801 // u8 [n]
)

// deflateMaxRatio bounds how much a deflate stream can expand (258 bytes for a
// 2-bit code, about 1032:1); it caps the size hint taken from a gzip trailer.
const deflateMaxRatio = 1032

// pixelScale maps a byte to [0,1]: pixelScale[v] = v/255, correctly rounded.
var pixelScale = func() (t [256]float32) {
	for v := range t {
		t[v] = float32(v) / 255
	}
	return t
}()

// ReadIDX reads a dataset from an idx image file (magic 0x00000803, unsigned
// bytes [n, rows, cols]) and an idx label file (magic 0x00000801, unsigned
// bytes [n]), as MNIST ships them. Either may be gzip-compressed: it is
// decompressed when its bytes start with the gzip magic. Pixels are scaled to
// [0,1] (v/255) and each example has shape [rows, cols, 1]; every label must
// lie in [0, classes).
//
// The error names the file (images or labels) and the problem: a wrong magic,
// a truncated header or body, trailing bytes, dimensions beyond the limits,
// counts that disagree between the two files, or a label out of range. No
// allocation is sized by a header number before that number has been checked
// against the limits and against the bytes present.
func ReadIDX(images, labels []byte, classes int) (*Dataset, error) {
	if classes < 1 || classes > 256 {
		return nil, errors.New("data: idx: " + strconv.Itoa(classes) + " classes, want 1 to 256 (labels are bytes)")
	}
	img, err := idxInflate("images", images, MaxIDXBytes)
	if err != nil {
		return nil, err
	}
	lab, err := idxInflate("labels", labels, MaxIDXBytes)
	if err != nil {
		return nil, err
	}
	idims, ibody, err := idxHeader("images", img, idxImagesMagic)
	if err != nil {
		return nil, err
	}
	ldims, lbody, err := idxHeader("labels", lab, idxLabelsMagic)
	if err != nil {
		return nil, err
	}
	n, rows, cols := uint64(idims[0]), uint64(idims[1]), uint64(idims[2])
	if n > MaxExamples {
		return nil, idxErr("images", "header says "+u64(n)+" images, more than MaxExamples ("+strconv.Itoa(MaxExamples)+")")
	}
	if rows == 0 || cols == 0 {
		return nil, idxErr("images", "header says images of "+u64(rows)+"x"+u64(cols)+", want both sides at least 1")
	}
	size := rows * cols // both < 2^32: no overflow
	if size > MaxExampleSize {
		return nil, idxErr("images", "header says images of "+u64(rows)+"x"+u64(cols)+", more than MaxExampleSize ("+strconv.Itoa(MaxExampleSize)+") pixels")
	}
	total := n * size // < 2^21 * 2^22: no overflow
	if total > MaxElements {
		return nil, idxErr("images", "header says "+u64(n)+" images of "+u64(rows)+"x"+u64(cols)+", more than MaxElements ("+strconv.Itoa(MaxElements)+") pixels")
	}
	if have := uint64(len(ibody)); have != total {
		what := "truncated"
		if have > total {
			what = "trailing bytes"
		}
		return nil, idxErr("images", what+": header says "+u64(n)+" images of "+u64(rows)+"x"+u64(cols)+
			" ("+u64(total)+" bytes), file has "+u64(have)+" bytes after the header")
	}
	if m := uint64(ldims[0]); m != n {
		return nil, errors.New("data: idx: images file has " + u64(n) + " examples, labels file has " + u64(m))
	}
	if have := uint64(len(lbody)); have != n {
		what := "truncated"
		if have > n {
			what = "trailing bytes"
		}
		return nil, idxErr("labels", what+": header says "+u64(n)+" labels, file has "+u64(have)+" bytes after the header")
	}
	for i, l := range lbody {
		if int(l) >= classes {
			return nil, idxErr("labels", "label "+strconv.Itoa(int(l))+" of example "+strconv.Itoa(i)+
				" is out of range [0,"+strconv.Itoa(classes)+")")
		}
	}
	d := &Dataset{
		Shape:   []int{int(rows), int(cols), 1},
		Classes: classes,
		X:       make([]float32, total),
		Y:       make([]int32, n),
	}
	for i, v := range ibody {
		d.X[i] = pixelScale[v]
	}
	for i, l := range lbody {
		d.Y[i] = int32(l)
	}
	return d, nil
}

// idxHeader checks b's magic and returns its dimensions and the bytes after
// the header.
func idxHeader(file string, b []byte, magic uint32) (dims []uint32, body []byte, err error) {
	if len(b) < 4 {
		return nil, nil, idxErr(file, "truncated header: "+strconv.Itoa(len(b))+" bytes, want at least 4")
	}
	if got := binary.BigEndian.Uint32(b); got != magic {
		return nil, nil, idxErr(file, "wrong magic "+hex32(got)+", want "+hex32(magic))
	}
	nd := int(magic & 0xff)
	hl := 4 + 4*nd
	if len(b) < hl {
		return nil, nil, idxErr(file, "truncated header: "+strconv.Itoa(len(b))+" bytes, want "+strconv.Itoa(hl))
	}
	dims = make([]uint32, nd)
	for i := range dims {
		dims[i] = binary.BigEndian.Uint32(b[4+4*i:])
	}
	return dims, b[hl:], nil
}

// idxInflate returns b, decompressed if it starts with the gzip magic, and at
// most limit (MaxIDXBytes) long.
func idxInflate(file string, b []byte, limit int) ([]byte, error) {
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		if len(b) > limit {
			return nil, idxErr(file, strconv.Itoa(len(b))+" bytes, more than MaxIDXBytes ("+strconv.Itoa(limit)+")")
		}
		return b, nil
	}
	z, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, idxErr(file, "gzip: "+err.Error())
	}
	// The trailer's ISIZE (length mod 2^32 of the last member) is only a
	// hint: it is capped by what deflate can expand b to and by the limit.
	hint := uint64(0)
	if len(b) >= 18 {
		hint = uint64(binary.LittleEndian.Uint32(b[len(b)-4:]))
	}
	hint = min(hint, uint64(len(b))*deflateMaxRatio, uint64(limit))
	out, err := readAllLimited(z, int(hint), limit)
	if err == errTooLarge {
		return nil, idxErr(file, "decompresses to more than MaxIDXBytes ("+strconv.Itoa(limit)+") bytes")
	}
	if err != nil {
		return nil, idxErr(file, "gzip: "+err.Error())
	}
	return out, nil
}

var errTooLarge = errors.New("data: too large")

// readAllLimited reads r to its end into a buffer of initial capacity hint,
// and fails with errTooLarge past limit bytes.
func readAllLimited(r io.Reader, hint, limit int) ([]byte, error) {
	buf := make([]byte, 0, max(hint, 512))
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > limit {
			return nil, errTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func idxErr(file, msg string) error {
	return errors.New("data: idx " + file + ": " + msg)
}

func u64(v uint64) string { return strconv.FormatUint(v, 10) }

func hex32(v uint32) string {
	s := strconv.FormatUint(uint64(v), 16)
	for len(s) < 8 {
		s = "0" + s
	}
	return "0x" + s
}
