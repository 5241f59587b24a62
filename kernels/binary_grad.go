package kernels

import "strconv"

// BinaryGrad computes the gradients of an elementwise binary operation with
// NumPy broadcasting with respect to both operands, set up once for a pair
// of shapes. It shares Binary's plan (merged axes and broadcast strides): the
// gradient of an operand is dy's contribution summed over the axes along
// which that operand broadcasts.
type BinaryGrad struct {
	fwd *Binary
}

// NewBinaryGrad sets up the gradient of op between tensors of shapes aShape
// and bShape (as NewBinary). op must be BinAdd, BinSub, BinMul, BinDiv or
// BinPRelu; the error names an op without a gradient here (Max and Min) and
// every problem NewBinary names.
func NewBinaryGrad(op BinaryOp, aShape, bShape []int) (*BinaryGrad, error) {
	if op > BinPRelu {
		return nil, layoutErr("NewBinaryGrad", "op "+strconv.Itoa(int(op))+" has no gradient kernel (Add, Sub, Mul, Div and PRelu do)")
	}
	b, err := NewBinary(op, aShape, bShape)
	if err != nil {
		return nil, err
	}
	return &BinaryGrad{fwd: b}, nil
}

// OutShape returns the broadcast output shape (dy's shape). The caller must
// not modify it.
func (g *BinaryGrad) OutShape() []int { return g.fwd.out }

// Run computes da and db, the gradients of a and b, from dy, the gradient of
// the output; both are overwritten, and either may be nil when it is not
// wanted. a and b are the forward's operands (Mul, Div and PRelu read them;
// Add and Sub do not, and a and b may then be nil). All slices are row major
// in their tensor's shape. The derivatives per output element:
//
//	Add    da += dy          db += dy
//	Sub    da += dy          db -= dy
//	Mul    da += dy*b        db += dy*a
//	Div    da += dy/b        db -= (dy/b)*(a/b)
//	PRelu  da += a >= 0 ? dy : dy*b          db += a < 0 ? dy*a : 0
//
// An operand of the output's shape gets its element's value (written, not
// added to zero, when both operands have the output's shape); a broadcast one
// the sum, in float32, in row-major output order, except a per-channel b over
// the last axis of a (bias, scale, PRelu slope), whose sums run in float32
// over blocks of 16 rows added in float64. da and db must not overlap each
// other or the inputs. Run does not allocate.
func (g *BinaryGrad) Run(a, b, dy, da, db []float32) {
	f := g.fwd
	dy = dy[:f.n]
	if f.op != BinAdd && f.op != BinSub {
		a, b = a[:f.an], b[:f.bn]
	}
	if da != nil {
		da = da[:f.an]
		clear(da)
	}
	if db != nil {
		db = db[:f.bn]
		clear(db)
	}
	r := f.r
	if r == 1 && f.sa[0] == 1 && f.sb[0] == 1 { // same shape: written, not summed
		if da != nil {
			gradHot.binGradSameA(f.op, a, b, dy, da)
		}
		if db != nil {
			gradHot.binGradSameB(f.op, a, b, dy, db)
		}
		return
	}
	if f.channel {
		binGradChannel(f.op, a, b, dy, da, db, f.dims[1])
		return
	}
	inner := f.dims[r-1]
	ia, ib := f.sa[r-1], f.sb[r-1]
	var idx [layoutMaxRank]int
	offA, offB := 0, 0
	for o := 0; o < f.n; o += inner {
		binGradRow(f.op, a, b, dy[o:o+inner], da, db, offA, offB, ia, ib)
		for d := r - 2; d >= 0; d-- {
			idx[d]++
			offA += f.sa[d]
			offB += f.sb[d]
			if idx[d] < f.dims[d] {
				break
			}
			offA -= f.sa[d] * f.dims[d]
			offB -= f.sb[d] * f.dims[d]
			idx[d] = 0
		}
	}
}

// binGradRow accumulates one innermost row of dy into da and db: element i
// of the row reads and updates a and da at offA+i*ia, b and db at offB+i*ib
// (strides 1, or 0 where the operand broadcasts along the row).
func binGradRow(op BinaryOp, a, b, dy, da, db []float32, offA, offB, ia, ib int) {
	if da != nil {
		switch op {
		case BinAdd, BinSub:
			for i, g := range dy {
				da[offA+i*ia] += g
			}
		case BinMul:
			for i, g := range dy {
				da[offA+i*ia] += g * b[offB+i*ib]
			}
		case BinDiv:
			for i, g := range dy {
				da[offA+i*ia] += g / b[offB+i*ib]
			}
		case BinPRelu:
			for i, g := range dy {
				if a[offA+i*ia] < 0 {
					g *= b[offB+i*ib]
				}
				da[offA+i*ia] += g
			}
		}
	}
	if db != nil {
		switch op {
		case BinAdd:
			for i, g := range dy {
				db[offB+i*ib] += g
			}
		case BinSub:
			for i, g := range dy {
				db[offB+i*ib] -= g
			}
		case BinMul:
			for i, g := range dy {
				db[offB+i*ib] += g * a[offA+i*ia]
			}
		case BinDiv:
			for i, g := range dy {
				vb := b[offB+i*ib]
				db[offB+i*ib] -= float32(g/vb) * float32(a[offA+i*ia]/vb)
			}
		case BinPRelu:
			for i, g := range dy {
				if va := a[offA+i*ia]; va < 0 {
					db[offB+i*ib] += g * va
				}
			}
		}
	}
}

// binGradChannel is Run for a = [rows, c] and b a vector of c channels:
// da row by row, db summed over the rows (binGradChannelBScalar).
func binGradChannel(op BinaryOp, a, b, dy, da, db []float32, c int) {
	if da != nil {
		for o := 0; o < len(dy); o += c {
			var ar []float32
			if op == BinPRelu {
				ar = a[o : o+c]
			}
			gradHot.binGradSameA(op, ar, b, dy[o:o+c], da[o:o+c])
		}
	}
	if db != nil {
		gradHot.binGradChannelB(op, a, b, dy, db, c)
	}
}

// binGradChannelBScalar sums db for a = [rows, c] and b a vector of c
// channels: 16 rows at a time in float32 (binGradAccBScalar), the block sums
// added in float64, channels 64 at a time so that the accumulators live on
// the stack (its SIMD twin repeats the loop: a stack array passed through
// a function value would escape to the heap).
func binGradChannelBScalar(op BinaryOp, a, b, dy, db []float32, c int) {
	rows := len(dy) / c
	const chunk = 64
	var part [chunk]float32
	var acc [chunk]float64
	for c0 := 0; c0 < c; c0 += chunk {
		cn := min(chunk, c-c0)
		clear(acc[:cn])
		for r0 := 0; r0 < rows; r0 += gapBlock {
			clear(part[:cn])
			for r := r0; r < min(r0+gapBlock, rows); r++ {
				o := r*c + c0
				var ar, br []float32
				if op != BinAdd && op != BinSub {
					ar, br = a[o:o+cn], b[c0:c0+cn]
				}
				binGradAccBScalar(op, ar, br, dy[o:o+cn], part[:cn])
			}
			for j := range cn {
				acc[j] += float64(part[j])
			}
		}
		for j := range cn {
			db[c0+j] = float32(acc[j])
		}
	}
}

// binGradSameAScalar writes da for a, b and dy of one shape (a is read by
// PRelu only, b by Mul, Div and PRelu).
func binGradSameAScalar(op BinaryOp, a, b, dy, da []float32) {
	da = da[:len(dy)]
	switch op {
	case BinAdd, BinSub:
		copy(da, dy)
	case BinMul:
		b = b[:len(dy)]
		for i, g := range dy {
			da[i] = g * b[i]
		}
	case BinDiv:
		b = b[:len(dy)]
		for i, g := range dy {
			da[i] = g / b[i]
		}
	case BinPRelu:
		a, b = a[:len(dy)], b[:len(dy)]
		for i, g := range dy {
			if a[i] < 0 {
				g *= b[i]
			}
			da[i] = g
		}
	}
}

// binGradSameBScalar writes db for a, b and dy of one shape (a is read by
// Mul, Div and PRelu, b by Div).
func binGradSameBScalar(op BinaryOp, a, b, dy, db []float32) {
	db = db[:len(dy)]
	switch op {
	case BinAdd:
		copy(db, dy)
	case BinSub:
		for i, g := range dy {
			db[i] = -g
		}
	case BinMul:
		a = a[:len(dy)]
		for i, g := range dy {
			db[i] = g * a[i]
		}
	case BinDiv:
		a, b = a[:len(dy)], b[:len(dy)]
		for i, g := range dy {
			vb := b[i]
			db[i] = -(float32(g/vb) * float32(a[i]/vb))
		}
	case BinPRelu:
		a = a[:len(dy)]
		for i, g := range dy {
			if va := a[i]; va < 0 {
				db[i] = g * va
			} else {
				db[i] = 0
			}
		}
	}
}

// binGradAccBScalar adds one row's db terms into acc (a, b and dy of one
// shape, b read by Div only): binGradRow's db loops with unit strides.
func binGradAccBScalar(op BinaryOp, a, b, dy, acc []float32) {
	binGradRow(op, a, b, dy, nil, acc, 0, 0, 1, 1)
}
