package onnx

import (
	"errors"
	"math"
	"strconv"

	"github.com/edgenn/edgenn/model"
)

// ONNX TensorProto.DataType values.
const (
	dtFloat    = 1
	dtUint8    = 2
	dtInt8     = 3
	dtUint16   = 4
	dtInt16    = 5
	dtInt32    = 6
	dtInt64    = 7
	dtString   = 8
	dtBool     = 9
	dtFloat16  = 10
	dtDouble   = 11
	dtUint32   = 12
	dtUint64   = 13
	dtBfloat16 = 16
)

func dtName(dt int32) string {
	switch dt {
	case dtFloat:
		return "float32"
	case dtUint8:
		return "uint8"
	case dtInt8:
		return "int8"
	case dtUint16:
		return "uint16"
	case dtInt16:
		return "int16"
	case dtInt32:
		return "int32"
	case dtInt64:
		return "int64"
	case dtString:
		return "string"
	case dtBool:
		return "bool"
	case dtFloat16:
		return "float16"
	case dtDouble:
		return "float64"
	case dtUint32:
		return "uint32"
	case dtUint64:
		return "uint64"
	case dtBfloat16:
		return "bfloat16"
	}
	return "dtype(" + strconv.Itoa(int(dt)) + ")"
}

// isFloat reports a floating-point type; its constants hold f.
func isFloat(dt int32) bool {
	return dt == dtFloat || dt == dtFloat16 || dt == dtDouble || dt == dtBfloat16
}

// isInt reports an integer or boolean type; its constants hold i.
func isInt(dt int32) bool {
	switch dt {
	case dtUint8, dtInt8, dtUint16, dtInt16, dtInt32, dtInt64, dtBool, dtUint32, dtUint64:
		return true
	}
	return false
}

// rawSize is the width of one element in raw_data.
func rawSize(dt int32) int {
	switch dt {
	case dtUint8, dtInt8, dtBool:
		return 1
	case dtUint16, dtInt16, dtFloat16, dtBfloat16:
		return 2
	case dtFloat, dtInt32, dtUint32:
		return 4
	case dtInt64, dtDouble, dtUint64:
		return 8
	}
	return 0
}

// constant is a tensor known at import: an initializer, a Constant node, or
// the folded result of a constant chain. Float types hold f (float64 values
// are narrowed to float32, the only float the IR runs); integer and boolean
// types hold i.
type constant struct {
	dt    int32
	shape []int
	f     []float32
	i     []int64
	// batch marks elements of i that stand for the free batch size (a Shape
	// of a value whose first dimension is the batch): nil when none does.
	batch []bool
}

func (c *constant) size() int { return numel(c.shape) }

func numel(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

func (c *constant) hasBatch() bool {
	for _, b := range c.batch {
		if b {
			return true
		}
	}
	return false
}

// checkDims validates ONNX dims (zero allowed) against model's limits and
// returns them as ints.
func checkDims(dims []int64) ([]int, error) {
	if len(dims) > model.MaxRank {
		return nil, errors.New("rank " + strconv.Itoa(len(dims)) + " is more than " + strconv.Itoa(model.MaxRank))
	}
	s := make([]int, len(dims))
	total := 1
	for i, d := range dims {
		if d < 0 || d > model.MaxDim {
			return nil, errors.New("dimension " + strconv.Itoa(i) + " is " + strconv.FormatInt(d, 10) + ", out of range [0, " + strconv.Itoa(model.MaxDim) + "]")
		}
		s[i] = int(d)
		if d > 0 {
			if total > model.MaxTensorElements/int(d) {
				return nil, errors.New("shape " + model.ShapeString(s[:i+1]) + " has more than " + strconv.Itoa(model.MaxTensorElements) + " elements")
			}
			total *= int(d)
		}
	}
	return s, nil
}

// constantOf decodes a TensorProto's values.
func constantOf(t *tensorProto) (*constant, error) {
	if t.external {
		return nil, errors.New("data is in an external file; edgenn imports self-contained .onnx files only (save with all tensors inline)")
	}
	if t.segment {
		return nil, errors.New("segmented tensors are not supported")
	}
	shape, err := checkDims(t.dims)
	if err != nil {
		return nil, err
	}
	dt := t.dataType
	if !isFloat(dt) && !isInt(dt) {
		return nil, errors.New("element type " + dtName(dt) + " is not supported")
	}
	c := &constant{dt: dt, shape: shape}
	n := numel(shape)
	// The field the values live in when they are not raw.
	field, wt := fTensorInt32, wireVarint
	switch dt {
	case dtFloat:
		field, wt = fTensorFloat, wireFixed32
	case dtInt64:
		field = fTensorInt64
	case dtDouble:
		field, wt = fTensorDouble, wireFixed64
	case dtUint32, dtUint64:
		field = fTensorUint64
	}
	var raw []byte
	hasRaw := false
	count := 0
	r := &wire{b: t.msg}
	for !r.done() {
		f, w, err := r.key()
		if err != nil {
			return nil, err
		}
		switch {
		case f == fTensorRaw:
			if err := expect(w, wireBytes); err != nil {
				return nil, err
			}
			if raw, err = r.bytes(); err != nil {
				return nil, err
			}
			hasRaw = true
		case f == field:
			k, err := countValues(r, w, wt)
			if err != nil {
				return nil, perr(dataField(field), err)
			}
			count += k
		default:
			if err := r.skip(w); err != nil {
				return nil, err
			}
		}
	}
	if hasRaw {
		if count > 0 {
			return nil, errors.New("has both raw_data and " + dataField(field))
		}
		size := rawSize(dt)
		if len(raw) != n*size {
			return nil, errors.New("shape " + model.ShapeString(shape) + " of " + dtName(dt) + " needs " + strconv.Itoa(n*size) + " bytes, raw_data has " + strconv.Itoa(len(raw)))
		}
		c.alloc(n)
		for k := 0; k < n; k++ {
			c.setRaw(k, raw[k*size:(k+1)*size])
		}
		return c, nil
	}
	if count != n {
		return nil, errors.New("shape " + model.ShapeString(shape) + " needs " + strconv.Itoa(n) + " values, " + dataField(field) + " has " + strconv.Itoa(count))
	}
	c.alloc(n)
	k := 0
	r = &wire{b: t.msg}
	for !r.done() {
		f, w, _ := r.key()
		if f != field {
			_ = r.skip(w)
			continue
		}
		err := eachValue(r, w, wt, func(bits uint64) {
			c.setBits(k, bits)
			k++
		})
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}

func dataField(field int) string {
	switch field {
	case fTensorFloat:
		return "float_data"
	case fTensorInt64:
		return "int64_data"
	case fTensorDouble:
		return "double_data"
	case fTensorUint64:
		return "uint64_data"
	}
	return "int32_data"
}

// countValues counts the values of one occurrence of a repeated numeric
// field whose elements have wire type elem, packed or not.
func countValues(r *wire, wt, elem int) (int, error) {
	if wt == elem {
		return 1, r.skip(wt)
	}
	if wt != wireBytes {
		return 0, errors.New("wire type " + strconv.Itoa(wt))
	}
	b, err := r.bytes()
	if err != nil {
		return 0, err
	}
	switch elem {
	case wireFixed32:
		if len(b)%4 != 0 {
			return 0, errors.New("packed fixed32 values of " + strconv.Itoa(len(b)) + " bytes")
		}
		return len(b) / 4, nil
	case wireFixed64:
		if len(b)%8 != 0 {
			return 0, errors.New("packed fixed64 values of " + strconv.Itoa(len(b)) + " bytes")
		}
		return len(b) / 8, nil
	}
	if len(b) > 0 && b[len(b)-1] >= 0x80 {
		return 0, errTruncated
	}
	return countVarints(b), nil
}

// eachValue calls fn with the bits of every value of one occurrence of a
// repeated numeric field (already counted by countValues).
func eachValue(r *wire, wt, elem int, fn func(uint64)) error {
	read := func(p *wire) (uint64, error) {
		switch elem {
		case wireFixed32:
			v, err := p.fixed32()
			return uint64(v), err
		case wireFixed64:
			return p.fixed64()
		}
		return p.varint()
	}
	if wt == elem {
		v, err := read(r)
		if err != nil {
			return err
		}
		fn(v)
		return nil
	}
	b, err := r.bytes()
	if err != nil {
		return err
	}
	p := &wire{b: b}
	for !p.done() {
		v, err := read(p)
		if err != nil {
			return err
		}
		fn(v)
	}
	return nil
}

func (c *constant) alloc(n int) {
	if isFloat(c.dt) {
		c.f = make([]float32, n)
	} else {
		c.i = make([]int64, n)
	}
}

// setBits stores element k from its typed-field encoding.
func (c *constant) setBits(k int, bits uint64) {
	switch c.dt {
	case dtFloat:
		c.f[k] = math.Float32frombits(uint32(bits))
	case dtDouble:
		c.f[k] = float32(math.Float64frombits(bits))
	case dtFloat16:
		c.f[k] = halfToFloat(uint16(bits))
	case dtBfloat16:
		c.f[k] = math.Float32frombits(uint32(uint16(bits)) << 16)
	default:
		c.i[k] = c.wrapInt(int64(bits))
	}
}

// wrapInt brings an integer to the range of c's type, as a store would.
func (c *constant) wrapInt(v int64) int64 {
	switch c.dt {
	case dtUint8:
		return int64(uint8(v))
	case dtInt8:
		return int64(int8(v))
	case dtUint16:
		return int64(uint16(v))
	case dtInt16:
		return int64(int16(v))
	case dtInt32:
		return int64(int32(v))
	case dtUint32:
		return int64(uint32(v))
	case dtBool:
		if v != 0 {
			return 1
		}
		return 0
	}
	return v
}

// setRaw stores element k from its little-endian raw bytes.
func (c *constant) setRaw(k int, b []byte) {
	var bits uint64
	for j := len(b) - 1; j >= 0; j-- {
		bits = bits<<8 | uint64(b[j])
	}
	switch c.dt {
	case dtInt8:
		bits = uint64(int64(int8(bits)))
	case dtInt16:
		bits = uint64(int64(int16(bits)))
	case dtInt32:
		bits = uint64(int64(int32(bits)))
	}
	c.setBits(k, bits)
}

// halfToFloat converts IEEE 754 binary16 bits to float32.
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		v := float32(mant) / (1 << 24)
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
}

// ints returns an integer constant's values as ints (shapes, axes, pads).
func (c *constant) ints(what string) ([]int, error) {
	if !isInt(c.dt) {
		return nil, errors.New(what + " must be an integer tensor, is " + dtName(c.dt))
	}
	if c.hasBatch() {
		return nil, errors.New(what + " depends on the free batch size")
	}
	out := make([]int, len(c.i))
	for k, v := range c.i {
		out[k] = clampInt(v)
	}
	return out, nil
}

// scalar returns a one-element float constant's value.
func (c *constant) scalar(what string) (float32, error) {
	if c.size() != 1 {
		return 0, errors.New(what + " must have one element, has shape " + model.ShapeString(c.shape))
	}
	if isFloat(c.dt) {
		return c.f[0], nil
	}
	return float32(c.i[0]), nil
}

// floats returns c's values as float32 (for a float tensor of the IR).
func (c *constant) floats() []float32 {
	if isFloat(c.dt) {
		return c.f
	}
	out := make([]float32, len(c.i))
	for k, v := range c.i {
		out[k] = float32(v)
	}
	return out
}

// ---- folding: the shape and layout ops on constants ----

// strides returns the row-major strides of shape.
func strides(shape []int) []int {
	s := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= shape[i]
	}
	return s
}

// gatherIndex maps every output element to the source element of a layout
// op described by, for each output axis, a source stride, start and step.
func remap(outShape []int, srcStride, start, step []int) []int {
	n := numel(outShape)
	idx := make([]int, n)
	if n == 0 {
		return idx
	}
	r := len(outShape)
	pos := make([]int, r)
	base := 0
	for i := 0; i < r; i++ {
		base += start[i] * srcStride[i]
	}
	cur := base
	for k := 0; k < n; k++ {
		idx[k] = cur
		for i := r - 1; i >= 0; i-- {
			pos[i]++
			cur += step[i] * srcStride[i]
			if pos[i] < outShape[i] {
				break
			}
			cur -= pos[i] * step[i] * srcStride[i]
			pos[i] = 0
		}
	}
	return idx
}

// pick builds a constant of shape from c's elements at idx.
func (c *constant) pick(shape []int, idx []int) *constant {
	out := &constant{dt: c.dt, shape: shape}
	if c.f != nil || isFloat(c.dt) {
		out.f = make([]float32, len(idx))
		for k, j := range idx {
			out.f[k] = c.f[j]
		}
		return out
	}
	out.i = make([]int64, len(idx))
	for k, j := range idx {
		out.i[k] = c.i[j]
	}
	if c.hasBatch() {
		out.batch = make([]bool, len(idx))
		for k, j := range idx {
			out.batch[k] = c.batch[j]
		}
	}
	return out
}

// transposeConst permutes c's axes: output axis i is input axis perm[i].
func transposeConst(c *constant, perm []int) *constant {
	st := strides(c.shape)
	out := make([]int, len(perm))
	src := make([]int, len(perm))
	for i, p := range perm {
		out[i], src[i] = c.shape[p], st[p]
	}
	ones := make([]int, len(perm))
	for i := range ones {
		ones[i] = 1
	}
	return c.pick(out, remap(out, src, make([]int, len(perm)), ones))
}

// reshapeConst returns c with a new shape of the same size.
func reshapeConst(c *constant, shape []int) *constant {
	out := *c
	out.shape = shape
	return &out
}

// sliceConst takes c[start:end:step] along each axis (already clamped).
func sliceConst(c *constant, start, end, step []int) *constant {
	r := len(c.shape)
	out := make([]int, r)
	for i := 0; i < r; i++ {
		switch {
		case step[i] > 0 && end[i] > start[i]:
			out[i] = (end[i] - start[i] + step[i] - 1) / step[i]
		case step[i] < 0 && end[i] < start[i]:
			out[i] = (start[i] - end[i] - step[i] - 1) / -step[i]
		}
	}
	return c.pick(out, remap(out, strides(c.shape), start, step))
}

// gatherConst takes, along axis, the entries of c named by indices (already
// made non-negative and in range).
func gatherConst(c *constant, axis int, indices []int, idxShape []int) *constant {
	outer := numel(c.shape[:axis])
	inner := numel(c.shape[axis+1:])
	dim := c.shape[axis]
	shape := append(append(append([]int{}, c.shape[:axis]...), idxShape...), c.shape[axis+1:]...)
	idx := make([]int, 0, outer*len(indices)*inner)
	for o := 0; o < outer; o++ {
		for _, j := range indices {
			for in := 0; in < inner; in++ {
				idx = append(idx, (o*dim+j)*inner+in)
			}
		}
	}
	return c.pick(shape, idx)
}

// concatConst joins same-typed constants along axis.
func concatConst(cs []*constant, axis int) *constant {
	shape := append([]int(nil), cs[0].shape...)
	shape[axis] = 0
	for _, c := range cs {
		shape[axis] += c.shape[axis]
	}
	out := &constant{dt: cs[0].dt, shape: shape}
	outer := numel(shape[:axis])
	float := isFloat(out.dt)
	anyBatch := false
	for _, c := range cs {
		anyBatch = anyBatch || c.hasBatch()
	}
	for o := 0; o < outer; o++ {
		for _, c := range cs {
			chunk := numel(c.shape[axis:])
			if float {
				out.f = append(out.f, c.f[o*chunk:(o+1)*chunk]...)
				continue
			}
			out.i = append(out.i, c.i[o*chunk:(o+1)*chunk]...)
			if anyBatch {
				if c.batch != nil {
					out.batch = append(out.batch, c.batch[o*chunk:(o+1)*chunk]...)
				} else {
					out.batch = append(out.batch, make([]bool, chunk)...)
				}
			}
		}
	}
	if float && out.f == nil {
		out.f = []float32{}
	}
	if !float && out.i == nil {
		out.i = []int64{}
	}
	return out
}

// castConst converts c to type dt.
func castConst(c *constant, dt int32) (*constant, error) {
	if !isFloat(dt) && !isInt(dt) {
		return nil, errors.New("cast to " + dtName(dt) + " is not supported")
	}
	out := &constant{dt: dt, shape: c.shape}
	switch {
	case isFloat(dt) && isFloat(c.dt):
		out.f = append([]float32(nil), c.f...)
		if dt == dtFloat16 || dt == dtBfloat16 {
			return nil, errors.New("cast to " + dtName(dt) + " is not supported")
		}
	case isFloat(dt):
		out.f = make([]float32, len(c.i))
		for k, v := range c.i {
			out.f[k] = float32(v)
		}
	case isFloat(c.dt):
		out.i = make([]int64, len(c.f))
		for k, v := range c.f {
			switch {
			case dt == dtBool:
				if v != 0 {
					out.i[k] = 1
				}
			case v != v || v > 9.2e18 || v < -9.2e18:
				return nil, errors.New("cast of " + strconv.FormatFloat(float64(v), 'g', -1, 32) + " to " + dtName(dt) + " is undefined")
			default:
				out.i[k] = out.wrapInt(int64(v))
			}
		}
	default:
		out.i = make([]int64, len(c.i))
		for k, v := range c.i {
			out.i[k] = out.wrapInt(v)
		}
		if c.hasBatch() {
			out.batch = c.batch
		}
	}
	return out, nil
}

// broadcastIndex maps every element of out to the element of a constant of
// shape s that broadcasting reads.
func broadcastIndex(s, out []int) []int {
	off := len(out) - len(s)
	st := strides(s)
	src := make([]int, len(out))
	for i := range out {
		if j := i - off; j >= 0 && s[j] != 1 {
			src[i] = st[j]
		}
	}
	ones := make([]int, len(out))
	for i := range ones {
		ones[i] = 1
	}
	return remap(out, src, make([]int, len(out)), ones)
}

// binaryConst folds Add, Sub, Mul, Div (and the comparisons a shape chain
// may use) on constants of one type with broadcasting.
func binaryConst(op string, a, b *constant) (*constant, error) {
	if isFloat(a.dt) != isFloat(b.dt) {
		return nil, errors.New("operands have different types " + dtName(a.dt) + " and " + dtName(b.dt))
	}
	if a.hasBatch() || b.hasBatch() {
		return nil, errors.New("arithmetic on the free batch size cannot be folded; export the model with a fixed batch size")
	}
	shape, ok := model.Broadcast(a.shape, b.shape)
	if !ok {
		return nil, errors.New("shapes " + model.ShapeString(a.shape) + " and " + model.ShapeString(b.shape) + " do not broadcast")
	}
	if numel(shape) > model.MaxTensorElements {
		return nil, errors.New("result is too large")
	}
	ia, ib := broadcastIndex(a.shape, shape), broadcastIndex(b.shape, shape)
	out := &constant{dt: a.dt, shape: shape}
	if isFloat(a.dt) {
		out.f = make([]float32, len(ia))
		for k := range ia {
			x, y := a.f[ia[k]], b.f[ib[k]]
			switch op {
			case "Add":
				out.f[k] = x + y
			case "Sub":
				out.f[k] = x - y
			case "Mul":
				out.f[k] = x * y
			case "Div":
				out.f[k] = x / y
			}
		}
		return out, nil
	}
	out.i = make([]int64, len(ia))
	for k := range ia {
		x, y := a.i[ia[k]], b.i[ib[k]]
		switch op {
		case "Add":
			out.i[k] = x + y
		case "Sub":
			out.i[k] = x - y
		case "Mul":
			out.i[k] = x * y
		case "Div":
			if y == 0 {
				return nil, errors.New("integer division by zero")
			}
			out.i[k] = x / y
		}
		out.i[k] = out.wrapInt(out.i[k])
	}
	return out, nil
}

// nchwToNHWC re-lays a rank-4 constant from NCHW to NHWC.
func nchwToNHWC(c *constant) *constant { return transposeConst(c, []int{0, 2, 3, 1}) }
