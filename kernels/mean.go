package kernels

import "strconv"

// Mean averages a tensor over some of its axes, set up once for a shape.
//
// The constructor drops size-1 axes and merges neighbouring axes that are
// both reduced or both kept. The common case, one reduced run of axes
// (outer, reduced, inner), runs as GlobalAvgPool(outer, reduced, inner);
// anything else sums each output's cells in float64 and rounds once.
type Mean struct {
	out    []int
	n, on  int // input and output elements
	single bool
	outer  int // single: [outer, red, inner]
	red    int
	inner  int
	// general case: kept and reduced axes with their input strides
	kr, rr   int
	kd, ks   [layoutMaxRank]int
	rd, rs   [layoutMaxRank]int
	redCount int
}

// NewMean sets up the mean of a tensor of shape shape (row major, rank
// 1..8) over axes (negative counts from the end; empty means every axis).
// With keepDims the reduced axes stay as size 1, otherwise they are removed.
// It returns an error naming a bad shape, an axis out of range or repeated.
func NewMean(shape []int, axes []int, keepDims bool) (*Mean, error) {
	const where = "NewMean"
	n, err := layoutCount(where, "shape", shape, false)
	if err != nil {
		return nil, err
	}
	r := len(shape)
	var reduced [layoutMaxRank]bool
	if len(axes) == 0 {
		for i := range r {
			reduced[i] = true
		}
	}
	for _, a := range axes {
		ax, err := layoutAxis(where, a, r)
		if err != nil {
			return nil, err
		}
		if reduced[ax] {
			return nil, layoutErr(where, "axis "+strconv.Itoa(a)+" repeated in axes")
		}
		reduced[ax] = true
	}
	m := &Mean{n: n, out: []int{}}
	for i, d := range shape {
		switch {
		case !reduced[i]:
			m.out = append(m.out, d)
		case keepDims:
			m.out = append(m.out, 1)
		}
	}
	m.on = layoutProd(m.out)
	m.redCount = n / m.on
	// Merge runs of axes of one kind, skipping size-1 axes.
	var gd [layoutMaxRank]int
	var gr [layoutMaxRank]bool
	g := 0
	for i, d := range shape {
		if d == 1 {
			continue
		}
		if g > 0 && gr[g-1] == reduced[i] {
			gd[g-1] *= d
			continue
		}
		gd[g], gr[g] = d, reduced[i]
		g++
	}
	nred := 0
	for i := range g {
		if gr[i] {
			nred++
		}
	}
	if nred <= 1 {
		m.single = true
		m.outer, m.red, m.inner = 1, 1, 1
		seen := false
		for i := range g {
			switch {
			case gr[i]:
				m.red, seen = gd[i], true
			case seen:
				m.inner *= gd[i]
			default:
				m.outer *= gd[i]
			}
		}
		return m, nil
	}
	st := 1
	var gs [layoutMaxRank]int
	for i := g - 1; i >= 0; i-- {
		gs[i] = st
		st *= gd[i]
	}
	for i := range g {
		if gr[i] {
			m.rd[m.rr], m.rs[m.rr] = gd[i], gs[i]
			m.rr++
		} else {
			m.kd[m.kr], m.ks[m.kr] = gd[i], gs[i]
			m.kr++
		}
	}
	return m, nil
}

// OutShape returns the output shape. The caller must not modify it.
func (m *Mean) OutShape() []int { return m.out }

// Run writes the means of x (the input, row major) into y (the output, row
// major). y must not overlap x. It does not allocate.
func (m *Mean) Run(x, y []float32) {
	x, y = x[:m.n], y[:m.on]
	if m.single {
		if m.red == 1 {
			copy(y, x)
			return
		}
		hot.gap(m.outer, m.red, m.inner, x, y)
		return
	}
	var ki [layoutMaxRank]int
	koff := 0
	for o := range y {
		var ri [layoutMaxRank]int
		roff := 0
		var sum float64
		for range m.redCount {
			sum += float64(x[koff+roff])
			layoutNext(&ri, &roff, &m.rd, &m.rs, m.rr)
		}
		y[o] = float32(sum / float64(m.redCount))
		layoutNext(&ki, &koff, &m.kd, &m.ks, m.kr)
	}
}
