package kernels

import (
	"errors"
	"strconv"
)

// Shape checks shared by the layout and elementwise constructors (Binary,
// Mean, Pad, Concat, Transpose, Resize). Errors are built with strconv and
// string concatenation rather than fmt, which would add about 0.5 MB to the
// wasm.

// layoutMaxRank bounds the rank the layout kernels accept, so that their Run
// methods can walk an index on a fixed-size stack array instead of
// allocating.
const layoutMaxRank = 8

// layoutMaxElems bounds the element count of every tensor a constructor
// accepts (and so every buffer it sizes from caller-given numbers).
const layoutMaxElems = 1 << 31

// layoutErr returns an error "kernels: <where>: <msg>".
func layoutErr(where, msg string) error {
	return errors.New("kernels: " + where + ": " + msg)
}

// layoutDims formats a shape as [2 3 4].
func layoutDims(shape []int) string {
	b := make([]byte, 0, 2+4*len(shape))
	b = append(b, '[')
	for i, d := range shape {
		if i > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendInt(b, int64(d), 10)
	}
	return string(append(b, ']'))
}

// layoutCount validates shape (rank 1..layoutMaxRank unless allowScalar
// permits rank 0, every dimension positive, at most layoutMaxElems elements)
// and returns its element count. name names the shape in errors.
func layoutCount(where, name string, shape []int, allowScalar bool) (int, error) {
	if len(shape) > layoutMaxRank {
		return 0, layoutErr(where, name+" "+layoutDims(shape)+" has rank "+strconv.Itoa(len(shape))+", above the limit "+strconv.Itoa(layoutMaxRank))
	}
	if len(shape) == 0 && !allowScalar {
		return 0, layoutErr(where, name+" has rank 0")
	}
	n := 1
	for i, d := range shape {
		if d <= 0 {
			return 0, layoutErr(where, name+" "+layoutDims(shape)+" has non-positive dimension "+strconv.Itoa(d)+" at axis "+strconv.Itoa(i))
		}
		if d > layoutMaxElems/n {
			return 0, layoutErr(where, name+" "+layoutDims(shape)+" has more than 2^31 elements")
		}
		n *= d
	}
	return n, nil
}

// layoutAxis normalises a possibly negative axis against rank.
func layoutAxis(where string, axis, rank int) (int, error) {
	a := axis
	if a < 0 {
		a += rank
	}
	if a < 0 || a >= rank {
		return 0, layoutErr(where, "axis "+strconv.Itoa(axis)+" out of range for rank "+strconv.Itoa(rank))
	}
	return a, nil
}

// layoutStrides returns the row-major strides of shape.
func layoutStrides(shape []int) []int {
	s := make([]int, len(shape))
	st := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = st
		st *= shape[i]
	}
	return s
}

// layoutProd is the product of dims (1 for none).
func layoutProd(dims []int) int {
	p := 1
	for _, d := range dims {
		p *= d
	}
	return p
}

// hotKernels holds the inner loops that have a SIMD version. hot is the set
// the kernels call; it starts as the scalar set and the *_simd.go files'
// init functions replace entries with their SIMD versions. hotScalar and
// hotSIMD stay reachable so that one test table holds both to the same
// results. The calls are per row or per tensor, never per element, so the
// indirection costs little. Each SIMD entry keeps its loops free of calls:
// in Go's wasm port a call inside a loop's function slows the whole loop.
type hotKernels struct {
	binSame    func(op BinaryOp, a, b, out []float32)
	binScalarB func(op BinaryOp, a []float32, s float32, out []float32)
	binScalarA func(op BinaryOp, s float32, b, out []float32)
	binChannel func(op BinaryOp, a, b, out []float32) // b per channel over rows of a
	activate   func(x []float32, ep Epilogue)
	pool       func(p PoolParams, n int, x, y []float32, avg bool)
	gap        func(n, hw, c int, x, y []float32)
	batchNorm  func(x, y []float32, c int, scale, bias, mean, variance []float32, eps float32)
}

var hotScalar = hotKernels{
	binSame:    binSameScalar,
	binScalarB: binScalarBScalar,
	binScalarA: binScalarAScalar,
	binChannel: binChannelScalar,
	activate:   Activate,
	pool:       poolScalar,
	gap:        globalAvgPoolScalar,
	batchNorm:  batchNormScalar,
}

var (
	hot      = hotScalar
	hotSIMD  = hotScalar // SIMD entries replace scalar ones where they exist
	haveSIMD bool        // set by the *_simd.go files
)

// layoutNext advances the multi-index idx over the first n dims (row major,
// last fastest) and keeps off, the matching offset under strides, in step;
// past the last position both wrap to zero. The layout kernels' general
// paths walk their index spaces with it.
func layoutNext(idx *[layoutMaxRank]int, off *int, dims, strides *[layoutMaxRank]int, n int) {
	for d := n - 1; d >= 0; d-- {
		idx[d]++
		*off += strides[d]
		if idx[d] < dims[d] {
			return
		}
		*off -= strides[d] * dims[d]
		idx[d] = 0
	}
}
