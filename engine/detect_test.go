package engine

import (
	"math"
	"math/rand"
	"strings"
	"testing"
)

const blazeSpec = "blazeface input=256 strides=16,32 anchors=2,6 keypoints=6"

func TestDetectorAnchors(t *testing.T) {
	d, err := ParseDetector(blazeSpec)
	if err != nil {
		t.Fatal(err)
	}
	// 16x16 cells with 2 anchors, then 8x8 cells with 6: 512 + 384.
	if d.Anchors() != 896 || d.Width() != 17 {
		t.Fatalf("%d anchors of width %d, want 896 of 17", d.Anchors(), d.Width())
	}
	for _, c := range []struct {
		i    int
		want [2]float32
	}{{0, [2]float32{8, 8}}, {1, [2]float32{8, 8}}, {2, [2]float32{24, 8}}, {32, [2]float32{8, 24}}, {511, [2]float32{248, 248}},
		{512, [2]float32{16, 16}}, {517, [2]float32{16, 16}}, {518, [2]float32{48, 16}}, {895, [2]float32{240, 240}}} {
		if d.anchors[c.i] != c.want {
			t.Errorf("anchor %d at %v, want %v", c.i, d.anchors[c.i], c.want)
		}
	}
}

func TestParseDetectorErrors(t *testing.T) {
	for spec, want := range map[string]string{
		"":                                       "want \"blazeface",
		"yolo input=256":                         "want \"blazeface",
		"blazeface input=x strides=16 anchors=2": `"input=x"`,
		"blazeface input=256 strides=16,32 anchors=2":           "one value per grid",
		"blazeface input=256 strides=0 anchors=2":               "stride 0",
		"blazeface input=99999 strides=16 anchors=2":            "not in [1, 4096]",
		"blazeface input=256 strides=16 anchors=2 colour=1":     "unknown key",
		"blazeface input=256 strides=16 anchors=2 keypoints=-1": "keypoints -1",
		"blazeface input=4096 strides=1 anchors=64":             "more than 262144 anchors",
	} {
		if _, err := ParseDetector(spec); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one mentioning %s", spec, err, want)
		}
	}
}

// TestDetectorDecode places one confident anchor among silent ones and
// checks its box and keypoints against the arithmetic done by hand.
func TestDetectorDecode(t *testing.T) {
	d, _ := ParseDetector(blazeSpec)
	raw := make([]float32, d.Anchors()*d.Width())
	for a := range d.Anchors() {
		raw[a*17] = -10 // score 4.5e-5
	}
	a := 2 * (16*3 + 5) // stride 16, row 3, column 5: centre (88, 56) px
	r := raw[a*17 : (a+1)*17]
	copy(r, []float32{2, 4, -8, 32, 48, 0, 0, 10, 20})
	dets, err := d.Decode(raw, 0.5, 0.3, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dets) != 1 {
		t.Fatalf("%d detections, want 1", len(dets))
	}
	got := dets[0]
	want := Detection{Score: float32(1 / (1 + math.Exp(-2))), Box: [4]float32{76.0 / 256, 24.0 / 256, 108.0 / 256, 72.0 / 256}}
	near := func(a, b float32) bool { return math.Abs(float64(a-b)) < 1e-6 }
	if !near(got.Score, want.Score) {
		t.Errorf("score %v, want %v", got.Score, want.Score)
	}
	for i := range 4 {
		if !near(got.Box[i], want.Box[i]) {
			t.Errorf("box %v, want %v", got.Box, want.Box)
			break
		}
	}
	if len(got.Keypoints) != 6 || !near(got.Keypoints[0][0], 88.0/256) || !near(got.Keypoints[0][1], 56.0/256) ||
		!near(got.Keypoints[1][0], 98.0/256) || !near(got.Keypoints[1][1], 76.0/256) {
		t.Errorf("keypoints %v", got.Keypoints)
	}
	// The threshold is on the probability; NaN logits never pass.
	r[0] = float32(math.NaN())
	if dets, _ := d.Decode(raw, 0.5, 0.3, 10); len(dets) != 0 {
		t.Errorf("a NaN score was kept: %v", dets)
	}
	if _, err := d.Decode(raw[:100], 0.5, 0.3, 10); err == nil || !strings.Contains(err.Error(), "896 anchors x 17") {
		t.Errorf("short raw: %v", err)
	}
}

func TestNonMaxSuppression(t *testing.T) {
	a := Detection{Score: 0.9, Box: [4]float32{0, 0, 2, 2}}
	b := Detection{Score: 0.8, Box: [4]float32{0, 0, 2, 1}} // half of a: IoU 0.5
	c := Detection{Score: 0.7, Box: [4]float32{5, 5, 6, 6}}
	if v := IoU(a.Box, b.Box); math.Abs(float64(v)-0.5) > 1e-7 {
		t.Fatalf("IoU %v, want 0.5", v)
	}
	if IoU(a.Box, c.Box) != 0 || IoU(a.Box, a.Box) != 1 || IoU([4]float32{1, 1, 1, 3}, a.Box) != 0 {
		t.Fatal("IoU of disjoint, identical or empty boxes")
	}
	for _, k := range []struct {
		iou  float32
		max  int
		want string
	}{{0.3, 0, "ac"}, {0.6, 0, "abc"}, {0.6, 2, "ab"}, {0.3, 1, "a"}} {
		got := ""
		for _, d := range NonMaxSuppression([]Detection{c, b, a}, k.iou, k.max) {
			got += map[float32]string{0.9: "a", 0.8: "b", 0.7: "c"}[d.Score]
		}
		if got != k.want {
			t.Errorf("iou %v max %d: kept %q, want %q", k.iou, k.max, got, k.want)
		}
	}
}

// TestDetectorGather: the four outputs of a two-grid model (scores and
// regressions per grid, in any order) arrange into the same rows as one
// concatenated output.
func TestDetectorGather(t *testing.T) {
	d, _ := ParseDetector(blazeSpec)
	r := rand.New(rand.NewSource(3))
	whole := randData(r, 896*17, -1, 1)
	split := func(from, n int) (scores, boxes []float32) {
		for a := from; a < from+n; a++ {
			scores = append(scores, whole[a*17])
			boxes = append(boxes, whole[a*17+1:(a+1)*17]...)
		}
		return
	}
	s512, b512 := split(0, 512)
	s384, b384 := split(512, 384)
	outs := [][]float32{b384, s512, s384, b512}
	shapes := [][]int{{384, 16}, {512, 1}, {384, 1}, {512, 16}}
	got, err := d.Gather(outs, shapes, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range whole {
		if got[i] != whole[i] {
			t.Fatalf("value %d: %v, want %v", i, got[i], whole[i])
		}
	}
	if one, err := d.Gather([][]float32{whole}, [][]int{{896, 17}}, got); err != nil || &one[0] != &got[0] {
		t.Errorf("one output: %v (buffer reused: %v)", err, err == nil && &one[0] == &got[0])
	}
	if _, err := d.Gather(outs[:3], shapes[:3], nil); err == nil || !strings.Contains(err.Error(), "512 anchors of stride 16") {
		t.Errorf("a missing output: %v", err)
	}
}

// FuzzParseDetector: a model's metadata is read from a file; no description
// may panic or make a detector that panics on raw values of the right size.
func FuzzParseDetector(f *testing.F) {
	for _, s := range []string{blazeSpec, "blazeface input=128 strides=8,16 anchors=2,6 keypoints=0", "blazeface input=1 strides=1 anchors=1",
		"blazeface input=4096 strides=1 anchors=64", "blazeface strides=,", "blazeface input=256 strides=16,32 anchors=2,6 keypoints=64"} {
		f.Add(s, uint64(1))
	}
	f.Fuzz(func(t *testing.T, spec string, seed uint64) {
		d, err := ParseDetector(spec)
		if err != nil {
			return
		}
		raw := randData(rand.New(rand.NewSource(int64(seed))), d.Anchors()*d.Width(), -20, 20)
		dets, err := d.Decode(raw, 0.5, 0.3, 100)
		if err != nil || len(dets) > 100 {
			t.Fatalf("%q: %d detections, %v", spec, len(dets), err)
		}
	})
}
