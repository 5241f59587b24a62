package tfjs

import (
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/edgenn/edgenn/model"
)

// manifestGroup is one entry of weightsManifest: shards holding the listed
// weights back to back. TF.js reads every group's shards as one byte stream,
// the weights of all groups in order; so does loadWeights.
type manifestGroup struct {
	Paths   []string     `json:"paths"`
	Weights []weightSpec `json:"weights"`
}

type weightSpec struct {
	Name         string        `json:"name"`
	Shape        []int         `json:"shape"`
	DType        string        `json:"dtype"`
	Quantization *quantization `json:"quantization"`
}

// quantization is how a weight is stored when not in its own dtype:
// uint8/uint16 hold round((v-min)/scale), float16 holds IEEE half floats.
type quantization struct {
	DType string   `json:"dtype"`
	Min   *float64 `json:"min"`
	Scale *float64 `json:"scale"`
}

// tensor is a constant known at import: a weight, or a value folded from
// constants. Float tensors hold f, integer (and bool) tensors hold i.
type tensor struct {
	shape []int
	f     []float32
	i     []int64
	isInt bool
}

func (t *tensor) size() int { return model.NumElements(t.shape) }

// float returns the values as float32 (integers converted).
func (t *tensor) float() []float32 {
	if !t.isInt {
		return t.f
	}
	out := make([]float32, len(t.i))
	for k, v := range t.i {
		out[k] = float32(v)
	}
	return out
}

// ints returns the values as integers, and false if a float value is not a
// whole number.
func (t *tensor) ints() ([]int64, bool) {
	if t.isInt {
		return t.i, true
	}
	out := make([]int64, len(t.f))
	for k, v := range t.f {
		if v != float32(math.Trunc(float64(v))) || math.Abs(float64(v)) > 1<<40 {
			return nil, false
		}
		out[k] = int64(v)
	}
	return out, true
}

// weightBytes returns the stored width of one element of spec, or an error
// for a type the importer cannot read.
func weightBytes(s *weightSpec) (int, error) {
	if q := s.Quantization; q != nil {
		switch q.DType {
		case "uint8":
			if q.Min == nil || q.Scale == nil {
				return 0, errors.New("uint8 quantisation without min and scale")
			}
			if s.DType != "float32" && s.DType != "int32" {
				return 0, errors.New("uint8 quantisation of dtype " + strconv.Quote(s.DType))
			}
			return 1, nil
		case "uint16":
			if q.Min == nil || q.Scale == nil {
				return 0, errors.New("uint16 quantisation without min and scale")
			}
			if s.DType != "float32" && s.DType != "int32" {
				return 0, errors.New("uint16 quantisation of dtype " + strconv.Quote(s.DType))
			}
			return 2, nil
		case "float16":
			if s.DType != "float32" {
				return 0, errors.New("float16 quantisation of dtype " + strconv.Quote(s.DType) + " (only float32)")
			}
			return 2, nil
		}
		return 0, errors.New("unknown quantisation dtype " + strconv.Quote(q.DType) + " (want uint8, uint16 or float16)")
	}
	switch s.DType {
	case "float32", "int32":
		return 4, nil
	case "bool":
		return 1, nil
	}
	return 0, errors.New("unsupported dtype " + strconv.Quote(s.DType) + " (want float32, int32 or bool)")
}

// loadWeights reads and decodes every weight of the manifest. Sizes are
// checked against model's limits and against the shards' lengths before
// anything is allocated. The notes say what was dequantised.
func loadWeights(fsys fs.FS, modelJSON string, groups []manifestGroup) (map[string]*tensor, []string, error) {
	var specs []*weightSpec
	var files []string
	for gi := range groups {
		g := &groups[gi]
		for i := range g.Weights {
			specs = append(specs, &g.Weights[i])
		}
		for _, p := range g.Paths {
			files = append(files, sibling(modelJSON, p))
		}
	}
	if len(specs) > model.MaxTensors {
		return nil, nil, fileErr(modelJSON, "weights manifest lists "+strconv.Itoa(len(specs))+" weights, more than the limit "+strconv.Itoa(model.MaxTensors))
	}
	sizes := make([]int64, len(specs))
	var total int64
	seen := make(map[string]bool, len(specs))
	for k, s := range specs {
		where := "weight " + strconv.Quote(s.Name)
		if s.Name == "" {
			return nil, nil, fileErr(modelJSON, "weights manifest: weight "+strconv.Itoa(k)+" has no name")
		}
		if seen[s.Name] {
			return nil, nil, fileErr(modelJSON, where+" is listed twice")
		}
		seen[s.Name] = true
		n, err := countShape(s.Shape)
		if err != nil {
			return nil, nil, fileErr(modelJSON, where+": "+err.Error())
		}
		w, err := weightBytes(s)
		if err != nil {
			return nil, nil, fileErr(modelJSON, where+": "+err.Error())
		}
		sizes[k] = int64(n) * int64(w)
		total += sizes[k]
		if total > model.MaxTotalBytes {
			return nil, nil, fileErr(modelJSON, "weights need more than "+strconv.Itoa(model.MaxTotalBytes)+" bytes")
		}
	}
	data, err := readShards(fsys, modelJSON, files, total)
	if err != nil {
		return nil, nil, err
	}
	out := make(map[string]*tensor, len(specs))
	counts := map[string]int{}
	var off int64
	for k, s := range specs {
		b := data[off : off+sizes[k]]
		off += sizes[k]
		out[s.Name] = decodeWeight(s, b)
		if s.Quantization != nil {
			counts[s.Quantization.DType]++
		}
	}
	var notes []string
	kinds := make([]string, 0, len(counts))
	for q := range counts {
		kinds = append(kinds, q)
	}
	sort.Strings(kinds)
	for _, q := range kinds {
		notes = append(notes, strconv.Itoa(counts[q])+" weight(s) dequantised from "+q)
	}
	return out, notes, nil
}

// countShape checks a weight shape against the limits (0 is a valid
// dimension of a weight) and returns its element count.
func countShape(shape []int) (int, error) {
	if len(shape) > model.MaxRank {
		return 0, errors.New("rank " + strconv.Itoa(len(shape)) + " is more than " + strconv.Itoa(model.MaxRank))
	}
	n := 1
	for _, d := range shape {
		if d < 0 || d > model.MaxDim {
			return 0, errors.New("bad shape " + model.ShapeString(shape))
		}
		n *= d
		if n > model.MaxTensorElements {
			return 0, errors.New("shape " + model.ShapeString(shape) + " has more than " + strconv.Itoa(model.MaxTensorElements) + " elements")
		}
	}
	return n, nil
}

// readShards reads the shards, which must hold exactly want bytes together.
func readShards(fsys fs.FS, modelJSON string, files []string, want int64) ([]byte, error) {
	lens := make([]int64, len(files))
	var have int64
	for k, f := range files {
		st, err := fs.Stat(fsys, f)
		if err != nil {
			return nil, fileErr(f, "weight shard: "+err.Error())
		}
		if !st.Mode().IsRegular() {
			return nil, fileErr(f, "weight shard is not a regular file")
		}
		lens[k] = st.Size()
		have += lens[k]
		if have > want {
			break
		}
	}
	if have != want {
		return nil, fileErr(modelJSON, "weight shards ["+strings.Join(files, " ")+"] hold "+sizeOrMore(have, want)+
			" bytes, the manifest's weights need "+strconv.FormatInt(want, 10))
	}
	data := make([]byte, want)
	var off int64
	for k, f := range files {
		r, err := fsys.Open(f)
		if err != nil {
			return nil, fileErr(f, "weight shard: "+err.Error())
		}
		_, err = io.ReadFull(r, data[off:off+lens[k]])
		r.Close()
		if err != nil {
			return nil, fileErr(f, "weight shard: reading "+strconv.FormatInt(lens[k], 10)+" bytes: "+err.Error())
		}
		off += lens[k]
	}
	return data, nil
}

func sizeOrMore(have, want int64) string {
	if have > want {
		return "more than " + strconv.FormatInt(want, 10)
	}
	return strconv.FormatInt(have, 10)
}

// decodeWeight turns the stored bytes of s (of the length weightBytes gave)
// into values exactly as TF.js's io.decodeWeights does.
func decodeWeight(s *weightSpec, b []byte) *tensor {
	n := model.NumElements(s.Shape)
	t := &tensor{shape: append([]int{}, s.Shape...)}
	if q := s.Quantization; q != nil {
		raw := func(k int) float64 {
			if q.DType == "uint8" {
				return float64(b[k])
			}
			return float64(binary.LittleEndian.Uint16(b[2*k:]))
		}
		switch {
		case q.DType == "float16":
			t.f = make([]float32, n)
			for k := range t.f {
				t.f[k] = halfToFloat(binary.LittleEndian.Uint16(b[2*k:]))
			}
		case s.DType == "int32":
			t.isInt = true
			t.i = make([]int64, n)
			for k := range t.i {
				x := float64(raw(k)**q.Scale) + *q.Min
				r := math.Floor(x)
				if x-r >= 0.5 { // Math.round: halves round up
					r++
				}
				t.i[k] = int64(r)
			}
		default:
			t.f = make([]float32, n)
			for k := range t.f {
				// v*scale+min in float64 as JS computes it, rounded once to
				// float32 (the conversion of the product stops fusion).
				t.f[k] = float32(float64(raw(k)**q.Scale) + *q.Min)
			}
		}
		return t
	}
	switch s.DType {
	case "float32":
		t.f = make([]float32, n)
		for k := range t.f {
			t.f[k] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*k:]))
		}
	case "int32":
		t.isInt = true
		t.i = make([]int64, n)
		for k := range t.i {
			t.i[k] = int64(int32(binary.LittleEndian.Uint32(b[4*k:])))
		}
	case "bool":
		t.isInt = true
		t.i = make([]int64, n)
		for k := range t.i {
			if b[k] != 0 {
				t.i[k] = 1
			}
		}
	}
	return t
}

// halfToFloat converts IEEE 754 binary16 bits to float32 exactly.
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
	case mant == 0:
		return math.Float32frombits(sign)
	}
	// Subnormal half: mant * 2^-24, exact in float32.
	v := float32(mant) * (1.0 / (1 << 24))
	if sign != 0 {
		v = -v
	}
	return v
}
