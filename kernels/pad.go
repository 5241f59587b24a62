package kernels

import (
	"math"
	"strconv"
)

// Pad pads a tensor on every side of every axis, set up once for a shape.
type Pad struct {
	out      []int
	n, on    int
	r        int
	value    float32
	constant bool
	begin    [layoutMaxRank]int
	end      [layoutMaxRank]int
	dims     [layoutMaxRank]int // input dims
	istr     [layoutMaxRank]int // input strides
	// src[d][o] is the input index along axis d that output index o reads,
	// or -1 for the constant value.
	src [layoutMaxRank][]int32
}

// NewPad sets up padding of a tensor of shape shape (row major, rank 1..8).
// pads holds the begin of every axis then the end of every axis (2*rank
// non-negative counts). mode is "constant" (fill with value), "reflect"
// (mirror without repeating the edge, as NumPy/ONNX "reflect" and TF
// "REFLECT"; each pad must be below its axis's size) or "edge" (repeat the
// edge). The error names the bad mode, pad or shape.
func NewPad(shape []int, pads []int, mode string, value float32) (*Pad, error) {
	const where = "NewPad"
	n, err := layoutCount(where, "shape", shape, false)
	if err != nil {
		return nil, err
	}
	r := len(shape)
	if len(pads) != 2*r {
		return nil, layoutErr(where, "pads has "+strconv.Itoa(len(pads))+" values, want 2*rank = "+strconv.Itoa(2*r))
	}
	if mode != "constant" && mode != "reflect" && mode != "edge" {
		return nil, layoutErr(where, "unknown mode \""+mode+"\" (want constant, reflect or edge)")
	}
	p := &Pad{n: n, r: r, value: value, constant: mode == "constant", out: make([]int, r)}
	for d := range r {
		b, e := pads[d], pads[r+d]
		ax := " for axis " + strconv.Itoa(d) + " of size " + strconv.Itoa(shape[d])
		if b < 0 || e < 0 {
			return nil, layoutErr(where, "negative pad "+strconv.Itoa(min(b, e))+ax)
		}
		if mode == "reflect" && max(b, e) >= shape[d] {
			return nil, layoutErr(where, "reflect pad "+strconv.Itoa(max(b, e))+" not below the size"+ax)
		}
		if b > layoutMaxElems || e > layoutMaxElems-b-shape[d] {
			return nil, layoutErr(where, "pad too large"+ax)
		}
		p.begin[d], p.end[d], p.dims[d] = b, e, shape[d]
		p.out[d] = shape[d] + b + e
	}
	on, err := layoutCount(where, "output shape", p.out, false)
	if err != nil {
		return nil, err
	}
	p.on = on
	copy(p.istr[:], layoutStrides(shape))
	for d := range r {
		m := make([]int32, p.out[d])
		nd := shape[d]
		for o := range m {
			i := o - p.begin[d]
			switch {
			case i >= 0 && i < nd:
			case mode == "constant":
				i = -1
			case mode == "edge":
				i = min(max(i, 0), nd-1)
			case i < 0: // reflect
				i = -i
			default:
				i = 2*(nd-1) - i
			}
			m[o] = int32(i)
		}
		p.src[d] = m
	}
	return p, nil
}

// OutShape returns the padded shape. The caller must not modify it.
func (p *Pad) OutShape() []int { return p.out }

// Run pads x (the input, row major) into y (the output, row major). y must
// not overlap x. It does not allocate.
func (p *Pad) Run(x, y []float32) {
	x, y = x[:p.n], y[:p.on]
	r := p.r
	last := p.src[r-1]
	ow := len(last)
	b, nd := p.begin[r-1], p.dims[r-1]
	var idx [layoutMaxRank]int
	for o := 0; o < p.on; o += ow {
		row := y[o : o+ow]
		off := p.rowSource(&idx)
		switch {
		case off < 0:
			p.fill(row)
		case p.constant:
			// Both pads of the row are the value: no per-element lookup
			// (a channel pad, as BlazeFace's, is mostly such rows).
			p.fill(row[:b])
			copy(row[b:b+nd], x[off:off+nd])
			p.fill(row[b+nd:])
		default:
			xr := x[off : off+nd]
			for j := range b {
				if i := last[j]; i >= 0 {
					row[j] = xr[i]
				} else {
					row[j] = p.value
				}
			}
			copy(row[b:b+nd], xr)
			for j := b + nd; j < ow; j++ {
				if i := last[j]; i >= 0 {
					row[j] = xr[i]
				} else {
					row[j] = p.value
				}
			}
		}
		p.nextRow(&idx)
	}
}

// fill sets row to the pad value.
func (p *Pad) fill(row []float32) {
	if math.Float32bits(p.value) == 0 { // +0: clear writes its bits
		clear(row)
		return
	}
	for j := range row {
		row[j] = p.value
	}
}

// rowSource returns the offset in the input of the row that the output row
// at idx (its indices over every axis but the last) reads, or -1 when the
// row lies in a constant pad.
func (p *Pad) rowSource(idx *[layoutMaxRank]int) int {
	off := 0
	for d := range p.r - 1 {
		i := p.src[d][idx[d]]
		if i < 0 {
			return -1
		}
		off += int(i) * p.istr[d]
	}
	return off
}

// nextRow advances idx to the next output row.
func (p *Pad) nextRow(idx *[layoutMaxRank]int) {
	for d := p.r - 2; d >= 0; d-- {
		idx[d]++
		if idx[d] < p.out[d] {
			return
		}
		idx[d] = 0
	}
}
