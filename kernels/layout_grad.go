package kernels

// Gradients of the layout and reduction ops that the Trainer meets between
// trained layers: Pad, Mean and Softmax. Transpose's gradient is the
// transpose by the inverse permutation, and Concat's is ConcatGrad.

// Grad writes the gradient of p's input, dx (the input's shape, row major),
// from the gradient of its output, dy (the padded shape): every output
// element adds its gradient to the input element it was read from, so a
// constant pad drops the border's gradient and "edge" and "reflect" pads
// add it back onto the elements they copied. dx is overwritten and must not
// overlap dy. It does not allocate.
func (p *Pad) Grad(dy, dx []float32) {
	dy, dx = dy[:p.on], dx[:p.n]
	clear(dx)
	r := p.r
	last := p.src[r-1]
	ow := len(last)
	var idx [layoutMaxRank]int
	for o := 0; o < p.on; o += ow {
		if off := p.rowSource(&idx); off >= 0 {
			xr, row := dx[off:off+p.dims[r-1]], dy[o:o+ow]
			for j, i := range last {
				if i >= 0 {
					xr[i] += row[j]
				}
			}
		}
		p.nextRow(&idx)
	}
}

// Grad writes the gradient of m's input, dx (the input's shape, row major),
// from the gradient of its output, dy: every input element receives its
// output's gradient divided by the number of elements averaged. dx is
// overwritten and must not overlap dy. It does not allocate.
func (m *Mean) Grad(dy, dx []float32) {
	dy, dx = dy[:m.on], dx[:m.n]
	inv := float32(1 / float64(m.redCount))
	if m.single {
		red, inner := m.red, m.inner
		for o := range m.outer {
			g := dy[o*inner : (o+1)*inner]
			for r := range red {
				row := dx[(o*red+r)*inner : (o*red+r+1)*inner]
				for i, v := range g {
					row[i] = v * inv
				}
			}
		}
		return
	}
	var ki [layoutMaxRank]int
	koff := 0
	for _, g := range dy {
		g *= inv
		var ri [layoutMaxRank]int
		roff := 0
		for range m.redCount {
			dx[koff+roff] = g
			layoutNext(&ri, &roff, &m.rd, &m.rs, m.rr)
		}
		layoutNext(&ki, &koff, &m.kd, &m.ks, m.kr)
	}
}

// SoftmaxGrad computes the gradient through Softmax from its output y and
// the output's gradient dy, laid out as Softmax's [outer, axis, inner]:
// dx = y * (dy - sum over the axis of dy*y), the sum in float64 rounded once.
// dx may be dy; other overlaps are not allowed. It does not allocate.
func SoftmaxGrad(y, dy, dx []float32, outer, axis, inner int) {
	n := outer * axis * inner
	y, dy, dx = y[:n], dy[:n], dx[:n]
	for o := range outer {
		base := o * axis * inner
		for i := range inner {
			var s float64
			for a := range axis {
				k := base + a*inner + i
				s += float64(dy[k]) * float64(y[k])
			}
			sf := float32(s)
			for a := range axis {
				k := base + a*inner + i
				dx[k] = y[k] * (dy[k] - sf)
			}
		}
	}
}
