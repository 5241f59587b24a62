package kernels

import "strconv"

// Concat joins tensors along one axis, set up once for their shapes.
type Concat struct {
	out   []int
	outer int   // product of the dimensions before the axis
	rows  []int // per input: elements per outer index (dim[axis]*inner)
	sizes []int // per input: total elements
	orow  int   // output elements per outer index
}

// NewConcat sets up the concatenation of tensors of the given shapes along
// axis (negative counts from the end). Every shape must have the same rank
// (1..8) and agree on every other axis; the error names the first input
// that does not.
func NewConcat(shapes [][]int, axis int) (*Concat, error) {
	const where = "NewConcat"
	if len(shapes) == 0 {
		return nil, layoutErr(where, "no inputs")
	}
	if len(shapes) > layoutMaxElems {
		return nil, layoutErr(where, "too many inputs")
	}
	r := len(shapes[0])
	ax, err := layoutAxis(where, axis, r)
	if err != nil {
		return nil, err
	}
	c := &Concat{rows: make([]int, len(shapes)), sizes: make([]int, len(shapes))}
	out := make([]int, r)
	for i, s := range shapes {
		name := "input " + strconv.Itoa(i) + " shape"
		if _, err := layoutCount(where, name, s, false); err != nil {
			return nil, err
		}
		if len(s) != r {
			return nil, layoutErr(where, name+" "+layoutDims(s)+" has rank "+strconv.Itoa(len(s))+", input 0 has rank "+strconv.Itoa(r))
		}
		for d := range r {
			if d != ax && s[d] != shapes[0][d] {
				return nil, layoutErr(where, name+" "+layoutDims(s)+" differs from input 0 "+layoutDims(shapes[0])+" at axis "+strconv.Itoa(d)+", not the concat axis "+strconv.Itoa(ax))
			}
		}
		if out[ax] > layoutMaxElems-s[ax] {
			return nil, layoutErr(where, "output has more than 2^31 elements")
		}
		out[ax] += s[ax]
	}
	for d := range r {
		if d != ax {
			out[d] = shapes[0][d]
		}
	}
	if _, err := layoutCount(where, "output shape", out, false); err != nil {
		return nil, err
	}
	c.out = out
	c.outer = layoutProd(out[:ax])
	inner := layoutProd(out[ax+1:])
	c.orow = out[ax] * inner
	for i, s := range shapes {
		c.rows[i] = s[ax] * inner
		c.sizes[i] = c.rows[i] * c.outer
	}
	return c, nil
}

// OutShape returns the output shape. The caller must not modify it.
func (c *Concat) OutShape() []int { return c.out }

// Run copies xs (one row-major slice per input, in order) into y (the
// output, row major). y must not overlap any input. It does not allocate.
func (c *Concat) Run(xs [][]float32, y []float32) {
	xs = xs[:len(c.rows)]
	y = y[:c.outer*c.orow]
	off := 0
	for i, x := range xs {
		x = x[:c.sizes[i]]
		rw := c.rows[i]
		for o := range c.outer {
			copy(y[o*c.orow+off:o*c.orow+off+rw], x[o*rw:(o+1)*rw])
		}
		off += rw
	}
}
