package data

import (
	"bytes"
	"errors"
	"image"
	_ "image/jpeg" // registers JPEG with image.Decode
	_ "image/png"  // registers PNG with image.Decode
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/edgenn/edgenn/kernels"
)

// Limits on one image file that ReadImageFolder reads.
const (
	MaxImageFileBytes = 64 << 20 // bytes of one PNG or JPEG file
	MaxImagePixels    = 1 << 24  // width*height of one decoded image
)

// ReadImageFolder reads a labelled image dataset laid out as one subfolder
// of dir per class: the subfolders' names, sorted, are the classes (index i
// is Labels[i]), and each holds that class's images as .png, .jpg or .jpeg
// files (any letter case; the content decides the decoder). Other files,
// names starting with a dot, and deeper folders are skipped; a class folder
// may be empty.
//
// shape is one example's [height, width, channels]: channels 1 with gray,
// 3 without. Each image is converted to [0,1] (gray as ITU-R 601 luma,
// 0.299R+0.587G+0.114B, computed on 16-bit values; transparency composited
// over black) and resized to height x width with kernels.Resize in bilinear
// half-pixel mode, the TF.js resizeBilinear rule, so that training sees
// images prepared as inference prepares them (like it, a large reduction
// samples rather than averages). Examples follow class order, then file
// name order.
//
// The error names the file that cannot be read or decoded, or the limit
// (MaxExamples, MaxClasses, MaxElements, MaxImageFileBytes, MaxImagePixels)
// that the folder exceeds; sizes are checked before anything is allocated
// for them.
func ReadImageFolder(dir string, shape []int, gray bool) (*Dataset, error) {
	channels := 3
	if gray {
		channels = 1
	}
	if len(shape) != 3 || shape[0] < 1 || shape[1] < 1 || shape[2] != channels {
		return nil, errors.New("data: image folder: shape " + intsString(shape) + ", want [height width " + strconv.Itoa(channels) + "] (gray=" + strconv.FormatBool(gray) + ")")
	}
	if shape[0] > MaxExampleSize || shape[1] > MaxExampleSize || shape[0]*shape[1]*channels > MaxExampleSize {
		return nil, errors.New("data: image folder: shape " + intsString(shape) + " is more than MaxExampleSize (" + strconv.Itoa(MaxExampleSize) + ") values")
	}
	labels, files, ys, err := listImageFolder(dir, MaxClasses, MaxExamples)
	if err != nil {
		return nil, err
	}
	if len(labels) == 0 {
		return nil, errors.New("data: image folder " + dir + ": no class subfolders")
	}
	if len(files) == 0 {
		return nil, errors.New("data: image folder " + dir + ": no .png, .jpg or .jpeg images in its " + strconv.Itoa(len(labels)) + " class folders")
	}
	size := shape[0] * shape[1] * channels
	if len(files)*size > MaxElements {
		return nil, errors.New("data: image folder " + dir + ": " + strconv.Itoa(len(files)) + " images of " + intsString(shape) +
			" are more than MaxElements (" + strconv.Itoa(MaxElements) + ") values")
	}
	d := &Dataset{
		Shape:   []int{shape[0], shape[1], channels},
		Classes: len(labels),
		Labels:  labels,
		X:       make([]float32, len(files)*size),
		Y:       ys,
	}
	for i, p := range files {
		if err := readImage(p, shape[0], shape[1], gray, d.X[i*size:(i+1)*size]); err != nil {
			return nil, wrap("data: image folder: ", err)
		}
	}
	return d, nil
}

// listImageFolder returns dir's class names and its image files with their
// class indices, failing past maxClasses classes or maxFiles files.
func listImageFolder(dir string, maxClasses, maxFiles int) (labels, files []string, ys []int32, err error) {
	top, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, nil, wrap("data: image folder: ", err)
	}
	for _, e := range top {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if len(labels) == maxClasses {
			return nil, nil, nil, errors.New("data: image folder " + dir + ": more than " + strconv.Itoa(maxClasses) + " class folders (MaxClasses)")
		}
		class := int32(len(labels))
		labels = append(labels, e.Name())
		entries, err := os.ReadDir(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, nil, nil, wrap("data: image folder: ", err)
		}
		for _, f := range entries {
			name := f.Name()
			if f.IsDir() || strings.HasPrefix(name, ".") || !isImageName(name) {
				continue
			}
			if len(files) == maxFiles {
				return nil, nil, nil, errors.New("data: image folder " + dir + ": more than " + strconv.Itoa(maxFiles) + " images (MaxExamples)")
			}
			files = append(files, filepath.Join(dir, e.Name(), name))
			ys = append(ys, class)
		}
	}
	return labels, files, ys, nil
}

// readImage decodes the image file at path into x [oh, ow, c] in [0,1].
func readImage(path string, oh, ow int, gray bool, x []float32) error {
	b, err := readFile(path, MaxImageFileBytes)
	if err != nil {
		return err
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return errors.New(path + ": cannot decode: " + err.Error())
	}
	if cfg.Width < 1 || cfg.Height < 1 || cfg.Width > MaxImagePixels/cfg.Height {
		return errors.New(path + ": " + format + " of " + strconv.Itoa(cfg.Width) + "x" + strconv.Itoa(cfg.Height) +
			" pixels, more than MaxImagePixels (" + strconv.Itoa(MaxImagePixels) + ") or empty")
	}
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return errors.New(path + ": cannot decode " + format + ": " + err.Error())
	}
	r := img.Bounds()
	w, h := r.Dx(), r.Dy()
	c := 3
	if gray {
		c = 1
	}
	src := x
	if w != ow || h != oh {
		src = make([]float32, w*h*c)
	}
	toFloat(img, gray, src)
	if w != ow || h != oh {
		z, err := kernels.NewResize(1, h, w, c, oh, ow, "bilinear", "half_pixel")
		if err != nil {
			return errors.New(path + ": " + err.Error())
		}
		z.Run(src, x)
	}
	return nil
}

// toFloat writes img's pixels into x [h, w, c] (c = 1 with gray, else 3) in
// [0,1].
func toFloat(img image.Image, gray bool, x []float32) {
	r := img.Bounds()
	if g, ok := img.(*image.Gray); ok && gray {
		i := 0
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for _, v := range g.Pix[g.PixOffset(r.Min.X, y) : g.PixOffset(r.Min.X, y)+r.Dx()] {
				x[i] = pixelScale[v]
				i++
			}
		}
		return
	}
	i := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for px := r.Min.X; px < r.Max.X; px++ {
			cr, cg, cb, _ := img.At(px, y).RGBA() // 16-bit, alpha-premultiplied
			if gray {
				// Go's color.GrayModel weights (sum 65536), kept at 16 bits.
				l := (19595*cr + 38470*cg + 7471*cb + 1<<15) >> 16
				x[i] = float32(l) / 65535
				i++
				continue
			}
			x[i], x[i+1], x[i+2] = float32(cr)/65535, float32(cg)/65535, float32(cb)/65535
			i += 3
		}
	}
}

func isImageName(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".png", ".jpg", ".jpeg":
		return true
	}
	return false
}

func intsString(s []int) string {
	parts := make([]string, len(s))
	for i, v := range s {
		parts[i] = strconv.Itoa(v)
	}
	return "[" + strings.Join(parts, " ") + "]"
}
