package engine

import (
	"errors"
	"strconv"

	"github.com/edgenn/edgenn/kernels"
	"github.com/edgenn/edgenn/model"
)

// gradInto returns where a node writes the gradient of its input in: the
// value's own gradient buffer when the node is its only reader, else a
// private buffer whose contents finish adds into the shared, pre-zeroed one.
// It returns nil when in needs no gradient.
func (t *Trainer) gradInto(in string, needs map[string]bool, uses map[string]int) (dst []float32, finish func()) {
	if !needs[in] {
		return nil, nil
	}
	g := t.grad[in]
	if uses[in] == 1 {
		return g, nil
	}
	if !t.zeroed(g) {
		t.zero = append(t.zero, g)
	}
	tmp := make([]float32, len(g))
	return tmp, func() {
		for i, v := range tmp {
			g[i] += v
		}
	}
}

func (t *Trainer) zeroed(g []float32) bool {
	for _, z := range t.zero {
		if &z[0] == &g[0] {
			return true
		}
	}
	return false
}

// trainableAct is the fused activation of a Conv2D or Dense node, which the
// backward pass differentiates from the node's output alone: Sigmoid and Tanh
// from y by definition, ReLU and ReLU6 because y > 0 exactly where x > 0 and
// 0 < y < 6 exactly where 0 < x < 6, so y can be passed as x.
func trainableAct(n *model.Node) (kernels.Epilogue, error) {
	ep, err := epilogue(n.Attrs, nil)
	if err != nil {
		return ep, err
	}
	switch ep.Act {
	case kernels.ActNone, kernels.ActReLU, kernels.ActReLU6, kernels.ActSigmoid, kernels.ActTanh:
		return ep, nil
	}
	return ep, errors.New("a fused " + n.Attrs.String("activation", "") + " cannot be trained yet (make it a separate node)")
}

// weightParams returns a Conv2D's or Dense's weights and optional bias as
// the trainer holds them, with their params (nil where frozen).
func (t *Trainer) weightParams(n *model.Node) (w, b []float32, pw, pb *param) {
	w, pw = t.act[n.Inputs[1]], t.byName[n.Inputs[1]]
	if len(n.Inputs) > 2 && n.Inputs[2] != "" {
		b, pb = t.act[n.Inputs[2]], t.byName[n.Inputs[2]]
	}
	return w, b, pw, pb
}

// biasGrad writes (or, when the bias is shared and already written, adds)
// the gradient of a trained bias: dy summed over its rows.
func biasGrad(pb *param, rows, oc int, dy []float32) {
	if pb != nil {
		kernels.BiasGrad(rows, oc, dy, pb.g, pb.written)
		pb.written = true
	}
}

// bind builds the training node for n: forward and backward closures over
// the trainer's buffers. It returns the scratch the node needs.
func (t *Trainer) bind(n *model.Node, shapes map[string][]int, needs map[string]bool, uses map[string]int) (*tnode, int, error) {
	tn := &tnode{n: n}
	in := func(i int) []float32 { return t.act[n.Inputs[i]] }
	sh := func(i int) []int { return shapes[n.Inputs[i]] }
	y, dy := t.act[n.Outputs[0]], t.grad[n.Outputs[0]]
	batch := t.opts.Batch
	nop := func() {}
	tn.backward = nop
	if dy == nil { // nothing trained upstream of here: forward only
		defer func() { tn.backward = nop }()
	}
	switch n.Op {
	case model.OpConv2D:
		xs, ws := sh(0), sh(1)
		pt, pb, pl, pr, _, _, err := model.ConvPads(n, xs[1], xs[2], ws[0], ws[1])
		if err != nil {
			return nil, 0, err
		}
		st, dl := n.Attrs.Ints("strides", []int{1, 1}), n.Attrs.Ints("dilations", []int{1, 1})
		p := kernels.ConvParams{H: xs[1], W: xs[2], C: xs[3], KH: ws[0], KW: ws[1], OC: ws[3],
			StrideH: st[0], StrideW: st[1], DilationH: dl[0], DilationW: dl[1],
			PadTop: pt, PadBottom: pb, PadLeft: pl, PadRight: pr, Group: n.Attrs.Int("group", 1)}
		ep, err := trainableAct(n)
		if err != nil {
			return nil, 0, err
		}
		w, b, pw, pbias := t.weightParams(n)
		ep.Bias = b
		conv, err := kernels.NewConv2D(p, w, ep)
		if err != nil {
			return nil, 0, err
		}
		cg, err := kernels.NewConv2DGrad(p)
		if err != nil {
			return nil, 0, err
		}
		x := in(0)
		fs, bs := conv.ScratchLen(), cg.ScratchLen()
		tn.forward = func() { conv.Run(batch, x, y, t.scratch[:fs]) }
		if pw != nil || pbias != nil {
			tn.sync = func() { conv.SetWeights(w, b) }
		}
		dx, finish := t.gradInto(n.Inputs[0], needs, uses)
		rows := batch * (len(y) / batch / p.OC)
		act := kernels.Epilogue{Act: ep.Act}
		tn.backward = func() {
			kernels.ActivationGrad(act, y, y, dy, dy) // y stands in for x: see trainableAct
			biasGrad(pbias, rows, p.OC, dy)
			if pw != nil {
				cg.FilterGrad(batch, x, dy, pw.g, t.scratch[:bs], pw.written)
				pw.written = true
			}
			if dx != nil {
				cg.InputGrad(batch, dy, w, dx, t.scratch[:bs])
				if finish != nil {
					finish()
				}
			}
		}
		return tn, max(fs, bs), nil

	case model.OpDense:
		k, m := sh(1)[0], sh(1)[1]
		ep, err := trainableAct(n)
		if err != nil {
			return nil, 0, err
		}
		w, b, pw, pbias := t.weightParams(n)
		ep.Bias = b
		d, err := kernels.NewDense(k, m, w, ep)
		if err != nil {
			return nil, 0, err
		}
		x, rows := in(0), sh(0)[0]
		fs := d.ScratchLen()
		tn.forward = func() { d.Run(rows, x, y, t.scratch[:fs]) }
		if pw != nil || pbias != nil {
			tn.sync = func() { d.SetWeights(w, b) }
		}
		dx, finish := t.gradInto(n.Inputs[0], needs, uses)
		act := kernels.Epilogue{Act: ep.Act}
		tn.backward = func() {
			kernels.ActivationGrad(act, y, y, dy, dy) // y stands in for x: see trainableAct
			biasGrad(pbias, rows, m, dy)
			if pw != nil {
				kernels.DenseWeightGrad(rows, k, m, x, dy, pw.g, pw.written)
				pw.written = true
			}
			if dx != nil {
				kernels.DenseInputGrad(rows, k, m, dy, w, dx)
				if finish != nil {
					finish()
				}
			}
		}
		return tn, fs, nil

	case model.OpMaxPool, model.OpAvgPool:
		xs := sh(0)
		pt, pb, pl, pr, _, _, err := model.PoolPads(n, xs[1], xs[2])
		if err != nil {
			return nil, 0, err
		}
		k := n.Attrs.Ints("kernel", nil)
		st := n.Attrs.Ints("strides", k)
		p := kernels.PoolParams{H: xs[1], W: xs[2], C: xs[3], KH: k[0], KW: k[1], StrideH: st[0], StrideW: st[1],
			PadTop: pt, PadBottom: pb, PadLeft: pl, PadRight: pr, CountIncludePad: n.Attrs.Int("count_include_pad", 0) != 0}
		if err := p.Validate(); err != nil {
			return nil, 0, err
		}
		x := in(0)
		dx, finish := t.gradInto(n.Inputs[0], needs, uses)
		isMax := n.Op == model.OpMaxPool
		if isMax {
			tn.forward = func() { kernels.MaxPool(p, batch, x, y) }
		} else {
			tn.forward = func() { kernels.AvgPool(p, batch, x, y) }
		}
		if dx != nil {
			tn.backward = func() {
				if isMax {
					kernels.MaxPoolGrad(p, batch, x, dy, dx)
				} else {
					kernels.AvgPoolGrad(p, batch, dy, dx)
				}
				if finish != nil {
					finish()
				}
			}
		}
		return tn, 0, nil

	case model.OpGlobalAvgPool:
		xs := sh(0)
		x := in(0)
		hw, c := xs[1]*xs[2], xs[3]
		tn.forward = func() { kernels.GlobalAvgPool(batch, hw, c, x, y) }
		if dx, finish := t.gradInto(n.Inputs[0], needs, uses); dx != nil {
			tn.backward = func() {
				kernels.GlobalAvgPoolGrad(batch, hw, c, dy, dx)
				if finish != nil {
					finish()
				}
			}
		}
		return tn, 0, nil

	case model.OpFlatten, model.OpReshape:
		x := in(0)
		tn.forward = func() { copy(y, x) }
		if dx, finish := t.gradInto(n.Inputs[0], needs, uses); dx != nil {
			tn.backward = func() {
				copy(dx, dy)
				if finish != nil {
					finish()
				}
			}
		}
		return tn, 0, nil

	case model.OpRelu, model.OpRelu6, model.OpLeakyRelu, model.OpSigmoid, model.OpTanh, model.OpHardSwish, model.OpClip:
		ep := unaryEpilogue(n)
		x := in(0)
		tn.forward = func() {
			copy(y, x)
			kernels.ActivateInPlace(y, ep)
		}
		if dx, finish := t.gradInto(n.Inputs[0], needs, uses); dx != nil {
			tn.backward = func() {
				kernels.ActivationGrad(ep, x, y, dy, dx)
				if finish != nil {
					finish()
				}
			}
		}
		return tn, 0, nil

	case model.OpAdd, model.OpSub, model.OpMul, model.OpDiv:
		op := map[string]kernels.BinaryOp{model.OpAdd: kernels.BinAdd, model.OpSub: kernels.BinSub, model.OpMul: kernels.BinMul, model.OpDiv: kernels.BinDiv}[n.Op]
		fw, err := kernels.NewBinary(op, sh(0), sh(1))
		if err != nil {
			return nil, 0, err
		}
		bg, err := kernels.NewBinaryGrad(op, sh(0), sh(1))
		if err != nil {
			return nil, 0, err
		}
		a, b := in(0), in(1)
		tn.forward = func() { fw.Run(a, b, y) }
		var dst [2][]float32
		var fin [2]func()
		for i := 0; i < 2; i++ {
			if p := t.byName[n.Inputs[i]]; p != nil {
				// A trained operand: its gradient lands in a private buffer,
				// added to the parameter's when another node shares it.
				dst[i] = make([]float32, len(p.g))
				gi, di, pi := p.g, dst[i], p
				fin[i] = func() {
					if pi.written {
						for j, v := range di {
							gi[j] += v
						}
					} else {
						copy(gi, di)
					}
					pi.written = true
				}
			} else {
				dst[i], fin[i] = t.gradInto(n.Inputs[i], needs, uses)
			}
		}
		tn.backward = func() {
			bg.Run(a, b, dy, dst[0], dst[1])
			for i := range fin {
				if fin[i] != nil {
					fin[i]()
				}
			}
		}
		return tn, 0, nil
	}
	return nil, 0, errors.New("op " + strconv.Quote(n.Op) + " cannot be trained yet")
}
