package kernels

import "strconv"

// Transpose permutes the axes of a tensor, set up once for a shape.
//
// The constructor drops size-1 axes and merges runs of axes that stay
// neighbours in the same order, so NHWC<->NCHW becomes a batch of 2-D
// transposes ([N,HW,C] perm [0,2,1]), which runs in cache-sized tiles.
type Transpose struct {
	out  []int
	n    int
	r    int
	od   [layoutMaxRank]int // merged output dims
	is   [layoutMaxRank]int // input stride of each merged output axis
	kind uint8              // transposeCopy, transpose2D, transposeBatch2D, transposeGeneral
}

const (
	transposeCopy = iota
	transpose2D
	transposeBatch2D
	transposeGeneral
)

// NewTranspose sets up the permutation perm of a tensor of shape shape (row
// major, rank 1..8): output axis i is input axis perm[i]. An empty perm
// reverses the axes. The error names a bad shape, a perm of the wrong length,
// an axis out of range or repeated.
func NewTranspose(shape, perm []int) (*Transpose, error) {
	const where = "NewTranspose"
	n, err := layoutCount(where, "shape", shape, false)
	if err != nil {
		return nil, err
	}
	r := len(shape)
	var pm [layoutMaxRank]int
	if len(perm) == 0 {
		for i := range r {
			pm[i] = r - 1 - i
		}
	} else {
		if len(perm) != r {
			return nil, layoutErr(where, "perm "+layoutDims(perm)+" has "+strconv.Itoa(len(perm))+" axes, shape "+layoutDims(shape)+" has "+strconv.Itoa(r))
		}
		var seen [layoutMaxRank]bool
		for i, a := range perm {
			if a < 0 || a >= r {
				return nil, layoutErr(where, "perm "+layoutDims(perm)+" axis "+strconv.Itoa(a)+" out of range for rank "+strconv.Itoa(r))
			}
			if seen[a] {
				return nil, layoutErr(where, "perm "+layoutDims(perm)+" repeats axis "+strconv.Itoa(a))
			}
			seen[a] = true
			pm[i] = a
		}
	}
	t := &Transpose{n: n, out: make([]int, r)}
	for i := range r {
		t.out[i] = shape[pm[i]]
	}
	istr := layoutStrides(shape)
	// Walk the output axes, skip size-1 ones, merge an axis into the previous
	// one when it is the next input axis (contiguous behind it).
	for i := range r {
		a := pm[i]
		if shape[a] == 1 {
			continue
		}
		if t.r > 0 && t.is[t.r-1] == istr[a]*shape[a] {
			t.od[t.r-1] *= shape[a]
			t.is[t.r-1] = istr[a]
			continue
		}
		t.od[t.r], t.is[t.r] = shape[a], istr[a]
		t.r++
	}
	switch {
	case t.r <= 1: // the identity once merged
		t.kind = transposeCopy
	case t.r == 2:
		t.kind = transpose2D
	case t.r == 3 && t.is[1] == 1 && t.is[0] == t.od[1]*t.od[2]:
		t.kind = transposeBatch2D
	default:
		t.kind = transposeGeneral
	}
	return t, nil
}

// OutShape returns the permuted shape. The caller must not modify it.
func (t *Transpose) OutShape() []int { return t.out }

// Run writes the permutation of x (the input, row major) into y (the output,
// row major). y must not overlap x. It does not allocate.
func (t *Transpose) Run(x, y []float32) {
	x, y = x[:t.n], y[:t.n]
	switch t.kind {
	case transposeCopy:
		copy(y, x)
	case transpose2D:
		// output [od0, od1] reads input [od1, od0]
		transposeTiled(x, y, t.od[1], t.od[0])
	case transposeBatch2D:
		rows, cols := t.od[2], t.od[1] // input of each batch is [rows, cols]
		m := rows * cols
		for b := range t.od[0] {
			transposeTiled(x[b*m:(b+1)*m], y[b*m:(b+1)*m], rows, cols)
		}
	default:
		t.general(x, y)
	}
}

// transposeTiled writes the transpose of the [rows, cols] matrix x into y
// ([cols, rows]) in square tiles so that both sides stay in cache.
func transposeTiled(x, y []float32, rows, cols int) {
	const tile = 16
	x, y = x[:rows*cols], y[:rows*cols]
	for i0 := 0; i0 < rows; i0 += tile {
		i1 := min(i0+tile, rows)
		for j0 := 0; j0 < cols; j0 += tile {
			j1 := min(j0+tile, cols)
			for j := j0; j < j1; j++ {
				yr := y[j*rows+i0 : j*rows+i1]
				for i := range yr {
					yr[i] = x[(i0+i)*cols+j]
				}
			}
		}
	}
}

func (t *Transpose) general(x, y []float32) {
	r := t.r
	inner, is := t.od[r-1], t.is[r-1]
	var idx [layoutMaxRank]int
	off := 0
	for o := 0; o < t.n; o += inner {
		yr := y[o : o+inner]
		for j := range yr {
			yr[j] = x[off+j*is]
		}
		for d := r - 2; d >= 0; d-- {
			idx[d]++
			off += t.is[d]
			if idx[d] < t.od[d] {
				break
			}
			off -= t.is[d] * t.od[d]
			idx[d] = 0
		}
	}
}
