package engine

import (
	"errors"

	"github.com/edgenn/edgenn/kernels"
	"github.com/edgenn/edgenn/model"
)

// prepMatMul lowers MatMul to the packed GEMM. A constant 2-D right operand is
// packed once (a Dense without bias over all leading rows of a); otherwise b
// is packed into scratch on every run, once per distinct b matrix.
func prepMatMul(c *opCtx) (prepared, error) {
	as, bs := c.inShapes[0], c.inShapes[1]
	if len(as) < 2 || len(bs) < 2 {
		return prepared{}, errors.New("MatMul needs operands of rank 2 or more")
	}
	m, k, n := as[len(as)-2], as[len(as)-1], bs[len(bs)-1]
	if bs[len(bs)-2] != k {
		return prepared{}, errors.New("MatMul inner dimensions differ: " + model.ShapeString(as) + " x " + model.ShapeString(bs))
	}
	if c.consts[1] != nil && len(bs) == 2 {
		d, err := cached(c, func() (*kernels.Dense, error) { return kernels.NewDense(k, n, c.consts[1].Data, kernels.Epilogue{}) })
		if err != nil {
			return prepared{}, err
		}
		rows := model.NumElements(as[:len(as)-1])
		return prepared{scratch: d.ScratchLen(), bind: func(in, out [][]float32, scratch []float32) func() {
			x, y := in[0], out[0]
			return func() { d.Run(rows, x, y, scratch) }
		}}, nil
	}
	aIdx, bIdx, err := broadcastBatch(as[:len(as)-2], bs[:len(bs)-2])
	if err != nil {
		return prepared{}, err
	}
	packLen := kernels.PackedBLen(k, n)
	sameB := true
	for _, j := range bIdx {
		sameB = sameB && j == bIdx[0]
	}
	return prepared{scratch: packLen + kernels.GemmScratchLen(k), bind: func(in, out [][]float32, scratch []float32) func() {
		a, b, y := in[0], in[1], out[0]
		pack, gs := scratch[:packLen], scratch[packLen:]
		return func() {
			var pb kernels.PackedB
			for i := range aIdx {
				if i == 0 || !sameB {
					pb = kernels.PackB(b[bIdx[i]*k*n:(bIdx[i]+1)*k*n], k, n, pack)
				}
				kernels.Gemm(m, a[aIdx[i]*m*k:], k, pb, kernels.Epilogue{}, y[i*m*n:], n, gs)
			}
		}
	}}, nil
}

// broadcastBatch maps every index of the broadcast batch shape of a and b to
// the matrix index in a and in b.
func broadcastBatch(a, b []int) (ai, bi []int, err error) {
	r := max(len(a), len(b))
	dim := func(s []int, i int) int { // i counts from the left of the rank-r shape
		j := i - (r - len(s))
		if j < 0 {
			return 1
		}
		return s[j]
	}
	out := make([]int, r)
	for i := range out {
		da, db := dim(a, i), dim(b, i)
		switch {
		case da == db, db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, nil, errors.New("MatMul batch dimensions do not broadcast: " + model.ShapeString(a) + " and " + model.ShapeString(b))
		}
	}
	total := model.NumElements(out)
	ai, bi = make([]int, total), make([]int, total)
	idx := make([]int, r)
	for t := 0; t < total; t++ {
		oa, ob := 0, 0
		for i := 0; i < r; i++ {
			da, db := dim(a, i), dim(b, i)
			oa = oa*da + min(idx[i], da-1)
			ob = ob*db + min(idx[i], db-1)
		}
		ai[t], bi[t] = oa, ob
		for i := r - 1; i >= 0; i-- {
			idx[i]++
			if idx[i] < out[i] {
				break
			}
			idx[i] = 0
		}
	}
	return ai, bi, nil
}

// prepGemm lowers ONNX Gemm: y = alpha*op(a)*op(b) + beta*c. A constant b is
// transposed and scaled by alpha at compile time; a constant c that is a
// per-column vector or a scalar becomes the GEMM bias. Everything else is
// handled in scratch at run time.
func prepGemm(c *opCtx) (prepared, error) {
	as, bs := c.inShapes[0], c.inShapes[1]
	if len(as) != 2 || len(bs) != 2 {
		return prepared{}, errors.New("Gemm needs 2-D operands")
	}
	a := c.n.Attrs
	transA, transB := a.Int("transA", 0) != 0, a.Int("transB", 0) != 0
	alpha, beta := a.Float("alpha", 1), a.Float("beta", 1)
	m, k := as[0], as[1]
	if transA {
		m, k = k, m
	}
	kb, n := bs[0], bs[1]
	if transB {
		kb, n = n, kb
	}
	if kb != k {
		return prepared{}, errors.New("Gemm inner dimensions differ: " + model.ShapeString(as) + " x " + model.ShapeString(bs))
	}
	var cShape []int
	if len(c.n.Inputs) > 2 && c.n.Inputs[2] != "" {
		cShape = c.inShapes[2]
	}
	var bias []float32 // constant c folded into the epilogue
	var add *kernels.Binary
	if cShape != nil {
		if t := c.consts[2]; t != nil && (model.NumElements(cShape) == n || model.NumElements(cShape) == 1) && (len(cShape) == 0 || cShape[len(cShape)-1] == model.NumElements(cShape)) {
			bias = make([]float32, n)
			for j := range bias {
				bias[j] = beta * t.Data[j%len(t.Data)]
			}
		} else {
			if beta != 1 {
				return prepared{}, errors.New("Gemm with a computed c and beta != 1 is not supported")
			}
			var err error
			if add, err = kernels.NewBinary(kernels.BinAdd, []int{m, n}, cShape); err != nil {
				return prepared{}, err
			}
		}
	}
	transposeInto := func(dst, src []float32, rows, cols int) { // src [rows,cols] -> dst [cols,rows]
		for i := 0; i < rows; i++ {
			for j := 0; j < cols; j++ {
				dst[j*rows+i] = src[i*cols+j]
			}
		}
	}
	if tb := c.consts[1]; tb != nil {
		d, err := cached(c, func() (*kernels.Dense, error) {
			w := make([]float32, k*n)
			if transB {
				transposeInto(w, tb.Data, n, k)
			} else {
				copy(w, tb.Data)
			}
			for i := range w {
				w[i] *= alpha
			}
			return kernels.NewDense(k, n, w, kernels.Epilogue{Bias: bias})
		})
		if err != nil {
			return prepared{}, err
		}
		aLen := 0
		if transA {
			aLen = m * k
		}
		return prepared{scratch: aLen + d.ScratchLen(), bind: func(in, out [][]float32, scratch []float32) func() {
			x, y := in[0], out[0]
			at, ds := scratch[:aLen], scratch[aLen:]
			var cv []float32
			if add != nil {
				cv = in[2]
			}
			return func() {
				if transA {
					transposeInto(at, x, k, m)
					x = at
				}
				d.Run(m, x, y, ds)
				if add != nil {
					add.Run(y, cv, y)
				}
			}
		}}, nil
	}
	if alpha != 1 {
		return prepared{}, errors.New("Gemm with a computed b and alpha != 1 is not supported")
	}
	aLen, bLen, packLen := 0, 0, kernels.PackedBLen(k, n)
	if transA {
		aLen = m * k
	}
	if transB {
		bLen = k * n
	}
	ep := kernels.Epilogue{Bias: bias}
	return prepared{scratch: aLen + bLen + packLen + kernels.GemmScratchLen(k), bind: func(in, out [][]float32, scratch []float32) func() {
		x, bv, y := in[0], in[1], out[0]
		at, bt := scratch[:aLen], scratch[aLen:aLen+bLen]
		pack, gs := scratch[aLen+bLen:aLen+bLen+packLen], scratch[aLen+bLen+packLen:]
		var cv []float32
		if add != nil {
			cv = in[2]
		}
		return func() {
			xa, xb := x, bv
			if transA {
				transposeInto(at, x, k, m)
				xa = at
			}
			if transB {
				transposeInto(bt, bv, n, k)
				xb = bt
			}
			pb := kernels.PackB(xb, k, n, pack)
			kernels.Gemm(m, xa, k, pb, ep, y, n, gs)
			if add != nil {
				add.Run(y, cv, y)
			}
		}
	}}, nil
}
