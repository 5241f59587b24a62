package engine

import (
	"errors"
	"strconv"

	"github.com/edgenn/edgenn/kernels"
	"github.com/edgenn/edgenn/model"
)

// bindMore binds the ops past the convolutional classifier's core:
// BatchNorm, Dropout, MatMul, Concat, Softmax, Pad, Transpose and Mean.
func (t *Trainer) bindMore(tn *tnode, n *model.Node, shapes map[string][]int, needs map[string]bool, uses map[string]int) (*tnode, int, error) {
	x, xs := t.act[n.Inputs[0]], shapes[n.Inputs[0]]
	y, dy := t.act[n.Outputs[0]], t.grad[n.Outputs[0]]
	// single binds the backward of a one-input op: grad(dx) when x needs one.
	single := func(grad func(dx []float32)) {
		if dx, finish := t.gradInto(n.Inputs[0], needs, uses); dx != nil {
			tn.backward = func() {
				grad(dx)
				if finish != nil {
					finish()
				}
			}
		}
	}
	switch n.Op {
	case model.OpBatchNorm:
		return tn, 0, t.bindBatchNorm(tn, n, needs, uses)

	case model.OpDropout:
		rate := n.Attrs.Float("rate", 0.5)
		mask := make([]uint8, len(x))
		tn.forward = func() { kernels.Dropout(x, y, mask, rate, &t.rng) }
		single(func(dx []float32) { kernels.DropoutGrad(mask, rate, dy, dx) })
		return tn, 0, nil

	case model.OpMatMul:
		return t.bindMatMul(tn, n, shapes, needs, uses)

	case model.OpConcat:
		ins := make([][]int, len(n.Inputs))
		xv := make([][]float32, len(n.Inputs))
		dst := make([][]float32, len(n.Inputs))
		fin := make([]func(), len(n.Inputs))
		for i, name := range n.Inputs {
			ins[i], xv[i] = shapes[name], t.act[name]
			dst[i], fin[i] = t.gradDst(name, needs, uses)
		}
		fw, err := kernels.NewConcat(ins, n.Attrs.Int("axis", 0))
		if err != nil {
			return nil, 0, err
		}
		bg, err := kernels.NewConcatGrad(ins, n.Attrs.Int("axis", 0))
		if err != nil {
			return nil, 0, err
		}
		tn.forward = func() { fw.Run(xv, y) }
		tn.backward = func() {
			bg.Run(dy, dst)
			for _, f := range fin {
				if f != nil {
					f()
				}
			}
		}
		return tn, 0, nil

	case model.OpSoftmax:
		axis, err := normAxis(n.Attrs.Int("axis", -1), len(xs))
		if err != nil {
			return nil, 0, err
		}
		outer, ax, inner := model.NumElements(xs[:axis]), xs[axis], model.NumElements(xs[axis+1:])
		tn.forward = func() { kernels.Softmax(x, y, outer, ax, inner) }
		single(func(dx []float32) { kernels.SoftmaxGrad(y, dy, dx, outer, ax, inner) })
		return tn, 0, nil

	case model.OpPad:
		p, err := kernels.NewPad(xs, n.Attrs.Ints("pads", nil), n.Attrs.String("mode", "constant"), n.Attrs.Float("value", 0))
		if err != nil {
			return nil, 0, err
		}
		tn.forward = func() { p.Run(x, y) }
		single(func(dx []float32) { p.Grad(dy, dx) })
		return tn, 0, nil

	case model.OpTranspose:
		fw, err := kernels.NewTranspose(xs, n.Attrs.Ints("perm", nil))
		if err != nil {
			return nil, 0, err
		}
		perm := n.Attrs.Ints("perm", nil)
		inv := make([]int, len(xs))
		for i := range inv {
			if perm == nil {
				inv[i] = len(xs) - 1 - i
			} else {
				inv[perm[i]] = i
			}
		}
		bw, err := kernels.NewTranspose(fw.OutShape(), inv)
		if err != nil {
			return nil, 0, err
		}
		tn.forward = func() { fw.Run(x, y) }
		single(func(dx []float32) { bw.Run(dy, dx) })
		return tn, 0, nil

	case model.OpMean:
		m, err := kernels.NewMean(xs, n.Attrs.Ints("axes", nil), n.Attrs.Int("keepdims", 1) != 0)
		if err != nil {
			return nil, 0, err
		}
		tn.forward = func() { m.Run(x, y) }
		single(func(dx []float32) { m.Grad(dy, dx) })
		return tn, 0, nil
	}
	return nil, 0, errors.New("op " + strconv.Quote(n.Op) + " cannot be trained yet")
}

// bindBatchNorm binds a BatchNorm node. With its scale or bias trained it
// runs in training mode: it normalises with the batch's statistics and
// updates the running mean and variance, which the trained model carries.
// With both frozen it runs as at inference (as Keras does for a frozen
// BatchNormalization layer) and passes the gradient through its fixed
// per-channel affine map.
func (t *Trainer) bindBatchNorm(tn *tnode, n *model.Node, needs map[string]bool, uses map[string]int) error {
	x, y, dy := t.act[n.Inputs[0]], t.act[n.Outputs[0]], t.grad[n.Outputs[0]]
	scale, bias := t.act[n.Inputs[1]], t.act[n.Inputs[2]]
	mean, variance := t.act[n.Inputs[3]], t.act[n.Inputs[4]]
	c := len(scale)
	rows := len(x) / c
	eps := n.Attrs.Float("epsilon", 1e-3)
	if t.byName[n.Inputs[1]] == nil && t.byName[n.Inputs[2]] == nil {
		tn.forward = func() { kernels.BatchNorm(x, y, c, scale, bias, mean, variance, eps) }
		if dx, finish := t.gradInto(n.Inputs[0], needs, uses); dx != nil {
			a := make([]float32, c)
			for j := range a {
				a[j] = 1
			}
			kernels.FoldBatchNorm(a, make([]float32, c), c, scale, bias, mean, variance, eps) // a = scale/sqrt(var+eps)
			tn.backward = func() {
				for o := 0; o < len(dy); o += c {
					for j, g := range dy[o : o+c] {
						dx[o+j] = g * a[j]
					}
				}
				if finish != nil {
					finish()
				}
			}
		}
		return nil
	}
	mom := n.Attrs.Float("momentum", 0.99)
	runMean, runVar := t.keepState(n.Inputs[3]), t.keepState(n.Inputs[4])
	saveMean, saveInv := make([]float32, c), make([]float32, c)
	tn.forward = func() {
		kernels.BatchNormTrain(x, y, rows, c, scale, bias, runMean, runVar, mom, eps, saveMean, saveInv)
	}
	dx, finish := t.gradInto(n.Inputs[0], needs, uses)
	ds, fs := t.gradDst(n.Inputs[1], needs, uses)
	db, fb := t.gradDst(n.Inputs[2], needs, uses)
	tn.backward = func() {
		d := dx
		if d == nil {
			d = dy // dy is dead after this node: a place for the unwanted dx
		}
		kernels.BatchNormTrainGrad(x, dy, rows, c, scale, saveMean, saveInv, d, ds, db)
		for _, f := range [...]func(){finish, fs, fb} {
			if f != nil {
				f()
			}
		}
	}
	return nil
}

// keepState returns the Trainer's own copy of a tensor that training
// updates without an optimiser (BatchNorm's running statistics); Graph
// writes it into the trained model.
func (t *Trainer) keepState(name string) []float32 {
	if s, ok := t.state[name]; ok {
		return s
	}
	s := append([]float32(nil), t.act[name]...)
	t.state[name] = s
	t.stateOrder = append(t.stateOrder, name)
	t.act[name] = s
	return s
}

// bindMatMul binds a MatMul. A 2-D constant or trained right operand runs as
// a Dense over all leading rows of a; anything else packs b per product and
// broadcasts the batch dimensions as the Session does.
func (t *Trainer) bindMatMul(tn *tnode, n *model.Node, shapes map[string][]int, needs map[string]bool, uses map[string]int) (*tnode, int, error) {
	as, bs := shapes[n.Inputs[0]], shapes[n.Inputs[1]]
	if len(as) < 2 || len(bs) < 2 {
		return nil, 0, errors.New("MatMul needs operands of rank 2 or more")
	}
	m, k, nn := as[len(as)-2], as[len(as)-1], bs[len(bs)-1]
	if bs[len(bs)-2] != k {
		return nil, 0, errors.New("MatMul inner dimensions differ: " + model.ShapeString(as) + " x " + model.ShapeString(bs))
	}
	a, b, y, dy := t.act[n.Inputs[0]], t.act[n.Inputs[1]], t.act[n.Outputs[0]], t.grad[n.Outputs[0]]
	da, fa := t.gradDst(n.Inputs[0], needs, uses)
	db, fb := t.gradDst(n.Inputs[1], needs, uses)
	finish := func() {
		if fa != nil {
			fa()
		}
		if fb != nil {
			fb()
		}
	}
	if len(bs) == 2 && t.src.Tensor(n.Inputs[1]) != nil {
		d, err := kernels.NewDense(k, nn, b, kernels.Epilogue{})
		if err != nil {
			return nil, 0, err
		}
		rows, fs := model.NumElements(as[:len(as)-1]), d.ScratchLen()
		tn.forward = func() { d.Run(rows, a, y, t.scratch[:fs]) }
		if t.byName[n.Inputs[1]] != nil {
			tn.sync = func() { d.SetWeights(b, nil) }
		}
		tn.backward = func() {
			if db != nil {
				kernels.DenseWeightGrad(rows, k, nn, a, dy, db, false)
			}
			if da != nil {
				kernels.DenseInputGrad(rows, k, nn, dy, b, da)
			}
			finish()
		}
		return tn, fs, nil
	}
	aIdx, bIdx, err := broadcastBatch(as[:len(as)-2], bs[:len(bs)-2])
	if err != nil {
		return nil, 0, err
	}
	mk, kn, mn := m*k, k*nn, m*nn
	packLen := kernels.PackedBLen(k, nn)
	tmp := make([]float32, mk) // one product's da, when a broadcasts
	aRepeats := len(aIdx) > len(a)/max(mk, 1)
	tn.forward = func() {
		pack, gs := t.scratch[:packLen], t.scratch[packLen:]
		for i := range aIdx {
			pb := kernels.PackB(b[bIdx[i]*kn:(bIdx[i]+1)*kn], k, nn, pack)
			kernels.Gemm(m, a[aIdx[i]*mk:], k, pb, kernels.Epilogue{}, y[i*mn:], nn, gs)
		}
	}
	tn.backward = func() {
		if db != nil {
			clear(db)
		}
		if da != nil && aRepeats {
			clear(da)
		}
		for i := range aIdx {
			ai, bi, dyi := aIdx[i]*mk, bIdx[i]*kn, dy[i*mn:(i+1)*mn]
			if db != nil {
				kernels.DenseWeightGrad(m, k, nn, a[ai:ai+mk], dyi, db[bi:bi+kn], true)
			}
			switch {
			case da == nil:
			case aRepeats:
				kernels.DenseInputGrad(m, k, nn, dyi, b[bi:bi+kn], tmp)
				for j, v := range tmp {
					da[ai+j] += v
				}
			default:
				kernels.DenseInputGrad(m, k, nn, dyi, b[bi:bi+kn], da[ai:ai+mk])
			}
		}
		finish()
	}
	return tn, packLen + kernels.GemmScratchLen(k), nil
}
