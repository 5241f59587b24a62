package onnx

// Gemm and MatMul: a constant right operand makes a Dense (which the
// Trainer can fine-tune); anything else the IR's Gemm or MatMul.

import (
	"errors"

	"github.com/edgenn/edgenn/model"
)

// ---- matrix products ----

// denseWeights returns the IR tensor for Dense weights w [K,N], its rows
// permuted when x is a flattened NHWC value so that the Dense reads x in the
// order it is stored.
func (im *importer) denseWeights(x *value, w *constant, op, hint string) (string, error) {
	if x.lay != flatLayout {
		return im.constTensor(w, false, hint)
	}
	c, h, wd := x.chw[0], x.chw[1], x.chw[2]
	k, nn := w.shape[0], w.shape[1]
	if k != c*h*wd {
		return "", errors.New("internal: flattened size mismatch")
	}
	out := make([]float32, len(w.f))
	for ci := 0; ci < c; ci++ {
		for hi := 0; hi < h; hi++ {
			for wi := 0; wi < wd; wi++ {
				src := ((ci*h+hi)*wd + wi) * nn
				dst := ((hi*wd+wi)*c + ci) * nn
				copy(out[dst:dst+nn], w.f[src:src+nn])
			}
		}
	}
	im.relaid[op+" (rows to NHWC flatten order)"]++
	return im.weights(w.shape, out, hint)
}

func rowVector(s []int, nn int) bool {
	k := numel(s)
	return k == 1 || (k == nn && (len(s) == 0 || s[len(s)-1] == nn))
}

func hGemm(im *importer, n *nodeProto, in []*value) ([]*value, error) {
	A, err := need(in, 0, "A")
	if err != nil {
		return nil, err
	}
	B, err := need(in, 1, "B")
	if err != nil {
		return nil, err
	}
	C := arg(in, 2)
	a := &attrs{n: n}
	alpha, beta := a.float("alpha", 1), a.float("beta", 1)
	ta, tb := a.int("transA", 0) != 0, a.int("transB", 0) != 0
	if a.err != nil {
		return nil, a.err
	}
	if len(A.shape) != 2 || len(B.shape) != 2 {
		return nil, errors.New("A " + model.ShapeString(A.shape) + " and B " + model.ShapeString(B.shape) + " must be 2-D")
	}
	hint := out(n, 0)
	if B.c != nil && A.c == nil && !ta && isFloat(B.c.dt) {
		k, nn := B.shape[0], B.shape[1]
		if tb {
			k, nn = nn, k
		}
		if A.shape[1] != k {
			return nil, errors.New("A " + model.ShapeString(A.shape) + " does not fit B " + model.ShapeString(B.shape))
		}
		w := B.c
		if tb {
			w = transposeConst(w, []int{1, 0})
			im.relaid["Gemm (transB)"]++
		}
		if alpha != 1 {
			scaled := &constant{dt: dtFloat, shape: w.shape, f: make([]float32, len(w.f))}
			for i, v := range w.f {
				scaled.f[i] = alpha * v
			}
			w = scaled
		}
		wn, err := im.denseWeights(A, w, "Gemm", hint+"/weights")
		if err != nil {
			return nil, err
		}
		inputs := []string{A.name, wn}
		if A.lay != flatLayout {
			if inputs[0], err = im.plain(A); err != nil {
				return nil, err
			}
		}
		var after *value
		if C != nil {
			if C.c != nil && isFloat(C.c.dt) && rowVector(C.c.shape, nn) {
				bias := make([]float32, nn)
				for j := range bias {
					bias[j] = beta * C.c.f[j%len(C.c.f)]
				}
				bn, err := im.weights([]int{nn}, bias, hint+"/bias")
				if err != nil {
					return nil, err
				}
				inputs = append(inputs, bn)
			} else if beta != 0 {
				after = C
				if beta != 1 {
					if after, err = im.binary(model.OpMul, C, cv(&constant{dt: dtFloat, shape: []int{}, f: []float32{beta}}), hint+"/beta"); err != nil {
						return nil, err
					}
				}
			}
		}
		dh := hint
		if after != nil {
			dh += "/dense"
		}
		name, _, err := im.emit(model.OpDense, inputs, nil, dh)
		if err != nil {
			return nil, err
		}
		v := im.dyn(name, plainLayout, rowsBatch(A.batch))
		if after != nil {
			return one(im.binary(model.OpAdd, v, after, hint))
		}
		return []*value{v}, nil
	}
	an, err := im.plain(A)
	if err != nil {
		return nil, err
	}
	bn, err := im.plain(B)
	if err != nil {
		return nil, err
	}
	at := model.Attrs{}
	if ta {
		at["transA"] = 1
	}
	if tb {
		at["transB"] = 1
	}
	nn := B.shape[1]
	if tb {
		nn = B.shape[0]
	}
	// The IR's Gemm scales by alpha only with a constant b, and adds c
	// scaled by beta only when c is a constant row: the rest follows as
	// Mul and Add nodes.
	scaleAfter := alpha != 1
	if B.c != nil && scaleAfter {
		at["alpha"], scaleAfter = alpha, false
	}
	inputs := []string{an, bn}
	var after *value
	if C != nil && beta != 0 {
		switch {
		case C.c != nil && isFloat(C.c.dt) && rowVector(C.c.shape, nn) && !scaleAfter:
			cn, err := im.plain(C)
			if err != nil {
				return nil, err
			}
			inputs = append(inputs, cn)
			if beta != 1 {
				at["beta"] = beta
			}
		case beta == 1:
			after = C
		default:
			if after, err = im.binary(model.OpMul, C, cv(&constant{dt: dtFloat, shape: []int{}, f: []float32{beta}}), hint+"/beta"); err != nil {
				return nil, err
			}
		}
	}
	gh := hint
	if after != nil || scaleAfter {
		gh += "/gemm"
	}
	name, _, err := im.emit(model.OpGemm, inputs, at, gh)
	if err != nil {
		return nil, err
	}
	b := noBatch
	if !ta {
		b = rowsBatch(A.batch)
	} else if A.batch.free() {
		b.mix = true
	}
	v := im.dyn(name, plainLayout, b)
	if scaleAfter {
		h := hint
		if after != nil {
			h += "/alpha"
		}
		if v, err = im.binary(model.OpMul, v, cv(&constant{dt: dtFloat, shape: []int{}, f: []float32{alpha}}), h); err != nil {
			return nil, err
		}
	}
	if after != nil {
		return one(im.binary(model.OpAdd, v, after, hint))
	}
	return []*value{v}, nil
}

// rowsBatch is the batch of a product whose rows come from a value with
// batch b: the batch stays on the rows.
func rowsBatch(b batchInfo) batchInfo {
	if b.mix || b.dim > 0 {
		return batchInfo{dim: -1, mix: true}
	}
	return b
}

func hMatMul(im *importer, n *nodeProto, in []*value) ([]*value, error) {
	A, err := need(in, 0, "A")
	if err != nil {
		return nil, err
	}
	B, err := need(in, 1, "B")
	if err != nil {
		return nil, err
	}
	ra, rb := len(A.shape), len(B.shape)
	if ra == 0 || rb == 0 {
		return nil, errors.New("MatMul of a scalar")
	}
	hint := out(n, 0)
	k := A.shape[ra-1]
	kb := B.shape[0]
	if rb >= 2 {
		kb = B.shape[rb-2]
	}
	if k != kb {
		return nil, errors.New("inner dimensions differ: " + model.ShapeString(A.shape) + " x " + model.ShapeString(B.shape))
	}
	if B.c != nil && rb == 2 && A.c == nil && isFloat(B.c.dt) {
		nn := B.shape[1]
		wn, err := im.denseWeights(A, B.c, "MatMul", hint+"/weights")
		if err != nil {
			return nil, err
		}
		if ra == 2 {
			x := A.name
			if A.lay != flatLayout {
				if x, err = im.plain(A); err != nil {
					return nil, err
				}
			}
			name, _, err := im.emit(model.OpDense, []string{x, wn}, nil, hint)
			if err != nil {
				return nil, err
			}
			return []*value{im.dyn(name, plainLayout, rowsBatch(A.batch))}, nil
		}
		// [..., K] x [K, N]: a Dense over all leading rows.
		p, err := im.plain(A)
		if err != nil {
			return nil, err
		}
		if A.batch.dim == ra-1 {
			return nil, errors.New("the free batch is the contracted dimension")
		}
		rb := noBatch
		if A.batch.dim >= 0 {
			rb.dim = 0
		}
		rb.mix = A.batch.mix
		rows, err := im.reshape(p, []int{numel(A.shape[:ra-1]), k}, rb, hint+"/rows")
		if err != nil {
			return nil, err
		}
		d, _, err := im.emit(model.OpDense, []string{rows, wn}, nil, hint+"/dense")
		if err != nil {
			return nil, err
		}
		outShape := append(append([]int(nil), A.shape[:ra-1]...), nn)
		name, err := im.reshape(d, outShape, A.batch, hint)
		if err != nil {
			return nil, err
		}
		return []*value{{name: name, shape: outShape, batch: A.batch}}, nil
	}
	an, err := im.plain(A)
	if err != nil {
		return nil, err
	}
	bn, err := im.plain(B)
	if err != nil {
		return nil, err
	}
	as, bs := A.shape, B.shape
	if ra == 1 {
		as = []int{1, k}
		if an, err = im.reshape(an, as, noBatch, hint+"/a2d"); err != nil {
			return nil, err
		}
	}
	if rb == 1 {
		bs = []int{k, 1}
		if bn, err = im.reshape(bn, bs, noBatch, hint+"/b2d"); err != nil {
			return nil, err
		}
	}
	batchShape, ok := model.Broadcast(as[:len(as)-2], bs[:len(bs)-2])
	if !ok {
		return nil, errors.New("batch dimensions of " + model.ShapeString(A.shape) + " and " + model.ShapeString(B.shape) + " do not broadcast")
	}
	outShape := append([]int(nil), batchShape...)
	if ra > 1 {
		outShape = append(outShape, as[len(as)-2])
	}
	if rb > 1 {
		outShape = append(outShape, bs[len(bs)-1])
	}
	b := combineBatch(len(outShape), A, B)
	mh := hint
	if ra == 1 || rb == 1 {
		mh += "/matmul"
	}
	name, _, err := im.emit(model.OpMatMul, []string{an, bn}, nil, mh)
	if err != nil {
		return nil, err
	}
	if ra == 1 || rb == 1 {
		if name, err = im.reshape(name, outShape, b, hint); err != nil {
			return nil, err
		}
	}
	return []*value{{name: name, shape: outShape, batch: b}}, nil
}
