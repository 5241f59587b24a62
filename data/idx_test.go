package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"runtime"
	"strings"
	"testing"
)

// idxFile builds an idx file: magic, dims, then body.
func idxFile(magic uint32, dims []uint32, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, magic)
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, d)
	}
	return append(b, body...)
}

func gz(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tinyIDX is 3 images of 2x2 and their labels.
func tinyIDX() (images, labels []byte) {
	pix := []byte{0, 255, 128, 1, 2, 3, 4, 5, 250, 251, 252, 253}
	return idxFile(0x803, []uint32{3, 2, 2}, pix), idxFile(0x801, []uint32{3}, []byte{2, 0, 9})
}

func TestReadIDX(t *testing.T) {
	images, labels := tinyIDX()
	for _, tc := range []struct {
		name           string
		images, labels []byte
	}{
		{"raw", images, labels},
		{"gzip", gz(t, images), gz(t, labels)},
		{"gzip images only", gz(t, images), labels},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ReadIDX(tc.images, tc.labels, 10)
			if err != nil {
				t.Fatal(err)
			}
			if d.Len() != 3 || d.Size() != 4 || d.Classes != 10 || intsString(d.Shape) != "[2 2 1]" {
				t.Fatalf("Len %d Size %d Classes %d Shape %v", d.Len(), d.Size(), d.Classes, d.Shape)
			}
			pix := images[16:]
			for i, v := range pix {
				if want := float32(float64(v) / 255); d.X[i] != want {
					t.Errorf("X[%d] = %v, want %v", i, d.X[i], want)
				}
			}
			if d.X[1] != 1 || d.X[0] != 0 {
				t.Errorf("0 and 255 map to %v and %v, want 0 and 1", d.X[0], d.X[1])
			}
			if want := []int32{2, 0, 9}; d.Y[0] != want[0] || d.Y[1] != want[1] || d.Y[2] != want[2] {
				t.Errorf("Y = %v, want %v", d.Y, want)
			}
		})
	}
}

func TestReadIDXEmpty(t *testing.T) {
	d, err := ReadIDX(idxFile(0x803, []uint32{0, 28, 28}, nil), idxFile(0x801, []uint32{0}, nil), 10)
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 0 || len(d.X) != 0 || d.Size() != 28*28 {
		t.Fatalf("Len %d len(X) %d Size %d", d.Len(), len(d.X), d.Size())
	}
}

// rejectCases are bad inputs and a part of the error each must give; they
// also seed FuzzReadIDX.
func rejectCases(t testing.TB) []struct {
	name           string
	images, labels []byte
	classes        int
	want           string
} {
	images, labels := tinyIDX()
	huge := idxFile(0x803, []uint32{0xffffffff, 0xffffffff, 0xffffffff}, nil)
	trunc := func(b []byte, n int) []byte { return b[:n:n] }
	gzImages := gz(t, images)
	return []struct {
		name           string
		images, labels []byte
		classes        int
		want           string
	}{
		{"classes 0", images, labels, 0, "0 classes, want 1 to 256"},
		{"classes 257", images, labels, 257, "257 classes, want 1 to 256"},
		{"empty images", nil, labels, 10, "idx images: truncated header: 0 bytes, want at least 4"},
		{"empty labels", images, nil, 10, "idx labels: truncated header: 0 bytes, want at least 4"},
		{"images magic", idxFile(0x804, []uint32{3, 2, 2, 1}, images[16:]), labels, 10, "idx images: wrong magic 0x00000804, want 0x00000803"},
		{"files swapped", labels, images, 10, "idx images: wrong magic 0x00000801, want 0x00000803"},
		{"labels magic", images, idxFile(0x0d01, []uint32{3}, []byte{2, 0, 9}), 10, "idx labels: wrong magic 0x00000d01, want 0x00000801"},
		{"truncated images header", trunc(images, 11), labels, 10, "idx images: truncated header: 11 bytes, want 16"},
		{"truncated labels header", images, trunc(labels, 7), 10, "idx labels: truncated header: 7 bytes, want 8"},
		{"truncated images", trunc(images, len(images)-1), labels, 10, "idx images: truncated: header says 3 images of 2x2 (12 bytes), file has 11 bytes after the header"},
		{"trailing images", append(append([]byte{}, images...), 0), labels, 10, "idx images: trailing bytes: header says 3 images of 2x2 (12 bytes), file has 13"},
		{"truncated labels", images, trunc(labels, len(labels)-1), 10, "idx labels: truncated: header says 3 labels, file has 2 bytes"},
		{"trailing labels", images, append(append([]byte{}, labels...), 1), 10, "idx labels: trailing bytes: header says 3 labels, file has 4"},
		{"count mismatch", images, idxFile(0x801, []uint32{2}, []byte{1, 2}), 10, "images file has 3 examples, labels file has 2"},
		{"label out of range", images, idxFile(0x801, []uint32{3}, []byte{1, 10, 2}), 10, "idx labels: label 10 of example 1 is out of range [0,10)"},
		{"label 255 of 255 classes", images, idxFile(0x801, []uint32{3}, []byte{1, 2, 255}), 255, "label 255 of example 2 is out of range [0,255)"},
		{"zero rows", idxFile(0x803, []uint32{3, 0, 2}, nil), labels, 10, "images of 0x2, want both sides at least 1"},
		{"huge count", huge, labels, 10, "header says 4294967295 images, more than MaxExamples (2097152)"},
		{"huge image", idxFile(0x803, []uint32{1, 0xffffffff, 0xffffffff}, nil), labels, 10, "images of 4294967295x4294967295, more than MaxExampleSize (4194304) pixels"},
		{"huge total", idxFile(0x803, []uint32{1 << 20, 2048, 2048}, nil), labels, 10, "header says 1048576 images of 2048x2048, more than MaxElements (268435456) pixels"},
		{"large claim few bytes", idxFile(0x803, []uint32{60000, 28, 28}, []byte{1, 2, 3}), labels, 10, "idx images: truncated: header says 60000 images of 28x28 (47040000 bytes), file has 3 bytes"},
		{"gzip huge claim", gz(t, idxFile(0x803, []uint32{60000, 28, 28}, nil)), labels, 10, "header says 60000 images of 28x28 (47040000 bytes), file has 0 bytes"},
		{"gzip truncated", trunc(gzImages, len(gzImages)-5), labels, 10, "idx images: gzip: unexpected EOF"},
		{"gzip bad header", []byte{0x1f, 0x8b, 0, 0}, labels, 10, "idx images: gzip: unexpected EOF"},
		{"gzip garbage", append([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}, bytes.Repeat([]byte{0xff}, 20)...), labels, 10, "idx images: gzip: flate: corrupt input"},
		{"gzip labels truncated", images, trunc(gz(t, labels), 15), 10, "idx labels: gzip: unexpected EOF"},
		{"gzip trailing garbage", append(append([]byte{}, gzImages...), 1, 2, 3), labels, 10, "idx images: gzip: "},
	}
}

func TestReadIDXRejects(t *testing.T) {
	for _, tc := range rejectCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ReadIDX(tc.images, tc.labels, tc.classes)
			if err == nil {
				t.Fatalf("no error, got %d examples", d.Len())
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "data: idx") {
				t.Errorf("error %q, want it to start with \"data: idx\" and contain %q", err, tc.want)
			}
		})
	}
}

// TestReadIDXHostileAllocates checks that a header claiming a large file
// allocates nothing near its claim before the bytes disprove it.
func TestReadIDXHostileAllocates(t *testing.T) {
	_, labels := tinyIDX()
	for _, images := range [][]byte{
		idxFile(0x803, []uint32{1 << 20, 16, 16}, nil),          // 256 MiB claimed
		gz(t, idxFile(0x803, []uint32{1 << 20, 16, 16}, nil)),   // same, compressed
		gz(t, idxFile(0x803, []uint32{1 << 21, 16, 8}, nil))[:], // and another shape
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if _, err := ReadIDX(images, labels, 10); err == nil {
			t.Fatal("no error")
		}
		runtime.ReadMemStats(&after)
		if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
			t.Errorf("rejecting a %d-byte file allocated %d bytes", len(images), got)
		}
	}
}

func TestReadAllLimited(t *testing.T) {
	src := bytes.Repeat([]byte{7}, 5000)
	for _, tc := range []struct {
		hint, limit int
		ok          bool
	}{
		{0, 5000, true}, {100, 5000, true}, {5001, 5000, true}, {0, 4999, false}, {10000, 4999, false},
	} {
		b, err := readAllLimited(bytes.NewReader(src), tc.hint, tc.limit)
		if tc.ok && (err != nil || !bytes.Equal(b, src)) {
			t.Errorf("hint %d limit %d: %d bytes, %v", tc.hint, tc.limit, len(b), err)
		}
		if !tc.ok && err != errTooLarge {
			t.Errorf("hint %d limit %d: err %v, want errTooLarge", tc.hint, tc.limit, err)
		}
	}
}

func TestHex32(t *testing.T) {
	for v, want := range map[uint32]string{0: "0x00000000", 0x803: "0x00000803", 0xdeadbeef: "0xdeadbeef"} {
		if got := hex32(v); got != want {
			t.Errorf("hex32(%#x) = %s, want %s", v, got, want)
		}
	}
}

// FuzzReadIDX checks that ReadIDX never panics and that whatever it accepts
// is a well-formed dataset that holds exactly the file's bytes.
func FuzzReadIDX(f *testing.F) {
	images, labels := tinyIDX()
	f.Add(images, labels, uint16(10))
	f.Add(gz(f, images), gz(f, labels), uint16(10))
	f.Add(idxFile(0x803, []uint32{0, 5, 5}, nil), idxFile(0x801, []uint32{0}, nil), uint16(1))
	for n := 0; n < len(images); n += 3 {
		f.Add(images[:n], labels, uint16(10))
	}
	for n := 0; n < len(labels); n++ {
		f.Add(images, labels[:n], uint16(10))
	}
	for _, tc := range rejectCases(f) {
		f.Add(tc.images, tc.labels, uint16(tc.classes))
	}
	f.Fuzz(func(t *testing.T, images, labels []byte, classes uint16) {
		d, err := ReadIDX(images, labels, int(classes))
		if err != nil {
			if d != nil || !strings.HasPrefix(err.Error(), "data: idx") {
				t.Fatalf("error %q with dataset %v", err, d != nil)
			}
			return
		}
		if len(d.Shape) != 3 || d.Shape[2] != 1 || d.Classes != int(classes) || len(d.X) != d.Len()*d.Size() {
			t.Fatalf("Shape %v Classes %d len(X) %d Len %d", d.Shape, d.Classes, len(d.X), d.Len())
		}
		img, _ := idxInflate("images", images, MaxIDXBytes)
		lab, _ := idxInflate("labels", labels, MaxIDXBytes)
		for i, v := range img[16:] {
			if d.X[i] != pixelScale[v] {
				t.Fatalf("X[%d] = %v, file byte %d", i, d.X[i], v)
			}
		}
		for i, l := range lab[8:] {
			if d.Y[i] != int32(l) || int(l) >= d.Classes {
				t.Fatalf("Y[%d] = %d, file byte %d, classes %d", i, d.Y[i], l, d.Classes)
			}
		}
	})
}

// TestIDXInflateLimit runs the size limit at a small value (the real one is
// 256 MiB).
func TestIDXInflateLimit(t *testing.T) {
	images, _ := tinyIDX() // 28 bytes
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"raw", images, "data: idx images: 28 bytes, more than MaxIDXBytes (27)"},
		{"gzip", gz(t, images), "data: idx images: decompresses to more than MaxIDXBytes (27) bytes"},
	} {
		if _, err := idxInflate("images", tc.b, 27); err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
		if b, err := idxInflate("images", tc.b, 28); err != nil || !bytes.Equal(b, images) {
			t.Errorf("%s at the limit: %v", tc.name, err)
		}
	}
}
