package kernels

import "strconv"

// BinaryOp is an elementwise binary operation.
type BinaryOp uint8

// The elementwise binary operations. Max and Min follow Go's max and min
// (a NaN operand gives NaN, -0 is below +0), as wasm's f32x4.max/min do.
const (
	BinAdd   BinaryOp = iota // a + b
	BinSub                   // a - b
	BinMul                   // a * b
	BinDiv                   // a / b
	BinPRelu                 // a if a >= 0 else a*b
	BinMax                   // max(a, b)
	BinMin                   // min(a, b)
	binOpCount
)

// Binary is an elementwise binary operation between two tensors with NumPy
// broadcasting, set up once for a pair of shapes.
//
// The constructor right-aligns the shapes, checks that each axis agrees or
// is 1 on one side, drops size-1 axes and merges neighbouring axes that are
// contiguous in both operands. Run then walks the merged axes with an
// odometer and hands each innermost row to one of three loops: both operands
// contiguous, b scalar over the row, or a scalar over the row. A per-channel
// b over the last axis of a (bias, scale, PRelu slope) has a loop of its
// own that keeps b's lanes in registers.
type Binary struct {
	op     BinaryOp
	out    []int
	n      int // output elements
	an, bn int // operand elements
	r      int // merged rank, >= 1
	dims   [layoutMaxRank]int
	sa, sb [layoutMaxRank]int // merged strides, 0 where broadcast
	// channel: a is [rows, dims[1]] and b a vector of dims[1] (per-channel)
	channel bool
}

// NewBinary sets up op between tensors of shapes aShape and bShape (row
// major; ranks 0..8 and may differ; a rank-0 shape is a scalar). It returns
// an error naming the problem when op is unknown, a shape is invalid, or the
// shapes do not broadcast.
func NewBinary(op BinaryOp, aShape, bShape []int) (*Binary, error) {
	const where = "NewBinary"
	if op >= binOpCount {
		return nil, layoutErr(where, "unknown op "+strconv.Itoa(int(op)))
	}
	an, err := layoutCount(where, "a shape", aShape, true)
	if err != nil {
		return nil, err
	}
	bn, err := layoutCount(where, "b shape", bShape, true)
	if err != nil {
		return nil, err
	}
	r := max(len(aShape), len(bShape))
	out := make([]int, r)
	var da, db [layoutMaxRank]int
	for i := range r {
		da[i], db[i] = 1, 1
		if j := i - (r - len(aShape)); j >= 0 {
			da[i] = aShape[j]
		}
		if j := i - (r - len(bShape)); j >= 0 {
			db[i] = bShape[j]
		}
		switch {
		case da[i] == db[i], db[i] == 1:
			out[i] = da[i]
		case da[i] == 1:
			out[i] = db[i]
		default:
			return nil, layoutErr(where, "shapes "+layoutDims(aShape)+" and "+layoutDims(bShape)+
				" do not broadcast at axis "+strconv.Itoa(i-r)+" ("+strconv.Itoa(da[i])+" vs "+strconv.Itoa(db[i])+")")
		}
	}
	n, err := layoutCount(where, "output shape", out, true)
	if err != nil {
		return nil, err
	}
	b := &Binary{op: op, out: out, n: n, an: an, bn: bn}
	// Strides of the broadcast operands, then drop size-1 output axes and
	// merge axes that are contiguous in both operands.
	sta, stb := 1, 1
	var sa, sb [layoutMaxRank]int
	for i := r - 1; i >= 0; i-- {
		if da[i] != 1 {
			sa[i] = sta
		}
		if db[i] != 1 {
			sb[i] = stb
		}
		sta *= da[i]
		stb *= db[i]
	}
	for i := range r {
		if out[i] == 1 {
			continue
		}
		if k := b.r - 1; k >= 0 && b.sa[k] == sa[i]*out[i] && b.sb[k] == sb[i]*out[i] {
			b.dims[k] *= out[i]
			b.sa[k], b.sb[k] = sa[i], sb[i]
			continue
		}
		b.dims[b.r], b.sa[b.r], b.sb[b.r] = out[i], sa[i], sb[i]
		b.r++
	}
	if b.r == 0 {
		b.dims[0], b.sa[0], b.sb[0], b.r = 1, 1, 1, 1
	}
	b.channel = b.r == 2 && b.sa[0] == b.dims[1] && b.sa[1] == 1 && b.sb[0] == 0 && b.sb[1] == 1
	return b, nil
}

// OutShape returns the broadcast output shape. The caller must not modify it.
func (b *Binary) OutShape() []int { return b.out }

// Run computes out = op(a, bv) with broadcasting. a, bv and out hold the
// row-major elements of a, b and the output shape (longer slices are
// truncated; shorter ones panic). out may be the same slice as an operand of
// the output's size (in place); other overlaps are not allowed. Run does not
// allocate.
func (b *Binary) Run(a, bv, out []float32) {
	a, bv, out = a[:b.an], bv[:b.bn], out[:b.n]
	r := b.r
	inner := b.dims[r-1]
	ia, ib := b.sa[r-1], b.sb[r-1]
	if r == 1 {
		b.row(a, bv, out, ia, ib)
		return
	}
	if b.channel {
		hot.binChannel(b.op, a, bv, out)
		return
	}
	var idx [layoutMaxRank]int
	offA, offB := 0, 0
	for o := 0; o < b.n; o += inner {
		b.row(a[offA:], bv[offB:], out[o:o+inner], ia, ib)
		for d := r - 2; d >= 0; d-- {
			idx[d]++
			offA += b.sa[d]
			offB += b.sb[d]
			if idx[d] < b.dims[d] {
				break
			}
			offA -= b.sa[d] * b.dims[d]
			offB -= b.sb[d] * b.dims[d]
			idx[d] = 0
		}
	}
}

// row applies the op to one innermost row; ia and ib are the operands'
// strides along it (1, or 0 where that operand broadcasts).
func (b *Binary) row(a, bv, out []float32, ia, ib int) {
	switch {
	case ia != 0 && ib != 0:
		hot.binSame(b.op, a[:len(out)], bv[:len(out)], out)
	case ia != 0:
		hot.binScalarB(b.op, a[:len(out)], bv[0], out)
	case ib != 0:
		hot.binScalarA(b.op, a[0], bv[:len(out)], out)
	default: // a single element on both sides
		hot.binSame(b.op, a[:1], bv[:1], out)
	}
}

// binChannelScalar computes out[i] = op(a[i], b[i%len(b)]): a and out are
// rows of len(b) channels.
func binChannelScalar(op BinaryOp, a, b, out []float32) {
	c := len(b)
	a = a[:len(out)]
	for o := 0; o+c <= len(out); o += c {
		binSameScalar(op, a[o:o+c], b, out[o:o+c])
	}
}

// binSameScalar computes out[i] = op(a[i], b[i]).
func binSameScalar(op BinaryOp, a, b, out []float32) {
	a, b = a[:len(out)], b[:len(out)]
	switch op {
	case BinAdd:
		for i := range out {
			out[i] = a[i] + b[i]
		}
	case BinSub:
		for i := range out {
			out[i] = a[i] - b[i]
		}
	case BinMul:
		for i := range out {
			out[i] = a[i] * b[i]
		}
	case BinDiv:
		for i := range out {
			out[i] = a[i] / b[i]
		}
	case BinPRelu:
		for i := range out {
			if v := a[i]; v >= 0 {
				out[i] = v
			} else {
				out[i] = v * b[i]
			}
		}
	case BinMax:
		for i := range out {
			out[i] = max(a[i], b[i])
		}
	case BinMin:
		for i := range out {
			out[i] = min(a[i], b[i])
		}
	}
}

// binScalarBScalar computes out[i] = op(a[i], s).
func binScalarBScalar(op BinaryOp, a []float32, s float32, out []float32) {
	a = a[:len(out)]
	switch op {
	case BinAdd:
		for i := range out {
			out[i] = a[i] + s
		}
	case BinSub:
		for i := range out {
			out[i] = a[i] - s
		}
	case BinMul:
		for i := range out {
			out[i] = a[i] * s
		}
	case BinDiv:
		for i := range out {
			out[i] = a[i] / s
		}
	case BinPRelu:
		for i := range out {
			if v := a[i]; v >= 0 {
				out[i] = v
			} else {
				out[i] = v * s
			}
		}
	case BinMax:
		for i := range out {
			out[i] = max(a[i], s)
		}
	case BinMin:
		for i := range out {
			out[i] = min(a[i], s)
		}
	}
}

// binScalarAScalar computes out[i] = op(s, b[i]).
func binScalarAScalar(op BinaryOp, s float32, b, out []float32) {
	b = b[:len(out)]
	switch op {
	case BinAdd:
		for i := range out {
			out[i] = s + b[i]
		}
	case BinSub:
		for i := range out {
			out[i] = s - b[i]
		}
	case BinMul:
		for i := range out {
			out[i] = s * b[i]
		}
	case BinDiv:
		for i := range out {
			out[i] = s / b[i]
		}
	case BinPRelu:
		for i := range out {
			if s >= 0 {
				out[i] = s
			} else {
				out[i] = s * b[i]
			}
		}
	case BinMax:
		for i := range out {
			out[i] = max(s, b[i])
		}
	case BinMin:
		for i := range out {
			out[i] = min(s, b[i])
		}
	}
}
