package kernels

// ConcatGrad splits the gradient of a concatenation back into its inputs'
// gradients, set up once for the inputs' shapes.
type ConcatGrad struct {
	fwd *Concat
}

// NewConcatGrad sets up the gradient of the concatenation of tensors of the
// given shapes along axis, with NewConcat's checks and errors.
func NewConcatGrad(shapes [][]int, axis int) (*ConcatGrad, error) {
	c, err := NewConcat(shapes, axis)
	if err != nil {
		return nil, err
	}
	return &ConcatGrad{fwd: c}, nil
}

// OutShape returns the concatenation's output shape (dy's shape). The caller
// must not modify it.
func (g *ConcatGrad) OutShape() []int { return g.fwd.out }

// Run copies each input's part of dy (row major, the output's shape) into
// dxs[i] (row major, input i's shape), overwriting it; a nil dxs[i] is
// skipped (no gradient wanted). No dxs[i] may overlap dy. It does not
// allocate.
func (g *ConcatGrad) Run(dy []float32, dxs [][]float32) {
	c := g.fwd
	dxs = dxs[:len(c.rows)]
	dy = dy[:c.outer*c.orow]
	off := 0
	for i, dx := range dxs {
		rw := c.rows[i]
		if dx != nil {
			dx = dx[:c.sizes[i]]
			for o := range c.outer {
				copy(dx[o*rw:(o+1)*rw], dy[o*c.orow+off:o*c.orow+off+rw])
			}
		}
		off += rw
	}
}
