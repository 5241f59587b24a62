//go:build !js

package main

// The Faces page end to end: @vladmandic/human 3.3.6's BlazeFace and emotion
// models, imported with model/tfjs, served by the real host, and a real photo
// (scikit-image's astronaut.png: Eileen Collins, smiling, one face) chosen
// through the page's file input in headless Chromium. The page's results
// are checked three ways: against where the face is; against the native
// engine run on the very inputs the page made (the wasm in the workers and
// the page's decoding must agree with it to float precision); and against
// inputs this test makes from the PNG itself (the page's pixel work: the
// letterbox, the value ranges, the channel order and the grey crop).
//
// Needs scripts/fetch_tfjs_models.sh (.cache/human-models) and
// scripts/fetch_photos.sh (.cache/photos); without them the test fails
// unless EDGENN_SKIP_BROWSER=1 or EDGENN_SKIP_IMPORT_REFS=1.

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/edgenn/edgenn/engine"
	"github.com/edgenn/edgenn/model"
	"github.com/edgenn/edgenn/model/tfjs"
)

const (
	facesPhoto  = ".cache/photos/astronaut.png"
	facesModels = ".cache/human-models"
	// What Human's BlazeFace (front camera model, 256x256) decodes with.
	facesPostprocess = "blazeface input=256 strides=16,32 anchors=2,6 keypoints=6"
	// Human's emotion classes, in its model's output order.
	facesEmotions = "angry,disgust,fear,happy,sad,surprise,neutral"
)

// facesResult is window.__edgenn_demo.faces.last, with the page's inputs.
type facesResult struct {
	Width, Height int
	Fit           struct{ Size, Scale, Dx, Dy float64 }
	Faces         []struct {
		Score     float64
		Box       [4]float64
		Keypoints [][2]float64
		Crop      [3]float64
		Emotion   string
		Prob      float64
		Probs     []float64
	}
	Labels                               []string
	DetectMs, EmotionMs, PrepMs, TotalMs float64
	DetectorInput                        []float32
	EmotionInputs                        [][]float32
}

// facesEnv prepares the face models as `make run` converts them and opens
// the Faces page on a host that serves them, in a Chromium with extra
// options; it fails when the photo or the models have not been fetched.
func facesEnv(t *testing.T, extra ...chromedp.ExecAllocatorOption) (e *e2eEnv, detector, emotion *model.Graph) {
	t.Helper()
	for _, f := range []struct{ path, how string }{
		{facesPhoto, "scripts/fetch_photos.sh"},
		{facesModels + "/blazeface.json", "scripts/fetch_tfjs_models.sh"},
		{facesModels + "/emotion.json", "scripts/fetch_tfjs_models.sh"},
	} {
		if _, err := os.Stat(filepath.Join(e2eRoot, f.path)); err != nil {
			if os.Getenv("EDGENN_SKIP_BROWSER") == "1" || os.Getenv("EDGENN_SKIP_IMPORT_REFS") == "1" {
				t.Skipf("%s is missing (%s fetches it), and EDGENN_SKIP_BROWSER or EDGENN_SKIP_IMPORT_REFS is set", f.path, f.how)
			}
			t.Fatalf("%s is missing: run %s (or set EDGENN_SKIP_IMPORT_REFS=1 to skip this test)", f.path, f.how)
		}
	}
	detector = facesImport(t, "blazeface.json", map[string]string{engine.PostprocessKey: facesPostprocess})
	emotion = facesImport(t, "emotion.json", map[string]string{"labels": facesEmotions})

	// The host serves a models folder of the digits model (the app starts
	// with it) and the two face models, as `make run` converts them.
	dir := t.TempDir()
	for name, g := range map[string]*model.Graph{"blazeface.enn": detector, "emotion.enn": emotion} {
		data, err := model.Encode(g)
		if err != nil {
			t.Fatalf("encoding %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e = newE2EWith(t, extra, "www/models/digits.enn", facesRel(t, dir, "blazeface.enn"), facesRel(t, dir, "emotion.enn"))
	e.open("#faces")
	e.wait("the face models", `["ready", "missing", "failed"].includes(document.getElementById("faces-result").dataset.state)`, 30*time.Second)
	var st string
	e.eval(`document.getElementById("faces-result").dataset.state`, &st)
	if st != "ready" {
		var note string
		e.eval(`document.getElementById("faces-missing").textContent`, &note)
		t.Fatalf("the Faces page is %q, not ready: %s", st, note)
	}
	return e, detector, emotion
}

func TestE2EFaces(t *testing.T) {
	e, detector, emotion := facesEnv(t)

	photo, err := filepath.Abs(filepath.Join(e2eRoot, facesPhoto))
	if err != nil {
		t.Fatal(err)
	}
	e.run("choosing the photo", chromedp.SetUploadFiles(chromedp.CSS("#faces-file"), []string{photo}))
	e.wait("the faces", `(d => d.state === "done" && d.seq === "1")(document.getElementById("faces-result").dataset)`, 60*time.Second)
	var got facesResult
	e.eval(`(() => {
		const f = window.__edgenn_demo.faces;
		return { ...f.last, detectorInput: Array.from(f.inputs.detector), emotionInputs: f.inputs.emotion.map((g) => Array.from(g)) };
	})()`, &got)
	var attrs map[string]string
	e.eval(`({...document.getElementById("faces-result").dataset})`, &attrs)

	if got.Width != 512 || got.Height != 512 {
		t.Fatalf("the page analysed a %dx%d image, the photo is 512x512", got.Width, got.Height)
	}
	if len(got.Faces) != 1 {
		t.Fatalf("the page found %d faces, want 1 (the astronaut's): %+v", len(got.Faces), got.Faces)
	}
	f := got.Faces[0]
	t.Logf("e2e: faces: box (%.1f, %.1f)-(%.1f, %.1f) px, score %.3f, %s %.1f%%, probabilities %v (%v); detect %.1f ms, emotion %.1f ms, whole frame %.1f ms",
		f.Box[0], f.Box[1], f.Box[2], f.Box[3], f.Score, f.Emotion, 100*f.Prob, f.Probs, got.Labels, got.DetectMs, got.EmotionMs, got.TotalMs)

	// Where she is: her face (brows to chin, ear to ear) is about x 170..280,
	// y 60..200 of the 512x512 photo. The box must hold most of it and not
	// much else.
	inRange := func(what string, v, lo, hi float64) {
		if v < lo || v > hi {
			t.Errorf("the face box's %s is %.1f px, want it in [%v, %v]", what, v, lo, hi)
		}
	}
	inRange("left", f.Box[0], 150, 200)
	inRange("top", f.Box[1], 40, 110)
	inRange("right", f.Box[2], 250, 300)
	inRange("bottom", f.Box[3], 160, 220)
	if f.Score < 0.8 {
		t.Errorf("face score %.3f, want a confident detection (>= 0.8)", f.Score)
	}
	if len(f.Keypoints) != 6 {
		t.Errorf("%d keypoints, want 6", len(f.Keypoints))
	}
	if box := fmt.Sprintf("%.1f,%.1f,%.1f,%.1f", f.Box[0], f.Box[1], f.Box[2], f.Box[3]); attrs["faces"] != "1" || attrs["topEmotion"] != f.Emotion || attrs["box"] != box {
		t.Errorf("the page's data attributes say faces=%q top-emotion=%q box=%q; its state: 1 face, %s, %s", attrs["faces"], attrs["topEmotion"], attrs["box"], f.Emotion, box)
	}
	// She is smiling.
	if f.Emotion != "happy" {
		t.Errorf("the page reads %q (%.1f%%) on a smiling face, want happy; probabilities %v", f.Emotion, 100*f.Prob, f.Probs)
	}
	if !(got.DetectMs > 0 && got.EmotionMs > 0) {
		t.Errorf("timings: detect %v ms, emotion %v ms", got.DetectMs, got.EmotionMs)
	}

	// The workers and the page's decoding against the native engine, on the
	// page's own inputs: the same numbers up to float rounding.
	dets := facesDetect(t, detector, got.DetectorInput)
	if len(dets) != 1 {
		t.Fatalf("the native engine finds %d faces in the page's detector input, want 1", len(dets))
	}
	toImage := func(u, v float64) (float64, float64) {
		x := (u*got.Fit.Size - got.Fit.Dx) / got.Fit.Scale
		y := (v*got.Fit.Size - got.Fit.Dy) / got.Fit.Scale
		return min(max(x, 0), float64(got.Width)), min(max(y, 0), float64(got.Height))
	}
	x0, y0 := toImage(float64(dets[0].Box[0]), float64(dets[0].Box[1]))
	x1, y1 := toImage(float64(dets[0].Box[2]), float64(dets[0].Box[3]))
	native := [4]float64{x0, y0, x1, y1}
	for i := range native {
		if math.Abs(native[i]-f.Box[i]) > 0.01 {
			t.Errorf("the page's box %v px, the native engine's on the same input %v px", f.Box, native)
			break
		}
	}
	if math.Abs(float64(dets[0].Score)-f.Score) > 1e-4 {
		t.Errorf("the page's face score %.6f, the native engine's %.6f", f.Score, dets[0].Score)
	}
	probs := facesRun(t, emotion, got.EmotionInputs[0])
	for i, p := range probs {
		if math.Abs(float64(p)-f.Probs[i]) > 1e-4 {
			t.Errorf("the page's emotion probabilities %v, the native engine's on the same crop %v", f.Probs, probs)
			break
		}
	}

	// The page's pixel work against this test's, made from the PNG with a
	// box filter: the browser's resampling differs a little, a channel or
	// range mistake a lot.
	img := facesDecode(t, filepath.Join(e2eRoot, facesPhoto))
	side := int(got.Fit.Size)
	// The letterbox is the square (-dx, -dy, size) / scale of the image.
	want := facesResample(img, -got.Fit.Dx/got.Fit.Scale, -got.Fit.Dy/got.Fit.Scale, got.Fit.Size/got.Fit.Scale, side, func(r, g, b float64) []float32 {
		return []float32{float32(r/127.5 - 1), float32(g/127.5 - 1), float32(b/127.5 - 1)}
	})
	if d := facesMeanAbs(want, got.DetectorInput); d > 0.03 {
		t.Errorf("the page's detector input differs from the photo's by %.4f on average (of [-1, 1])", d)
	} else {
		t.Logf("e2e: faces: the page's detector input is %.4f from this test's on average", d)
	}
	// The native detector on this test's own input finds the face where the
	// page does, to a pixel or two.
	own := facesDetect(t, detector, want)
	if len(own) != 1 {
		t.Errorf("the native engine finds %d faces in this test's detector input, want 1", len(own))
	} else {
		x0, y0 := toImage(float64(own[0].Box[0]), float64(own[0].Box[1]))
		x1, y1 := toImage(float64(own[0].Box[2]), float64(own[0].Box[3]))
		for i, v := range []float64{x0, y0, x1, y1} {
			if math.Abs(v-f.Box[i]) > 4 {
				t.Errorf("the page's box %v px, the native engine's on this test's input (%.1f, %.1f)-(%.1f, %.1f)", f.Box, x0, y0, x1, y1)
				break
			}
		}
	}
	crop := facesResample(img, f.Crop[0], f.Crop[1], f.Crop[2], 64, func(r, g, b float64) []float32 {
		return []float32{float32(((0.2989*r+0.587*g+0.114*b)/255 - 0.5) * 2)}
	})
	if d := facesMeanAbs(crop, got.EmotionInputs[0]); d > 0.05 {
		t.Errorf("the page's emotion input differs from this test's crop of the photo by %.4f on average (of [-1, 1])", d)
	} else {
		t.Logf("e2e: faces: the page's emotion input is %.4f from this test's on average", d)
	}

	// Again, for the timings of workers that have run both models once
	// (the first run of a model plans its buffers).
	e.run("choosing the photo again", chromedp.SetUploadFiles(chromedp.CSS("#faces-file"), []string{photo}))
	e.wait("the faces", `(d => d.state === "done" && d.seq === "2")(document.getElementById("faces-result").dataset)`, 60*time.Second)
	var again facesResult
	e.eval(`window.__edgenn_demo.faces.last`, &again)
	if len(again.Faces) != 1 || again.Faces[0].Box != f.Box || again.Faces[0].Emotion != f.Emotion {
		t.Errorf("the same photo again: %+v, the first time %+v", again.Faces, got.Faces)
	}
	e.screenshot("faces")
	t.Logf("e2e: faces: again: detect %.1f ms, emotion %.1f ms, pixel work %.1f ms, whole frame %.1f ms",
		again.DetectMs, again.EmotionMs, again.PrepMs, again.TotalMs)
	if errs := e.pageErrors(); errs != "" {
		t.Error(errs)
	}
}

// facesImport imports one of Human's models with model/tfjs and sets the
// metadata the page needs where the importer has not.
func facesImport(t *testing.T, name string, meta map[string]string) *model.Graph {
	t.Helper()
	g, _, err := tfjs.Import(os.DirFS(filepath.Join(e2eRoot, facesModels)), name)
	if err != nil {
		t.Fatalf("importing %s: %v", name, err)
	}
	if g.Metadata == nil {
		g.Metadata = map[string]string{}
	}
	for k, v := range meta {
		if _, ok := g.Metadata[k]; !ok {
			g.Metadata[k] = v
		}
	}
	return g
}

// facesRel names a file of dir as newE2E takes it: relative to the
// repository.
func facesRel(t *testing.T, dir, name string) string {
	t.Helper()
	root, err := filepath.Abs(e2eRoot)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(root, filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return rel
}

// facesRun runs a one-input graph natively and returns a copy of its first output.
func facesRun(t *testing.T, g *model.Graph, x []float32) []float32 {
	t.Helper()
	s, err := engine.NewSession(g)
	if err != nil {
		t.Fatal(err)
	}
	outs, err := s.Run(x)
	if err != nil {
		t.Fatal(err)
	}
	return slices.Clone(outs[0])
}

// facesDetect runs the detector natively and decodes it as the page asks
// the workers to (minScore 0.5, iou 0.3).
func facesDetect(t *testing.T, g *model.Graph, x []float32) []engine.Detection {
	t.Helper()
	d, err := engine.ParseDetector(g.Metadata[engine.PostprocessKey])
	if err != nil {
		t.Fatal(err)
	}
	s, err := engine.NewSession(g)
	if err != nil {
		t.Fatal(err)
	}
	outs, err := s.Run(x)
	if err != nil {
		t.Fatal(err)
	}
	shapes := make([][]int, len(outs))
	for i, o := range s.Outputs() {
		shapes[i] = o.Shape[1:]
	}
	raw, err := d.Gather(outs, shapes, nil)
	if err != nil {
		t.Fatal(err)
	}
	dets, err := d.Decode(raw, 0.5, 0.3, 10)
	if err != nil {
		t.Fatal(err)
	}
	return dets
}

func facesDecode(t *testing.T, path string) image.Image {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

// facesResample scales the square (x, y, side) of img to n x n with a box
// filter (each output pixel the mean of the source pixels whose centres it
// covers; black outside the image) and maps each pixel's R, G, B (0..255)
// to channel values with px.
func facesResample(img image.Image, x, y, side float64, n int, px func(r, g, b float64) []float32) []float32 {
	b := img.Bounds()
	var out []float32
	k := side / float64(n)
	for i := range n {
		for j := range n {
			sx0, sy0 := x+float64(j)*k, y+float64(i)*k
			var r, g, bl, cnt float64
			for v := int(math.Ceil(sy0 - 0.5)); float64(v)+0.5 < sy0+k; v++ {
				for u := int(math.Ceil(sx0 - 0.5)); float64(u)+0.5 < sx0+k; u++ {
					cnt++
					if u < 0 || v < 0 || u >= b.Dx() || v >= b.Dy() {
						continue // black
					}
					cr, cg, cb, _ := img.At(b.Min.X+u, b.Min.Y+v).RGBA()
					r += float64(cr >> 8)
					g += float64(cg >> 8)
					bl += float64(cb >> 8)
				}
			}
			if cnt == 0 { // a pixel smaller than the source's: the nearest one
				u, v := int(sx0+k/2), int(sy0+k/2)
				if u >= 0 && v >= 0 && u < b.Dx() && v < b.Dy() {
					cr, cg, cb, _ := img.At(b.Min.X+u, b.Min.Y+v).RGBA()
					r, g, bl = float64(cr>>8), float64(cg>>8), float64(cb>>8)
				}
				cnt = 1
			}
			out = append(out, px(r/cnt, g/cnt, bl/cnt)...)
		}
	}
	return out
}

func facesMeanAbs(a, b []float32) float64 {
	if len(a) != len(b) || len(a) == 0 {
		return math.Inf(1)
	}
	var s float64
	for i := range a {
		s += math.Abs(float64(a[i] - b[i]))
	}
	return s / float64(len(a))
}

// TestE2EFacesCamera runs the camera path: Chromium's fake camera plays the
// photo (as a y4m clip made here), the page analyses its frames, finds her
// face, reads "happy", and the stop button stops the camera.
func TestE2EFacesCamera(t *testing.T) {
	img := facesDecode(t, filepath.Join(e2eRoot, facesPhoto))
	clip := filepath.Join(t.TempDir(), "astronaut.y4m")
	if err := os.WriteFile(clip, y4mFrame(img), 0o644); err != nil {
		t.Fatal(err)
	}
	e, _, _ := facesEnv(t,
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-video-capture", clip))
	e.run("starting the camera", chromedp.Click(chromedp.CSS("#faces-camera")))
	e.wait("a face in the camera's frames", `(d => d.source === "camera" && d.faces === "1" && d.topEmotion !== "")(document.getElementById("faces-result").dataset)`, 60*time.Second)
	var attrs map[string]string
	e.eval(`({...document.getElementById("faces-result").dataset})`, &attrs)
	t.Logf("e2e: camera: %s faces, %s (%s), box %s in a %sx%s frame, %s frames analysed", attrs["faces"], attrs["topEmotion"], attrs["topProb"], attrs["box"], attrs["width"], attrs["height"], attrs["seq"])
	if attrs["topEmotion"] != "happy" {
		t.Errorf("the camera's frames read %q, the photo reads happy", attrs["topEmotion"])
	}
	e.wait("a second frame", `Number(document.getElementById("faces-result").dataset.seq) >= 2`, 30*time.Second)
	e.screenshot("faces-camera")
	e.run("stopping the camera", chromedp.Click(chromedp.CSS("#faces-stop")))
	e.wait("the camera stopped", `(d => d.state === "ready" && d.source !== "camera")(document.getElementById("faces-result").dataset) && document.getElementById("faces-video").srcObject === null`, 10*time.Second)
}

// y4mFrame encodes img as a one-frame YUV4MPEG2 clip (4:2:0, BT.601 full
// range), the format Chromium's fake camera plays.
func y4mFrame(img image.Image) []byte {
	b := img.Bounds()
	w, h := b.Dx()&^1, b.Dy()&^1
	out := []byte(fmt.Sprintf("YUV4MPEG2 W%d H%d F30:1 Ip A1:1 C420jpeg\nFRAME\n", w, h))
	ys := make([]byte, w*h)
	us, vs := make([]byte, w*h/4), make([]byte, w*h/4)
	clamp := func(v float64) byte { return byte(math.Max(0, math.Min(255, math.Round(v)))) }
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			rf, gf, bf := float64(r>>8), float64(g>>8), float64(bl>>8)
			ys[y*w+x] = clamp(0.299*rf + 0.587*gf + 0.114*bf)
			if x%2 == 0 && y%2 == 0 {
				i := (y/2)*(w/2) + x/2
				us[i] = clamp(128 - 0.168736*rf - 0.331264*gf + 0.5*bf)
				vs[i] = clamp(128 + 0.5*rf - 0.418688*gf - 0.081312*bf)
			}
		}
	}
	return append(append(append(out, ys...), us...), vs...)
}
