package engine

import (
	"errors"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Detection is one object a detector found: its score in [0, 1], its box
// (xmin, ymin, xmax, ymax) and keypoints (x, y), all normalised to the
// model's input (0..1 across its width and height).
type Detection struct {
	Score     float32
	Box       [4]float32
	Keypoints [][2]float32
}

// Detector decodes the raw outputs of an SSD-style detector with a fixed
// anchor grid (BlazeFace and its relatives) into scored boxes, and
// suppresses overlapping ones. A model names its detector in its metadata
// (PostprocessKey); ParseDetector reads it.
//
// Anchors: for each stride s, a grid of ceil(InputSize/s) x ceil(InputSize/s)
// cells, row by row, with PerCell anchors at each cell's centre
// (s*(col+0.5), s*(row+0.5)) pixels; strides in the order given. Each anchor's
// raw values are a score logit and 4 + 2*Keypoints regressions: the box
// centre's offset from the anchor, its width and height, then each
// keypoint's offset, all in input pixels.
type Detector struct {
	Kind      string // "blazeface"
	InputSize int
	Strides   []int
	PerCell   []int
	Keypoints int
	anchors   [][2]float32 // pixels
}

// PostprocessKey is the metadata key naming a model's post-processing, e.g.
// "blazeface input=256 strides=16,32 anchors=2,6 keypoints=6".
const PostprocessKey = "postprocess"

// ParseDetector reads a detector description (the value of PostprocessKey).
// The error names what is wrong with it.
func ParseDetector(spec string) (*Detector, error) {
	f := strings.Fields(spec)
	if len(f) == 0 || f[0] != "blazeface" {
		return nil, errors.New("engine: postprocess " + strconv.Quote(spec) + ": want \"blazeface input=N strides=A,B anchors=A,B keypoints=K\"")
	}
	d := &Detector{Kind: f[0]}
	for _, kv := range f[1:] {
		k, v, ok := strings.Cut(kv, "=")
		var err error
		switch {
		case !ok:
			err = errors.New("not key=value")
		case k == "input":
			d.InputSize, err = strconv.Atoi(v)
		case k == "keypoints":
			d.Keypoints, err = strconv.Atoi(v)
		case k == "strides":
			d.Strides, err = parseInts(v)
		case k == "anchors":
			d.PerCell, err = parseInts(v)
		default:
			err = errors.New("unknown key")
		}
		if err != nil {
			return nil, errors.New("engine: postprocess " + strconv.Quote(kv) + ": " + err.Error())
		}
	}
	if err := d.init(); err != nil {
		return nil, errors.New("engine: postprocess " + strconv.Quote(spec) + ": " + err.Error())
	}
	return d, nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, p := range strings.Split(s, ",") {
		v, err := strconv.Atoi(p)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// maxAnchors bounds a detector's anchor grid (BlazeFace has 896).
const maxAnchors = 1 << 18

// init checks the description and lays out the anchors.
func (d *Detector) init() error {
	switch {
	case d.InputSize < 1 || d.InputSize > 4096:
		return errors.New("input size " + strconv.Itoa(d.InputSize) + " not in [1, 4096]")
	case len(d.Strides) == 0 || len(d.Strides) != len(d.PerCell):
		return errors.New("strides and anchors need one value per grid each")
	case d.Keypoints < 0 || d.Keypoints > 64:
		return errors.New("keypoints " + strconv.Itoa(d.Keypoints) + " not in [0, 64]")
	}
	n := 0
	for i, s := range d.Strides {
		if s < 1 || s > d.InputSize || d.PerCell[i] < 1 || d.PerCell[i] > 64 {
			return errors.New("grid " + strconv.Itoa(i) + ": stride " + strconv.Itoa(s) + ", " + strconv.Itoa(d.PerCell[i]) + " anchors per cell")
		}
		g := (d.InputSize + s - 1) / s
		n += g * g * d.PerCell[i]
		if n > maxAnchors {
			return errors.New("more than " + strconv.Itoa(maxAnchors) + " anchors")
		}
	}
	d.anchors = make([][2]float32, 0, n)
	for i, s := range d.Strides {
		g := (d.InputSize + s - 1) / s
		for row := range g {
			for col := range g {
				for range d.PerCell[i] {
					d.anchors = append(d.anchors, [2]float32{float32(s) * (float32(col) + 0.5), float32(s) * (float32(row) + 0.5)})
				}
			}
		}
	}
	return nil
}

// Anchors returns the number of anchors: the rows Decode expects.
func (d *Detector) Anchors() int { return len(d.anchors) }

// Width is the number of raw values per anchor: a score, a box, keypoints.
func (d *Detector) Width() int { return 5 + 2*d.Keypoints }

// Gather arranges a model's outputs (one item of the batch each, with their
// shapes without the batch dimension) into Decode's raw rows. It takes
// either one output of [Anchors, Width] values, or per grid a scores output
// ([n, 1]) and a regressions output ([n, Width-1]), in any order; grids are
// matched by anchor count, in the order of Strides. dst is reused when large
// enough.
func (d *Detector) Gather(outs [][]float32, shapes [][]int, dst []float32) ([]float32, error) {
	w, n := d.Width(), d.Anchors()
	if cap(dst) < n*w {
		dst = make([]float32, n*w)
	}
	dst = dst[:n*w] // every value is written below
	if len(outs) == 1 && len(outs[0]) == n*w {
		copy(dst, outs[0])
		return dst, nil
	}
	rows := func(i int) (int, int, error) {
		s := shapes[i]
		if len(s) == 0 || s[len(s)-1] < 1 || len(outs[i])%s[len(s)-1] != 0 {
			return 0, 0, errors.New("engine: detector output " + strconv.Itoa(i) + " has an unusable shape")
		}
		c := s[len(s)-1]
		return len(outs[i]) / c, c, nil
	}
	row := 0
	for g, s := range d.Strides {
		cells := (d.InputSize + s - 1) / s
		want := cells * cells * d.PerCell[g]
		score, box := -1, -1
		for i := range outs {
			r, c, err := rows(i)
			if err != nil {
				return nil, err
			}
			switch {
			case r == want && c == 1 && score < 0:
				score = i
			case r == want && c == w-1 && box < 0:
				box = i
			}
		}
		if score < 0 || box < 0 {
			return nil, errors.New("engine: no score and regression outputs for the " + strconv.Itoa(want) + " anchors of stride " + strconv.Itoa(s))
		}
		for a := range want {
			o := (row + a) * w
			dst[o] = outs[score][a]
			copy(dst[o+1:o+w], outs[box][a*(w-1):(a+1)*(w-1)])
		}
		row += want
	}
	return dst, nil
}

// Decode turns raw rows (Anchors rows of Width values, see Gather) into the
// detections scoring at least minScore (sigmoid of the logit), and keeps the
// best maxOut of them with no two overlapping more than iou (intersection
// over union), best first.
func (d *Detector) Decode(raw []float32, minScore, iou float32, maxOut int) ([]Detection, error) {
	w := d.Width()
	if len(raw) != d.Anchors()*w {
		return nil, errors.New("engine: detector got " + strconv.Itoa(len(raw)) + " raw values, want " +
			strconv.Itoa(d.Anchors()) + " anchors x " + strconv.Itoa(w))
	}
	inv := 1 / float32(d.InputSize)
	var found []Detection
	for a, anc := range d.anchors {
		r := raw[a*w : (a+1)*w]
		logit := min(max(float64(r[0]), -80), 80) // as the references clip, and NaN stays out
		score := float32(1 / (1 + math.Exp(-logit)))
		if !(score >= minScore) {
			continue
		}
		cx, cy := (anc[0]+r[1])*inv, (anc[1]+r[2])*inv
		hw, hh := r[3]*inv/2, r[4]*inv/2
		det := Detection{Score: score, Box: [4]float32{cx - hw, cy - hh, cx + hw, cy + hh}}
		for k := range d.Keypoints {
			det.Keypoints = append(det.Keypoints, [2]float32{(anc[0] + r[5+2*k]) * inv, (anc[1] + r[6+2*k]) * inv})
		}
		found = append(found, det)
	}
	return NonMaxSuppression(found, iou, maxOut), nil
}

// NonMaxSuppression keeps the best-scoring detections, dropping any that
// overlaps a kept one by more than iou, up to maxOut (all when maxOut <= 0).
// Equal scores keep their input order. dets is reordered.
func NonMaxSuppression(dets []Detection, iou float32, maxOut int) []Detection {
	sort.SliceStable(dets, func(i, j int) bool { return dets[i].Score > dets[j].Score })
	var kept []Detection
	for _, c := range dets {
		if maxOut > 0 && len(kept) == maxOut {
			break
		}
		ok := true
		for _, k := range kept {
			if IoU(c.Box, k.Box) > iou {
				ok = false
				break
			}
		}
		if ok {
			kept = append(kept, c)
		}
	}
	return kept
}

// IoU is the intersection over union of two boxes (xmin, ymin, xmax, ymax);
// 0 when either has no area.
func IoU(a, b [4]float32) float32 {
	ix := min(a[2], b[2]) - max(a[0], b[0])
	iy := min(a[3], b[3]) - max(a[1], b[1])
	if ix <= 0 || iy <= 0 {
		return 0
	}
	inter := ix * iy
	union := (a[2]-a[0])*(a[3]-a[1]) + (b[2]-b[0])*(b[3]-b[1]) - inter
	if union <= 0 {
		return 0
	}
	return inter / union
}
