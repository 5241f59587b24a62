package data

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, buf.Bytes())
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// grayRow is a w x 1 gray image with the given pixel values.
func grayRow(v ...uint8) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, len(v), 1))
	copy(g.Pix, v)
	return g
}

func near(a, b float32, tol float64) bool { return math.Abs(float64(a)-float64(b)) <= tol }

func TestReadImageFolderGray(t *testing.T) {
	dir := t.TempDir()
	// Classes sorted by name: "cat" (0) before "dog" (1); "zebra" is empty.
	writePNG(t, filepath.Join(dir, "dog", "b.png"), grayRow(0, 255))
	writePNG(t, filepath.Join(dir, "dog", "a.PNG"), grayRow(51, 102, 153, 204))
	rgb := image.NewRGBA(image.Rect(0, 0, 4, 1))
	for x := range 4 {
		rgb.Set(x, 0, color.RGBA{255, 0, 0, 255}) // pure red: luma 0.299
	}
	writePNG(t, filepath.Join(dir, "cat", "red.png"), rgb)
	writeFile(t, filepath.Join(dir, "cat", "notes.txt"), []byte("not an image"))
	writeFile(t, filepath.Join(dir, "cat", ".hidden.png"), []byte("skipped"))
	writePNG(t, filepath.Join(dir, "cat", "deeper", "x.png"), grayRow(1, 2, 3, 4))
	writeFile(t, filepath.Join(dir, "README"), []byte("top-level file, skipped"))
	if err := os.MkdirAll(filepath.Join(dir, "zebra"), 0o755); err != nil {
		t.Fatal(err)
	}

	d, err := ReadImageFolder(dir, []int{1, 4, 1}, true)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Labels, []string{"cat", "dog", "zebra"}) || d.Classes != 3 || d.Len() != 3 || !slices.Equal(d.Shape, []int{1, 4, 1}) {
		t.Fatalf("Labels %v Classes %d Len %d Shape %v", d.Labels, d.Classes, d.Len(), d.Shape)
	}
	if !slices.Equal(d.Y, []int32{0, 1, 1}) {
		t.Errorf("Y = %v, want [0 1 1] (cat/red, dog/a, dog/b)", d.Y)
	}
	want := [][]float32{
		{0.299, 0.299, 0.299, 0.299}, // red's ITU-R 601 luma
		{0.2, 0.4, 0.6, 0.8},         // same size: v/255 exactly
		{0, 0.25, 0.75, 1},           // 2 -> 4 bilinear, half-pixel centres, clamped at the borders
	}
	for i, w := range want {
		x, _ := d.Example(i)
		for j := range w {
			if !near(x[j], w[j], 1e-4) {
				t.Errorf("example %d: %v, want %v", i, x, w)
				break
			}
		}
	}
	if x, _ := d.Example(1); x[0] != float32(51)/255 {
		t.Errorf("gray 51 read as %v, want exactly 51/255", x[0])
	}
}

func TestReadImageFolderRGB(t *testing.T) {
	dir := t.TempDir()
	// 2x2 NRGBA with a half-transparent white pixel: composited over black.
	img := image.NewNRGBA(image.Rect(0, 0, 2, 2))
	img.Set(0, 0, color.NRGBA{255, 0, 0, 255})
	img.Set(1, 0, color.NRGBA{0, 255, 0, 255})
	img.Set(0, 1, color.NRGBA{0, 0, 255, 255})
	img.Set(1, 1, color.NRGBA{255, 255, 255, 128})
	writePNG(t, filepath.Join(dir, "a", "1.png"), img)
	// A uniform JPEG, upscaled 8x8 -> 2x2 channels preserved.
	u := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for y := range 8 {
		for x := range 8 {
			u.Set(x, y, color.RGBA{200, 100, 50, 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, u, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "b", "u.jpeg"), buf.Bytes())

	d, err := ReadImageFolder(dir, []int{2, 2, 3}, false)
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 2 || !slices.Equal(d.Y, []int32{0, 1}) {
		t.Fatalf("Len %d Y %v", d.Len(), d.Y)
	}
	x, _ := d.Example(0)
	half := float32(128*257) / 65535
	wantX := []float32{1, 0, 0, 0, 1, 0, 0, 0, 1, half, half, half}
	for j := range wantX {
		if !near(x[j], wantX[j], 1e-6) {
			t.Fatalf("PNG example %v, want %v", x, wantX)
		}
	}
	x, _ = d.Example(1)
	for j, c := range []float32{200, 100, 50, 200} {
		if !near(x[j], c/255, 3.0/255) {
			t.Fatalf("JPEG example %v, want about (200,100,50)/255 everywhere", x)
		}
	}
}

// pngHeaderClaiming returns a valid PNG whose IHDR claims w x h pixels.
func pngHeaderClaiming(t *testing.T, w, h uint32) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, grayRow(1)); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	// Signature (8), IHDR length and type (8), then width and height.
	binary.BigEndian.PutUint32(b[16:], w)
	binary.BigEndian.PutUint32(b[20:], h)
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	return b
}

func TestReadImageFolderRejects(t *testing.T) {
	good := func(t *testing.T, dir string) { writePNG(t, filepath.Join(dir, "c", "ok.png"), grayRow(1, 2)) }
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string)
		shape []int
		gray  bool
		want  string // "%s" stands for the folder
	}{
		{"gray shape", good, []int{2, 2, 3}, true, "shape [2 2 3], want [height width 1] (gray=true)"},
		{"rgb shape", good, []int{2, 2, 1}, false, "shape [2 2 1], want [height width 3] (gray=false)"},
		{"rank", good, []int{2, 2}, true, "shape [2 2], want [height width 1]"},
		{"zero side", good, []int{0, 2, 1}, true, "shape [0 2 1], want"},
		{"huge shape", good, []int{4096, 4096, 1}, true, "shape [4096 4096 1] is more than MaxExampleSize (4194304) values"},
		{"no classes", func(t *testing.T, dir string) { writePNG(t, filepath.Join(dir, "top.png"), grayRow(1)) }, []int{1, 1, 1}, true, "image folder %s: no class subfolders"},
		{"no images", func(t *testing.T, dir string) { writeFile(t, filepath.Join(dir, "c", "a.txt"), nil) }, []int{1, 1, 1}, true, "image folder %s: no .png, .jpg or .jpeg images in its 1 class folders"},
		{"undecodable", func(t *testing.T, dir string) {
			good(t, dir)
			writeFile(t, filepath.Join(dir, "c", "bad.jpg"), []byte("\xff\xd8 not really a jpeg"))
		}, []int{1, 2, 1}, true, "%s/c/bad.jpg: cannot decode"},
		{"text as png", func(t *testing.T, dir string) { writeFile(t, filepath.Join(dir, "c", "t.png"), []byte("hello")) }, []int{1, 2, 1}, true, "%s/c/t.png: cannot decode: image: unknown format"},
		{"truncated png", func(t *testing.T, dir string) {
			var buf bytes.Buffer
			png.Encode(&buf, grayRow(1, 2, 3))
			writeFile(t, filepath.Join(dir, "c", "cut.png"), buf.Bytes()[:buf.Len()-20])
		}, []int{1, 2, 1}, true, "%s/c/cut.png: cannot decode png: "},
		{"too many pixels", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "c", "big.png"), pngHeaderClaiming(t, 100000, 100000))
		}, []int{1, 2, 1}, true, "%s/c/big.png: png of 100000x100000 pixels, more than MaxImagePixels (16777216)"},
		{"file too large", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "c", "huge.png")
			writeFile(t, p, nil)
			if err := os.Truncate(p, MaxImageFileBytes+1); err != nil { // sparse: costs no disk
				t.Fatal(err)
			}
		}, []int{1, 2, 1}, true, "%s/c/huge.png: 67108865 bytes, more than the limit of 67108864"},
		{"too many values", func(t *testing.T, dir string) {
			for i := range 65 {
				writePNG(t, filepath.Join(dir, "c", strconv.Itoa(i)+".png"), grayRow(1))
			}
		}, []int{2048, 2048, 1}, true, "image folder %s: 65 images of [2048 2048 1] are more than MaxElements (268435456) values"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(t, dir)
			d, err := ReadImageFolder(dir, tc.shape, tc.gray)
			if err == nil {
				t.Fatalf("no error, %d examples", d.Len())
			}
			want := strings.ReplaceAll(tc.want, "%s", dir)
			if !strings.HasPrefix(err.Error(), "data: image folder") || !strings.Contains(err.Error(), want) {
				t.Errorf("error %q, want it to contain %q", err, want)
			}
		})
	}

	_, err := ReadImageFolder(filepath.Join(t.TempDir(), "missing"), []int{1, 1, 1}, true)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing folder: %v, want fs.ErrNotExist", err)
	}
}

// TestListImageFolderLimits runs the class and file limits at small values
// (the real ones take 65,537 folders or 2^21 files to reach).
func TestListImageFolderLimits(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"a/1.png", "a/2.jpg", "b/3.jpeg", "c/4.png"} {
		writeFile(t, filepath.Join(dir, p), nil)
	}
	labels, files, ys, err := listImageFolder(dir, 3, 4)
	if err != nil || len(labels) != 3 || len(files) != 4 || !slices.Equal(ys, []int32{0, 0, 1, 2}) {
		t.Fatalf("at the limits: %v %v %v %v", labels, files, ys, err)
	}
	if _, _, _, err := listImageFolder(dir, 2, 4); err == nil || err.Error() != "data: image folder "+dir+": more than 2 class folders (MaxClasses)" {
		t.Errorf("classes: %v", err)
	}
	if _, _, _, err := listImageFolder(dir, 3, 3); err == nil || err.Error() != "data: image folder "+dir+": more than 3 images (MaxExamples)" {
		t.Errorf("files: %v", err)
	}
	// Root reads any folder, so this part runs only for other users.
	if err := os.Chmod(filepath.Join(dir, "c"), 0); err == nil && os.Getuid() != 0 {
		if _, _, _, err := listImageFolder(dir, 9, 9); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("unreadable class folder: %v", err)
		}
	}
}
