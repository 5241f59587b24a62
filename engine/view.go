package engine

import (
	"errors"
	"math"
	"strconv"
)

// Frame is one image from a source: RGBA bytes, row by row, 4 bytes a pixel.
type Frame struct {
	ID            uint64 // increases from frame to frame of one source
	Time          int64  // capture time in nanoseconds (any epoch)
	Width, Height int
	RGBA          []byte
}

// Box is a rectangle in frame pixels: x in [X0, X1), y in [Y0, Y1). It may
// reach past the frame; what lies outside is black.
type Box struct{ X0, Y0, X1, Y1 float32 }

// View describes the input a task makes from a frame: which part (Crop),
// how it is scaled (Fit, Resize), its colours and value range, and its
// layout. Identical views of one frame are made once and shared; Key names
// a view's identity.
type View struct {
	// Crop is "" (the whole frame), "box" (the fixed Box) or the name of a
	// set of boxes another task produces, such as "face": then the box comes
	// with each request.
	Crop string
	Box  Box
	// Square crops the square around the box, its side the box's longer side
	// times Enlarge (0 means 1), centred on the box.
	Square  bool
	Enlarge float32
	// Width and Height are the view's size in pixels.
	Width, Height int
	// Fit is "stretch" (default: the crop fills the view) or "letterbox"
	// (kept aspect ratio, centred, black around).
	Fit string
	// Resize is "bilinear" (default, half-pixel centres), "nearest" or
	// "area" (the average of the source pixels each view pixel covers; the
	// right filter for shrinking, as a canvas draws).
	Resize string
	// Color is "rgb" (default), "bgr" or "gray" (0.2989 R + 0.587 G +
	// 0.114 B, ITU-R BT.601 as Human and OpenCV weigh them).
	Color string
	// Each value is (p - Mean[c]) / Std[c] with p the pixel value in
	// [0, 255] of channel c (gray uses index 0). A zero Std means 1.
	Mean, Std [3]float32
	// Layout is "nhwc" (default) or "nchw".
	Layout string
}

// Limits on views, so that a bad request cannot allocate without bound.
const (
	maxViewSide   = 4096
	maxFrameSide  = 8192
	maxViewPixels = 1 << 22
)

// Channels returns the number of channels of the view: 1 for gray, else 3.
func (v View) Channels() int {
	if v.Color == "gray" {
		return 1
	}
	return 3
}

// Len returns the number of float32 values of one view.
func (v View) Len() int { return v.Width * v.Height * v.Channels() }

// Shape returns the view's shape without the batch dimension: [H, W, C] for
// nhwc, [C, H, W] for nchw.
func (v View) Shape() []int {
	if v.Layout == "nchw" {
		return []int{v.Channels(), v.Height, v.Width}
	}
	return []int{v.Height, v.Width, v.Channels()}
}

// ByBox reports whether the view crops a box that comes with each request.
func (v View) ByBox() bool { return v.Crop != "" && v.Crop != "box" }

// Check returns an error naming what is wrong with the view, if anything.
func (v View) Check() error {
	bad := func(what string) error { return errors.New("engine: view: " + what) }
	if v.Width <= 0 || v.Height <= 0 || v.Width > maxViewSide || v.Height > maxViewSide || v.Width*v.Height > maxViewPixels {
		return bad("size " + strconv.Itoa(v.Width) + "x" + strconv.Itoa(v.Height) + " is outside 1.." + strconv.Itoa(maxViewSide) + " a side")
	}
	switch v.Fit {
	case "", "stretch", "letterbox":
	default:
		return bad("unknown fit " + strconv.Quote(v.Fit) + " (stretch, letterbox)")
	}
	switch v.Resize {
	case "", "bilinear", "nearest", "area":
	default:
		return bad("unknown resize " + strconv.Quote(v.Resize) + " (bilinear, nearest, area)")
	}
	switch v.Color {
	case "", "rgb", "bgr", "gray":
	default:
		return bad("unknown color " + strconv.Quote(v.Color) + " (rgb, bgr, gray)")
	}
	switch v.Layout {
	case "", "nhwc", "nchw":
	default:
		return bad("unknown layout " + strconv.Quote(v.Layout) + " (nhwc, nchw)")
	}
	if v.Crop == "box" {
		if err := checkBox(v.Box); err != nil {
			return err
		}
	}
	if !finite32(v.Enlarge) || v.Enlarge < 0 || v.Enlarge > 16 {
		return bad("enlarge " + ftoa(v.Enlarge) + " is outside 0..16")
	}
	for c := 0; c < 3; c++ {
		if !finite32(v.Mean[c]) || !finite32(v.Std[c]) {
			return bad("mean and std must be finite")
		}
	}
	return nil
}

func checkBox(b Box) error {
	if !finite32(b.X0) || !finite32(b.Y0) || !finite32(b.X1) || !finite32(b.Y1) {
		return errors.New("engine: view: box has a non-finite corner")
	}
	if b.X1 <= b.X0 || b.Y1 <= b.Y0 {
		return errors.New("engine: view: box (" + ftoa(b.X0) + "," + ftoa(b.Y0) + ")-(" + ftoa(b.X1) + "," + ftoa(b.Y1) + ") is empty")
	}
	if b.X1-b.X0 > maxFrameSide*4 || b.Y1-b.Y0 > maxFrameSide*4 {
		return errors.New("engine: view: box is larger than " + strconv.Itoa(maxFrameSide*4) + " pixels a side")
	}
	return nil
}

// Key returns a string that two views share exactly when they make the same
// values from the same frame and box.
func (v View) Key() string {
	b := make([]byte, 0, 96)
	b = append(b, v.Crop...)
	b = append(b, '|')
	if v.Crop == "box" {
		b = appendF(b, v.Box.X0, v.Box.Y0, v.Box.X1, v.Box.Y1)
	}
	if v.Square {
		b = append(b, 's')
		b = appendF(b, v.enlarge())
	}
	b = append(b, '|')
	b = strconv.AppendInt(b, int64(v.Width), 10)
	b = append(b, 'x')
	b = strconv.AppendInt(b, int64(v.Height), 10)
	b = append(b, '|')
	b = append(b, v.fit()...)
	b = append(b, '|')
	b = append(b, v.resize()...)
	b = append(b, '|')
	b = append(b, v.color()...)
	b = append(b, '|')
	for c := 0; c < v.Channels(); c++ {
		b = appendF(b, v.Mean[c], v.std(c))
	}
	b = append(b, '|')
	b = append(b, v.layout()...)
	return string(b)
}

func appendF(b []byte, fs ...float32) []byte {
	for _, f := range fs {
		b = strconv.AppendFloat(b, float64(f), 'g', -1, 32)
		b = append(b, ',')
	}
	return b
}

func ftoa(f float32) string { return strconv.FormatFloat(float64(f), 'g', -1, 32) }

func finite32(f float32) bool { return !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0) }

func (v View) enlarge() float32 {
	if v.Enlarge == 0 {
		return 1
	}
	return v.Enlarge
}

func (v View) std(c int) float32 {
	if v.Std[c] == 0 {
		return 1
	}
	return v.Std[c]
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (v View) fit() string    { return or(v.Fit, "stretch") }
func (v View) resize() string { return or(v.Resize, "bilinear") }
func (v View) color() string  { return or(v.Color, "rgb") }
func (v View) layout() string { return or(v.Layout, "nhwc") }
